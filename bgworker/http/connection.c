/*-------------------------------------------------------------------------
 *
 * http/connection.c
 *	  rtsync's own HTTP/1.1 connections on the worker's libuv loop: the
 *	  transport for every plain-TCP request that is not a WebSocket upgrade.
 *
 * Why not libwebsockets' HTTP server: lws 4.1 spins at 100 % CPU on
 * pipelined requests with bodies, answers chunked bodies with silence, and
 * resets heads over its buffer. Here a connection is a small state machine:
 *
 *	  HEAD   reading a request head (http/parse.c), within a total deadline
 *	  BODY   reading its body: Content-Length or chunked, within a deadline
 *			 and rtsync.max_request_bytes
 *	  ROUTED the router has it (http/router.c); reading stops until the answer has
 *			 been written, so pipelined requests wait in the socket, in
 *			 order, and cost nothing
 *	  LINGER the answer said "close": our side is shut down and what the
 *			 client still sends is read and dropped for a moment, so the
 *			 answer is not lost to a TCP reset
 *
 * A connection owns a receive buffer (malloc: it grows to at most a head
 * and a read, and is freed whenever it is empty) and at most one request,
 * whose memory context is a child of TopMemoryContext until it is
 * answered. Every libuv callback into this file runs inside one guard: an
 * ERROR closes that connection, never the worker.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>
#include <unistd.h>

#include "lib/ilist.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "base/guard.h"
#include "http/connection.h"
#include "base/metrics.h"
#include "base/settings.h"

/*
 * How long a connection may take (base/settings.c): all totals, none reset by a
 * trickle of bytes.
 */
#define IDLE_TIMEOUT_MS rtsync_http_keepalive_timeout_ms	/* between requests */
#define HEAD_TIMEOUT_MS rtsync_http_head_timeout_ms /* a head, first byte to end */
#define BODY_TIMEOUT_MS rtsync_http_body_timeout_ms /* head's end to body's end */
#define WRITE_TIMEOUT_MS rtsync_http_body_timeout_ms	/* to take an answer */
#define LINGER_MS 2000			/* reading what follows a final answer */
#define READ_CHUNK 65536

typedef enum ConnState
{
	HC_HEAD,
	HC_BODY,
	HC_ROUTED,
	HC_LINGER,
	HC_CLOSED
} ConnState;

typedef struct HttpConn
{
	uv_tcp_t	tcp;
	uv_timer_t	timer;
	uv_write_t	write_req;
	uv_shutdown_t shutdown_req;
	int			open_handles;
	dlist_node	node;
	ConnState	state;
	bool		reading;
	bool		in_process;		/* process() is on the stack */
	bool		head_started;	/* a head's first byte is in */
	RtsyncHttpScan scan;		/* how far the head has been looked at */
	bool		keep_alive;		/* after this request */
	int			served;			/* requests answered */
	char	   *in;				/* received, not yet consumed */
	size_t		in_len;
	size_t		in_cap;
	RtsyncHttpRequest *req;
	RtsyncHttpBodyKind body_kind;
	uint64		body_left;		/* Content-Length bytes still to come */
	RtsyncChunked chunked;
	StringInfoData out;			/* the answer being written */
} HttpConn;

static uv_loop_t *server_loop = NULL;
static dlist_head conns = DLIST_STATIC_INIT(conns);
static int	nconns = 0;
static RtsyncHttpUpgradeFn upgrade_fn = NULL;

static void process(HttpConn *hc);
static void send_answer(RtsyncHttpRequest *req);

static const RtsyncHttpTransport transport = {send_answer};

int
rtsync_http_server_connection_count(void)
{
	return nconns;
}

/* ----- closing ----- */

static void
handle_closed(uv_handle_t *handle)
{
	HttpConn   *hc = handle->data;

	if (--hc->open_handles == 0)
		free(hc);
}

/* Drops the connection now; a request still on the pool is orphaned. */
static void
conn_close(HttpConn *hc)
{
	if (hc->state == HC_CLOSED)
		return;
	hc->state = HC_CLOSED;
	dlist_delete(&hc->node);
	nconns--;
	rtsync_metrics_set(RTSYNC_M_CONNECTIONS_HTTP, nconns);
	if (hc->req)
	{
		RtsyncHttpRequest *req = hc->req;

		hc->req = NULL;
		rtsync_http_request_detach(req);
	}
	if (hc->out.data)
		pfree(hc->out.data);
	hc->out.data = NULL;
	free(hc->in);
	hc->in = NULL;
	uv_close((uv_handle_t *) &hc->timer, handle_closed);
	uv_close((uv_handle_t *) &hc->tcp, handle_closed);
}

static void
timer_set(HttpConn *hc, uint64 ms, uv_timer_cb cb)
{
	uv_timer_start(&hc->timer, cb, ms, 0);
}

/* ----- guarded entry from libuv ----- */

/*
 * Runs fn(hc) inside the connection's guard: an ERROR is logged and closes
 * this connection only, and the memory context is restored.
 */
static void
guarded(HttpConn *hc, void (*fn) (HttpConn *hc))
{
	RTSYNC_GUARD(fn(hc), conn_close(hc));
}

/* ----- reading ----- */

static void
alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	HttpConn   *hc = handle->data;

	if (hc->in_cap - hc->in_len < READ_CHUNK / 4)
	{
		size_t		cap = hc->in_len + READ_CHUNK;
		char	   *p = realloc(hc->in, cap);

		if (p == NULL)
		{
			buf->base = NULL;
			buf->len = 0;		/* libuv reports UV_ENOBUFS */
			return;
		}
		hc->in = p;
		hc->in_cap = cap;
	}
	buf->base = hc->in + hc->in_len;
	buf->len = hc->in_cap - hc->in_len;
}

static void
read_stop(HttpConn *hc)
{
	if (hc->reading)
		uv_read_stop((uv_stream_t *) &hc->tcp);
	hc->reading = false;
}

static void read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

static void
read_start(HttpConn *hc)
{
	if (!hc->reading && hc->state != HC_CLOSED)
		hc->reading = uv_read_start((uv_stream_t *) &hc->tcp, alloc_cb, read_cb) == 0;
}

/* Drops the first n received bytes; an empty buffer is given back. */
static void
consume(HttpConn *hc, size_t n)
{
	memmove(hc->in, hc->in + n, hc->in_len - n);
	hc->in_len -= n;
	if (hc->in_len == 0 && hc->state != HC_BODY)
	{
		free(hc->in);
		hc->in = NULL;
		hc->in_cap = 0;
	}
}

static void
process_guarded(HttpConn *hc)
{
	process(hc);
}

static void
read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	HttpConn   *hc = stream->data;

	if (nread == 0)
		return;					/* EAGAIN */
	if (nread < 0)
	{
		/* EOF or a reset: a request half sent is abandoned with it */
		conn_close(hc);
		return;
	}
	if (hc->state == HC_LINGER)
	{
		hc->in_len = 0;			/* read and dropped */
		return;
	}
	hc->in_len += nread;
	guarded(hc, process_guarded);
}

/* ----- answering ----- */

static void
write_cb(uv_write_t *wreq, int status);

static void
timeout_cb(uv_timer_t *timer)
{
	conn_close(timer->data);
}

/*
 * Writes an answer whose bytes are in hc->out (headers and body). The
 * write finishes in write_cb, never before this returns, so no caller
 * sees its request freed under it.
 */
static void
write_out(HttpConn *hc)
{
	uv_buf_t	b = uv_buf_init(hc->out.data, hc->out.len);

	rtsync_metrics_count(RTSYNC_M_BYTES_SENT_HTTP, hc->out.len);
	timer_set(hc, WRITE_TIMEOUT_MS, timeout_cb);
	if (uv_write(&hc->write_req, (uv_stream_t *) &hc->tcp, &b, 1, write_cb) != 0)
		conn_close(hc);
}

static void
append_date(StringInfo out)
{
	char		date[64];
	time_t		now = time(NULL);
	struct tm	tm;

	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	appendStringInfo(out, "Date: %s\r\n", date);
}

/* Status line, Date, type, length and (when closing) Connection: close. */
static void
start_response(HttpConn *hc, int status, const char *type, size_t len)
{
	initStringInfo(&hc->out);
	appendStringInfo(&hc->out, "HTTP/1.1 %d %s\r\n", status, rtsync_http_reason(status));
	append_date(&hc->out);
	appendStringInfo(&hc->out, "Content-Type: %s\r\nContent-Length: %zu\r\n", type, len);
	if (!hc->keep_alive)
		appendStringInfoString(&hc->out, "Connection: close\r\n");
}

/* The transport's send: the router's answer to hc's request. */
static void
send_answer(RtsyncHttpRequest *req)
{
	HttpConn   *hc = req->transport_data;
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	/* a HEAD request's answer has no body (http/router.c), so its length is 0 */
	start_response(hc, req->status, req->answer_type, req->answer.len);
	rtsync_http_append_cors(req, &hc->out);
	if (req->extra_headers)
		appendStringInfoString(&hc->out, req->extra_headers);
	appendStringInfoString(&hc->out, "\r\n");
	appendBinaryStringInfo(&hc->out, req->answer.data, req->answer.len);
	MemoryContextSwitchTo(old);
	write_out(hc);
}

/*
 * An answer the connection makes itself (a malformed or oversized
 * request), AppSync-shaped like the router's errors, always followed by
 * closing: after it the client's bytes cannot be trusted to start a
 * request.
 */
static void
answer_and_close(HttpConn *hc, int status, const char *error_type, const char *message)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	StringInfoData body;

	hc->keep_alive = false;
	read_stop(hc);
	hc->state = HC_ROUTED;
	if (hc->req)
	{
		RtsyncHttpRequest *req = hc->req;

		hc->req = NULL;
		rtsync_http_request_detach(req);
	}
	rtsync_metrics_http_request(status, GetCurrentTimestamp());
	initStringInfo(&body);
	rtsync_http_error_body(&body, error_type, message);
	start_response(hc, status, "application/json", body.len);
	appendStringInfoString(&hc->out, "\r\n");
	appendBinaryStringInfo(&hc->out, body.data, body.len);
	pfree(body.data);
	MemoryContextSwitchTo(old);
	write_out(hc);
}

static void
linger_done(uv_shutdown_t *sreq, int status)
{
	/* the timer set when lingering began closes the connection */
}

/* Shut our side, read and drop for a moment, then close. */
static void
linger(HttpConn *hc)
{
	hc->state = HC_LINGER;
	timer_set(hc, LINGER_MS, timeout_cb);
	if (uv_shutdown(&hc->shutdown_req, (uv_stream_t *) &hc->tcp, linger_done) != 0)
	{
		conn_close(hc);
		return;
	}
	read_start(hc);
}

static void
write_done(HttpConn *hc)
{
	RtsyncHttpRequest *req = hc->req;

	pfree(hc->out.data);
	hc->out.data = NULL;
	hc->req = NULL;
	if (req)
		rtsync_http_request_detach(req);
	if (!hc->keep_alive)
	{
		linger(hc);
		return;
	}
	/* the next request: maybe already here (pipelined) */
	hc->served++;
	hc->state = HC_HEAD;
	hc->head_started = false;
	uv_timer_stop(&hc->timer);
	read_start(hc);
	process(hc);
}

static void
write_cb(uv_write_t *wreq, int status)
{
	HttpConn   *hc = wreq->data;

	if (hc->state == HC_CLOSED)
		return;
	if (status < 0)
	{
		conn_close(hc);
		return;
	}
	guarded(hc, write_done);
}

/* ----- requests ----- */

static char *
header_dup(const RtsyncHttpHead *head, const char *name)
{
	const RtsyncHttpSlice *v = rtsync_http_header(head, name);

	return v ? pnstrdup(v->p, v->len) : NULL;
}

static RtsyncHttpMethod
method_of(const RtsyncHttpSlice *m)
{
	if (m->len == 3 && memcmp(m->p, "GET", 3) == 0)
		return RTSYNC_HTTP_GET;
	if (m->len == 4 && memcmp(m->p, "HEAD", 4) == 0)
		return RTSYNC_HTTP_HEAD;
	if (m->len == 4 && memcmp(m->p, "POST", 4) == 0)
		return RTSYNC_HTTP_POST;
	if (m->len == 7 && memcmp(m->p, "OPTIONS", 7) == 0)
		return RTSYNC_HTTP_OPTIONS;
	return RTSYNC_HTTP_OTHER;
}

static void
route(HttpConn *hc)
{
	hc->state = HC_ROUTED;
	uv_timer_stop(&hc->timer);
	read_stop(hc);
	/* the body may have grown its buffer: the router sees it as a string */
	rtsync_http_route(hc->req);
}

/* A body over rtsync.max_request_bytes: answer 413, then close unread. */
static void
body_too_big(HttpConn *hc)
{
	RtsyncHttpRequest *req = hc->req;

	hc->keep_alive = false;
	hc->state = HC_ROUTED;
	read_stop(hc);
	rtsync_http_answer_error(req, RTSYNC_HTTP_STATUS_PAYLOAD_TOO_LARGE,
							 "PayloadTooLargeException",
							 psprintf("The request body is larger than rtsync.max_request_bytes (%d bytes).",
									  rtsync_max_request_bytes));
}

/*
 * A whole head is in: make the request, decide how its body is framed.
 * Returns false when the connection answered and is closing, or was
 * handed over as a WebSocket.
 */
static bool
start_request(HttpConn *hc, const RtsyncHttpHead *head)
{
	RtsyncHttpRequest *req;
	MemoryContext old;
	const RtsyncHttpSlice *connection = rtsync_http_header(head, "connection");
	const RtsyncHttpSlice *expect = rtsync_http_header(head, "expect");

	if (upgrade_fn && rtsync_http_token_in(rtsync_http_header(head, "upgrade"), "websocket"))
	{
		uv_os_fd_t	own;
		int			fd;
		int			status;

		/* a WebSocket: lws gets a descriptor of its own, ours closes */
		if (uv_fileno((uv_handle_t *) &hc->tcp, &own) != 0 || (fd = dup(own)) < 0)
		{
			conn_close(hc);
			return false;
		}
		status = upgrade_fn(fd, hc->in, hc->in_len, head);
		if (status == 0)
		{
			conn_close(hc);
			return false;
		}
		close(fd);
		if (status == 404)
			answer_and_close(hc, status, "NotFoundException",
							 "WebSockets are served at /graphql and /graphql/realtime.");
		else if (status == 503)
			answer_and_close(hc, status, "ServiceUnavailable",
							 "The server takes no more WebSocket connections now; retry later.");
		else
			answer_and_close(hc, status, "MalformedHttpRequestException",
							 "Not a WebSocket handshake this server takes: it speaks the subprotocols graphql-transport-ws and graphql-ws (WebSocket version 13).");
		return false;
	}

	hc->keep_alive = head->minor_version >= 1 ?
		!rtsync_http_token_in(connection, "close") :
		rtsync_http_token_in(connection, "keep-alive");
	hc->body_kind = rtsync_http_body_kind(head, &hc->body_left);
	if (hc->body_kind == RTSYNC_BODY_INVALID)
	{
		answer_and_close(hc, 400, "MalformedHttpRequestException", "The request's Content-Length or Transfer-Encoding is invalid.");
		return false;
	}
	if (hc->body_kind == RTSYNC_BODY_UNSUPPORTED)
	{
		answer_and_close(hc, 501, "MalformedHttpRequestException", "Only the chunked transfer coding is supported.");
		return false;
	}

	req = rtsync_http_request_new(TopMemoryContext, &transport, hc);
	old = MemoryContextSwitchTo(req->cxt);
	req->method = method_of(&head->method);
	req->post = req->method == RTSYNC_HTTP_POST;
	req->uri = pnstrdup(head->path.p, head->path.len);
	req->query = pnstrdup(head->query.p, head->query.len);
	req->api_key = header_dup(head, "x-api-key");
	req->authorization = header_dup(head, "authorization");
	req->origin = header_dup(head, "origin");
	req->content_type = header_dup(head, "content-type");
	req->cors_request_headers = header_dup(head, "access-control-request-headers");
	MemoryContextSwitchTo(old);
	hc->req = req;

	if (hc->body_kind == RTSYNC_BODY_LENGTH &&
		hc->body_left > (uint64) rtsync_max_request_bytes)
	{
		body_too_big(hc);
		return false;
	}
	if (hc->body_kind != RTSYNC_BODY_NONE && expect &&
		rtsync_http_token_in(expect, "100-continue"))
	{
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		uv_buf_t	b = uv_buf_init((char *) cont, sizeof(cont) - 1);

		/* tiny, and nothing else is being written now */
		(void) uv_try_write((uv_stream_t *) &hc->tcp, &b, 1);
	}
	memset(&hc->chunked, 0, sizeof(hc->chunked));
	hc->state = hc->body_kind == RTSYNC_BODY_NONE ? HC_ROUTED : HC_BODY;
	return true;
}

/* Moves what has arrived of the body into the request. */
static void
take_body(HttpConn *hc)
{
	StringInfo	body = &hc->req->body;

	if (hc->body_kind == RTSYNC_BODY_LENGTH)
	{
		size_t		n = Min((uint64) hc->in_len, hc->body_left);

		appendBinaryStringInfo(body, hc->in, n);
		consume(hc, n);
		hc->body_left -= n;
		if (hc->body_left == 0)
			route(hc);
		return;
	}
	else
	{
		size_t		used;
		size_t		n = rtsync_chunked_decode(&hc->chunked, hc->in, hc->in_len, &used);

		if (hc->chunked.error)
		{
			answer_and_close(hc, 400, "MalformedHttpRequestException", "The request's chunked body is malformed.");
			return;
		}
		if ((uint64) body->len + n > (uint64) rtsync_max_request_bytes)
		{
			body_too_big(hc);
			return;
		}
		appendBinaryStringInfo(body, hc->in, n);
		consume(hc, used);
		if (hc->chunked.done)
			route(hc);
	}
}

static void
request_timeout(HttpConn *hc)
{
	if (hc->state == HC_HEAD || hc->state == HC_BODY)
		answer_and_close(hc, 408, "RequestTimeout", "The request did not arrive in time.");
}

/* A head or body still incomplete at its deadline. */
static void
head_timeout_cb(uv_timer_t *timer)
{
	guarded(timer->data, request_timeout);
}

/*
 * Handles what the client has sent, as far as it goes. Loops rather than
 * recursing, so any number of pipelined requests answered at once cost no
 * stack.
 */
static void
process(HttpConn *hc)
{
	static RtsyncHttpHead head; /* large; parsing is synchronous */

	if (hc->in_process)
		return;					/* the outer call goes on from here */
	hc->in_process = true;
	while (hc->state == HC_HEAD || hc->state == HC_BODY)
	{
		if (hc->state == HC_HEAD)
		{
			RtsyncHttpParse r;

			if (hc->in_len == 0)
			{
				/* a new connection must start its request soon */
				if (!uv_is_active((uv_handle_t *) &hc->timer))
					timer_set(hc, hc->served == 0 ? HEAD_TIMEOUT_MS : IDLE_TIMEOUT_MS,
							  timeout_cb);
				break;
			}
			if (!hc->head_started)
			{
				hc->head_started = true;
				memset(&hc->scan, 0, sizeof(hc->scan));
				timer_set(hc, HEAD_TIMEOUT_MS, head_timeout_cb);
			}
			if (!rtsync_http_head_ready(&hc->scan, hc->in, hc->in_len))
				break;
			r = rtsync_http_parse_head(hc->in, hc->in_len, &head);
			if (r == RTSYNC_HTTP_INCOMPLETE)
				break;
			if (r != RTSYNC_HTTP_COMPLETE)
			{
				answer_and_close(hc, r, "MalformedHttpRequestException",
								 r == RTSYNC_HTTP_URI_TOO_LONG ? "The request line is too long." :
								 r == RTSYNC_HTTP_HEADERS_TOO_LARGE ? "The request's headers are too large." :
								 r == RTSYNC_HTTP_VERSION_NOT_SUPPORTED ? "Only HTTP/1.0 and HTTP/1.1 are served here." :
								 "The request head is malformed.");
				break;
			}
			if (!start_request(hc, &head))
				break;
			consume(hc, head.head_len);
			hc->head_started = false;
			if (hc->state == HC_BODY)
				timer_set(hc, BODY_TIMEOUT_MS, head_timeout_cb);
			else
				route(hc);
		}
		else
		{
			if (hc->in_len == 0)
				break;
			take_body(hc);
		}
	}
	hc->in_process = false;
}

/* ----- adoption ----- */

void
rtsync_http_server_init(uv_loop_t *loop, RtsyncHttpUpgradeFn upgrade)
{
	server_loop = loop;
	upgrade_fn = upgrade;
}

/*
 * Takes a connection whose first bytes (at least a whole request head)
 * the listener has read. fd is ours from now on.
 */
void
rtsync_http_server_adopt(int fd, const char *data, size_t len)
{
	HttpConn   *hc = calloc(1, sizeof(HttpConn));

	if (hc == NULL)
	{
		close(fd);
		return;
	}
	uv_tcp_init(server_loop, &hc->tcp);
	uv_timer_init(server_loop, &hc->timer);
	hc->tcp.data = hc->timer.data = hc->write_req.data = hc->shutdown_req.data = hc;
	hc->open_handles = 2;
	dlist_push_tail(&conns, &hc->node);
	nconns++;
	rtsync_metrics_set(RTSYNC_M_CONNECTIONS_HTTP, nconns);
	hc->state = HC_HEAD;
	if (uv_tcp_open(&hc->tcp, fd) != 0)
	{
		close(fd);
		conn_close(hc);
		return;
	}
	uv_tcp_nodelay(&hc->tcp, 1);
	if (len > 0)
	{
		hc->in = malloc(len + READ_CHUNK);
		if (hc->in == NULL)
		{
			conn_close(hc);
			return;
		}
		memcpy(hc->in, data, len);
		hc->in_len = len;
		hc->in_cap = len + READ_CHUNK;
	}
	if (nconns > rtsync_max_connections)
	{
		answer_and_close(hc, 503, "ServiceUnavailable", "The server has too many connections; retry later.");
		return;
	}
	read_start(hc);
	guarded(hc, process_guarded);
}

/* Shutting down: every HTTP connection goes; their requests are orphaned. */
void
rtsync_http_server_shutdown(void)
{
	dlist_mutable_iter iter;

	dlist_foreach_modify(iter, &conns)
		conn_close(dlist_container(HttpConn, node, iter.cur));
}
