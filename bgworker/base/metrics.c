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
	"Row-level security checks run in SQL: one per group of alike subscribers per judged change."},
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

/* every series, the histogram's included */
#define MAX_SAMPLES (RTSYNC_M_COUNT + RTSYNC_LATENCY_BUCKETS + 2)

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
	}
	LWLockRelease(AddinShmemInitLock);
}

static void
reset_gauges(void)
{
	for (int i = 0; i < RTSYNC_M_COUNT; i++)
		if (strcmp(metric_info[i].kind, "gauge") == 0)
			rtsync_metrics_set((RtsyncMetric) i, 0);
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
	int			b = 0;

	if (s == NULL)
		return;
	rtsync_metrics_count(RTSYNC_M_HTTP_REQUESTS_2XX + (cls - 2), 1);
	elapsed = Max(GetCurrentTimestamp() - started, 0);
	while (b < RTSYNC_LATENCY_BUCKETS - 1 && elapsed > latency_bounds_us[b])
		b++;
	pg_atomic_write_u64(&s->latency_buckets[b],
						pg_atomic_read_u64(&s->latency_buckets[b]) + 1);
	pg_atomic_write_u64(&s->latency_sum_us,
						pg_atomic_read_u64(&s->latency_sum_us) + elapsed);
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
 * Reads every series into samples (MAX_SAMPLES of them), in output order;
 * returns how many. The histogram's buckets are made cumulative here, and
 * its count is their sum, so "+Inf" and "_count" always agree.
 */
static int
read_samples(Sample *samples)
{
	int			n = 0;
	uint64		cumulative = 0;

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
	{
		Sample	   *s = &samples[n++];

		cumulative += shared ? pg_atomic_read_u64(&shared->latency_buckets[b]) : 0;
		s->family = LATENCY_FAMILY;
		s->suffix = "_bucket";
		s->labels = latency_le[b];
		s->kind = "histogram";
		s->help = LATENCY_HELP;
		s->raw = cumulative;
		s->seconds = false;
	}
	samples[n] = samples[n - 1];
	samples[n].suffix = "_sum";
	samples[n].labels = NULL;
	samples[n].raw = shared ? pg_atomic_read_u64(&shared->latency_sum_us) : 0;
	samples[n].seconds = true;
	n++;
	samples[n] = samples[n - 1];
	samples[n].suffix = "_count";
	samples[n].raw = cumulative;
	samples[n].seconds = false;
	n++;
	Assert(n == MAX_SAMPLES);
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
	Sample		samples[MAX_SAMPLES];
	int			n = read_samples(samples);

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
	Sample		samples[MAX_SAMPLES];
	int			n;

	InitMaterializedSRF(fcinfo, 0);
	n = read_samples(samples);
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
