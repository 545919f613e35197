/*-------------------------------------------------------------------------
 *
 * stream/replication.c
 *	  Consumes the worker's logical replication slot.
 *
 * A libpq replication=database connection to our own server's unix socket:
 * check the slot, create it (plugin rtsync) when missing, START_REPLICATION
 * with include-commit, then read CopyData without blocking. Slot creation
 * waits for every running transaction to finish; it runs like any other
 * command here, answered whenever it is answered, while the loop serves
 * clients. The worker holds no transaction of its own anywhere, so it can
 * never wait on itself.
 *
 * Feedback invariant: the flush position we confirm is the end of the last
 * transaction whose records have all been handed to the registry (the
 * COMMIT marker's position), or a keepalive's position when we are between
 * transactions and have processed everything before it. After a restart the
 * walsender resends from there; the registry drops records it has already
 * delivered (their SequenceNumber is not above the last one it saw).
 *
 * Held records: a change being judged under row-level security, or a
 * CONTROL record whose reload runs (stream/registry.c), stops the reading:
 * the socket is no longer watched, so the walsender waits rather than the
 * worker's memory growing, and nothing after the record is dispatched
 * before it. A held change first reads ahead what has already arrived
 * (bounded: READ_AHEAD_MESSAGES, READ_AHEAD_BYTES) and hands it to the
 * registry, so that the changes behind it are judged in the same batch;
 * those messages are kept, and handled in order once the held one is done. When the registry says the record may be finished, a
 * zero-delay timer (guarded like every entry) finishes it and reads on,
 * first what libpq had already buffered. The held record is not yet
 * processed: its transaction's COMMIT comes after it, so feedback cannot
 * confirm it early.
 *
 * When the connection goes away pgconn reopens it with exponential backoff;
 * the backoff starts over once streaming has begun.
 *
 * Errors: every entry from the loop is guarded. The socket's callbacks run
 * inside pgconn's guard (net/pgconn.c): an ERROR while handling a command's
 * result or a record closes the connection, repl_on_closed frees the copy
 * buffer and the record's memory the failed step held, and streaming
 * resumes from the last confirmed position after the reconnect, so the
 * record is read again (and delivered once: see the feedback invariant).
 * The feedback timer has its own guard, with the same outcome.
 *
 * Lag: at each transaction's COMMIT record the worker measures how long ago
 * it committed (the record's commit time against our clock) and how far
 * behind the server's WAL end its commit is, now. The server's WAL end is
 * its flush position, read from shared memory as the record is processed:
 * a logical walsender sends no such figure (the "WAL end" of an XLogData
 * header is the record's own position, a keepalive's is what the walsender
 * has read so far), and a header read late, after the worker was stopped,
 * says nothing of the WAL written since. Above rtsync.log_replication_lag it
 * says so in the log, at most once every LAG_LOG_INTERVAL_MS, and once more
 * when the lag is back under the threshold.
 *
 * Metrics (base/metrics.c): records and transactions processed, the lag in
 * seconds (0 again once a keepalive finds no transaction pending), and the
 * position processed, from which the lag in bytes is computed against the
 * server's WAL flush position when read.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "common/string.h"
#include "port/pg_bswap.h"
#include "miscadmin.h"
#include "utils/fmgrprotos.h"
#include "utils/memutils.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"

#include "base/guard.h"
#include "base/metrics.h"
#include "net/pgconn.h"
#include "stream/registry.h"
#include "stream/replication.h"
#include "stream/retention.h"
#include "base/settings.h"

#define FEEDBACK_INTERVAL_MS 1000
#define LAG_LOG_INTERVAL_MS 10000

typedef enum ReplState
{
	REPL_CONNECTING,
	REPL_CHECK_SLOT,
	REPL_CREATE_SLOT,
	REPL_START,
	REPL_STREAMING,
	REPL_STOPPED
} ReplState;

RtsyncReplicationStats rtsync_replication_stats;

static RtsyncPgConn repl;
static ReplState state = REPL_STOPPED;
static uv_timer_t feedback_timer;
static XLogRecPtr processed_lsn = InvalidXLogRecPtr;
static XLogRecPtr feedback_sent_lsn = InvalidXLogRecPtr;
static TimestampTz feedback_sent_time = 0;
static bool in_transaction = false;
static MemoryContext record_cxt = NULL;
static bool held = false;		/* a record is held: read nothing */
static uv_timer_t held_timer;
static uv_timer_t ready_timer;	/* the first schema load is done */

/*
 * Messages read ahead while a change was held, in order, not yet handled:
 * PQgetCopyData's buffers, handled (and freed) before anything else is read.
 */
typedef struct QueuedMessage
{
	char	   *buf;
	int			len;
} QueuedMessage;
static List *queued = NIL;
static size_t queued_bytes = 0;

/* How far a held change reads ahead: bounded in records and bytes. */
#define READ_AHEAD_MESSAGES 1000
#define READ_AHEAD_BYTES (8 * 1024 * 1024)

/* the CopyData buffer being processed: freed by repl_on_closed on ERROR */
static char *copy_buf = NULL;
static TimestampTz lag_logged_at = 0;	/* last "behind" log line */
static bool lag_reported = false;	/* said we are behind, not yet caught up */

static void
repl_send_query(const char *sql, ReplState next)
{
	if (!PQsendQuery(repl.conn, sql))
	{
		rtsync_pgconn_close(&repl, PQerrorMessage(repl.conn));
		return;
	}
	state = next;
	if (PQflush(repl.conn) == 1)
		rtsync_pgconn_want_write(&repl, true);
}

static void
repl_start_streaming(void)
{
	char		sql[256];

	snprintf(sql, sizeof(sql),
			 "START_REPLICATION SLOT %s LOGICAL %X/%X"
			 " (\"include-commit\" 'on', \"include-control\" 'on')",
			 rtsync_slot_name, LSN_FORMAT_ARGS(processed_lsn));
	repl_send_query(sql, REPL_START);
}

static void
repl_on_ready(RtsyncPgConn *pc)
{
	char		sql[256];

	snprintf(sql, sizeof(sql),
			 "SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = '%s'",
			 rtsync_slot_name);
	repl_send_query(sql, REPL_CHECK_SLOT);
}

static void
put_int64(char *buf, uint64 v)
{
	v = pg_hton64(v);
	memcpy(buf, &v, sizeof(v));
}

/* Standby status update: written, flushed and applied positions. */
static void
repl_send_feedback(bool reply_requested)
{
	char		msg[1 + 4 * 8 + 1];
	TimestampTz now = GetCurrentTimestamp();
	XLogRecPtr	confirm = Max(feedback_sent_lsn, rtsync_retention_confirmable(processed_lsn));

	if (state != REPL_STREAMING)
		return;
	msg[0] = 'r';
	put_int64(msg + 1, rtsync_replication_stats.received_lsn);
	put_int64(msg + 9, confirm);
	put_int64(msg + 17, confirm);
	put_int64(msg + 25, now);
	msg[33] = reply_requested ? 1 : 0;
	if (PQputCopyData(repl.conn, msg, sizeof(msg)) <= 0)
	{
		rtsync_pgconn_close(&repl, PQerrorMessage(repl.conn));
		return;
	}
	if (PQflush(repl.conn) == 1)
		rtsync_pgconn_want_write(&repl, true);
	feedback_sent_lsn = confirm;
	feedback_sent_time = now;
	rtsync_replication_stats.confirmed_lsn = confirm;
}

/* What may be confirmed now: processed, and kept (stream/retention.c). */
static XLogRecPtr
confirmable(void)
{
	return rtsync_retention_confirmable(processed_lsn);
}

static void
feedback_due(void)
{
	if (confirmable() > feedback_sent_lsn)
		repl_send_feedback(false);
}

/* Entry from libuv; an ERROR reconnects (see the banner). */
static void
feedback_timer_cb(uv_timer_t *timer)
{
	RTSYNC_GUARD(feedback_due(),
				 rtsync_pgconn_close(&repl, "error while sending feedback"));
}

/* Confirm promptly but not for every message: at most once a second. */
static void
repl_maybe_feedback(void)
{
	if (confirmable() <= feedback_sent_lsn)
		return;
	if (TimestampDifferenceExceeds(feedback_sent_time, GetCurrentTimestamp(),
								   FEEDBACK_INTERVAL_MS))
		repl_send_feedback(false);
	else if (!uv_is_active((uv_handle_t *) &feedback_timer))
		uv_timer_start(&feedback_timer, feedback_timer_cb, FEEDBACK_INTERVAL_MS, 0);
}

/*
 * Records were kept: what they held back may be confirmable now, though no
 * message may come from the walsender for a while.
 */
static void
retention_kept(void)
{
	if (state == REPL_STREAMING)
		repl_maybe_feedback();
}

/*
 * A transaction was processed: record its lag, and log it when it passes
 * rtsync.log_replication_lag (see the banner).
 */
static void
repl_note_lag(TimestampTz commit_time, XLogRecPtr commit_end)
{
	RtsyncReplicationStats *st = &rtsync_replication_stats;
	TimestampTz now = GetCurrentTimestamp();
	int64		threshold_us = (int64) rtsync_log_replication_lag_ms * 1000;
	XLogRecPtr	wal_end = RecoveryInProgress() ? InvalidXLogRecPtr : GetFlushRecPtr(NULL);

	st->last_commit_time = commit_time;
	st->lag_us = Max(now - commit_time, 0);
	st->lag_bytes = wal_end > commit_end ? wal_end - commit_end : 0;
	rtsync_metrics_set(RTSYNC_M_REPLICATION_LAG_US, st->lag_us);
	if (rtsync_log_replication_lag_ms < 0)
	{
		lag_reported = false;
		return;
	}
	if (st->lag_us > threshold_us)
	{
		if (lag_logged_at == 0 ||
			TimestampDifferenceExceeds(lag_logged_at, now, LAG_LOG_INTERVAL_MS))
		{
			ereport(LOG,
					(errmsg("rtsync replication lag: %.3f s behind the commit, %llu bytes behind the server's WAL end",
							st->lag_us / 1000000.0, (unsigned long long) st->lag_bytes),
					 errdetail("The last transaction processed committed at %s and ends at %X/%X; the server's WAL is flushed to %X/%X.",
							   timestamptz_to_str(commit_time),
							   LSN_FORMAT_ARGS(commit_end), LSN_FORMAT_ARGS(wal_end))));
			lag_logged_at = now;
			lag_reported = true;
		}
	}
	else if (lag_reported)
	{
		/* at most one such line per "behind" line: never chatty */
		ereport(LOG,
				(errmsg("rtsync replication caught up: %.3f s behind the commit",
						st->lag_us / 1000000.0)));
		lag_reported = false;
	}
}

static void
repl_handle_xlogdata(const char *buf, int len)
{
	XLogRecPtr	data_start;
	XLogRecPtr	wal_end;
	RtsyncRecordKind kind;
	RtsyncRecordInfo info;

	if (len < 25)
	{
		rtsync_pgconn_close(&repl, "streaming header too small");
		return;
	}
	data_start = pg_ntoh64(*(uint64 *) (buf + 1));
	wal_end = pg_ntoh64(*(uint64 *) (buf + 9));
	rtsync_replication_stats.last_send_time = (TimestampTz) pg_ntoh64(*(uint64 *) (buf + 17));
	rtsync_replication_stats.last_receive_time = GetCurrentTimestamp();
	rtsync_replication_stats.received_lsn =
		Max(rtsync_replication_stats.received_lsn, Max(data_start, wal_end));
	rtsync_replication_stats.server_wal_end =
		Max(rtsync_replication_stats.server_wal_end, wal_end);
	rtsync_replication_stats.records++;

	kind = rtsync_registry_dispatch(buf + 25, len - 25, record_cxt, &info);
	MemoryContextReset(record_cxt);
	if (kind == RTSYNC_RECORD_HELD)
	{
		held = true;
		rtsync_pgconn_pause_read(&repl, true);
		kind = RTSYNC_RECORD_CHANGE;
	}
	if (kind == RTSYNC_RECORD_COMMIT)
	{
		/* the COMMIT marker is written at the commit's end position */
		in_transaction = false;
		processed_lsn = Max(processed_lsn, data_start);
		rtsync_retention_commit(data_start);
		rtsync_metrics_set(RTSYNC_M_REPLICATION_PROCESSED_LSN, processed_lsn);
		rtsync_metrics_count(RTSYNC_M_STREAM_TRANSACTIONS, 1);
		if (info.commit_time != 0)
			repl_note_lag(info.commit_time, data_start);
	}
	else if (kind == RTSYNC_RECORD_CHANGE)
	{
		in_transaction = true;
		rtsync_metrics_count(RTSYNC_M_STREAM_RECORDS, 1);
	}
}

static void
repl_handle_keepalive(const char *buf, int len)
{
	XLogRecPtr	wal_end;
	bool		reply;

	if (len < 18)
	{
		rtsync_pgconn_close(&repl, "keepalive message too small");
		return;
	}
	wal_end = pg_ntoh64(*(uint64 *) (buf + 1));
	reply = buf[17] != 0;
	rtsync_replication_stats.received_lsn =
		Max(rtsync_replication_stats.received_lsn, wal_end);
	rtsync_replication_stats.server_wal_end =
		Max(rtsync_replication_stats.server_wal_end, wal_end);
	if (!in_transaction)
	{
		/* all sent so far is processed: no transaction is behind */
		processed_lsn = Max(processed_lsn, wal_end);
		rtsync_metrics_set(RTSYNC_M_REPLICATION_PROCESSED_LSN, processed_lsn);
		rtsync_metrics_set(RTSYNC_M_REPLICATION_LAG_US, 0);
	}
	if (reply)
		repl_send_feedback(false);
}

/*
 * A change is held: read ahead what libpq has (and what the socket has
 * already), keep it, show the registry the XLogData records until it wants
 * no more, then have the batch judged.
 */
static void
repl_read_ahead(void)
{
	bool		gathering = true;
	ListCell   *lc;

	/* a CONTROL record changes what follows it: nothing is judged before */
	if (!rtsync_registry_holds_change())
		return;
	/* what an earlier read-ahead kept is first in line */
	foreach(lc, queued)
	{
		QueuedMessage *m = lfirst(lc);

		if (!gathering)
			break;
		if (m->buf[0] == 'w' && m->len > 25)
			gathering = rtsync_registry_read_ahead(m->buf + 25, m->len - 25, record_cxt);
		MemoryContextReset(record_cxt);
	}
	if (repl.conn && PQconsumeInput(repl.conn))
	{
		while (gathering && list_length(queued) < READ_AHEAD_MESSAGES &&
			   queued_bytes < READ_AHEAD_BYTES)
		{
			char	   *buf = NULL;
			int			len = PQgetCopyData(repl.conn, &buf, 1);
			QueuedMessage *m;
			MemoryContext old;

			if (len <= 0)
				break;			/* none complete yet, or the end: read later */
			old = MemoryContextSwitchTo(TopMemoryContext);
			m = palloc(sizeof(QueuedMessage));
			m->buf = buf;
			m->len = len;
			queued = lappend(queued, m);
			MemoryContextSwitchTo(old);
			queued_bytes += len;
			if (buf[0] == 'w' && len > 25)
				gathering = rtsync_registry_read_ahead(buf + 25, len - 25, record_cxt);
			MemoryContextReset(record_cxt);
		}
	}
	rtsync_registry_judge_held();
}

/* The next message: one read ahead, else libpq's (see PQgetCopyData). */
static int
next_message(char **buf)
{
	QueuedMessage *m;
	int			len;

	if (queued == NIL)
		return PQgetCopyData(repl.conn, buf, 1);
	m = linitial(queued);
	queued = list_delete_first(queued);
	*buf = m->buf;
	len = m->len;
	queued_bytes -= len;
	pfree(m);
	return len;
}

/* Drops what was read ahead (the connection went: it is sent again). */
static void
drop_queued(void)
{
	ListCell   *lc;

	foreach(lc, queued)
	{
		PQfreemem(((QueuedMessage *) lfirst(lc))->buf);
		pfree(lfirst(lc));
	}
	list_free(queued);
	queued = NIL;
	queued_bytes = 0;
}

/*
 * The reader waits while a record is held for judgement, until the first
 * schema load has finished (records cannot be told apart before), and
 * while the retention buffer is full.
 */
static bool
reader_must_wait(void)
{
	return held || !rtsync_registry_ready() || rtsync_retention_full();
}

static void
repl_read_stream(void)
{
	for (;;)
	{
		char	   *buf = NULL;
		int			len;

		if (reader_must_wait())
		{
			/* also after a reconnect: the new socket waits too */
			rtsync_pgconn_pause_read(&repl, true);
			repl_maybe_feedback();
			return;
		}
		len = next_message(&buf);

		copy_buf = buf;
		if (len == 0)
			break;
		if (len < 0)
		{
			PGresult   *res = PQgetResult(repl.conn);

			rtsync_pgconn_close(&repl, res ? PQresultErrorMessage(res) :
								PQerrorMessage(repl.conn));
			if (res)
				PQclear(res);
			return;
		}
		if (buf[0] == 'w')
			repl_handle_xlogdata(buf, len);
		else if (buf[0] == 'k')
			repl_handle_keepalive(buf, len);
		copy_buf = NULL;
		PQfreemem(buf);
		if (repl.closing)
			return;
		if (held)
			repl_read_ahead();
	}
	repl_maybe_feedback();
}

/*
 * The result of the command in flight, once it is complete: returns false
 * while libpq still waits for more input. *res gets the first result.
 */
static bool
repl_command_result(PGresult **res)
{
	*res = NULL;
	while (!PQisBusy(repl.conn))
	{
		PGresult   *r = PQgetResult(repl.conn);

		if (r == NULL)
			return true;
		if (PQresultStatus(r) == PGRES_COPY_BOTH)
		{
			*res = r;
			return true;
		}
		if (*res == NULL)
			*res = r;
		else
			PQclear(r);
	}
	return false;
}

static void
repl_on_readable(RtsyncPgConn *pc)
{
	PGresult   *res;

	if (!PQconsumeInput(repl.conn))
	{
		rtsync_pgconn_close(&repl, PQerrorMessage(repl.conn));
		return;
	}
	if (state == REPL_STREAMING)
	{
		repl_read_stream();
		return;
	}

	if (!repl_command_result(&res))
		return;
	if (res == NULL ||
		(PQresultStatus(res) != PGRES_TUPLES_OK &&
		 PQresultStatus(res) != PGRES_COPY_BOTH))
	{
		rtsync_pgconn_close(&repl, res ? PQresultErrorMessage(res) : "no result");
		if (res)
			PQclear(res);
		return;
	}

	switch (state)
	{
		case REPL_CHECK_SLOT:
			if (PQntuples(res) > 0)
				repl_start_streaming();
			else
			{
				char		sql[256];

				ereport(LOG,
						(errmsg("rtsync creating replication slot \"%s\"",
								rtsync_slot_name),
						 errdetail("This waits until every transaction running now has finished.")));
				snprintf(sql, sizeof(sql),
						 "CREATE_REPLICATION_SLOT %s LOGICAL rtsync NOEXPORT_SNAPSHOT",
						 rtsync_slot_name);
				repl_send_query(sql, REPL_CREATE_SLOT);
			}
			break;
		case REPL_CREATE_SLOT:
			ereport(LOG,
					(errmsg("rtsync created replication slot \"%s\"", rtsync_slot_name)));
			/* what committed before the slot's start was never kept */
			if (PQntuples(res) == 1 && PQnfields(res) >= 2)
				rtsync_retention_gap(DatumGetLSN(DirectFunctionCall1(pg_lsn_in,
																	 CStringGetDatum(PQgetvalue(res, 0, 1)))),
									 "the replication slot was created");
			repl_start_streaming();
			break;
		case REPL_START:
			state = REPL_STREAMING;
			rtsync_replication_stats.streaming = true;
			rtsync_metrics_set(RTSYNC_M_REPLICATION_STREAMING, 1);
			rtsync_pgconn_reset_backoff(&repl);
			in_transaction = false;
			ereport(LOG,
					(errmsg("rtsync streaming from slot \"%s\" at %X/%X",
							rtsync_slot_name, LSN_FORMAT_ARGS(processed_lsn))));
			PQclear(res);
			repl_on_readable(pc);
			return;
		default:
			break;
	}
	PQclear(res);
}

/* Read again, unless a held record or a full retention buffer says wait. */
static void
read_on(void)
{
	if (state != REPL_STREAMING || repl.conn == NULL)
		return;					/* reconnecting: streaming resumes by itself */
	if (reader_must_wait())
		return;
	rtsync_pgconn_pause_read(&repl, false);
	repl_read_stream();
}

/* stream/retention.c's callback: kept records made room. */
static void
retention_room(void)
{
	RTSYNC_GUARD(read_on(),
				 {
					 MemoryContextReset(record_cxt);
					 rtsync_pgconn_close(&repl, "error while reading after keeping records");
				 });
}

/* Finish the held record, then read what waited behind it. */
static void
held_finish(void)
{
	if (!held)
		return;
	held = false;
	rtsync_registry_finish_held(record_cxt);
	MemoryContextReset(record_cxt);
	read_on();
}

/*
 * Entry from libuv. An ERROR closes the connection: streaming resumes from
 * the last confirmed position, and the registry drops what it already
 * dispatched.
 */
static void
held_timer_cb(uv_timer_t *timer)
{
	RTSYNC_GUARD(held_finish(),
				 {
					 MemoryContextReset(record_cxt);
					 rtsync_pgconn_close(&repl, "error while finishing a held record");
				 });
}

/* Entry from libuv: the first schema load is done; read what waited. */
static void
ready_timer_cb(uv_timer_t *timer)
{
	RTSYNC_GUARD(read_on(),
				 {
					 MemoryContextReset(record_cxt);
					 rtsync_pgconn_close(&repl, "error while reading after the schema loaded");
				 });
}

/* The registry's callback: the schema is known, records can be judged (soon, not here). */
static void
registry_ready(void)
{
	uv_timer_start(&ready_timer, ready_timer_cb, 0, 0);
}

/* The registry's callback: the held record may be finished (soon, not here). */
static void
held_ready(void)
{
	uv_timer_start(&held_timer, held_timer_cb, 0, 0);
}

static void
repl_on_closed(RtsyncPgConn *pc)
{
	/* what a step that failed with an ERROR held (see the banner) */
	if (copy_buf)
		PQfreemem(copy_buf);
	copy_buf = NULL;
	drop_queued();
	MemoryContextReset(record_cxt);
	state = REPL_STOPPED;
	rtsync_replication_stats.streaming = false;
	rtsync_metrics_set(RTSYNC_M_REPLICATION_STREAMING, 0);
	uv_timer_stop(&feedback_timer);
}

void
rtsync_replication_start(uv_loop_t *loop)
{
	record_cxt = AllocSetContextCreate(TopMemoryContext, "rtsync record",
									   ALLOCSET_DEFAULT_SIZES);
	memset(&repl, 0, sizeof(repl));
	repl.name = "replication";
	repl.loop = loop;
	repl.on_ready = repl_on_ready;
	repl.on_readable = repl_on_readable;
	repl.on_closed = repl_on_closed;
	uv_timer_init(loop, &feedback_timer);
	uv_timer_init(loop, &held_timer);
	uv_timer_init(loop, &ready_timer);
	rtsync_registry_on_ready(registry_ready);
	rtsync_registry_on_held_ready(held_ready);
	rtsync_retention_on_room(retention_room);
	rtsync_retention_on_kept(retention_kept);
	state = REPL_CONNECTING;
	rtsync_pgconn_start(&repl, rtsync_pgconn_conninfo(true));
}

/* Confirm what was processed, then close; the loop finishes the close. */
void
rtsync_replication_stop(void)
{
	if (state == REPL_STREAMING && confirmable() > feedback_sent_lsn)
		repl_send_feedback(false);
	uv_timer_stop(&feedback_timer);
	uv_close((uv_handle_t *) &feedback_timer, NULL);
	uv_timer_stop(&held_timer);
	uv_close((uv_handle_t *) &held_timer, NULL);
	uv_timer_stop(&ready_timer);
	uv_close((uv_handle_t *) &ready_timer, NULL);
	rtsync_pgconn_stop(&repl);
}
