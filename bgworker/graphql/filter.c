/*-------------------------------------------------------------------------
 *
 * graphql/filter.c
 *	  Subscription filters: compiled from a subscription's filter argument
 *	  and basic (argument) filters, evaluated on each record's image.
 *
 * Semantics, AppSync's where it documents them, ours where it does not:
 *	- The keys of one filter object are AND-ed, and so are the operators
 *	  given for one column; "and" needs every filter of its list, "or" any.
 *	  Basic filtering arguments (onCreateT(title: "x")) are "eq" conditions
 *	  AND-ed with the filter argument.
 *	- null means "no condition": filter: null, {title: null},
 *	  {title: {eq: null}}, and: null, or: null, and an empty "and" or "or"
 *	  list, all impose nothing (as AppSync treats null arguments). A null
 *	  inside an in/notIn/between list equals nothing.
 *	- A column that is absent from the image (a delete that only carries
 *	  Keys, an OmittedColumns column) or null there fails every operator but
 *	  ne, notIn and notContains (which hold) and attributeExists: false (which
 *	  holds: attributeExists is "present and not null", since a GraphQL
 *	  payload cannot tell an absent field from a null one).
 *	- Numbers (Int, Float, BigInt, BigFloat) compare exactly as numeric
 *	  (BigFloat's NaN equals NaN and sorts last, as in PostgreSQL; a Float
 *	  column's NaN and infinities are no GraphQL Floats and count as null, as
 *	  they are projected); everything else that orders (String, ID, AWSDate,
 *	  AWSDateTime, AWSTime) compares as UTF-8 bytes, i.e. by code point
 *	  (lexicographically, as AppSync). Boolean and AWSJSON only test
 *	  equality; AWSJSON equality is jsonb equality of the parsed constant and
 *	  the column's JSON. beginsWith, contains and notContains take any
 *	  String on the date and time types (a prefix is no date).
 *	- contains/notContains: substring on strings, element equality on list
 *	  columns (whose operators take the element type); on other scalars
 *	  contains never holds. On a list column, operators other than these and
 *	  attributeExists compare a list with a scalar: only ne and notIn hold.
 *	- Limits: the filter, with "and" distributed over "or", must be an OR of
 *	  at most 10 groups of at most 5 conditions each (AppSync's filterGroup
 *	  and filters limits); in/notIn take at most 5 values, between exactly 2;
 *	  and/or nest at most 5 levels. Basic filtering arguments do not count.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/numeric.h"

#include "graphql/filter.h"

typedef struct FilterConst
{
	bool		isnull;
	bool		boolean;
	Numeric		num;
	char	   *str;
	int			len;
	Jsonb	   *json;
	char	   *key;			/* canonical index key text, or NULL */
} FilterConst;

typedef struct FilterCond
{
	RtsyncFilterOp op;
	int			column;
	const RtsyncSchemaColumn *col;
	int			namelen;
	int			nconsts;
	FilterConst *consts;
} FilterCond;

typedef struct FilterGroup
{
	int			nconds;
	FilterCond **conds;
} FilterGroup;

struct RtsyncFilter
{
	int			ngroups;
	FilterGroup *groups;
};

typedef struct Compiler
{
	RtsyncSchemaTable *table;
	RtsyncErrorSink *sink;
	MemoryContext cxt;
	bool		failed;
} Compiler;

/* ------------------------------------------------------------------------
 * Compilation
 * ------------------------------------------------------------------------
 */

/* A coerced value as a constant, in c->cxt, with its index key text. */
static void
make_const(Compiler *c, const RtsyncSchemaColumn *col, const RtsyncInputValue *v,
		   FilterConst *k)
{
	MemoryContext old = MemoryContextSwitchTo(c->cxt);

	memset(k, 0, sizeof(FilterConst));
	switch (v->kind)
	{
		case RTSYNC_VALUE_NUMBER:
			k->num = palloc(VARSIZE(v->num));
			memcpy(k->num, v->num, VARSIZE(v->num));
			k->key = numeric_normalize(k->num);
			break;
		case RTSYNC_VALUE_STRING:
			k->str = pstrdup(v->str);
			k->len = strlen(v->str);
			if (v->json != NULL)
			{
				k->json = palloc(VARSIZE(v->json));
				memcpy(k->json, v->json, VARSIZE(v->json));
			}
			else
				k->key = k->str;
			break;
		case RTSYNC_VALUE_BOOLEAN:
			k->boolean = v->boolean;
			k->key = v->boolean ? "true" : "false";
			break;
		default:
			k->isnull = true;
			break;
	}
	if (col->scalar == RTSYNC_SCALAR_AWSJSON)
		k->key = NULL;
	MemoryContextSwitchTo(old);
}

static FilterCond *
new_cond(Compiler *c, int column, RtsyncFilterOp op, int nconsts)
{
	FilterCond *cond = MemoryContextAllocZero(c->cxt, sizeof(FilterCond));

	cond->op = op;
	cond->column = column;
	cond->col = &c->table->columns[column];
	cond->namelen = strlen(cond->col->name);
	cond->nconsts = nconsts;
	cond->consts = MemoryContextAllocZero(c->cxt, Max(nconsts, 1) * sizeof(FilterConst));
	return cond;
}

/* One operator of a column's condition input; NULL when it imposes nothing. */
static FilterCond *
make_cond(Compiler *c, int column, const RtsyncInputField *opfield)
{
	const RtsyncInputValue *v = opfield->value;
	RtsyncFilterOp op = (RtsyncFilterOp) opfield->index;
	const RtsyncSchemaColumn *col = &c->table->columns[column];
	FilterCond *cond;
	int			n;
	int			i = 0;
	ListCell   *lc;

	if (v->kind == RTSYNC_VALUE_NULL)
		return NULL;
	if (rtsync_filter_op_value(op) != RTSYNC_OPVALUE_LIST)
	{
		cond = new_cond(c, column, op, 1);
		make_const(c, col, v, &cond->consts[0]);
		return cond;
	}
	n = list_length(v->items);
	if (op == RTSYNC_OP_BETWEEN && n != 2)
	{
		rtsync_gql_error(c->sink, opfield->loc,
						 "\"between\" takes exactly 2 values, found %d.", n);
		c->failed = true;
		return NULL;
	}
	if (n > RTSYNC_FILTER_MAX_IN)
	{
		rtsync_gql_error(c->sink, opfield->loc,
						 "\"%s\" takes at most %d values, found %d.",
						 rtsync_filter_op_name(op), RTSYNC_FILTER_MAX_IN, n);
		c->failed = true;
		return NULL;
	}
	cond = new_cond(c, column, op, n);
	foreach(lc, v->items)
		make_const(c, col, lfirst(lc), &cond->consts[i++]);
	return cond;
}

/*
 * The AND of two filters in disjunctive normal form (Lists of groups, each
 * a List of conditions): every group of a with every group of b.
 */
static List *
product(Compiler *c, List *a, List *b, RtsyncGqlLocation loc)
{
	List	   *result = NIL;
	ListCell   *la;
	ListCell   *lb;

	if (c->failed)
		return a;
	if (list_length(a) * list_length(b) > RTSYNC_FILTER_MAX_GROUPS)
	{
		rtsync_gql_error(c->sink, loc,
						 "Filter has too many alternatives: at most %d are allowed, counting each \"or\" branch once \"and\" is distributed over \"or\".",
						 RTSYNC_FILTER_MAX_GROUPS);
		c->failed = true;
		return a;
	}
	foreach(la, a)
	{
		foreach(lb, b)
		{
			List	   *group = list_concat_copy(lfirst(la), lfirst(lb));

			if (list_length(group) > RTSYNC_FILTER_MAX_CONDITIONS)
			{
				rtsync_gql_error(c->sink, loc,
								 "Filter has too many conditions: at most %d may have to hold together.",
								 RTSYNC_FILTER_MAX_CONDITIONS);
				c->failed = true;
				return a;
			}
			result = lappend(result, group);
		}
	}
	return result;
}

/* A filter input object in disjunctive normal form. */
static List *
compile_object(Compiler *c, const RtsyncInputValue *obj, int depth)
{
	List	   *dnf = list_make1(NIL);
	ListCell   *lc;

	if (depth > RTSYNC_FILTER_MAX_DEPTH)
	{
		rtsync_gql_error(c->sink, obj->loc,
						 "Filter is nested too deeply: \"and\" and \"or\" may nest at most %d levels.",
						 RTSYNC_FILTER_MAX_DEPTH);
		c->failed = true;
		return dnf;
	}
	foreach(lc, obj->fields)
	{
		RtsyncInputField *f = lfirst(lc);
		List	   *alternatives = NIL;
		ListCell   *li;

		if (f->value->kind == RTSYNC_VALUE_NULL)
			continue;
		if (f->index == RTSYNC_FIELD_AND || f->index == RTSYNC_FIELD_OR)
		{
			foreach(li, f->value->items)
			{
				RtsyncInputValue *item = lfirst(li);
				List	   *sub;

				if (item->kind == RTSYNC_VALUE_NULL)
					continue;
				sub = compile_object(c, item, depth + 1);
				if (f->index == RTSYNC_FIELD_AND)
					dnf = product(c, dnf, sub, item->loc);
				else
					alternatives = list_concat(alternatives, sub);
				if (list_length(alternatives) > RTSYNC_FILTER_MAX_GROUPS)
					dnf = product(c, dnf, alternatives, f->loc);	/* fails */
				if (c->failed)
					return dnf;
			}
			if (alternatives != NIL)
				dnf = product(c, dnf, alternatives, f->loc);
		}
		else
		{
			foreach(li, f->value->fields)
			{
				FilterCond *cond = make_cond(c, f->index, lfirst(li));

				if (cond != NULL)
					dnf = product(c, dnf, list_make1(list_make1(cond)),
								  ((RtsyncInputField *) lfirst(li))->loc);
			}
		}
		if (c->failed)
			return dnf;
	}
	return dnf;
}

/*
 * See graphql/filter.h. The DNF is built as Lists in the current (scratch) context;
 * conditions, constants and the final arrays go to cxt.
 */
RtsyncFilter *
rtsync_filter_compile(RtsyncSchemaTable *table, RtsyncInputValue *filter,
					  List *equalities, RtsyncErrorSink *sink, MemoryContext cxt)
{
	Compiler	c = {table, sink, cxt, false};
	List	   *dnf = list_make1(NIL);
	RtsyncFilter *result;
	ListCell   *lc;
	int			g = 0;

	if (filter != NULL && filter->kind == RTSYNC_VALUE_OBJECT)
		dnf = compile_object(&c, filter, 1);
	if (c.failed)
		return NULL;
	foreach(lc, equalities)
	{
		RtsyncInputField *eq = lfirst(lc);
		FilterCond *cond;
		ListCell   *lg;

		if (eq->value->kind == RTSYNC_VALUE_NULL)
			continue;
		cond = new_cond(&c, eq->index, RTSYNC_OP_EQ, 1);
		make_const(&c, cond->col, eq->value, &cond->consts[0]);
		foreach(lg, dnf)
			lfirst(lg) = lappend(lfirst(lg), cond);
	}
	if (list_length(dnf) == 1 && linitial(dnf) == NIL)
		return NULL;

	result = MemoryContextAlloc(cxt, sizeof(RtsyncFilter));
	result->ngroups = list_length(dnf);
	result->groups = MemoryContextAlloc(cxt, result->ngroups * sizeof(FilterGroup));
	foreach(lc, dnf)
	{
		List	   *conds = lfirst(lc);
		FilterGroup *group = &result->groups[g++];
		int			i = 0;
		ListCell   *li;

		group->nconds = list_length(conds);
		group->conds = MemoryContextAlloc(cxt, Max(group->nconds, 1) * sizeof(FilterCond *));
		foreach(li, conds)
			group->conds[i++] = lfirst(li);
	}
	return result;
}

/* ------------------------------------------------------------------------
 * Evaluation
 * ------------------------------------------------------------------------
 */

/* The text of a scalar image value, compared as a string. */
static bool
value_text(const JsonbValue *v, const char **s, int *len, char **alloc)
{
	*alloc = NULL;
	switch (v->type)
	{
		case jbvString:
			*s = v->val.string.val;
			*len = v->val.string.len;
			return true;
		case jbvNumeric:		/* e.g. an oid column, a String */
			*alloc = DatumGetCString(DirectFunctionCall1(numeric_out,
														 NumericGetDatum(v->val.numeric)));
			*s = *alloc;
			*len = strlen(*alloc);
			return true;
		case jbvBool:
			*s = v->val.boolean ? "true" : "false";
			*len = strlen(*s);
			return true;
		default:
			return false;
	}
}

static int
bytes_cmp(const char *a, int alen, const char *b, int blen)
{
	int			r = memcmp(a, b, Min(alen, blen));

	if (r != 0)
		return r;
	return (alen > blen) - (alen < blen);
}

/* jsonb equality of an image value and a constant's JSON */
static bool
json_equal(const JsonbValue *v, Jsonb *json)
{
	JsonbValue	s;

	if (!JB_ROOT_IS_SCALAR(json))
		return v->type == jbvBinary &&
			compareJsonbContainers(&json->root, v->val.binary.data) == 0;
	JsonbExtractScalar(&json->root, &s);
	if (v->type != s.type)
		return false;
	switch (s.type)
	{
		case jbvString:
			return bytes_cmp(v->val.string.val, v->val.string.len,
							 s.val.string.val, s.val.string.len) == 0;
		case jbvNumeric:
			return DatumGetInt32(DirectFunctionCall2(numeric_cmp,
													 NumericGetDatum(v->val.numeric),
													 NumericGetDatum(s.val.numeric))) == 0;
		case jbvBool:
			return v->val.boolean == s.val.boolean;
		default:
			return true;
	}
}

/*
 * Compares a (non-null, scalar) image value with a constant under the
 * scalar's rules: *cmp < 0, 0, > 0. False when they cannot be compared (a
 * null constant, a value of another type); then only ne-like operators hold.
 */
static bool
scalar_cmp(RtsyncGqlScalar scalar, const JsonbValue *v, const FilterConst *k, int *cmp)
{
	const char *s;
	int			len;
	char	   *alloc;

	if (k->isnull)
		return false;
	if (rtsync_filter_scalar_numeric(scalar))
	{
		Numeric		n = NULL;

		if (v->type == jbvNumeric)
			n = v->val.numeric;
		else if (v->type == jbvString && scalar != RTSYNC_SCALAR_FLOAT)
			n = rtsync_numeric_from_text(v->val.string.val, v->val.string.len);
		if (n == NULL)
			return false;
		*cmp = DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(n),
												 NumericGetDatum(k->num)));
		if (v->type == jbvString)
			pfree(n);
		return true;
	}
	if (scalar == RTSYNC_SCALAR_BOOLEAN)
	{
		if (v->type != jbvBool)
			return false;
		*cmp = (int) v->val.boolean - (int) k->boolean;
		return true;
	}
	if (scalar == RTSYNC_SCALAR_AWSJSON)
	{
		*cmp = json_equal(v, k->json) ? 0 : 1;
		return true;
	}
	if (!value_text(v, &s, &len, &alloc))
		return false;
	*cmp = bytes_cmp(s, len, k->str, k->len);
	if (alloc)
		pfree(alloc);
	return true;
}

static bool
equals(const FilterCond *c, const JsonbValue *v, const FilterConst *k)
{
	int			cmp;

	return scalar_cmp(c->col->scalar, v, k, &cmp) && cmp == 0;
}

/* contains: substring of a string, element of a list */
static bool
contains(const FilterCond *c, const JsonbValue *v)
{
	const FilterConst *k = &c->consts[0];

	if (k->isnull)
		return false;
	if (c->col->is_list)
	{
		JsonbIterator *it;
		JsonbValue	elem;
		JsonbIteratorToken tok;
		bool		found = false;

		if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
			return false;
		it = JsonbIteratorInit(v->val.binary.data);
		while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
		{
			if (tok == WJB_ELEM && !found && elem.type != jbvNull)
				found = equals(c, &elem, k);
		}
		return found;
	}
	if (rtsync_filter_scalar_string(c->col->scalar))
	{
		const char *s;
		int			len;
		char	   *alloc;
		bool		found = false;

		if (!value_text(v, &s, &len, &alloc))
			return false;
		for (int i = 0; i + k->len <= len && !found; i++)
			found = memcmp(s + i, k->str, k->len) == 0;
		if (alloc)
			pfree(alloc);
		return found;
	}
	return false;
}

static bool
begins_with(const FilterCond *c, const JsonbValue *v)
{
	const FilterConst *k = &c->consts[0];
	const char *s;
	int			len;
	char	   *alloc;
	bool		result;

	if (k->isnull || !value_text(v, &s, &len, &alloc))
		return false;
	result = len >= k->len && memcmp(s, k->str, k->len) == 0;
	if (alloc)
		pfree(alloc);
	return result;
}

/* Does one condition hold for the image? (see the banner for absent values) */
static bool
cond_match(const FilterCond *c, JsonbContainer *image)
{
	JsonbValue	v;
	bool		present;
	int			cmp;
	int			cmp2;

	present = image != NULL &&
		getKeyJsonValueFromContainer(image, c->col->name, c->namelen, &v) != NULL &&
		v.type != jbvNull;
	/* NaN and infinities (strings in images) are no Floats: null, as projected */
	if (present && c->col->scalar == RTSYNC_SCALAR_FLOAT && !c->col->is_list)
		present = v.type == jbvNumeric;
	switch (c->op)
	{
		case RTSYNC_OP_ATTRIBUTE_EXISTS:
			return present == c->consts[0].boolean;
		case RTSYNC_OP_CONTAINS:
			return present && contains(c, &v);
		case RTSYNC_OP_NOT_CONTAINS:
			return !present || !contains(c, &v);
		default:
			break;
	}
	if (!present || c->col->is_list)
		return c->op == RTSYNC_OP_NE || c->op == RTSYNC_OP_NOT_IN;

	switch (c->op)
	{
		case RTSYNC_OP_NE:
			return !equals(c, &v, &c->consts[0]);
		case RTSYNC_OP_EQ:
			return equals(c, &v, &c->consts[0]);
		case RTSYNC_OP_LE:
			return scalar_cmp(c->col->scalar, &v, &c->consts[0], &cmp) && cmp <= 0;
		case RTSYNC_OP_LT:
			return scalar_cmp(c->col->scalar, &v, &c->consts[0], &cmp) && cmp < 0;
		case RTSYNC_OP_GE:
			return scalar_cmp(c->col->scalar, &v, &c->consts[0], &cmp) && cmp >= 0;
		case RTSYNC_OP_GT:
			return scalar_cmp(c->col->scalar, &v, &c->consts[0], &cmp) && cmp > 0;
		case RTSYNC_OP_BETWEEN:
			return scalar_cmp(c->col->scalar, &v, &c->consts[0], &cmp) && cmp >= 0 &&
				scalar_cmp(c->col->scalar, &v, &c->consts[1], &cmp2) && cmp2 <= 0;
		case RTSYNC_OP_BEGINS_WITH:
			return begins_with(c, &v);
		case RTSYNC_OP_IN:
		case RTSYNC_OP_NOT_IN:
			for (int i = 0; i < c->nconsts; i++)
				if (equals(c, &v, &c->consts[i]))
					return c->op == RTSYNC_OP_IN;
			return c->op == RTSYNC_OP_NOT_IN;
		default:
			return false;
	}
}

bool
rtsync_filter_match(const RtsyncFilter *filter, JsonbContainer *image)
{
	if (filter == NULL)
		return true;
	for (int g = 0; g < filter->ngroups; g++)
	{
		const FilterGroup *group = &filter->groups[g];
		int			i;

		for (i = 0; i < group->nconds; i++)
			if (!cond_match(group->conds[i], image))
				break;
		if (i == group->nconds)
			return true;
	}
	return false;
}

/* See graphql/filter.h: for privilege checks, which need every column read. */
void
rtsync_filter_columns(const RtsyncFilter *filter, bool *used)
{
	if (filter == NULL)
		return;
	for (int g = 0; g < filter->ngroups; g++)
		for (int i = 0; i < filter->groups[g].nconds; i++)
			used[filter->groups[g].conds[i]->column] = true;
}

/* ------------------------------------------------------------------------
 * Index keys
 * ------------------------------------------------------------------------
 */

/* The key a condition pins its column to (eq, or in with one value). */
static const char *
pinned_key(const FilterCond *c)
{
	if (c->col->is_list || c->nconsts != 1 ||
		(c->op != RTSYNC_OP_EQ && c->op != RTSYNC_OP_IN))
		return NULL;
	return c->consts[0].key;
}

/*
 * See graphql/filter.h. Every group must pin the same column to the same key; key
 * columns are preferred, as the most selective.
 */
bool
rtsync_filter_index_key(const RtsyncFilter *filter, int *column, char **key)
{
	if (filter == NULL || filter->ngroups == 0)
		return false;
	for (int pass = 0; pass < 2; pass++)
	{
		const FilterGroup *first = &filter->groups[0];

		for (int i = 0; i < first->nconds; i++)
		{
			const FilterCond *c = first->conds[i];
			const char *k = pinned_key(c);
			bool		everywhere = true;

			if (k == NULL || c->col->is_key != (pass == 0))
				continue;
			for (int g = 1; g < filter->ngroups && everywhere; g++)
			{
				const FilterGroup *group = &filter->groups[g];
				bool		found = false;

				for (int j = 0; j < group->nconds && !found; j++)
				{
					const char *k2 = pinned_key(group->conds[j]);

					found = group->conds[j]->column == c->column && k2 && strcmp(k, k2) == 0;
				}
				everywhere = found;
			}
			if (everywhere)
			{
				*column = c->column;
				*key = pstrdup(k);
				return true;
			}
		}
	}
	return false;
}

char *
rtsync_image_index_key(JsonbContainer *image, const RtsyncSchemaColumn *column)
{
	JsonbValue	v;
	const char *s;
	int			len;
	char	   *alloc;

	if (image == NULL || column->is_list || column->scalar == RTSYNC_SCALAR_AWSJSON ||
		getKeyJsonValueFromContainer(image, column->name, strlen(column->name), &v) == NULL)
		return NULL;
	if (rtsync_filter_scalar_numeric(column->scalar))
	{
		Numeric		n;

		if (v.type == jbvNumeric)
			return numeric_normalize(v.val.numeric);
		if (v.type != jbvString || column->scalar == RTSYNC_SCALAR_FLOAT ||
			(n = rtsync_numeric_from_text(v.val.string.val, v.val.string.len)) == NULL)
			return NULL;
		return numeric_normalize(n);
	}
	if (column->scalar == RTSYNC_SCALAR_BOOLEAN)
		return v.type == jbvBool ? pstrdup(v.val.boolean ? "true" : "false") : NULL;
	if (!value_text(&v, &s, &len, &alloc))
		return NULL;
	return alloc ? alloc : pnstrdup(s, len);
}

/* ------------------------------------------------------------------------
 * Description
 * ------------------------------------------------------------------------
 */

static void
describe_const(StringInfo out, const FilterConst *k, const FilterCond *c)
{
	if (k->isnull)
		appendStringInfoString(out, "null");
	else if (c->op == RTSYNC_OP_ATTRIBUTE_EXISTS || c->col->scalar == RTSYNC_SCALAR_BOOLEAN)
		appendStringInfoString(out, k->boolean ? "true" : "false");
	else if (k->num != NULL)
		appendStringInfoString(out, DatumGetCString(DirectFunctionCall1(numeric_out,
																		NumericGetDatum(k->num))));
	else
		rtsync_json_append_string(out, k->str, k->len);
}

void
rtsync_filter_describe(const RtsyncFilter *filter, StringInfo out)
{
	if (filter == NULL)
	{
		appendStringInfoString(out, "true");
		return;
	}
	for (int g = 0; g < filter->ngroups; g++)
	{
		const FilterGroup *group = &filter->groups[g];

		if (g > 0)
			appendStringInfoString(out, " OR ");
		if (filter->ngroups > 1)
			appendStringInfoChar(out, '(');
		if (group->nconds == 0)
			appendStringInfoString(out, "true");
		for (int i = 0; i < group->nconds; i++)
		{
			const FilterCond *c = group->conds[i];

			if (i > 0)
				appendStringInfoString(out, " AND ");
			appendStringInfo(out, "%s %s ", c->col->name, rtsync_filter_op_name(c->op));
			if (rtsync_filter_op_value(c->op) == RTSYNC_OPVALUE_LIST)
			{
				appendStringInfoChar(out, '[');
				for (int j = 0; j < c->nconsts; j++)
				{
					if (j > 0)
						appendStringInfoString(out, ", ");
					describe_const(out, &c->consts[j], c);
				}
				appendStringInfoChar(out, ']');
			}
			else
				describe_const(out, &c->consts[0], c);
		}
		if (filter->ngroups > 1)
			appendStringInfoChar(out, ')');
	}
}
