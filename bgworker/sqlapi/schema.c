/*-------------------------------------------------------------------------
 *
 * sqlapi/schema.c
 *	  SQL functions over the type catalogue: rtsync.schema_sdl(), the
 *	  generated schema as SDL, and the test hook
 *	  rtsync._graphql_introspect(document, variables), which runs a query
 *	  made of introspection fields and __typename as the query executor
 *	  will (validate, coerce the variables, then rtsync_introspect), so that
 *	  pg_regress and the end-to-end tests can exercise introspection
 *	  without the HTTP endpoint.
 *
 * Both build the schema from rtsync._schema_description() of the current
 * database through SPI (the worker runs the same query over libpq). The
 * hook validates the operation's own parts as the query planner does
 * (variable definitions through graphql/validate.c, the root selection
 * set, fragments on Query); it returns json, not jsonb, so that fields keep
 * their selection order.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "graphql/parser.h"
#include "graphql/introspection.h"
#include "graphql/operation.h"
#include "graphql/schema_sdl.h"
#include "graphql/schema_types.h"
#include "sqlapi/schema.h"

PG_FUNCTION_INFO_V1(rtsync_schema_sdl);
PG_FUNCTION_INFO_V1(rtsync_graphql_introspect);

/* The fields of one response key of the root selection set. */
typedef struct RootField
{
	const char *key;
	List	   *fields;			/* RtsyncGqlSelection * */
} RootField;

/*
 * The schema of the current database's published tables, for SQL functions
 * (the worker reads the same description over libpq).
 */
RtsyncSchema *
rtsync_schema_load_spi(void)
{
	MemoryContext cxt = CurrentMemoryContext;
	char	   *json;
	char	   *error = NULL;
	RtsyncSchema *schema;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute("SELECT rtsync._schema_description()::text", true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not read rtsync._schema_description()");
	json = MemoryContextStrdup(cxt, SPI_getvalue(SPI_tuptable->vals[0],
												 SPI_tuptable->tupdesc, 1));
	SPI_finish();
	schema = rtsync_schema_from_json(json, &error);
	if (schema == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("could not build the GraphQL schema"),
				 errdetail("%s", error)));
	return schema;
}

/* rtsync.schema_sdl() returns the SDL of the current database's schema. */
Datum
rtsync_schema_sdl(PG_FUNCTION_ARGS)
{
	RtsyncSchema *schema = rtsync_schema_load_spi();
	StringInfoData out;

	initStringInfo(&out);
	rtsync_schema_print_sdl(schema, &out);
	rtsync_schema_free(schema);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out.data, out.len));
}

/* ------------------------------------------------------------------------
 * rtsync._graphql_introspect
 * ------------------------------------------------------------------------
 */

/*
 * A type condition in the root selection set: true when it is Query; else
 * an error (unless the fragment's own check reports it) and false.
 */
static bool
root_condition(RtsyncPlanState *ps, RtsyncTypeCatalogue *cat, const char *fragment,
			   const char *condition, RtsyncGqlLocation loc)
{
	RtsyncTypeDef *type = rtsync_types_find(cat, condition);

	if (type == cat->query)
		return true;
	if (type != NULL && type->kind == RTSYNC_DEF_OBJECT)
		rtsync_gql_error(&ps->sink, loc,
						 "%s cannot be spread here as objects of type \"Query\" can never be of type \"%s\".",
						 fragment ? psprintf("Fragment \"%s\"", fragment) : "Fragment",
						 condition);
	else if (fragment == NULL)
		rtsync_gql_error(&ps->sink, loc, type ? "Fragment cannot condition on non composite type \"%s\"." :
						 "Unknown type \"%s\".", condition);
	return false;
}

/* The root selection set, statically: what the query validator checks. */
static void
validate_root(RtsyncPlanState *ps, RtsyncTypeCatalogue *cat, List *selections,
			  List **visited)
{
	ListCell   *lc;

	foreach(lc, selections)
	{
		RtsyncGqlSelection *sel = lfirst(lc);
		RtsyncGqlFragment *fragment;

		if (sel->kind == RTSYNC_GQL_FIELD && rtsync_introspection_field(sel->name))
			rtsync_introspection_validate(ps, sel);
		else if (sel->kind == RTSYNC_GQL_FIELD && strcmp(sel->name, "__typename") == 0)
		{
			if (sel->arguments != NIL)
				rtsync_gql_error(&ps->sink, sel->loc,
								 "Unknown argument \"%s\" on field \"Query.__typename\".",
								 ((RtsyncGqlArgument *) linitial(sel->arguments))->name);
			if (sel->selections != NIL)
				rtsync_gql_error(&ps->sink, sel->loc,
								 "Field \"__typename\" must not have a selection since type \"String!\" has no subfields.");
		}
		else if (sel->kind == RTSYNC_GQL_FIELD)
			rtsync_gql_error(&ps->sink, sel->loc, rtsync_types_field(cat->query, sel->name) ?
							 "rtsync._graphql_introspect only resolves introspection fields and __typename, not \"%s\"." :
							 "Cannot query field \"%s\" on type \"Query\".", sel->name);
		else if (sel->kind == RTSYNC_GQL_INLINE_FRAGMENT)
		{
			if (sel->type_condition == NULL ||
				root_condition(ps, cat, NULL, sel->type_condition, sel->loc))
				validate_root(ps, cat, sel->selections, visited);
		}
		else if ((fragment = rtsync_find_fragment(ps->doc, sel->name)) != NULL &&
				 root_condition(ps, cat, fragment->name, fragment->type_condition, sel->loc) &&
				 !list_member_ptr(*visited, fragment))
		{
			*visited = lappend(*visited, fragment);
			validate_root(ps, cat, fragment->selections, visited);
		}
	}
}

/* The root fields by response key, through fragments, after @skip/@include. */
static void
collect_root(RtsyncPlanState *ps, List *selections, List **collected, List **visited)
{
	ListCell   *lc;

	foreach(lc, selections)
	{
		RtsyncGqlSelection *sel = lfirst(lc);
		RtsyncGqlFragment *fragment;
		RootField  *entry = NULL;
		ListCell   *le;

		if (!rtsync_directives_include(ps, sel->directives))
			continue;
		if (sel->kind == RTSYNC_GQL_INLINE_FRAGMENT)
			collect_root(ps, sel->selections, collected, visited);
		else if (sel->kind == RTSYNC_GQL_FRAGMENT_SPREAD)
		{
			fragment = rtsync_find_fragment(ps->doc, sel->name);
			if (!list_member_ptr(*visited, fragment))
			{
				*visited = lappend(*visited, fragment);
				collect_root(ps, fragment->selections, collected, visited);
			}
		}
		else
		{
			const char *key = sel->alias ? sel->alias : sel->name;

			foreach(le, *collected)
				if (strcmp(((RootField *) lfirst(le))->key, key) == 0)
					entry = lfirst(le);
			if (entry == NULL)
			{
				entry = palloc0(sizeof(RootField));
				entry->key = key;
				*collected = lappend(*collected, entry);
			}
			entry->fields = lappend(entry->fields, sel);
		}
	}
}

/* Validation, as the query validator does it; false on errors. */
static bool
validate_operation(RtsyncPlanState *ps, RtsyncTypeCatalogue *cat)
{
	List	   *visited = NIL;
	ListCell   *lc;

	rtsync_validate_variables(ps);
	rtsync_validate_directives(ps, ps->op->directives, "QUERY");
	validate_root(ps, cat, ps->op->selections, &visited);
	foreach(lc, ps->doc->fragments)
	{
		RtsyncGqlFragment *f = lfirst(lc);
		RtsyncTypeDef *type = rtsync_types_find(cat, f->type_condition);

		if (type == NULL)
			rtsync_gql_error(&ps->sink, f->loc, "Unknown type \"%s\".", f->type_condition);
		else if (type->kind != RTSYNC_DEF_OBJECT)
			rtsync_gql_error(&ps->sink, f->loc,
							 "Fragment \"%s\" cannot condition on non composite type \"%s\".",
							 f->name, f->type_condition);
	}
	rtsync_validate_unused_variables(ps);
	return ps->sink.count == 0;
}

/* Parse, validate, coerce the variables, execute: the data object, or false. */
static bool
run_query(RtsyncPlanState *ps, const char *document, size_t len, const char *variables,
		  StringInfo out)
{
	RtsyncTypeCatalogue *cat = rtsync_types_build(ps->schema);
	RtsyncGqlError error = {NULL, {0, 0}};
	List	   *collected = NIL;
	List	   *visited = NIL;
	ListCell   *lc;

	ps->doc = rtsync_gql_parse(document, len, &error);
	if (ps->doc == NULL)
	{
		rtsync_gql_error(&ps->sink, error.loc, "%s", error.message);
		return false;
	}
	rtsync_validate_document(ps);
	if ((ps->op = rtsync_select_operation(ps, NULL)) == NULL)
		return false;
	if (ps->op->type != RTSYNC_GQL_QUERY)
	{
		rtsync_gql_error(&ps->sink, ps->op->loc,
						 "rtsync._graphql_introspect only runs queries.");
		return false;
	}
	ps->input.operation_name = ps->op->name;
	if (!validate_operation(ps, cat) ||
		!rtsync_input_coerce_variables(&ps->input, variables))
		return false;
	ps->input.substitute = true;

	collect_root(ps, ps->op->selections, &collected, &visited);
	appendStringInfoString(out, "{\"data\":{");
	foreach(lc, collected)
	{
		RootField  *entry = lfirst(lc);
		const char *name = ((RtsyncGqlSelection *) linitial(entry->fields))->name;

		if (lc != list_head(collected))
			appendStringInfoChar(out, ',');
		rtsync_json_append_string(out, entry->key, strlen(entry->key));
		appendStringInfoChar(out, ':');
		if (strcmp(name, "__typename") == 0)
			appendStringInfoString(out, "\"Query\"");
		else if (!rtsync_introspect_fields(ps, entry->fields, out))
			return false;
	}
	appendStringInfoString(out, "}}");
	return true;
}

/* {"errors":[{"message":..., "locations":[{"line":..,"column":..}]}]} */
static void
append_errors(StringInfo out, List *errors)
{
	ListCell   *lc;

	appendStringInfoString(out, "{\"errors\":[");
	foreach(lc, errors)
	{
		RtsyncGqlError *e = lfirst(lc);

		if (lc != list_head(errors))
			appendStringInfoChar(out, ',');
		appendStringInfoString(out, "{\"message\":");
		rtsync_json_append_string(out, e->message, strlen(e->message));
		if (e->loc.line > 0)
			appendStringInfo(out, ",\"locations\":[{\"line\":%d,\"column\":%d}]",
							 e->loc.line, e->loc.column);
		appendStringInfoChar(out, '}');
	}
	appendStringInfoString(out, "]}");
}

/*
 * rtsync._graphql_introspect(document text, variables jsonb) returns
 * {"data": {...}} for a query whose root fields are __schema, __type and
 * __typename, or {"errors": [...]}.
 */
Datum
rtsync_graphql_introspect(PG_FUNCTION_ARGS)
{
	text	   *document;
	char	   *variables = NULL;
	RtsyncPlanState ps;
	List	   *errors = NIL;
	StringInfoData out;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	document = PG_GETARG_TEXT_PP(0);
	if (!PG_ARGISNULL(1))
	{
		Jsonb	   *jb = PG_GETARG_JSONB_P(1);

		variables = JsonbToCString(NULL, &jb->root, VARSIZE(jb));
	}
	memset(&ps, 0, sizeof(ps));
	ps.schema = rtsync_schema_load_spi();
	ps.sink.errors = &errors;
	ps.sink.cxt = CurrentMemoryContext;
	ps.input.schema = ps.schema;
	ps.input.sink = &ps.sink;

	initStringInfo(&out);
	if (!run_query(&ps, VARDATA_ANY(document), VARSIZE_ANY_EXHDR(document), variables,
				   &out) || ps.sink.count > 0)
	{
		resetStringInfo(&out);
		append_errors(&out, errors);
	}
	rtsync_schema_free(ps.schema);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out.data, out.len));
}

/*
 * rtsync._type_name_check(type_name text) RETURNS text[]: for publish(),
 * whether the generated schema can have a type of this name (NULL when it
 * can, else why not), and the name of its list field's plural, so that two
 * tables cannot both be listTs.
 */
PG_FUNCTION_INFO_V1(rtsync_type_name_check);
Datum
rtsync_type_name_check(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Datum		elems[2];
	bool		nulls[2] = {false, false};
	int			dims[1] = {2};
	int			lbs[1] = {1};

	if (rtsync_type_name_reserved(name))
		elems[0] = CStringGetTextDatum("the GraphQL schema uses this name itself");
	else
		nulls[0] = true;
	elems[1] = CStringGetTextDatum(rtsync_plural_name(name));
	PG_RETURN_ARRAYTYPE_P(construct_md_array(elems, nulls, 1, dims, lbs, TEXTOID,
											 -1, false, TYPALIGN_INT));
}
