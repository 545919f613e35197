/*-------------------------------------------------------------------------
 *
 * stream/retention.c
 *	  Keeps the stream: every record of a table published with a retention
 *	  is written to rtsync.stream_record, in stream order, in batches, on a
 *	  connection of its own.
 *
 * The records are kept as the slot emitted them (the bytes the registry
 * was handed), with their table, SequenceNumber and commit time. Each is
 * appended, as it comes, to the binary arrays of the batch being gathered
 * (one copy; the batch is sent as it is), which go to rtsync._retain()
 * (prepared once a session, extension/stream_retain.c): it keeps them in
 * chunks, skipping any at or before what it kept before, so a record
 * decoded again after a crash is kept once. The connection commits
 * synchronously (synchronous_commit = on), so an answer means the batch is
 * flushed.
 *
 * Durability invariant: the slot is confirmed only past records that are
 * kept. A batch carries the position of the last COMMIT processed while
 * its last record was the newest waiting (every record of that transaction
 * is in it or before it); when a batch is answered, that commit is kept,
 * and rtsync_retention_confirmable() gives the highest. With nothing
 * buffered or in flight, everything processed is kept (or had nothing to
 * keep), and the processed position stands.
 *
 * One statement is in flight at a time; while it runs, records gather for
 * the next batches. Buffered and in-flight records are bounded by
 * rtsync.retention_buffer: past it rtsync_retention_full() says so and the
 * replication reader stops reading (the walsender waits, nothing is
 * dropped) until an answer makes room. A statement that fails or a
 * connection that goes puts the batch back in front of what gathered
 * meanwhile; pgconn reconnects with backoff and it is sent again, as it was.
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
#include "port/pg_bswap.h"
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
 * How long an idle writer lets a batch gather before sending it: a
 * statement of one record cost the server ~0.1 ms (as much as a hundred
 * records in a large one), so single-row transactions sent one by one cost
 * a tenth of a core per 1,000/s. It delays keeping (and confirming the
 * slot), not delivery.
 */
#define BATCH_GATHER_MS 5
/*
 * Prepared once a session: sent unnamed, every batch was planned with its
 * arrays as constants, copied on the way (a tenth of the writer's time).
 */
#define RETAIN_STATEMENT "rtsync_retain"
#define RETAIN_SQL "SELECT rtsync._retain($1, $2, $3, $4)"

/* A batch of records, as the binary arrays of rtsync._retain()'s arguments. */
typedef struct Batch
{
	int			n;
	size_t		bytes;
	StringInfoData relids;		/* oid[] */
	StringInfoData seqs;		/* text[] */
	StringInfoData times;		/* timestamptz[] */
	StringInfoData records;		/* text[] */
	char		first_sequence[SEQUENCE_LEN];
	XLogRecPtr	commit_lsn;		/* see the banner; Invalid: none */
	uint64		begun_ms;		/* the loop's time at its first record */
} Batch;

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
static List *pending = NIL;		/* Batch *, in stream order; the last gathers */
static Batch *inflight = NULL;	/* the batch being written, before them */
static size_t buffered_bytes = 0;	/* of both */
static int	buffered_records = 0;
static XLogRecPtr kept_lsn = InvalidXLogRecPtr;
static List *gaps = NIL;		/* statements' parameters: lsn, reason */
static bool trim_due = false;
static uv_timer_t trim_timer;
static uv_timer_t room_timer;
static uv_timer_t gather_timer;
static bool was_full = false;
static void (*room_fn) (void) = NULL;
#define MAX_KEPT_FNS 4
static void (*kept_fns[MAX_KEPT_FNS]) (void);
static int	nkept_fns = 0;
static long answered_records = -1;	/* the batch's answer, until its
									 * transaction has ended */

static void writer_next(void);

static void
count_pending(void)
{
	rtsync_metrics_set(RTSYNC_M_RETENTION_PENDING, buffered_records);
}

/* A one-dimensional binary array of type elemtype; its count is set when sent. */
static void
array_begin(StringInfo buf, Oid elemtype)
{
	initStringInfo(buf);
	pq_sendint32(buf, 1);		/* dimensions */
	pq_sendint32(buf, 0);		/* no nulls */
	pq_sendint32(buf, elemtype);
	pq_sendint32(buf, 0);		/* elements: array_set_count */
	pq_sendint32(buf, 1);		/* lower bound */
}

static void
array_set_count(StringInfo buf, int n)
{
	uint32		count = pg_hton32((uint32) n);

	memcpy(buf->data + 3 * sizeof(uint32), &count, sizeof(count));
}

static Batch *
batch_new(void)
{
	MemoryContext old = MemoryContextSwitchTo(retention_cxt);
	Batch	   *b = palloc0(sizeof(Batch));

	array_begin(&b->relids, OIDOID);
	array_begin(&b->seqs, TEXTOID);
	array_begin(&b->times, TIMESTAMPTZOID);
	array_begin(&b->records, TEXTOID);
	b->commit_lsn = InvalidXLogRecPtr;
	b->begun_ms = uv_now(writer.loop);
	pending = lappend(pending, b);
	MemoryContextSwitchTo(old);
	return b;
}

static void
batch_free(Batch *b)
{
	buffered_bytes -= b->bytes;
	buffered_records -= b->n;
	pfree(b->relids.data);
	pfree(b->seqs.data);
	pfree(b->times.data);
	pfree(b->records.data);
	pfree(b);
}

void
rtsync_retention_add(Oid relid, const char *sequence_number, TimestampTz created,
					 const char *record, int len)
{
	Batch	   *b = pending != NIL ? llast(pending) : NULL;
	size_t		bytes = len + SEQUENCE_LEN + 2 * sizeof(int64) + 4 * sizeof(int32);

	if (b == NULL || b->n >= BATCH_MAX_RECORDS || b->bytes >= BATCH_MAX_BYTES)
		b = batch_new();
	if (b->n == 0)
		memcpy(b->first_sequence, sequence_number, SEQUENCE_LEN);
	pq_sendint32(&b->relids, 4);
	pq_sendint32(&b->relids, relid);
	pq_sendint32(&b->seqs, SEQUENCE_LEN);
	pq_sendbytes(&b->seqs, sequence_number, SEQUENCE_LEN);
	pq_sendint32(&b->times, 8);
	pq_sendint64(&b->times, created);
	pq_sendint32(&b->records, len);
	pq_sendbytes(&b->records, record, len);
	b->n++;
	b->bytes += bytes;
	buffered_bytes += bytes;
	buffered_records++;
	count_pending();
}

void
rtsync_retention_commit(XLogRecPtr lsn)
{
	Batch	   *last = pending != NIL ? llast(pending) : inflight;

	if (last == NULL)
	{
		/* nothing of it (or before it) waits to be kept */
		kept_lsn = Max(kept_lsn, lsn);
		return;
	}
	last->commit_lsn = lsn;
	writer_next();
}

XLogRecPtr
rtsync_retention_confirmable(XLogRecPtr processed)
{
	if (pending == NIL && inflight == NULL)
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
	Batch	   *oldest = inflight != NULL ? inflight : pending != NIL ? linitial(pending) : NULL;

	return oldest != NULL && memcmp(oldest->first_sequence, sequence_number, SEQUENCE_LEN) <= 0;
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

/* Moves the oldest batch to inflight and sends it, as it was gathered. */
static void
send_batch(void)
{
	static const int formats[4] = {1, 1, 1, 1};
	const char *values[4];
	int			lengths[4];
	Batch	   *b = linitial(pending);
	StringInfo	arrays[4] = {&b->relids, &b->seqs, &b->times, &b->records};

	inflight = b;
	pending = list_delete_first(pending);
	for (int i = 0; i < 4; i++)
	{
		array_set_count(arrays[i], b->n);
		values[i] = arrays[i]->data;
		lengths[i] = arrays[i]->len;
	}
	writer_sent(PQsendQueryPrepared(writer.conn, RETAIN_STATEMENT, 4, values, lengths, formats, 0),
				WRITER_WRITING);
}

/* Entry from libuv: the oldest batch has gathered long enough. */
static void
gather_timer_cb(uv_timer_t *timer)
{
	RTSYNC_GUARD(writer_next(), rtsync_pgconn_close(&writer, "error while keeping records"));
}

/*
 * Is the oldest batch to be sent now? Yes once it is full, others wait
 * behind it, replication waits for room, or it has gathered BATCH_GATHER_MS;
 * else the gather timer will ask again.
 */
static bool
batch_gathered(void)
{
	Batch	   *b = linitial(pending);
	uint64		waited = uv_now(writer.loop) - b->begun_ms;

	if (list_length(pending) > 1 || b->n >= BATCH_MAX_RECORDS || b->bytes >= BATCH_MAX_BYTES ||
		was_full || waited >= BATCH_GATHER_MS)
		return true;
	if (!uv_is_active((uv_handle_t *) &gather_timer))
		uv_timer_start(&gather_timer, gather_timer_cb, BATCH_GATHER_MS - waited, 0);
	return false;
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
	{
		if (batch_gathered())
			send_batch();
	}
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
	if (inflight->commit_lsn != InvalidXLogRecPtr)
		kept_lsn = Max(kept_lsn, inflight->commit_lsn);
	batch_free(inflight);
	inflight = NULL;
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
	MemoryContext old;

	if (inflight == NULL)
		return;
	old = MemoryContextSwitchTo(retention_cxt);
	pending = lcons(inflight, pending);
	MemoryContextSwitchTo(old);
	inflight = NULL;
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
	uv_timer_init(loop, &gather_timer);
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
	uv_timer_stop(&gather_timer);
	uv_close((uv_handle_t *) &gather_timer, NULL);
	rtsync_pgconn_stop(&writer);
}
