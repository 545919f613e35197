/*-------------------------------------------------------------------------
 *
 * net/pool.h
 *	  The worker's pool of libpq connections for GraphQL queries and
 *	  mutations: each job is one transaction, sent as one pipeline, run as
 *	  the API key's role, never blocking the loop.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_POOL_H
#define RTSYNC_POOL_H

#include <uv.h>

#include "libpq-fe.h"
#include "nodes/pg_list.h"

#include "base/statement.h"

/*
 * Called once per job. results: one PGresult * per statement, in order,
 * then COMMIT's (PGRES_PIPELINE_ABORTED for those skipped after an error),
 * owned by the pool and cleared after the callback. failure: set when the
 * job could not run (no connection, the connection broke, the role could
 * not be set); results may then be NIL.
 */
typedef void (*RtsyncPoolDone) (void *arg, List *results, const char *failure);

typedef struct RtsyncPoolJob RtsyncPoolJob;

/* A job prepares at most this many statements (the rest run unnamed). */
#define RTSYNC_POOL_MAX_PREPARES 16

/*
 * What every job runs first: $1 the role, $2 the statement timeout (ms),
 * $3 a token's claims (JSON) or NULL. An API key's request gets
 * {"role": <role>} as its claims, as PostgREST gives an anonymous one, so
 * that request.jwt.claims never depends on what the connection ran before.
 * A job may run it again to act as another identity for its next
 * statements (stream/rls.c does).
 */
#define RTSYNC_POOL_SET_IDENTITY_SQL \
	"SELECT pg_catalog.set_config('role', $1, true)," \
	" pg_catalog.set_config('statement_timeout', $2, true)," \
	" pg_catalog.set_config('request.jwt.claims'," \
	"  coalesce($3::text, pg_catalog.jsonb_build_object('role', $1::text)::text), true)," \
	" (SELECT pg_catalog.count(pg_catalog.set_config(" \
	"    'request.jwt.claim.' OPERATOR(pg_catalog.||) c.key," \
	"    c.value OPERATOR(pg_catalog.#>>) '{}', true))" \
	"    FROM pg_catalog.jsonb_each($3::jsonb) c" \
	"   WHERE pg_catalog.jsonb_typeof(c.value) IN ('string', 'number', 'boolean')" \
	"     AND c.key OPERATOR(pg_catalog.~) '^[A-Za-z_][A-Za-z0-9_$]*$')"

extern void rtsync_pool_start(uv_loop_t *loop);
extern void rtsync_pool_stop(void);

/*
 * Queue a transaction: BEGIN (READ ONLY when read_only), SET LOCAL ROLE
 * role, the statement timeout, a token's claims (JSON text, or NULL for an
 * API key), the statements, COMMIT. statements (an array
 * of n) and everything they point to must stay valid until done runs.
 * Returns false, without calling done, when the queue is full.
 */
extern bool rtsync_pool_submit(const char *role, const char *claims, bool read_only,
							   const RtsyncStatement *statements, int n,
							   RtsyncPoolDone done, void *arg);

/* how a job's failure starts when its answer passed rtsync.max_response_bytes */
#define RTSYNC_POOL_TOO_LARGE "The answer is larger than rtsync.max_response_bytes"

#endif							/* RTSYNC_POOL_H */
