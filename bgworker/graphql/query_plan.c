/*-------------------------------------------------------------------------
 *
 * graphql/query_plan.c
 *	  Queries and mutations: validation against the generated schema and
 *	  planning into SQL statements (graphql/query_sql.c) and projections.
 *
 * Two passes over the operation, as for subscriptions: the first validates
 * with variables as declared (types and usage), then the request's
 * variables are coerced, and the second pass, with values substituted,
 * builds the plan. Root fields map one to one onto statements, so a query
 * with three root fields is three statements in one transaction.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/memutils.h"

#include "extension/value_encode.h"
#include "graphql/parser.h"
#include "graphql/introspection.h"
#include "graphql/introspection_validate.h"
#include "graphql/page_token.h"
#include "graphql/query_plan.h"
#include "graphql/query_sql.h"
#include "graphql/operation.h"

/* Amplify's default page size; larger limits are capped here */
#define DEFAULT_LIMIT 100
#define MAX_LIMIT 1000

/*
 * The response keys of one object, connection or the root as they are
 * planned: in order, each once, found again through a map (an object may
 * have thousands of aliases); and the fragments spread into it so far.
 * Like graphql-js's collectFields, a selection set takes each fragment
 * once however often it is spread, which is what keeps nested doubling
 * spreads from doubling the work; rtsync.max_query_nodes bounds what is
 * left (rtsync_check_document_limits).
 */
typedef struct KeySet
{
	List	   *items;			/* RtsyncProjField * or RtsyncConnField * */
	RtsyncNameMap *keys;		/* response key -> its item */
	bool	   *spread;			/* by fragment index; NULL until one is */
	int			nfragments;
} KeySet;

typedef struct Planner
{
	RtsyncPlanState *ps;
	bool		build;			/* second pass: values known, build the plan */
	RtsyncRequestPlan *plan;
	List	   *statements;		/* RtsyncStatement * */
	KeySet		root;			/* the root's response keys */
} Planner;

typedef struct ArgDef
{
	const char *name;
	RtsyncInputType *type;
	int			column;			/* or -1 */
} ArgDef;

/*
 * "key": as JSON. Kept at its size: a plan holds one per projected field,
 * and a StringInfo's initial kilobyte each would be most of the plan.
 */
static char *
json_key_prefix(const char *key)
{
	StringInfoData buf;
	char	   *result;

	initStringInfo(&buf);
	rtsync_json_append_string(&buf, key, strlen(key));
	appendStringInfoChar(&buf, ':');
	result = pnstrdup(buf.data, buf.len);
	pfree(buf.data);
	return result;
}

static char *
json_string(const char *s)
{
	StringInfoData buf;
	char	   *result;

	initStringInfo(&buf);
	rtsync_json_append_string(&buf, s, strlen(s));
	result = pnstrdup(buf.data, buf.len);
	pfree(buf.data);
	return result;
}

static void
keyset_init(Planner *p, KeySet *set)
{
	set->items = NIL;
	set->keys = rtsync_name_map_create(16);
	set->spread = NULL;
	set->nfragments = list_length(p->ps->doc->fragments);
}

/* Adds key, with its item; false (and nothing added) if it is there already. */
static bool
keyset_add(KeySet *set, const char *key, void *item)
{
	bool		found;
	void	  **slot = rtsync_name_map_enter(set->keys, key, &found);

	if (found)
		return false;
	*slot = item;
	set->items = lappend(set->items, item);
	return true;
}

/* Is this the fragment's first spread into the set? */
static bool
keyset_first_spread(KeySet *set, const RtsyncGqlFragment *fragment)
{
	if (set->spread == NULL)
		set->spread = palloc0(set->nfragments * sizeof(bool));
	if (set->spread[fragment->index])
		return false;
	set->spread[fragment->index] = true;
	return true;
}

static bool
include(Planner *p, List *directives, const char *where)
{
	if (!p->build)
	{
		rtsync_validate_directives(p->ps, directives, where);
		return true;			/* validate every branch */
	}
	return rtsync_directives_include(p->ps, directives);
}

/*
 * Coerces a field's arguments to their definitions; values[i] is NULL for
 * an argument not given. Reports unknown, duplicate and missing ones.
 */
static bool
coerce_args(Planner *p, const RtsyncGqlSelection *field, const char *parent,
			const ArgDef *defs, int ndefs, RtsyncInputValue **values)
{
	RtsyncPlanState *ps = p->ps;
	bool		ok = true;
	bool	   *dups = rtsync_duplicate_names(field->arguments,
											  offsetof(RtsyncGqlArgument, name));
	bool	   *given = palloc0(Max(ndefs, 1) * sizeof(bool));
	ListCell   *lc;

	for (int i = 0; i < ndefs; i++)
		values[i] = NULL;
	foreach(lc, field->arguments)
	{
		RtsyncGqlArgument *arg = lfirst(lc);
		int			i;

		for (i = 0; i < ndefs && strcmp(defs[i].name, arg->name) != 0; i++)
			;
		if (i < ndefs)
			given[i] = true;
		if (dups && dups[foreach_current_index(lc)])
		{
			rtsync_gql_error(&ps->sink, arg->loc,
							 "There can be only one argument named \"%s\".", arg->name);
			ok = false;
			continue;
		}
		if (i == ndefs)
		{
			rtsync_gql_error(&ps->sink, arg->loc, "Unknown argument \"%s\" on field \"%s.%s\".",
							 arg->name, parent, field->name);
			ok = false;
			continue;
		}
		if (!rtsync_input_coerce_literal(&ps->input, arg->value, defs[i].type, &values[i]))
			ok = false;
	}
	for (int i = 0; i < ndefs; i++)
	{
		if (!defs[i].type->non_null)
			continue;
		if (!given[i])
		{
			rtsync_gql_error(&ps->sink, field->loc,
							 "Field \"%s\" argument \"%s\" of type \"%s\" is required, but it was not provided.",
							 field->name, defs[i].name, rtsync_input_type_string(defs[i].type));
			ok = false;
		}
	}
	return ok;
}

static bool
condition_ok(Planner *p, const char *condition, const char *type_name,
			 const char *fragment, RtsyncGqlLocation loc)
{
	if (condition == NULL || strcmp(condition, type_name) == 0)
		return true;
	if (!p->build)
	{
		if (fragment)
			rtsync_gql_error(&p->ps->sink, loc,
							 "Fragment \"%s\" cannot be spread here as objects of type \"%s\" can never be of type \"%s\".",
							 fragment, type_name, condition);
		else
			rtsync_gql_error(&p->ps->sink, loc,
							 "Fragment cannot be spread here as objects of type \"%s\" can never be of type \"%s\".",
							 type_name, condition);
	}
	return false;
}

/* ------------------------------------------------------------------------
 * Objects of a table's type
 * ------------------------------------------------------------------------
 */

/* The same response key twice is the same field (validated): once. */
static void
add_proj_field(KeySet *fields, const char *key, int column)
{
	RtsyncProjField *f;

	if (rtsync_name_map_get(fields->keys, key) != NULL)
		return;
	f = palloc(sizeof(RtsyncProjField));
	f->prefix = json_key_prefix(key);
	f->column = column;
	(void) keyset_add(fields, key, f);
}

static void
plan_object(Planner *p, List *selections, RtsyncSchemaTable *table,
			RtsyncSqlBuilder *b, KeySet *fields)
{
	RtsyncPlanState *ps = p->ps;
	ListCell   *lc;

	foreach(lc, selections)
	{
		RtsyncGqlSelection *sel = lfirst(lc);
		RtsyncGqlFragment *frag;
		int			column = -1;

		switch (sel->kind)
		{
			case RTSYNC_GQL_FIELD:
				if (!include(p, sel->directives, "FIELD"))
					continue;
				if (strcmp(sel->name, "__typename") != 0)
				{
					for (column = 0; column < table->ncolumns; column++)
						if (strcmp(table->columns[column].name, sel->name) == 0)
							break;
					if (column == table->ncolumns)
					{
						if (!p->build)
							rtsync_gql_error(&ps->sink, sel->loc,
											 "Cannot query field \"%s\" on type \"%s\".",
											 sel->name, table->type_name);
						continue;
					}
				}
				if (!p->build)
				{
					if (sel->arguments != NIL)
						rtsync_gql_error(&ps->sink, ((RtsyncGqlArgument *) linitial(sel->arguments))->loc,
										 "Unknown argument \"%s\" on field \"%s.%s\".",
										 ((RtsyncGqlArgument *) linitial(sel->arguments))->name,
										 table->type_name, sel->name);
					if (sel->selections != NIL)
						rtsync_gql_error(&ps->sink, sel->loc,
										 "Field \"%s\" must not have a selection since type \"%s\" has no subfields.",
										 sel->name, column < 0 ? "String!" :
										 rtsync_scalar_name(table->columns[column].scalar));
					continue;
				}
				if (rtsync_name_map_get(fields->keys, sel->alias ? sel->alias : sel->name) == NULL)
					add_proj_field(fields, sel->alias ? sel->alias : sel->name,
								   column < 0 ? -1 : rtsync_sql_output(b, column));
				break;
			case RTSYNC_GQL_FRAGMENT_SPREAD:
				frag = rtsync_find_fragment(ps->doc, sel->name);
				if (frag == NULL || !include(p, sel->directives, "FRAGMENT_SPREAD") ||
					!condition_ok(p, frag->type_condition, table->type_name, frag->name, sel->loc) ||
					!keyset_first_spread(fields, frag))
					continue;
				plan_object(p, frag->selections, table, b, fields);
				break;
			case RTSYNC_GQL_INLINE_FRAGMENT:
				if (!include(p, sel->directives, "INLINE_FRAGMENT") ||
					!condition_ok(p, sel->type_condition, table->type_name, NULL, sel->loc))
					continue;
				plan_object(p, sel->selections, table, b, fields);
				break;
		}
	}
}

static RtsyncProjection *
make_projection(List *fields, RtsyncSchemaTable *table)
{
	RtsyncProjection *proj = palloc0(sizeof(RtsyncProjection));
	int			i = 0;
	ListCell   *lc;

	proj->nfields = list_length(fields);
	proj->fields = palloc0(Max(proj->nfields, 1) * sizeof(RtsyncProjField));
	foreach(lc, fields)
		proj->fields[i++] = *(RtsyncProjField *) lfirst(lc);
	proj->typename_json = json_string(table->type_name);
	return proj;
}

/* A root field whose type is the table's object type. */
static RtsyncProjection *
plan_object_root(Planner *p, RtsyncGqlSelection *field, RtsyncSchemaTable *table,
				 RtsyncSqlBuilder *b)
{
	KeySet		fields;

	if (field->selections == NIL)
	{
		if (!p->build)
			rtsync_gql_error(&p->ps->sink, field->loc,
							 "Field \"%s\" of type \"%s\" must have a selection of subfields. Did you mean \"%s { ... }\"?",
							 field->name, table->type_name, field->name);
		return NULL;
	}
	keyset_init(p, &fields);
	plan_object(p, field->selections, table, b, &fields);
	return p->build ? make_projection(fields.items, table) : NULL;
}

/* The selections on a ModelTConnection. */
static void
plan_connection(Planner *p, List *selections, RtsyncSchemaTable *table,
				RtsyncSqlBuilder *b, KeySet *conn_fields, KeySet *item_fields)
{
	RtsyncPlanState *ps = p->ps;
	char	   *conn_type = psprintf("Model%sConnection", table->type_name);
	ListCell   *lc;

	foreach(lc, selections)
	{
		RtsyncGqlSelection *sel = lfirst(lc);
		RtsyncGqlFragment *frag;
		RtsyncConnField *cf;

		switch (sel->kind)
		{
			case RTSYNC_GQL_FIELD:
				if (!include(p, sel->directives, "FIELD"))
					continue;
				cf = palloc0(sizeof(RtsyncConnField));
				if (strcmp(sel->name, "items") == 0)
				{
					cf->kind = RTSYNC_CONN_ITEMS;
					if (sel->selections == NIL && !p->build)
						rtsync_gql_error(&ps->sink, sel->loc,
										 "Field \"items\" of type \"[%s]!\" must have a selection of subfields. Did you mean \"items { ... }\"?",
										 table->type_name);
					plan_object(p, sel->selections, table, b, item_fields);
				}
				else if (strcmp(sel->name, "nextToken") == 0)
					cf->kind = RTSYNC_CONN_NEXT_TOKEN;
				else if (strcmp(sel->name, "__typename") == 0)
					cf->kind = RTSYNC_CONN_TYPENAME;
				else
				{
					if (!p->build)
						rtsync_gql_error(&ps->sink, sel->loc,
										 "Cannot query field \"%s\" on type \"%s\".",
										 sel->name, conn_type);
					continue;
				}
				if (!p->build && sel->arguments != NIL)
					rtsync_gql_error(&ps->sink, sel->loc, "Unknown argument \"%s\" on field \"%s.%s\".",
									 ((RtsyncGqlArgument *) linitial(sel->arguments))->name,
									 conn_type, sel->name);
				if (!p->build && cf->kind != RTSYNC_CONN_ITEMS && sel->selections != NIL)
					rtsync_gql_error(&ps->sink, sel->loc,
									 "Field \"%s\" must not have a selection since type \"String\" has no subfields.",
									 sel->name);
				if (p->build &&
					rtsync_name_map_get(conn_fields->keys, sel->alias ? sel->alias : sel->name) == NULL)
				{
					cf->prefix = json_key_prefix(sel->alias ? sel->alias : sel->name);
					(void) keyset_add(conn_fields, sel->alias ? sel->alias : sel->name, cf);
				}
				break;
			case RTSYNC_GQL_FRAGMENT_SPREAD:
				frag = rtsync_find_fragment(ps->doc, sel->name);
				if (frag == NULL || !include(p, sel->directives, "FRAGMENT_SPREAD") ||
					!condition_ok(p, frag->type_condition, conn_type, frag->name, sel->loc) ||
					!keyset_first_spread(conn_fields, frag))
					continue;
				plan_connection(p, frag->selections, table, b, conn_fields, item_fields);
				break;
			case RTSYNC_GQL_INLINE_FRAGMENT:
				if (!include(p, sel->directives, "INLINE_FRAGMENT") ||
					!condition_ok(p, sel->type_condition, conn_type, NULL, sel->loc))
					continue;
				plan_connection(p, sel->selections, table, b, conn_fields, item_fields);
				break;
		}
	}
}

/* ------------------------------------------------------------------------
 * Root fields
 * ------------------------------------------------------------------------
 */

static RtsyncRootPlan *
new_root(Planner *p, RtsyncGqlSelection *field, RtsyncRootKind kind,
		 RtsyncSchemaTable *table)
{
	RtsyncRootPlan *root = palloc0(sizeof(RtsyncRootPlan));

	root->kind = kind;
	root->response_key = pstrdup(field->alias ? field->alias : field->name);
	root->prefix = json_key_prefix(root->response_key);
	root->loc = field->loc;
	root->field_name = pstrdup(field->name);
	root->type_name = table ? pstrdup(table->type_name) : NULL;
	root->statement = -1;
	return root;
}

static void
add_statement(Planner *p, RtsyncRootPlan *root, RtsyncSqlBuilder *b, char *sql)
{
	RtsyncStatement *st = palloc0(sizeof(RtsyncStatement));
	char	  **params = palloc0(Max(list_length(b->params), 1) * sizeof(char *));
	int			i = 0;
	ListCell   *lc;

	foreach(lc, b->params)
		params[i++] = lfirst(lc);
	st->sql = sql;
	st->nparams = list_length(b->params);
	st->params = (const char *const *) params;
	root->statement = list_length(p->statements);
	p->statements = lappend(p->statements, st);
}

/* The table of a root field named prefix + type (or plural) name. */
static RtsyncSchemaTable *
root_table(RtsyncSchema *schema, const char *name, const char *prefix, bool plural)
{
	size_t		plen = strlen(prefix);
	ListCell   *lc;

	if (strncmp(name, prefix, plen) != 0)
		return NULL;
	foreach(lc, schema->tables)
	{
		RtsyncSchemaTable *t = lfirst(lc);

		if (strcmp(name + plen, plural ? t->plural_name : t->type_name) == 0)
			return t;
	}
	return NULL;
}

static void
plan_get(Planner *p, RtsyncGqlSelection *field, RtsyncSchemaTable *table)
{
	ArgDef	   *defs = palloc0(Max(table->nkeys, 1) * sizeof(ArgDef));
	RtsyncInputValue **values = palloc0(Max(table->nkeys, 1) * sizeof(RtsyncInputValue *));
	RtsyncSqlBuilder b;
	RtsyncProjection *proj;
	List	   *keys = NIL;
	int			n = 0;
	bool		ok;

	for (int i = 0; i < table->ncolumns; i++)
	{
		if (!table->columns[i].is_key)
			continue;
		defs[n].name = table->columns[i].name;
		defs[n].type = rtsync_input_scalar_type(table->columns[i].scalar, true);
		defs[n].column = i;
		n++;
	}
	ok = coerce_args(p, field, "Query", defs, n, values);
	rtsync_sql_begin(&b, table, &p->ps->sink);
	proj = plan_object_root(p, field, table, &b);
	if (!p->build || !ok)
		return;
	for (int i = 0; i < n; i++)
	{
		RtsyncInputField *f = palloc0(sizeof(RtsyncInputField));

		f->index = defs[i].column;
		f->value = values[i];
		keys = lappend(keys, f);
	}
	{
		RtsyncRootPlan *root = new_root(p, field, RTSYNC_ROOT_GET, table);

		root->object = proj;
		add_statement(p, root, &b, rtsync_sql_get(&b, keys));
		p->plan->roots = lappend(p->plan->roots, root);
	}
}

static void
plan_list(Planner *p, RtsyncGqlSelection *field, RtsyncSchemaTable *table)
{
	ArgDef		defs[3] = {
		{"filter", rtsync_input_model_filter_type(table), -1},
		{"limit", rtsync_input_scalar_type(RTSYNC_SCALAR_INT, false), -1},
		{"nextToken", rtsync_input_scalar_type(RTSYNC_SCALAR_STRING, false), -1}
	};
	RtsyncInputValue *values[3];
	RtsyncSqlBuilder b;
	KeySet		conn_fields;
	KeySet		item_fields;
	RtsyncRootPlan *root;
	char	  **after = NULL;
	int			limit = DEFAULT_LIMIT;
	bool		ok = coerce_args(p, field, "Query", defs, 3, values);

	rtsync_sql_begin(&b, table, &p->ps->sink);
	if (field->selections == NIL)
	{
		if (!p->build)
			rtsync_gql_error(&p->ps->sink, field->loc,
							 "Field \"%s\" of type \"Model%sConnection\" must have a selection of subfields. Did you mean \"%s { ... }\"?",
							 field->name, table->type_name, field->name);
		return;
	}
	keyset_init(p, &conn_fields);
	keyset_init(p, &item_fields);
	plan_connection(p, field->selections, table, &b, &conn_fields, &item_fields);
	if (!p->build || !ok)
		return;
	if (values[1] && values[1]->kind == RTSYNC_VALUE_NUMBER)
	{
		int64		l = DatumGetInt64(DirectFunctionCall1(numeric_int8,
														  NumericGetDatum(values[1]->num)));

		if (l < 1)
		{
			rtsync_gql_error(&p->ps->sink, values[1]->loc,
							 "limit must be at least 1.");
			return;
		}
		limit = (int) Min(l, MAX_LIMIT);
	}
	if (values[2] && values[2]->kind == RTSYNC_VALUE_STRING)
	{
		after = rtsync_page_token_decode(values[2]->str, table->nkeys);
		if (after == NULL)
		{
			rtsync_gql_error(&p->ps->sink, values[2]->loc,
							 "Invalid nextToken: pass the nextToken of a previous %s result unchanged.",
							 field->name);
			return;
		}
	}
	root = new_root(p, field, RTSYNC_ROOT_LIST, table);
	root->conn_fields = conn_fields.items;
	root->limit = limit;
	{
		RtsyncProjection *items = NULL;
		ListCell   *lc;

		/* every alias of items shares one projection */
		foreach(lc, conn_fields.items)
		{
			RtsyncConnField *cf = lfirst(lc);

			if (cf->kind == RTSYNC_CONN_ITEMS)
			{
				if (items == NULL)
					items = make_projection(item_fields.items, table);
				cf->items = items;
			}
		}
	}
	/* the key's text after the projected columns, for nextToken */
	root->key_first = -1;
	for (int i = 0; i < table->ncolumns; i++)
	{
		if (!table->columns[i].is_key)
			continue;
		if (root->key_first < 0)
			root->key_first = rtsync_sql_output_text(&b, i);
		else
			(void) rtsync_sql_output_text(&b, i);
		root->nkeys++;
	}
	add_statement(p, root, &b, rtsync_sql_list(&b, values[0], after, limit));
	p->plan->roots = lappend(p->plan->roots, root);
}

static void
plan_mutation(Planner *p, RtsyncGqlSelection *field, RtsyncSchemaTable *table,
			  RtsyncMutationKind kind)
{
	ArgDef		def = {"input", rtsync_input_mutation_type(table, kind, true), -1};
	RtsyncInputValue *input;
	RtsyncSqlBuilder b;
	RtsyncProjection *proj;
	RtsyncRootPlan *root;
	bool		ok = coerce_args(p, field, "Mutation", &def, 1, &input);
	static const RtsyncRootKind kinds[] = {RTSYNC_ROOT_CREATE, RTSYNC_ROOT_UPDATE, RTSYNC_ROOT_DELETE};

	rtsync_sql_begin(&b, table, &p->ps->sink);
	proj = plan_object_root(p, field, table, &b);
	if (!p->build || !ok || input == NULL || input->kind != RTSYNC_VALUE_OBJECT)
		return;
	root = new_root(p, field, kinds[kind], table);
	root->object = proj;
	if (table->version_column >= 0)
		root->version_name = pstrdup(table->columns[table->version_column].name);
	add_statement(p, root, &b,
				  kind == RTSYNC_MUTATION_CREATE ? rtsync_sql_create(&b, input) :
				  kind == RTSYNC_MUTATION_UPDATE ? rtsync_sql_update(&b, input) :
				  rtsync_sql_delete(&b, input));
	p->plan->roots = lappend(p->plan->roots, root);
}

static void
plan_root_field(Planner *p, RtsyncGqlSelection *field, bool mutation)
{
	RtsyncPlanState *ps = p->ps;
	RtsyncSchema *schema = ps->schema;
	const char *root_type = mutation ? "Mutation" : "Query";
	const char *key = field->alias ? field->alias : field->name;
	RtsyncSchemaTable *table;

	if (p->build && !keyset_add(&p->root, key, (void *) key))
	{
		rtsync_gql_error(&ps->sink, field->loc,
						 "Fields \"%s\" conflict: give each root field its own alias.", key);
		return;
	}

	if (strcmp(field->name, "__typename") == 0)
	{
		if (p->build)
		{
			RtsyncRootPlan *root = new_root(p, field, RTSYNC_ROOT_VALUE, NULL);

			root->value_json = json_string(root_type);
			p->plan->roots = lappend(p->plan->roots, root);
		}
		return;
	}
	if (!mutation && rtsync_introspection_field(field->name))
	{
		StringInfoData value;

		if (!p->build)
		{
			rtsync_introspection_validate(ps, field);
			return;
		}
		initStringInfo(&value);
		if (rtsync_introspect(ps, field, &value))
		{
			RtsyncRootPlan *root = new_root(p, field, RTSYNC_ROOT_VALUE, NULL);

			root->value_json = value.data;
			p->plan->roots = lappend(p->plan->roots, root);
		}
		return;
	}
	if (!mutation && schema->tables == NIL && strcmp(field->name, "_empty") == 0)
	{
		/* the placeholder field of a schema without tables: always null */
		if (p->build)
		{
			RtsyncRootPlan *root = new_root(p, field, RTSYNC_ROOT_VALUE, NULL);

			root->value_json = "null";
			p->plan->roots = lappend(p->plan->roots, root);
		}
		return;
	}
	if (!mutation)
	{
		if ((table = root_table(schema, field->name, "get", false)) != NULL && table->key_usable)
			return plan_get(p, field, table);
		if ((table = root_table(schema, field->name, "list", true)) != NULL)
			return plan_list(p, field, table);
	}
	else
	{
		if ((table = root_table(schema, field->name, "create", false)) != NULL)
			return plan_mutation(p, field, table, RTSYNC_MUTATION_CREATE);
		if ((table = root_table(schema, field->name, "update", false)) != NULL && table->key_usable)
			return plan_mutation(p, field, table, RTSYNC_MUTATION_UPDATE);
		if ((table = root_table(schema, field->name, "delete", false)) != NULL && table->key_usable)
			return plan_mutation(p, field, table, RTSYNC_MUTATION_DELETE);
	}
	if (!p->build)
		rtsync_gql_error(&ps->sink, field->loc, "Cannot query field \"%s\" on type \"%s\".",
						 field->name, root_type);
}

static void
plan_root_selections(Planner *p, List *selections, bool mutation)
{
	const char *root_type = mutation ? "Mutation" : "Query";
	ListCell   *lc;

	foreach(lc, selections)
	{
		RtsyncGqlSelection *sel = lfirst(lc);
		RtsyncGqlFragment *frag;

		switch (sel->kind)
		{
			case RTSYNC_GQL_FIELD:
				if (include(p, sel->directives, "FIELD"))
					plan_root_field(p, sel, mutation);
				break;
			case RTSYNC_GQL_FRAGMENT_SPREAD:
				frag = rtsync_find_fragment(p->ps->doc, sel->name);
				if (frag != NULL && include(p, sel->directives, "FRAGMENT_SPREAD") &&
					condition_ok(p, frag->type_condition, root_type, frag->name, sel->loc) &&
					keyset_first_spread(&p->root, frag))
					plan_root_selections(p, frag->selections, mutation);
				break;
			case RTSYNC_GQL_INLINE_FRAGMENT:
				if (include(p, sel->directives, "INLINE_FRAGMENT") &&
					condition_ok(p, sel->type_condition, root_type, NULL, sel->loc))
					plan_root_selections(p, sel->selections, mutation);
				break;
		}
	}
}

/* How a request may be planned (rtsync_plan_request's arguments). */
typedef struct RequestOptions
{
	bool		allow_mutation;
	bool	   *is_subscription;
} RequestOptions;

static void *
plan_operation(RtsyncPlanState *ps, const RtsyncGqlRequest *req,
			   MemoryContext plan_cxt, void *arg)
{
	RequestOptions *options = arg;
	Planner		p;
	bool		mutation;
	ListCell   *lc;
	int			i = 0;

	if (ps->op->type == RTSYNC_GQL_SUBSCRIPTION)
	{
		if (options->is_subscription)
			*options->is_subscription = true;	/* the caller subscribes */
		else
			rtsync_gql_error(&ps->sink, ps->op->loc,
							 "Subscriptions are served over WebSocket at /graphql, not over HTTP.");
		return NULL;
	}
	if (ps->sink.count > 0)
		return NULL;			/* the document's own rules failed */
	mutation = ps->op->type == RTSYNC_GQL_MUTATION;
	if (mutation && !options->allow_mutation)
	{
		rtsync_gql_error(&ps->sink, ps->op->loc,
						 "Mutations are not allowed in GET requests; use POST.");
		return NULL;
	}
	ps->input.operation_name = ps->op->name;

	/* pass 1: validate */
	memset(&p, 0, sizeof(p));
	p.ps = ps;
	keyset_init(&p, &p.root);
	ps->input.substitute = false;
	rtsync_validate_variables(ps);
	rtsync_validate_directives(ps, ps->op->directives, mutation ? "MUTATION" : "QUERY");
	plan_root_selections(&p, ps->op->selections, mutation);
	rtsync_validate_unused_variables(ps);
	if (ps->sink.count > 0)
		return NULL;
	if (!rtsync_input_coerce_variables(&ps->input, req->variables_json))
		return NULL;

	/* pass 2: build, in the plan's context */
	MemoryContextSwitchTo(plan_cxt);
	ps->input.substitute = true;
	p.build = true;
	keyset_init(&p, &p.root);
	p.plan = palloc0(sizeof(RtsyncRequestPlan));
	p.plan->cxt = plan_cxt;
	p.plan->mutation = mutation;
	p.plan->name = ps->op->name ? pstrdup(ps->op->name) : NULL;
	plan_root_selections(&p, ps->op->selections, mutation);
	if (ps->sink.count > 0)
		return NULL;
	p.plan->nstatements = list_length(p.statements);
	p.plan->statements = palloc0(Max(p.plan->nstatements, 1) * sizeof(RtsyncStatement));
	foreach(lc, p.statements)
		p.plan->statements[i++] = *(RtsyncStatement *) lfirst(lc);
	return p.plan;
}

RtsyncRequestPlan *
rtsync_plan_request(RtsyncSchema *schema, const char *query, size_t query_len,
					const char *operation_name, const char *variables_json,
					bool allow_mutation, bool *is_subscription, List **errors)
{
	RtsyncGqlRequest req = {query, query_len, operation_name, variables_json};
	RequestOptions options = {allow_mutation, is_subscription};

	if (is_subscription)
		*is_subscription = false;
	return rtsync_plan_operation(schema, &req,
								 AllocSetContextCreate(CurrentMemoryContext,
													   "rtsync request plan",
													   ALLOCSET_DEFAULT_SIZES),
								 plan_operation, &options, errors);
}

void
rtsync_request_plan_free(RtsyncRequestPlan *plan)
{
	if (plan)
		MemoryContextDelete(plan->cxt);
}
