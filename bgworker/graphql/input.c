/*-------------------------------------------------------------------------
 *
 * graphql/input.c
 *	  Input types of the generated schema, and coercion of argument literals
 *	  and of the request's variables to them (GraphQL spec, "Coercing
 *	  Variable Values" and "Input Coercion"), with graphql-js's messages.
 *
 * Literals are coerced twice: once while validating, when a variable in a
 * literal is only checked for being defined and usable in its position, and
 * once while planning, when each variable is replaced by its runtime value
 * (itself coerced from the request's JSON to the variable's type). Values
 * from either source end up as the same RtsyncInputValue trees.
 *
 * Scalars (decided here, AppSync's where it has them):
 *	  Int		  32-bit integers; from JSON any integral number (1.0 too)
 *	  Float		  finite numbers, Int literals too
 *	  BigInt	  integer literals of any size, or strings of digits
 *	  BigFloat	  number literals, or strings holding a number, NaN or
 *				  [-]Infinity (the column is numeric)
 *	  ID		  strings, or integers (kept as their digits)
 *	  AWSDate	  "YYYY-MM-DD", AWSTime "hh:mm[:ss[.f]]", AWSDateTime the two
 *				  joined by "T"; each with an optional offset "Z" or
 *				  "+hh:mm[:ss]" (AppSync requires the offset on AWSDateTime,
 *				  we do not: timestamp without time zone columns have none)
 *	  AWSJSON	  a string holding JSON text, as AppSync
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "utils/builtins.h"

#include "graphql/filter_ops.h"
#include "graphql/input.h"
#include "graphql/name_map.h"

/* ------------------------------------------------------------------------
 * Types
 * ------------------------------------------------------------------------
 */

static RtsyncInputType *
new_type(RtsyncInputKind kind, bool non_null)
{
	RtsyncInputType *type = palloc0(sizeof(RtsyncInputType));

	type->kind = kind;
	type->non_null = non_null;
	return type;
}

RtsyncInputType *
rtsync_input_scalar_type(RtsyncGqlScalar scalar, bool non_null)
{
	RtsyncInputType *type = new_type(RTSYNC_INPUT_SCALAR, non_null);

	type->scalar = scalar;
	return type;
}

/* ModelSubscription<T>FilterInput, nullable */
RtsyncInputType *
rtsync_input_filter_type(RtsyncSchemaTable *table)
{
	RtsyncInputType *type = new_type(RTSYNC_INPUT_FILTER, false);

	type->table = table;
	return type;
}

/* Model<T>FilterInput, nullable: the query filter */
RtsyncInputType *
rtsync_input_model_filter_type(RtsyncSchemaTable *table)
{
	RtsyncInputType *type = rtsync_input_filter_type(table);

	type->model = true;
	return type;
}

RtsyncInputType *
rtsync_input_mutation_type(RtsyncSchemaTable *table, RtsyncMutationKind kind,
						   bool non_null)
{
	RtsyncInputType *type = new_type(RTSYNC_INPUT_MUTATION, non_null);

	type->table = table;
	type->mutation = kind;
	return type;
}

bool
rtsync_input_column_in_mutation(const RtsyncSchemaTable *table,
								RtsyncMutationKind kind, int column)
{
	const RtsyncSchemaColumn *col = &table->columns[column];

	switch (kind)
	{
		case RTSYNC_MUTATION_CREATE:
			return col->writable && column != table->version_column;
		case RTSYNC_MUTATION_UPDATE:
			return col->is_key || (col->writable && column != table->version_column);
		case RTSYNC_MUTATION_DELETE:
			return col->is_key;
	}
	return false;
}

bool
rtsync_input_column_required(const RtsyncSchemaTable *table,
							 RtsyncMutationKind kind, int column)
{
	const RtsyncSchemaColumn *col = &table->columns[column];

	if (!rtsync_input_column_in_mutation(table, kind, column))
		return false;
	if (kind == RTSYNC_MUTATION_CREATE)
		return col->not_null && !col->has_default;
	return col->is_key;
}

static const char *const mutation_input_prefix[] = {"Create", "Update", "Delete"};

bool
rtsync_input_check_required(RtsyncErrorSink *sink, const RtsyncInputType *type,
							const RtsyncInputValue *object, const char *prefix)
{
	bool		ok = true;

	if (type->kind != RTSYNC_INPUT_MUTATION || object->kind != RTSYNC_VALUE_OBJECT)
		return true;
	for (int i = 0; i < type->table->ncolumns; i++)
	{
		bool		given = false;
		ListCell   *lc;

		if (!rtsync_input_column_required(type->table, type->mutation, i))
			continue;
		foreach(lc, object->fields)
			given |= ((RtsyncInputField *) lfirst(lc))->index == i;
		if (given)
			continue;
		rtsync_gql_error(sink, object->loc,
						 "%sField \"%s%sInput.%s\" of required type \"%s%s!\" was not provided.",
						 prefix ? prefix : "",
						 mutation_input_prefix[type->mutation], type->table->type_name,
						 type->table->columns[i].name,
						 type->table->columns[i].is_list ? "[" : "",
						 psprintf("%s%s", rtsync_scalar_name(type->table->columns[i].scalar),
								  type->table->columns[i].is_list ? "]" : ""));
		ok = false;
	}
	return ok;
}

static RtsyncInputType *
list_type(RtsyncInputType *item, bool non_null)
{
	RtsyncInputType *type = new_type(RTSYNC_INPUT_LIST, non_null);

	type->item = item;
	return type;
}

static bool
scalar_by_name(const char *name, size_t len, RtsyncGqlScalar *scalar)
{
	for (int s = RTSYNC_SCALAR_ID; s <= RTSYNC_SCALAR_AWSJSON; s++)
	{
		const char *sname = rtsync_scalar_name(s);

		if (strlen(sname) == len && strncmp(sname, name, len) == 0)
		{
			*scalar = s;
			return true;
		}
	}
	return false;
}

/* The (nullable) input type of this name, or NULL when there is none. */
RtsyncInputType *
rtsync_input_type_by_name(RtsyncSchema *schema, const char *name)
{
	static const char prefix[] = "ModelSubscription";
	size_t		plen = sizeof(prefix) - 1;
	size_t		len = strlen(name);
	RtsyncGqlScalar scalar;
	RtsyncInputType *type;

	if (scalar_by_name(name, len, &scalar))
		return rtsync_input_scalar_type(scalar, false);
	for (int k = RTSYNC_MUTATION_CREATE; k <= RTSYNC_MUTATION_DELETE; k++)
	{
		size_t		klen = strlen(mutation_input_prefix[k]);

		if (len > klen + 5 && strncmp(name, mutation_input_prefix[k], klen) == 0 &&
			strcmp(name + len - 5, "Input") == 0)
		{
			char	   *tname = pnstrdup(name + klen, len - klen - 5);
			RtsyncSchemaTable *table = rtsync_schema_find_type(schema, tname);

			pfree(tname);
			if (table != NULL && (k == RTSYNC_MUTATION_CREATE || table->key_usable))
				return rtsync_input_mutation_type(table, k, false);
		}
	}
	if (len > 5 + 5 && strncmp(name, "Model", 5) == 0 && strncmp(name, prefix, plen) != 0)
	{
		/* Model<T>FilterInput and Model<Scalar>Input: as below, but "model" */
		char	   *sub = psprintf("ModelSubscription%s", name + 5);

		type = rtsync_input_type_by_name(schema, sub);
		if (type != NULL && type->kind != RTSYNC_INPUT_SCALAR)
		{
			type->model = true;
			return type;
		}
		return NULL;
	}
	if (len <= plen || strncmp(name, prefix, plen) != 0)
		return NULL;
	if (len > plen + 11 && strcmp(name + len - 11, "FilterInput") == 0)
	{
		char	   *tname = pnstrdup(name + plen, len - plen - 11);
		RtsyncSchemaTable *table = rtsync_schema_find_type(schema, tname);

		pfree(tname);
		if (table != NULL)
			return rtsync_input_filter_type(table);
	}
	if (len > plen + 5 && strcmp(name + len - 5, "Input") == 0 &&
		scalar_by_name(name + plen, len - plen - 5, &scalar))
	{
		type = new_type(RTSYNC_INPUT_CONDITION, false);
		type->scalar = scalar;
		return type;
	}
	return NULL;
}

void
rtsync_input_type_print(StringInfo out, const RtsyncInputType *type)
{
	switch (type->kind)
	{
		case RTSYNC_INPUT_SCALAR:
			appendStringInfoString(out, rtsync_scalar_name(type->scalar));
			break;
		case RTSYNC_INPUT_FILTER:
			appendStringInfo(out, "Model%s%sFilterInput", type->model ? "" : "Subscription",
							 type->table->type_name);
			break;
		case RTSYNC_INPUT_CONDITION:
			appendStringInfo(out, "Model%s%sInput", type->model ? "" : "Subscription",
							 rtsync_scalar_name(type->scalar));
			break;
		case RTSYNC_INPUT_MUTATION:
			appendStringInfo(out, "%s%sInput", mutation_input_prefix[type->mutation],
							 type->table->type_name);
			break;
		case RTSYNC_INPUT_LIST:
			appendStringInfoChar(out, '[');
			rtsync_input_type_print(out, type->item);
			appendStringInfoChar(out, ']');
			break;
	}
	if (type->non_null)
		appendStringInfoChar(out, '!');
}

char *
rtsync_input_type_string(const RtsyncInputType *type)
{
	StringInfoData buf;

	initStringInfo(&buf);
	rtsync_input_type_print(&buf, type);
	return buf.data;
}

static void
print_type_ref(StringInfo out, const RtsyncGqlTypeRef *ref)
{
	if (ref->name)
		appendStringInfoString(out, ref->name);
	else
	{
		appendStringInfoChar(out, '[');
		print_type_ref(out, ref->item);
		appendStringInfoChar(out, ']');
	}
	if (ref->non_null)
		appendStringInfoChar(out, '!');
}

/* A type reference resolved to an input type; NULL and an error if none. */
static RtsyncInputType *
type_from_ref(RtsyncInputContext *ctx, const RtsyncGqlTypeRef *ref,
			  const RtsyncGqlVariableDef *def)
{
	RtsyncInputType *type;

	if (ref->name == NULL)
	{
		RtsyncInputType *item = type_from_ref(ctx, ref->item, def);

		return item ? list_type(item, ref->non_null) : NULL;
	}
	type = rtsync_input_type_by_name(ctx->schema, ref->name);
	if (type != NULL)
	{
		type->non_null = ref->non_null;
		return type;
	}
	if (strcmp(ref->name, "Subscription") == 0 || strcmp(ref->name, "Query") == 0 ||
		strcmp(ref->name, "Mutation") == 0 ||
		rtsync_schema_find_type(ctx->schema, ref->name) != NULL)
	{
		StringInfoData buf;

		initStringInfo(&buf);
		print_type_ref(&buf, def->type);
		rtsync_gql_error(ctx->sink, def->type->loc,
						 "Variable \"$%s\" cannot be non-input type \"%s\".",
						 def->name, buf.data);
	}
	else
		rtsync_gql_error(ctx->sink, ref->loc, "Unknown type \"%s\".", ref->name);
	return NULL;
}

/* A variable's declared type; NULL (and errors) when it is no input type. */
RtsyncInputType *
rtsync_input_type_from_ref(RtsyncInputContext *ctx, const RtsyncGqlVariableDef *def)
{
	return type_from_ref(ctx, def->type, def);
}

/*
 * The type of a field of an input object type, and its index (see
 * RtsyncInputField); NULL when the type has no such field.
 */
RtsyncInputType *
rtsync_input_field_type(const RtsyncInputType *type, const char *name, int *index)
{
	RtsyncFilterOp op;

	if (type->kind == RTSYNC_INPUT_MUTATION)
	{
		if (strcmp(name, "expectedVersion") == 0 && type->mutation != RTSYNC_MUTATION_CREATE &&
			type->table->version_column >= 0)
		{
			*index = RTSYNC_FIELD_EXPECTED_VERSION;
			return rtsync_input_scalar_type(RTSYNC_SCALAR_INT, false);
		}
		for (int i = 0; i < type->table->ncolumns; i++)
		{
			const RtsyncSchemaColumn *col = &type->table->columns[i];
			RtsyncInputType *scalar;

			if (strcmp(col->name, name) != 0 ||
				!rtsync_input_column_in_mutation(type->table, type->mutation, i))
				continue;
			*index = i;
			scalar = rtsync_input_scalar_type(col->scalar, false);
			if (col->is_list)
				scalar = list_type(scalar, false);
			/* required fields are checked after coercion; null is refused there too */
			scalar->non_null = rtsync_input_column_required(type->table, type->mutation, i);
			return scalar;
		}
		return NULL;
	}
	if (type->kind == RTSYNC_INPUT_FILTER)
	{
		RtsyncInputType *self;

		if (strcmp(name, "and") == 0 || strcmp(name, "or") == 0 ||
			(type->model && strcmp(name, "not") == 0))
		{
			self = rtsync_input_filter_type(type->table);
			self->model = type->model;
			*index = name[0] == 'a' ? RTSYNC_FIELD_AND :
				name[0] == 'o' ? RTSYNC_FIELD_OR : RTSYNC_FIELD_NOT;
			return *index == RTSYNC_FIELD_NOT ? self : list_type(self, false);
		}
		for (int i = 0; i < type->table->ncolumns; i++)
		{
			if (strcmp(type->table->columns[i].name, name) == 0)
			{
				*index = i;
				self = new_type(RTSYNC_INPUT_CONDITION, false);
				self->scalar = type->table->columns[i].scalar;
				self->model = type->model;
				return self;
			}
		}
		return NULL;
	}
	if (!rtsync_filter_op_lookup(name, type->scalar, &op))
		return NULL;
	*index = op;
	switch (rtsync_filter_op_value(op))
	{
		case RTSYNC_OPVALUE_SCALAR:
			if ((op == RTSYNC_OP_BEGINS_WITH || op == RTSYNC_OP_CONTAINS ||
				 op == RTSYNC_OP_NOT_CONTAINS) &&
				(type->scalar == RTSYNC_SCALAR_AWSDATE ||
				 type->scalar == RTSYNC_SCALAR_AWSDATETIME ||
				 type->scalar == RTSYNC_SCALAR_AWSTIME))
				return rtsync_input_scalar_type(RTSYNC_SCALAR_STRING, false);
			return rtsync_input_scalar_type(type->scalar, false);
		case RTSYNC_OPVALUE_LIST:
			return list_type(rtsync_input_scalar_type(type->scalar, false), false);
		case RTSYNC_OPVALUE_BOOLEAN:
			break;
	}
	return rtsync_input_scalar_type(RTSYNC_SCALAR_BOOLEAN, false);
}

/* ------------------------------------------------------------------------
 * Scalars
 * ------------------------------------------------------------------------
 */

RtsyncInputValue *
rtsync_input_new_value(RtsyncInputValueKind kind, RtsyncGqlLocation loc)
{
	RtsyncInputValue *value = palloc0(sizeof(RtsyncInputValue));

	value->kind = kind;
	value->loc = loc;
	return value;
}

static bool
all_digits(const char *s, int n)
{
	for (int i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* "Z", "+hh:mm" or "+hh:mm:ss" (or "-"): its length, 0 when there is none */
static int
offset_length(const char *s)
{
	if (*s == 'Z')
		return 1;
	if ((*s == '+' || *s == '-') && all_digits(s + 1, 2) && s[3] == ':' &&
		all_digits(s + 4, 2))
		return s[6] == ':' && all_digits(s + 7, 2) ? 9 : 6;
	return 0;
}

static bool
date_ok(const char **s)
{
	const char *p = *s;

	if (!all_digits(p, 4) || p[4] != '-' || !all_digits(p + 5, 2) || p[7] != '-' ||
		!all_digits(p + 8, 2))
		return false;
	if (atoi(p + 5) < 1 || atoi(p + 5) > 12 || atoi(p + 8) < 1 || atoi(p + 8) > 31)
		return false;
	*s = p + 10;
	return true;
}

static bool
time_ok(const char **s)
{
	const char *p = *s;

	if (!all_digits(p, 2) || p[2] != ':' || !all_digits(p + 3, 2) ||
		atoi(p) > 24 || atoi(p + 3) > 59)
		return false;
	p += 5;
	if (*p == ':')
	{
		if (!all_digits(p + 1, 2) || atoi(p + 1) > 60)
			return false;
		p += 3;
		if (*p == '.')
		{
			if (!all_digits(p + 1, 1))
				return false;
			for (p++; *p >= '0' && *p <= '9'; p++)
				;
		}
	}
	*s = p;
	return true;
}

/* Is this string an AWSDate, AWSTime or AWSDateTime? (see the banner) */
static bool
datetime_ok(RtsyncGqlScalar scalar, const char *s)
{
	if (scalar != RTSYNC_SCALAR_AWSTIME && !date_ok(&s))
		return false;
	if (scalar == RTSYNC_SCALAR_AWSDATETIME && *s++ != 'T')
		return false;
	if (scalar != RTSYNC_SCALAR_AWSDATE && !time_ok(&s))
		return false;
	s += offset_length(s);
	return *s == '\0';
}

static bool
int32_text(const char *s)
{
	char	   *end;
	long		v;

	if (strlen(s) > 11)
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	return errno == 0 && *end == '\0' && v >= PG_INT32_MIN && v <= PG_INT32_MAX;
}

static bool
integer_text(const char *s)
{
	if (*s == '-')
		s++;
	return *s != '\0' && all_digits(s, strlen(s));
}

static RtsyncInputValue *
number_value(const char *text, RtsyncGqlLocation loc)
{
	Numeric		num = rtsync_numeric_from_text(text, strlen(text));
	RtsyncInputValue *value;

	if (num == NULL)
		return NULL;
	value = rtsync_input_new_value(RTSYNC_VALUE_NUMBER, loc);
	value->num = num;
	return value;
}

static RtsyncInputValue *
string_value(const char *str, RtsyncGqlLocation loc)
{
	RtsyncInputValue *value = rtsync_input_new_value(RTSYNC_VALUE_STRING, loc);

	value->str = pstrdup(str);
	return value;
}

/* A raw scalar coerced to a scalar type; NULL when it does not coerce. */
RtsyncInputValue *
rtsync_input_coerce_scalar(RtsyncGqlScalar scalar, const RtsyncRawScalar *raw,
						   RtsyncGqlLocation loc)
{
	RtsyncInputValue *value;
	char	   *err = NULL;

	switch (scalar)
	{
		case RTSYNC_SCALAR_INT:
			if (raw->kind == RTSYNC_RAW_INT && int32_text(raw->text))
				return number_value(raw->text, loc);
			break;
		case RTSYNC_SCALAR_FLOAT:
			if (raw->kind == RTSYNC_RAW_INT || raw->kind == RTSYNC_RAW_FLOAT)
			{
				double		d = strtod(raw->text, NULL);

				if (!isinf(d) && !isnan(d))
					return number_value(raw->text, loc);
			}
			break;
		case RTSYNC_SCALAR_BIGINT:
			if (raw->kind == RTSYNC_RAW_INT ||
				(raw->kind == RTSYNC_RAW_STRING && integer_text(raw->text)))
				return number_value(raw->text, loc);
			break;
		case RTSYNC_SCALAR_BIGFLOAT:
			if (raw->kind == RTSYNC_RAW_INT || raw->kind == RTSYNC_RAW_FLOAT ||
				raw->kind == RTSYNC_RAW_STRING)
				return number_value(raw->text, loc);
			break;
		case RTSYNC_SCALAR_ID:
			if (raw->kind == RTSYNC_RAW_STRING || raw->kind == RTSYNC_RAW_INT)
				return string_value(raw->text, loc);
			break;
		case RTSYNC_SCALAR_STRING:
			if (raw->kind == RTSYNC_RAW_STRING)
				return string_value(raw->text, loc);
			break;
		case RTSYNC_SCALAR_BOOLEAN:
			if (raw->kind == RTSYNC_RAW_BOOLEAN)
			{
				value = rtsync_input_new_value(RTSYNC_VALUE_BOOLEAN, loc);
				value->boolean = raw->boolean;
				return value;
			}
			break;
		case RTSYNC_SCALAR_AWSDATETIME:
		case RTSYNC_SCALAR_AWSDATE:
		case RTSYNC_SCALAR_AWSTIME:
			if (raw->kind == RTSYNC_RAW_STRING && datetime_ok(scalar, raw->text))
				return string_value(raw->text, loc);
			break;
		case RTSYNC_SCALAR_AWSJSON:
			if (raw->kind == RTSYNC_RAW_STRING)
			{
				Jsonb	   *json = rtsync_json_parse(raw->text, strlen(raw->text), &err);

				if (json == NULL)
					return NULL;
				value = string_value(raw->text, loc);
				value->json = json;
				return value;
			}
			break;
	}
	return NULL;
}

/* ------------------------------------------------------------------------
 * Literals
 * ------------------------------------------------------------------------
 */

void
rtsync_gql_print_value(StringInfo out, const RtsyncGqlValue *value)
{
	ListCell   *lc;

	switch (value->kind)
	{
		case RTSYNC_GQL_VARIABLE:
			appendStringInfo(out, "$%s", value->str);
			break;
		case RTSYNC_GQL_INT:
		case RTSYNC_GQL_FLOAT:
		case RTSYNC_GQL_ENUM:
			appendStringInfoString(out, value->str);
			break;
		case RTSYNC_GQL_STRING:
			rtsync_json_append_string(out, value->str, strlen(value->str));
			break;
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
				rtsync_gql_print_value(out, lfirst(lc));
			}
			appendStringInfoChar(out, ']');
			break;
		case RTSYNC_GQL_OBJECT:
			appendStringInfoChar(out, '{');
			foreach(lc, value->fields)
			{
				RtsyncGqlObjectField *f = lfirst(lc);

				if (lc != list_head(value->fields))
					appendStringInfoString(out, ", ");
				appendStringInfo(out, "%s: ", f->name);
				rtsync_gql_print_value(out, f->value);
			}
			appendStringInfoChar(out, '}');
			break;
	}
}

static void
literal_error(RtsyncInputContext *ctx, const RtsyncGqlValue *value,
			  const RtsyncInputType *type)
{
	StringInfoData buf;

	initStringInfo(&buf);
	rtsync_gql_print_value(&buf, value);
	rtsync_gql_error(ctx->sink, value->loc, "Expected value of type \"%s\", found %s.",
					 rtsync_input_type_string(type), buf.data);
}

static RtsyncVariable *
find_variable(RtsyncInputContext *ctx, const char *name)
{
	ListCell   *lc;

	foreach(lc, ctx->variables)
	{
		RtsyncVariable *var = lfirst(lc);

		if (strcmp(var->def->name, name) == 0)
			return var;
	}
	return NULL;
}

static bool
same_named_type(const RtsyncInputType *a, const RtsyncInputType *b)
{
	if (a->kind != b->kind)
		return false;
	if (a->kind == RTSYNC_INPUT_MUTATION)
		return a->table == b->table && a->mutation == b->mutation;
	if (a->model != b->model)
		return false;
	if (a->kind == RTSYNC_INPUT_FILTER)
		return a->table == b->table;
	return a->scalar == b->scalar;
}

/* Spec, "Is Variable Usage Allowed", AreTypesCompatible */
static bool
types_compatible(const RtsyncInputType *var, const RtsyncInputType *loc, bool loc_nullable)
{
	if (loc->non_null && !loc_nullable && !var->non_null)
		return false;
	if (loc->kind == RTSYNC_INPUT_LIST || var->kind == RTSYNC_INPUT_LIST)
		return loc->kind == var->kind && types_compatible(var->item, loc->item, false);
	return same_named_type(var, loc);
}

static bool
usage_allowed(const RtsyncVariable *var, const RtsyncInputType *loc)
{
	if (loc->non_null && !var->type->non_null)
	{
		RtsyncGqlValue *def = var->def->default_value;

		if (def == NULL || def->kind == RTSYNC_GQL_NULL)
			return false;
		return types_compatible(var->type, loc, true);
	}
	return types_compatible(var->type, loc, false);
}

/*
 * A variable in a literal: while validating, check that it is defined and
 * usable where it is (spec, "All Variable Usages Are Allowed"); while
 * planning, its runtime value (NULL when it has none).
 */
static bool
coerce_variable(RtsyncInputContext *ctx, const RtsyncGqlValue *value,
				const RtsyncInputType *type, RtsyncInputValue **result)
{
	RtsyncVariable *var = find_variable(ctx, value->str);

	if (ctx->constant)
	{
		rtsync_gql_error(ctx->sink, value->loc,
						 "Unexpected variable \"$%s\" in constant value.", value->str);
		return false;
	}
	if (var == NULL)
	{
		if (ctx->operation_name)
			rtsync_gql_error(ctx->sink, value->loc,
							 "Variable \"$%s\" is not defined by operation \"%s\".",
							 value->str, ctx->operation_name);
		else
			rtsync_gql_error(ctx->sink, value->loc,
							 "Variable \"$%s\" is not defined.", value->str);
		return false;
	}
	var->used = true;
	if (!ctx->substitute)
	{
		if (var->type != NULL && !usage_allowed(var, type))
		{
			rtsync_gql_error(ctx->sink, value->loc,
							 "Variable \"$%s\" of type \"%s\" used in position expecting type \"%s\".",
							 value->str, rtsync_input_type_string(var->type),
							 rtsync_input_type_string(type));
			return false;
		}
		return true;
	}
	if (type->non_null && (var->value == NULL || var->value->kind == RTSYNC_VALUE_NULL))
	{
		/* allowed statically thanks to a default, but given null at runtime */
		rtsync_gql_error(ctx->sink, value->loc,
						 "Variable \"$%s\" must not be null in a position of type \"%s\".",
						 value->str, rtsync_input_type_string(type));
		return false;
	}
	*result = var->value;
	return true;
}

/*
 * An input object literal: every field known to the type and given once;
 * fields whose variable has no value are left out, as if not given.
 */
static bool
coerce_object_literal(RtsyncInputContext *ctx, const RtsyncGqlValue *value,
					  const RtsyncInputType *type, RtsyncInputValue **result)
{
	RtsyncInputValue *object = rtsync_input_new_value(RTSYNC_VALUE_OBJECT, value->loc);
	bool		ok = true;
	bool	   *dups = rtsync_duplicate_names(value->fields,
											  offsetof(RtsyncGqlObjectField, name));
	ListCell   *lc;

	foreach(lc, value->fields)
	{
		RtsyncGqlObjectField *f = lfirst(lc);
		RtsyncInputType *ftype;
		RtsyncInputValue *fvalue;
		RtsyncInputField *field;
		int			index;

		if (dups && dups[foreach_current_index(lc)])
		{
			rtsync_gql_error(ctx->sink, f->loc,
							 "There can be only one input field named \"%s\".", f->name);
			ok = false;
			continue;
		}
		ftype = rtsync_input_field_type(type, f->name, &index);
		if (ftype == NULL)
		{
			rtsync_gql_error(ctx->sink, f->loc,
							 "Field \"%s\" is not defined by type \"%s\".",
							 f->name, rtsync_input_type_string(type));
			ok = false;
			continue;
		}
		if (!rtsync_input_coerce_literal(ctx, f->value, ftype, &fvalue))
		{
			ok = false;
			continue;
		}
		if (fvalue == NULL)
			continue;			/* a variable without a value: no field */
		field = palloc(sizeof(RtsyncInputField));
		field->name = f->name;
		field->index = index;
		field->value = fvalue;
		field->loc = f->loc;
		object->fields = lappend(object->fields, field);
	}
	*result = object;
	return ok;
}

bool
rtsync_input_coerce_literal(RtsyncInputContext *ctx, const RtsyncGqlValue *value,
							const RtsyncInputType *type, RtsyncInputValue **result)
{
	RtsyncRawScalar	raw;

	*result = NULL;
	if (value->kind == RTSYNC_GQL_VARIABLE)
		return coerce_variable(ctx, value, type, result);
	if (value->kind == RTSYNC_GQL_NULL)
	{
		if (type->non_null)
		{
			literal_error(ctx, value, type);
			return false;
		}
		*result = rtsync_input_new_value(RTSYNC_VALUE_NULL, value->loc);
		return true;
	}
	switch (type->kind)
	{
		case RTSYNC_INPUT_LIST:
			{
				RtsyncInputValue *list = rtsync_input_new_value(RTSYNC_VALUE_LIST, value->loc);
				List	   *items = value->kind == RTSYNC_GQL_LIST ? value->items :
					list_make1((void *) value);
				bool		ok = true;
				ListCell   *lc;

				foreach(lc, items)
				{
					RtsyncGqlValue *item = lfirst(lc);
					RtsyncInputValue *coerced;

					if (!rtsync_input_coerce_literal(ctx, item, type->item, &coerced))
						ok = false;
					else
						list->items = lappend(list->items, coerced ? coerced :
											  rtsync_input_new_value(RTSYNC_VALUE_NULL, item->loc));
				}
				*result = list;
				return ok;
			}
		case RTSYNC_INPUT_FILTER:
		case RTSYNC_INPUT_CONDITION:
			if (value->kind == RTSYNC_GQL_OBJECT)
				return coerce_object_literal(ctx, value, type, result);
			break;
		case RTSYNC_INPUT_MUTATION:
			if (value->kind == RTSYNC_GQL_OBJECT)
			{
				bool		ok = coerce_object_literal(ctx, value, type, result);

				/* fields given by variables without values count as missing */
				if (ok && ctx->substitute)
					ok = rtsync_input_check_required(ctx->sink, type, *result, NULL);
				return ok;
			}
			break;
		case RTSYNC_INPUT_SCALAR:
			raw.text = value->str;
			raw.boolean = value->boolean;
			raw.kind = value->kind == RTSYNC_GQL_INT ? RTSYNC_RAW_INT :
				value->kind == RTSYNC_GQL_FLOAT ? RTSYNC_RAW_FLOAT :
				value->kind == RTSYNC_GQL_STRING ? RTSYNC_RAW_STRING :
				value->kind == RTSYNC_GQL_BOOLEAN ? RTSYNC_RAW_BOOLEAN : RTSYNC_RAW_OTHER;
			*result = rtsync_input_coerce_scalar(type->scalar, &raw, value->loc);
			if (*result != NULL)
				return true;
			break;
	}
	literal_error(ctx, value, type);
	return false;
}
