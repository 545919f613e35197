/*-------------------------------------------------------------------------
 *
 * base/metrics.c
 *	  The server's metrics: their names and meanings, their place in shared
 *	  memory, the HTTP latency histogram, and the two ways to read them:
 *	  Prometheus text format (GET /metrics, http/router.c) and the set-returning
 *	  function behind the view rtsync.stats.
 *
 * The values live in shared memory requested by _PG_init when the library
 * is preloaded; the worker is their only writer (see base/metrics.h). Counters
 * count from PostgreSQL's start and survive restarts of the worker; gauges
 * are set to zero when the worker starts and when it exits, so a server
 * that is not running (rtsync.port = 0, or between restarts) shows zeros.
 * Without shared memory (the library not preloaded) everything reads as
 * zero too: the view always has the same rows.
 *
 * The lag in bytes is computed when read, from the server's WAL flush
 * position and the position the worker has processed: a logical walsender
 * does not report the server's WAL end in its messages. Reading the flush
 * position is a shared-memory read, not a query.
 *
 * The heartbeat is the time of the worker's last loop pass. GET /metrics
 * shows it as a Unix time (age it with Prometheus' time()); the view
 * rtsync.stats adds what only a process other than the worker can judge —
 * the heartbeat's age and the replication slot's own state — in SQL, when
 * it is read (sql/rtsync.sql).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "fmgr.h"
#include "funcapi.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "base/metrics.h"

/* How a stored value is shown. */
typedef enum MetricShow
{
	SHOW_PLAIN,					/* as stored */
	SHOW_SECONDS,				/* stored in microseconds */
	SHOW_LAG_BYTES				/* stored: an LSN; shown: the flush position
								 * minus it */
} MetricShow;

typedef struct MetricInfo
{
	const char *name;			/* family name; series of a family are
								 * adjacent */
	const char *labels;			/* inside the braces, or NULL */
	const char *kind;			/* "counter" or "gauge" */
	MetricShow	show;
	const char *help;			/* on a family's first series */
} MetricInfo;

/* In RtsyncMetric's order. */
static const MetricInfo metric_info[] = {
	{"rtsync_connections", "kind=\"websocket\"", "gauge", SHOW_PLAIN,
	"Open client connections, by kind: websocket, or http (including connections not yet upgraded)."},
	{"rtsync_connections", "kind=\"http\"", "gauge", SHOW_PLAIN, NULL},
	{"rtsync_websocket_connections_total", NULL, "counter", SHOW_PLAIN,
	"WebSocket connections established."},
	{"rtsync_subscriptions", NULL, "gauge", SHOW_PLAIN,
	"Subscriptions held by connected clients."},
	{"rtsync_subscriptions_accepted_total", NULL, "counter", SHOW_PLAIN,
	"Subscription requests accepted."},
	{"rtsync_subscriptions_refused_total", NULL, "counter", SHOW_PLAIN,
	"Subscription requests refused: invalid document, limit reached, or no privilege."},
	{"rtsync_keys_refused_total", NULL, "counter", SHOW_PLAIN,
	"WebSocket connections and HTTP requests refused for a missing, unknown, expired or revoked API key."},
	{"rtsync_events_delivered_total", NULL, "counter", SHOW_PLAIN,
	"Subscription events queued to clients: one per matching subscription per change."},
	{"rtsync_messages_sent_total", NULL, "counter", SHOW_PLAIN,
	"WebSocket messages written to clients: events, acknowledgements, keep-alives and errors."},
	{"rtsync_bytes_sent_total", "kind=\"websocket\"", "counter", SHOW_PLAIN,
	"Bytes written to clients, by kind: websocket frames, or http headers and bodies."},
	{"rtsync_bytes_sent_total", "kind=\"http\"", "counter", SHOW_PLAIN, NULL},
	{"rtsync_slow_clients_closed_total", NULL, "counter", SHOW_PLAIN,
	"Clients closed with 1013 because their outbound queue passed rtsync.max_queue."},
	{"rtsync_http_requests_total", "code=\"2xx\"", "counter", SHOW_PLAIN,
	"HTTP requests answered, by status class."},
	{"rtsync_http_requests_total", "code=\"3xx\"", "counter", SHOW_PLAIN, NULL},
	{"rtsync_http_requests_total", "code=\"4xx\"", "counter", SHOW_PLAIN, NULL},
	{"rtsync_http_requests_total", "code=\"5xx\"", "counter", SHOW_PLAIN, NULL},
	{"rtsync_operations_total", "outcome=\"ok\"", "counter", SHOW_PLAIN,
	"GraphQL operations (HTTP requests, WebSocket queries, mutations and subscriptions), by outcome."},
	{"rtsync_operations_total", "outcome=\"error\"", "counter", SHOW_PLAIN, NULL},
	{"rtsync_operations_total", "outcome=\"unauthorized\"", "counter", SHOW_PLAIN, NULL},
	{"rtsync_operations_total", "outcome=\"limited\"", "counter", SHOW_PLAIN, NULL},
	{"rtsync_rls_checks_total", NULL, "counter", SHOW_PLAIN,
	"Row-level security checks run in SQL: one per table, batch of changes and group of subscribers judged alike (one role, the same values of the claims the table's policies read)."},
	{"rtsync_rls_statements_total", NULL, "counter", SHOW_PLAIN,
	"SQL statements the row-level security checks took (groups of one role share one)."},
	{"rtsync_rls_denied_total", NULL, "counter", SHOW_PLAIN,
	"Groups of subscribers a change was withheld from by row-level security."},
	{"rtsync_rls_errors_total", NULL, "counter", SHOW_PLAIN,
	"Row-level security checks that failed (a policy that errors): the group is denied the change."},
	{"rtsync_stream_records_total", NULL, "counter", SHOW_PLAIN,
	"Records processed from the replication slot: row changes, TRUNCATE and control records."},
	{"rtsync_stream_transactions_total", NULL, "counter", SHOW_PLAIN,
	"Transactions processed from the replication slot."},
	{"rtsync_retention_records_total", NULL, "counter", SHOW_PLAIN,
	"Stream records durably kept for reading and resuming (rtsync.stream_record)."},
	{"rtsync_retention_pending_records", NULL, "gauge", SHOW_PLAIN,
	"Stream records received but not yet durably kept: the slot is not confirmed past them."},
	{"rtsync_retention_waits_total", NULL, "counter", SHOW_PLAIN,
	"Times replication waited because the records being kept filled rtsync.retention_buffer."},
	{"rtsync_retention_partitions_dropped_total", NULL, "counter", SHOW_PLAIN,
	"Hourly partitions of kept records dropped once every table's retention had passed them."},
	{"rtsync_subscriptions_resumed_total", NULL, "counter", SHOW_PLAIN,
	"Subscriptions that resumed after a SequenceNumber (the after argument, or the connection's position)."},
	{"rtsync_records_caught_up_total", NULL, "counter", SHOW_PLAIN,
	"Kept records delivered to resuming subscriptions before they joined the live stream."},
	{"rtsync_replication_streaming", NULL, "gauge", SHOW_PLAIN,
	"1 while the server streams from its replication slot, else 0."},
	{"rtsync_replication_lag_bytes", NULL, "gauge", SHOW_LAG_BYTES,
	"Bytes of WAL the server has flushed beyond the position the rtsync server has processed."},
	{"rtsync_replication_lag_seconds", NULL, "gauge", SHOW_SECONDS,
	"Seconds from the last transaction's commit to its processing; 0 once the stream is idle."},
	{"rtsync_server_start_time_seconds", NULL, "gauge", SHOW_SECONDS,
	"Unix time the rtsync server started; 0 while it is not running."},
	{"rtsync_server_heartbeat_seconds", NULL, "gauge", SHOW_SECONDS,
	"Unix time the rtsync server's event loop last turned (at least once a second while it runs); 0 while it is not running."},
};

StaticAssertDecl(lengthof(metric_info) == RTSYNC_M_COUNT,
				 "metric_info must describe every RtsyncMetric");

/* The latency histogram's upper bounds; the last bucket is +Inf. */
static const int64 latency_bounds_us[RTSYNC_LATENCY_BUCKETS - 1] = {
	1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000
};
static const char *const latency_le[RTSYNC_LATENCY_BUCKETS] = {
	"le=\"0.001\"", "le=\"0.0025\"", "le=\"0.005\"", "le=\"0.01\"",
	"le=\"0.025\"", "le=\"0.05\"", "le=\"0.1\"", "le=\"0.25\"", "le=\"0.5\"",
	"le=\"1\"", "le=\"2.5\"", "le=\"5\"", "le=\"10\"", "le=\"+Inf\""
};

#define LATENCY_FAMILY "rtsync_http_request_duration_seconds"
#define LATENCY_HELP "HTTP request latency, from the request's headers to its answer being queued."

/* In RtsyncHandlerMetric's order; each series labelled handler="<name>". */
static const MetricInfo handler_info[] = {
	{"rtsync_handler_invocations_total", NULL, "counter", SHOW_PLAIN,
	"Calls of a stream handler's function (Lambda's Invocations)."},
	{"rtsync_handler_errors_total", NULL, "counter", SHOW_PLAIN,
	"Calls of a stream handler's function that raised an error or reported failed records."},
	{"rtsync_handler_records_in_total", NULL, "counter", SHOW_PLAIN,
	"Stream records a handler's function processed in calls that succeeded."},
	{"rtsync_handler_records_filtered_total", NULL, "counter", SHOW_PLAIN,
	"Stream records a handler's filter criteria left out."},
	{"rtsync_handler_records_failed_total", NULL, "counter", SHOW_PLAIN,
	"Stream records a handler gave up on: retries or record age exhausted."},
	{"rtsync_handler_records_on_failure_total", NULL, "counter", SHOW_PLAIN,
	"Stream records a handler gave up on that went to its on-failure table."},
	{"rtsync_handler_iterator_age_milliseconds", NULL, "gauge", SHOW_PLAIN,
	"Age of the newest record of a handler's last batch when it was processed (Lambda's IteratorAge)."},
	{"rtsync_handler_concurrency", NULL, "gauge", SHOW_PLAIN,
	"Batches of a handler in flight: at most one per lane (its parallelization factor)."},
};

StaticAssertDecl(lengthof(handler_info) == RTSYNC_HM_COUNT,
				 "handler_info must describe every RtsyncHandlerMetric");

#define HANDLER_DURATION_FAMILY "rtsync_handler_duration_seconds"
#define HANDLER_DURATION_HELP "Duration of a stream handler's steps: reading its batch, calling its function, committing."

/* every series but the handlers', the histogram's included */
#define MAX_SAMPLES (RTSYNC_M_COUNT + RTSYNC_LATENCY_BUCKETS + 2)
/* and each handler's */
#define HANDLER_SAMPLES (RTSYNC_HM_COUNT + RTSYNC_LATENCY_BUCKETS + 2)

/* One series as read. */
typedef struct Sample
{
	const char *family;
	const char *suffix;			/* "", or the histogram's "_bucket" ... */
	const char *labels;
	const char *kind;
	const char *help;
	uint64		raw;
	bool		seconds;		/* raw is in microseconds */
} Sample;

RtsyncMetricsShared *rtsync_metrics_writer = NULL;

/* the shared values, in every process of a preloading server */
static RtsyncMetricsShared *shared = NULL;

Size
rtsync_metrics_shmem_size(void)
{
	return MAXALIGN(sizeof(RtsyncMetricsShared));
}

/* Creates (postmaster) or finds (EXEC_BACKEND children) the values. */
void
rtsync_metrics_shmem_startup(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("rtsync metrics", sizeof(RtsyncMetricsShared), &found);
	if (!found)
	{
		for (int i = 0; i < RTSYNC_M_COUNT; i++)
			pg_atomic_init_u64(&shared->values[i], 0);
		for (int i = 0; i < RTSYNC_LATENCY_BUCKETS; i++)
			pg_atomic_init_u64(&shared->latency_buckets[i], 0);
		pg_atomic_init_u64(&shared->latency_sum_us, 0);
		for (int h = 0; h < RTSYNC_HANDLER_SLOTS; h++)
		{
			RtsyncHandlerSlot *slot = &shared->handlers[h];

			pg_atomic_init_u32(&slot->version, 0);
			slot->name[0] = '\0';
			for (int i = 0; i < RTSYNC_HM_COUNT; i++)
				pg_atomic_init_u64(&slot->values[i], 0);
			for (int i = 0; i < RTSYNC_LATENCY_BUCKETS; i++)
				pg_atomic_init_u64(&slot->duration_buckets[i], 0);
			pg_atomic_init_u64(&slot->duration_sum_us, 0);
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Also frees every handler's slot: the next worker claims them again. */
static void
reset_gauges(void)
{
	for (int i = 0; i < RTSYNC_M_COUNT; i++)
		if (strcmp(metric_info[i].kind, "gauge") == 0)
			rtsync_metrics_set((RtsyncMetric) i, 0);
	for (int h = 0; h < RTSYNC_HANDLER_SLOTS; h++)
		rtsync_metrics_handler_release(h);
}

/* The worker is gone: nothing it measured is current any more. */
static void
metrics_worker_exit(int code, Datum arg)
{
	reset_gauges();
	rtsync_metrics_writer = NULL;
}

/* microseconds from the Unix epoch to PostgreSQL's */
#define UNIX_TO_POSTGRES_EPOCH_US \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY)

/*
 * Makes this process (the worker) the writer. Gauges start from zero: the
 * connections and subscriptions of an earlier worker are gone.
 */
void
rtsync_metrics_worker_start(void)
{
	TimestampTz now = GetCurrentTimestamp();

	if (shared == NULL)
		return;
	rtsync_metrics_writer = shared;
	reset_gauges();
	rtsync_metrics_set(RTSYNC_M_START_TIME_US, now + UNIX_TO_POSTGRES_EPOCH_US);
	rtsync_metrics_set(RTSYNC_M_HEARTBEAT_US, now + UNIX_TO_POSTGRES_EPOCH_US);
	before_shmem_exit(metrics_worker_exit, (Datum) 0);
}

void
rtsync_metrics_heartbeat(void)
{
	if (rtsync_metrics_writer != NULL)
		rtsync_metrics_set(RTSYNC_M_HEARTBEAT_US,
						   GetCurrentTimestamp() + UNIX_TO_POSTGRES_EPOCH_US);
}

/* The bucket of an elapsed time, in the latency bounds. */
static int
latency_bucket(int64 elapsed_us)
{
	int			b = 0;

	while (b < RTSYNC_LATENCY_BUCKETS - 1 && elapsed_us > latency_bounds_us[b])
		b++;
	return b;
}

static inline void
add_u64(pg_atomic_uint64 *v, uint64 n)
{
	pg_atomic_write_u64(v, pg_atomic_read_u64(v) + n);
}

/*
 * An HTTP answer was queued: count it by status class and put its latency
 * (since started) in the histogram. Statuses outside 2xx-5xx count with
 * the nearest class (rtsync sends none).
 */
void
rtsync_metrics_http_request(int status, TimestampTz started)
{
	RtsyncMetricsShared *s = rtsync_metrics_writer;
	int			cls = Min(Max(status / 100, 2), 5);
	int64		elapsed;

	if (s == NULL)
		return;
	rtsync_metrics_count(RTSYNC_M_HTTP_REQUESTS_2XX + (cls - 2), 1);
	elapsed = Max(GetCurrentTimestamp() - started, 0);
	add_u64(&s->latency_buckets[latency_bucket(elapsed)], 1);
	add_u64(&s->latency_sum_us, elapsed);
}

int
rtsync_metrics_handler_slot(const char *name)
{
	RtsyncMetricsShared *s = rtsync_metrics_writer;
	int			free_slot = -1;

	if (s == NULL)
		return -1;
	for (int h = 0; h < RTSYNC_HANDLER_SLOTS; h++)
	{
		if (strcmp(s->handlers[h].name, name) == 0)
			return h;
		if (free_slot < 0 && s->handlers[h].name[0] == '\0')
			free_slot = h;
	}
	if (free_slot >= 0)
	{
		RtsyncHandlerSlot *slot = &s->handlers[free_slot];

		/* readers skip the slot while its version is odd */
		pg_atomic_write_u32(&slot->version, pg_atomic_read_u32(&slot->version) + 1);
		pg_write_barrier();
		strlcpy(slot->name, name, sizeof(slot->name));
		pg_write_barrier();
		pg_atomic_write_u32(&slot->version, pg_atomic_read_u32(&slot->version) + 1);
	}
	return free_slot;
}

void
rtsync_metrics_handler_release(int h)
{
	RtsyncMetricsShared *s = rtsync_metrics_writer;
	RtsyncHandlerSlot *slot;

	if (s == NULL || h < 0)
		return;
	slot = &s->handlers[h];
	pg_atomic_write_u32(&slot->version, pg_atomic_read_u32(&slot->version) + 1);
	pg_write_barrier();
	slot->name[0] = '\0';
	for (int i = 0; i < RTSYNC_HM_COUNT; i++)
		pg_atomic_write_u64(&slot->values[i], 0);
	for (int i = 0; i < RTSYNC_LATENCY_BUCKETS; i++)
		pg_atomic_write_u64(&slot->duration_buckets[i], 0);
	pg_atomic_write_u64(&slot->duration_sum_us, 0);
	pg_write_barrier();
	pg_atomic_write_u32(&slot->version, pg_atomic_read_u32(&slot->version) + 1);
}

void
rtsync_metrics_handler_set(int h, RtsyncHandlerMetric m, uint64 value)
{
	RtsyncMetricsShared *s = rtsync_metrics_writer;

	if (s != NULL && h >= 0)
		pg_atomic_write_u64(&s->handlers[h].values[m], value);
}

void
rtsync_metrics_handler_duration(int h, int64 elapsed_us)
{
	RtsyncMetricsShared *s = rtsync_metrics_writer;
	RtsyncHandlerSlot *slot;

	if (s == NULL || h < 0)
		return;
	slot = &s->handlers[h];
	elapsed_us = Max(elapsed_us, 0);
	add_u64(&slot->duration_buckets[latency_bucket(elapsed_us)], 1);
	add_u64(&slot->duration_sum_us, elapsed_us);
}

/* WAL flushed beyond lsn; 0 when nothing was processed yet */
static uint64
lag_bytes(XLogRecPtr lsn)
{
	XLogRecPtr	flush;

	if (lsn == InvalidXLogRecPtr || RecoveryInProgress())
		return 0;
	flush = GetFlushRecPtr(NULL);
	return flush > lsn ? flush - lsn : 0;
}

/*
 * Appends a histogram's series (bucket counts not cumulative, and a sum in
 * microseconds) to samples at n; labels go before each bucket's le (or are
 * NULL). The buckets are made cumulative here, and the count is their sum,
 * so "+Inf" and "_count" always agree.
 */
static int
histogram_samples(Sample *samples, int n, const char *family, const char *help,
				  const char *labels, const uint64 *buckets, uint64 sum_us)
{
	uint64		cumulative = 0;

	for (int b = 0; b < RTSYNC_LATENCY_BUCKETS; b++)
	{
		Sample	   *s = &samples[n++];

		cumulative += buckets[b];
		s->family = family;
		s->suffix = "_bucket";
		s->labels = labels ? psprintf("%s,%s", labels, latency_le[b]) : latency_le[b];
		s->kind = "histogram";
		s->help = help;
		s->raw = cumulative;
		s->seconds = false;
	}
	samples[n] = samples[n - 1];
	samples[n].suffix = "_sum";
	samples[n].labels = labels;
	samples[n].raw = sum_us;
	samples[n].seconds = true;
	n++;
	samples[n] = samples[n - 1];
	samples[n].suffix = "_count";
	samples[n].raw = cumulative;
	samples[n].seconds = false;
	return n + 1;
}

/* A handler slot's name and values, or false while it is free or changing. */
typedef struct HandlerRead
{
	char		labels[RTSYNC_HANDLER_NAME_LEN + 16];
	uint64		values[RTSYNC_HM_COUNT];
	uint64		buckets[RTSYNC_LATENCY_BUCKETS];
	uint64		sum_us;
} HandlerRead;

static bool
read_handler(RtsyncHandlerSlot *slot, HandlerRead *out)
{
	uint32		version = pg_atomic_read_u32(&slot->version);
	char		name[RTSYNC_HANDLER_NAME_LEN];

	if (version % 2 == 1)
		return false;
	pg_read_barrier();
	memcpy(name, slot->name, sizeof(name));
	name[sizeof(name) - 1] = '\0';
	for (int i = 0; i < RTSYNC_HM_COUNT; i++)
		out->values[i] = pg_atomic_read_u64(&slot->values[i]);
	for (int b = 0; b < RTSYNC_LATENCY_BUCKETS; b++)
		out->buckets[b] = pg_atomic_read_u64(&slot->duration_buckets[b]);
	out->sum_us = pg_atomic_read_u64(&slot->duration_sum_us);
	pg_read_barrier();
	if (name[0] == '\0' ||
		pg_atomic_read_u32(&slot->version) != version)
		return false;
	/* names are [A-Za-z0-9_.-]: nothing to escape in a label */
	snprintf(out->labels, sizeof(out->labels), "handler=\"%s\"", name);
	return true;
}

/*
 * Reads every series, in output order, into a palloc'd array; returns how
 * many. A family's series are adjacent: each handler family lists every
 * handler in turn.
 */
static int
read_samples(Sample **samples_out)
{
	int			n = 0;
	uint64		buckets[RTSYNC_LATENCY_BUCKETS];
	HandlerRead *handlers = palloc(sizeof(HandlerRead) * RTSYNC_HANDLER_SLOTS);
	int			nhandlers = 0;
	Sample	   *samples;

	for (int h = 0; shared && h < RTSYNC_HANDLER_SLOTS; h++)
		if (read_handler(&shared->handlers[h], &handlers[nhandlers]))
			nhandlers++;
	samples = palloc(sizeof(Sample) * (MAX_SAMPLES + nhandlers * HANDLER_SAMPLES));

	for (int i = 0; i < RTSYNC_M_COUNT; i++)
	{
		const MetricInfo *info = &metric_info[i];
		Sample	   *s = &samples[n++];
		uint64		raw = shared ? pg_atomic_read_u64(&shared->values[i]) : 0;

		s->family = info->name;
		s->suffix = "";
		s->labels = info->labels;
		s->kind = info->kind;
		s->help = info->help;
		s->raw = info->show == SHOW_LAG_BYTES ? lag_bytes(raw) : raw;
		s->seconds = info->show == SHOW_SECONDS;
	}
	for (int b = 0; b < RTSYNC_LATENCY_BUCKETS; b++)
		buckets[b] = shared ? pg_atomic_read_u64(&shared->latency_buckets[b]) : 0;
	n = histogram_samples(samples, n, LATENCY_FAMILY, LATENCY_HELP, NULL, buckets,
						  shared ? pg_atomic_read_u64(&shared->latency_sum_us) : 0);

	for (int i = 0; i < RTSYNC_HM_COUNT; i++)
		for (int h = 0; h < nhandlers; h++)
		{
			Sample	   *s = &samples[n++];

			s->family = handler_info[i].name;
			s->suffix = "";
			s->labels = handlers[h].labels;
			s->kind = handler_info[i].kind;
			s->help = handler_info[i].help;
			s->raw = handlers[h].values[i];
			s->seconds = false;
		}
	for (int h = 0; h < nhandlers; h++)
		n = histogram_samples(samples, n, HANDLER_DURATION_FAMILY, HANDLER_DURATION_HELP,
							  handlers[h].labels, handlers[h].buckets, handlers[h].sum_us);
	Assert(n == MAX_SAMPLES + nhandlers * HANDLER_SAMPLES);
	*samples_out = samples;
	return n;
}

/* A value as text, exactly: seconds with up to six decimals. */
static void
append_value(StringInfo out, const Sample *s)
{
	appendStringInfo(out, UINT64_FORMAT, s->seconds ? s->raw / 1000000 : s->raw);
	if (s->seconds && s->raw % 1000000 != 0)
	{
		char		fraction[8];
		int			len;

		len = snprintf(fraction, sizeof(fraction), ".%06u",
					   (unsigned int) (s->raw % 1000000));
		while (fraction[len - 1] == '0')
			len--;
		appendBinaryStringInfo(out, fraction, len);
	}
}

/*
 * Prometheus text exposition format 0.0.4: each family's HELP and TYPE,
 * then its samples, one a line.
 */
void
rtsync_metrics_write_prometheus(StringInfo out)
{
	Sample	   *samples;
	int			n = read_samples(&samples);

	for (int i = 0; i < n; i++)
	{
		const Sample *s = &samples[i];

		if (i == 0 || strcmp(s->family, samples[i - 1].family) != 0)
			appendStringInfo(out, "# HELP %s %s\n# TYPE %s %s\n",
							 s->family, s->help, s->family, s->kind);
		appendStringInfoString(out, s->family);
		appendStringInfoString(out, s->suffix);
		if (s->labels)
			appendStringInfo(out, "{%s}", s->labels);
		appendStringInfoChar(out, ' ');
		append_value(out, s);
		appendStringInfoChar(out, '\n');
	}
}

/*
 * rtsync._stats(): the same series as GET /metrics, one row each (name,
 * labels, kind, value), for the view rtsync.stats.
 */
PG_FUNCTION_INFO_V1(rtsync_stats);
Datum
rtsync_stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Sample	   *samples;
	int			n;

	InitMaterializedSRF(fcinfo, 0);
	n = read_samples(&samples);
	for (int i = 0; i < n; i++)
	{
		const Sample *s = &samples[i];
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		values[0] = CStringGetTextDatum(psprintf("%s%s", s->family, s->suffix));
		if (s->labels)
			values[1] = CStringGetTextDatum(s->labels);
		else
			nulls[1] = true;
		values[2] = CStringGetTextDatum(s->kind);
		values[3] = Float8GetDatum(s->seconds ? s->raw / 1000000.0 : (double) s->raw);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
