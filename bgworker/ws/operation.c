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

#include "graphql/parser.h"
#include "base/guard.h"
#include "net/pool.h"
#include "ws/protocol.h"
#include "graphql/query_plan.h"
#include "query/answer.h"
#include "stream/registry.h"
#include "base/settings.h"
#include "ws/operation.h"

typedef struct WsOperation
{
	dlist_node	node;			/* in running */
	MemoryContext cxt;			/* owns this; the plan is its child */
	RtsyncConn *conn;			/* NULL once the connection closed */
	char	   *id;
	RtsyncRequestPlan *plan;
} WsOperation;

static dlist_head running = DLIST_STATIC_INIT(running);

static int
running_on(RtsyncConn *conn)
{
	dlist_iter	iter;
	int			n = 0;

	dlist_foreach(iter, &running)
		n += dlist_container(WsOperation, node, iter.cur)->conn == conn;
	return n;
}

bool
rtsync_ws_operation_running(RtsyncConn *conn, const char *id)
{
	dlist_iter	iter;

	dlist_foreach(iter, &running)
	{
		WsOperation *op = dlist_container(WsOperation, node, iter.cur);

		if (op->conn == conn && strcmp(op->id, id) == 0)
			return true;
	}
	return false;
}

void
rtsync_ws_operations_closed(RtsyncConn *conn)
{
	dlist_iter	iter;

	dlist_foreach(iter, &running)
	{
		WsOperation *op = dlist_container(WsOperation, node, iter.cur);

		if (op->conn == conn)
			op->conn = NULL;
	}
}

/* The answer, sent to the client (when it is still there). */
static void
operation_answer(WsOperation *op, List *results, const char *failure)
{
	MemoryContext old = MemoryContextSwitchTo(op->cxt);

	if (op->conn != NULL && op->conn->cxt != NULL)
	{
		StringInfoData body;

		initStringInfo(&body);
		if (failure)
		{
			ereport(LOG, (errmsg("rtsync GraphQL operation failed: %s", failure)));
			appendStringInfoString(&body, "{\"data\":null,\"errors\":[{\"errorType\":\"ServiceUnavailable\",\"message\":\"The database could not run the operation.\"}]}");
		}
		else
			rtsync_answer_build(op->plan, results, &body);
		rtsync_protocol_operation_result(op->conn, op->id, body.data, body.len);
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
					 if (op->conn != NULL && op->conn->cxt != NULL)
						 rtsync_conn_close(op->conn, 1011, "internal server error");
				 });
	MemoryContextDelete(op->cxt);
}

bool
rtsync_ws_operation_start(RtsyncConn *conn, const char *id, const char *query,
						  const char *variables, const char *operation_name)
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
	if (plan != NULL && running_on(conn) >= rtsync_max_subscriptions_per_connection)
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
		rtsync_protocol_operation_errors(conn, id, errors);
		return true;
	}
	cxt = AllocSetContextCreate(TopMemoryContext, "rtsync websocket operation",
								ALLOCSET_SMALL_SIZES);
	MemoryContextSetParent(plan->cxt, cxt);
	op = MemoryContextAllocZero(cxt, sizeof(WsOperation));
	op->cxt = cxt;
	op->conn = conn;
	op->id = MemoryContextStrdup(cxt, id);
	op->plan = plan;
	dlist_push_tail(&running, &op->node);
	if (plan->nstatements == 0)
		operation_done(op, NIL, NULL);
	else if (!rtsync_pool_submit(conn->role, !plan->mutation, plan->statements,
								 plan->nstatements, operation_done, op))
		operation_done(op, NIL, "the server has too many requests waiting");
	return true;
}
