/*-------------------------------------------------------------------------
 *
 * base/statement.h
 *	  One parameterised SQL statement, as plain data: what a plan hands to
 *	  whatever runs it.
 *
 * graphql/query_plan.c makes them (it knows no libpq) and net/pool.c sends
 * them (it knows no GraphQL); this header is what the two share.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_STATEMENT_H
#define RTSYNC_STATEMENT_H

/*
 * A statement and its parameters, as text (a NULL parameter is SQL NULL).
 * prepare: the statement runs often with other parameters; whoever runs it
 * may keep it prepared (net/pool.c does, per connection) and spare the
 * server planning it each time.
 */
typedef struct RtsyncStatement
{
	const char *sql;
	int			nparams;
	const char *const *params;
	bool		prepare;
} RtsyncStatement;

#endif							/* RTSYNC_STATEMENT_H */
