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
 * connection, peek at the request head, and when it has such tokens take
 * it, move them out of Sec-WebSocket-Protocol into a header of our own, and
 * give lws the socket with the rewritten head
 * (lws_adopt_socket_vhost_readbuf), as if it had accepted it. Other
 * requests are left in the socket for lws to read (lws_adopt_socket_vhost).
 *
 * A client that does not finish its request head within the timeout, or
 * sends more than fits, is closed. With TLS configured, lws listens itself
 * (the head is encrypted here); long AppSync protocol tokens then need the
 * header= query parameter form.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/socket.h>
#include <unistd.h>

#include "utils/memutils.h"

#include "listener.h"

#define HEAD_MAX 2048			/* lws takes at most this much pre-read data */
#define HEAD_TIMEOUT_MS 10000
#define HEAD_RETRY_MS 2			/* a head that came in pieces: look again */

typedef struct PendingConn
{
	uv_tcp_t	tcp;
	uv_poll_t	poll;			/* readability of tcp's socket */
	bool		poll_inited;
	uint64		deadline_ms;	/* uv_now() when the head must be in */
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
	if (pc->poll_inited && !uv_is_closing((uv_handle_t *) &pc->poll))
		uv_close((uv_handle_t *) &pc->poll, pending_handle_closed);
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

static void poll_cb(uv_poll_t *handle, int status, int events);

static void
retry_cb(uv_timer_t *timer)
{
	PendingConn *pc = timer->data;

	uv_timer_start(&pc->timer, head_timeout_cb, pc->deadline_ms - uv_now(timer->loop), 0);
	uv_poll_start(&pc->poll, UV_READABLE, poll_cb);
}

/*
 * The socket is readable: look at the request head without taking it.
 * lws 4.1 spins when the pre-read data it is handed comes with a request
 * body, so a head that needs no rewriting stays in the socket and lws reads
 * the request itself; only a head we rewrite (a WebSocket upgrade, which
 * has no body) is taken and handed over. Until the whole head has arrived,
 * peeking again at once would find the same bytes: look again shortly.
 */
static void
poll_cb(uv_poll_t *handle, int status, int events)
{
	PendingConn *pc = handle->data;
	uv_os_fd_t	fd;
	ssize_t		n;
	char	   *end;
	char		out[HEAD_MAX];
	int			outlen;
	int			adopted_fd;
	bool		rewritten;

	if (status < 0 || uv_fileno((uv_handle_t *) &pc->tcp, &fd) != 0)
	{
		pending_close(pc);
		return;
	}
	n = recv(fd, pc->buf, HEAD_MAX, MSG_PEEK);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0 || memchr(pc->buf, '\0', n) != NULL)
	{
		pending_close(pc);		/* gone, or not HTTP */
		return;
	}
	pc->buf[n] = '\0';
	end = strstr(pc->buf, "\r\n\r\n");
	if (end == NULL)
	{
		if (n >= HEAD_MAX)
			pending_close(pc);	/* too big for lws */
		else
		{
			uv_poll_stop(&pc->poll);
			uv_timer_start(&pc->timer, retry_cb, HEAD_RETRY_MS, 0);
		}
		return;
	}
	pc->len = end + 4 - pc->buf;
	uv_poll_stop(&pc->poll);
	outlen = rewrite_head(pc->buf, pc->len, pc->len - 2, out, sizeof(out));
	rewritten = outlen != (int) pc->len || memcmp(out, pc->buf, pc->len) != 0;
	if (outlen < 0 ||
		(rewritten && recv(fd, pc->buf, pc->len, 0) != (ssize_t) pc->len) ||
		(adopted_fd = dup(fd)) < 0)
	{
		pending_close(pc);
		return;
	}
	/* our handles and descriptor go; lws gets its own copy of the socket */
	pending_close(pc);
	if (rewritten)
		lws_adopt_socket_vhost_readbuf(target_vhost, adopted_fd, out, outlen);
	else
		lws_adopt_socket_vhost(target_vhost, adopted_fd);
}

static void
connection_cb(uv_stream_t *server, int status)
{
	PendingConn *pc;
	uv_os_fd_t	fd;

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
	pc->poll.data = pc;
	pc->open_handles = 2;
	if (uv_accept(server, (uv_stream_t *) &pc->tcp) != 0 ||
		uv_fileno((uv_handle_t *) &pc->tcp, &fd) != 0 ||
		uv_poll_init_socket(server->loop, &pc->poll, fd) != 0)
	{
		pending_close(pc);
		return;
	}
	pc->poll_inited = true;
	pc->open_handles = 3;
	uv_tcp_nodelay(&pc->tcp, 1);
	pc->deadline_ms = uv_now(server->loop) + HEAD_TIMEOUT_MS;
	uv_timer_start(&pc->timer, head_timeout_cb, HEAD_TIMEOUT_MS, 0);
	uv_poll_start(&pc->poll, UV_READABLE, poll_cb);
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
