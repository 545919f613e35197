/*-------------------------------------------------------------------------
 *
 * graphql/introspection.c
 *	  Validates and executes the introspection part of a query (__schema,
 *	  __type and everything under them) against the type catalogue, which
 *	  is also what the SDL printer prints: a client that introspects and a
 *	  client that reads rtsync.schema_sdl() see the same schema.
 *
 * Validation (graphql/introspection_validate.c) comes first, as in graphql-js,
 * which does not execute an invalid document. Execution walks the
 * catalogue: a __Type is a named type of the catalogue or a list or
 * non-null type reference (whose ofType is the reference without its outer
 * wrapper). Nothing here is
 * deprecated, so includeDeprecated arguments are accepted and change
 * nothing. The catalogue is built for each call, in a scratch memory
 * context deleted at the end (introspection is rare, and the catalogue
 * takes about as long to build as the answer takes to write).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "graphql/introspection.h"
#include "graphql/schema_types.h"
#include "graphql/input.h"

/* The state of one execution. */
typedef struct Intro
{
	RtsyncPlanState *ps;
	RtsyncTypeCatalogue *cat;
	StringInfo	out;			/* the value being written */
	bool		failed;			/* an error was reported: stop */
	HTAB	   *collected;		/* CollectedSet by (nodes, type name) */
} Intro;

/* What a value of an introspection object type is. */
typedef enum ObjKind
{
	OBJ_SCHEMA,
	OBJ_TYPE,
	OBJ_FIELD,
	OBJ_INPUT_VALUE,
	OBJ_ENUM_VALUE,
	OBJ_DIRECTIVE
} ObjKind;

static const char *const obj_type_names[] = {
	[OBJ_SCHEMA] = "__Schema",
	[OBJ_TYPE] = "__Type",
	[OBJ_FIELD] = "__Field",
	[OBJ_INPUT_VALUE] = "__InputValue",
	[OBJ_ENUM_VALUE] = "__EnumValue",
	[OBJ_DIRECTIVE] = "__Directive"
};

/*
 * A value: a TYPE is a named type (def), or a list or non-null type
 * reference (ref) seen whole or, when stripped, without its outer '!'.
 */
typedef struct Obj
{
	ObjKind		kind;
	const RtsyncTypeDef *def;	/* TYPE: a named type, when ref is NULL */
	const RtsyncGqlTypeRef *ref;	/* TYPE: a list or non-null type */
	bool		stripped;		/* TYPE: ref without its outer '!' */
	const void *member;			/* FIELD, INPUT_VALUE, ENUM_VALUE, DIRECTIVE */
} Obj;

/*
 * The response keys under some field nodes for objects of one type, worked
 * out once: every object of a list, and every level of ofType, shares them.
 * The fields lists of the entries are then stable, which keeps the keys of
 * the next level stable too.
 */
typedef struct CollectedKey
{
	List	   *nodes;
	const char *type_name;
} CollectedKey;

typedef struct CollectedSet
{
	CollectedKey key;
	List	   *collected;		/* RtsyncCollected * */
} CollectedSet;

static void execute_object(Intro *in, const Obj *obj, List *nodes);

/* Does a type condition apply to objects of this type (a type name)? */
static bool
condition_applies(void *type_name, const char *condition)
{
	return condition == NULL || strcmp(condition, (const char *) type_name) == 0;
}

/*
 * OverlappingFieldsCanBeMerged, for introspection's object types, where
 * each field has one type: the fields of a response key must be the same
 * field with the same arguments (their selection sets are then merged).
 */
static bool
check_mergeable(Intro *in, const RtsyncCollected *entry)
{
	RtsyncGqlSelection *first = linitial(entry->fields);
	ListCell   *lc;

	for_each_from(lc, entry->fields, 1)
	{
		RtsyncGqlSelection *other = lfirst(lc);

		if (strcmp(first->name, other->name) != 0)
			rtsync_gql_error(&in->ps->sink, other->loc,
							 "Fields \"%s\" conflict because \"%s\" and \"%s\" are different fields. Use different aliases on the fields to fetch both if this was intentional.",
							 entry->key, first->name, other->name);
		else if (!rtsync_gql_arguments_equal(first->arguments, other->arguments))
			rtsync_gql_error(&in->ps->sink, other->loc,
							 "Fields \"%s\" conflict because they have differing arguments. Use different aliases on the fields to fetch both if this was intentional.",
							 entry->key);
		else
			continue;
		in->failed = true;
		return false;
	}
	return true;
}

/* The response keys of objects of one type under these field nodes. */
static List *
collect_subfields(Intro *in, List *nodes, const char *type_name)
{
	CollectedKey key = {nodes, type_name};
	CollectedSet *set;
	bool		found;
	RtsyncCollector c;
	ListCell   *lc;

	set = hash_search(in->collected, &key, HASH_ENTER, &found);
	if (found)
		return set->collected;
	set->collected = NIL;
	rtsync_collector_init(in->ps, &c, condition_applies, (void *) type_name);
	foreach(lc, nodes)
		rtsync_collect_fields(in->ps, ((RtsyncGqlSelection *) lfirst(lc))->selections, &c);
	foreach(lc, c.entries)
		if (!check_mergeable(in, lfirst(lc)))
			return NIL;
	set->collected = c.entries;
	return c.entries;
}

static void
emit_string(Intro *in, const char *value)
{
	if (value == NULL)
		appendStringInfoString(in->out, "null");
	else
		rtsync_json_append_string(in->out, value, strlen(value));
}

/*
 * The __Type of a type reference (without its outer '!' when stripped): a
 * wrapper, or the named type.
 */
static Obj
type_obj(Intro *in, const RtsyncGqlTypeRef *ref, bool stripped)
{
	Obj			obj = {OBJ_TYPE, NULL, NULL, false, NULL};

	if ((ref->non_null && !stripped) || ref->name == NULL)
	{
		obj.ref = ref;
		obj.stripped = stripped;
	}
	else
		obj.def = rtsync_types_find(in->cat, ref->name);
	return obj;
}

/* ofType of a wrapper: the reference without its '!', or a list's item. */
static Obj
of_type(Intro *in, const Obj *obj)
{
	if (obj->ref->non_null && !obj->stripped)
		return type_obj(in, obj->ref, true);
	return type_obj(in, obj->ref->item, false);
}

/* A list of objects of one kind, each with the same selection. */
static void
emit_list(Intro *in, ObjKind kind, List *items, List *nodes)
{
	ListCell   *lc;

	appendStringInfoChar(in->out, '[');
	foreach(lc, items)
	{
		Obj			obj = {kind, NULL, NULL, false, lfirst(lc)};

		if (kind == OBJ_TYPE)
		{
			obj.def = lfirst(lc);
			obj.member = NULL;
		}
		if (lc != list_head(items))
			appendStringInfoChar(in->out, ',');
		execute_object(in, &obj, nodes);
		if (in->failed)
			return;
	}
	appendStringInfoChar(in->out, ']');
}

/* An object, or null when def is NULL: for named types that may be absent. */
static void
emit_type(Intro *in, const RtsyncTypeDef *def, List *nodes)
{
	Obj			obj = {OBJ_TYPE, def, NULL, false, NULL};

	if (def == NULL)
		appendStringInfoString(in->out, "null");
	else
		execute_object(in, &obj, nodes);
}

static const char *
kind_name(const Obj *obj)
{
	static const char *const names[] = {
		[RTSYNC_DEF_SCALAR] = "SCALAR",
		[RTSYNC_DEF_OBJECT] = "OBJECT",
		[RTSYNC_DEF_ENUM] = "ENUM",
		[RTSYNC_DEF_INPUT_OBJECT] = "INPUT_OBJECT"
	};

	if (obj->ref != NULL)
		return obj->ref->non_null && !obj->stripped ? "NON_NULL" : "LIST";
	return names[obj->def->kind];
}

/* The fields of __Type; false when the name is none of them. */
static bool
resolve_type(Intro *in, const Obj *obj, const char *name, List *nodes)
{
	const RtsyncTypeDef *def = obj->def;
	StringInfo	out = in->out;

	if (strcmp(name, "kind") == 0)
		emit_string(in, kind_name(obj));
	else if (strcmp(name, "name") == 0)
		emit_string(in, def ? def->name : NULL);
	else if (strcmp(name, "description") == 0)
		emit_string(in, def ? def->description : NULL);
	else if (strcmp(name, "specifiedByURL") == 0 || strcmp(name, "possibleTypes") == 0)
		appendStringInfoString(out, "null");
	else if (strcmp(name, "fields") == 0 && def && def->kind == RTSYNC_DEF_OBJECT)
		emit_list(in, OBJ_FIELD, def->fields, nodes);
	else if (strcmp(name, "interfaces") == 0 && def && def->kind == RTSYNC_DEF_OBJECT)
		appendStringInfoString(out, "[]");
	else if (strcmp(name, "enumValues") == 0 && def && def->kind == RTSYNC_DEF_ENUM)
		emit_list(in, OBJ_ENUM_VALUE, def->values, nodes);
	else if (strcmp(name, "inputFields") == 0 && def && def->kind == RTSYNC_DEF_INPUT_OBJECT)
		emit_list(in, OBJ_INPUT_VALUE, def->fields, nodes);
	else if (strcmp(name, "isOneOf") == 0 && def && def->kind == RTSYNC_DEF_INPUT_OBJECT)
		appendStringInfoString(out, "false");
	else if (strcmp(name, "ofType") == 0 && obj->ref != NULL)
	{
		Obj			inner = of_type(in, obj);

		execute_object(in, &inner, nodes);
	}
	else if (strcmp(name, "fields") == 0 || strcmp(name, "interfaces") == 0 ||
			 strcmp(name, "enumValues") == 0 || strcmp(name, "inputFields") == 0 ||
			 strcmp(name, "isOneOf") == 0 || strcmp(name, "ofType") == 0)
		appendStringInfoString(out, "null");
	else
		return false;
	return true;
}

/* name, description, type, args or defaultValue of a member; or false */
static bool
resolve_member(Intro *in, const Obj *obj, const char *name, List *nodes)
{
	const char *member_name = NULL;
	const char *description = NULL;
	const RtsyncGqlTypeRef *type = NULL;
	List	   *args = NIL;
	const RtsyncDirectiveDef *directive = NULL;

	switch (obj->kind)
	{
		case OBJ_FIELD:
			member_name = ((const RtsyncFieldDef *) obj->member)->name;
			description = ((const RtsyncFieldDef *) obj->member)->description;
			type = ((const RtsyncFieldDef *) obj->member)->type;
			args = ((const RtsyncFieldDef *) obj->member)->args;
			break;
		case OBJ_INPUT_VALUE:
			member_name = ((const RtsyncInputValueDef *) obj->member)->name;
			description = ((const RtsyncInputValueDef *) obj->member)->description;
			type = ((const RtsyncInputValueDef *) obj->member)->type;
			if (strcmp(name, "defaultValue") == 0)
			{
				emit_string(in, ((const RtsyncInputValueDef *) obj->member)->default_value);
				return true;
			}
			break;
		case OBJ_ENUM_VALUE:
			member_name = ((const RtsyncEnumValueDef *) obj->member)->name;
			description = ((const RtsyncEnumValueDef *) obj->member)->description;
			break;
		case OBJ_DIRECTIVE:
			directive = obj->member;
			member_name = directive->name;
			description = directive->description;
			args = directive->args;
			break;
		default:
			return false;
	}
	if (strcmp(name, "name") == 0)
		emit_string(in, member_name);
	else if (strcmp(name, "description") == 0)
		emit_string(in, description);
	else if (strcmp(name, "type") == 0 && type != NULL)
	{
		Obj			t = type_obj(in, type, false);

		execute_object(in, &t, nodes);
	}
	else if (strcmp(name, "args") == 0 && (obj->kind == OBJ_FIELD || directive))
		emit_list(in, OBJ_INPUT_VALUE, args, nodes);
	else if (strcmp(name, "isDeprecated") == 0)
		appendStringInfoString(in->out, "false");
	else if (strcmp(name, "deprecationReason") == 0)
		appendStringInfoString(in->out, "null");
	else if (directive && strcmp(name, "isRepeatable") == 0)
		appendStringInfoString(in->out, directive->repeatable ? "true" : "false");
	else if (directive && strcmp(name, "locations") == 0)
	{
		ListCell   *lc;

		appendStringInfoChar(in->out, '[');
		foreach(lc, directive->locations)
		{
			if (lc != list_head(directive->locations))
				appendStringInfoChar(in->out, ',');
			emit_string(in, lfirst(lc));
		}
		appendStringInfoChar(in->out, ']');
	}
	else
		return false;
	return true;
}

/* The fields of __Schema; false when the name is none of them. */
static bool
resolve_schema(Intro *in, const char *name, List *nodes)
{
	RtsyncTypeCatalogue *cat = in->cat;

	if (strcmp(name, "description") == 0)
		appendStringInfoString(in->out, "null");
	else if (strcmp(name, "types") == 0)
		emit_list(in, OBJ_TYPE, cat->types, nodes);
	else if (strcmp(name, "queryType") == 0)
		emit_type(in, cat->query, nodes);
	else if (strcmp(name, "mutationType") == 0)
		emit_type(in, cat->mutation, nodes);
	else if (strcmp(name, "subscriptionType") == 0)
		emit_type(in, cat->subscription, nodes);
	else if (strcmp(name, "directives") == 0)
		emit_list(in, OBJ_DIRECTIVE, cat->directives, nodes);
	else
		return false;
	return true;
}

/*
 * Appends the object's selected fields as a JSON object. nodes: the field
 * nodes whose (merged) selection sets select from it. Validation has seen
 * to it that every selected field exists.
 */
static void
execute_object(Intro *in, const Obj *obj, List *nodes)
{
	const char *type_name = obj_type_names[obj->kind];
	List	   *collected = collect_subfields(in, nodes, type_name);
	ListCell   *lc;

	if (in->failed)
		return;
	if (in->out->len > RTSYNC_INTROSPECTION_MAX_BYTES)
	{
		rtsync_gql_error(&in->ps->sink, ((RtsyncGqlSelection *) linitial(nodes))->loc,
						 "The introspection result would exceed %d MB; select less.",
						 RTSYNC_INTROSPECTION_MAX_BYTES / (1024 * 1024));
		in->failed = true;
		return;
	}
	appendStringInfoChar(in->out, '{');
	foreach(lc, collected)
	{
		RtsyncCollected  *entry = lfirst(lc);
		const char *name = ((RtsyncGqlSelection *) linitial(entry->fields))->name;
		bool		done;

		if (lc != list_head(collected))
			appendStringInfoChar(in->out, ',');
		rtsync_json_append_string(in->out, entry->key, strlen(entry->key));
		appendStringInfoChar(in->out, ':');
		if (strcmp(name, "__typename") == 0)
		{
			emit_string(in, type_name);
			done = true;
		}
		else if (obj->kind == OBJ_SCHEMA)
			done = resolve_schema(in, name, entry->fields);
		else if (obj->kind == OBJ_TYPE)
			done = resolve_type(in, obj, name, entry->fields);
		else
			done = resolve_member(in, obj, name, entry->fields);
		if (!done)
		{
			/* validation rules this out */
			rtsync_gql_error(&in->ps->sink, ((RtsyncGqlSelection *) linitial(entry->fields))->loc,
							 "Cannot query field \"%s\" on type \"%s\".", name, type_name);
			in->failed = true;
		}
		if (in->failed)
			return;
	}
	appendStringInfoChar(in->out, '}');
}

/* __type(name:): the argument's runtime value; false when it has none. */
static bool
type_argument(Intro *in, const RtsyncGqlSelection *field, const char **name)
{
	ListCell   *lc;

	foreach(lc, field->arguments)
	{
		RtsyncGqlArgument *arg = lfirst(lc);
		RtsyncInputValue *value;

		if (strcmp(arg->name, "name") != 0)
			continue;
		if (!rtsync_input_coerce_literal(&in->ps->input, arg->value,
										 rtsync_input_scalar_type(RTSYNC_SCALAR_STRING, true),
										 &value))
			return false;
		if (value == NULL || value->kind != RTSYNC_VALUE_STRING)
			break;
		*name = value->str;
		return true;
	}
	rtsync_gql_error(&in->ps->sink, field->loc,
					 "Argument \"name\" of required type \"String!\" was not provided.");
	return false;
}

/* The work of rtsync_introspect_fields, in a scratch memory context. */
static bool
introspect(RtsyncPlanState *ps, List *fields, StringInfo out)
{
	Intro		in;
	RtsyncGqlSelection *first = linitial(fields);
	RtsyncCollected	entry = {first->alias ? first->alias : first->name, fields};
	bool		substitute = ps->input.substitute;
	bool		valid;
	HASHCTL		ctl;

	memset(&in, 0, sizeof(in));
	in.ps = ps;
	in.cat = rtsync_types_build(ps->schema);
	in.out = out;
	ctl.keysize = sizeof(CollectedKey);
	ctl.entrysize = sizeof(CollectedSet);
	ctl.hcxt = CurrentMemoryContext;
	in.collected = hash_create("rtsync introspection fields", 64, &ctl,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	/* static validation first: variables checked for their usage, not values */
	ps->input.substitute = false;
	valid = rtsync_introspection_validate_fields(ps, in.cat, fields);
	ps->input.substitute = substitute;
	if (!valid || !check_mergeable(&in, &entry))
		return false;

	if (strcmp(first->name, "__schema") == 0)
	{
		Obj			schema = {OBJ_SCHEMA, NULL, NULL, false, NULL};

		execute_object(&in, &schema, fields);
	}
	else
	{
		const char *name;

		if (!type_argument(&in, first, &name))
			return false;
		emit_type(&in, rtsync_types_find(in.cat, name), fields);
	}
	return !in.failed;
}

/*
 * See graphql/introspection.h. Everything but the errors (in the sink's context) and
 * the result (appended to out on success) lives in a scratch context.
 */
bool
rtsync_introspect_fields(RtsyncPlanState *ps, List *fields, StringInfo out)
{
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext scratch = AllocSetContextCreate(caller, "rtsync introspection",
												  ALLOCSET_DEFAULT_SIZES);
	StringInfoData buf;
	bool		ok;

	MemoryContextSwitchTo(scratch);
	initStringInfo(&buf);
	ok = introspect(ps, fields, &buf);
	MemoryContextSwitchTo(caller);
	if (ok)
		appendBinaryStringInfo(out, buf.data, buf.len);
	MemoryContextDelete(scratch);
	return ok;
}

bool
rtsync_introspect(RtsyncPlanState *ps, const RtsyncGqlSelection *field, StringInfo out)
{
	return rtsync_introspect_fields(ps, list_make1((void *) field), out);
}
