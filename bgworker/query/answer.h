/*-------------------------------------------------------------------------
 *
 * query/answer.h
 *	  The answer to an executed query or mutation, {"data":...,"errors":
 *	  [...]}, as HTTP (http/graphql.c) and WebSocket operations
 *	  (ws/operation.c) both send it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_QUERY_ANSWER_H
#define RTSYNC_QUERY_ANSWER_H

#include "lib/stringinfo.h"
#include "nodes/pg_list.h"

#include "graphql/query_plan.h"

/*
 * Appends the answer of plan to body. results: the pool's results of its
 * statements, in order, then COMMIT's (net/pool.h).
 */
/* The answer {"data": ..., "errors": [...]}; false when it has errors. */
extern bool rtsync_answer_build(RtsyncRequestPlan *plan, List *results, StringInfo body);

/*
 * Appends one error object to out, a comma first when out is not empty:
 * {"errorType":...,"message":...} with, when root is given, the root
 * field's "path" and "locations", and extra (further members, each
 * starting with a comma) when given.
 */
extern void rtsync_answer_append_error(StringInfo out, const char *error_type,
									   const char *message,
									   const RtsyncRootPlan *root, const char *extra);

#endif							/* RTSYNC_QUERY_ANSWER_H */
