/*-------------------------------------------------------------------------
 *
 * net/pgconn.h
 *	  A libpq connection driven by the worker's libuv loop: non-blocking
 *	  connect, socket readiness as callbacks, an orderly close, and
 *	  reconnection with exponential backoff.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_PGCONN_H
#define RTSYNC_PGCONN_H

#include <uv.h>

#include "libpq-fe.h"

typedef struct RtsyncPgConn RtsyncPgConn;
typedef void (*RtsyncPgConnCallback) (RtsyncPgConn *pc);

struct RtsyncPgConn
{
	const char *name;			/* for log messages: "replication", ... */
	uv_loop_t  *loop;
	PGconn	   *conn;			/* NULL when not connected */
	bool		ready;			/* connection established */
	bool		closing;
	bool		want_write;		/* wake on_writable when the socket drains */
	bool		read_paused;	/* the owner reads nothing for now */
	uv_poll_t	poll;
	bool		poll_open;
	int			poll_fd;
	int			poll_events;
	char	   *conninfo;		/* kept to reconnect */
	bool		stopped;		/* no more reconnects */
	uv_timer_t	retry_timer;
	int			backoff_ms;		/* next reconnect delay */
	void	   *owner;
	RtsyncPgConnCallback on_ready;	/* connected */
	RtsyncPgConnCallback on_readable;	/* data to read (after ready) */
	RtsyncPgConnCallback on_writable;	/* socket drained (want_write) */
	RtsyncPgConnCallback on_closed; /* closed; pgconn reconnects after it */
};

extern char *rtsync_pgconn_conninfo(bool replication);
extern void rtsync_pgconn_start(RtsyncPgConn *pc, const char *conninfo);
extern void rtsync_pgconn_stop(RtsyncPgConn *pc);
extern void rtsync_pgconn_reset_backoff(RtsyncPgConn *pc);
extern void rtsync_pgconn_want_write(RtsyncPgConn *pc, bool on);
extern void rtsync_pgconn_pause_read(RtsyncPgConn *pc, bool paused);
extern void rtsync_pgconn_close(RtsyncPgConn *pc, const char *why);

#endif							/* RTSYNC_PGCONN_H */
