/*-------------------------------------------------------------------------
 *
 * decoder_options.c
 *	  Parses the options given to the rtsync output plugin
 *	  (pg_logical_slot_get_changes' trailing arguments, pg_recvlogical -o,
 *	  START_REPLICATION's option list).
 *
 * Defaults are set first; every option may appear once; unknown options and
 * malformed values are errors worded like the core plugins' errors.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "nodes/parsenodes.h"
#include "utils/builtins.h"
#include "utils/regproc.h"

#include "decoder_options.h"

static const char *const view_type_names[] = {
	[RTSYNC_VIEW_KEYS_ONLY] = "KEYS_ONLY",
	[RTSYNC_VIEW_NEW_IMAGE] = "NEW_IMAGE",
	[RTSYNC_VIEW_OLD_IMAGE] = "OLD_IMAGE",
	[RTSYNC_VIEW_NEW_AND_OLD_IMAGES] = "NEW_AND_OLD_IMAGES",
};

/* Known option names; the index is the bit used to catch repetitions. */
static const char *const option_names[] = {
	"format", "view-type", "tables", "all-tables",
	"include-timestamp", "include-sequence", "include-commit",
	"include-control",
};

bool
rtsync_view_type_parse(const char *name, RtsyncViewType *vt)
{
	for (int i = 0; i < lengthof(view_type_names); i++)
	{
		if (pg_strcasecmp(name, view_type_names[i]) == 0)
		{
			*vt = (RtsyncViewType) i;
			return true;
		}
	}
	return false;
}

const char *
rtsync_view_type_name(RtsyncViewType vt)
{
	return view_type_names[vt];
}

static void
bad_value(DefElem *elem)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("could not parse value \"%s\" for parameter \"%s\"",
					elem->arg ? strVal(elem->arg) : "(null)", elem->defname)));
}

/* A boolean option; a bare option name (no value) means true. */
static bool
parse_bool_option(DefElem *elem)
{
	bool		result;

	if (elem->arg == NULL)
		return true;
	if (!parse_bool(strVal(elem->arg), &result))
		bad_value(elem);
	return result;
}

/*
 * "tables": a comma-separated list of table names, each optionally
 * schema-qualified and quoted the SQL way ("My Schema".items). Commas inside
 * quotes do not split; each piece is then read as a qualified name, which
 * downcases unquoted parts as SQL does.
 */
static List *
parse_table_list(DefElem *elem)
{
	char	   *raw;
	char	   *start;
	bool		in_quotes = false;
	List	   *result = NIL;

	if (elem->arg == NULL || strVal(elem->arg)[0] == '\0')
		bad_value(elem);
	raw = pstrdup(strVal(elem->arg));
	start = raw;
	for (char *p = raw;; p++)
	{
		if (*p == '"')
			in_quotes = !in_quotes;
		else if ((*p == ',' && !in_quotes) || *p == '\0')
		{
			bool		last = (*p == '\0');
			List	   *names;
			RtsyncTableName *t = palloc0(sizeof(RtsyncTableName));

			*p = '\0';
			names = stringToQualifiedNameList(start);
			if (list_length(names) == 1)
				t->relname = strVal(linitial(names));
			else if (list_length(names) == 2)
			{
				t->schemaname = strVal(linitial(names));
				t->relname = strVal(lsecond(names));
			}
			else
				bad_value(elem);
			result = lappend(result, t);
			if (last)
				break;
			start = p + 1;
		}
	}
	return result;
}

/*
 * Fills *opts from the plugin's option list. Runs in the decoding context's
 * memory context, so what it allocates lives as long as the session.
 */
void
rtsync_options_parse(List *defels, RtsyncDecoderOptions *opts)
{
	ListCell   *lc;
	uint32		seen = 0;

	opts->format = RTSYNC_FORMAT_JSON;
	opts->view_type_given = false;
	opts->view_type = RTSYNC_VIEW_NEW_AND_OLD_IMAGES;
	opts->tables = NIL;
	opts->all_tables = false;
	opts->include_timestamp = true;
	opts->include_sequence = true;
	opts->include_commit = false;
	opts->include_control = false;

	foreach(lc, defels)
	{
		DefElem    *elem = lfirst(lc);
		int			which = -1;

		for (int i = 0; i < lengthof(option_names); i++)
		{
			if (strcmp(elem->defname, option_names[i]) == 0)
				which = i;
		}
		if (which < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"%s\" = \"%s\" is unknown",
							elem->defname,
							elem->arg ? strVal(elem->arg) : "(null)"),
					 errhint("Valid options are format, view-type, tables, all-tables, include-timestamp, include-sequence, include-commit and include-control.")));
		if (seen & (1u << which))
			ereport(ERROR,
					(errcode(ERRCODE_SYNTAX_ERROR),
					 errmsg("conflicting or redundant options"),
					 errdetail("Option \"%s\" is given more than once.",
							   elem->defname)));
		seen |= 1u << which;

		if (strcmp(elem->defname, "format") == 0)
		{
			if (elem->arg && strcmp(strVal(elem->arg), "json") == 0)
				opts->format = RTSYNC_FORMAT_JSON;
			else if (elem->arg && strcmp(strVal(elem->arg), "dynamodb") == 0)
				opts->format = RTSYNC_FORMAT_DYNAMODB;
			else
				bad_value(elem);
		}
		else if (strcmp(elem->defname, "view-type") == 0)
		{
			if (elem->arg == NULL ||
				!rtsync_view_type_parse(strVal(elem->arg), &opts->view_type))
				bad_value(elem);
			opts->view_type_given = true;
		}
		else if (strcmp(elem->defname, "tables") == 0)
			opts->tables = parse_table_list(elem);
		else if (strcmp(elem->defname, "all-tables") == 0)
			opts->all_tables = parse_bool_option(elem);
		else if (strcmp(elem->defname, "include-timestamp") == 0)
			opts->include_timestamp = parse_bool_option(elem);
		else if (strcmp(elem->defname, "include-sequence") == 0)
			opts->include_sequence = parse_bool_option(elem);
		else if (strcmp(elem->defname, "include-commit") == 0)
			opts->include_commit = parse_bool_option(elem);
		else if (strcmp(elem->defname, "include-control") == 0)
			opts->include_control = parse_bool_option(elem);
	}
}
