/*-------------------------------------------------------------------------
 *
 * net/listener.c
 *	  Accepts the server's TCP connections, plain or TLS.
 *
 * Without TLS, rtsync accepts connections itself rather than letting
 * libwebsockets listen: every connection starts as an HTTP/1.1 connection
 * of http/connection.c, which reads its requests and hands a WebSocket upgrade
 * to libwebsockets (http/upgrade.c). Each accepted descriptor goes to the
 * callback the server registered; the listener keeps nothing per client.
 * With TLS configured, that callback is net/tls_proxy.c's, which does the
 * handshake and then serves the plaintext the same way.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unistd.h>

#include "base/guard.h"
#include "net/listener.h"

static uv_tcp_t listener;
static bool listening = false;
static RtsyncAcceptFn accept_fn = NULL;

static void
free_handle(uv_handle_t *handle)
{
	free(handle);
}

/*
 * libuv has accepted a connection into the listener: take it with
 * uv_accept (libuv accepts no more until we do), give the callee a
 * descriptor of its own, and close ours.
 */
static void
connection_cb(uv_stream_t *server, int status)
{
	uv_tcp_t   *tcp;
	uv_os_fd_t	fd;
	int			own;

	if (status < 0 || (tcp = malloc(sizeof(uv_tcp_t))) == NULL)
		return;
	uv_tcp_init(server->loop, tcp);
	if (uv_accept(server, (uv_stream_t *) tcp) == 0 &&
		uv_fileno((uv_handle_t *) tcp, &fd) == 0 && (own = dup(fd)) >= 0)
	{
		/* an entry from libuv: no ERROR may cross it (logged, go on) */
		RTSYNC_GUARD(accept_fn(own), (void) 0);
	}
	uv_close((uv_handle_t *) tcp, free_handle);
}

bool
rtsync_listener_start(uv_loop_t *loop, const char *address, int port,
					  RtsyncAcceptFn on_accept)
{
	struct sockaddr_storage addr;
	int			rc;

	accept_fn = on_accept;
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
