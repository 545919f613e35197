/*-------------------------------------------------------------------------
 *
 * net/transport.h
 *	  A WebSocket connection as bytes: its outbound frame queue, sending,
 *	  batching and the end-of-pass flush, closing with a code, reassembly
 *	  of received messages, liveness. It knows nothing of GraphQL: a whole
 *	  message goes to the function the server registered.
 *
 * Memory: the struct is part of lws' per-session data (server.c puts it
 * next to the WebSocket session), zeroed by lws and freed by it after
 * LWS_CALLBACK_CLOSED. Frames and the reassembly buffer live in conn->cxt,
 * made by rtsync_conn_open and deleted by rtsync_conn_release.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_TRANSPORT_H
#define RTSYNC_TRANSPORT_H

#include <uv.h>
#include <libwebsockets.h>

#include "lib/ilist.h"
#include "lib/stringinfo.h"

typedef struct RtsyncConn
{
	struct lws *wsi;
	MemoryContext cxt;			/* owns all below; NULL unless open */
	dlist_node	node;			/* in the transport's list of connections */
	StringInfoData rx;			/* a message being reassembled */
	bool		rx_too_big;
	dlist_head	outq;			/* RtsyncFrame, oldest first */
	dlist_node	flush_node;		/* in the flush list ... */
	bool		flush_pending;	/* ... while this is set */
	size_t		out_bytes;
	int			close_code;		/* non-zero: close once the queue is out */
	char		close_reason[124];
	bool		close_sent;		/* the close frame is written */
	uint64		last_rx;		/* uv_now() when the client last sent */
	bool		ping_due;		/* a WebSocket ping is to be written */
} RtsyncConn;

/* A whole text message a client sent (the buffer is the transport's). */
typedef void (*RtsyncConnMessageFn) (RtsyncConn *conn, const char *msg, size_t len);

extern void rtsync_transport_init(uv_loop_t *loop, RtsyncConnMessageFn on_message);

/* lws established / closed the connection */
extern void rtsync_conn_open(RtsyncConn *conn, struct lws *wsi);
extern void rtsync_conn_release(RtsyncConn *conn);
static inline bool
rtsync_conn_is_open(const RtsyncConn *conn)
{
	return conn->cxt != NULL;
}

/* Queue a message (up to three pieces, copied once); closes a slow reader. */
extern void rtsync_conn_send(RtsyncConn *conn, const char *data, size_t len);
extern void rtsync_conn_send_str(RtsyncConn *conn, StringInfo msg);
extern void rtsync_conn_send_parts(RtsyncConn *conn, const char *a, size_t alen,
								   const char *b, size_t blen,
								   const char *c, size_t clen);
/* What a client closed as too slow (1013) is told. */
#define RTSYNC_TOO_SLOW_REASON "client too slow: outbound queue limit exceeded"

/* Close with a WebSocket code once what was queued before is out. */
extern void rtsync_conn_close(RtsyncConn *conn, int code, const char *reason);
static inline bool
rtsync_conn_closing(const RtsyncConn *conn)
{
	return conn->cxt == NULL || conn->close_code != 0;
}

/* From lws' callback: data, a pong, the socket can take more (-1: drop). */
extern void rtsync_conn_receive(RtsyncConn *conn, const char *in, size_t len);
extern void rtsync_conn_pong(RtsyncConn *conn);
extern int	rtsync_conn_writeable(RtsyncConn *conn);

/* Ping a connection silent for 30 s, drop one silent for 60 s. */
extern void rtsync_conn_check_liveness(RtsyncConn *conn, uint64 now);

/* Every open connection: how many, and each in turn. */
extern int	rtsync_transport_count(void);
extern void rtsync_transport_foreach(void (*fn) (RtsyncConn *conn, void *arg), void *arg);

/* At the end of each pass of the loop: write what was queued. */
extern void rtsync_transport_flush(void);

#endif							/* RTSYNC_TRANSPORT_H */
