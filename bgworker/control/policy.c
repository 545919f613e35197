/*-------------------------------------------------------------------------
 *
 * control/policy.c
 *	  Recognises the simple row-level security policies (policy.h) in the
 *	  text pg_get_expr prints for them.
 *
 * The shape is read off the printed expression, knowing the one column it
 * reads: "(col = <rhs>)", "(<rhs> = col)" or "(col = ANY (<rhs>))", with col
 * as quote_identifier prints it. Whether <rhs> is free of the row, of
 * tables and of volatile or user functions was decided by the catalog
 * query from the policy's node tree (the "safe" flag), not from this text.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/builtins.h"

#include "control/policy.h"

static bool
has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool
has_suffix(const char *s, const char *suffix)
{
	size_t		n = strlen(s),
				m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The middle of s between prefix and suffix, or NULL. */
static char *
between(const char *s, const char *prefix, const char *suffix)
{
	size_t		n = strlen(s),
				a = strlen(prefix),
				b = strlen(suffix);

	if (n <= a + b || !has_prefix(s, prefix) || !has_suffix(s, suffix))
		return NULL;
	return pnstrdup(s + a, n - a - b);
}

/* One policy's qual, or false when it is not of a compiled shape. */
static bool
compile_one(const RtsyncPolicySource *src, RtsyncPolicyQual *q)
{
	const char *col;
	char	   *prefix;
	char	   *rhs;

	memset(q, 0, sizeof(*q));
	q->permissive = src->permissive;
	if (strcmp(src->expr, "true") == 0)
	{
		q->always = true;
		return true;
	}
	if (!src->safe || src->column == NULL)
		return false;
	col = quote_identifier(src->column);
	prefix = psprintf("(%s = ANY (", col);
	if ((rhs = between(src->expr, prefix, "))")) != NULL)
		q->any = true;
	else if ((rhs = between(src->expr, psprintf("(%s = ", col), ")")) == NULL)
		rhs = between(src->expr, "(", psprintf(" = %s)", col));
	if (rhs == NULL)
		return false;
	q->column = pstrdup(src->column);
	q->value_sql = rhs;
	return true;
}

void
rtsync_policy_compile(RtsyncRowPolicy *policy, const RtsyncPolicySource *sources, int n)
{
	RtsyncPolicyQual *quals = palloc0(Max(n, 1) * sizeof(RtsyncPolicyQual));
	StringInfoData sql;
	bool		first = true;

	policy->compiled = false;
	for (int i = 0; i < n; i++)
		if (!compile_one(&sources[i], &quals[i]))
			return;
	/*
	 * Each qual's value, once per group, in one JSON array: a string, or an
	 * array of strings for = ANY (null for SQL NULL, which nothing equals).
	 */
	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT pg_catalog.jsonb_build_object('v', pg_catalog.jsonb_build_array(");
	for (int i = 0; i < n; i++)
	{
		if (quals[i].always)
			continue;
		if (!first)
			appendStringInfoString(&sql, ", ");
		first = false;
		if (quals[i].any)
			appendStringInfo(&sql, "(SELECT pg_catalog.array_agg(x::text) FROM pg_catalog.unnest(%s) x)",
							 quals[i].value_sql);
		else
			appendStringInfo(&sql, "(%s)::text", quals[i].value_sql);
	}
	appendStringInfoString(&sql, "))::text");
	policy->compiled = true;
	policy->nquals = n;
	policy->quals = quals;
	policy->values_sql = sql.data;
}
