/*-------------------------------------------------------------------------
 *
 * graphql/operation.h
 *	  Planning one operation of a request (see graphql/operation.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_GRAPHQL_OPERATION_H
#define RTSYNC_GRAPHQL_OPERATION_H

#include "graphql/validate.h"

/*
 * Parses the request, applies the rules on the whole document, selects the
 * operation and calls plan_op, in a scratch context and catching any
 * ERROR (reported as an internal error). Returns plan_op's plan, or NULL
 * with errors appended to *errors (in the caller's context) and plan_cxt
 * deleted. Never ereports.
 */
extern void *rtsync_plan_operation(RtsyncSchema *schema, const RtsyncGqlRequest *req,
								   MemoryContext plan_cxt, RtsyncOperationPlanner plan_op,
								   void *arg, List **errors);

/* The operation a request names (or its only one); NULL with an error. */
extern RtsyncGqlOperation *rtsync_select_operation(RtsyncPlanState *ps, const char *name);

#endif							/* RTSYNC_GRAPHQL_OPERATION_H */
