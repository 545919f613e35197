/*-------------------------------------------------------------------------
 *
 * graphql/schema_sdl.c
 *	  Prints the type catalogue's generated types as SDL, byte for byte as
 *	  graphql-js 16's printSchema does, so that printSchema(buildSchema(sdl))
 *	  and printSchema(buildClientSchema(introspection)) both give the same
 *	  text back and a test can compare them as strings.
 *
 * The layout rules are printSchema's: definitions separated by a blank
 * line; descriptions as block strings ("""...""") when they can be, else
 * as ordinary strings; a description inside a block is indented with it and
 * preceded by a blank line unless it is the block's first; arguments on
 * one line unless one of them has a description.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "graphql/schema_sdl.h"

/* ------------------------------------------------------------------------
 * Strings (graphql-js language/blockString.js and printString.js)
 * ------------------------------------------------------------------------
 */

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * isPrintableAsBlockString: no control characters but tab and newline, no
 * leading or trailing empty line, and no indentation common to every line
 * after the first. Bytes of multibyte UTF-8 characters count as printable
 * characters, as the UTF-16 code units do in JavaScript.
 */
static bool
printable_as_block(const char *value)
{
	bool		empty_line = true;
	bool		has_indent = false;
	bool		common_indent = true;
	bool		seen_non_empty_line = false;

	if (*value == '\0')
		return true;
	for (const unsigned char *p = (const unsigned char *) value; *p; p++)
	{
		if ((*p < 0x20 && *p != '\t' && *p != '\n') || *p == 0x7f)
		{
			/* graphql-js refuses 0x00-0x08, 0x0B, 0x0C, 0x0E, 0x0F and \r */
			if (*p <= 0x08 || *p == 0x0b || *p == 0x0c || *p == 0x0d ||
				*p == 0x0e || *p == 0x0f)
				return false;
			common_indent = common_indent && has_indent;
			empty_line = false;
		}
		else if (*p == '\n')
		{
			if (empty_line && !seen_non_empty_line)
				return false;
			seen_non_empty_line = true;
			empty_line = true;
			has_indent = false;
		}
		else if (is_blank(*p))
			has_indent = has_indent || empty_line;
		else
		{
			common_indent = common_indent && has_indent;
			empty_line = false;
		}
	}
	if (empty_line)
		return false;
	if (common_indent && seen_non_empty_line)
		return false;
	return true;
}

/* The length of a UTF-8 string in UTF-16 code units, as JavaScript counts. */
static int
utf16_length(const char *s)
{
	int			n = 0;

	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
	{
		if ((*p & 0xc0) != 0x80)
			n++;
		if (*p >= 0xf0)
			n++;				/* a surrogate pair */
	}
	return n;
}

/* printBlockString, without the "minimize" option */
static void
print_block_string(StringInfo out, const char *value)
{
	StringInfoData escaped;
	size_t		len = strlen(value);
	bool		single_line = strchr(value, '\n') == NULL;
	bool		force_leading = false;
	bool		trailing_triple;
	bool		force_trailing;
	bool		multiple_lines;

	initStringInfo(&escaped);
	for (const char *p = value; *p; p++)
	{
		if (strncmp(p, "\"\"\"", 3) == 0)
		{
			appendStringInfoString(&escaped, "\\\"\"\"");
			p += 2;
		}
		else
			appendStringInfoChar(&escaped, *p);
	}

	/* every line after the first empty or indented */
	if (!single_line)
	{
		force_leading = true;
		for (const char *nl = strchr(escaped.data, '\n'); nl; nl = strchr(nl + 1, '\n'))
			if (nl[1] != '\n' && nl[1] != '\0' && !is_blank(nl[1]))
				force_leading = false;
	}
	trailing_triple = escaped.len >= 4 &&
		strcmp(escaped.data + escaped.len - 4, "\\\"\"\"") == 0;
	force_trailing = (len > 0 && value[len - 1] == '"' && !trailing_triple) ||
		(len > 0 && value[len - 1] == '\\');
	multiple_lines = !single_line || utf16_length(value) > 70 || force_trailing ||
		force_leading || trailing_triple;

	appendStringInfoString(out, "\"\"\"");
	if ((multiple_lines && !(single_line && is_blank(value[0]))) || force_leading)
		appendStringInfoChar(out, '\n');
	appendBinaryStringInfo(out, escaped.data, escaped.len);
	if (multiple_lines || force_trailing)
		appendStringInfoChar(out, '\n');
	appendStringInfoString(out, "\"\"\"");
	pfree(escaped.data);
}

/* printString: a quoted string, control characters escaped */
static void
print_string(StringInfo out, const char *value)
{
	appendStringInfoChar(out, '"');
	for (const unsigned char *p = (const unsigned char *) value; *p; p++)
	{
		switch (*p)
		{
			case '\b':
				appendStringInfoString(out, "\\b");
				break;
			case '\t':
				appendStringInfoString(out, "\\t");
				break;
			case '\n':
				appendStringInfoString(out, "\\n");
				break;
			case '\f':
				appendStringInfoString(out, "\\f");
				break;
			case '\r':
				appendStringInfoString(out, "\\r");
				break;
			case '"':
				appendStringInfoString(out, "\\\"");
				break;
			case '\\':
				appendStringInfoString(out, "\\\\");
				break;
			default:
				if (*p < 0x20 || *p == 0x7f)
					appendStringInfo(out, "\\u%04X", *p);
				else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
				{
					/* U+0080 to U+009F */
					appendStringInfo(out, "\\u%04X", p[1]);
					p++;
				}
				else
					appendStringInfoChar(out, *p);
				break;
		}
	}
	appendStringInfoChar(out, '"');
}

/*
 * printDescription: the description, then a newline; indented lines inside
 * a block, after a blank line when not the block's first member.
 */
static void
print_description(StringInfo out, const char *description, const char *indent,
				  bool first)
{
	StringInfoData text;

	if (description == NULL)
		return;
	initStringInfo(&text);
	if (printable_as_block(description))
		print_block_string(&text, description);
	else
		print_string(&text, description);
	if (*indent && !first)
		appendStringInfo(out, "\n%s", indent);
	else
		appendStringInfoString(out, indent);
	for (const char *p = text.data; *p; p++)
	{
		appendStringInfoChar(out, *p);
		if (*p == '\n')
			appendStringInfoString(out, indent);
	}
	appendStringInfoChar(out, '\n');
	pfree(text.data);
}

/* ------------------------------------------------------------------------
 * Definitions (graphql-js utilities/printSchema.js)
 * ------------------------------------------------------------------------
 */

/* name: Type = default */
static void
print_input_value(StringInfo out, const RtsyncInputValueDef *value)
{
	appendStringInfo(out, "%s: ", value->name);
	rtsync_type_ref_print(out, value->type);
	if (value->default_value)
		appendStringInfo(out, " = %s", value->default_value);
}

/* (a: T, b: U), or one per line when some argument has a description */
static void
print_args(StringInfo out, List *args, const char *indent)
{
	bool		described = false;
	char	   *inner = psprintf("  %s", indent);
	ListCell   *lc;

	if (args == NIL)
		return;
	foreach(lc, args)
		described = described || ((RtsyncInputValueDef *) lfirst(lc))->description != NULL;
	appendStringInfoChar(out, '(');
	foreach(lc, args)
	{
		RtsyncInputValueDef *arg = lfirst(lc);

		if (!described)
		{
			if (lc != list_head(args))
				appendStringInfoString(out, ", ");
		}
		else
		{
			appendStringInfoChar(out, '\n');
			print_description(out, arg->description, inner, lc == list_head(args));
			appendStringInfoString(out, inner);
		}
		print_input_value(out, arg);
	}
	if (described)
		appendStringInfo(out, "\n%s", indent);
	appendStringInfoChar(out, ')');
}

/* The members of an object, input object or enum type, as a block. */
static void
print_members(StringInfo out, const RtsyncTypeDef *type)
{
	List	   *members = type->kind == RTSYNC_DEF_ENUM ? type->values : type->fields;
	ListCell   *lc;

	if (members == NIL)
		return;
	appendStringInfoString(out, " {");
	foreach(lc, members)
	{
		bool		first = lc == list_head(members);

		appendStringInfoChar(out, '\n');
		if (type->kind == RTSYNC_DEF_OBJECT)
		{
			RtsyncFieldDef *field = lfirst(lc);

			print_description(out, field->description, "  ", first);
			appendStringInfo(out, "  %s", field->name);
			print_args(out, field->args, "  ");
			appendStringInfoString(out, ": ");
			rtsync_type_ref_print(out, field->type);
		}
		else if (type->kind == RTSYNC_DEF_INPUT_OBJECT)
		{
			RtsyncInputValueDef *field = lfirst(lc);

			print_description(out, field->description, "  ", first);
			appendStringInfoString(out, "  ");
			print_input_value(out, field);
		}
		else
		{
			RtsyncEnumValueDef *value = lfirst(lc);

			print_description(out, value->description, "  ", first);
			appendStringInfo(out, "  %s", value->name);
		}
	}
	appendStringInfoString(out, "\n}");
}

/* See graphql/schema_sdl.h: the generated types, one definition after another. */
void
rtsync_types_print_sdl(const RtsyncTypeCatalogue *cat, StringInfo out)
{
	static const char *const keywords[] = {
		[RTSYNC_DEF_SCALAR] = "scalar",
		[RTSYNC_DEF_OBJECT] = "type",
		[RTSYNC_DEF_ENUM] = "enum",
		[RTSYNC_DEF_INPUT_OBJECT] = "input"
	};
	bool		first = true;
	ListCell   *lc;

	foreach(lc, cat->types)
	{
		RtsyncTypeDef *type = lfirst(lc);

		if (type->origin != RTSYNC_ORIGIN_GENERATED)
			continue;
		if (!first)
			appendStringInfoString(out, "\n\n");
		first = false;
		print_description(out, type->description, "", true);
		appendStringInfo(out, "%s %s", keywords[type->kind], type->name);
		print_members(out, type);
	}
}

/* See graphql/schema_sdl.h; the catalogue lives in a scratch memory context. */
void
rtsync_schema_print_sdl(RtsyncSchema *schema, StringInfo out)
{
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext scratch = AllocSetContextCreate(caller, "rtsync schema sdl",
												  ALLOCSET_DEFAULT_SIZES);

	MemoryContextSwitchTo(scratch);
	rtsync_types_print_sdl(rtsync_types_build(schema), out);
	MemoryContextSwitchTo(caller);
	MemoryContextDelete(scratch);
}
