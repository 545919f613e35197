/*-------------------------------------------------------------------------
 *
 * net/transport.c
 *	  WebSocket connections as bytes: frame queues, sending, batching, the
 *	  end-of-pass flush, close frames, reassembly and liveness.
 *
 * lws owns the socket and the handshake; this file owns what is written
 * after it. It never calls up: a whole received message goes to the
 * function the server registered (rtsync_transport_init), and the server
 * tells the WebSocket session itself when lws closes a connection.
 *
 * Sending: rtsync_conn_send queues a frame on the connection and puts the
 * connection on the flush list. A client whose queue passes
 * rtsync.max_queue is closed (1013) rather than let it hold memory or delay
 * others. Closing with a code is done from the writeable callback, after
 * what was queued before it.
 *
 * The direct send (conn_flush, the one place it happens): lws wants every
 * write made from its writeable callback, which costs a poll round and a
 * callback per client per event. At the end of each pass of the loop we
 * instead write each plain-TCP client's queued frames, framed here into one
 * buffer, straight to its socket with send(); whatever the socket does not
 * take goes to lws_write(), which keeps it and finishes it before anything
 * else is written on that connection, and the rest of the queue goes the
 * usual way. That is what makes fan-out fast (one send per client per
 * pass). It relies on how lws 4.1 treats a raw write and its partial-write
 * buffer (lws_partial_buffered) on a connection that it did not ask to
 * write, so the build refuses another lws version (the #error below) and
 * test/e2e/tests/guards.test.js checks that many frames sent to one client
 * arrive whole and in order. TLS connections, closing ones, and those lws
 * still has bytes for always go the usual way.
 *
 * Errors: the flush is guarded per client (an ERROR closes that client with
 * 1011); the other entries are called from server.c's guarded callback.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/socket.h>

#include "utils/memutils.h"

#include "base/guard.h"
#include "base/metrics.h"
#include "base/settings.h"
#include "net/transport.h"

/* conn_flush's direct send is written against lws 4.1: see the banner */
#if LWS_LIBRARY_VERSION_MAJOR != 4 || LWS_LIBRARY_VERSION_MINOR != 1
#error "rtsync's direct send (net/transport.c conn_flush) is written for libwebsockets 4.1"
#endif

typedef struct RtsyncFrame
{
	dlist_node	node;
	size_t		len;
	char		buf[FLEXIBLE_ARRAY_MEMBER]; /* the message */
} RtsyncFrame;

static dlist_head connections = DLIST_STATIC_INIT(connections);
/* connections with frames queued in this pass of the loop, to flush */
static dlist_head flush_list = DLIST_STATIC_INIT(flush_list);
static int	nconnections = 0;
static uv_loop_t *transport_loop = NULL;
static RtsyncConnMessageFn message_fn = NULL;

/* Largest batch of frames put into one write. */
#define WRITE_BATCH_BYTES (256 * 1024)

/* WebSocket pings after 30 s of silence; a peer silent 60 s is dropped */
#define PING_AFTER_MS 30000
#define HANGUP_AFTER_MS 60000

void
rtsync_transport_init(uv_loop_t *loop, RtsyncConnMessageFn on_message)
{
	transport_loop = loop;
	message_fn = on_message;
}

int
rtsync_transport_count(void)
{
	return nconnections;
}

void
rtsync_transport_foreach(void (*fn) (RtsyncConn *conn, void *arg), void *arg)
{
	dlist_mutable_iter iter;

	dlist_foreach_modify(iter, &connections)
		fn(dlist_container(RtsyncConn, node, iter.cur), arg);
}

/* The WebSocket gauge (http/connection.c counts the HTTP connections). */
static void
connection_gauges(void)
{
	rtsync_metrics_set(RTSYNC_M_CONNECTIONS_WEBSOCKET, nconnections);
}

/* lws established the connection: its memory, and the lists it is on. */
void
rtsync_conn_open(RtsyncConn *conn, struct lws *wsi)
{
	conn->wsi = wsi;
	conn->cxt = AllocSetContextCreate(TopMemoryContext, "rtsync connection",
									  ALLOCSET_SMALL_SIZES);
	/* conn->rx is made on the first message: idle clients cost less */
	dlist_init(&conn->outq);
	conn->out_bytes = 0;
	dlist_push_tail(&connections, &conn->node);
	nconnections++;
	rtsync_metrics_count(RTSYNC_M_WEBSOCKET_CONNECTIONS_ACCEPTED, 1);
	connection_gauges();
	conn->last_rx = uv_now(transport_loop);
}

/* lws closed the connection: off every list, its memory freed. */
void
rtsync_conn_release(RtsyncConn *conn)
{
	if (conn->cxt == NULL)
		return;
	if (conn->flush_pending)
		dlist_delete(&conn->flush_node);
	conn->flush_pending = false;
	dlist_delete(&conn->node);
	nconnections--;
	connection_gauges();
	MemoryContextDelete(conn->cxt);
	conn->cxt = NULL;
}

/*
 * Queues one message made of up to three pieces (an envelope around a shared
 * payload), copied once into the frame. A client whose queue would pass
 * rtsync.max_queue is closed instead.
 */
void
rtsync_conn_send_parts(RtsyncConn *conn, const char *a, size_t alen,
					   const char *b, size_t blen, const char *c, size_t clen)
{
	RtsyncFrame *frame;
	size_t		len = alen + blen + clen;

	if (conn->cxt == NULL || conn->close_code != 0)
		return;
	if (conn->out_bytes + len > (size_t) rtsync_max_queue_kb * 1024)
	{
		rtsync_conn_close(conn, 1013, RTSYNC_TOO_SLOW_REASON);
		return;
	}
	frame = MemoryContextAlloc(conn->cxt, offsetof(RtsyncFrame, buf) + len);
	frame->len = len;
	memcpy(frame->buf, a, alen);
	if (blen)
		memcpy(frame->buf + alen, b, blen);
	if (clen)
		memcpy(frame->buf + alen + blen, c, clen);
	dlist_push_tail(&conn->outq, &frame->node);
	conn->out_bytes += len;
	if (!conn->flush_pending)
	{
		conn->flush_pending = true;
		dlist_push_tail(&flush_list, &conn->flush_node);
	}
}

void
rtsync_conn_send(RtsyncConn *conn, const char *data, size_t len)
{
	rtsync_conn_send_parts(conn, data, len, NULL, 0, NULL, 0);
}

void
rtsync_conn_send_str(RtsyncConn *conn, StringInfo msg)
{
	rtsync_conn_send(conn, msg->data, msg->len);
}

/*
 * Close with a WebSocket close code and reason. Frames queued before are
 * still sent, except when the client is closed for being too slow.
 */
void
rtsync_conn_close(RtsyncConn *conn, int code, const char *reason)
{
	if (conn->cxt == NULL || conn->close_code != 0)
		return;
	conn->close_code = code;
	strlcpy(conn->close_reason, reason, sizeof(conn->close_reason));
	if (code == 1013)
	{
		rtsync_metrics_count(RTSYNC_M_SLOW_CLIENTS_CLOSED, 1);
		while (!dlist_is_empty(&conn->outq))
			pfree(dlist_container(RtsyncFrame, node, dlist_pop_head_node(&conn->outq)));
		conn->out_bytes = 0;
	}
	/*
	 * A peer that takes not even the close frame is dropped; a slow reader
	 * gets longer, to resume and read why it was closed
	 */
	lws_set_timeout(conn->wsi, PENDING_TIMEOUT_USER_OK, code == 1013 ? 15 : 5);
	lws_callback_on_writable(conn->wsi);
}

/* What an ERROR about one client means: that client is closed. */
static void
conn_failed(RtsyncConn *conn)
{
	if (conn->cxt)
		rtsync_conn_close(conn, 1011, "internal server error");
}

/*
 * Pings a connection silent for PING_AFTER_MS, drops one silent for
 * HANGUP_AFTER_MS (a peer that is gone without a FIN): one sweep with the
 * keep-alive, flat cost per connection, nothing re-armed per message.
 */
void
rtsync_conn_check_liveness(RtsyncConn *conn, uint64 now)
{
	if (conn->close_code != 0)
		return;
	if (now - conn->last_rx >= HANGUP_AFTER_MS)
		lws_set_timeout(conn->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
	else if (now - conn->last_rx >= PING_AFTER_MS && !conn->ping_due)
	{
		conn->ping_due = true;
		lws_callback_on_writable(conn->wsi);
	}
}

/* The WebSocket header of an unmasked, final text frame of len bytes. */
static size_t
put_frame_header(unsigned char *p, size_t len)
{
	p[0] = 0x81;
	if (len < 126)
	{
		p[1] = (unsigned char) len;
		return 2;
	}
	if (len < 65536)
	{
		p[1] = 126;
		p[2] = (unsigned char) (len >> 8);
		p[3] = (unsigned char) len;
		return 4;
	}
	p[1] = 127;
	for (int i = 0; i < 8; i++)
		p[2 + i] = (unsigned char) ((uint64) len >> (56 - 8 * i));
	return 10;
}

/*
 * The queued frames, up to WRITE_BATCH_BYTES, framed here into one buffer
 * (with LWS_PRE bytes before it, for lws_write): server frames are
 * unmasked, so frames simply concatenate, and one write carries them all.
 * Sets *len and *frames; the buffer is the caller's to pfree.
 */
static unsigned char *
take_batch(RtsyncConn *conn, size_t *len, int *frames)
{
	size_t		total = 0;
	unsigned char *buf;
	unsigned char *p;
	dlist_iter	iter;

	dlist_foreach(iter, &conn->outq)
	{
		RtsyncFrame *frame = dlist_container(RtsyncFrame, node, iter.cur);

		if (total > 0 && total + frame->len + 10 > WRITE_BATCH_BYTES)
			break;
		total += frame->len + 10;
	}
	buf = MemoryContextAlloc(conn->cxt, LWS_PRE + total);
	p = buf + LWS_PRE;
	*frames = 0;
	while (!dlist_is_empty(&conn->outq))
	{
		RtsyncFrame *frame = dlist_head_element(RtsyncFrame, node, &conn->outq);

		if (p + frame->len + 10 > buf + LWS_PRE + total)
			break;
		p += put_frame_header(p, frame->len);
		memcpy(p, frame->buf, frame->len);
		p += frame->len;
		conn->out_bytes -= frame->len;
		dlist_pop_head_node(&conn->outq);
		pfree(frame);
		(*frames)++;
	}
	*len = p - (buf + LWS_PRE);
	return buf;
}

static void
count_sent(int frames, size_t bytes)
{
	rtsync_metrics_count(RTSYNC_M_MESSAGES_SENT, frames);
	rtsync_metrics_count(RTSYNC_M_BYTES_SENT_WEBSOCKET, bytes);
}

/*
 * Sends what a connection has queued straight to its socket, at the end of
 * a pass of the loop: everything queued meanwhile (every record of one read
 * from the stream) goes in one send(), without waiting for the socket to be
 * reported writable. What the socket does not take is handed to lws_write,
 * which keeps the rest and finishes it before anything else is written on
 * the connection (so frames never interleave with lws' own); the remaining
 * queue then goes the usual way, from the writeable callback. TLS
 * connections, closing ones and those lws still has bytes for always go
 * the usual way.
 */
static void
conn_flush(RtsyncConn *conn)
{
	unsigned char *buf;
	size_t		len;
	int			frames;
	int			fd;
	ssize_t		n;

	if (dlist_is_empty(&conn->outq))
		return;
	if (conn->close_code != 0 || lws_is_ssl(conn->wsi) || lws_partial_buffered(conn->wsi) ||
		(fd = lws_get_socket_fd(conn->wsi)) < 0)
	{
		lws_callback_on_writable(conn->wsi);
		return;
	}
	buf = take_batch(conn, &len, &frames);
	n = send(fd, buf + LWS_PRE, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0)
		n = 0;					/* EAGAIN, or an error lws_write will see */
	if ((size_t) n < len)
	{
		/* the rest has LWS_PRE (and more) bytes before it, as lws_write wants */
		if (lws_write(conn->wsi, buf + LWS_PRE + n, len - n, LWS_WRITE_RAW) < 0)
		{
			pfree(buf);
			return;				/* lws closes the connection */
		}
	}
	pfree(buf);
	count_sent(frames, len);
	if (!dlist_is_empty(&conn->outq))
		lws_callback_on_writable(conn->wsi);
}

/*
 * At the end of each pass of the loop (see conn_flush), from worker.c, not
 * from a library; guarded per client all the same: an ERROR closes that
 * client and the others are flushed.
 */
void
rtsync_transport_flush(void)
{
	while (!dlist_is_empty(&flush_list))
	{
		RtsyncConn *conn = dlist_container(RtsyncConn, flush_node,
										   dlist_pop_head_node(&flush_list));

		conn->flush_pending = false;
		if (conn->cxt == NULL)
			continue;
		RTSYNC_GUARD(conn_flush(conn), conn_failed(conn));
	}
}

/*
 * lws says the socket can take more: the next batch of queued frames goes
 * out in one write; lws keeps what the socket does not take.
 */
int
rtsync_conn_writeable(RtsyncConn *conn)
{
	if (conn->ping_due && conn->close_code == 0 && !lws_partial_buffered(conn->wsi))
	{
		unsigned char ping[LWS_PRE + 1];

		conn->ping_due = false;
		if (lws_write(conn->wsi, ping + LWS_PRE, 0, LWS_WRITE_PING) < 0)
			return -1;
		if (!dlist_is_empty(&conn->outq))
			lws_callback_on_writable(conn->wsi);
		return 0;
	}
	if (!dlist_is_empty(&conn->outq))
	{
		size_t		len;
		int			frames;
		unsigned char *buf = take_batch(conn, &len, &frames);
		int			n = lws_write(conn->wsi, buf + LWS_PRE, len, LWS_WRITE_RAW);

		pfree(buf);
		if (n < 0)
			return -1;
		count_sent(frames, n);
		if (!dlist_is_empty(&conn->outq) || conn->close_code)
			lws_callback_on_writable(conn->wsi);
		return 0;
	}
	if (conn->close_code && conn->close_sent)
	{
		/* close once lws has put the whole close frame into the socket */
		if (lws_partial_buffered(conn->wsi))
		{
			lws_callback_on_writable(conn->wsi);
			return 0;
		}
		return -1;
	}
	if (conn->close_code)
	{
		/*
		 * The close frame, written whole (RFC 6455: FIN + opcode 8, an
		 * unmasked length under 126, the code, then the reason): with lws
		 * 4.1 on a libuv loop, lws_close_reason() and returning -1 drops
		 * the connection without sending it.
		 */
		unsigned char frame[LWS_PRE + 4 + sizeof(conn->close_reason)];
		size_t		reason_len = strlen(conn->close_reason);
		unsigned char *p = frame + LWS_PRE;

		p[0] = 0x88;
		p[1] = (unsigned char) (2 + reason_len);
		p[2] = (unsigned char) (conn->close_code >> 8);
		p[3] = (unsigned char) (conn->close_code & 0xff);
		memcpy(p + 4, conn->close_reason, reason_len);
		conn->close_sent = true;
		if (lws_write(conn->wsi, p, 4 + reason_len, LWS_WRITE_RAW) < 0)
			return -1;
		/*
		 * A full socket (a slow reader) keeps part of it in lws: wait, up
		 * to the close timeout, so that a reader that resumes sees the
		 * code, not a bare end of stream (1006)
		 */
		if (lws_partial_buffered(conn->wsi))
		{
			lws_callback_on_writable(conn->wsi);
			return 0;
		}
		return -1;
	}
	return 0;
}

static void
init_string_in(StringInfo s, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);

	initStringInfo(s);
	MemoryContextSwitchTo(old);
}

/* A piece of a message from lws; whole messages go to the registered function. */
void
rtsync_conn_receive(RtsyncConn *conn, const char *in, size_t len)
{
	static StringInfoData whole = {NULL, 0, 0, 0};

	conn->last_rx = uv_now(transport_loop);

	if (lws_frame_is_binary(conn->wsi))
	{
		rtsync_conn_close(conn, 1003, "binary messages are not supported");
		return;
	}
	if (conn->rx.data == NULL && lws_is_first_fragment(conn->wsi) &&
		lws_is_final_fragment(conn->wsi) && lws_remaining_packet_payload(conn->wsi) == 0)
	{
		/*
		 * A message in one piece, as most are: handled from a buffer the
		 * worker reuses, so an idle connection keeps no receive memory
		 */
		if (len > (size_t) rtsync_max_message_bytes)
		{
			rtsync_conn_close(conn, 1009, "message too big");
			return;
		}
		if (whole.data == NULL)
			init_string_in(&whole, TopMemoryContext);
		resetStringInfo(&whole);
		appendBinaryStringInfo(&whole, in, len);
		message_fn(conn, whole.data, whole.len);
		/* a huge message's buffer is not kept */
		if (whole.maxlen > 64 * 1024)
		{
			pfree(whole.data);
			whole.data = NULL;
		}
		return;
	}
	if (conn->rx.data == NULL)
		init_string_in(&conn->rx, conn->cxt);
	if (!conn->rx_too_big && conn->rx.len + len > (size_t) rtsync_max_message_bytes)
		conn->rx_too_big = true;
	if (!conn->rx_too_big)
		appendBinaryStringInfo(&conn->rx, in, len);
	if (!lws_is_final_fragment(conn->wsi) || lws_remaining_packet_payload(conn->wsi) > 0)
		return;
	if (conn->rx_too_big)
		rtsync_conn_close(conn, 1009, "message too big");
	else
		message_fn(conn, conn->rx.data, conn->rx.len);
	/* the buffer is not kept between messages: most clients send few */
	pfree(conn->rx.data);
	conn->rx.data = NULL;
	conn->rx.len = 0;
	conn->rx_too_big = false;
	return;
}

/* The peer answered a ping: it is alive. */
void
rtsync_conn_pong(RtsyncConn *conn)
{
	conn->last_rx = uv_now(transport_loop);
}
