/*-------------------------------------------------------------------------
 *
 * server.c
 *	  WebSocket and HTTP serving with libwebsockets.
 *
 * lws runs on the worker's own libuv loop (a foreign loop), so its sockets
 * are waited on in the worker's single wait. Each client's state is an
 * RtsyncConn (net/transport.h); the GraphQL protocols live in ws/protocol.c.
 *
 * Subprotocols: graphql-transport-ws and graphql-ws are registered by name,
 * so lws echoes exactly the one offered protocol it picked (an AppSync
 * client's "header-..." token is never echoed). A client offering none is
 * served graphql-transport-ws.
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
 * Errors: every entry from lws and libuv into this file (the lws callback,
 * the keep-alive and init-timeout timers, the end-of-pass flush) runs in
 * RTSYNC_GUARD (base/guard.h); an ERROR is logged and closes the one client it
 * was about (1011), never unwinding through lws or libuv. lws' log hook
 * allocates nothing, so it cannot fail.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/resource.h>
#include <sys/socket.h>

#include "common/base64.h"
#include "common/string.h"
#include "utils/memutils.h"

#include "net/transport.h"
#include "base/guard.h"
#include "http/router.h"
#include "http/connection.h"
#include "net/listener.h"
#include "base/metrics.h"
#include "ws/protocol.h"
#include "server.h"
#include "base/settings.h"
#include "net/tls_proxy.h"
#include "http/upgrade.h"

/* conn_flush's direct send is written against lws 4.1: see the banner */
#if LWS_LIBRARY_VERSION_MAJOR != 4 || LWS_LIBRARY_VERSION_MINOR != 1
#error "rtsync's direct send (server.c conn_flush) is written for libwebsockets 4.1"
#endif

typedef struct RtsyncFrame
{
	dlist_node	node;
	size_t		len;
	char		buf[FLEXIBLE_ARRAY_MEMBER]; /* the message */
} RtsyncFrame;

static struct lws_context *context = NULL;
static dlist_head connections = DLIST_STATIC_INIT(connections);
/* connections with frames queued in this pass of the loop, to flush */
static dlist_head flush_list = DLIST_STATIC_INIT(flush_list);
static int	nconnections = 0;
static uv_timer_t keepalive_timer;
static bool shutting_down = false;
static uv_loop_t *server_loop = NULL;

/*
 * Connections waiting for connection_init, oldest first: they all get the
 * same timeout, so their deadlines are in order and one timer serves them
 * (lws' own timers keep one sorted list, O(n) per insertion).
 */
static dlist_head init_fifo = DLIST_STATIC_INIT(init_fifo);
static uv_timer_t init_timer;

static int	server_callback(struct lws *wsi, enum lws_callback_reasons reason,
							void *user, void *in, size_t len);

/*
 * No lws validity timers: lws 4.1 re-arms each connection's into one
 * sorted list on every message, O(n) each, which made idle CPU grow with
 * the square of the connections. The keep-alive sweep pings instead.
 */
static const lws_retry_bo_t idle_policy = {
	.secs_since_valid_ping = 0,
	.secs_since_valid_hangup = 0,
};

/* WebSocket pings after 30 s of silence; a peer silent 60 s is dropped */
#define PING_AFTER_MS 30000
#define HANGUP_AFTER_MS 60000

/* lws' per-connection receive buffer: larger messages arrive in pieces */
#define RX_BUFFER_BYTES 1024

static const struct lws_protocols protocols[] = {
	{"rtsync", server_callback, sizeof(RtsyncConn), RX_BUFFER_BYTES, 0, NULL, 0},
	{"graphql-transport-ws", server_callback, sizeof(RtsyncConn), RX_BUFFER_BYTES, 1, NULL, 0},
	{"graphql-ws", server_callback, sizeof(RtsyncConn), RX_BUFFER_BYTES, 2, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0}
};

int
rtsync_server_connection_count(void)
{
	return nconnections;
}

void
rtsync_server_foreach_connection(void (*fn) (RtsyncConn *conn))
{
	dlist_mutable_iter iter;

	dlist_foreach_modify(iter, &connections)
		fn(dlist_container(RtsyncConn, node, iter.cur));
}

/* The WebSocket gauge (http/connection.c counts the HTTP connections). */
static void
connection_gauges(void)
{
	rtsync_metrics_set(RTSYNC_M_CONNECTIONS_WEBSOCKET, nconnections);
}

/*
 * lws' own log lines, at LOG level, without its trailing newline. lws calls
 * this from anywhere, also outside our guards: it must not fail, so it
 * allocates nothing (a stack copy, cut at its size; lws' lines are short).
 */
static void
lws_log_emit(int level, const char *line)
{
	char		copy[512];

	/* lws 4.1 reports every adopted socket at error level */
	if (strstr(line, "adopt_socket_readbuf: calling service"))
		return;
	strlcpy(copy, line, sizeof(copy));
	pg_strip_crlf(copy);
	ereport(LOG, (errmsg_internal("rtsync libwebsockets: %s", copy)));
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
		rtsync_conn_close(conn, 1013, "client too slow: outbound queue limit exceeded");
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

static void
init_string_in(StringInfo s, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);

	initStringInfo(s);
	MemoryContextSwitchTo(old);
}

static void
init_fifo_remove(RtsyncConn *conn)
{
	if (conn->init_waiting)
		dlist_delete(&conn->init_node);
	conn->init_waiting = false;
}

static void init_timeout_cb(uv_timer_t *timer);

/* Closes the connections whose init is overdue; waits for the next one. */
static void
init_timeout_check(uv_timer_t *timer)
{
	uint64		now = uv_now(timer->loop);

	while (!dlist_is_empty(&init_fifo))
	{
		RtsyncConn *conn = dlist_head_element(RtsyncConn, init_node, &init_fifo);

		if (conn->acked)
		{
			init_fifo_remove(conn);
			continue;
		}
		if (conn->init_deadline > now)
		{
			uv_timer_start(&init_timer, init_timeout_cb, conn->init_deadline - now, 0);
			return;
		}
		init_fifo_remove(conn);
		rtsync_conn_close(conn, 4408, "Connection initialisation timeout");
	}
}

/*
 * Entry from libuv. An ERROR is logged and the timer armed again, so the
 * connections still waiting are checked once more a moment later.
 */
static void
init_timeout_cb(uv_timer_t *timer)
{
	RTSYNC_GUARD(init_timeout_check(timer),
				 uv_timer_start(&init_timer, init_timeout_cb, 100, 0));
}

static void
init_fifo_add(RtsyncConn *conn)
{
	conn->init_deadline = uv_now(server_loop) + rtsync_connection_init_timeout_ms;
	conn->init_waiting = true;
	dlist_push_tail(&init_fifo, &conn->init_node);
	if (!uv_is_active((uv_handle_t *) &init_timer))
		uv_timer_start(&init_timer, init_timeout_cb, rtsync_connection_init_timeout_ms, 0);
}

/*
 * Pings a connection silent for PING_AFTER_MS, drops one silent for
 * HANGUP_AFTER_MS (a peer that is gone without a FIN): one sweep with the
 * keep-alive, flat cost per connection, nothing re-armed per message.
 */
static void
liveness_check(RtsyncConn *conn, uint64 now)
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

static void
keepalive_one(RtsyncConn *conn, uint64 now)
{
	rtsync_protocol_keepalive(conn);
	liveness_check(conn, now);
}

/*
 * Entry from libuv: the keep-alive sweep. An ERROR about one connection
 * (building its "ka", rechecking its key) closes that one (1011) and the
 * sweep goes on with the next.
 */
static void
keepalive_cb(uv_timer_t *timer)
{
	dlist_iter	iter;
	uint64		now = uv_now(timer->loop);

	dlist_foreach(iter, &connections)
	{
		RtsyncConn *conn = dlist_container(RtsyncConn, node, iter.cur);

		RTSYNC_GUARD(keepalive_one(conn, now), conn_failed(conn));
	}
}

/*
 * A new plain-TCP connection, or the plaintext end of a TLS one
 * (net/tls_proxy.c), starts as HTTP (http/connection.c).
 */
static void
accept_plain(int fd)
{
	rtsync_http_server_adopt(fd, NULL, 0);
}

/* Can a WebSocket upgrade be taken now? (http/upgrade.c asks) */
static bool
websocket_accepting(void)
{
	return !shutting_down && nconnections < rtsync_max_connections;
}

/* Only the GraphQL paths upgrade: /graphql, /graphql/realtime, /realtime. */
static bool
websocket_path_ok(struct lws *wsi)
{
	char		uri[256];

	if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0)
		return false;
	return strcmp(uri, "/graphql") == 0 || strcmp(uri, "/graphql/") == 0 ||
		strcmp(uri, "/graphql/realtime") == 0 || strcmp(uri, "/realtime") == 0;
}

/*
 * AppSync's authorization header: base64url JSON like
 * {"host":"...","x-api-key":"da2-..."}. Copies the key into conn; the
 * decoded copies are freed here (the handshake runs in the pass's context,
 * but a client may send a large header).
 */
static void
take_appsync_header(RtsyncConn *conn, const char *b64, size_t b64len)
{
	char	   *std = palloc(b64len + 4);
	char	   *json;
	int			n = 0;
	int			declen;
	const char *key;

	/* base64url to base64, with padding */
	for (size_t i = 0; i < b64len; i++)
		std[n++] = b64[i] == '-' ? '+' : b64[i] == '_' ? '/' : b64[i];
	while (n % 4 != 0)
		std[n++] = '=';
	json = palloc(pg_b64_dec_len(n) + 1);
	declen = pg_b64_decode(std, n, json, pg_b64_dec_len(n));
	pfree(std);
	if (declen < 0)
	{
		pfree(json);
		return;
	}
	json[declen] = '\0';
	key = strstr(json, "\"x-api-key\"");
	if (key && (key = strchr(key + 11, '"')) != NULL)
	{
		const char *end = strchr(key + 1, '"');

		if (end && end - key - 1 < RTSYNC_MAX_KEY_LEN)
			strlcpy(conn->handshake_key, key + 1, end - key);
	}
	pfree(json);
}

/* Read what the upgrade request says about the dialect and the API key. */
static void
inspect_handshake(struct lws *wsi, RtsyncConn *conn)
{
	char		buf[16384];
	int			n;

	/* http/upgrade.c moved AppSync's header- token here */
	n = lws_hdr_custom_copy(wsi, buf, sizeof(buf), RTSYNC_APPSYNC_HEADER,
							strlen(RTSYNC_APPSYNC_HEADER));
	if (n <= 0)
		n = lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_PROTOCOL);
	if (n > 0)
	{
		char	   *tok = strstr(buf, "header-");

		if (tok)
		{
			size_t		toklen = strcspn(tok + 7, ", ");

			conn->appsync_handshake = true;
			take_appsync_header(conn, tok + 7, toklen);
		}
	}
	{
		/* a pointer just past "header=" inside buf */
		const char *val = lws_get_urlarg_by_name(wsi, "header=", buf, sizeof(buf));

		if (val != NULL)
		{
			conn->appsync_handshake = true;
			take_appsync_header(conn, val, strlen(val));
		}
	}
	n = lws_hdr_custom_copy(wsi, buf, sizeof(buf), "x-api-key:", 10);
	if (n <= 0)
		n = lws_hdr_custom_copy(wsi, buf, sizeof(buf), "X-Api-Key:", 10);
	if (n > 0 && n < RTSYNC_MAX_KEY_LEN)
		strlcpy(conn->handshake_key, buf, RTSYNC_MAX_KEY_LEN);
}

static void
conn_established(struct lws *wsi, RtsyncConn *conn)
{
	const struct lws_protocols *proto = lws_get_protocol(wsi);

	conn->wsi = wsi;
	conn->cxt = AllocSetContextCreate(TopMemoryContext, "rtsync connection",
									  ALLOCSET_SMALL_SIZES);
	/* conn->rx is made on the first message: idle clients cost less */
	dlist_init(&conn->outq);
	conn->out_bytes = 0;
	conn->subscriptions = NIL;
	if (proto->id == 2)
		conn->dialect = conn->appsync_handshake ?
			RTSYNC_DIALECT_APPSYNC : RTSYNC_DIALECT_GRAPHQL_WS;
	else
		conn->dialect = RTSYNC_DIALECT_TRANSPORT_WS;
	dlist_push_tail(&connections, &conn->node);
	nconnections++;
	rtsync_metrics_count(RTSYNC_M_WEBSOCKET_CONNECTIONS_ACCEPTED, 1);
	connection_gauges();
	conn->last_rx = uv_now(server_loop);
	init_fifo_add(conn);
}

static void
conn_closed(RtsyncConn *conn)
{
	if (conn->cxt == NULL)
		return;
	init_fifo_remove(conn);
	rtsync_protocol_closed(conn);
	if (conn->flush_pending)
		dlist_delete(&conn->flush_node);
	conn->flush_pending = false;
	dlist_delete(&conn->node);
	nconnections--;
	connection_gauges();
	MemoryContextDelete(conn->cxt);
	conn->cxt = NULL;
}

/* Largest batch of frames put into one write. */
#define WRITE_BATCH_BYTES (256 * 1024)

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
rtsync_server_flush(void)
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
static int
conn_writeable(RtsyncConn *conn)
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

static int
conn_receive(RtsyncConn *conn, const char *in, size_t len)
{
	static StringInfoData whole = {NULL, 0, 0, 0};

	if (lws_frame_is_binary(conn->wsi))
	{
		rtsync_conn_close(conn, 1003, "binary messages are not supported");
		return 0;
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
			return 0;
		}
		if (whole.data == NULL)
			init_string_in(&whole, TopMemoryContext);
		resetStringInfo(&whole);
		appendBinaryStringInfo(&whole, in, len);
		rtsync_protocol_receive(conn, whole.data, whole.len);
		/* a huge message's buffer is not kept */
		if (whole.maxlen > 64 * 1024)
		{
			pfree(whole.data);
			whole.data = NULL;
		}
		return 0;
	}
	if (conn->rx.data == NULL)
		init_string_in(&conn->rx, conn->cxt);
	if (!conn->rx_too_big && conn->rx.len + len > (size_t) rtsync_max_message_bytes)
		conn->rx_too_big = true;
	if (!conn->rx_too_big)
		appendBinaryStringInfo(&conn->rx, in, len);
	if (!lws_is_final_fragment(conn->wsi) || lws_remaining_packet_payload(conn->wsi) > 0)
		return 0;
	if (conn->rx_too_big)
		rtsync_conn_close(conn, 1009, "message too big");
	else
		rtsync_protocol_receive(conn, conn->rx.data, conn->rx.len);
	/* the buffer is not kept between messages: most clients send few */
	pfree(conn->rx.data);
	conn->rx.data = NULL;
	conn->rx.len = 0;
	conn->rx_too_big = false;
	return 0;
}

static int
server_callback_guarded(struct lws *wsi, enum lws_callback_reasons reason,
						RtsyncConn *conn, void *in, size_t len)
{
	switch (reason)
	{
		case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
			if (shutting_down || !websocket_path_ok(wsi) ||
				nconnections >= rtsync_max_connections)
				return -1;
			inspect_handshake(wsi, conn);
			return 0;
		case LWS_CALLBACK_ESTABLISHED:
			conn_established(wsi, conn);
			return 0;
		case LWS_CALLBACK_RECEIVE:
			if (conn->cxt)
				conn->last_rx = uv_now(server_loop);
			return conn->cxt ? conn_receive(conn, in, len) : -1;
		case LWS_CALLBACK_RECEIVE_PONG:
			if (conn->cxt)
				conn->last_rx = uv_now(server_loop);
			return 0;
		case LWS_CALLBACK_SERVER_WRITEABLE:
			return conn->cxt ? conn_writeable(conn) : -1;
		case LWS_CALLBACK_CLOSED:
			conn_closed(conn);
			return 0;
		default:
			/* HTTP never reaches lws: http/connection.c reads every request */
			return lws_callback_http_dummy(wsi, reason, conn, in, len);
	}
}

/*
 * The lws callback, the one entry from libwebsockets (WebSocket, and HTTP
 * with TLS): everything runs inside the guard, so an error in our code
 * closes that one client (1011, and -1 to lws: drop the socket) and never
 * unwinds through libwebsockets.
 */
static int
server_callback(struct lws *wsi, enum lws_callback_reasons reason,
				void *user, void *in, size_t len)
{
	volatile int result = 0;

	RTSYNC_GUARD(result = server_callback_guarded(wsi, reason, (RtsyncConn *) user, in, len),
				 {
					 if (user)
						 conn_failed((RtsyncConn *) user);
					 result = (reason == LWS_CALLBACK_CLOSED) ? 0 : -1;
				 });
	return result;
}

/* 10,000 sockets must fit: take the hard limit on open files. */
static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max)
	{
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			ereport(LOG, (errmsg("rtsync could not raise the open files limit: %m")));
	}
	getrlimit(RLIMIT_NOFILE, &rl);
	ereport(LOG, (errmsg("rtsync open files limit is %lu", (unsigned long) rl.rlim_cur)));
}

bool
rtsync_server_start(uv_loop_t *loop)
{
	static void *foreign_loops[1];
	struct lws_context_creation_info info;
	const char *iface = rtsync_listen_addresses;

	raise_fd_limit();
	lws_set_log_level(LLL_ERR, lws_log_emit);

	if (strcmp(iface, "localhost") == 0)
		iface = "127.0.0.1";
	else if (strcmp(iface, "*") == 0 || iface[0] == '\0')
		iface = NULL;

	foreign_loops[0] = loop;
	memset(&info, 0, sizeof(info));
	/*
	 * lws never listens and never does TLS: we accept every connection
	 * (net/listener.c), terminate TLS ourselves (net/tls_proxy.c) and hand lws
	 * plaintext WebSocket upgrades (http/upgrade.c)
	 */
	info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
	info.iface = iface;
	info.protocols = protocols;
	info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_VALIDATE_UTF8;
	info.foreign_loops = foreign_loops;
	/* an upgrade's head as http/connection.c takes it, plus what ws_upgrade adds */
	info.max_http_header_data = RTSYNC_HTTP_HEAD_MAX + 1024;
	info.pt_serv_buf_size = 64 * 1024;
	info.timeout_secs = 20;
	info.retry_and_idle_policy = &idle_policy;

	context = lws_create_context(&info);
	if (context != NULL && lws_get_vhost_by_name(context, "default") == NULL)
	{
		lws_context_destroy(context);
		context = NULL;
	}
	if (context == NULL)
	{
		ereport(LOG, (errmsg("rtsync could not create its libwebsockets context")));
		return false;
	}
	server_loop = loop;
	uv_timer_init(loop, &init_timer);
	rtsync_ws_upgrade_init(lws_get_vhost_by_name(context, "default"), websocket_accepting);
	rtsync_http_server_init(loop, rtsync_ws_upgrade);
	if ((rtsync_tls_cert_file[0] != '\0' &&
		 !rtsync_tls_proxy_start(loop, rtsync_tls_cert_file, rtsync_tls_key_file,
								 accept_plain)) ||
		!rtsync_listener_start(loop, iface ? iface : "0.0.0.0", rtsync_port,
							   rtsync_tls_cert_file[0] != '\0' ?
							   rtsync_tls_proxy_accept : accept_plain))
	{
		rtsync_tls_proxy_stop();
		lws_context_destroy(context);
		context = NULL;
		return false;
	}
	uv_timer_init(loop, &keepalive_timer);
	uv_timer_start(&keepalive_timer, keepalive_cb, rtsync_keepalive_interval_ms,
				   rtsync_keepalive_interval_ms);
	ereport(LOG,
			(errmsg("rtsync serving GraphQL on %s://%s:%d/graphql",
					rtsync_tls_cert_file[0] ? "wss" : "ws",
					rtsync_listen_addresses, rtsync_port)));
	return true;
}

/* After SIGHUP: settings the running server keeps in its own state. */
void
rtsync_server_reload(void)
{
	if (context && !shutting_down &&
		uv_timer_get_repeat(&keepalive_timer) != (uint64_t) rtsync_keepalive_interval_ms)
		uv_timer_start(&keepalive_timer, keepalive_cb, rtsync_keepalive_interval_ms,
					   rtsync_keepalive_interval_ms);
}

/* Close every client with 1001 (going away); the loop sends the frames. */
void
rtsync_server_shutdown(void)
{
	dlist_iter	iter;

	shutting_down = true;
	rtsync_listener_stop();
	rtsync_tls_proxy_shutdown();
	rtsync_http_server_shutdown();
	uv_timer_stop(&keepalive_timer);
	uv_timer_stop(&init_timer);
	dlist_foreach(iter, &connections)
		rtsync_conn_close(dlist_container(RtsyncConn, node, iter.cur), 1001,
						  "server shutting down");
}

void
rtsync_server_destroy(void)
{
	if (context)
	{
		uv_close((uv_handle_t *) &keepalive_timer, NULL);
		uv_close((uv_handle_t *) &init_timer, NULL);
		/* TLS connections last: they carry what lws wrote at the end */
		rtsync_tls_proxy_stop();
		lws_context_destroy(context);
		context = NULL;
	}
}
