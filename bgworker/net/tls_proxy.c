/*-------------------------------------------------------------------------
 *
 * net/tls_proxy.c
 *	  TLS terminated by rtsync itself, so that a TLS connection is served
 *	  exactly like a plain-TCP one.
 *
 * libwebsockets 4.1's own HTTP server, which it uses whenever it does TLS,
 * spins at 100 % CPU on pipelined requests and crashes on others. So lws
 * never does TLS here: net/listener.c accepts every connection, and with
 * rtsync.tls_cert_file set it hands the socket to this file, which does
 * the TLS handshake with OpenSSL on the worker's libuv loop (uv_poll on the
 * socket, SSL_accept / SSL_read / SSL_write, WANT_READ and WANT_WRITE
 * waited for), within rtsync.http_head_timeout. Then it makes a
 * socketpair, gives one end to http/connection.c as if it were a freshly
 * accepted plain socket (keep-alive, pipelining, chunked bodies, WebSocket
 * upgrades handed to lws: all unchanged), and pumps plaintext between the
 * TLS socket and its own end of the pair:
 *
 *	  up	client -> SSL_read -> buffer -> pair (http/connection.c / lws)
 *	  down	pair -> buffer -> SSL_write -> client
 *
 * Each direction has one buffer of at most one TLS record's plaintext
 * (16 kB), allocated when something is read and freed as soon as it has
 * been written on: a side is not read while the buffer towards the other
 * side is still full, so a slow peer holds back the fast one through the
 * socket buffers (backpressure), never through memory here.
 *
 * Ends travel both ways: a client's close_notify, FIN or reset shuts the
 * pair's writing side after what was read (http/connection.c and lws then see
 * EOF and close their end); the pair end closed or shut by http/connection.c
 * or lws sends what is left, a close_notify and a FIN, and then, like
 * http/connection.c's linger, reads and drops what the client still sends for
 * a moment, so that the last answer is not lost to a TCP reset.
 *
 * Costs, per TLS connection: this struct (~200 bytes), the SSL object
 * (made with SSL_MODE_RELEASE_BUFFERS, so an idle connection keeps no
 * record buffers), the two buffers only while bytes are in transit, the
 * socketpair's two descriptors (so three descriptors in all, and the
 * pair's kernel buffers), and one extra copy of every byte (through the
 * pair) on top of the encryption. Measured: an idle wss subscriber grows
 * the worker's RSS by ~22 kB, a plain ws one by ~6 kB.
 *
 * Every libuv callback into this file runs inside one guard: an ERROR
 * closes that connection only, never the worker. Per-connection state is
 * malloc'd; nothing here is palloc'd.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "lib/ilist.h"

#include "base/settings.h"
#include "base/guard.h"
#include "net/tls_proxy.h"

/* A TLS record carries at most 16 kB of plaintext: one per direction. */
#define TLS_BUF_BYTES 16384
/* Reading what follows our close_notify, as http/connection.c's linger. */
#define LINGER_MS 2000

typedef enum TlsState
{
	TP_HANDSHAKE,				/* SSL_accept until done, within the deadline */
	TP_OPEN,					/* pumping both ways */
	TP_LINGER,					/* our side shut: read and drop, then close */
	TP_CLOSED
} TlsState;

typedef struct TlsConn
{
	uv_poll_t	tls_poll;		/* the client's socket */
	uv_poll_t	pair_poll;		/* our end of the socketpair */
	uv_timer_t	timer;			/* handshake deadline, then linger */
	int			open_handles;
	dlist_node	node;
	TlsState	state;
	int			tls_fd;
	int			pair_fd;		/* -1 until the handshake is done */
	bool		pair_polled;	/* pair_poll was initialised */
	SSL		   *ssl;
	/* up: the client's plaintext on its way to the pair */
	char	   *up;
	size_t		up_off;
	size_t		up_len;
	/* down: the server's plaintext on its way to the client */
	char	   *down;
	size_t		down_off;
	size_t		down_len;
	bool		tls_eof;		/* nothing more comes from the client */
	bool		up_shut;		/* the pair was told so (SHUT_WR) */
	bool		pair_eof;		/* nothing more comes from the pair */
	bool		pair_broken;	/* the pair takes nothing more */
	/* what the last SSL calls wait for */
	bool		tls_want_read;
	bool		tls_want_write;
	bool		pair_want_read;
	bool		pair_want_write;
	int			tls_events;		/* polled now */
	int			pair_events;
} TlsConn;

static uv_loop_t *proxy_loop = NULL;
static SSL_CTX *ssl_ctx = NULL;
static RtsyncTlsPlainFn plain_fn = NULL;
static dlist_head tls_conns = DLIST_STATIC_INIT(tls_conns);
static int	ntls = 0;
static bool accepting = false;

static void pump(TlsConn *tc);

int
rtsync_tls_proxy_connection_count(void)
{
	return ntls;
}

/* ----- closing ----- */

/*
 * A handle is closed: its descriptor goes with it, the struct at the end.
 * (A libuv callback without a guard: nothing here can raise an ERROR.)
 */
static void
handle_closed(uv_handle_t *handle)
{
	TlsConn    *tc = handle->data;

	if (handle == (uv_handle_t *) &tc->tls_poll && tc->tls_fd >= 0)
	{
		close(tc->tls_fd);
		tc->tls_fd = -1;
	}
	else if (handle == (uv_handle_t *) &tc->pair_poll && tc->pair_fd >= 0)
	{
		close(tc->pair_fd);
		tc->pair_fd = -1;
	}
	if (--tc->open_handles == 0)
		free(tc);
}

/*
 * Lets go of our end of the pair: http/connection.c or lws see EOF. The
 * descriptor is closed once libuv has let go of it, never before.
 */
static void
pair_close(TlsConn *tc)
{
	if (tc->pair_polled && !uv_is_closing((uv_handle_t *) &tc->pair_poll))
		uv_close((uv_handle_t *) &tc->pair_poll, handle_closed);
	else if (!tc->pair_polled && tc->pair_fd >= 0)
	{
		close(tc->pair_fd);
		tc->pair_fd = -1;
	}
	tc->pair_broken = tc->pair_eof = true;
	tc->pair_events = 0;
}

static void
free_buffers(TlsConn *tc)
{
	free(tc->up);
	tc->up = NULL;
	tc->up_off = tc->up_len = 0;
	free(tc->down);
	tc->down = NULL;
	tc->down_off = tc->down_len = 0;
}

/* Drops the connection now, both ways. */
static void
tc_close(TlsConn *tc)
{
	if (tc->state == TP_CLOSED)
		return;
	tc->state = TP_CLOSED;
	dlist_delete(&tc->node);
	ntls--;
	free_buffers(tc);
	SSL_free(tc->ssl);			/* the socket BIO does not close tls_fd */
	tc->ssl = NULL;
	pair_close(tc);
	uv_close((uv_handle_t *) &tc->timer, handle_closed);
	uv_close((uv_handle_t *) &tc->tls_poll, handle_closed);
}

/* ----- guarded entry from libuv ----- */

/*
 * Runs fn(tc) inside the connection's guard: an ERROR is logged and closes
 * this connection only, and the memory context is restored.
 */
static void
guarded(TlsConn *tc, void (*fn) (TlsConn *tc))
{
	RTSYNC_GUARD(fn(tc), tc_close(tc));
}

static void
poll_cb(uv_poll_t *handle, int status, int events)
{
	TlsConn    *tc = handle->data;

	if (tc->state == TP_CLOSED)
		return;
	if (status < 0)
	{
		tc_close(tc);
		return;
	}
	guarded(tc, pump);
}

static void
timeout_cb(uv_timer_t *timer)
{
	TlsConn    *tc = timer->data;

	/* a handshake not done in time, or the end of lingering */
	if (tc->state != TP_CLOSED)
		guarded(tc, tc_close);
}

/* Polls a side for what it waits for; nothing polled costs nothing. */
static void
set_events(uv_poll_t *poll, int *current, int want)
{
	if (want == *current)
		return;
	if (want == 0)
		uv_poll_stop(poll);
	else if (uv_poll_start(poll, want, poll_cb) != 0)
		want = 0;
	*current = want;
}

/* ----- OpenSSL calls ----- */

/*
 * Sorts out how an SSL call that returned r <= 0 ended: true when it only
 * waits for the socket (the want flags say which way), false when the TLS
 * connection is over (a clean close_notify sets tls_eof; anything else is
 * an error, and nothing more can be written either).
 */
static bool
ssl_wait(TlsConn *tc, int r, bool *fatal)
{
	switch (SSL_get_error(tc->ssl, r))
	{
		case SSL_ERROR_WANT_READ:
			tc->tls_want_read = true;
			return true;
		case SSL_ERROR_WANT_WRITE:
			tc->tls_want_write = true;
			return true;
		case SSL_ERROR_ZERO_RETURN:
			*fatal = false;
			return false;
		default:
			/* a FIN without close_notify, a reset, a protocol error */
			ERR_clear_error();
			*fatal = true;
			return false;
	}
}

/* ALPN: HTTP/1.1 only, never h2; a client offering neither gets none. */
static int
alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
			const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char http11[] = "\x08http/1.1";
	unsigned char *chosen;

	if (SSL_select_next_proto(&chosen, outlen, http11, sizeof(http11) - 1,
							  in, inlen) == OPENSSL_NPN_NEGOTIATED)
	{
		*out = chosen;
		return SSL_TLSEXT_ERR_OK;
	}
	return SSL_TLSEXT_ERR_NOACK;
}

/*
 * The handshake is done: the plaintext side becomes a plain connection of
 * http/connection.c. Returns false when the connection was closed.
 */
static bool
open_plaintext(TlsConn *tc)
{
	int			sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
	{
		ereport(LOG, (errmsg("rtsync could not create a socket pair for a TLS connection: %m")));
		tc_close(tc);
		return false;
	}
	tc->pair_fd = sv[0];
	if (uv_poll_init(proxy_loop, &tc->pair_poll, sv[0]) != 0)
	{
		close(sv[1]);
		tc_close(tc);
		return false;
	}
	tc->pair_poll.data = tc;
	tc->pair_polled = true;
	tc->open_handles++;
	uv_timer_stop(&tc->timer);
	tc->state = TP_OPEN;
	/* from here on http/connection.c keeps its own deadlines */
	plain_fn(sv[1]);
	return true;
}

/* ----- pumping ----- */

/* Client -> up buffer. Returns true when bytes moved. */
static bool
tls_read(TlsConn *tc)
{
	int			r;
	bool		fatal = false;

	if (tc->up == NULL && (tc->up = malloc(TLS_BUF_BYTES)) == NULL)
		return false;			/* retried on the next event */
	ERR_clear_error();
	r = SSL_read(tc->ssl, tc->up, TLS_BUF_BYTES);
	if (r > 0)
	{
		tc->up_off = 0;
		tc->up_len = r;
		return true;
	}
	free(tc->up);				/* nothing in transit: an idle link keeps none */
	tc->up = NULL;
	if (ssl_wait(tc, r, &fatal))
		return false;
	tc->tls_eof = true;
	if (fatal)
	{
		/* no close_notify can be sent: only what was read goes on */
		tc->pair_eof = true;
		free(tc->down);
		tc->down = NULL;
		tc->down_off = tc->down_len = 0;
	}
	return true;
}

/* up buffer -> pair. Returns true when bytes moved. */
static bool
pair_write(TlsConn *tc)
{
	ssize_t		n;

	if (tc->pair_broken)
	{
		tc->up_off = tc->up_len;	/* nobody takes it: dropped */
		n = 1;
	}
	else
	{
		n = send(tc->pair_fd, tc->up + tc->up_off, tc->up_len - tc->up_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		{
			tc->pair_want_write = true;
			return false;
		}
		if (n < 0)
		{
			/* the server's end is gone: nothing more goes up */
			tc->pair_broken = true;
			tc->up_off = tc->up_len;
		}
		else
			tc->up_off += n;
	}
	if (tc->up_off == tc->up_len)
	{
		free(tc->up);
		tc->up = NULL;
		tc->up_off = tc->up_len = 0;
	}
	return true;
}

/* pair -> down buffer. Returns true when bytes moved or the pair ended. */
static bool
pair_read(TlsConn *tc)
{
	ssize_t		n;

	if (tc->down == NULL && (tc->down = malloc(TLS_BUF_BYTES)) == NULL)
		return false;
	n = recv(tc->pair_fd, tc->down, TLS_BUF_BYTES, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
	{
		tc->pair_want_read = true;
		free(tc->down);			/* nothing in transit: an idle link keeps none */
		tc->down = NULL;
		return false;
	}
	if (n <= 0)
	{
		tc->pair_eof = true;	/* closed or shut by http/connection.c or lws */
		free(tc->down);
		tc->down = NULL;
		return true;
	}
	tc->down_off = 0;
	tc->down_len = n;
	return true;
}

/* down buffer -> client. Returns true when bytes moved. */
static bool
tls_write(TlsConn *tc)
{
	int			r;
	bool		fatal = false;

	ERR_clear_error();
	r = SSL_write(tc->ssl, tc->down + tc->down_off, tc->down_len - tc->down_off);
	if (r > 0)
	{
		tc->down_off += r;
		if (tc->down_off == tc->down_len)
		{
			free(tc->down);
			tc->down = NULL;
			tc->down_off = tc->down_len = 0;
		}
		return true;
	}
	if (!ssl_wait(tc, r, &fatal))
	{
		/* the client cannot take more: drop both ways */
		tc_close(tc);
		return false;
	}
	return false;
}

/*
 * The pair is done and all it said was sent: close_notify and FIN, then
 * linger (unless the client is done too).
 */
static void
finish(TlsConn *tc)
{
	pair_close(tc);
	if (!tc->tls_eof)
	{
		/* best effort: a full socket loses the close_notify, not data */
		ERR_clear_error();
		(void) SSL_shutdown(tc->ssl);
		ERR_clear_error();
	}
	if (tc->tls_eof || shutdown(tc->tls_fd, SHUT_WR) != 0)
	{
		tc_close(tc);
		return;
	}
	tc->state = TP_LINGER;
	uv_timer_start(&tc->timer, timeout_cb, LINGER_MS, 0);
}

/* Lingering: what the client still sends is read and dropped. */
static void
linger_read(TlsConn *tc)
{
	char		sink[4096];

	for (int i = 0; i < 16; i++)
	{
		ssize_t		n = recv(tc->tls_fd, sink, sizeof(sink), MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		{
			set_events(&tc->tls_poll, &tc->tls_events, UV_READABLE);
			return;
		}
		if (n <= 0)
		{
			tc_close(tc);
			return;
		}
	}
	set_events(&tc->tls_poll, &tc->tls_events, UV_READABLE);
}

/*
 * Moves what can be moved, both ways, until nothing moves; then polls each
 * side for exactly what it waits for. Called on every event of either
 * side.
 */
static void
pump(TlsConn *tc)
{
	bool		progress;

	if (tc->state == TP_HANDSHAKE)
	{
		int			r;
		bool		fatal = false;

		tc->tls_want_read = tc->tls_want_write = false;
		ERR_clear_error();
		r = SSL_accept(tc->ssl);
		if (r != 1)
		{
			if (!ssl_wait(tc, r, &fatal))
			{
				/* a client that gave up, or does not trust us: its business */
				tc_close(tc);
				return;
			}
			set_events(&tc->tls_poll, &tc->tls_events,
					   (tc->tls_want_read ? UV_READABLE : 0) |
					   (tc->tls_want_write ? UV_WRITABLE : 0));
			return;
		}
		if (!open_plaintext(tc))
			return;
	}
	if (tc->state == TP_LINGER)
	{
		linger_read(tc);
		return;
	}

	do
	{
		progress = false;
		tc->tls_want_read = tc->tls_want_write = false;
		tc->pair_want_read = tc->pair_want_write = false;

		/* up: the client's bytes, then to the pair */
		if (!tc->tls_eof && tc->up_len == 0)
			progress |= tls_read(tc);
		if (tc->state == TP_CLOSED)
			return;
		if (tc->up_len > tc->up_off)
			progress |= pair_write(tc);
		if (tc->tls_eof && tc->up_len == 0 && !tc->up_shut)
		{
			/* the client is done: http/connection.c or lws see EOF */
			tc->up_shut = true;
			if (!tc->pair_broken)
				(void) shutdown(tc->pair_fd, SHUT_WR);
		}

		/* down: the server's bytes, then to the client */
		if (!tc->pair_eof && tc->down_len == 0)
			progress |= pair_read(tc);
		if (tc->down_len > tc->down_off)
		{
			progress |= tls_write(tc);
			if (tc->state == TP_CLOSED)
				return;
		}
		if (tc->pair_eof && tc->down_len == 0)
		{
			finish(tc);
			if (tc->state == TP_LINGER)
				linger_read(tc);
			return;
		}
	} while (progress);

	set_events(&tc->tls_poll, &tc->tls_events,
			   (tc->tls_want_read ? UV_READABLE : 0) |
			   (tc->tls_want_write ? UV_WRITABLE : 0));
	set_events(&tc->pair_poll, &tc->pair_events,
			   (tc->pair_want_read ? UV_READABLE : 0) |
			   (tc->pair_want_write ? UV_WRITABLE : 0));
}

/* ----- start, accept, stop ----- */

/*
 * Builds the one SSL_CTX from the certificate chain and key files: TLS 1.2
 * at least, ALPN http/1.1, no renegotiation. Returns false, with a LOG
 * that says why, when they cannot be loaded.
 */
bool
rtsync_tls_proxy_start(uv_loop_t *loop, const char *cert_file,
					   const char *key_file, RtsyncTlsPlainFn on_plain)
{
	SSL_CTX    *ctx = SSL_CTX_new(TLS_server_method());
	const char *what = NULL;

	if (ctx == NULL)
		what = "cannot create a TLS context";
	else if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
		what = "cannot require TLS 1.2";
	else if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1)
		what = "cannot load rtsync.tls_cert_file";
	else if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1)
		what = "cannot load rtsync.tls_key_file";
	else if (SSL_CTX_check_private_key(ctx) != 1)
		what = "rtsync.tls_key_file does not match rtsync.tls_cert_file";
	if (what)
	{
		unsigned long err = ERR_get_error();

		ereport(LOG,
				(errmsg("rtsync %s", what),
				 errdetail("Certificate \"%s\", key \"%s\": %s.", cert_file, key_file,
						   err ? ERR_reason_error_string(err) : "unknown error"),
				 errhint("Set rtsync.tls_cert_file and rtsync.tls_key_file to PEM files the server can read.")));
		ERR_clear_error();
		if (ctx)
			SSL_CTX_free(ctx);
		return false;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
						SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* partial writes from a moving buffer; idle connections keep no buffers */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
					 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	ssl_ctx = ctx;
	proxy_loop = loop;
	plain_fn = on_plain;
	accepting = true;
	return true;
}

/*
 * Takes an accepted socket (ours from now on) and starts its handshake.
 * Beyond rtsync.max_connections TLS connections, a new one is closed at
 * once: a handshake costs an SSL object until its deadline.
 */
void
rtsync_tls_proxy_accept(int fd)
{
	TlsConn    *tc;

	if (!accepting || ntls >= rtsync_max_connections ||
		(tc = calloc(1, sizeof(TlsConn))) == NULL)
	{
		close(fd);
		return;
	}
	tc->tls_fd = fd;
	tc->pair_fd = -1;
	if ((tc->ssl = SSL_new(ssl_ctx)) == NULL || SSL_set_fd(tc->ssl, fd) != 1 ||
		uv_poll_init(proxy_loop, &tc->tls_poll, fd) != 0)
	{
		ERR_clear_error();
		if (tc->ssl)
			SSL_free(tc->ssl);
		free(tc);
		close(fd);
		return;
	}
	SSL_set_accept_state(tc->ssl);
	uv_timer_init(proxy_loop, &tc->timer);
	tc->tls_poll.data = tc->timer.data = tc;
	tc->open_handles = 2;
	tc->state = TP_HANDSHAKE;
	dlist_push_tail(&tls_conns, &tc->node);
	ntls++;
	uv_timer_start(&tc->timer, timeout_cb, rtsync_http_head_timeout_ms, 0);
	guarded(tc, pump);
}

/*
 * The server stops: no new connections, handshakes under way end. Open
 * connections go on until their plaintext end closes (the WebSockets'
 * "going away" frames still have to pass).
 */
void
rtsync_tls_proxy_shutdown(void)
{
	dlist_mutable_iter iter;

	accepting = false;
	dlist_foreach_modify(iter, &tls_conns)
	{
		TlsConn    *tc = dlist_container(TlsConn, node, iter.cur);

		if (tc->state == TP_HANDSHAKE)
			tc_close(tc);
	}
}

/*
 * Last: what the plaintext ends still hold is pushed out once, then every
 * connection is closed and the context freed.
 */
void
rtsync_tls_proxy_stop(void)
{
	dlist_mutable_iter iter;

	accepting = false;
	dlist_foreach_modify(iter, &tls_conns)
	{
		TlsConn    *tc = dlist_container(TlsConn, node, iter.cur);

		if (tc->state == TP_OPEN)
			guarded(tc, pump);
		tc_close(tc);
	}
	if (ssl_ctx)
		SSL_CTX_free(ssl_ctx);
	ssl_ctx = NULL;
}
