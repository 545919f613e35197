/*-------------------------------------------------------------------------
 *
 * net/pgconn.c
 *	  libpq connections of the worker, on its libuv loop.
 *
 * The connection's socket is watched with a uv_poll handle, so it is waited
 * on in the same single wait as the latch and every client socket. Connect
 * is PQconnectStart/PQconnectPoll driven by socket readiness: the worker
 * never blocks on the database.
 *
 * Reconnecting: once closed (after an error, or the server went away) the
 * connection is opened again after a delay that doubles from 100 ms to
 * 10 s; the owner resets it once the connection proves healthy.
 *
 * Closing: the poll handle must be closed (asynchronously, by libuv) before
 * libpq closes the socket, or libuv would watch a descriptor that may be
 * reused. So rtsync_pgconn_close stops watching, and PQfinish and the
 * owner's on_closed callback run from the handle's close callback.
 *
 * Errors: the three entries from libuv (socket readiness, the handle's
 * close, the retry timer) are the only ways into this file and its owners'
 * callbacks (control/control.c, net/pool.c, stream/replication.c) from the loop, and each runs
 * inside RTSYNC_GUARD (base/guard.h). An ERROR while connecting or handling
 * results closes that connection, whose owner's on_closed then frees what
 * the failed step held and fails what was in flight, and the connection is
 * opened again with backoff; one in the owner's on_closed is logged, and
 * the reconnect is scheduled all the same. No ERROR reaches libuv.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/string.h"
#include "lib/stringinfo.h"
#include "libpq/pqcomm.h"
#include "miscadmin.h"
#include "postmaster/postmaster.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/varlena.h"

#include "base/guard.h"
#include "net/pgconn.h"
#include "base/settings.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 10000

static void pgconn_poll_cb(uv_poll_t *handle, int status, int events);
static void pgconn_connect(RtsyncPgConn *pc);

/*
 * Appends keyword='value' to a conninfo string, quoted as libpq's parser
 * wants it: a single quote or backslash in the value is escaped with a
 * backslash, so no value can end the quotes and add keywords of its own.
 */
static void
append_conninfo_value(StringInfo s, const char *keyword, const char *value)
{
	if (s->len > 0)
		appendStringInfoChar(s, ' ');
	appendStringInfo(s, "%s='", keyword);
	for (const char *c = value; *c; c++)
	{
		if (*c == '\\' || *c == '\'')
			appendStringInfoChar(s, '\\');
		appendStringInfoChar(s, *c);
	}
	appendStringInfoChar(s, '\'');
}

/*
 * A conninfo string for this server's own unix socket and rtsync.database,
 * connecting as the OS user the server runs as (libpq's default). Palloc'd
 * in the caller's context; rtsync_pgconn_start keeps its own copy.
 */
char *
rtsync_pgconn_conninfo(bool replication)
{
	char	   *dirs = pstrdup(Unix_socket_directories ? Unix_socket_directories : "");
	List	   *list = NIL;
	const char *host = "localhost";
	StringInfoData s;

	if (SplitDirectoriesString(dirs, ',', &list) && list != NIL)
		host = linitial(list);
	initStringInfo(&s);
	append_conninfo_value(&s, "host", host);
	appendStringInfo(&s, " port=%d", PostPortNumber);
	append_conninfo_value(&s, "dbname", rtsync_database);
	append_conninfo_value(&s, "application_name", "rtsync");
	if (replication)
		appendStringInfoString(&s, " replication=database");
	list_free_deep(list);
	pfree(dirs);
	return s.data;
}

/* Watch the socket for what libpq (and the owner) needs next. */
static void
pgconn_watch(RtsyncPgConn *pc, int events)
{
	int			fd = PQsocket(pc->conn);

	/* one host in the conninfo: libpq keeps its first socket */
	Assert(!pc->poll_open || pc->poll_fd == fd);
	if (!pc->poll_open)
	{
		uv_poll_init(pc->loop, &pc->poll, fd);
		pc->poll.data = pc;
		pc->poll_open = true;
		pc->poll_fd = fd;
		pc->poll_events = 0;
	}
	if (events != pc->poll_events)
	{
		if (events == 0)
			uv_poll_stop(&pc->poll);
		else
			uv_poll_start(&pc->poll, events, pgconn_poll_cb);
		pc->poll_events = events;
	}
}

static void
pgconn_connect_step(RtsyncPgConn *pc)
{
	switch (PQconnectPoll(pc->conn))
	{
		case PGRES_POLLING_READING:
			pgconn_watch(pc, UV_READABLE);
			break;
		case PGRES_POLLING_WRITING:
			pgconn_watch(pc, UV_WRITABLE);
			break;
		case PGRES_POLLING_OK:
			PQsetnonblocking(pc->conn, 1);
			pc->ready = true;
			pgconn_watch(pc, UV_READABLE);
			pc->on_ready(pc);
			break;
		default:
			rtsync_pgconn_close(pc, PQerrorMessage(pc->conn));
			break;
	}
}

/* The socket is ready for what libpq (or the owner) waited for. */
static void
pgconn_poll(RtsyncPgConn *pc, int events)
{
	if (pc->closing || pc->conn == NULL)
		return;
	if (!pc->ready)
	{
		pgconn_connect_step(pc);
		return;
	}
	if (events & UV_WRITABLE)
	{
		int			r = PQflush(pc->conn);

		if (r < 0)
		{
			rtsync_pgconn_close(pc, PQerrorMessage(pc->conn));
			return;
		}
		if (r == 0)
		{
			pc->want_write = false;
			rtsync_pgconn_want_write(pc, false);
			if (pc->on_writable)
				pc->on_writable(pc);
		}
	}
	if ((events & UV_READABLE) && !pc->closing)
		pc->on_readable(pc);
}

/*
 * Entry from libuv: connecting, flushing and every result the owner reads
 * (control's loads and the client messages they release, the pool's
 * answers, the replication stream). An ERROR closes this connection and
 * reconnects it (see the banner).
 */
static void
pgconn_poll_cb(uv_poll_t *handle, int status, int events)
{
	RtsyncPgConn *pc = handle->data;

	RTSYNC_GUARD(pgconn_poll(pc, events),
				 rtsync_pgconn_close(pc, "error while handling the connection"));
}

static void
pgconn_connect(RtsyncPgConn *pc)
{
	pc->ready = false;
	pc->closing = false;
	pc->want_write = false;
	pc->read_paused = false;
	pc->conn = PQconnectStart(pc->conninfo);
	if (pc->conn == NULL)
		elog(ERROR, "out of memory starting a libpq connection");
	if (PQstatus(pc->conn) == CONNECTION_BAD)
	{
		rtsync_pgconn_close(pc, PQerrorMessage(pc->conn));
		return;
	}
	pgconn_connect_step(pc);
}

/* Ask to be told when libpq's output buffer has drained (PQflush == 1). */
void
rtsync_pgconn_want_write(RtsyncPgConn *pc, bool on)
{
	if (!pc->ready || pc->closing)
		return;
	pc->want_write = on;
	pgconn_watch(pc, (pc->read_paused ? 0 : UV_READABLE) | (on ? UV_WRITABLE : 0));
}

/*
 * Stop (or resume) reading the socket: what the server sends meanwhile
 * waits in the kernel's buffers, so the sender slows down rather than the
 * worker's memory growing. Lasts until resumed or the connection closes;
 * on resume, whatever libpq had already buffered must be read by the
 * owner itself (the socket may have nothing new to report).
 */
void
rtsync_pgconn_pause_read(RtsyncPgConn *pc, bool paused)
{
	pc->read_paused = paused;
	if (!pc->ready || pc->closing)
		return;
	pgconn_watch(pc, (paused ? 0 : UV_READABLE) | (pc->want_write ? UV_WRITABLE : 0));
}

/*
 * Entry from libuv: time to connect again. An ERROR (out of memory in
 * libpq, or in the owner's on_ready) closes what was opened, and the next
 * attempt is scheduled as after any failed connect.
 */
static void
pgconn_retry_cb(uv_timer_t *timer)
{
	RtsyncPgConn *pc = timer->data;

	RTSYNC_GUARD(pgconn_connect(pc),
				 rtsync_pgconn_close(pc, "error while connecting"));
}

/* Opens the connection, and keeps opening it again until stopped. */
void
rtsync_pgconn_start(RtsyncPgConn *pc, const char *conninfo)
{
	pc->conninfo = MemoryContextStrdup(TopMemoryContext, conninfo);
	pc->stopped = false;
	pc->backoff_ms = BACKOFF_MIN_MS;
	uv_timer_init(pc->loop, &pc->retry_timer);
	pc->retry_timer.data = pc;
	pgconn_connect(pc);
}

/* The connection works: the next reconnect, if any, starts fast again. */
void
rtsync_pgconn_reset_backoff(RtsyncPgConn *pc)
{
	pc->backoff_ms = BACKOFF_MIN_MS;
}

/* Closes for good; the loop finishes the close. */
void
rtsync_pgconn_stop(RtsyncPgConn *pc)
{
	pc->stopped = true;
	uv_timer_stop(&pc->retry_timer);
	uv_close((uv_handle_t *) &pc->retry_timer, NULL);
	if (pc->conn)
		rtsync_pgconn_close(pc, NULL);
}

/*
 * The socket is no longer watched: libpq closes it, the owner forgets what
 * was in flight, and a reconnect is scheduled. An ERROR in the owner's
 * on_closed is logged and the reconnect scheduled all the same: the
 * connection must come back whatever its owner failed to clean up.
 */
static void
pgconn_finish(RtsyncPgConn *pc)
{
	if (pc->conn)
		PQfinish(pc->conn);
	pc->conn = NULL;
	pc->closing = false;
	RTSYNC_GUARD(pc->on_closed(pc), (void) 0);
	if (!pc->stopped)
	{
		uv_timer_start(&pc->retry_timer, pgconn_retry_cb, pc->backoff_ms, 0);
		pc->backoff_ms = Min(pc->backoff_ms * 2, BACKOFF_MAX_MS);
	}
}

/* Entry from libuv: the poll handle is closed (pgconn_finish is guarded). */
static void
pgconn_closed_cb(uv_handle_t *handle)
{
	pgconn_finish((RtsyncPgConn *) handle->data);
}

/*
 * Close the connection (logging why, when there is a reason); the owner's
 * on_closed runs once it is really gone, then a reconnect is scheduled.
 */
void
rtsync_pgconn_close(RtsyncPgConn *pc, const char *why)
{
	if (pc->closing)
		return;
	pc->closing = true;
	pc->ready = false;
	if (why)
	{
		char	   *msg = pstrdup(why);

		pg_strip_crlf(msg);
		ereport(LOG,
				(errmsg("rtsync %s connection closed: %s", pc->name, msg)));
		pfree(msg);
	}
	if (pc->poll_open)
	{
		pc->poll_open = false;
		pc->poll_events = 0;
		uv_poll_stop(&pc->poll);
		uv_close((uv_handle_t *) &pc->poll, pgconn_closed_cb);
	}
	else
		pgconn_finish(pc);
}
