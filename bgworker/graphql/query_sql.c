/*-------------------------------------------------------------------------
 *
 * graphql/query_sql.c
 *	  SQL statements for getT, listTs, createT, updateT and deleteT.
 *
 * Output values are JSON computed by PostgreSQL, shaped as the GraphQL
 * types of graphql/schema.h and as subscriptions deliver them: Int, Float, Boolean
 * and String with to_json; BigInt, BigFloat and AWSJSON as strings;
 * timestamptz in UTC with a "Z", as the output plugin writes it.
 *
 * Filters (Model<T>FilterInput) become WHERE clauses with the operators'
 * AppSync meanings: ne, notContains and notIn also match a null (absent)
 * value; between takes exactly two values; and/or/not combine.
 *
 * Parameters are untyped: PostgreSQL infers each from the column it is
 * compared with or assigned to, so no type names appear in the SQL.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"

#include "graphql/filter_ops.h"
#include "graphql/query_sql.h"

void
rtsync_sql_begin(RtsyncSqlBuilder *b, RtsyncSchemaTable *table, RtsyncErrorSink *sink)
{
	b->table = table;
	initStringInfo(&b->select);
	b->ncols = 0;
	b->col_of = palloc(Max(table->ncolumns, 1) * sizeof(int));
	for (int i = 0; i < table->ncolumns; i++)
		b->col_of[i] = -1;
	b->params = NIL;
	b->sink = sink;
}

static const char *
column_ref(RtsyncSqlBuilder *b, int column)
{
	return psprintf("t.%s", quote_identifier(b->table->columns[column].name));
}

static int
add_output(RtsyncSqlBuilder *b, const char *expr)
{
	if (b->ncols > 0)
		appendStringInfoString(&b->select, ", ");
	appendStringInfoString(&b->select, expr);
	return b->ncols++;
}

int
rtsync_sql_output(RtsyncSqlBuilder *b, int column)
{
	const RtsyncSchemaColumn *col = &b->table->columns[column];
	const char *ref = column_ref(b, column);
	const char *expr;

	if (b->col_of[column] >= 0)
		return b->col_of[column];
	switch (col->scalar)
	{
		case RTSYNC_SCALAR_BIGINT:
		case RTSYNC_SCALAR_BIGFLOAT:
		case RTSYNC_SCALAR_AWSJSON:
			expr = psprintf("pg_catalog.to_json(%s::pg_catalog.text%s)", ref,
							col->is_list ? "[]" : "");
			break;
		case RTSYNC_SCALAR_AWSDATETIME:
			if (col->pg_type == TIMESTAMPTZOID && !col->is_list)
			{
				expr = psprintf("pg_catalog.to_json((pg_catalog.to_json(pg_catalog.timezone('UTC', %s)) OPERATOR(pg_catalog.#>>) '{}') OPERATOR(pg_catalog.||) 'Z')", ref);
				break;
			}
			/* FALLTHROUGH */
		default:
			expr = psprintf("pg_catalog.to_json(%s)", ref);
			break;
	}
	b->col_of[column] = add_output(b, expr);
	return b->col_of[column];
}

int
rtsync_sql_output_text(RtsyncSqlBuilder *b, int column)
{
	return add_output(b, psprintf("%s::pg_catalog.text", column_ref(b, column)));
}

/* An array literal's element: double-quoted, with \ and " escaped */
static void
append_array_element(StringInfo out, const RtsyncInputValue *v)
{
	const char *s;
	char	   *num = NULL;

	if (v->kind == RTSYNC_VALUE_NULL)
	{
		appendStringInfoString(out, "NULL");
		return;
	}
	if (v->kind == RTSYNC_VALUE_NUMBER)
		s = num = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->num)));
	else if (v->kind == RTSYNC_VALUE_BOOLEAN)
		s = v->boolean ? "true" : "false";
	else
		s = v->str;
	appendStringInfoChar(out, '"');
	for (; *s; s++)
	{
		if (*s == '"' || *s == '\\')
			appendStringInfoChar(out, '\\');
		appendStringInfoChar(out, *s);
	}
	appendStringInfoChar(out, '"');
	if (num)
		pfree(num);
}

/* A coerced value as a parameter's text; NULL for null. */
static char *
param_text(const RtsyncInputValue *v)
{
	StringInfoData buf;
	ListCell   *lc;

	switch (v->kind)
	{
		case RTSYNC_VALUE_NULL:
			return NULL;
		case RTSYNC_VALUE_BOOLEAN:
			return pstrdup(v->boolean ? "true" : "false");
		case RTSYNC_VALUE_NUMBER:
			return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->num)));
		case RTSYNC_VALUE_STRING:
			return pstrdup(v->str);
		case RTSYNC_VALUE_LIST:
			initStringInfo(&buf);
			appendStringInfoChar(&buf, '{');
			foreach(lc, v->items)
			{
				if (lc != list_head(v->items))
					appendStringInfoChar(&buf, ',');
				append_array_element(&buf, lfirst(lc));
			}
			appendStringInfoChar(&buf, '}');
			return buf.data;
		case RTSYNC_VALUE_OBJECT:
			break;
	}
	elog(ERROR, "unexpected input value kind %d", (int) v->kind);
	return NULL;
}

char *
rtsync_sql_param_text(RtsyncSqlBuilder *b, const char *text)
{
	b->params = lappend(b->params, text ? pstrdup(text) : NULL);
	return psprintf("$%d", list_length(b->params));
}

char *
rtsync_sql_param(RtsyncSqlBuilder *b, const RtsyncInputValue *value)
{
	b->params = lappend(b->params, param_text(value));
	return psprintf("$%d", list_length(b->params));
}

/* ------------------------------------------------------------------------
 * Filters
 * ------------------------------------------------------------------------
 */

static void append_filter(RtsyncSqlBuilder *b, const RtsyncInputValue *filter,
						  StringInfo out);

/* The column as text for string operators: as the client sees it. */
static char *
text_form(RtsyncSqlBuilder *b, int column)
{
	const RtsyncSchemaColumn *col = &b->table->columns[column];
	const char *ref = column_ref(b, column);

	switch (col->scalar)
	{
		case RTSYNC_SCALAR_AWSDATETIME:
		case RTSYNC_SCALAR_AWSDATE:
		case RTSYNC_SCALAR_AWSTIME:
			return psprintf("(pg_catalog.to_json(%s) OPERATOR(pg_catalog.#>>) '{}')", ref);
		default:
			return psprintf("%s::pg_catalog.text", ref);
	}
}

static void
append_condition(RtsyncSqlBuilder *b, int column, RtsyncFilterOp op,
				 const RtsyncInputValue *value, StringInfo out)
{
	const RtsyncSchemaColumn *col = &b->table->columns[column];
	const char *ref = column_ref(b, column);
	bool		json = col->pg_type == JSONOID && !col->is_list;
	const char *lhs = json ? psprintf("%s::pg_catalog.jsonb", ref) : ref;
	static const char *const comparisons[] = {
		[RTSYNC_OP_EQ] = "=",[RTSYNC_OP_LE] = "<=",[RTSYNC_OP_LT] = "<",
		[RTSYNC_OP_GE] = ">=",[RTSYNC_OP_GT] = ">"
	};

	if (value->kind == RTSYNC_VALUE_NULL && op != RTSYNC_OP_ATTRIBUTE_EXISTS)
	{
		/* eq: null compares like an absent attribute; other ops match nothing */
		appendStringInfo(out, op == RTSYNC_OP_EQ ? "%s IS NULL" :
						 op == RTSYNC_OP_NE ? "%s IS NOT NULL" : "(false AND %s IS NULL)", ref);
		return;
	}
	switch (op)
	{
		case RTSYNC_OP_EQ:
		case RTSYNC_OP_LE:
		case RTSYNC_OP_LT:
		case RTSYNC_OP_GE:
		case RTSYNC_OP_GT:
			appendStringInfo(out, "%s OPERATOR(pg_catalog.%s) %s%s", lhs, comparisons[op],
							 rtsync_sql_param(b, value), json ? "::pg_catalog.jsonb" : "");
			break;
		case RTSYNC_OP_NE:
			appendStringInfo(out, "%s IS DISTINCT FROM %s%s", lhs, rtsync_sql_param(b, value),
							 json ? "::pg_catalog.jsonb" : "");
			break;
		case RTSYNC_OP_CONTAINS:
		case RTSYNC_OP_NOT_CONTAINS:
			appendStringInfoString(out, op == RTSYNC_OP_NOT_CONTAINS ?
								   "NOT COALESCE(" : "(");
			if (col->is_list)
				appendStringInfo(out, "%s OPERATOR(pg_catalog.=) ANY (%s)",
								 rtsync_sql_param(b, value), ref);
			else
				appendStringInfo(out, "pg_catalog.strpos(%s, %s::pg_catalog.text) OPERATOR(pg_catalog.>) 0",
								 text_form(b, column), rtsync_sql_param(b, value));
			appendStringInfoString(out, op == RTSYNC_OP_NOT_CONTAINS ? ", false)" : ")");
			break;
		case RTSYNC_OP_BEGINS_WITH:
			appendStringInfo(out, "pg_catalog.starts_with(%s, %s::pg_catalog.text)",
							 text_form(b, column), rtsync_sql_param(b, value));
			break;
		case RTSYNC_OP_BETWEEN:
			if (list_length(value->items) != 2)
			{
				rtsync_gql_error(b->sink, value->loc,
								 "between takes exactly two values, the lower and the upper bound.");
				appendStringInfoString(out, "false");
				break;
			}
			appendStringInfo(out, "%s BETWEEN %s AND %s", ref,
							 rtsync_sql_param(b, linitial(value->items)),
							 rtsync_sql_param(b, lsecond(value->items)));
			break;
		case RTSYNC_OP_IN:
			appendStringInfo(out, "%s OPERATOR(pg_catalog.=) ANY (%s)", ref,
							 rtsync_sql_param(b, value));
			break;
		case RTSYNC_OP_NOT_IN:
			appendStringInfo(out, "NOT COALESCE(%s OPERATOR(pg_catalog.=) ANY (%s), false)",
							 ref, rtsync_sql_param(b, value));
			break;
		case RTSYNC_OP_ATTRIBUTE_EXISTS:
			appendStringInfo(out, "%s IS %sNULL", ref,
							 value->kind == RTSYNC_VALUE_BOOLEAN && !value->boolean ? "" : "NOT ");
			break;
	}
}

/* A list of filter objects (and/or), joined with sep. */
static void
append_filter_list(RtsyncSqlBuilder *b, const RtsyncInputValue *list, const char *sep,
				   StringInfo out)
{
	ListCell   *lc;

	if (list->kind != RTSYNC_VALUE_LIST || list->items == NIL)
	{
		appendStringInfoString(out, strcmp(sep, " AND ") == 0 ? "true" : "false");
		return;
	}
	appendStringInfoChar(out, '(');
	foreach(lc, list->items)
	{
		if (lc != list_head(list->items))
			appendStringInfoString(out, sep);
		append_filter(b, lfirst(lc), out);
	}
	appendStringInfoChar(out, ')');
}

/* A filter object: the AND of its fields; null or {} is true. */
static void
append_filter(RtsyncSqlBuilder *b, const RtsyncInputValue *filter, StringInfo out)
{
	bool		first = true;
	ListCell   *lc;

	if (filter == NULL || filter->kind != RTSYNC_VALUE_OBJECT || filter->fields == NIL)
	{
		appendStringInfoString(out, "true");
		return;
	}
	appendStringInfoChar(out, '(');
	foreach(lc, filter->fields)
	{
		RtsyncInputField *f = lfirst(lc);

		if (!first)
			appendStringInfoString(out, " AND ");
		first = false;
		if (f->index == RTSYNC_FIELD_AND)
			append_filter_list(b, f->value, " AND ", out);
		else if (f->index == RTSYNC_FIELD_OR)
			append_filter_list(b, f->value, " OR ", out);
		else if (f->index == RTSYNC_FIELD_NOT)
		{
			appendStringInfoString(out, "NOT COALESCE(");
			append_filter(b, f->value, out);
			appendStringInfoString(out, ", false)");
		}
		else if (f->value->kind != RTSYNC_VALUE_OBJECT || f->value->fields == NIL)
			appendStringInfoString(out, "true");
		else
		{
			ListCell   *oc;

			/* a column's condition object: the AND of its operators */
			appendStringInfoChar(out, '(');
			foreach(oc, f->value->fields)
			{
				RtsyncInputField *o = lfirst(oc);

				if (oc != list_head(f->value->fields))
					appendStringInfoString(out, " AND ");
				append_condition(b, f->index, (RtsyncFilterOp) o->index, o->value, out);
			}
			appendStringInfoChar(out, ')');
		}
	}
	appendStringInfoChar(out, ')');
}

/* ------------------------------------------------------------------------
 * Statements
 * ------------------------------------------------------------------------
 */

/* The select list; an empty one (only __typename selected) gets a NULL */
static const char *
select_list(RtsyncSqlBuilder *b)
{
	if (b->ncols == 0)
		add_output(b, "NULL");
	return b->select.data;
}

/* WHERE conditions on the key from a mutation input or get's arguments */
static void
append_key_match(RtsyncSqlBuilder *b, List *fields, StringInfo out)
{
	ListCell   *lc;
	bool		first = true;

	foreach(lc, fields)
	{
		RtsyncInputField *f = lfirst(lc);

		if (f->index < 0 || !b->table->columns[f->index].is_key)
			continue;
		appendStringInfo(out, "%s%s OPERATOR(pg_catalog.=) %s", first ? "" : " AND ",
						 column_ref(b, f->index), rtsync_sql_param(b, f->value));
		first = false;
	}
	if (first)
		appendStringInfoString(out, "false");
}

char *
rtsync_sql_get(RtsyncSqlBuilder *b, List *key_args)
{
	StringInfoData where;

	initStringInfo(&where);
	append_key_match(b, key_args, &where);
	return psprintf("SELECT %s FROM %s AS t WHERE %s", select_list(b), b->table->sql_name,
					where.data);
}

char *
rtsync_sql_list(RtsyncSqlBuilder *b, const RtsyncInputValue *filter, char **after,
				int limit)
{
	StringInfoData sql;
	StringInfoData keys;
	StringInfoData where;
	int			nkeys = 0;

	/* the key columns: the page's order, and the cursor's row comparison */
	initStringInfo(&keys);
	for (int i = 0; i < b->table->ncolumns; i++)
	{
		if (b->table->columns[i].is_key)
			appendStringInfo(&keys, "%s%s", nkeys++ ? ", " : "", column_ref(b, i));
	}
	initStringInfo(&where);
	append_filter(b, filter, &where);
	if (after)
	{
		appendStringInfo(&where, " AND ROW(%s) OPERATOR(pg_catalog.>) ROW(", keys.data);
		for (int k = 0; k < nkeys; k++)
			appendStringInfo(&where, "%s%s", k ? ", " : "", rtsync_sql_param_text(b, after[k]));
		appendStringInfoChar(&where, ')');
	}
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT %s FROM %s AS t WHERE %s", select_list(b),
					 b->table->sql_name, where.data);
	if (nkeys > 0)
		appendStringInfo(&sql, " ORDER BY %s", keys.data);
	appendStringInfo(&sql, " LIMIT %d", limit + 1);
	return sql.data;
}

char *
rtsync_sql_create(RtsyncSqlBuilder *b, const RtsyncInputValue *input)
{
	StringInfoData cols;
	StringInfoData vals;
	ListCell   *lc;
	int			n = 0;

	initStringInfo(&cols);
	initStringInfo(&vals);
	foreach(lc, input->fields)
	{
		RtsyncInputField *f = lfirst(lc);

		if (f->index < 0)
			continue;
		appendStringInfo(&cols, "%s%s", n ? ", " : "",
						 quote_identifier(b->table->columns[f->index].name));
		appendStringInfo(&vals, "%s%s", n ? ", " : "", rtsync_sql_param(b, f->value));
		n++;
	}
	if (b->table->version_column >= 0)
	{
		appendStringInfo(&cols, "%s%s", n ? ", " : "",
						 quote_identifier(b->table->columns[b->table->version_column].name));
		appendStringInfo(&vals, "%s1", n ? ", " : "");
		n++;
	}
	if (n == 0)
		return psprintf("INSERT INTO %s AS t DEFAULT VALUES RETURNING %s",
						b->table->sql_name, select_list(b));
	return psprintf("INSERT INTO %s AS t (%s) VALUES (%s) RETURNING %s",
					b->table->sql_name, cols.data, vals.data, select_list(b));
}

/* expectedVersion's check, which raises ConflictUnhandled (see the SQL) */
static void
append_version_check(RtsyncSqlBuilder *b, const RtsyncInputValue *input, StringInfo where)
{
	ListCell   *lc;

	foreach(lc, input->fields)
	{
		RtsyncInputField *f = lfirst(lc);

		if (f->index == RTSYNC_FIELD_EXPECTED_VERSION && f->value->kind != RTSYNC_VALUE_NULL)
			appendStringInfo(where, " AND rtsync._check_version(%s::pg_catalog.int8, %s)",
							 column_ref(b, b->table->version_column),
							 rtsync_sql_param(b, f->value));
	}
}

char *
rtsync_sql_update(RtsyncSqlBuilder *b, const RtsyncInputValue *input)
{
	StringInfoData set;
	StringInfoData where;
	ListCell   *lc;
	int			n = 0;

	initStringInfo(&set);
	initStringInfo(&where);
	foreach(lc, input->fields)
	{
		RtsyncInputField *f = lfirst(lc);

		if (f->index < 0 || b->table->columns[f->index].is_key)
			continue;
		appendStringInfo(&set, "%s%s = %s", n++ ? ", " : "",
						 quote_identifier(b->table->columns[f->index].name),
						 rtsync_sql_param(b, f->value));
	}
	if (b->table->version_column >= 0)
	{
		const char *v = quote_identifier(b->table->columns[b->table->version_column].name);

		appendStringInfo(&set, "%s%s = t.%s OPERATOR(pg_catalog.+) 1", n++ ? ", " : "", v, v);
	}
	append_key_match(b, input->fields, &where);
	if (n == 0)
	{
		/* nothing to change: a no-op update still returns (and locks) the row */
		for (int i = 0; i < b->table->ncolumns && n == 0; i++)
		{
			if (b->table->columns[i].is_key)
			{
				const char *k = quote_identifier(b->table->columns[i].name);

				appendStringInfo(&set, "%s = t.%s", k, k);
				n++;
			}
		}
	}
	if (b->table->version_column >= 0)
		append_version_check(b, input, &where);
	return psprintf("UPDATE %s AS t SET %s WHERE %s RETURNING %s", b->table->sql_name,
					set.data, where.data, select_list(b));
}

char *
rtsync_sql_delete(RtsyncSqlBuilder *b, const RtsyncInputValue *input)
{
	StringInfoData where;

	initStringInfo(&where);
	append_key_match(b, input->fields, &where);
	if (b->table->version_column >= 0)
		append_version_check(b, input, &where);
	return psprintf("DELETE FROM %s AS t WHERE %s RETURNING %s", b->table->sql_name,
					where.data, select_list(b));
}
