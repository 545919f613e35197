/*-------------------------------------------------------------------------
 *
 * graphql/type_defs.c
 *	  The pieces of a GraphQL type system: type references, types, fields
 *	  and input values, made and looked up.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "graphql/type_defs.h"

/* ------------------------------------------------------------------------
 * Type references
 * ------------------------------------------------------------------------
 */

/* A named type; the name is not copied */
RtsyncGqlTypeRef *
rtsync_type_ref_make(const char *name, bool non_null)
{
	RtsyncGqlTypeRef *ref = palloc0(sizeof(RtsyncGqlTypeRef));

	ref->name = (char *) name;
	ref->non_null = non_null;
	return ref;
}

/* A list of item */
RtsyncGqlTypeRef *
rtsync_type_ref_list(RtsyncGqlTypeRef *item, bool non_null)
{
	RtsyncGqlTypeRef *ref = palloc0(sizeof(RtsyncGqlTypeRef));

	ref->item = item;
	ref->non_null = non_null;
	return ref;
}

/* One type of the text at *p, advancing *p; NULL on a syntax error. */
static RtsyncGqlTypeRef *
parse_ref(const char **p)
{
	RtsyncGqlTypeRef *ref;

	if (**p == '[')
	{
		RtsyncGqlTypeRef *item;

		(*p)++;
		if ((item = parse_ref(p)) == NULL || **p != ']')
			return NULL;
		(*p)++;
		ref = rtsync_type_ref_list(item, false);
	}
	else
	{
		const char *start = *p;

		while ((**p >= 'A' && **p <= 'Z') || (**p >= 'a' && **p <= 'z') ||
			   (**p >= '0' && **p <= '9') || **p == '_')
			(*p)++;
		if (*p == start)
			return NULL;
		ref = palloc0(sizeof(RtsyncGqlTypeRef));
		ref->name = pnstrdup(start, *p - start);
	}
	if (**p == '!')
	{
		ref->non_null = true;
		(*p)++;
	}
	return ref;
}

/* A type from its GraphQL text; NULL when the text is no type */
RtsyncGqlTypeRef *
rtsync_type_ref_parse(const char *text)
{
	const char *p = text;
	RtsyncGqlTypeRef *ref = parse_ref(&p);

	return ref != NULL && *p == '\0' ? ref : NULL;
}

/* The type as GraphQL writes it, e.g. [String!]! */
void
rtsync_type_ref_print(StringInfo out, const RtsyncGqlTypeRef *ref)
{
	if (ref->name)
		appendStringInfoString(out, ref->name);
	else
	{
		appendStringInfoChar(out, '[');
		rtsync_type_ref_print(out, ref->item);
		appendStringInfoChar(out, ']');
	}
	if (ref->non_null)
		appendStringInfoChar(out, '!');
}

char *
rtsync_type_ref_string(const RtsyncGqlTypeRef *ref)
{
	StringInfoData buf;

	initStringInfo(&buf);
	rtsync_type_ref_print(&buf, ref);
	return buf.data;
}

/* The innermost named type */
const char *
rtsync_type_ref_base(const RtsyncGqlTypeRef *ref)
{
	while (ref->name == NULL)
		ref = ref->item;
	return ref->name;
}

/* ------------------------------------------------------------------------
 * Building blocks
 * ------------------------------------------------------------------------
 */

/* A type without fields or values; strings are not copied */
RtsyncTypeDef *
rtsync_types_new(RtsyncTypeDefKind kind, RtsyncTypeOrigin origin, const char *name,
				 const char *description)
{
	RtsyncTypeDef *type = palloc0(sizeof(RtsyncTypeDef));

	type->kind = kind;
	type->origin = origin;
	type->name = name;
	type->description = description;
	return type;
}

/* An argument or input field; strings are not copied */
RtsyncInputValueDef *
rtsync_types_new_input_value(const char *name, RtsyncGqlTypeRef *type,
							 const char *description, const char *default_value)
{
	RtsyncInputValueDef *value = palloc0(sizeof(RtsyncInputValueDef));

	value->name = name;
	value->type = type;
	value->description = description;
	value->default_value = default_value;
	return value;
}

/* A field appended to an object type; strings are not copied */
RtsyncFieldDef *
rtsync_types_add_field(RtsyncTypeDef *type, const char *name, RtsyncGqlTypeRef *ref,
					   const char *description)
{
	RtsyncFieldDef *field = palloc0(sizeof(RtsyncFieldDef));

	field->name = name;
	field->type = ref;
	field->description = description;
	type->fields = lappend(type->fields, field);
	return field;
}

/* ------------------------------------------------------------------------
 * Lookups
 * ------------------------------------------------------------------------
 */

/* An object type's field by name */
RtsyncFieldDef *
rtsync_types_field(const RtsyncTypeDef *type, const char *name)
{
	ListCell   *lc;

	if (type->kind != RTSYNC_DEF_OBJECT)
		return NULL;
	foreach(lc, type->fields)
		if (strcmp(((RtsyncFieldDef *) lfirst(lc))->name, name) == 0)
			return lfirst(lc);
	return NULL;
}

/* An argument or input field by name */
RtsyncInputValueDef *
rtsync_types_input_value(List *values, const char *name)
{
	ListCell   *lc;

	foreach(lc, values)
		if (strcmp(((RtsyncInputValueDef *) lfirst(lc))->name, name) == 0)
			return lfirst(lc);
	return NULL;
}
