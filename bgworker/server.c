/*-------------------------------------------------------------------------
 *
 * server.c
 *	  The WebSocket server: the lws context on the worker's libuv loop, its
 *	  protocol table, and the one guarded lws callback, which hands bytes to
 *	  the transport (net/transport.c) and sessions to ws/.
 *
 * lws runs on the worker's own libuv loop (a foreign loop), so its sockets
 * are waited on in the worker's single wait. lws never listens and never
 * does TLS: listener.c accepts, tls_proxy.c terminates TLS, every connection
 * starts as HTTP (http/connection.c) and an upgrade is handed to lws
 * (http/upgrade.c). Each WebSocket client is an RtsyncClient: its
 * transport (bytes, queue, close) and its session (GraphQL over WebSocket,
 * ws/session.h), side by side in lws' per-session data; this file is the
 * only one that knows both.
 *
 * Subprotocols: graphql-transport-ws and graphql-ws are registered by name,
 * so lws echoes exactly the one offered protocol it picked (an AppSync
 * client's "header-..." token is never echoed). A client offering none is
 * served graphql-transport-ws.
 *
 * Errors: every entry from lws and libuv into this file (the lws callback,
 * the keep-alive timer) runs in RTSYNC_GUARD (base/guard.h); an ERROR is
 * logged and closes the one client it was about (1011), never unwinding
 * through lws or libuv. lws' log hook allocates nothing, so it cannot fail.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/resource.h>

#include "common/string.h"

#include "base/guard.h"
#include "base/settings.h"
#include "http/connection.h"
#include "http/upgrade.h"
#include "net/listener.h"
#include "net/tls_proxy.h"
#include "net/transport.h"
#include "server.h"
#include "ws/handshake.h"
#include "ws/protocol.h"
#include "ws/session.h"

/* A WebSocket client: its bytes and its GraphQL session */
typedef struct RtsyncClient
{
	RtsyncConn	conn;
	RtsyncWsSession session;
} RtsyncClient;

#define CLIENT_OF(c) ((RtsyncClient *) ((char *) (c) - offsetof(RtsyncClient, conn)))

static struct lws_context *context = NULL;
static uv_timer_t keepalive_timer;
static bool shutting_down = false;

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

/* lws' per-connection receive buffer: larger messages arrive in pieces */
#define RX_BUFFER_BYTES 1024

static const struct lws_protocols protocols[] = {
	{"rtsync", server_callback, sizeof(RtsyncClient), RX_BUFFER_BYTES, 0, NULL, 0},
	{"graphql-transport-ws", server_callback, sizeof(RtsyncClient), RX_BUFFER_BYTES, 1, NULL, 0},
	{"graphql-ws", server_callback, sizeof(RtsyncClient), RX_BUFFER_BYTES, 2, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0}
};

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








/* What an ERROR about one client means: that client is closed. */
static void
client_failed(RtsyncClient *client)
{
	if (rtsync_conn_is_open(&client->conn))
		rtsync_ws_session_close(&client->session, 1011, "internal server error");
}

static void
keepalive_one(RtsyncConn *conn, void *arg)
{
	uint64		now = *(uint64 *) arg;

	RTSYNC_GUARD({
		rtsync_protocol_keepalive(&CLIENT_OF(conn)->session);
		rtsync_conn_check_liveness(conn, now);
	}, client_failed(CLIENT_OF(conn)));
}

/*
 * Entry from libuv: the keep-alive sweep. An ERROR about one connection
 * (building its "ka", rechecking its key) closes that one (1011) and the
 * sweep goes on with the next.
 */
static void
keepalive_cb(uv_timer_t *timer)
{
	uint64		now = uv_now(timer->loop);

	rtsync_transport_foreach(keepalive_one, &now);
}

/* A whole message from a client's transport: its session handles it. */
static void
client_message(RtsyncConn *conn, const char *msg, size_t len)
{
	rtsync_protocol_receive(&CLIENT_OF(conn)->session, msg, len);
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
	return !shutting_down && rtsync_transport_count() < rtsync_max_connections;
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





static void
client_established(struct lws *wsi, RtsyncClient *client)
{
	const struct lws_protocols *proto = lws_get_protocol(wsi);
	RtsyncDialect dialect = RTSYNC_DIALECT_TRANSPORT_WS;

	/* the upgrade's headers are still there; the token goes in conn->cxt */
	rtsync_conn_open(&client->conn, wsi);
	rtsync_ws_handshake_inspect(wsi, &client->session, RTSYNC_APPSYNC_HEADER, client->conn.cxt);
	if (proto->id == 2)
		dialect = client->session.appsync_handshake ?
			RTSYNC_DIALECT_APPSYNC : RTSYNC_DIALECT_GRAPHQL_WS;
	rtsync_ws_session_open(&client->session, &client->conn, dialect);
}

/* lws closed it: the session ends first, then its transport's memory goes. */
static void
client_closed(RtsyncClient *client)
{
	if (!rtsync_conn_is_open(&client->conn))
		return;
	rtsync_protocol_closed(&client->session);
	rtsync_ws_session_set_state(&client->session, RTSYNC_WS_CLOSED);
	rtsync_conn_release(&client->conn);
}

static int
server_callback_guarded(struct lws *wsi, enum lws_callback_reasons reason,
						RtsyncClient *client, void *in, size_t len)
{
	switch (reason)
	{
		case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
			if (!websocket_accepting() || !websocket_path_ok(wsi))
				return -1;
			return 0;
		case LWS_CALLBACK_ESTABLISHED:
			client_established(wsi, client);
			return 0;
		case LWS_CALLBACK_RECEIVE:
			if (!rtsync_conn_is_open(&client->conn))
				return -1;
			rtsync_conn_receive(&client->conn, in, len);
			return 0;
		case LWS_CALLBACK_RECEIVE_PONG:
			if (rtsync_conn_is_open(&client->conn))
				rtsync_conn_pong(&client->conn);
			return 0;
		case LWS_CALLBACK_SERVER_WRITEABLE:
			return rtsync_conn_is_open(&client->conn) ?
				rtsync_conn_writeable(&client->conn) : -1;
		case LWS_CALLBACK_CLOSED:
			client_closed(client);
			return 0;
		default:
			/* HTTP never reaches lws: http/connection.c reads every request */
			return lws_callback_http_dummy(wsi, reason, client, in, len);
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

	RTSYNC_GUARD(result = server_callback_guarded(wsi, reason, (RtsyncClient *) user, in, len),
				 {
					 if (user)
						 client_failed((RtsyncClient *) user);
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
	rtsync_transport_init(loop, client_message);
	rtsync_ws_sessions_init(loop);
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
static void
close_going_away(RtsyncConn *conn, void *arg)
{
	rtsync_ws_session_close(&CLIENT_OF(conn)->session, 1001, "server shutting down");
}

void
rtsync_server_shutdown(void)
{
	shutting_down = true;
	rtsync_listener_stop();
	rtsync_tls_proxy_shutdown();
	rtsync_http_server_shutdown();
	uv_timer_stop(&keepalive_timer);
	rtsync_ws_sessions_shutdown();
	rtsync_transport_foreach(close_going_away, NULL);
}

void
rtsync_server_destroy(void)
{
	if (context)
	{
		uv_close((uv_handle_t *) &keepalive_timer, NULL);
		/* TLS connections last: they carry what lws wrote at the end */
		rtsync_tls_proxy_stop();
		lws_context_destroy(context);
		context = NULL;
	}
}
