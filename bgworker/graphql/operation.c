/*-------------------------------------------------------------------------
 *
 * graphql/operation.c
 *	  One operation of a GraphQL request, planned the same way for every
 *	  kind: parse (bounded), the limits, the rules on the whole document,
 *	  the choice of the operation (graphql-js's getOperation), then the
 *	  caller's planner for its kind (subscription, query or mutation).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "base/settings.h"
#include "graphql/errors.h"
#include "graphql/operation.h"
#include "graphql/parser.h"

static const RtsyncGqlLocation noloc = {0, 0};

/* graphql-js's getOperation */
RtsyncGqlOperation *
rtsync_select_operation(RtsyncPlanState *ps, const char *name)
{
	RtsyncGqlOperation *found = NULL;
	ListCell   *lc;

	if (name == NULL)
	{
		if (list_length(ps->doc->operations) == 1)
			return linitial(ps->doc->operations);
		rtsync_gql_error(&ps->sink, noloc, ps->doc->operations == NIL ?
						 "Must provide an operation." :
						 "Must provide operation name if query contains multiple operations.");
		return NULL;
	}
	foreach(lc, ps->doc->operations)
	{
		RtsyncGqlOperation *op = lfirst(lc);

		if (op->name != NULL && strcmp(op->name, name) == 0 && found == NULL)
			found = op;
	}
	if (found == NULL)
		rtsync_gql_error(&ps->sink, noloc, "Unknown operation named \"%s\".", name);
	return found;
}

/*
 * See graphql/operation.h. Parsing (at most rtsync.max_query_tokens
 * tokens), the limits on depth, aliases and expanded size, the rules on the
 * whole document and the choice of the operation are the same for every
 * kind of request; plan_op does the rest. The limits come before the rules:
 * they bound what the rules (and plan_op) may have to walk. An ERROR from Postgres code (out of memory, say)
 * becomes an internal error of the request: the caller is an lws or libuv
 * callback, which no ERROR may cross.
 */
void *
rtsync_plan_operation(RtsyncSchema *schema, const RtsyncGqlRequest *req,
					  MemoryContext plan_cxt, RtsyncOperationPlanner plan_op,
					  void *arg, List **errors)
{
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext scratch = AllocSetContextCreate(caller, "rtsync plan scratch",
												  ALLOCSET_DEFAULT_SIZES);
	RtsyncPlanState ps;
	void	   *volatile plan = NULL;

	memset(&ps, 0, sizeof(ps));
	ps.schema = schema;
	ps.sink.errors = errors;
	ps.sink.cxt = caller;
	ps.input.schema = schema;
	ps.input.sink = &ps.sink;

	MemoryContextSwitchTo(scratch);
	PG_TRY();
	{
		RtsyncGqlError error;

		memset(&error, 0, sizeof(error));
		ps.doc = rtsync_gql_parse_limited(req->query, req->query_len,
										  rtsync_max_query_tokens, &error);
		if (ps.doc == NULL)
			rtsync_gql_error(&ps.sink, error.loc, "%s", error.message);
		else if (rtsync_check_document_limits(&ps))
		{
			rtsync_validate_document(&ps);
			ps.op = rtsync_select_operation(&ps, req->operation_name);
			if (ps.op != NULL)
				plan = plan_op(&ps, req, plan_cxt, arg);
		}
		if (ps.sink.count > 0)
			plan = NULL;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(caller);
		edata = CopyErrorData();
		FlushErrorState();
		rtsync_gql_error(&ps.sink, noloc, "Internal error while planning the operation: %s",
						 edata->message);
		FreeErrorData(edata);
		plan = NULL;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(caller);
	MemoryContextDelete(scratch);
	if (plan == NULL)
		MemoryContextDelete(plan_cxt);
	return plan;
}
