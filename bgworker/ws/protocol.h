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

#include "stream/registry.h"
#include "ws/session.h"

extern void rtsync_protocol_init(void);
extern void rtsync_protocol_receive(RtsyncWsSession *ws, const char *msg, size_t len);
extern void rtsync_protocol_keepalive(RtsyncWsSession *ws);
extern void rtsync_protocol_closed(RtsyncWsSession *ws);

#endif							/* RTSYNC_PROTOCOL_H */
