/*-------------------------------------------------------------------------
 *
 * control/policy.h
 *	  A role's row-level security on a table, as the worker applies it to
 *	  changes: a SQL statement that judges images, and, for simple
 *	  policies, a compiled form judged in process.
 *
 * Compiled policies are the ones whose every qual is `true`,
 * `<column> = <claims expression>` or `<column> = ANY (<claims
 * expression>)`, where the expression reads no row, no table and calls
 * only stable built-in functions or SQL functions that read no table (an
 * auth.uid()-style function over request.jwt.claims). The expression's
 * value depends on the role and claims alone, so it is computed once per
 * group of subscribers, and each change costs a comparison.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_POLICY_H
#define RTSYNC_POLICY_H

#include "nodes/pg_list.h"

typedef struct RtsyncPolicyQual
{
	bool		permissive;
	bool		always;			/* USING (true) */
	char	   *column;			/* the image's key */
	char	   *value_sql;		/* row-free SQL whose value (as text) the
								 * column must equal */
	bool		any;			/* ... an element of (an array) */
} RtsyncPolicyQual;

typedef struct RtsyncRowPolicy
{
	char	   *check_sql;		/* judges images: see control.c's
								 * rls_check_sql */
	bool		compiled;
	int			nquals;
	RtsyncPolicyQual *quals;
	char	   *values_sql;		/* compiled: one row, one column, {"v": [the
								 * value of each qual that is not always]} */
	int			nclaims_read;	/* the claims judging can read (-1: it
								 * cannot be told which) */
	char	  **claims_read;
} RtsyncRowPolicy;

/* One of a role's applicable policies on a table, as control/ loads it. */
typedef struct RtsyncPolicySource
{
	bool		permissive;
	const char *expr;			/* pg_get_expr of its USING */
	bool		safe;			/* no sublink, one column at most, only
								 * stable built-in or table-free SQL
								 * functions and built-in operators */
	const char *column;			/* the column it reads, if of a type whose
								 * text form compares as the value does */
} RtsyncPolicySource;

/* Compiles the sources into policy (in CurrentMemoryContext) if it can. */
extern void rtsync_policy_compile(RtsyncRowPolicy *policy, const RtsyncPolicySource *sources,
								  int n);

#endif							/* RTSYNC_POLICY_H */
