/*-------------------------------------------------------------------------
 *
 * stream/handlers.c
 *	  Drives the stream handlers (sql/handlers.sql): calls
 *	  rtsync._handler_step for each handler whose turn has come, on
 *	  connections of their own, and schedules its next step from the answer.
 *
 * A step is one statement, so one transaction: the handler's batch, its
 * function's effects and its new position commit together or not at all.
 * Whatever happens to a step in flight (an error, the connection lost, the
 * worker killed), stepping the handler again is right: a step that did not
 * commit left nothing behind.
 *
 * When a handler steps: when it is new, as soon as records are kept
 * (retention's on_kept), straight after a step that says more is waiting,
 * and at the time a step asks for (a retry's backoff, a batching window).
 * A handler with a parallelization factor has lanes (its records shared
 * out by item key), and each lane steps on its own: below, a "handler" is
 * one lane. A lane steps on one connection at a time; up to
 * rtsync.handler_connections lanes step at once, so a slow handler holds
 * only its own connections. The handler list is read again after
 * every load of control/ (create, alter and drop_handler notify it in
 * stream order).
 *
 * Nothing here blocks the loop: statements are sent and their answers read
 * as the sockets say.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "nodes/pg_list.h"
#include "utils/memutils.h"

#include "base/guard.h"
#include "base/json.h"
#include "base/metrics.h"
#include "base/settings.h"
#include "control/control.h"
#include "net/pgconn.h"
#include "stream/handlers.h"
#include "stream/retention.h"

#define IDLE UINT64_MAX			/* due when more is kept */
#define MAX_CONNECTIONS 16
#define ERROR_RETRY_MS 1000		/* after a step that failed as a statement */

/* One lane of a handler (all of it, with a parallelization factor of 1). */
typedef struct Handler
{
	char	   *name;
	int			lane;
	char		lane_text[12];	/* the statement's parameter */
	uint64		due_at;			/* loop time (ms), or IDLE */
	bool		stepping;
	bool		kept_meanwhile; /* records kept after its step in flight began */
	bool		listed;			/* still in the list just read */
	bool		error_logged;	/* one LOG per run of failed statements */
	int			slot;			/* its handler's metrics (base/metrics.h), or -1 */
	uint64		counts[RTSYNC_HM_CONCURRENCY];	/* this lane's, as last read */
	uint64		step_began;		/* uv_hrtime() (ns) its step was sent; 0: never */
} Handler;

typedef struct HandlerConn
{
	RtsyncPgConn pc;
	bool		started;
	bool		busy;
	Handler    *stepping;		/* the handler whose step is in flight */
	bool		listing;		/* the list query is in flight */
	PGresult   *answer;			/* the statement's result, until it ends */
} HandlerConn;

static uv_loop_t *handlers_loop;
static MemoryContext handlers_cxt;
static List *handlers = NIL;	/* Handler * */
static HandlerConn conns[MAX_CONNECTIONS];
static int	nconns;
static bool list_stale = true;
static bool list_loading = false;
static uv_timer_t due_timer;
static bool stopped = false;

static const char *list_sql =
"SELECT h.name, h.lane, rtsync._handler_counts(h)::text FROM rtsync.handler h"
" WHERE h.enabled AND h.state <> 'failed' ORDER BY h.name, h.lane";
static const char *step_sql = "SELECT rtsync._handler_drive($1, $2::integer)::text";

/* the keys of rtsync._handler_counts, in RtsyncHandlerMetric's order */
static const char *const count_keys[] = {
	"invocations", "errors", "records_in", "records_filtered",
	"records_failed", "records_on_failure", "iterator_age_ms"
};

static void dispatch(void);

static Handler *
find_handler(const char *name, int lane)
{
	ListCell   *lc;

	foreach(lc, handlers)
	{
		Handler    *h = lfirst(lc);

		if (h->lane == lane && strcmp(h->name, name) == 0)
			return h;
	}
	return NULL;
}

/* The lanes of a handler other than h, and how many of them are stepping. */
static int
other_lanes(Handler *h, int *stepping)
{
	ListCell   *lc;
	int			n = 0;

	*stepping = 0;
	foreach(lc, handlers)
	{
		Handler    *o = lfirst(lc);

		if (o != h && strcmp(o->name, h->name) == 0)
		{
			n++;
			*stepping += o->stepping ? 1 : 0;
		}
	}
	return n;
}

/* The handler's concurrency gauge: its lanes in flight. */
static void
show_concurrency(Handler *h)
{
	int			stepping;

	(void) other_lanes(h, &stepping);
	rtsync_metrics_handler_set(h->slot, RTSYNC_HM_CONCURRENCY, stepping + (h->stepping ? 1 : 0));
}

/*
 * A lane's counts (rtsync._handler_counts), and its handler's metrics from
 * all its lanes': counts summed, the IteratorAge the oldest.
 */
static void
take_counts(Handler *h, JsonbContainer *counts)
{
	ListCell   *lc;

	StaticAssertStmt(lengthof(count_keys) == RTSYNC_HM_CONCURRENCY,
					 "count_keys names every count of RtsyncHandlerMetric");
	for (int i = 0; i < lengthof(count_keys); i++)
	{
		double		n;

		if (rtsync_json_get_number(counts, count_keys[i], &n))
			h->counts[i] = (uint64) Max(n, 0);
	}
	for (int i = 0; i < lengthof(count_keys); i++)
	{
		uint64		value = 0;

		foreach(lc, handlers)
		{
			Handler    *o = lfirst(lc);

			if (strcmp(o->name, h->name) != 0)
				continue;
			value = i == RTSYNC_HM_ITERATOR_AGE_MS ? Max(value, o->counts[i]) : value + o->counts[i];
		}
		rtsync_metrics_handler_set(h->slot, (RtsyncHandlerMetric) i, value);
	}
}

/*
 * Handlers no longer in the list go, with their metrics, once their step in
 * flight (if any) has ended.
 */
static void
forget_unlisted(void)
{
	MemoryContext old = MemoryContextSwitchTo(handlers_cxt);
	List	   *kept = NIL;
	ListCell   *lc;

	foreach(lc, handlers)
	{
		Handler    *h = lfirst(lc);

		if (h->listed || h->stepping)
			kept = lappend(kept, h);
		else
		{
			int			stepping;

			/* its handler's metrics go with its last lane */
			if (other_lanes(h, &stepping) == 0)
				rtsync_metrics_handler_release(h->slot);
			pfree(h->name);
			pfree(h);
		}
	}
	list_free(handlers);
	handlers = kept;
	MemoryContextSwitchTo(old);
}

/* The list just read: new handlers are due now, the others keep their turn. */
static void
take_list(PGresult *res)
{
	MemoryContext old = MemoryContextSwitchTo(handlers_cxt);
	ListCell   *lc;

	foreach(lc, handlers)
		((Handler *) lfirst(lc))->listed = false;
	for (int i = 0; i < PQntuples(res); i++)
	{
		const char *name = PQgetvalue(res, i, 0);
		int			lane = atoi(PQgetvalue(res, i, 1));
		Handler    *h = find_handler(name, lane);

		if (h == NULL)
		{
			h = palloc0(sizeof(Handler));
			h->name = pstrdup(name);
			h->lane = lane;
			snprintf(h->lane_text, sizeof(h->lane_text), "%d", lane);
			h->due_at = 0;
			h->slot = rtsync_metrics_handler_slot(name);
			handlers = lappend(handlers, h);
		}
		h->listed = true;
		take_counts(h, rtsync_json_parse_object(PQgetvalue(res, i, 2), PQgetlength(res, i, 2)));
	}
	MemoryContextSwitchTo(old);
	forget_unlisted();
}

/*
 * When a handler that waits for records steps, once more are kept: not
 * before rtsync.handler_interval after its last step began, so that a
 * steady trickle comes in batches rather than a step per commit.
 */
static uint64
trickle_due(Handler *h, uint64 now)
{
	uint64		since_ms = (uv_hrtime() - h->step_began) / 1000000;

	return now + (since_ms < (uint64) rtsync_handler_interval_ms
				  ? rtsync_handler_interval_ms - since_ms : 0);
}

/* When a handler steps next, from its step's answer. */
static void
take_step(Handler *h, PGresult *res)
{
	uint64		now = uv_now(handlers_loop);
	JsonbContainer *answer = rtsync_json_parse_object(PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0));
	char	   *next = rtsync_json_get_string(answer, "next");
	JsonbContainer *counts = rtsync_json_get_object(answer, "counts");
	double		delay_ms;

	if (counts)
		take_counts(h, counts);
	if (next && strcmp(next, "now") == 0)
		h->due_at = now;
	else if (next && strcmp(next, "later") == 0 &&
			 rtsync_json_get_number(answer, "delay_ms", &delay_ms))
		h->due_at = now + (uint64) Max(delay_ms, 0);
	else if (h->kept_meanwhile)
		h->due_at = trickle_due(h, now);	/* its step's snapshot may predate them */
	else
		h->due_at = IDLE;
	h->error_logged = false;
}

static void
statement_ended(HandlerConn *c)
{
	PGresult   *res = c->answer;
	bool		ok = res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK;

	if (c->listing)
	{
		list_loading = false;
		if (ok)
			take_list(res);
		else
		{
			/* e.g. the extension is not installed (yet): the next load tries again */
			ereport(LOG,
					(errmsg("rtsync could not read its stream handlers: %s",
							res ? PQresultErrorMessage(res) : "no answer")));
			list_stale = false;
		}
	}
	else if (c->stepping)
	{
		Handler    *h = c->stepping;

		h->stepping = false;
		show_concurrency(h);
		rtsync_metrics_handler_duration(h->slot,
										(int64) (uv_hrtime() - h->step_began) / 1000);
		if (ok && PQntuples(res) == 1)
			take_step(h, res);
		else
		{
			if (!h->error_logged)
				ereport(LOG,
						(errmsg("rtsync could not step stream handler \"%s\": %s", h->name,
								res ? PQresultErrorMessage(res) : "no answer"),
						 errdetail("Nothing of that step was committed; the handler steps again in %d ms.",
								   ERROR_RETRY_MS)));
			h->error_logged = true;
			h->due_at = uv_now(handlers_loop) + ERROR_RETRY_MS;
		}
		if (!h->listed)
			forget_unlisted();
	}
	if (res)
		PQclear(res);
	c->answer = NULL;
	c->busy = false;
	c->listing = false;
	c->stepping = NULL;
}

static void
conn_on_readable(RtsyncPgConn *pc)
{
	HandlerConn *c = pc->owner;

	if (!PQconsumeInput(pc->conn))
	{
		rtsync_pgconn_close(pc, PQerrorMessage(pc->conn));
		return;
	}
	while (c->busy && !PQisBusy(pc->conn))
	{
		PGresult   *res = PQgetResult(pc->conn);

		if (res == NULL)
		{
			statement_ended(c);
			dispatch();
			return;
		}
		if (c->answer)
			PQclear(c->answer);
		c->answer = res;
	}
}

static void
conn_on_ready(RtsyncPgConn *pc)
{
	rtsync_pgconn_reset_backoff(pc);
	dispatch();
}

/* A step in flight is stepped again: uncommitted, it left nothing. */
static void
conn_on_closed(RtsyncPgConn *pc)
{
	HandlerConn *c = pc->owner;

	if (c->stepping)
	{
		c->stepping->stepping = false;
		show_concurrency(c->stepping);
		c->stepping->due_at = uv_now(handlers_loop) + ERROR_RETRY_MS;
		if (!c->stepping->listed)
			forget_unlisted();
	}
	if (c->listing)
	{
		list_loading = false;
		list_stale = true;
	}
	if (c->answer)
		PQclear(c->answer);
	c->answer = NULL;
	c->busy = false;
	c->listing = false;
	c->stepping = NULL;
}

static bool
send_statement(HandlerConn *c, const char *sql, Handler *h)
{
	const char *values[2] = {h ? h->name : NULL, h ? h->lane_text : NULL};
	static const Oid types[2] = {TEXTOID, TEXTOID};

	if (!PQsendQueryParams(c->pc.conn, sql, h ? 2 : 0, types, values, NULL, NULL, 0))
	{
		rtsync_pgconn_close(&c->pc, PQerrorMessage(c->pc.conn));
		return false;
	}
	if (PQflush(c->pc.conn) == 1)
		rtsync_pgconn_want_write(&c->pc, true);
	c->busy = true;
	return true;
}

static void
start_conn(int i)
{
	HandlerConn *c = &conns[i];

	memset(c, 0, sizeof(*c));
	c->pc.name = "handlers";
	c->pc.loop = handlers_loop;
	c->pc.owner = c;
	c->pc.on_ready = conn_on_ready;
	c->pc.on_readable = conn_on_readable;
	c->pc.on_closed = conn_on_closed;
	c->started = true;
	rtsync_pgconn_start(&c->pc, rtsync_pgconn_conninfo(false));
}

/* The handler due soonest that is not stepping, or NULL. */
static Handler *
next_due(uint64 *soonest)
{
	Handler    *best = NULL;
	ListCell   *lc;

	*soonest = IDLE;
	foreach(lc, handlers)
	{
		Handler    *h = lfirst(lc);

		if (h->stepping || !h->listed || h->due_at == IDLE)
			continue;
		if (best == NULL || h->due_at < best->due_at)
			best = h;
	}
	if (best)
		*soonest = best->due_at;
	return best;
}

static void
due_timer_cb(uv_timer_t *timer)
{
	/* an error is logged; the next kick or answer dispatches again */
	RTSYNC_GUARD(dispatch(), (void) 0);
}

/*
 * Sends what is due on every free connection: the list first when it is
 * stale, then the handlers whose time has come, soonest first. Opens more
 * connections (up to the setting) while more handlers are due than there
 * are free ones; arms the timer for the next one due later.
 */
static void
dispatch(void)
{
	uint64		now;
	uint64		soonest;
	int			waiting = 0;

	if (stopped)
		return;
	now = uv_now(handlers_loop);
	for (int i = 0; i < nconns; i++)
	{
		HandlerConn *c = &conns[i];
		Handler    *h;

		if (!c->pc.ready || c->busy || c->pc.closing)
			continue;
		if (list_stale && !list_loading)
		{
			if (send_statement(c, list_sql, NULL))
			{
				c->listing = true;
				list_loading = true;
				list_stale = false;
			}
			continue;
		}
		h = next_due(&soonest);
		if (h == NULL || h->due_at > now)
			break;
		if (send_statement(c, step_sql, h))
		{
			c->stepping = h;
			h->stepping = true;
			h->kept_meanwhile = false;
			h->step_began = uv_hrtime();
			show_concurrency(h);
		}
	}
	/* more due than free connections: another one, if allowed */
	{
		ListCell   *lc;

		foreach(lc, handlers)
		{
			Handler    *h = lfirst(lc);

			if (!h->stepping && h->listed && h->due_at <= now)
				waiting++;
		}
	}
	if (waiting > 0 && nconns < Min(rtsync_handler_connections, MAX_CONNECTIONS))
		start_conn(nconns++);

	(void) next_due(&soonest);
	uv_timer_stop(&due_timer);
	if (soonest != IDLE && soonest > now)
		uv_timer_start(&due_timer, due_timer_cb, soonest - now, 0);
}

/*
 * Records were kept: every handler waiting for more steps now; one stepping
 * steps again if its step finds nothing, as its snapshot may not show them.
 */
static void
records_kept(void)
{
	uint64		now = uv_now(handlers_loop);
	ListCell   *lc;

	foreach(lc, handlers)
	{
		Handler    *h = lfirst(lc);

		if (h->stepping)
			h->kept_meanwhile = true;
		else if (h->due_at == IDLE)
			h->due_at = trickle_due(h, now);
	}
	dispatch();
}

/* control/ loaded again: a handler may have been created, altered or dropped. */
static void
control_loaded(void)
{
	uint64		now = uv_now(handlers_loop);
	ListCell   *lc;

	list_stale = true;
	/* an altered handler (enabled again, moved) steps at once */
	foreach(lc, handlers)
	{
		Handler    *h = lfirst(lc);

		if (h->stepping)
			h->kept_meanwhile = true;
		else if (h->due_at == IDLE)
			h->due_at = now;
	}
	dispatch();
}

void
rtsync_handlers_start(uv_loop_t *loop)
{
	handlers_loop = loop;
	handlers_cxt = AllocSetContextCreate(TopMemoryContext, "rtsync handlers",
										 ALLOCSET_SMALL_SIZES);
	uv_timer_init(loop, &due_timer);
	uv_unref((uv_handle_t *) &due_timer);
	rtsync_retention_on_kept(records_kept);
	rtsync_control_on_loaded(control_loaded);
	/* one connection from the start, for the list; more when handlers wait */
	nconns = 1;
	start_conn(0);
}

void
rtsync_handlers_stop(void)
{
	stopped = true;
	uv_timer_stop(&due_timer);
	uv_close((uv_handle_t *) &due_timer, NULL);
	for (int i = 0; i < nconns; i++)
		if (conns[i].started)
			rtsync_pgconn_stop(&conns[i].pc);
}
