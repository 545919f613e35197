/*-------------------------------------------------------------------------
 *
 * net/pool.c
 *	  libpq connections that run GraphQL queries and mutations.
 *
 * rtsync.pool_size connections to this server, each in libpq pipeline mode
 * on the worker's loop (net/pgconn.c). A job is one transaction sent in one
 * pipeline, so it costs one round trip whatever its size:
 *
 *	  BEGIN [READ ONLY]
 *	  SELECT set_config('role', $1, true), set_config('statement_timeout', $2, true),
 *	         [a token's claims: request.jwt.claims, request.jwt.claim.<name>]
 *	  <the job's statements>
 *	  COMMIT
 *	  Sync
 *
 * The role is set per transaction (SET LOCAL), so privileges and row-level
 * security apply as for that role and nothing leaks into the next job. A
 * token's claims are set the way PostgREST and Supabase set them: the whole
 * object as request.jwt.claims, and each scalar claim whose name can be a
 * setting's as request.jwt.claim.<name>, so policies calling auth.uid()-style
 * functions work unchanged. When
 * a statement fails, the server skips the rest up to the Sync and leaves the
 * transaction aborted: the pool rolls it back before the next job.
 *
 * Jobs wait in a FIFO while every connection is busy; a job is never sent
 * on a connection that is not ready, so a database restart only delays
 * (and then fails, once the queue is full) new requests.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/ilist.h"
#include "utils/memutils.h"

#include "base/guard.h"
#include "net/pgconn.h"
#include "net/pool.h"
#include "base/settings.h"

/* more waiting jobs than this are refused: the server is overloaded */
#define MAX_QUEUED_JOBS 10000

/* statements a job adds around the caller's: BEGIN, set_config, COMMIT */
#define FRAME_STATEMENTS 3

struct RtsyncPoolJob
{
	dlist_node	node;
	char	   *role;
	char	   *claims;			/* JSON, or NULL */
	bool		read_only;
	const RtsyncStatement *statements;
	int			n;
	RtsyncPoolDone done;
	void	   *arg;
};

typedef struct PoolConn
{
	RtsyncPgConn pc;
	RtsyncPoolJob *job;			/* running, or NULL */
	bool		rolling_back;	/* a ROLLBACK pipeline is in flight */
	int			open_statements;	/* sent, and their results not yet all
									 * read (each ends with a NULL) */
	List	   *results;		/* of the running job, in pool_cxt */
	uint64		result_bytes;	/* their values' sizes, added up */
	bool		too_large;		/* past rtsync.max_response_bytes: dropped */
} PoolConn;

static MemoryContext pool_cxt = NULL;
static PoolConn *conns = NULL;
static int	nconns = 0;
static dlist_head queue = DLIST_STATIC_INIT(queue);
static int	nqueued = 0;
static char timeout_text[32];

static void pool_dispatch(void);

/* What a result's values take: the bound on an answer is checked on it. */
static uint64
result_size(const PGresult *res)
{
	uint64		n = 0;
	int			rows = PQntuples(res);
	int			cols = PQnfields(res);

	for (int r = 0; r < rows; r++)
		for (int f = 0; f < cols; f++)
			n += PQgetlength(res, r, f);
	return n;
}

/* Frees a list of results and the list. */
static void
clear_results(List *results)
{
	ListCell   *lc;

	foreach(lc, results)
		PQclear(lfirst(lc));
	list_free(results);
}

/*
 * A job is over: its owner gets the results (or why there are none), then
 * they and the job are freed. An ERROR in the owner's callback is logged
 * and goes no further: the results and the job are freed all the same, and
 * the connection, whose pipeline is complete, serves the next job.
 */
static void
job_finish(PoolConn *c, List *results, const char *failure)
{
	RtsyncPoolJob *job = c->job;

	c->job = NULL;
	c->results = NIL;
	c->result_bytes = 0;
	c->too_large = false;
	RTSYNC_GUARD(job->done(job->arg, results, failure), (void) 0);
	clear_results(results);
	pfree(job->role);
	if (job->claims)
		pfree(job->claims);
	pfree(job);
}

/* Sends the job's pipeline; false when libpq refused (connection broken). */
static bool
send_job(PoolConn *c, RtsyncPoolJob *job)
{
	PGconn	   *conn = c->pc.conn;
	const char *settings[3] = {job->role, timeout_text, job->claims};
	int			r;

	snprintf(timeout_text, sizeof(timeout_text), "%d", rtsync_statement_timeout_ms);
	if (!PQsendQueryParams(conn, job->read_only ? "BEGIN READ ONLY" : "BEGIN",
						   0, NULL, NULL, NULL, NULL, 0) ||
		!PQsendQueryParams(conn,
						   RTSYNC_POOL_SET_IDENTITY_SQL,
						   3, NULL, settings, NULL, NULL, 0))
		return false;
	for (int i = 0; i < job->n; i++)
	{
		const RtsyncStatement *st = &job->statements[i];

		if (!PQsendQueryParams(conn, st->sql, st->nparams, NULL,
							   (const char *const *) st->params, NULL, NULL, 0))
			return false;
	}
	if (!PQsendQueryParams(conn, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) ||
		!PQpipelineSync(conn))
		return false;
	c->open_statements = job->n + FRAME_STATEMENTS;
	r = PQflush(conn);
	if (r < 0)
		return false;
	if (r == 1)
		rtsync_pgconn_want_write(&c->pc, true);
	return true;
}

static bool
send_rollback(PoolConn *c)
{
	c->rolling_back = true;
	if (!PQsendQueryParams(c->pc.conn, "ROLLBACK", 0, NULL, NULL, NULL, NULL, 0) ||
		!PQpipelineSync(c->pc.conn))
		return false;
	c->open_statements = 1;
	if (PQflush(c->pc.conn) == 1)
		rtsync_pgconn_want_write(&c->pc, true);
	return true;
}

/*
 * Reads what arrived; a job ends at its Sync. Runs inside pgconn's guard:
 * an ERROR (a job's callback building its answer) closes the connection,
 * and pool_closed fails the job and clears the results it held.
 */
static void
pool_read(RtsyncPgConn *pc)
{
	PoolConn   *c = (PoolConn *) pc;

	if (!PQconsumeInput(pc->conn))
	{
		rtsync_pgconn_close(pc, PQerrorMessage(pc->conn));
		return;
	}
	/* nothing in flight: PQgetResult would say NULL forever */
	while ((c->job || c->rolling_back) && !PQisBusy(pc->conn))
	{
		PGresult   *res = PQgetResult(pc->conn);

		if (res == NULL)
		{
			/* the end of one statement's results */
			if (c->open_statements <= 0)
				break;
			c->open_statements--;
			continue;
		}
		if (PQresultStatus(res) == PGRES_PIPELINE_SYNC)
		{
			PQclear(res);
			if (c->rolling_back)
				c->rolling_back = false;
			else if (c->job)
			{
				List	   *results = c->results;
				char	   *failure = NULL;

				/* BEGIN and set_config: their failure fails the job */
				for (int i = 0; i < 2 && i < list_length(results); i++)
				{
					PGresult   *r = list_nth(results, i);

					if (failure == NULL && PQresultStatus(r) == PGRES_FATAL_ERROR)
						failure = pstrdup(PQresultErrorMessage(r));
					PQclear(r);
				}
				results = list_delete_first_n(results, 2);
				if (failure == NULL && c->too_large)
					failure = psprintf(RTSYNC_POOL_TOO_LARGE " (%d bytes); ask for fewer rows or fields.",
									   rtsync_max_response_bytes);
				job_finish(c, results, failure);
				if (failure)
					pfree(failure);
			}
			if (PQtransactionStatus(pc->conn) == PQTRANS_INERROR ||
				PQtransactionStatus(pc->conn) == PQTRANS_INTRANS)
			{
				if (!send_rollback(c))
					rtsync_pgconn_close(pc, PQerrorMessage(pc->conn));
				return;
			}
			pool_dispatch();
			return;
		}
		if (!c->rolling_back && c->job && !c->too_large &&
			(c->result_bytes += result_size(res)) > (uint64) rtsync_max_response_bytes)
		{
			/* libpq holds each result whole: drop them as they come */
			c->too_large = true;
			clear_results(c->results);
			c->results = NIL;
		}
		if (c->rolling_back || c->job == NULL || c->too_large)
			PQclear(res);
		else
		{
			MemoryContext old = MemoryContextSwitchTo(pool_cxt);

			c->results = lappend(c->results, res);
			MemoryContextSwitchTo(old);
		}
	}
}

static void
pool_ready(RtsyncPgConn *pc)
{
	if (!PQenterPipelineMode(pc->conn))
	{
		rtsync_pgconn_close(pc, PQerrorMessage(pc->conn));
		return;
	}
	rtsync_pgconn_reset_backoff(pc);
	pool_dispatch();
}

static void
pool_closed(RtsyncPgConn *pc)
{
	PoolConn   *c = (PoolConn *) pc;

	c->rolling_back = false;
	if (c->job)
	{
		clear_results(c->results);
		c->results = NIL;
		job_finish(c, NIL,
				   c->job->read_only ?
				   "The database connection was lost while running the query." :
				   "The database connection was lost while running the mutation; whether it was applied is unknown.");
	}
}

/* Hands waiting jobs to idle, ready connections. */
static void
pool_dispatch(void)
{
	for (int i = 0; i < nconns && !dlist_is_empty(&queue); i++)
	{
		PoolConn   *c = &conns[i];
		RtsyncPoolJob *job;

		if (!c->pc.ready || c->pc.closing || c->job || c->rolling_back)
			continue;
		job = dlist_container(RtsyncPoolJob, node, dlist_pop_head_node(&queue));
		nqueued--;
		c->job = job;
		c->results = NIL;
		if (!send_job(c, job))
		{
			rtsync_pgconn_close(&c->pc, PQerrorMessage(c->pc.conn));
			return;				/* the close fails the job */
		}
	}
}

bool
rtsync_pool_submit(const char *role, const char *claims, bool read_only,
				   const RtsyncStatement *statements, int n,
				   RtsyncPoolDone done, void *arg)
{
	RtsyncPoolJob *job;

	if (nqueued >= MAX_QUEUED_JOBS)
		return false;
	job = MemoryContextAllocZero(pool_cxt, sizeof(RtsyncPoolJob));
	job->role = MemoryContextStrdup(pool_cxt, role);
	job->claims = claims ? MemoryContextStrdup(pool_cxt, claims) : NULL;
	job->read_only = read_only;
	job->statements = statements;
	job->n = n;
	job->done = done;
	job->arg = arg;
	dlist_push_tail(&queue, &job->node);
	nqueued++;
	pool_dispatch();
	return true;
}

void
rtsync_pool_start(uv_loop_t *loop)
{
	char	   *conninfo = rtsync_pgconn_conninfo(false);

	pool_cxt = AllocSetContextCreate(TopMemoryContext, "rtsync query pool",
									 ALLOCSET_DEFAULT_SIZES);
	nconns = rtsync_pool_size;
	conns = MemoryContextAllocZero(pool_cxt, nconns * sizeof(PoolConn));
	for (int i = 0; i < nconns; i++)
	{
		RtsyncPgConn *pc = &conns[i].pc;

		pc->name = "query pool";
		pc->loop = loop;
		pc->owner = &conns[i];
		pc->on_ready = pool_ready;
		pc->on_readable = pool_read;
		pc->on_closed = pool_closed;
		rtsync_pgconn_start(pc, conninfo);
	}
}

/* Fails waiting jobs and closes the connections (running jobs fail too). */
void
rtsync_pool_stop(void)
{
	while (!dlist_is_empty(&queue))
	{
		RtsyncPoolJob *job = dlist_container(RtsyncPoolJob, node, dlist_pop_head_node(&queue));

		nqueued--;
		job->done(job->arg, NIL, "The server is shutting down.");
		pfree(job->role);
		if (job->claims)
			pfree(job->claims);
		pfree(job);
	}
	for (int i = 0; i < nconns; i++)
		rtsync_pgconn_stop(&conns[i].pc);
}
