/*-------------------------------------------------------------------------
 *
 * graphql/errors.h
 *	  Where the errors of a GraphQL request go while it is validated and
 *	  planned: RtsyncGqlError * (graphql/ast.h) in a list.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_GQL_ERRORS_H
#define RTSYNC_GQL_ERRORS_H

#include "nodes/pg_list.h"

#include "graphql/ast.h"

/* graphql-js stops validating after this many errors; so do we */
#define RTSYNC_MAX_ERRORS 100

/* Where errors go: a list of RtsyncGqlError * allocated in cxt. */
typedef struct RtsyncErrorSink
{
	List	  **errors;
	MemoryContext cxt;
	int			count;
} RtsyncErrorSink;

extern void rtsync_gql_error(RtsyncErrorSink *sink, RtsyncGqlLocation loc,
							 const char *fmt,...) pg_attribute_printf(3, 4);

#endif							/* RTSYNC_GQL_ERRORS_H */
