/*-------------------------------------------------------------------------
 *
 * net/transport.h
 *	  A client connection of the worker's server (libwebsockets' per-session
 *	  data), its outbound queue, and what the protocols keep per client.
 *
 * Memory: lws allocates and zeroes this struct for each connection and
 * frees it after LWS_CALLBACK_CLOSED. Everything it points to lives in
 * conn->cxt, created when the connection is established and deleted when it
 * closes, so nothing outlives the connection.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_CONNECTION_H
#define RTSYNC_CONNECTION_H

#include <libwebsockets.h>

#include "lib/ilist.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"

/* Which GraphQL-over-WebSocket protocol the client speaks. */
typedef enum RtsyncDialect
{
	RTSYNC_DIALECT_TRANSPORT_WS,	/* graphql-transport-ws (graphql-ws) */
	RTSYNC_DIALECT_GRAPHQL_WS,	/* graphql-ws subprotocol, not yet known
								 * whether AppSync or legacy Apollo */
	RTSYNC_DIALECT_LEGACY,		/* subscriptions-transport-ws */
	RTSYNC_DIALECT_APPSYNC		/* AWS AppSync real-time */
} RtsyncDialect;

#define RTSYNC_MAX_KEY_LEN 128

typedef struct RtsyncConn
{
	struct lws *wsi;
	MemoryContext cxt;			/* owns all below; NULL before established */
	dlist_node node;			/* in the server's list of connections */
	RtsyncDialect dialect;
	bool		appsync_handshake;	/* header- subprotocol or header= query */
	char		handshake_key[RTSYNC_MAX_KEY_LEN];	/* API key from the upgrade */
	char	   *role;			/* the API key's role, once authorised */
	char		key_hash[65];	/* ... and the key's hash, to recheck it */
	char	   *pending_key;	/* a key waiting for the keys to reload */
	List	   *parked;			/* messages waiting for a reload to finish,
								 * or for a subscription's start point */
	struct RtsyncSubscription *starting;	/* waiting for its start point */
	bool		init_received;
	bool		acked;
	StringInfoData rx;			/* a message being reassembled */
	bool		rx_too_big;
	dlist_head outq;			/* RtsyncFrame, oldest first */
	dlist_node	flush_node;		/* in the server's flush list ... */
	bool		flush_pending;	/* ... while this is set */
	size_t		out_bytes;
	List	   *subscriptions;	/* RtsyncSubscription * */
	int			close_code;		/* non-zero: close once the queue is out */
	char		close_reason[124];
	bool		close_sent;		/* the close frame is written */
	uint64		init_deadline;	/* uv_now() by which init must be acked */
	dlist_node	init_node;		/* in the server's init FIFO while ... */
	bool		init_waiting;	/* ... this is set */
	uint64		last_rx;		/* uv_now() when the client last sent */
	bool		ping_due;		/* a WebSocket ping is to be written */
	struct RtsyncHttpRequest *http;	/* an HTTP connection's current request */
} RtsyncConn;

extern void rtsync_conn_send(RtsyncConn *conn, const char *data, size_t len);
extern void rtsync_conn_send_str(RtsyncConn *conn, StringInfo msg);
extern void rtsync_conn_send_parts(RtsyncConn *conn, const char *a, size_t alen,
								   const char *b, size_t blen,
								   const char *c, size_t clen);
extern void rtsync_conn_close(RtsyncConn *conn, int code, const char *reason);
extern int	rtsync_server_connection_count(void);
extern void rtsync_server_foreach_connection(void (*fn) (RtsyncConn *conn));

#endif							/* RTSYNC_CONNECTION_H */
