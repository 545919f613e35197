/*-------------------------------------------------------------------------
 *
 * ws/operation.h
 *	  Queries and mutations sent over a WebSocket (graphql-transport-ws
 *	  and legacy subscriptions-transport-ws clients may send any operation
 *	  on one socket): run like HTTP requests, answered with one result and
 *	  complete.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_WS_OPERATION_H
#define RTSYNC_WS_OPERATION_H

#include "nodes/pg_list.h"

#include "ws/session.h"

/* How an operation's answer goes back: in the session's dialect. */
typedef struct RtsyncWsOperationReplies
{
	void		(*result) (RtsyncWsSession *ws, const char *id, const char *result,
						   size_t len);
	void		(*errors) (RtsyncWsSession *ws, const char *id, List *errors);
} RtsyncWsOperationReplies;

/*
 * Runs a query or mutation a client sent over WebSocket, as over HTTP, and
 * answers through replies. Returns false, doing nothing, when the request
 * is a subscription (or has no query).
 */
extern bool rtsync_ws_operation_start(RtsyncWsSession *ws, const char *id, const char *query,
									  const char *variables, const char *operation_name,
									  const RtsyncWsOperationReplies *replies);

/* Is an operation with this id running on the session? */
extern bool rtsync_ws_operation_running(RtsyncWsSession *ws, const char *id);

/* The session is closing: its running operations answer no one. */
extern void rtsync_ws_operations_closed(RtsyncWsSession *ws);

#endif							/* RTSYNC_WS_OPERATION_H */
