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
 * Statements marked prepare (and the identity statement every job begins
 * with) are prepared once per connection, in the pipeline before their
 * first use, under a name derived from their text; the server then plans
 * them once (and again by itself after DDL). Each connection keeps at most
 * MAX_PREPARED of them.
 *
 * Jobs wait in a FIFO while every connection is busy; a job is never sent
 * on a connection that is not ready, so a database restart only delays
 * (and then fails, once the queue is full) new requests.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <poll.h>

#include "common/hashfn.h"
#include "lib/ilist.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "base/guard.h"
#include "net/pgconn.h"
#include "net/pool.h"
#include "base/settings.h"

/* more waiting jobs than this are refused: the server is overloaded */
#define MAX_QUEUED_JOBS 10000

/* statements a job adds around the caller's: BEGIN, set_config, COMMIT */
#define FRAME_STATEMENTS 3

/* prepared statements kept per connection */
#define MAX_PREPARED 1000
#define MAX_READS_A_PASS 256	/* of libpq's buffer, for one result */
#define PREPARED_NAME_LEN 32

typedef struct PreparedEntry
{
	char		name[PREPARED_NAME_LEN];	/* hash key */
	char	   *sql;
} PreparedEntry;

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
	/* sent with the job: Prepares, by their result's position */
	int			nprepares;
	int			prepare_positions[RTSYNC_POOL_MAX_PREPARES];
	char		prepare_names[RTSYNC_POOL_MAX_PREPARES][PREPARED_NAME_LEN];
	const char *prepare_sql[RTSYNC_POOL_MAX_PREPARES];
};

typedef struct PoolConn
{
	RtsyncPgConn pc;
	RtsyncPoolJob *job;			/* running, or NULL */
	bool		rolling_back;	/* a ROLLBACK pipeline is in flight */
	int			open_statements;	/* sent, and their results not yet all
									 * read (each ends with a NULL) */
	List	   *results;		/* of the running job, in pool_cxt */
	HTAB	   *prepared;		/* PreparedEntry by name: on this session */
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
/* The name a statement's text is prepared under. */
static void
prepared_name(const char *sql, char *name)
{
	snprintf(name, PREPARED_NAME_LEN, "rtsync_%08x_%zu",
			 hash_bytes((const unsigned char *) sql, strlen(sql)), strlen(sql));
}

/*
 * Sends one statement: prepared (and first prepared on this connection,
 * its Prepare's result at position *pos) when it may be; otherwise as an
 * unnamed one. *pos counts the results the pipeline will give.
 */
static bool
send_statement(PoolConn *c, RtsyncPoolJob *job, const char *sql, int nparams,
			   const char *const *params, bool prepare, int *pos)
{
	PGconn	   *conn = c->pc.conn;
	char		name[PREPARED_NAME_LEN];
	PreparedEntry *e;

	if (prepare)
	{
		prepared_name(sql, name);
		e = hash_search(c->prepared, name, HASH_FIND, NULL);
		if (e != NULL && strcmp(e->sql, sql) != 0)
			prepare = false;	/* two texts, one name: unnamed, always */
		else if (e == NULL)
		{
			int			k;

			for (k = 0; k < job->nprepares; k++)
				if (strcmp(job->prepare_names[k], name) == 0)
					break;
			if (k < job->nprepares && strcmp(job->prepare_sql[k], sql) != 0)
				prepare = false;	/* prepared earlier in this job as another text */
			else if (k == job->nprepares)
			{
				/* not yet on this session: prepare it first, if there is room */
				if (job->nprepares == RTSYNC_POOL_MAX_PREPARES ||
					hash_get_num_entries(c->prepared) >= MAX_PREPARED)
					prepare = false;
				else
				{
					if (!PQsendPrepare(conn, name, sql, nparams, NULL))
						return false;
					job->prepare_positions[job->nprepares] = (*pos)++;
					strlcpy(job->prepare_names[job->nprepares], name, PREPARED_NAME_LEN);
					job->prepare_sql[job->nprepares] = sql;
					job->nprepares++;
				}
			}
		}
	}
	(*pos)++;
	if (prepare)
		return PQsendQueryPrepared(conn, name, nparams, params, NULL, NULL, 0);
	return PQsendQueryParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
}

static bool
send_job(PoolConn *c, RtsyncPoolJob *job)
{
	PGconn	   *conn = c->pc.conn;
	const char *settings[3] = {job->role, timeout_text, job->claims};
	int			pos = 0;
	int			r;

	snprintf(timeout_text, sizeof(timeout_text), "%d", rtsync_statement_timeout_ms);
	job->nprepares = 0;
	if (!send_statement(c, job, job->read_only ? "BEGIN READ ONLY" : "BEGIN", 0, NULL, false, &pos) ||
		!send_statement(c, job, RTSYNC_POOL_SET_IDENTITY_SQL, 3, settings, true, &pos))
		return false;
	for (int i = 0; i < job->n; i++)
	{
		const RtsyncStatement *st = &job->statements[i];

		if (!send_statement(c, job, st->sql, st->nparams, (const char *const *) st->params,
							st->prepare, &pos))
			return false;
	}
	if (!PQsendQueryParams(conn, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) ||
		!PQpipelineSync(conn))
		return false;
	c->open_statements = job->n + FRAME_STATEMENTS + job->nprepares;
	r = PQflush(conn);
	if (r < 0)
		return false;
	if (r == 1)
		rtsync_pgconn_want_write(&c->pc, true);
	return true;
}

/*
 * The job's Prepares answered: those that succeeded are on the session
 * from now on; their results are not the caller's.
 */
static List *
take_prepares(PoolConn *c, RtsyncPoolJob *job, List *results)
{
	for (int k = job->nprepares - 1; k >= 0; k--)
	{
		int			p = job->prepare_positions[k];
		PGresult   *r;

		if (p >= list_length(results))
			continue;
		r = list_nth(results, p);
		if (PQresultStatus(r) == PGRES_COMMAND_OK)
		{
			PreparedEntry *e = hash_search(c->prepared, job->prepare_names[k], HASH_ENTER, NULL);

			e->sql = MemoryContextStrdup(pool_cxt, job->prepare_sql[k]);
		}
		PQclear(r);
		results = list_delete_nth_cell(results, p);
	}
	return results;
}

/* Is the connection still in a transaction (a failed job's, aborted)? */
static bool
in_transaction(PoolConn *c)
{
	PGTransactionStatusType status = PQtransactionStatus(c->pc.conn);

	return status == PQTRANS_INERROR || status == PQTRANS_INTRANS;
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
 * The results read so far, handled (a job ends at its Sync); false once the
 * job is finished or the session closed, true while a result is coming.
 */
static bool
take_results(PoolConn *c)
{
	RtsyncPgConn *pc = &c->pc;

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
				List	   *results = c->too_large ? c->results :
					take_prepares(c, c->job, c->results);
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

				/*
				 * The failed transaction's rollback is on its way before
				 * the owner hears: a job its callback submits must not be
				 * sent into this aborted transaction.
				 */
				if (in_transaction(c) && !send_rollback(c))
				{
					job_finish(c, results, failure);
					rtsync_pgconn_close(pc, PQerrorMessage(pc->conn));
					return false;
				}
				job_finish(c, results, failure);
				if (failure)
					pfree(failure);
			}
			if (c->rolling_back)
				return false;
			if (in_transaction(c))
			{
				if (!send_rollback(c))
					rtsync_pgconn_close(pc, PQerrorMessage(pc->conn));
				return false;
			}
			pool_dispatch();
			return false;
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
	return (c->job || c->rolling_back) && PQisBusy(pc->conn);
}

/*
 * Reads what arrived. libpq reads at most its buffer (16 kB at first) a call
 * and hands a result over only whole, so a large answer took one pass of the
 * loop for every 16 kB, with the loop's other work between two (a catch-up's
 * page of 1,000 records: 30 ms under load); while a result is still coming
 * and the socket has more, it is read on, boundedly. Runs inside pgconn's
 * guard: an ERROR (a job's callback building its answer) closes the
 * connection, and pool_closed fails the job and clears the results it held.
 */
static void
pool_read(RtsyncPgConn *pc)
{
	PoolConn   *c = (PoolConn *) pc;

	for (int reads = 0;; reads++)
	{
		struct pollfd more = {.fd = PQsocket(pc->conn), .events = POLLIN};

		if (!PQconsumeInput(pc->conn))
		{
			rtsync_pgconn_close(pc, PQerrorMessage(pc->conn));
			return;
		}
		if (!take_results(c) || reads == MAX_READS_A_PASS || poll(&more, 1, 0) != 1)
			return;
	}
}

/* A new session: nothing is prepared on it. */
static void
forget_prepared(PoolConn *c)
{
	HASHCTL		ctl;

	if (c->prepared)
	{
		HASH_SEQ_STATUS status;
		PreparedEntry *e;

		hash_seq_init(&status, c->prepared);
		while ((e = hash_seq_search(&status)) != NULL)
			pfree(e->sql);
		hash_destroy(c->prepared);
	}
	ctl.keysize = PREPARED_NAME_LEN;
	ctl.entrysize = sizeof(PreparedEntry);
	ctl.hcxt = pool_cxt;
	c->prepared = hash_create("rtsync prepared statements", 64, &ctl,
							  HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
}

static void
pool_ready(RtsyncPgConn *pc)
{
	forget_prepared((PoolConn *) pc);
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
