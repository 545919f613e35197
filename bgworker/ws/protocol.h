/*-------------------------------------------------------------------------
 *
 * ws/protocol.h
 *	  The three GraphQL-over-WebSocket protocols: graphql-transport-ws,
 *	  legacy graphql-ws (subscriptions-transport-ws) and AppSync real-time.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_PROTOCOL_H
#define RTSYNC_PROTOCOL_H

#include "net/transport.h"
#include "stream/registry.h"

extern void rtsync_protocol_init(void);
extern void rtsync_protocol_receive(RtsyncConn *conn, const char *msg, size_t len);
extern void rtsync_protocol_keepalive(RtsyncConn *conn);
extern void rtsync_protocol_closed(RtsyncConn *conn);
extern void rtsync_protocol_operation_result(RtsyncConn *conn, const char *id,
											 const char *result, size_t len);
extern void rtsync_protocol_operation_errors(RtsyncConn *conn, const char *id, List *errors);

#endif							/* RTSYNC_PROTOCOL_H */
