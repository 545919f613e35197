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

#include "net/transport.h"

/*
 * Runs the operation when the document's selected operation is a query or
 * a mutation and returns true (the client gets its answer later, or its
 * errors now); false for a subscription, which the caller registers. A
 * document that cannot be planned gets its errors here.
 */
extern bool rtsync_ws_operation_start(RtsyncConn *conn, const char *id, const char *query,
									  const char *variables, const char *operation_name);

/* Is an operation with this id running on the connection? */
extern bool rtsync_ws_operation_running(RtsyncConn *conn, const char *id);

/* The connection is closing: its running operations answer no one. */
extern void rtsync_ws_operations_closed(RtsyncConn *conn);

#endif							/* RTSYNC_WS_OPERATION_H */
