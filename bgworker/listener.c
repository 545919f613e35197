/*-------------------------------------------------------------------------
 *
 * listener.c
 *	  Accepts the server's TCP connections and hands them to lws.
 *
 * Why not let lws listen: AWS Amplify and aws-appsync-subscription-link
 * put their authorization in a Sec-WebSocket-Protocol token
 * ("graphql-ws, header-<base64url JSON>"), and libwebsockets 4.1 refuses
 * any upgrade whose protocol list is longer than 127 bytes ("protocol list
 * too long") before any callback of ours could step in. So we accept the
 * connection, read the request head, move "header-..." tokens out of
 * Sec-WebSocket-Protocol into a header of our own, and give lws the socket
 * with the rewritten head (lws_adopt_socket_vhost_readbuf), as if it had
 * accepted it. Everything else about the request is passed on untouched.
 *
 * A client that does not finish its request head within the timeout, or
 * sends more than fits, is closed. With TLS configured, lws listens itself
 * (the head is encrypted here); long AppSync protocol tokens then need the
 * header= query parameter form.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unistd.h>

#include "utils/memutils.h"

#include "listener.h"

#define HEAD_MAX 2048			/* lws takes at most this much pre-read data */
#define HEAD_TIMEOUT_MS 10000

typedef struct PendingConn
{
	uv_tcp_t	tcp;
	uv_timer_t	timer;
	int			open_handles;
	size_t		len;
	char		buf[HEAD_MAX + 1];
} PendingConn;

static uv_tcp_t listener;
static bool listening = false;
static struct lws_vhost *target_vhost = NULL;

static void
pending_handle_closed(uv_handle_t *handle)
{
	PendingConn *pc = handle->data;

	if (--pc->open_handles == 0)
		free(pc);
}

static void
pending_close(PendingConn *pc)
{
	if (!uv_is_closing((uv_handle_t *) &pc->timer))
		uv_close((uv_handle_t *) &pc->timer, pending_handle_closed);
	if (!uv_is_closing((uv_handle_t *) &pc->tcp))
		uv_close((uv_handle_t *) &pc->tcp, pending_handle_closed);
}

static void
head_timeout_cb(uv_timer_t *timer)
{
	pending_close(timer->data);
}

/*
 * Copies the request head, moving "header-..." tokens of
 * Sec-WebSocket-Protocol to RTSYNC_APPSYNC_HEADER. Returns the new length,
 * or -1 when it does not fit.
 */
static int
rewrite_head(const char *in, size_t inlen, size_t headlen, char *out, size_t outmax)
{
	const char *line = in;
	const char *head_end = in + headlen;
	size_t		n = 0;
	char		moved[HEAD_MAX];
	size_t		moved_len = 0;

#define EMIT(p, l) do { if (n + (l) > outmax) return -1; memcpy(out + n, (p), (l)); n += (l); } while (0)

	while (line < head_end)
	{
		const char *eol = strstr(line, "\r\n");
		size_t		linelen = eol ? (size_t) (eol - line) + 2 : (size_t) (head_end - line);
		static const char name[] = "sec-websocket-protocol:";

		if (linelen == 2)		/* the empty line that ends the head */
			break;
		if (linelen > sizeof(name) && pg_strncasecmp(line, name, sizeof(name) - 1) == 0)
		{
			const char *p = line + sizeof(name) - 1;
			const char *end = line + linelen - 2;
			bool		first = true;

			EMIT(line, sizeof(name) - 1);
			while (p < end)
			{
				const char *tok;
				size_t		toklen;

				while (p < end && (*p == ' ' || *p == ','))
					p++;
				tok = p;
				while (p < end && *p != ',' && *p != ' ')
					p++;
				toklen = p - tok;
				if (toklen == 0)
					continue;
				if (toklen > 7 && strncmp(tok, "header-", 7) == 0)
				{
					if (moved_len + toklen < sizeof(moved))
					{
						memcpy(moved + moved_len, tok, toklen);
						moved_len += toklen;
					}
					continue;
				}
				EMIT(first ? " " : ", ", first ? 1 : 2);
				EMIT(tok, toklen);
				first = false;
			}
			EMIT("\r\n", 2);
		}
		else
			EMIT(line, linelen);
		line += linelen;
	}
	if (moved_len > 0)
	{
		EMIT(RTSYNC_APPSYNC_HEADER " ", sizeof(RTSYNC_APPSYNC_HEADER));
		EMIT(moved, moved_len);
		EMIT("\r\n", 2);
	}
	/* the empty line, and anything the client sent after the head */
	EMIT(in + headlen, inlen - headlen);
#undef EMIT
	return (int) n;
}

static void
alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	PendingConn *pc = handle->data;

	buf->base = pc->buf + pc->len;
	buf->len = HEAD_MAX - pc->len;
}

static void
read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	PendingConn *pc = stream->data;
	char	   *end;
	char		out[HEAD_MAX];
	int			outlen;
	uv_os_fd_t	fd;
	int			adopted_fd;

	if (nread < 0)
	{
		pending_close(pc);
		return;
	}
	pc->len += nread;
	pc->buf[pc->len] = '\0';
	end = strstr(pc->buf, "\r\n\r\n");
	if (end == NULL)
	{
		if (pc->len >= HEAD_MAX || memchr(pc->buf, '\0', pc->len) != NULL)
			pending_close(pc);	/* too big for lws, or not HTTP */
		return;
	}

	uv_read_stop(stream);
	outlen = rewrite_head(pc->buf, pc->len, end - pc->buf + 2, out, sizeof(out));
	if (outlen < 0 || uv_fileno((uv_handle_t *) &pc->tcp, &fd) != 0 ||
		(adopted_fd = dup(fd)) < 0)
	{
		pending_close(pc);
		return;
	}
	/* our handle and descriptor go; lws gets its own copy of the socket */
	pending_close(pc);
	lws_adopt_socket_vhost_readbuf(target_vhost, adopted_fd, out, outlen);
}

static void
connection_cb(uv_stream_t *server, int status)
{
	PendingConn *pc;

	if (status < 0)
		return;
	/*
	 * malloc, not palloc: a burst of thousands of connections would leave
	 * these chunks in TopMemoryContext's free lists for good; freed to the C
	 * library, the memory serves the connections' own allocations.
	 */
	pc = calloc(1, sizeof(PendingConn));
	if (pc == NULL)
		return;					/* the connection stays in the backlog */
	uv_tcp_init(server->loop, &pc->tcp);
	uv_timer_init(server->loop, &pc->timer);
	pc->tcp.data = pc;
	pc->timer.data = pc;
	pc->open_handles = 2;
	if (uv_accept(server, (uv_stream_t *) &pc->tcp) != 0)
	{
		pending_close(pc);
		return;
	}
	uv_tcp_nodelay(&pc->tcp, 1);
	uv_timer_start(&pc->timer, head_timeout_cb, HEAD_TIMEOUT_MS, 0);
	uv_read_start((uv_stream_t *) &pc->tcp, alloc_cb, read_cb);
}

bool
rtsync_listener_start(uv_loop_t *loop, struct lws_vhost *vhost,
					  const char *address, int port)
{
	struct sockaddr_storage addr;
	int			rc;

	target_vhost = vhost;
	if (strchr(address, ':'))
		rc = uv_ip6_addr(address, port, (struct sockaddr_in6 *) &addr);
	else
		rc = uv_ip4_addr(address, port, (struct sockaddr_in *) &addr);
	if (rc != 0)
	{
		ereport(LOG,
				(errmsg("rtsync cannot listen on \"%s\": not an IP address", address),
				 errhint("Set rtsync.listen_addresses to localhost, *, or one IP address.")));
		return false;
	}
	uv_tcp_init(loop, &listener);
	if ((rc = uv_tcp_bind(&listener, (struct sockaddr *) &addr, 0)) != 0 ||
		(rc = uv_listen((uv_stream_t *) &listener, SOMAXCONN, connection_cb)) != 0)
	{
		ereport(LOG,
				(errmsg("rtsync could not listen on %s:%d: %s", address, port,
						uv_strerror(rc))));
		uv_close((uv_handle_t *) &listener, NULL);
		return false;
	}
	listening = true;
	return true;
}

void
rtsync_listener_stop(void)
{
	if (listening)
		uv_close((uv_handle_t *) &listener, NULL);
	listening = false;
}
