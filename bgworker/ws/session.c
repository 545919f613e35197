/*-------------------------------------------------------------------------
 *
 * ws/session.c
 *	  The life of a GraphQL-over-WebSocket session (see session.h): its
 *	  state, the lists each state puts it on, the init timeout, and the
 *	  messages it parks while a reload or a start point is awaited.
 *
 * The init timeout: sessions awaiting init or authorising all get the same
 * timeout, so their deadlines are in order and one timer serves them (lws'
 * own timers keep one sorted list, O(n) per insertion).
 *
 * Token expiry: sessions signed in with a token that has an exp are in a
 * pairing heap by that time, and one timer waits for the earliest; when it
 * comes, the expired sessions go to the callback protocol.c registered,
 * which ends them the way their dialect expects.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/pairingheap.h"
#include "utils/memutils.h"

#include "base/guard.h"
#include "base/settings.h"
#include "control/identity.h"
#include "ws/session.h"

static dlist_head sessions = DLIST_STATIC_INIT(sessions);
static dlist_head init_fifo = DLIST_STATIC_INIT(init_fifo);
static dlist_head authorising = DLIST_STATIC_INIT(authorising);
static dlist_head parked = DLIST_STATIC_INIT(parked);
static uv_timer_t init_timer;
static uv_loop_t *session_loop = NULL;
static bool timer_closed = false;	/* at shutdown; sessions may still open */

static pairingheap *expiring = NULL;	/* sessions whose token expires */
static uv_timer_t expiry_timer;
static void (*expired_fn) (RtsyncWsSession *s) = NULL;

static void init_timeout_cb(uv_timer_t *timer);
static void expiry_cb(uv_timer_t *timer);

/* the heap's order: the earliest expiry first */
static int
expiry_cmp(const pairingheap_node *a, const pairingheap_node *b, void *arg)
{
	const RtsyncWsSession *sa = pairingheap_const_container(RtsyncWsSession, expiry_node, a);
	const RtsyncWsSession *sb = pairingheap_const_container(RtsyncWsSession, expiry_node, b);

	return sa->expires_at < sb->expires_at ? 1 : sa->expires_at > sb->expires_at ? -1 : 0;
}

void
rtsync_ws_sessions_init(uv_loop_t *loop)
{
	session_loop = loop;
	uv_timer_init(loop, &init_timer);
	uv_timer_init(loop, &expiry_timer);
	expiring = pairingheap_allocate(expiry_cmp, NULL);
}

void
rtsync_ws_sessions_on_expired(void (*fn) (RtsyncWsSession *s))
{
	expired_fn = fn;
}

/* Arms the expiry timer for the earliest expiry (whole seconds). */
static void
expiry_arm(void)
{
	RtsyncWsSession *first;
	int64		wait_s;

	if (timer_closed)
		return;
	if (pairingheap_is_empty(expiring))
	{
		uv_timer_stop(&expiry_timer);
		return;
	}
	first = pairingheap_container(RtsyncWsSession, expiry_node, pairingheap_first(expiring));
	wait_s = first->expires_at - rtsync_identity_now();
	/* past exp + leeway means expired: one second after it, not at it */
	uv_timer_start(&expiry_timer, expiry_cb, wait_s < 0 ? 0 : (uint64) (wait_s + 1) * 1000, 0);
}

void
rtsync_ws_session_expire_at(RtsyncWsSession *s, int64 expires_at)
{
	if (s->expiring)
		pairingheap_remove(expiring, &s->expiry_node);
	s->expires_at = expires_at;
	s->expiring = expires_at > 0;
	if (s->expiring)
		pairingheap_add(expiring, &s->expiry_node);
	expiry_arm();
}

/* Ends the sessions whose token has expired; waits for the next one. */
static void
expiry_check(void)
{
	int64		now = rtsync_identity_now();

	while (!pairingheap_is_empty(expiring))
	{
		RtsyncWsSession *s = pairingheap_container(RtsyncWsSession, expiry_node,
												   pairingheap_first(expiring));

		if (s->expires_at >= now)
			break;
		pairingheap_remove_first(expiring);
		s->expiring = false;
		if (expired_fn && rtsync_ws_session_live(s))
			expired_fn(s);
	}
	expiry_arm();
}

/* Entry from libuv: an ERROR is logged and the check runs again in 1 s. */
static void
expiry_cb(uv_timer_t *timer)
{
	RTSYNC_GUARD(expiry_check(),
				 uv_timer_start(&expiry_timer, expiry_cb, 1000, 0));
}

void
rtsync_ws_sessions_shutdown(void)
{
	if (session_loop == NULL || timer_closed)
		return;
	uv_timer_stop(&init_timer);
	uv_close((uv_handle_t *) &init_timer, NULL);
	uv_timer_stop(&expiry_timer);
	uv_close((uv_handle_t *) &expiry_timer, NULL);
	timer_closed = true;
}

static bool
in_init_fifo(RtsyncWsState state)
{
	return state == RTSYNC_WS_AWAITING_INIT || state == RTSYNC_WS_AUTHORISING;
}

void
rtsync_ws_session_open(RtsyncWsSession *s, RtsyncConn *conn, RtsyncDialect dialect)
{
	s->conn = conn;
	s->dialect = dialect;
	s->subscriptions = NIL;
	s->state = RTSYNC_WS_AWAITING_INIT;
	dlist_push_tail(&sessions, &s->node);
	s->init_deadline = uv_now(session_loop) + rtsync_connection_init_timeout_ms;
	dlist_push_tail(&init_fifo, &s->init_node);
	if (!timer_closed && !uv_is_active((uv_handle_t *) &init_timer))
		uv_timer_start(&init_timer, init_timeout_cb, rtsync_connection_init_timeout_ms, 0);
}

/*
 * The one place a session's state changes: it leaves the lists of the old
 * state and joins those of the new one. CLOSED leaves every list.
 */
void
rtsync_ws_session_set_state(RtsyncWsSession *s, RtsyncWsState state)
{
	RtsyncWsState old = s->state;

	if (old == state || old == RTSYNC_WS_CLOSED)
		return;
	if (in_init_fifo(old) && !in_init_fifo(state))
		dlist_delete(&s->init_node);
	if (old == RTSYNC_WS_AUTHORISING)
		dlist_delete(&s->keys_node);
	if (state == RTSYNC_WS_AUTHORISING)
		dlist_push_tail(&authorising, &s->keys_node);
	if (state >= RTSYNC_WS_CLOSING && s->expiring)
	{
		pairingheap_remove(expiring, &s->expiry_node);
		s->expiring = false;
	}
	if (state == RTSYNC_WS_CLOSED)
	{
		if (s->parked != NIL)
			dlist_delete(&s->parked_node);
		s->parked = NIL;		/* the messages go with conn->cxt */
		dlist_delete(&s->node);
	}
	s->state = state;
}

void
rtsync_ws_session_close(RtsyncWsSession *s, int code, const char *reason)
{
	if (s->state < RTSYNC_WS_CLOSING)
		rtsync_ws_session_set_state(s, RTSYNC_WS_CLOSING);
	rtsync_conn_close(s->conn, code, reason);
}

/* Closes the sessions whose init is overdue; waits for the next one. */
static void
init_timeout_check(uv_timer_t *timer)
{
	uint64		now = uv_now(timer->loop);

	while (!dlist_is_empty(&init_fifo))
	{
		RtsyncWsSession *s = dlist_head_element(RtsyncWsSession, init_node, &init_fifo);

		if (s->init_deadline > now)
		{
			if (timer_closed)
				return;
			uv_timer_start(&init_timer, init_timeout_cb, s->init_deadline - now, 0);
			return;
		}
		rtsync_ws_session_close(s, 4408, "Connection initialisation timeout");
	}
}

/*
 * Entry from libuv. An ERROR is logged and the timer armed again, so the
 * sessions still waiting are checked once more a moment later.
 */
static void
init_timeout_cb(uv_timer_t *timer)
{
	RTSYNC_GUARD(init_timeout_check(timer),
				 uv_timer_start(&init_timer, init_timeout_cb, 100, 0));
}

void
rtsync_ws_session_park(RtsyncWsSession *s, const char *msg, size_t len)
{
	MemoryContext old = MemoryContextSwitchTo(s->conn->cxt);
	StringInfo	copy = makeStringInfo();

	appendBinaryStringInfo(copy, msg, len);
	if (s->parked == NIL)
		dlist_push_tail(&parked, &s->parked_node);
	s->parked = lappend(s->parked, copy);
	MemoryContextSwitchTo(old);
}

/* The parked messages (StringInfo, in conn->cxt), oldest first; none kept. */
List *
rtsync_ws_session_unpark(RtsyncWsSession *s)
{
	List	   *msgs = s->parked;

	if (msgs != NIL)
		dlist_delete(&s->parked_node);
	s->parked = NIL;
	return msgs;
}

/*
 * Calls fn for each session on list as it is now: the list is moved aside
 * first, and each session is put back before fn runs, so fn may take it off
 * again (or another) without upsetting the walk.
 */
static void
foreach_on(dlist_head *list, size_t node_offset, void (*fn) (RtsyncWsSession *s))
{
	dlist_head	pending;

	dlist_init(&pending);
	while (!dlist_is_empty(list))
		dlist_push_tail(&pending, dlist_pop_head_node(list));
	while (!dlist_is_empty(&pending))
	{
		dlist_node *node = dlist_pop_head_node(&pending);
		RtsyncWsSession *s = (RtsyncWsSession *) ((char *) node - node_offset);

		dlist_push_tail(list, node);
		fn(s);
	}
}

void
rtsync_ws_sessions_foreach(void (*fn) (RtsyncWsSession *s))
{
	foreach_on(&sessions, offsetof(RtsyncWsSession, node), fn);
}

void
rtsync_ws_sessions_foreach_authorising(void (*fn) (RtsyncWsSession *s))
{
	foreach_on(&authorising, offsetof(RtsyncWsSession, keys_node), fn);
}

void
rtsync_ws_sessions_foreach_parked(void (*fn) (RtsyncWsSession *s))
{
	foreach_on(&parked, offsetof(RtsyncWsSession, parked_node), fn);
}
