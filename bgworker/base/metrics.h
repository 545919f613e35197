/*-------------------------------------------------------------------------
 *
 * base/metrics.h
 *	  The server's counters and gauges, kept in shared memory so that both
 *	  GET /metrics (served by the worker) and the view rtsync.stats (read by
 *	  any backend) show them.
 *
 * Single writer: only the rtsync worker writes, and only after
 * rtsync_metrics_worker_start(); in every other process the writer pointer
 * is NULL and the update functions do nothing. Each value is a
 * pg_atomic_uint64 that the writer updates with a plain load and store (no
 * lock, no locked instruction: nobody else writes it), so a reader sees
 * every value whole. Values are independent: a read may fall between two
 * related updates (a request counted, its latency not yet); the latency
 * histogram's count is the sum of its buckets, so those always agree.
 *
 * No libwebsockets here: extension/rtsync.c includes this header.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_METRICS_H
#define RTSYNC_METRICS_H

#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "port/atomics.h"

/* One series each; the names and meanings are in base/metrics.c. */
typedef enum RtsyncMetric
{
	RTSYNC_M_CONNECTIONS_WEBSOCKET, /* gauge */
	RTSYNC_M_CONNECTIONS_HTTP,	/* gauge */
	RTSYNC_M_WEBSOCKET_CONNECTIONS_ACCEPTED,
	RTSYNC_M_SUBSCRIPTIONS,		/* gauge */
	RTSYNC_M_SUBSCRIPTIONS_ACCEPTED,
	RTSYNC_M_SUBSCRIPTIONS_REFUSED,
	RTSYNC_M_KEYS_REFUSED,
	RTSYNC_M_EVENTS_DELIVERED,
	RTSYNC_M_MESSAGES_SENT,
	RTSYNC_M_BYTES_SENT_WEBSOCKET,
	RTSYNC_M_BYTES_SENT_HTTP,
	RTSYNC_M_SLOW_CLIENTS_CLOSED,
	RTSYNC_M_HTTP_REQUESTS_2XX,
	RTSYNC_M_HTTP_REQUESTS_3XX,
	RTSYNC_M_HTTP_REQUESTS_4XX,
	RTSYNC_M_HTTP_REQUESTS_5XX,
	RTSYNC_M_OPERATIONS_OK,		/* by RtsyncOutcome, in its order */
	RTSYNC_M_OPERATIONS_ERROR,
	RTSYNC_M_OPERATIONS_UNAUTHORIZED,
	RTSYNC_M_OPERATIONS_LIMITED,
	RTSYNC_M_RLS_CHECKS,
	RTSYNC_M_RLS_STATEMENTS,
	RTSYNC_M_RLS_DENIED_GROUPS,
	RTSYNC_M_RLS_ERRORS,
	RTSYNC_M_STREAM_RECORDS,
	RTSYNC_M_STREAM_TRANSACTIONS,
	RTSYNC_M_RETENTION_RECORDS,
	RTSYNC_M_RETENTION_PENDING, /* gauge */
	RTSYNC_M_RETENTION_WAITS,
	RTSYNC_M_RETENTION_PARTITIONS_DROPPED,
	RTSYNC_M_SUBSCRIPTIONS_RESUMED,
	RTSYNC_M_RECORDS_CAUGHT_UP,
	RTSYNC_M_REPLICATION_STREAMING, /* gauge, 0 or 1 */
	RTSYNC_M_REPLICATION_PROCESSED_LSN, /* shown as the lag in bytes */
	RTSYNC_M_REPLICATION_LAG_US,	/* gauge, shown in seconds */
	RTSYNC_M_START_TIME_US,		/* gauge, Unix time; shown in seconds */
	RTSYNC_M_HEARTBEAT_US,		/* gauge, Unix time; shown in seconds */
	RTSYNC_M_COUNT
} RtsyncMetric;

/* HTTP request latency buckets (upper bounds in base/metrics.c), plus +Inf */
#define RTSYNC_LATENCY_BUCKETS 14

/*
 * Per stream handler, labelled handler="<name>": its counts as its rows in
 * rtsync.handler hold them, its lanes summed (so they survive restarts),
 * its IteratorAge (the oldest lane's), its batches in flight, and the
 * duration of its steps (in the latency buckets). The first
 * RTSYNC_HANDLER_SLOTS handlers are shown.
 */
typedef enum RtsyncHandlerMetric
{
	RTSYNC_HM_INVOCATIONS,
	RTSYNC_HM_ERRORS,
	RTSYNC_HM_RECORDS_IN,
	RTSYNC_HM_RECORDS_FILTERED,
	RTSYNC_HM_RECORDS_FAILED,
	RTSYNC_HM_RECORDS_ON_FAILURE,
	RTSYNC_HM_ITERATOR_AGE_MS,	/* gauge */
	RTSYNC_HM_CONCURRENCY,		/* gauge: its lanes in flight */
	RTSYNC_HM_COUNT
} RtsyncHandlerMetric;

#define RTSYNC_HANDLER_SLOTS 64
#define RTSYNC_HANDLER_NAME_LEN 65	/* rtsync.handler's names: 64 at most */

typedef struct RtsyncHandlerSlot
{
	/* odd while the writer changes name: readers skip the slot then */
	pg_atomic_uint32 version;
	char		name[RTSYNC_HANDLER_NAME_LEN];	/* "" when free */
	pg_atomic_uint64 values[RTSYNC_HM_COUNT];
	pg_atomic_uint64 duration_buckets[RTSYNC_LATENCY_BUCKETS];	/* not
																 * cumulative */
	pg_atomic_uint64 duration_sum_us;
} RtsyncHandlerSlot;

typedef struct RtsyncMetricsShared
{
	pg_atomic_uint64 values[RTSYNC_M_COUNT];
	pg_atomic_uint64 latency_buckets[RTSYNC_LATENCY_BUCKETS];	/* not
																 * cumulative */
	pg_atomic_uint64 latency_sum_us;
	RtsyncHandlerSlot handlers[RTSYNC_HANDLER_SLOTS];
} RtsyncMetricsShared;

/* the worker's pointer to the shared values; NULL in every other process */
extern RtsyncMetricsShared *rtsync_metrics_writer;

/* Adds n to a counter (or, as unsigned arithmetic, a delta to a gauge). */
static inline void
rtsync_metrics_count(RtsyncMetric m, uint64 n)
{
	RtsyncMetricsShared *s = rtsync_metrics_writer;

	if (s != NULL)
		pg_atomic_write_u64(&s->values[m], pg_atomic_read_u64(&s->values[m]) + n);
}

static inline void
rtsync_metrics_gauge_add(RtsyncMetric m, int64 delta)
{
	rtsync_metrics_count(m, (uint64) delta);
}

static inline void
rtsync_metrics_set(RtsyncMetric m, uint64 value)
{
	RtsyncMetricsShared *s = rtsync_metrics_writer;

	if (s != NULL)
		pg_atomic_write_u64(&s->values[m], value);
}

/*
 * The worker's loop turned: stores the time (Unix microseconds) as the
 * heartbeat that rtsync.stats ages. One clock read and one store a pass.
 */
extern void rtsync_metrics_heartbeat(void);

/* shared memory, from _PG_init's hooks (extension/rtsync.c) */
extern Size rtsync_metrics_shmem_size(void);
extern void rtsync_metrics_shmem_startup(void);

/* the worker becomes the writer; its gauges start (and end) at zero */
extern void rtsync_metrics_worker_start(void);

/* an HTTP answer was queued: its status class and latency */
extern void rtsync_metrics_http_request(int status, TimestampTz started);

/*
 * A handler's slot (-1 when all are taken), found or claimed by name;
 * released when the handler is gone. Its values are then set as read from
 * its row, its durations added as its steps end.
 */
extern int	rtsync_metrics_handler_slot(const char *name);
extern void rtsync_metrics_handler_release(int slot);
extern void rtsync_metrics_handler_set(int slot, RtsyncHandlerMetric m, uint64 value);
extern void rtsync_metrics_handler_duration(int slot, int64 elapsed_us);

/* everything in Prometheus text format 0.0.4 */
extern void rtsync_metrics_write_prometheus(StringInfo out);

#define RTSYNC_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif							/* RTSYNC_METRICS_H */
