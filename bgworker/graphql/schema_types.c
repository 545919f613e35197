/*-------------------------------------------------------------------------
 *
 * graphql/schema_types.c
 *	  Builds the type catalogue of a generated schema (see graphql/schema_types.h):
 *	  the types derived from the published tables, the built-in scalars
 *	  they use, and the introspection types and directives of the GraphQL
 *	  specification (as graphql-js 16 defines them, descriptions included,
 *	  so that a client comparing them with its own finds them equal).
 *
 * The input types are not described again here: which exist, their fields
 * and the fields' types come from graphql/input.c
 * (rtsync_input_type_by_name, rtsync_input_field_type), the functions that
 * coerce arguments and variables, the operators of the condition inputs
 * from graphql/filter_ops.h, and the subscription fields' arguments from
 * graphql/validate.c (rtsync_root_argument).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "graphql/builtin_types.h"
#include "graphql/filter_ops.h"
#include "graphql/schema_types.h"
#include "graphql/input.h"
#include "graphql/validate.h"

#define NUM_SCALARS (RTSYNC_SCALAR_AWSJSON + 1)

typedef struct Builder
{
	RtsyncSchema *schema;
	RtsyncTypeCatalogue *cat;
	List	   *generated;		/* RtsyncTypeDef *, in SDL order */
	StringInfoData buf;			/* scratch, for input_ref */
	/* condition inputs needed: [0] ModelSubscription<Scalar>Input, [1] Model */
	bool		conditions[2][NUM_SCALARS];
} Builder;

/* ------------------------------------------------------------------------
 * Building blocks
 * ------------------------------------------------------------------------
 */

/* A generated type, appended to the SDL order. */
static RtsyncTypeDef *
add_type(Builder *b, RtsyncTypeDefKind kind, const char *name, const char *description)
{
	RtsyncTypeDef *type = rtsync_types_new(kind, RTSYNC_ORIGIN_GENERATED, name, description);

	b->generated = lappend(b->generated, type);
	return type;
}

static void
add_arg(RtsyncFieldDef *field, const char *name, RtsyncGqlTypeRef *ref)
{
	field->args = lappend(field->args,
						  rtsync_types_new_input_value(name, ref, NULL, NULL));
}

static void
add_input_field(RtsyncTypeDef *type, const char *name, RtsyncGqlTypeRef *ref,
				const char *description)
{
	type->fields = lappend(type->fields,
						   rtsync_types_new_input_value(name, ref, description, NULL));
}

/* A column's type: the scalar, or a list of it; non-null as asked. */
static RtsyncGqlTypeRef *
column_ref(const RtsyncSchemaColumn *col, bool non_null)
{
	RtsyncGqlTypeRef *ref = rtsync_type_ref_make(rtsync_scalar_name(col->scalar),
												 !col->is_list && non_null);

	return col->is_list ? rtsync_type_ref_list(ref, non_null) : ref;
}

/*
 * The type reference of an input type of graphql/input.c, named as it
 * names it. (rtsync_input_type_string would allocate a fresh buffer for
 * each of the thousands of references of a large schema.)
 */
static RtsyncGqlTypeRef *
input_ref(Builder *b, const RtsyncInputType *type)
{
	RtsyncInputType named;

	if (type->kind == RTSYNC_INPUT_LIST)
		return rtsync_type_ref_list(input_ref(b, type->item), type->non_null);
	if (type->kind == RTSYNC_INPUT_SCALAR)
		return rtsync_type_ref_make(rtsync_scalar_name(type->scalar), type->non_null);
	named = *type;
	named.non_null = false;
	resetStringInfo(&b->buf);
	rtsync_input_type_print(&b->buf, &named);
	return rtsync_type_ref_make(pstrdup(b->buf.data), type->non_null);
}

/* ------------------------------------------------------------------------
 * The types of one table
 * ------------------------------------------------------------------------
 */

/* type T: one field per column, in table order */
static void
add_object_type(Builder *b, RtsyncSchemaTable *table)
{
	RtsyncTypeDef *type = add_type(b, RTSYNC_DEF_OBJECT, table->type_name,
								   psprintf("A row of table %s.", table->qualified_name));

	for (int i = 0; i < table->ncolumns; i++)
		rtsync_types_add_field(type, table->columns[i].name,
							   column_ref(&table->columns[i], table->columns[i].not_null),
							   i != table->version_column ? NULL :
							   "The row's version: 1 when created, one more on each update.");
}

/*
 * An input object type, field by field as graphql/input.c coerces it
 * (rtsync_input_field_type): the columns that resolve to themselves, in
 * table order, then those of the extra fields (and, or, not,
 * expectedVersion, with their descriptions) that it knows. Marks the
 * condition inputs it refers to as needed. NULL, and nothing added, when
 * the type would have no field.
 */
static RtsyncTypeDef *
add_input_type(Builder *b, const RtsyncInputType *input, RtsyncSchemaTable *table,
			   const char *description)
{
	static const char *const extras[][2] = {
		{"and", "Every filter of the list holds."},
		{"or", "At least one filter of the list holds."},
		{"not", "The filter does not hold."},
		{"expectedVersion", "Fail with a ConflictUnhandled error unless the row's version is this one."}
	};
	RtsyncTypeDef *type = rtsync_types_new(RTSYNC_DEF_INPUT_OBJECT, RTSYNC_ORIGIN_GENERATED,
										   input_ref(b, input)->name, description);

	for (int i = 0; i < table->ncolumns + lengthof(extras); i++)
	{
		bool		column = i < table->ncolumns;
		const char *name = column ? table->columns[i].name : extras[i - table->ncolumns][0];
		int			index;
		RtsyncInputType *ftype = rtsync_input_field_type(input, name, &index);

		if (ftype == NULL || (column ? index != i : index >= 0))
			continue;
		add_input_field(type, name, input_ref(b, ftype),
						column ? NULL : extras[i - table->ncolumns][1]);
		if (ftype->kind == RTSYNC_INPUT_CONDITION)
			b->conditions[ftype->model ? 1 : 0][ftype->scalar] = true;
	}
	if (type->fields == NIL)
		return NULL;
	b->generated = lappend(b->generated, type);
	return type;
}

/*
 * Create<T>Input, Update<T>Input or Delete<T>Input when graphql/input.c
 * knows it (update and delete need a usable key) and it has a field.
 */
static RtsyncTypeDef *
add_mutation_input(Builder *b, RtsyncSchemaTable *table, RtsyncMutationKind kind)
{
	static const char *const prefixes[] = {"Create", "Update", "Delete"};
	static const char *const descriptions[] = {
		"The values of a new %s; a field left out takes the column's default.",
		"The key of the %s to update, and the values to change; a field left out keeps its value.",
		"The key of the %s to delete."
	};

	if (rtsync_input_type_by_name(b->schema, psprintf("%s%sInput", prefixes[kind],
													  table->type_name)) == NULL)
		return NULL;
	return add_input_type(b, rtsync_input_mutation_type(table, kind, false), table,
						  psprintf(descriptions[kind], table->type_name));
}

/* The key columns of a table, each required, as arguments of a field. */
static void
add_key_args(RtsyncFieldDef *field, RtsyncSchemaTable *table)
{
	for (int i = 0; i < table->ncolumns; i++)
		if (table->columns[i].is_key)
			add_arg(field, table->columns[i].name, column_ref(&table->columns[i], true));
}

/* Every type of one table, and its root fields. */
static void
add_table(Builder *b, RtsyncSchemaTable *table)
{
	static const char *const mutations[][2] = {
		{"create", "Creates one %s and returns it."},
		{"update", "Updates the %s with the input's key and returns it."},
		{"delete", "Deletes the %s with the input's key and returns it as it was."}
	};
	static const char *const events[][2] = {
		{"Create", "Each %s inserted, by GraphQL or SQL, that passes the filter and equals the arguments given."},
		{"Update", "Each %s updated, by GraphQL or SQL, that passes the filter and equals the arguments given."},
		{"Delete", "Each %s deleted, by GraphQL or SQL, that passes the filter and equals the arguments given."}
	};
	RtsyncTypeCatalogue *cat = b->cat;
	const char *T = table->type_name;
	RtsyncGqlTypeRef *row = rtsync_type_ref_make(T, false);
	RtsyncTypeDef *connection;
	RtsyncTypeDef *filter;
	RtsyncFieldDef *field;

	add_object_type(b, table);
	connection = add_type(b, RTSYNC_DEF_OBJECT, psprintf("Model%sConnection", T),
						  psprintf("A page of %s rows.", T));
	rtsync_types_add_field(connection, "items", rtsync_type_ref_list(row, true), "The rows of this page.");
	rtsync_types_add_field(connection, "nextToken", rtsync_type_ref_make("String", false),
						   "Pass it as nextToken for the next page; null on the last page.");
	filter = add_input_type(b, rtsync_input_model_filter_type(table), table,
							psprintf("Conditions on %s rows; all of them must hold.", T));
	add_input_type(b, rtsync_input_filter_type(table), table,
				   psprintf("Conditions on the %s rows of a subscription; all of them must hold.", T));

	/* Query */
	if (table->key_usable)
	{
		field = rtsync_types_add_field(cat->query, psprintf("get%s", T), row,
									   psprintf("The %s with this key, or null.", T));
		add_key_args(field, table);
	}
	field = rtsync_types_add_field(cat->query, psprintf("list%s", table->plural_name),
								   rtsync_type_ref_make(connection->name, false),
								   psprintf("The %s rows that pass the filter, a page at a time.", T));
	add_arg(field, "filter", rtsync_type_ref_make(filter->name, false));
	add_arg(field, "limit", rtsync_type_ref_make("Int", false));
	add_arg(field, "nextToken", rtsync_type_ref_make("String", false));

	/* Mutation: each field with its input type */
	for (int k = RTSYNC_MUTATION_CREATE; k <= RTSYNC_MUTATION_DELETE; k++)
	{
		RtsyncTypeDef *input = add_mutation_input(b, table, k);

		if (input == NULL)
			continue;
		field = rtsync_types_add_field(cat->mutation, psprintf("%s%s", mutations[k][0], T),
									   row, psprintf(mutations[k][1], T));
		add_arg(field, "input", rtsync_type_ref_make(input->name, true));
	}

	/* Subscription: the arguments graphql/validate.c accepts */
	for (int e = 0; e < lengthof(events); e++)
	{
		int			column;
		RtsyncInputType *type = rtsync_root_argument(table, "filter", &column);

		field = rtsync_types_add_field(cat->subscription, psprintf("on%s%s", events[e][0], T),
									   row, psprintf(events[e][1], T));
		add_arg(field, "filter", input_ref(b, type));
		add_arg(field, "after", input_ref(b, rtsync_root_argument(table, "after", &column)));
		for (int i = 0; i < table->ncolumns; i++)
		{
			type = rtsync_root_argument(table, table->columns[i].name, &column);
			if (type != NULL && column == i)
				add_arg(field, table->columns[i].name, input_ref(b, type));
		}
	}
}

/*
 * Model<Scalar>Input and ModelSubscription<Scalar>Input for the scalars the
 * filters use, interleaved: the operators graphql/input.c accepts for
 * the scalar, in graphql/filter_ops.h's order, with the types it coerces them to.
 */
static void
add_conditions(Builder *b)
{
	static const char *const prefixes[] = {"ModelSubscription", "Model"};

	for (int s = 0; s < NUM_SCALARS; s++)
	{
		for (int model = 1; model >= 0; model--)
		{
			const char *sname = rtsync_scalar_name(s);
			RtsyncInputType *condition;
			RtsyncTypeDef *type;

			if (!b->conditions[model][s])
				continue;
			condition = rtsync_input_type_by_name(b->schema,
												  psprintf("%s%sInput", prefixes[model], sname));
			if (condition == NULL)
				continue;
			type = add_type(b, RTSYNC_DEF_INPUT_OBJECT, input_ref(b, condition)->name,
							psprintf("Conditions on %s values; all of them must hold.", sname));
			for (int op = 0; op < RTSYNC_FILTER_NUM_OPS; op++)
			{
				int			index;
				const char *name = rtsync_filter_op_name(op);
				RtsyncInputType *ftype = rtsync_input_field_type(condition, name, &index);

				if (ftype != NULL)
					add_input_field(type, name, input_ref(b, ftype), NULL);
			}
		}
	}
}

static void
add_custom_scalars(Builder *b)
{
	static const char *const scalars[][2] = {
		{"BigInt", "A 64-bit integer, as a string of digits so that no precision is lost."},
		{"BigFloat", "A decimal number of any precision (numeric), as a string so that no precision is lost; also NaN, Infinity and -Infinity."},
		{"AWSDateTime", "A date and time, YYYY-MM-DDThh:mm:ss.sss with an optional offset (Z or +hh:mm), as in ISO 8601."},
		{"AWSDate", "A date, YYYY-MM-DD, with an optional offset (Z or +hh:mm), as in ISO 8601."},
		{"AWSTime", "A time of day, hh:mm:ss.sss, with an optional offset (Z or +hh:mm), as in ISO 8601."},
		{"AWSJSON", "A JSON value, as a string holding its JSON text."}
	};

	for (int i = 0; i < lengthof(scalars); i++)
		add_type(b, RTSYNC_DEF_SCALAR, scalars[i][0], scalars[i][1]);
}

/* The generated types, in SDL order: roots, tables, conditions, scalars. */
static void
add_generated(Builder *b)
{
	RtsyncTypeCatalogue *cat = b->cat;
	int			ntables = 0;
	ListCell   *lc;

	cat->query = add_type(b, RTSYNC_DEF_OBJECT, "Query", NULL);
	cat->mutation = add_type(b, RTSYNC_DEF_OBJECT, "Mutation", NULL);
	cat->subscription = add_type(b, RTSYNC_DEF_OBJECT, "Subscription", NULL);
	foreach(lc, b->schema->tables)
	{
		RtsyncSchemaTable *table = lfirst(lc);

		/* an object type needs a field: see the header */
		if (table->ncolumns == 0)
			continue;
		add_table(b, table);
		ntables++;
	}
	add_conditions(b);
	add_custom_scalars(b);

	if (ntables == 0)
		rtsync_types_add_field(cat->query, RTSYNC_EMPTY_QUERY_FIELD,
							   rtsync_type_ref_make("String", false),
							   "Always null: no table is published yet.");
	if (cat->mutation->fields == NIL)
	{
		b->generated = list_delete_ptr(b->generated, cat->mutation);
		cat->mutation = NULL;
	}
	if (cat->subscription->fields == NIL)
	{
		b->generated = list_delete_ptr(b->generated, cat->subscription);
		cat->subscription = NULL;
	}
}

/* Appends to *names the named types of some input values. */
static void
refer_values(List *values, List **names)
{
	ListCell   *lc;

	foreach(lc, values)
	{
		RtsyncInputValueDef *value = lfirst(lc);

		*names = lappend(*names, (void *) rtsync_type_ref_base(value->type));
	}
}

/* The names of the types that fields, arguments and input fields refer to. */
static List *
referred_names(List *types, List *directive_list)
{
	List	   *names = NIL;
	ListCell   *lc;
	ListCell   *lf;

	foreach(lc, types)
	{
		RtsyncTypeDef *type = lfirst(lc);

		if (type->kind == RTSYNC_DEF_INPUT_OBJECT)
			refer_values(type->fields, &names);
		else if (type->kind == RTSYNC_DEF_OBJECT)
		{
			foreach(lf, type->fields)
			{
				RtsyncFieldDef *field = lfirst(lf);

				names = lappend(names, (void *) rtsync_type_ref_base(field->type));
				refer_values(field->args, &names);
			}
		}
	}
	foreach(lc, directive_list)
		refer_values(((RtsyncDirectiveDef *) lfirst(lc))->args, &names);
	return names;
}

static int
compare_by_name(const void *a, const void *b)
{
	return strcmp((*(RtsyncTypeDef *const *) a)->name, (*(RtsyncTypeDef *const *) b)->name);
}

/* ------------------------------------------------------------------------
 * The catalogue
 * ------------------------------------------------------------------------
 */

/*
 * See graphql/schema_types.h. The generated types first, then the built-in scalars
 * something refers to (String and Boolean always: the introspection types
 * do), then the introspection types; and an index of them all by name.
 */
RtsyncTypeCatalogue *
rtsync_types_build(RtsyncSchema *schema)
{
	Builder		b;
	RtsyncTypeCatalogue *cat = palloc0(sizeof(RtsyncTypeCatalogue));
	List	   *meta = rtsync_builtin_introspection_types();
	List	   *names;
	ListCell   *lc;
	ListCell   *ln;
	int			i = 0;

	memset(&b, 0, sizeof(b));
	b.schema = schema;
	b.cat = cat;
	initStringInfo(&b.buf);
	add_generated(&b);
	pfree(b.buf.data);
	cat->directives = rtsync_builtin_directives();

	/* built-in scalars only when referred to, as graphql-js lists them */
	names = referred_names(list_concat_copy(b.generated, meta), cat->directives);
	cat->types = b.generated;
	foreach(lc, rtsync_builtin_scalars())
	{
		RtsyncTypeDef *scalar = lfirst(lc);

		foreach(ln, names)
		{
			if (strcmp(lfirst(ln), scalar->name) == 0)
			{
				cat->types = lappend(cat->types, scalar);
				break;
			}
		}
	}
	cat->types = list_concat(cat->types, meta);

	cat->ntypes = list_length(cat->types);
	cat->by_name = palloc(cat->ntypes * sizeof(RtsyncTypeDef *));
	foreach(lc, cat->types)
		cat->by_name[i++] = lfirst(lc);
	qsort(cat->by_name, cat->ntypes, sizeof(RtsyncTypeDef *), compare_by_name);
	return cat;
}

RtsyncTypeDef *
rtsync_types_find(const RtsyncTypeCatalogue *cat, const char *name)
{
	RtsyncTypeDef key;
	RtsyncTypeDef *keyp = &key;
	RtsyncTypeDef **found;

	key.name = name;
	found = bsearch(&keyp, cat->by_name, cat->ntypes, sizeof(RtsyncTypeDef *),
					compare_by_name);
	return found ? *found : NULL;
}

RtsyncDirectiveDef *
rtsync_types_directive(const RtsyncTypeCatalogue *cat, const char *name)
{
	ListCell   *lc;

	foreach(lc, cat->directives)
		if (strcmp(((RtsyncDirectiveDef *) lfirst(lc))->name, name) == 0)
			return lfirst(lc);
	return NULL;
}
