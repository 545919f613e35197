/*-------------------------------------------------------------------------
 *
 * ws/operation.c
 *	  Queries and mutations that arrive over a WebSocket.
 *
 * graphql-ws and Apollo's GraphQLWsLink send every operation on the socket
 * when they are the only link. A query or mutation is planned and run as
 * an HTTP request is (graphql/query_plan.c, net/pool.c, as the connection's key's
 * role), and answered with one next (data, for legacy clients) carrying
 * {"data","errors"} and a complete. Validation errors are an error
 * message, as for subscriptions.
 *
 * The statements run while the loop goes on, and the connection may close
 * meanwhile: running operations are kept in one list, and a closing
 * connection is taken off its operations, whose results are then dropped.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/ilist.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "base/guard.h"
#include "base/settings.h"
#include "control/control.h"
#include "control/request_log.h"
#include "graphql/parser.h"
#include "graphql/query_plan.h"
#include "net/pool.h"
#include "query/answer.h"
#include "ws/operation.h"

typedef struct WsOperation
{
	dlist_node	node;			/* in running */
	MemoryContext cxt;			/* owns this; the plan is its child */
	RtsyncWsSession *ws;		/* NULL once the session closed */
	const RtsyncWsOperationReplies *replies;
	char	   *id;
	char	   *name;			/* operationName, or NULL */
	TimestampTz started;
	RtsyncRequestPlan *plan;
} WsOperation;

static dlist_head running = DLIST_STATIC_INIT(running);

static int
running_on(RtsyncWsSession *ws)
{
	dlist_iter	iter;
	int			n = 0;

	dlist_foreach(iter, &running)
		n += dlist_container(WsOperation, node, iter.cur)->ws == ws;
	return n;
}

bool
rtsync_ws_operation_running(RtsyncWsSession *ws, const char *id)
{
	dlist_iter	iter;

	dlist_foreach(iter, &running)
	{
		WsOperation *op = dlist_container(WsOperation, node, iter.cur);

		if (op->ws == ws && strcmp(op->id, id) == 0)
			return true;
	}
	return false;
}

void
rtsync_ws_operations_closed(RtsyncWsSession *ws)
{
	dlist_iter	iter;

	dlist_foreach(iter, &running)
	{
		WsOperation *op = dlist_container(WsOperation, node, iter.cur);

		if (op->ws == ws)
			op->ws = NULL;
	}
}

/* The answer, sent to the client (when it is still there). */
static void
operation_answer(WsOperation *op, List *results, const char *failure)
{
	MemoryContext old = MemoryContextSwitchTo(op->cxt);

	if (op->ws != NULL && rtsync_ws_session_live(op->ws))
	{
		StringInfoData body;
		bool		ok = false;

		initStringInfo(&body);
		if (failure)
		{
			StringInfoData errors;

			ereport(LOG, (errmsg("rtsync GraphQL operation failed: %s", failure)));
			initStringInfo(&errors);
			rtsync_answer_append_error(&errors, "ServiceUnavailable",
									   "The database could not run the operation.",
									   NULL, NULL);
			appendStringInfo(&body, "{\"data\":null,\"errors\":[%s]}", errors.data);
		}
		else
			ok = rtsync_answer_build(op->plan, results, &body);
		op->replies->result(op->ws, op->id, body.data, body.len);
		rtsync_request_log("websocket", op->ws->identity, op->ws->role,
						   op->plan->mutation ? "mutation" : "query",
						   op->name ? op->name : op->plan->name,
						   ok ? RTSYNC_OUTCOME_OK : RTSYNC_OUTCOME_ERROR, op->started);
	}
	MemoryContextSwitchTo(old);
}

/*
 * The pool's callback: the operation is over. An ERROR building its answer
 * closes that client (1011), as one in any of its messages would; the
 * operation's memory is freed either way.
 */
static void
operation_done(void *arg, List *results, const char *failure)
{
	WsOperation *op = arg;

	dlist_delete(&op->node);
	RTSYNC_GUARD(operation_answer(op, results, failure),
				 {
					 if (op->ws != NULL && rtsync_ws_session_live(op->ws))
						 rtsync_ws_session_close(op->ws, 1011, "internal server error");
				 });
	MemoryContextDelete(op->cxt);
}

bool
rtsync_ws_operation_start(RtsyncWsSession *ws, const char *id, const char *query,
						  const char *variables, const char *operation_name,
						  const RtsyncWsOperationReplies *replies)
{
	List	   *errors = NIL;
	bool		is_subscription;
	RtsyncRequestPlan *plan;
	WsOperation *op;
	MemoryContext cxt;

	if (query == NULL)
		return false;
	plan = rtsync_plan_request(rtsync_control_schema(), query, strlen(query),
							   operation_name, variables, true, &is_subscription, &errors);
	if (is_subscription)
		return false;
	if (plan != NULL && running_on(ws) >= rtsync_max_subscriptions_per_connection)
	{
		RtsyncGqlError *e = palloc0(sizeof(RtsyncGqlError));

		e->message = psprintf("Max number of %d operations in flight reached",
							  rtsync_max_subscriptions_per_connection);
		errors = list_make1(e);
		rtsync_request_plan_free(plan);
		plan = NULL;
	}
	if (plan == NULL)
	{
		replies->errors(ws, id, errors);
		rtsync_request_log("websocket", ws->identity, ws->role, "query", operation_name,
						   RTSYNC_OUTCOME_ERROR, 0);
		return true;
	}
	cxt = AllocSetContextCreate(TopMemoryContext, "rtsync websocket operation",
								ALLOCSET_SMALL_SIZES);
	MemoryContextSetParent(plan->cxt, cxt);
	op = MemoryContextAllocZero(cxt, sizeof(WsOperation));
	op->cxt = cxt;
	op->ws = ws;
	op->replies = replies;
	op->id = MemoryContextStrdup(cxt, id);
	op->name = operation_name ? MemoryContextStrdup(cxt, operation_name) : NULL;
	op->started = GetCurrentTimestamp();
	op->plan = plan;
	dlist_push_tail(&running, &op->node);
	if (plan->nstatements == 0)
		operation_done(op, NIL, NULL);
	else if (!rtsync_pool_submit(ws->role, ws->claims, !plan->mutation, plan->statements,
								 plan->nstatements, operation_done, op))
		operation_done(op, NIL, "the server has too many requests waiting");
	return true;
}
