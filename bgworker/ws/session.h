/*-------------------------------------------------------------------------
 *
 * ws/session.h
 *	  A GraphQL-over-WebSocket session: which dialect the client speaks,
 *	  who it is, its subscriptions, and where it is in its life.
 *
 * A session's life is one state, changed only by rtsync_ws_session_set_state,
 * which also keeps the lists a state implies (the init-timeout FIFO while
 * awaiting init or authorising, the keys-waiting list while authorising):
 * nothing else adds a session to or removes it from them.
 *
 *	  AWAITING_INIT --connection_init--> AUTHORISING --keys reloaded--> READY
 *	        \_______________________________/ \__key known__/   |
 *	                          refused, timed out, ended          v
 *	                                 --------------------->  CLOSING --lws--> CLOSED
 *
 * Memory: the struct sits next to its transport (net/transport.h) in lws'
 * per-session data; what it points to lives in conn->cxt.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_WS_SESSION_H
#define RTSYNC_WS_SESSION_H

#include "lib/ilist.h"
#include "lib/pairingheap.h"
#include "nodes/pg_list.h"

#include "net/transport.h"

/* Which GraphQL-over-WebSocket protocol the client speaks. */
typedef enum RtsyncDialect
{
	RTSYNC_DIALECT_TRANSPORT_WS,	/* graphql-transport-ws (graphql-ws) */
	RTSYNC_DIALECT_GRAPHQL_WS,	/* graphql-ws subprotocol, not yet known
								 * whether AppSync or legacy Apollo */
	RTSYNC_DIALECT_LEGACY,		/* subscriptions-transport-ws */
	RTSYNC_DIALECT_APPSYNC		/* AWS AppSync real-time */
} RtsyncDialect;

typedef enum RtsyncWsState
{
	RTSYNC_WS_AWAITING_INIT,	/* upgraded; no connection_init yet */
	RTSYNC_WS_AUTHORISING,		/* its key is not known yet: waits for the
								 * keys to reload (within the init timeout) */
	RTSYNC_WS_READY,			/* acknowledged: operations run */
	RTSYNC_WS_CLOSING,			/* refused, timed out or ended: nothing more
								 * runs; the transport sends the close */
	RTSYNC_WS_CLOSED			/* lws closed it: on no list */
} RtsyncWsState;

#define RTSYNC_MAX_KEY_LEN 128

struct RtsyncSubscription;

typedef struct RtsyncWsSession
{
	RtsyncConn *conn;			/* its transport */
	RtsyncWsState state;
	RtsyncDialect dialect;
	bool		appsync_handshake;	/* header- subprotocol or header= query */
	char		handshake_key[RTSYNC_MAX_KEY_LEN];	/* API key from the upgrade */
	char	   *handshake_token;	/* Authorization from the upgrade, or NULL */
	char	   *role;			/* the key's or token's role, once READY */
	char		key_hash[65];	/* an API key's hash, to recheck it; "" for
								 * a token */
	char	   *claims;			/* a token's claims (JSON), or NULL */
	char	   *subject;		/* a token's sub, or NULL */
	char	   *identity;		/* control/limits.h's name, once READY */
	bool		identity_counted;	/* in its connections per identity */
	char	   *pending_key;	/* AUTHORISING: the key or token to decide */
	bool		pending_is_token;
	List	   *parked;			/* messages waiting for a reload to finish,
								 * or for a subscription's start point */
	struct RtsyncSubscription *starting;	/* waiting for its start point */
	char	   *resume_after;	/* the connection's resume position, or NULL */
	char	   *resume_by_id;	/* ... per subscription id (JSON object) */
	bool		event_sent;		/* an event went out since the last keep-alive */
	List	   *subscriptions;	/* RtsyncSubscription * */
	uint64		init_deadline;	/* uv_now() by which it must be READY */
	dlist_node	node;			/* in the list of all sessions */
	dlist_node	init_node;		/* AWAITING_INIT, AUTHORISING: init FIFO */
	dlist_node	keys_node;		/* AUTHORISING: keys-waiting list */
	dlist_node	parked_node;	/* while parked != NIL */
	int64		expires_at;		/* a token's exp + leeway (Unix s); 0: none */
	bool		expiring;		/* in the expiry heap */
	pairingheap_node expiry_node;
} RtsyncWsSession;

extern void rtsync_ws_sessions_init(uv_loop_t *loop);
extern void rtsync_ws_sessions_shutdown(void);

/* lws established the connection (its transport is open) */
extern void rtsync_ws_session_open(RtsyncWsSession *s, RtsyncConn *conn,
								   RtsyncDialect dialect);
extern void rtsync_ws_session_set_state(RtsyncWsSession *s, RtsyncWsState state);

/*
 * A token's session ends when the token expires (Unix seconds; 0: never):
 * fn, registered once, is called for it then, unless it closed before.
 */
extern void rtsync_ws_session_expire_at(RtsyncWsSession *s, int64 expires_at);
extern void rtsync_ws_sessions_on_expired(void (*fn) (RtsyncWsSession *s));
/* CLOSING, and the transport closes with code once its queue is out */
extern void rtsync_ws_session_close(RtsyncWsSession *s, int code, const char *reason);

/* Can the session still be answered? */
static inline bool
rtsync_ws_session_live(const RtsyncWsSession *s)
{
	return s->state < RTSYNC_WS_CLOSING && !rtsync_conn_closing(s->conn);
}

/* Keep a message for later, in order; take a session's kept messages. */
extern void rtsync_ws_session_park(RtsyncWsSession *s, const char *msg, size_t len);
extern List *rtsync_ws_session_unpark(RtsyncWsSession *s);

/*
 * Every session in a state or with parked messages, as they are now: fn may
 * change the state or park again; what it does is seen on the next call.
 */
extern void rtsync_ws_sessions_foreach(void (*fn) (RtsyncWsSession *s));
extern void rtsync_ws_sessions_foreach_authorising(void (*fn) (RtsyncWsSession *s));
extern void rtsync_ws_sessions_foreach_parked(void (*fn) (RtsyncWsSession *s));

#endif							/* RTSYNC_WS_SESSION_H */
