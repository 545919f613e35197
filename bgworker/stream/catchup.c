/*-------------------------------------------------------------------------
 *
 * stream/catchup.c
 *	  Resuming subscriptions from the kept stream.
 *
 * A connection that resumes subscriptions has one catch-up: a cursor over
 * rtsync.stream_record for the tables of its resuming subscriptions (the
 * members), read in pages with rtsync._catchup_page() as the connection's
 * role and claims, so the stream's own row security decides what it may
 * see (the delivery rule). Each page's records go to every member whose
 * table, event and filter they match, in stream order.
 *
 * Order on the connection: while it catches up, the live events of its
 * other subscriptions wait here and go out merged by SequenceNumber with
 * the records caught up, so everything a connection receives is in stream
 * order and the last position it saw is valid for all its subscriptions.
 *
 * The seam. Pages are read until one comes back short (the end of what
 * was kept when it ran). The seam is then the last record the live
 * dispatch has seen, X (rtsync_registry_last_sequence): the members start
 * on the live stream for records after X (held here meanwhile), and once
 * retention has kept everything up to X a last page reads the rest up to
 * X. Each record is then delivered exactly once: up to X from the table,
 * after X live.
 *
 * Flow: a page is asked for only when the members' connection has room
 * (less than a quarter of rtsync.max_queue queued), and holds at most that
 * many bytes of records; it is delivered in slices, one a pass of the loop
 * and each only when the connection has room, so live events wait behind
 * at most one slice. Held live events past rtsync.max_queue close the
 * connection as too slow, as a slow reader is. A page the pool could not
 * run is asked for again a little later.
 *
 * A subscription that joins with an older position once the cursor has
 * passed it rewinds the cursor: the members already past skip what they
 * had, and that one gets its older records after newer ones went out on
 * the connection (README, "Resuming a subscription").
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "libpq-fe.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "base/guard.h"
#include "base/json.h"
#include "base/metrics.h"
#include "base/settings.h"
#include "graphql/filter.h"
#include "net/pool.h"
#include "stream/catchup.h"
#include "stream/record.h"
#include "stream/retention.h"

#define SEQ_LEN RTSYNC_SEQUENCE_LEN
/*
 * Pages of 1,000 records, delivered 100 a pass of the loop: each page costs
 * a round trip through the pool, which pages of 100 paid every 100 records
 * (bench/catchup under load: the catch-up spent three quarters of its time
 * waiting for pages, and pages of 100 now catch up at 24,000-67,000
 * records/s against 49,000-73,000), while a page of 1,000 delivered at once
 * held the loop ~15 ms, and live events behind it.
 */
#define PAGE_RECORDS 1000
#define SLICE_RECORDS 100
#define CHECK_SQL "SELECT rtsync._resume_check($1::oid, $2)"
#define PAGE_SQL "SELECT relid, sequence_number, record" \
	" FROM rtsync._catchup_page($1::oid[], $2, $3, $4::integer, $5::bigint)"
#define DRAIN_RETRY_MS 2
#define RETRY_MS 200			/* after the pool could not run a page ... */
#define MAX_RETRIES 50			/* ... this many times in a row: refused */

typedef struct Member
{
	RtsyncSubscription *sub;
	char		after[SEQ_LEN + 1];	/* everything up to it is delivered */
	bool		checked;		/* its position was found good */
	bool		in_page;		/* in the page being read */
	bool		live;			/* started on the live stream after the seam */
	bool		done;			/* ... and owed nothing more from the table */
} Member;

typedef struct KeptRow
{
	Oid			relid;
	char		sequence[SEQ_LEN + 1];
	char	   *record;
} KeptRow;

typedef struct HeldEvent
{
	RtsyncSubscription *sub;
	char		sequence[SEQ_LEN + 1];
	size_t		len;
	char		payload[FLEXIBLE_ARRAY_MEMBER];
} HeldEvent;

struct RtsyncCatchup
{
	dlist_node	node;			/* in catchups */
	MemoryContext cxt;			/* owns this and all below */
	MemoryContext page_cxt;		/* the page being read: its statements */
	MemoryContext answer_cxt;	/* its answer's records, while delivered */
	MemoryContext slice_cxt;	/* an answer's or a slice's handling */
	KeptRow    *rows;			/* the answer's records, NULL: none left */
	int			nrows;
	int			next_row;		/* the first not yet delivered */
	bool		more;			/* to read after them */
	void	   *owner;
	char	   *role;
	char	   *claims;
	List	   *members;		/* Member * */
	List	   *gated;			/* the owner's other subscriptions */
	List	   *held;			/* HeldEvent *, in stream order */
	size_t		held_bytes;
	char		seam[SEQ_LEN + 1];	/* "": reading ahead of the live stream */
	bool		seam_set;
	bool		reading;		/* a page is being read */
	bool		gone;			/* every subscription left while it was */
	int			page_limit;
	int			failures;		/* pages in a row the pool could not run */
	uint64		retry_at;		/* uv_now() before which none is sent */
};

static dlist_head catchups = DLIST_STATIC_INIT(catchups);
static uv_timer_t next_timer;
static bool timer_ready = false;

static void next_pages_cb(uv_timer_t *timer);

RtsyncCatchup *
rtsync_catchup_of(void *owner)
{
	dlist_iter	iter;

	dlist_foreach(iter, &catchups)
	{
		RtsyncCatchup *cu = dlist_container(RtsyncCatchup, node, iter.cur);

		if (cu->owner == owner && !cu->gone)
			return cu;
	}
	return NULL;
}

/* Ask for the next pages on the loop's next pass (not from inside a callback). */
static void
schedule(uint64 delay_ms)
{
	if (timer_ready)
		uv_timer_start(&next_timer, next_pages_cb, delay_ms, 0);
}

static void
catchup_gate(RtsyncCatchup *cu, RtsyncSubscription *sub)
{
	MemoryContext old = MemoryContextSwitchTo(cu->cxt);

	cu->gated = lappend(cu->gated, sub);
	sub->catchup = cu;
	MemoryContextSwitchTo(old);
}

void
rtsync_catchup_join(RtsyncSubscription *sub, const char *after)
{
	RtsyncCatchup *cu = sub->catchup ? sub->catchup : rtsync_catchup_of(sub->owner);
	MemoryContext old;
	Member	   *m;

	if (cu == NULL)
	{
		MemoryContext cxt = AllocSetContextCreate(TopMemoryContext, "rtsync catch-up",
												  ALLOCSET_SMALL_SIZES);
		dlist_iter	iter;

		cu = MemoryContextAllocZero(cxt, sizeof(RtsyncCatchup));
		cu->cxt = cxt;
		cu->page_cxt = AllocSetContextCreate(cxt, "rtsync catch-up page",
											 ALLOCSET_DEFAULT_SIZES);
		cu->answer_cxt = AllocSetContextCreate(cxt, "rtsync catch-up answer",
											   ALLOCSET_DEFAULT_SIZES);
		cu->slice_cxt = AllocSetContextCreate(cxt, "rtsync catch-up slice",
											  ALLOCSET_DEFAULT_SIZES);
		cu->owner = sub->owner;
		cu->role = MemoryContextStrdup(cxt, sub->role);
		cu->claims = sub->claims ? MemoryContextStrdup(cxt, sub->claims) : NULL;
		cu->page_limit = PAGE_RECORDS;
		dlist_push_tail(&catchups, &cu->node);
		/* the connection's live subscriptions wait from now on */
		dlist_foreach(iter, rtsync_registry_all())
		{
			RtsyncSubscription *other = dlist_container(RtsyncSubscription, all_node, iter.cur);

			if (other->owner == sub->owner && other != sub && other->catchup == NULL)
				catchup_gate(cu, other);
		}
	}
	else if (sub->catchup == cu)
		cu->gated = list_delete_ptr(cu->gated, sub);
	old = MemoryContextSwitchTo(cu->cxt);
	m = palloc0(sizeof(Member));
	m->sub = sub;
	strlcpy(m->after, after, sizeof(m->after));
	cu->members = lappend(cu->members, m);
	MemoryContextSwitchTo(old);
	sub->catchup = cu;
	rtsync_metrics_count(RTSYNC_M_SUBSCRIPTIONS_RESUMED, 1);
	/* the connection's other subscribes of this pass join the same first page */
	schedule(0);
}

/* A live event for a subscription of a connection catching up: kept, to go out in order. */
static bool
catchup_hold(RtsyncSubscription *sub, const char *sequence, const char *payload,
					size_t len)
{
	RtsyncCatchup *cu = sub->catchup;
	HeldEvent  *e;
	MemoryContext old;

	if (cu == NULL || cu->gone)
		return false;
	if (cu->held_bytes + len > (size_t) rtsync_max_queue_kb * 1024)
	{
		sub->sink->too_slow(sub);
		return true;
	}
	e = MemoryContextAlloc(cu->cxt, offsetof(HeldEvent, payload) + len);
	e->sub = sub;
	strlcpy(e->sequence, sequence, sizeof(e->sequence));
	e->len = len;
	memcpy(e->payload, payload, len);
	old = MemoryContextSwitchTo(cu->cxt);
	cu->held = lappend(cu->held, e);
	MemoryContextSwitchTo(old);
	cu->held_bytes += len;
	return true;
}

/* Held live events up to (before, when given) a position go out, in order. */
static void
release_held(RtsyncCatchup *cu, const char *before)
{
	int			n = 0;
	ListCell   *lc;

	foreach(lc, cu->held)
	{
		HeldEvent  *e = lfirst(lc);

		if (before && strcmp(e->sequence, before) >= 0)
			break;
		e->sub->sink->deliver(e->sub, e->payload, e->len);
		cu->held_bytes -= e->len;
		pfree(e);
		n++;
	}
	if (n > 0)
		cu->held = list_delete_first_n(cu->held, n);
}

static void
catchup_free(RtsyncCatchup *cu)
{
	dlist_delete(&cu->node);
	MemoryContextDelete(cu->cxt);
}

/*
 * Every member is on the live stream and owed nothing (or gone): what was
 * held goes out, and the connection is on its own again. Freed from the
 * loop (next_pages), never inside a callback that may still use it.
 */
static void
catchup_finish(RtsyncCatchup *cu)
{
	ListCell   *lc;

	release_held(cu, NULL);
	foreach(lc, cu->members)
		((Member *) lfirst(lc))->sub->catchup = NULL;
	foreach(lc, cu->gated)
		((RtsyncSubscription *) lfirst(lc))->catchup = NULL;
	cu->members = NIL;
	cu->gated = NIL;
	cu->gone = true;
	schedule(0);
}

/* The subscription goes: off its catch-up. */
static void
catchup_leave(RtsyncSubscription *sub)
{
	RtsyncCatchup *cu = sub->catchup;
	ListCell   *lc;

	if (cu == NULL)
		return;
	sub->catchup = NULL;
	cu->gated = list_delete_ptr(cu->gated, sub);
	foreach(lc, cu->members)
	{
		Member	   *m = lfirst(lc);

		if (m->sub == sub)
		{
			cu->members = foreach_delete_current(cu->members, lc);
			pfree(m);
		}
	}
	foreach(lc, cu->held)
	{
		HeldEvent  *e = lfirst(lc);

		if (e->sub == sub)
		{
			cu->held_bytes -= e->len;
			cu->held = foreach_delete_current(cu->held, lc);
			pfree(e);
		}
	}
	if (cu->members == NIL)
		catchup_finish(cu);
}

/* SQLSTATE of a failed check as the protocol's errorType. */
static const char *
error_type_of(const char *sqlstate)
{
	if (sqlstate && strcmp(sqlstate, "RT410") == 0)
		return "TrimmedDataAccessException";
	if (sqlstate && strcmp(sqlstate, "22023") == 0)
		return "ValidationException";
	return "ServiceUnavailable";
}

/* The error text after DynamoDB's exception name ("TrimmedDataAccessException: ..."). */
static char *
error_message(PGresult *res)
{
	const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *colon = primary ? strstr(primary, ": ") : NULL;

	if (primary == NULL)
		return pstrdup("The kept stream could not be read.");
	return pstrdup(colon ? colon + 2 : primary);
}

/*
 * One kept record for the members in the page: delivered to each whose
 * table, event and filter it matches and who is owed it; every member
 * has then seen the stream through it.
 */
static void
page_record(RtsyncCatchup *cu, Oid relid, const char *sequence, const char *text)
{
	Jsonb	   *jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));
	JsonbContainer *dynamodb = rtsync_json_get_object(&jb->root, "dynamodb");
	JsonbValue	event_name;
	RtsyncEvent event;
	JsonbContainer *image = NULL;
	bool		judgeable;
	bool		is_change;
	StringInfoData payload;
	ListCell   *lc;

	is_change = rtsync_json_get_string_value(&jb->root, "eventName", &event_name) &&
		rtsync_record_event(&event_name, &event) && dynamodb != NULL;
	if (is_change)
		image = rtsync_record_image(dynamodb, event, &judgeable);
	initStringInfo(&payload);
	release_held(cu, sequence);
	foreach(lc, cu->members)
	{
		Member	   *m = lfirst(lc);
		RtsyncSubscriptionPlan *plan = m->sub->plan;

		if (!m->in_page || strcmp(sequence, m->after) <= 0)
			continue;
		strlcpy(m->after, sequence, sizeof(m->after));
		if (!is_change || image == NULL || plan->table->relid != relid || plan->event != event)
			continue;
		if (plan->filter && !rtsync_filter_match(plan->filter, image))
			continue;
		resetStringInfo(&payload);
		rtsync_record_payload(plan, image, sequence, &payload);
		m->sub->sink->deliver(m->sub, payload.data, payload.len);
		rtsync_metrics_count(RTSYNC_M_RECORDS_CAUGHT_UP, 1);
	}
}

/*
 * A short page read after the seam: its members are owed nothing more.
 * Those that joined since the seam was set go on to a seam of their own.
 */
static void
seam_reached(RtsyncCatchup *cu)
{
	ListCell   *lc;
	bool		all_done = true;

	foreach(lc, cu->members)
	{
		Member	   *m = lfirst(lc);

		if (m->in_page && m->live)
			m->done = true;
		all_done &= m->done;
	}
	if (all_done)
	{
		catchup_finish(cu);
		return;
	}
	cu->seam_set = false;
	cu->seam[0] = '\0';
}

/*
 * A short page read ahead of the live stream: the members start on the
 * live stream after X, the last record it has seen, and the rest up to X
 * is read once retention has kept it.
 */
static void
set_seam(RtsyncCatchup *cu)
{
	ListCell   *lc;

	strlcpy(cu->seam, rtsync_registry_last_sequence(), sizeof(cu->seam));
	cu->seam_set = true;
	foreach(lc, cu->members)
	{
		Member	   *m = lfirst(lc);

		if (m->live)
			continue;
		m->live = true;
		strlcpy(m->sub->live_after, strcmp(m->after, cu->seam) > 0 ? m->after : cu->seam,
				sizeof(m->sub->live_after));
		rtsync_registry_start(m->sub, 0);
	}
}

/* The members in the page whose position was checked in it are good now. */
static void
checks_passed(RtsyncCatchup *cu)
{
	ListCell   *lc;

	foreach(lc, cu->members)
	{
		Member	   *m = lfirst(lc);

		if (m->in_page && !m->checked)
		{
			m->checked = true;
			m->sub->sink->resumed(m->sub);
		}
	}
}

/*
 * The next slice of the answer goes out; after the last, the next page is
 * asked for or, the answer being short, the seam is set or reached.
 */
static void
deliver_slice(RtsyncCatchup *cu)
{
	int			end = Min(cu->next_row + SLICE_RECORDS, cu->nrows);

	for (; cu->next_row < end; cu->next_row++)
	{
		KeptRow    *row = &cu->rows[cu->next_row];

		page_record(cu, row->relid, row->sequence, row->record);
	}
	if (cu->next_row < cu->nrows)
		return;
	cu->rows = NULL;
	MemoryContextReset(cu->answer_cxt);
	if (cu->more)
		return;
	if (cu->seam_set)
		seam_reached(cu);
	else
		set_seam(cu);
}

/* The page's answer (see page_send for the statements' order). */
static void
page_answer(RtsyncCatchup *cu, List *results, const char *failure)
{
	ListCell   *lc;
	int			k = 0;
	PGresult   *page = NULL;
	int			nrows;

	/* the checks, one per new member, in order: the first refusal */
	foreach(lc, cu->members)
	{
		Member	   *m = lfirst(lc);
		PGresult   *res;

		if (!m->in_page || m->checked)
			continue;
		res = failure ? NULL : list_nth(results, k);
		k++;
		if (res == NULL || PQresultStatus(res) == PGRES_TUPLES_OK)
			continue;
		if (PQresultStatus(res) == PGRES_FATAL_ERROR)
		{
			char	   *msg = error_message(res);

			/* the others of the page are checked again next time */
			m->in_page = false;
			m->sub->sink->refused(m->sub, error_type_of(PQresultErrorField(res, PG_DIAG_SQLSTATE)), msg);
			return;
		}
	}
	if (failure == NULL && k < list_length(results))
		page = list_nth(results, k);
	if (failure != NULL || page == NULL || PQresultStatus(page) != PGRES_TUPLES_OK)
	{
		const char *why = failure ? failure :
			page ? PQresultErrorMessage(page) : "no answer";
		const char *sqlstate = page ? PQresultErrorField(page, PG_DIAG_SQLSTATE) : NULL;

		if (failure && strncmp(failure, RTSYNC_POOL_TOO_LARGE, strlen(RTSYNC_POOL_TOO_LARGE)) == 0 &&
			cu->page_limit > 1)
		{
			cu->page_limit = Max(cu->page_limit / 4, 1);
			return;
		}
		/* the pool could not run it (its connection went): again, a while */
		if (failure && ++cu->failures <= MAX_RETRIES)
		{
			cu->retry_at = uv_now(next_timer.loop) + RETRY_MS;
			return;
		}
		ereport(LOG, (errmsg("rtsync could not read the kept stream to resume a subscription: %s", why)));
		foreach(lc, cu->members)
		{
			Member	   *m = lfirst(lc);

			if (m->in_page)
			{
				m->sub->sink->refused(m->sub, error_type_of(sqlstate),
					   sqlstate && strcmp(sqlstate, "RT410") == 0 ? error_message(page) :
					   "The kept stream could not be read to resume the subscription; subscribe again.");
				return;			/* one at a time: refuse may end the catch-up */
			}
		}
		return;
	}
	cu->failures = 0;
	checks_passed(cu);
	nrows = PQntuples(page);
	/* more to read: the limit was reached, or the bytes cut the page (a last row of NULLs) */
	cu->more = nrows == cu->page_limit;
	if (nrows > 0 && PQgetisnull(page, nrows - 1, 0))
	{
		cu->more = true;
		nrows--;
	}
	cu->rows = MemoryContextAlloc(cu->answer_cxt, sizeof(KeptRow) * Max(nrows, 1));
	cu->nrows = nrows;
	cu->next_row = 0;
	for (int i = 0; i < nrows; i++)
	{
		KeptRow    *row = &cu->rows[i];

		row->relid = atooid(PQgetvalue(page, i, 0));
		strlcpy(row->sequence, PQgetvalue(page, i, 1), sizeof(row->sequence));
		row->record = MemoryContextStrdup(cu->answer_cxt, PQgetvalue(page, i, 2));
	}
	deliver_slice(cu);
}

/* An error while delivering: the members' connection is closed as too slow. */
static void
delivery_failed(RtsyncCatchup *cu)
{
	List	   *subs = NIL;
	ListCell   *lc;

	ereport(LOG, (errmsg("rtsync could not deliver kept records to a resuming subscription")));
	cu->rows = NULL;
	MemoryContextReset(cu->answer_cxt);
	/* each may end the catch-up, and free its member */
	foreach(lc, cu->members)
		subs = lappend(subs, ((Member *) lfirst(lc))->sub);
	foreach(lc, subs)
		((RtsyncSubscription *) lfirst(lc))->sink->too_slow(lfirst(lc));
	list_free(subs);
}

/* The pool's callback. */
static void
page_done(void *arg, List *results, const char *failure)
{
	RtsyncCatchup *cu = arg;
	MemoryContext old;

	cu->reading = false;
	if (cu->gone)
	{
		schedule(0);
		return;
	}
	old = MemoryContextSwitchTo(cu->slice_cxt);
	RTSYNC_GUARD(page_answer(cu, results, failure), delivery_failed(cu));
	MemoryContextSwitchTo(old);
	MemoryContextReset(cu->slice_cxt);
	schedule(0);
}

/*
 * Sends the next page: a check of each new member's position, then the
 * records after the lowest position of the members in it (up to the seam
 * once there is one), as the connection's role and claims.
 */
static void
page_send(RtsyncCatchup *cu)
{
	MemoryContext old;
	RtsyncStatement *stmts;
	StringInfoData relids;
	const char *from = NULL;
	int			n = 0;
	int			nmembers = list_length(cu->members);
	const char **params;
	ListCell   *lc;

	MemoryContextReset(cu->page_cxt);
	old = MemoryContextSwitchTo(cu->page_cxt);
	stmts = palloc0(sizeof(RtsyncStatement) * (nmembers + 1));
	initStringInfo(&relids);
	appendStringInfoChar(&relids, '{');
	foreach(lc, cu->members)
	{
		Member	   *m = lfirst(lc);
		char	   *relid;

		m->in_page = !m->done;
		if (m->done)
			continue;
		relid = psprintf("%u", m->sub->plan->table->relid);
		if (from == NULL || strcmp(m->after, from) < 0)
			from = m->after;
		appendStringInfo(&relids, "%s%s", relids.len > 1 ? "," : "", relid);
		if (!m->checked)
		{
			params = palloc(sizeof(char *) * 2);
			params[0] = relid;
			params[1] = pstrdup(m->after);
			stmts[n].sql = CHECK_SQL;
			stmts[n].nparams = 2;
			stmts[n].params = params;
			stmts[n].prepare = true;
			n++;
		}
	}
	appendStringInfoChar(&relids, '}');
	params = palloc(sizeof(char *) * 5);
	params[0] = relids.data;
	params[1] = pstrdup(from);
	params[2] = cu->seam_set ? pstrdup(cu->seam) : NULL;
	params[3] = psprintf("%d", cu->page_limit);
	params[4] = psprintf("%ld", (long) rtsync_max_queue_kb * 1024 / 4);
	stmts[n].sql = PAGE_SQL;
	stmts[n].nparams = 5;
	stmts[n].params = params;
	stmts[n].prepare = true;
	n++;
	MemoryContextSwitchTo(old);
	cu->reading = true;
	if (!rtsync_pool_submit(cu->role, cu->claims, true, stmts, n, page_done, cu))
	{
		/* the pool is full: try again shortly */
		cu->reading = false;
		foreach(lc, cu->members)
			((Member *) lfirst(lc))->in_page = false;
		cu->retry_at = uv_now(next_timer.loop) + DRAIN_RETRY_MS * 10;
	}
}

/* Has the connection room for a page? */
static bool
has_room(RtsyncCatchup *cu)
{
	Member	   *m = linitial(cu->members);

	return m->sub->sink->backlog(m->sub) < (size_t) rtsync_max_queue_kb * 1024 / 4;
}

/*
 * Every catch-up that can go on sends its next page; one waiting for room,
 * or for retention to keep up to its seam, waits.
 */
static void
next_pages(void)
{
	dlist_mutable_iter iter;
	uint64		wait_ms = PG_UINT64_MAX;

	dlist_foreach_modify(iter, &catchups)
	{
		RtsyncCatchup *cu = dlist_container(RtsyncCatchup, node, iter.cur);

		if (cu->gone && !cu->reading)
		{
			catchup_free(cu);
			continue;
		}
		if (cu->reading || cu->gone || cu->members == NIL)
			continue;
		if (cu->rows != NULL)
		{
			/* a slice of the answer, the loop's other work between two */
			if (!has_room(cu))
				wait_ms = Min(wait_ms, DRAIN_RETRY_MS);
			else
			{
				MemoryContext old = MemoryContextSwitchTo(cu->slice_cxt);

				RTSYNC_GUARD(deliver_slice(cu), delivery_failed(cu));
				MemoryContextSwitchTo(old);
				MemoryContextReset(cu->slice_cxt);
				wait_ms = 0;
			}
			continue;
		}
		if (cu->seam_set && rtsync_retention_keeping(cu->seam))
			continue;			/* retention's callback brings it back */
		if (cu->retry_at > uv_now(next_timer.loop))
		{
			wait_ms = Min(wait_ms, cu->retry_at - uv_now(next_timer.loop));
			continue;
		}
		if (!has_room(cu))
		{
			wait_ms = Min(wait_ms, DRAIN_RETRY_MS);
			continue;
		}
		RTSYNC_GUARD(page_send(cu),
					 ereport(LOG, (errmsg("rtsync could not ask for kept records"))));
		if (!cu->reading)		/* the pool was full: again shortly */
			wait_ms = Min(wait_ms, DRAIN_RETRY_MS * 10);
	}
	if (wait_ms != PG_UINT64_MAX)
		schedule(wait_ms);
}

/* Entry from libuv. */
static void
next_pages_cb(uv_timer_t *timer)
{
	next_pages();
}

static void
records_kept(void)
{
	schedule(0);
}

static const RtsyncCatchupHooks hooks = {
	.of = rtsync_catchup_of,
	.gate = catchup_gate,
	.hold = catchup_hold,
	.leave = catchup_leave,
};

void
rtsync_catchup_start(uv_loop_t *loop)
{
	rtsync_registry_on_catchup(&hooks);
	uv_timer_init(loop, &next_timer);
	timer_ready = true;
	rtsync_retention_on_kept(records_kept);
}
