/*-------------------------------------------------------------------------
 *
 * sqlapi/graphql.c
 *	  rtsync._graphql_parse(text): the GraphQL parser made callable from SQL,
 *	  so that pg_regress can test it.
 *
 * The syntax tree is rendered as JSON, every node with all its keys (null or
 * [] when empty) and its location as [line, column]:
 *
 *	 {"operations": [{"type": "query"|"mutation"|"subscription",
 *					  "name", "variables", "directives", "selections", "loc"}],
 *	  "fragments": [{"name", "on", "directives", "selections", "loc"}]}
 *	 variable:	{"name", "type" (as written, e.g. "[ID!]!"), "default",
 *				 "directives", "loc"}
 *	 selection: {"kind": "field", "alias", "name", "arguments", "directives",
 *				 "selections" (null without a selection set), "loc"}
 *				{"kind": "fragment_spread", "name", "directives", "loc"}
 *				{"kind": "inline_fragment", "on", "directives", "selections",
 *				 "loc"}
 *	 argument, object field: {"name", "value", "loc"}
 *	 directive: {"name", "arguments", "loc"}
 *	 value:		{"kind", "value", "loc"}, kind one of variable, int, float,
 *				string, boolean, null, enum, list, object; ints and floats
 *				as written (strings), objects as a list of fields
 *
 * A syntax error gives {"errors": [{"message", "locations": [{"line",
 * "column"}]}]}, as a GraphQL server would answer.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"

#include "graphql/parser.h"

PG_FUNCTION_INFO_V1(rtsync_graphql_parse);

static void emit_selections(StringInfo out, List *selections);
static void emit_value(StringInfo out, RtsyncGqlValue *value);

static void
emit_loc(StringInfo out, RtsyncGqlLocation loc)
{
	appendStringInfo(out, "\"loc\": [%d, %d]", loc.line, loc.column);
}

/* A JSON string, or null for a NULL pointer. */
static void
emit_string(StringInfo out, const char *str)
{
	if (str == NULL)
		appendStringInfoString(out, "null");
	else
		escape_json(out, str);
}

/* A type reference as GraphQL writes it, e.g. [ID!]! */
static void
append_type(StringInfo out, RtsyncGqlTypeRef *type)
{
	if (type->name != NULL)
		appendStringInfoString(out, type->name);
	else
	{
		appendStringInfoChar(out, '[');
		append_type(out, type->item);
		appendStringInfoChar(out, ']');
	}
	if (type->non_null)
		appendStringInfoChar(out, '!');
}

/* Arguments and object fields alike: [{"name", "value", "loc"}, ...] */
static void
emit_arguments(StringInfo out, List *arguments)
{
	ListCell   *lc;

	appendStringInfoChar(out, '[');
	foreach(lc, arguments)
	{
		RtsyncGqlArgument *arg = lfirst(lc);

		if (lc != list_head(arguments))
			appendStringInfoString(out, ", ");
		appendStringInfoString(out, "{\"name\": ");
		emit_string(out, arg->name);
		appendStringInfoString(out, ", \"value\": ");
		emit_value(out, arg->value);
		appendStringInfoString(out, ", ");
		emit_loc(out, arg->loc);
		appendStringInfoChar(out, '}');
	}
	appendStringInfoChar(out, ']');
}

static void
emit_object_fields(StringInfo out, List *fields)
{
	ListCell   *lc;

	appendStringInfoChar(out, '[');
	foreach(lc, fields)
	{
		RtsyncGqlObjectField *field = lfirst(lc);

		if (lc != list_head(fields))
			appendStringInfoString(out, ", ");
		appendStringInfoString(out, "{\"name\": ");
		emit_string(out, field->name);
		appendStringInfoString(out, ", \"value\": ");
		emit_value(out, field->value);
		appendStringInfoString(out, ", ");
		emit_loc(out, field->loc);
		appendStringInfoChar(out, '}');
	}
	appendStringInfoChar(out, ']');
}

/* A value: {"kind", "value", "loc"}. */
static void
emit_value(StringInfo out, RtsyncGqlValue *value)
{
	static const char *const kinds[] = {
		[RTSYNC_GQL_VARIABLE] = "variable",
		[RTSYNC_GQL_INT] = "int",
		[RTSYNC_GQL_FLOAT] = "float",
		[RTSYNC_GQL_STRING] = "string",
		[RTSYNC_GQL_BOOLEAN] = "boolean",
		[RTSYNC_GQL_NULL] = "null",
		[RTSYNC_GQL_ENUM] = "enum",
		[RTSYNC_GQL_LIST] = "list",
		[RTSYNC_GQL_OBJECT] = "object"
	};
	ListCell   *lc;

	if (value == NULL)
	{
		appendStringInfoString(out, "null");
		return;
	}
	appendStringInfo(out, "{\"kind\": \"%s\", \"value\": ", kinds[value->kind]);
	switch (value->kind)
	{
		case RTSYNC_GQL_BOOLEAN:
			appendStringInfoString(out, value->boolean ? "true" : "false");
			break;
		case RTSYNC_GQL_NULL:
			appendStringInfoString(out, "null");
			break;
		case RTSYNC_GQL_LIST:
			appendStringInfoChar(out, '[');
			foreach(lc, value->items)
			{
				if (lc != list_head(value->items))
					appendStringInfoString(out, ", ");
				emit_value(out, lfirst(lc));
			}
			appendStringInfoChar(out, ']');
			break;
		case RTSYNC_GQL_OBJECT:
			emit_object_fields(out, value->fields);
			break;
		default:
			emit_string(out, value->str);
			break;
	}
	appendStringInfoString(out, ", ");
	emit_loc(out, value->loc);
	appendStringInfoChar(out, '}');
}

static void
emit_directives(StringInfo out, List *directives)
{
	ListCell   *lc;

	appendStringInfoChar(out, '[');
	foreach(lc, directives)
	{
		RtsyncGqlDirective *dir = lfirst(lc);

		if (lc != list_head(directives))
			appendStringInfoString(out, ", ");
		appendStringInfoString(out, "{\"name\": ");
		emit_string(out, dir->name);
		appendStringInfoString(out, ", \"arguments\": ");
		emit_arguments(out, dir->arguments);
		appendStringInfoString(out, ", ");
		emit_loc(out, dir->loc);
		appendStringInfoChar(out, '}');
	}
	appendStringInfoChar(out, ']');
}

static void
emit_selection(StringInfo out, RtsyncGqlSelection *sel)
{
	switch (sel->kind)
	{
		case RTSYNC_GQL_FIELD:
			appendStringInfoString(out, "{\"kind\": \"field\", \"alias\": ");
			emit_string(out, sel->alias);
			appendStringInfoString(out, ", \"name\": ");
			emit_string(out, sel->name);
			appendStringInfoString(out, ", \"arguments\": ");
			emit_arguments(out, sel->arguments);
			appendStringInfoString(out, ", \"directives\": ");
			emit_directives(out, sel->directives);
			appendStringInfoString(out, ", \"selections\": ");
			if (sel->selections == NIL)
				appendStringInfoString(out, "null");
			else
				emit_selections(out, sel->selections);
			break;
		case RTSYNC_GQL_FRAGMENT_SPREAD:
			appendStringInfoString(out, "{\"kind\": \"fragment_spread\", \"name\": ");
			emit_string(out, sel->name);
			appendStringInfoString(out, ", \"directives\": ");
			emit_directives(out, sel->directives);
			break;
		case RTSYNC_GQL_INLINE_FRAGMENT:
			appendStringInfoString(out, "{\"kind\": \"inline_fragment\", \"on\": ");
			emit_string(out, sel->type_condition);
			appendStringInfoString(out, ", \"directives\": ");
			emit_directives(out, sel->directives);
			appendStringInfoString(out, ", \"selections\": ");
			emit_selections(out, sel->selections);
			break;
	}
	appendStringInfoString(out, ", ");
	emit_loc(out, sel->loc);
	appendStringInfoChar(out, '}');
}

static void
emit_selections(StringInfo out, List *selections)
{
	ListCell   *lc;

	appendStringInfoChar(out, '[');
	foreach(lc, selections)
	{
		if (lc != list_head(selections))
			appendStringInfoString(out, ", ");
		emit_selection(out, lfirst(lc));
	}
	appendStringInfoChar(out, ']');
}

static void
emit_variables(StringInfo out, List *variables)
{
	ListCell   *lc;

	appendStringInfoChar(out, '[');
	foreach(lc, variables)
	{
		RtsyncGqlVariableDef *def = lfirst(lc);
		StringInfoData type;

		if (lc != list_head(variables))
			appendStringInfoString(out, ", ");
		initStringInfo(&type);
		append_type(&type, def->type);
		appendStringInfoString(out, "{\"name\": ");
		emit_string(out, def->name);
		appendStringInfoString(out, ", \"type\": ");
		emit_string(out, type.data);
		appendStringInfoString(out, ", \"default\": ");
		emit_value(out, def->default_value);
		appendStringInfoString(out, ", \"directives\": ");
		emit_directives(out, def->directives);
		appendStringInfoString(out, ", ");
		emit_loc(out, def->loc);
		appendStringInfoChar(out, '}');
		pfree(type.data);
	}
	appendStringInfoChar(out, ']');
}

/* The whole document, operations then fragments. */
static void
emit_document(StringInfo out, RtsyncGqlDocument *doc)
{
	static const char *const types[] = {
		[RTSYNC_GQL_QUERY] = "query",
		[RTSYNC_GQL_MUTATION] = "mutation",
		[RTSYNC_GQL_SUBSCRIPTION] = "subscription"
	};
	ListCell   *lc;

	appendStringInfoString(out, "{\"operations\": [");
	foreach(lc, doc->operations)
	{
		RtsyncGqlOperation *op = lfirst(lc);

		if (lc != list_head(doc->operations))
			appendStringInfoString(out, ", ");
		appendStringInfo(out, "{\"type\": \"%s\", \"name\": ", types[op->type]);
		emit_string(out, op->name);
		appendStringInfoString(out, ", \"variables\": ");
		emit_variables(out, op->variables);
		appendStringInfoString(out, ", \"directives\": ");
		emit_directives(out, op->directives);
		appendStringInfoString(out, ", \"selections\": ");
		emit_selections(out, op->selections);
		appendStringInfoString(out, ", ");
		emit_loc(out, op->loc);
		appendStringInfoChar(out, '}');
	}
	appendStringInfoString(out, "], \"fragments\": [");
	foreach(lc, doc->fragments)
	{
		RtsyncGqlFragment *frag = lfirst(lc);

		if (lc != list_head(doc->fragments))
			appendStringInfoString(out, ", ");
		appendStringInfoString(out, "{\"name\": ");
		emit_string(out, frag->name);
		appendStringInfoString(out, ", \"on\": ");
		emit_string(out, frag->type_condition);
		appendStringInfoString(out, ", \"directives\": ");
		emit_directives(out, frag->directives);
		appendStringInfoString(out, ", \"selections\": ");
		emit_selections(out, frag->selections);
		appendStringInfoString(out, ", ");
		emit_loc(out, frag->loc);
		appendStringInfoChar(out, '}');
	}
	appendStringInfoString(out, "]}");
}

/* A syntax error as a GraphQL response's "errors". */
static void
emit_error(StringInfo out, RtsyncGqlError *error)
{
	appendStringInfoString(out, "{\"errors\": [{\"message\": ");
	emit_string(out, error->message);
	appendStringInfoString(out, ", \"locations\": [");
	if (error->loc.line > 0)
		appendStringInfo(out, "{\"line\": %d, \"column\": %d}",
						 error->loc.line, error->loc.column);
	appendStringInfoString(out, "]}]}");
}

/*
 * rtsync._graphql_parse(document text) RETURNS jsonb
 *
 * Parses the document and returns its tree, or its syntax error, as JSON.
 * The parser works on UTF-8: the text is converted from the database
 * encoding and the JSON back to it (both no-ops in a UTF-8 database).  A
 * SQL_ASCII database's bytes go to the parser unchecked, which then checks
 * them itself.
 */
Datum
rtsync_graphql_parse(PG_FUNCTION_ARGS)
{
	text	   *document = PG_GETARG_TEXT_PP(0);
	const char *src = VARDATA_ANY(document);
	size_t		len = VARSIZE_ANY_EXHDR(document);
	RtsyncGqlDocument *doc;
	RtsyncGqlError error;
	StringInfoData out;
	char	   *json;

	if (GetDatabaseEncoding() != PG_SQL_ASCII)
	{
		char	   *utf8 = pg_server_to_any(src, len, PG_UTF8);

		if (utf8 != src)
		{
			src = utf8;
			len = strlen(utf8);
		}
	}

	memset(&error, 0, sizeof(error));
	doc = rtsync_gql_parse(src, len, &error);

	initStringInfo(&out);
	if (doc != NULL)
		emit_document(&out, doc);
	else
		emit_error(&out, &error);

	json = pg_any_to_server(out.data, out.len, PG_UTF8);
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
}
