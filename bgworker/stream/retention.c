/*-------------------------------------------------------------------------
 *
 * stream/retention.c
 *	  Keeps the stream: every record of a table published with a retention
 *	  is written to rtsync.stream_record, in stream order, in batches, on a
 *	  connection of its own.
 *
 * The records are kept as the slot emitted them (the bytes the registry
 * was handed), with their table, SequenceNumber and commit time, and sent
 * as binary arrays to rtsync._retain() (prepared once a session), which
 * makes the hourly partitions they need and inserts them ON CONFLICT DO
 * NOTHING: a record decoded again after a crash is kept once. The
 * connection commits synchronously (synchronous_commit = on), so an answer
 * means the batch is flushed.
 *
 * Durability invariant: the slot is confirmed only past records that are
 * kept. Each record carries, when it is the last of its transaction seen
 * so far, the position of that transaction's COMMIT (set when the COMMIT
 * is processed); when a batch is answered, every commit marked in it is
 * kept, and rtsync_retention_confirmable() gives the highest. With nothing
 * buffered or in flight, everything processed is kept (or had nothing to
 * keep), and the processed position stands.
 *
 * One statement is in flight at a time; while it runs, records gather for
 * the next. Buffered and in-flight records are bounded by
 * rtsync.retention_buffer: past it rtsync_retention_full() says so and the
 * replication reader stops reading (the walsender waits, nothing is
 * dropped) until an answer makes room. A statement that fails or a
 * connection that goes puts the batch back in front of what gathered
 * meanwhile; pgconn reconnects with backoff and it is sent again.
 *
 * Every rtsync.retention_trim_interval rtsync._trim_stream() drops the
 * partitions every table's retention has passed. Gaps (the slot was
 * created) are written before the next batch; where the extension is not
 * (yet) created there is no stream to have a gap, nor anything to trim.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "libpq/pqformat.h"
#include "nodes/pg_list.h"
#include "utils/memutils.h"

#include "base/guard.h"
#include "base/metrics.h"
#include "base/settings.h"
#include "net/pgconn.h"
#include "stream/retention.h"

#define SEQUENCE_LEN 30
#define BATCH_MAX_RECORDS 10000
#define BATCH_MAX_BYTES (8 * 1024 * 1024)
/*
 * Prepared once a session: sent unnamed, every batch was planned with its
 * arrays as constants, copied on the way (a tenth of the writer's time).
 */
#define RETAIN_STATEMENT "rtsync_retain"
#define RETAIN_SQL "SELECT rtsync._retain($1, $2, $3, $4)"

typedef struct KeptRecord
{
	Oid			relid;
	char		sequence_number[SEQUENCE_LEN + 1];
	TimestampTz created;
	XLogRecPtr	commit_lsn;		/* its transaction's COMMIT, if it is the
								 * last record of it: see the banner */
	int			len;
	char		record[FLEXIBLE_ARRAY_MEMBER];
} KeptRecord;

typedef enum WriterState
{
	WRITER_DOWN,				/* connecting */
	WRITER_IDLE,
	WRITER_PREPARING,			/* the batches' statement, on this session */
	WRITER_WRITING,				/* a batch (inflight) */
	WRITER_TRIMMING,
	WRITER_GAP
} WriterState;

static RtsyncPgConn writer;
static WriterState state = WRITER_DOWN;
static bool retain_prepared = false;	/* on the writer's session */
static MemoryContext retention_cxt = NULL;
static List *pending = NIL;		/* KeptRecord *, in stream order */
static List *inflight = NIL;	/* ... the batch being written, before them */
static size_t buffered_bytes = 0;	/* of both */
static XLogRecPtr kept_lsn = InvalidXLogRecPtr;
static List *gaps = NIL;		/* statements' parameters: lsn, reason */
static bool trim_due = false;
static uv_timer_t trim_timer;
static uv_timer_t room_timer;
static bool was_full = false;
static void (*room_fn) (void) = NULL;
#define MAX_KEPT_FNS 4
static void (*kept_fns[MAX_KEPT_FNS]) (void);
static int	nkept_fns = 0;
static long answered_records = -1;	/* the batch's answer, until its
									 * transaction has ended */

static void writer_next(void);

static size_t
record_size(const KeptRecord *r)
{
	return offsetof(KeptRecord, record) + r->len;
}

static void
count_pending(void)
{
	rtsync_metrics_set(RTSYNC_M_RETENTION_PENDING, list_length(pending) + list_length(inflight));
}

void
rtsync_retention_add(Oid relid, const char *sequence_number, TimestampTz created,
					 const char *record, int len)
{
	KeptRecord *r = MemoryContextAlloc(retention_cxt, offsetof(KeptRecord, record) + len);
	MemoryContext old;

	r->relid = relid;
	memcpy(r->sequence_number, sequence_number, SEQUENCE_LEN);
	r->sequence_number[SEQUENCE_LEN] = '\0';
	r->created = created;
	r->commit_lsn = InvalidXLogRecPtr;
	r->len = len;
	memcpy(r->record, record, len);
	old = MemoryContextSwitchTo(retention_cxt);
	pending = lappend(pending, r);
	MemoryContextSwitchTo(old);
	buffered_bytes += record_size(r);
	count_pending();
}

void
rtsync_retention_commit(XLogRecPtr lsn)
{
	List	   *last = pending != NIL ? pending : inflight;

	if (last == NIL)
	{
		/* nothing of it (or before it) waits to be kept */
		kept_lsn = Max(kept_lsn, lsn);
		return;
	}
	((KeptRecord *) llast(last))->commit_lsn = lsn;
	writer_next();
}

XLogRecPtr
rtsync_retention_confirmable(XLogRecPtr processed)
{
	if (pending == NIL && inflight == NIL)
		return processed;
	return Min(processed, kept_lsn);
}

bool
rtsync_retention_full(void)
{
	if (buffered_bytes < (size_t) rtsync_retention_buffer_kb * 1024)
		return false;
	if (!was_full)
		rtsync_metrics_count(RTSYNC_M_RETENTION_WAITS, 1);
	was_full = true;
	/* an idle writer waits for a COMMIT, which the paused reader will not read */
	writer_next();
	return true;
}

void
rtsync_retention_on_room(void (*fn) (void))
{
	room_fn = fn;
}

/*
 * Is a record at or before sequence_number still to be kept (buffered, or
 * in the batch being written)? Records are kept in stream order, so only
 * the oldest one waiting matters.
 */
bool
rtsync_retention_keeping(const char *sequence_number)
{
	List	   *oldest = inflight != NIL ? inflight : pending;

	return oldest != NIL &&
		memcmp(((KeptRecord *) linitial(oldest))->sequence_number, sequence_number,
			   SEQUENCE_LEN) <= 0;
}

void
rtsync_retention_on_kept(void (*fn) (void))
{
	Assert(nkept_fns < MAX_KEPT_FNS);
	kept_fns[nkept_fns++] = fn;
}

void
rtsync_retention_gap(XLogRecPtr lsn, const char *reason)
{
	MemoryContext old = MemoryContextSwitchTo(retention_cxt);

	gaps = lappend(gaps, list_make2(psprintf("%X/%X", LSN_FORMAT_ARGS(lsn)), pstrdup(reason)));
	MemoryContextSwitchTo(old);
	writer_next();
}

/* A one-dimensional binary array of n elements of type elemtype. */
static void
array_begin(StringInfo buf, Oid elemtype, int n)
{
	initStringInfo(buf);
	pq_sendint32(buf, 1);		/* dimensions */
	pq_sendint32(buf, 0);		/* no nulls */
	pq_sendint32(buf, elemtype);
	pq_sendint32(buf, n);
	pq_sendint32(buf, 1);		/* lower bound */
}

/* A statement was handed to libpq (sent): in flight, or the session is closed. */
static void
writer_sent(int sent, WriterState next)
{
	if (!sent)
	{
		rtsync_pgconn_close(&writer, PQerrorMessage(writer.conn));
		return;
	}
	state = next;
	if (PQflush(writer.conn) == 1)
		rtsync_pgconn_want_write(&writer, true);
}

static void
writer_send(const char *sql, int nparams, const char *const *values, WriterState next)
{
	writer_sent(PQsendQueryParams(writer.conn, sql, nparams, NULL, values, NULL, NULL, 0), next);
}

static void
prepare_retain(void)
{
	static const Oid types[4] = {OIDARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID, TEXTARRAYOID};

	writer_sent(PQsendPrepare(writer.conn, RETAIN_STATEMENT, RETAIN_SQL, 4, types),
				WRITER_PREPARING);
}

/* Moves the head of pending (bounded) to inflight and sends it. */
static void
send_batch(void)
{
	static const int formats[4] = {1, 1, 1, 1};
	StringInfoData relids;
	StringInfoData seqs;
	StringInfoData times;
	StringInfoData records;
	const char *values[4];
	int			lengths[4];
	int			n = 0;
	size_t		bytes = 0;
	ListCell   *lc;
	MemoryContext old = MemoryContextSwitchTo(retention_cxt);

	foreach(lc, pending)
	{
		bytes += record_size(lfirst(lc));
		if (++n >= BATCH_MAX_RECORDS || bytes >= BATCH_MAX_BYTES)
			break;
	}
	inflight = list_copy_head(pending, n);
	pending = list_delete_first_n(pending, n);

	array_begin(&relids, OIDOID, n);
	array_begin(&seqs, TEXTOID, n);
	array_begin(&times, TIMESTAMPTZOID, n);
	array_begin(&records, TEXTOID, n);
	foreach(lc, inflight)
	{
		KeptRecord *r = lfirst(lc);

		pq_sendint32(&relids, 4);
		pq_sendint32(&relids, r->relid);
		pq_sendint32(&seqs, SEQUENCE_LEN);
		pq_sendbytes(&seqs, r->sequence_number, SEQUENCE_LEN);
		pq_sendint32(&times, 8);
		pq_sendint64(&times, r->created);
		pq_sendint32(&records, r->len);
		pq_sendbytes(&records, r->record, r->len);
	}
	MemoryContextSwitchTo(old);
	values[0] = relids.data;
	lengths[0] = relids.len;
	values[1] = seqs.data;
	lengths[1] = seqs.len;
	values[2] = times.data;
	lengths[2] = times.len;
	values[3] = records.data;
	lengths[3] = records.len;
	writer_sent(PQsendQueryPrepared(writer.conn, RETAIN_STATEMENT, 4, values, lengths, formats, 0),
				WRITER_WRITING);
	pfree(relids.data);
	pfree(seqs.data);
	pfree(times.data);
	pfree(records.data);
}

/* The next statement, if none is in flight: gaps, records, then trimming. */
static void
writer_next(void)
{
	if (state != WRITER_IDLE || writer.conn == NULL)
		return;
	if (gaps != NIL)
	{
		List	   *gap = linitial(gaps);
		const char *values[2] = {linitial(gap), lsecond(gap)};

		writer_send("SELECT rtsync._stream_gap(NULL, $1::pg_lsn, $2)", 2, values, WRITER_GAP);
	}
	else if (pending != NIL && !retain_prepared)
		prepare_retain();
	else if (pending != NIL)
		send_batch();
	else if (trim_due)
	{
		trim_due = false;
		writer_send("SELECT rtsync._trim_stream()", 0, NULL, WRITER_TRIMMING);
	}
}

/* Entry from libuv: the reader may read again. */
static void
room_timer_cb(uv_timer_t *timer)
{
	RTSYNC_GUARD(if (room_fn) room_fn(),
				 ereport(LOG, (errmsg("rtsync could not resume reading after keeping records"))));
}

/* The batch in flight is kept: its commits are confirmable. */
static void
batch_kept(long new_records)
{
	ListCell   *lc;

	foreach(lc, inflight)
	{
		KeptRecord *r = lfirst(lc);

		if (r->commit_lsn != InvalidXLogRecPtr)
			kept_lsn = Max(kept_lsn, r->commit_lsn);
		buffered_bytes -= record_size(r);
		pfree(r);
	}
	list_free(inflight);
	inflight = NIL;
	rtsync_metrics_count(RTSYNC_M_RETENTION_RECORDS, Max(new_records, 0));
	count_pending();
	if (was_full && !rtsync_retention_full())
	{
		was_full = false;
		uv_timer_start(&room_timer, room_timer_cb, 0, 0);
	}
	for (int i = 0; i < nkept_fns; i++)
		kept_fns[i] ();
}

/* The batch in flight was not kept: back in front of the rest. */
static void
batch_back(void)
{
	if (inflight == NIL)
		return;
	pending = list_concat(inflight, pending);
	inflight = NIL;
}

/* A statement's result (the only one; then NULL). */
static void
statement_done(PGresult *res)
{
	bool		ok = PQresultStatus(res) == PGRES_TUPLES_OK ||
		(state == WRITER_PREPARING && PQresultStatus(res) == PGRES_COMMAND_OK);
	const char *sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	bool		no_extension = sqlstate &&
		(strcmp(sqlstate, "3F000") == 0 || strcmp(sqlstate, "42883") == 0);

	switch (state)
	{
		case WRITER_WRITING:
			/* kept once the transaction has ended (the NULL result) */
			if (ok)
				answered_records = PQntuples(res) == 1 ? atol(PQgetvalue(res, 0, 0)) : 0;
			break;
		case WRITER_PREPARING:
			retain_prepared = ok;
			break;
		case WRITER_GAP:
			if (ok || no_extension)
			{
				list_free_deep(linitial(gaps));
				gaps = list_delete_first(gaps);
			}
			break;
		case WRITER_TRIMMING:
			if (ok && PQntuples(res) == 1 && atoi(PQgetvalue(res, 0, 0)) > 0)
			{
				rtsync_metrics_count(RTSYNC_M_RETENTION_PARTITIONS_DROPPED,
									 atoi(PQgetvalue(res, 0, 0)));
				ereport(LOG,
						(errmsg("rtsync dropped %s partition(s) of kept stream records past their retention",
								PQgetvalue(res, 0, 0))));
			}
			break;
		default:
			break;
	}
	if (!ok && state != WRITER_WRITING && state != WRITER_PREPARING && no_extension)
		return;
	if (!ok)
	{
		/* kept for the retry: pgconn reconnects with backoff */
		ereport(LOG,
				(errmsg("rtsync could not keep stream records: %s", PQresultErrorMessage(res)),
				 errdetail("The records are kept in memory and written again; the replication slot is not confirmed past them.")));
		rtsync_pgconn_close(&writer, "a statement of the writer failed");
	}
}

static void
writer_on_readable(RtsyncPgConn *pc)
{
	if (!PQconsumeInput(writer.conn))
	{
		rtsync_pgconn_close(&writer, PQerrorMessage(writer.conn));
		return;
	}
	while (state != WRITER_IDLE && state != WRITER_DOWN && !PQisBusy(writer.conn))
	{
		PGresult   *res = PQgetResult(writer.conn);

		if (res == NULL)
		{
			if (state == WRITER_WRITING && answered_records >= 0)
				batch_kept(answered_records);
			answered_records = -1;
			state = WRITER_IDLE;
			writer_next();
			return;
		}
		statement_done(res);
		PQclear(res);
		if (writer.closing || writer.conn == NULL)
			return;
	}
}

static void
writer_on_ready(RtsyncPgConn *pc)
{
	rtsync_pgconn_reset_backoff(pc);
	state = WRITER_IDLE;
	writer_next();
}

static void
writer_on_closed(RtsyncPgConn *pc)
{
	/* answered but not known to be committed: written again, kept once */
	if (state == WRITER_WRITING)
		batch_back();
	answered_records = -1;
	retain_prepared = false;
	state = WRITER_DOWN;
}

/* Entry from libuv: trimming is due. */
static void
trim_timer_cb(uv_timer_t *timer)
{
	RTSYNC_GUARD({
		trim_due = true;
		writer_next();
	}, rtsync_pgconn_close(&writer, "error while trimming kept records"));
}

void
rtsync_retention_start(uv_loop_t *loop)
{
	retention_cxt = AllocSetContextCreate(TopMemoryContext, "rtsync retention",
										  ALLOCSET_DEFAULT_SIZES);
	memset(&writer, 0, sizeof(writer));
	writer.name = "retention";
	writer.loop = loop;
	writer.on_ready = writer_on_ready;
	writer.on_readable = writer_on_readable;
	writer.on_closed = writer_on_closed;
	uv_timer_init(loop, &trim_timer);
	uv_timer_start(&trim_timer, trim_timer_cb, rtsync_retention_trim_interval_ms,
				   rtsync_retention_trim_interval_ms);
	uv_unref((uv_handle_t *) &trim_timer);
	uv_timer_init(loop, &room_timer);
	rtsync_pgconn_start(&writer, psprintf("%s options='-csynchronous_commit=on'",
										  rtsync_pgconn_conninfo(false)));
}

void
rtsync_retention_stop(void)
{
	uv_timer_stop(&trim_timer);
	uv_close((uv_handle_t *) &trim_timer, NULL);
	uv_timer_stop(&room_timer);
	uv_close((uv_handle_t *) &room_timer, NULL);
	rtsync_pgconn_stop(&writer);
}
