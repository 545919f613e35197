/*-------------------------------------------------------------------------
 *
 * ws/protocol.c
 *	  GraphQL over WebSocket, in the three dialects stock clients speak:
 *
 *	  graphql-transport-ws  graphql-ws (enisdenjo), Apollo's GraphQLWsLink
 *	  graphql-ws (legacy)   subscriptions-transport-ws
 *	  graphql-ws (AppSync)  AWS Amplify, aws-appsync-subscription-link
 *
 * See ../shared/reference/protocols.md for the message shapes and close
 * codes. The two graphql-ws dialects share a subprotocol: an AppSync client
 * is recognised by its "header-" subprotocol or "header=" query parameter,
 * or by a connection_init without payload (legacy clients always send their
 * connectionParams object); a start whose payload.data is a string is
 * AppSync too.
 *
 * Bad input gets the protocol's own error, to that client only.
 *
 * Order: a connection's messages are handled in the order they came. While
 * a reload of the schema, keys or grants runs, they wait (are parked) and
 * run once it is done; and once a subscription is accepted, the messages
 * after it wait until it has been started at its start point (the server's
 * WAL insert position, asked for in batches by control/control.c) and acknowledged:
 * a ping sent after a subscribe is answered once the subscription gets
 * every transaction committed from then on.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "control/apikeys.h"
#include "control/identity.h"
#include "control/limits.h"
#include "control/request_log.h"
#include "control/control.h"
#include "base/guard.h"
#include "base/json.h"
#include "base/metrics.h"
#include "base/settings.h"
#include "stream/catchup.h"
#include "stream/registry.h"
#include "ws/operation.h"
#include "ws/protocol.h"
#include "ws/resume.h"

/* AppSync acks promise a ka at least this often. */
#define APPSYNC_CONNECTION_TIMEOUT_MS 300000

typedef struct ClientMessage
{
	JsonbContainer *root;
	char	   *type;
	char	   *id;				/* NULL when absent or not a string */
	bool		has_id;
	JsonbValue	payload;		/* jbvNull when absent */
} ClientMessage;

static MemoryContext message_cxt = NULL;

/* JSON text of an object-valued field, or NULL when absent or null. */
static char *
get_json_text(JsonbContainer *c, const char *key)
{
	JsonbValue	v;

	if (c == NULL || !rtsync_json_get(c, key, &v) || v.type != jbvBinary)
		return NULL;
	return JsonbToCString(NULL, v.val.binary.data, v.val.binary.len);
}

/* Parses a client message; false when it is not a JSON object. */
static bool
parse_message(const char *msg, size_t len, ClientMessage *m)
{
	JsonbValue	v;

	m->root = rtsync_json_parse_object(msg, len);
	if (m->root == NULL)
		return false;
	m->type = rtsync_json_get_string(m->root, "type");
	m->has_id = rtsync_json_get(m->root, "id", &v);
	m->id = rtsync_json_get_string(m->root, "id");
	if (!rtsync_json_get(m->root, "payload", &m->payload))
		m->payload.type = jbvNull;
	return m->type != NULL;
}

static JsonbContainer *
payload_object(ClientMessage *m)
{
	if (m->payload.type == jbvBinary && JsonContainerIsObject(m->payload.val.binary.data))
		return m->payload.val.binary.data;
	return NULL;
}

/* {"type":"<type>"[,"id":"<id>"]<rest>} */
static void
send_simple(RtsyncWsSession *ws, const char *type, const char *id, const char *rest)
{
	StringInfoData s;

	initStringInfo(&s);
	appendStringInfo(&s, "{\"type\":\"%s\"", type);
	if (id)
	{
		appendStringInfoString(&s, ",\"id\":");
		escape_json(&s, id);
	}
	if (rest)
		appendStringInfoString(&s, rest);
	appendStringInfoChar(&s, '}');
	rtsync_conn_send_str(ws->conn, &s);
	pfree(s.data);
}

/* [{"message":...,"locations":[...]},...] with an AppSync errorType when asked */
static void
append_errors(StringInfo s, List *errors, const char *error_type)
{
	ListCell   *lc;

	appendStringInfoChar(s, '[');
	foreach(lc, errors)
	{
		RtsyncGqlError *e = lfirst(lc);

		if (lc != list_head(errors))
			appendStringInfoChar(s, ',');
		appendStringInfoString(s, "{\"message\":");
		escape_json(s, e->message);
		if (e->loc.line > 0)
			appendStringInfo(s, ",\"locations\":[{\"line\":%d,\"column\":%d}]",
							 e->loc.line, e->loc.column);
		if (error_type)
			appendStringInfo(s, ",\"errorType\":\"%s\"", error_type);
		appendStringInfoChar(s, '}');
	}
	appendStringInfoChar(s, ']');
}

static List *
one_error(const char *message)
{
	RtsyncGqlError *e = palloc0(sizeof(RtsyncGqlError));

	e->message = pstrdup(message);
	return list_make1(e);
}

/*
 * An operation's errors, in the dialect's shape; the errorType (AppSync's
 * field) goes to AppSync clients, and to the others too when typed.
 */
static void
send_errors(RtsyncWsSession *ws, const char *id, List *errors, const char *error_type,
			bool typed)
{
	StringInfoData s;

	initStringInfo(&s);
	appendStringInfoString(&s, "{\"type\":\"error\",\"id\":");
	escape_json(&s, id ? id : "");
	appendStringInfoString(&s, ",\"payload\":");
	switch (ws->dialect)
	{
		case RTSYNC_DIALECT_APPSYNC:
			appendStringInfoString(&s, "{\"errors\":");
			append_errors(&s, errors, error_type ? error_type : "ValidationError");
			appendStringInfoChar(&s, '}');
			break;
		default:
			append_errors(&s, errors, typed ? error_type : NULL);
			break;
	}
	appendStringInfoChar(&s, '}');
	rtsync_conn_send_str(ws->conn, &s);
	pfree(s.data);
}

static void
send_operation_errors(RtsyncWsSession *ws, const char *id, List *errors,
					  const char *error_type)
{
	send_errors(ws, id, errors, error_type, false);
}

/*
 * Refuse a connection the way the client's protocol expects: graphql-ws
 * clients see only the close (code, reason); the others get a
 * connection_error with the message first.
 */
static void
refuse_connection_as(RtsyncWsSession *ws, const char *message, const char *error_type,
					 int close_code, const char *close_reason)
{
	StringInfoData s;

	ereport(DEBUG1, (errmsg("rtsync refused a client: %s", message)));
	rtsync_metrics_count(RTSYNC_M_KEYS_REFUSED, 1);

	switch (ws->dialect)
	{
		case RTSYNC_DIALECT_TRANSPORT_WS:
			rtsync_ws_session_close(ws, close_code, close_reason);
			return;
		case RTSYNC_DIALECT_APPSYNC:
			initStringInfo(&s);
			appendStringInfoString(&s, ",\"payload\":{\"errors\":[{\"errorType\":");
			escape_json(&s, error_type);
			appendStringInfoString(&s, ",\"message\":");
			escape_json(&s, message);
			appendStringInfoString(&s, ",\"errorCode\":401}]}");
			send_simple(ws, "connection_error", NULL, s.data);
			pfree(s.data);
			break;
		default:
			initStringInfo(&s);
			appendStringInfoString(&s, ",\"payload\":{\"message\":");
			escape_json(&s, message);
			appendStringInfoChar(&s, '}');
			send_simple(ws, "connection_error", NULL, s.data);
			pfree(s.data);
			break;
	}
	rtsync_ws_session_close(ws, close_code, close_reason);
}

static void
refuse_connection(RtsyncWsSession *ws, const char *message, const char *error_type)
{
	refuse_connection_as(ws, message, error_type, 4403, "Forbidden");
}

/*
 * A token refused or expired: the client learns only which of the two
 * (the reason is in the server log). graphql-ws closes with 4401 for an
 * expired token (its clients then sign in again), 4403 otherwise.
 */
static void
refuse_token(RtsyncWsSession *ws, RtsyncTokenStatus status)
{
	const char *problem = rtsync_token_problem(status);

	refuse_connection_as(ws, problem, "UnauthorizedException",
						 status == RTSYNC_TOKEN_EXPIRED ? 4401 : 4403, problem);
}

/* A token session's token expired (ws/session.c's timer). */
static void
token_expired(RtsyncWsSession *ws)
{
	ereport(DEBUG1, (errmsg("rtsync closes a connection: its token expired")));
	refuse_token(ws, RTSYNC_TOKEN_EXPIRED);
}

/* Signed in with a token rather than an API key? */
static inline bool
signed_in_by_token(const RtsyncWsSession *ws)
{
	return ws->claims != NULL;
}

/*
 * Is the session's sign-in still good: its key neither revoked nor
 * expired, or its token's role one a token may still take?
 */
static bool
still_signed_in(RtsyncWsSession *ws)
{
	if (signed_in_by_token(ws))
		return rtsync_identity_role_allowed(ws->role);
	return rtsync_apikey_recheck(ws->key_hash) == RTSYNC_KEY_OK;
}

static const char *
sign_in_lost(RtsyncWsSession *ws)
{
	return signed_in_by_token(ws) ? "The token's role may no longer be taken." :
		"The API key is no longer valid.";
}

static const char *
key_problem(RtsyncKeyStatus status)
{
	switch (status)
	{
		case RTSYNC_KEY_MISSING:
			return "Valid authorization header not provided.";
		case RTSYNC_KEY_EXPIRED:
			return "API key has expired.";
		default:
			return "You are not authorized to make this call.";
	}
}

/* The key a connection_init carries: x-api-key, or headers.x-api-key. */
static char *
init_payload_key(ClientMessage *m)
{
	JsonbContainer *payload = payload_object(m);
	char	   *key = rtsync_json_get_string(payload, "x-api-key");

	if (key == NULL)
		key = rtsync_json_get_string(rtsync_json_get_object(payload, "headers"), "x-api-key");
	return key;
}

/*
 * The token a connection_init carries: Authorization, or
 * headers.Authorization (either case), as graphql-ws and Apollo clients
 * put it in connectionParams.
 */
static char *
init_payload_token(ClientMessage *m)
{
	JsonbContainer *payload = payload_object(m);
	JsonbContainer *headers = rtsync_json_get_object(payload, "headers");
	char	   *token = rtsync_json_get_string(payload, "Authorization");

	if (token == NULL)
		token = rtsync_json_get_string(payload, "authorization");
	if (token == NULL)
		token = rtsync_json_get_string(headers, "Authorization");
	if (token == NULL)
		token = rtsync_json_get_string(headers, "authorization");
	return token && token[0] ? token : NULL;
}

static void process_message(RtsyncWsSession *ws, const char *msg, size_t len);

static void
send_ack(RtsyncWsSession *ws)
{
	switch (ws->dialect)
	{
		case RTSYNC_DIALECT_TRANSPORT_WS:
			send_simple(ws, "connection_ack", NULL, NULL);
			break;
		case RTSYNC_DIALECT_APPSYNC:
			{
				char		rest[64];

				snprintf(rest, sizeof(rest), ",\"payload\":{\"connectionTimeoutMs\":%d}",
						 APPSYNC_CONNECTION_TIMEOUT_MS);
				send_simple(ws, "connection_ack", NULL, rest);
				send_simple(ws, "ka", NULL, NULL);
				break;
			}
		default:
			send_simple(ws, "connection_ack", NULL, NULL);
			send_simple(ws, "ka", NULL, NULL);
			break;
	}
}

/*
 * The session's identity, counted against rtsync.max_connections_per_identity;
 * false (the connection refused) when it has all it may have.
 */
static bool
admit_identity(RtsyncWsSession *ws, const char *key_hash, const char *subject,
			   const char *role)
{
	char	   *identity = rtsync_identity_name(key_hash, subject, role);

	ws->identity = MemoryContextStrdup(ws->conn->cxt, identity);
	if (!rtsync_limit_connect(identity))
	{
		rtsync_request_log("websocket", identity, role, "connect", NULL,
						   RTSYNC_OUTCOME_LIMITED, 0);
		refuse_connection(ws, "Too many connections for this identity.", "LimitExceededException");
		return false;
	}
	ws->identity_counted = true;
	return true;
}

/*
 * Accepts or refuses the connection's key. A key the cache does not know
 * may have been created a moment ago, before the worker has seen that
 * transaction in the stream: the connection waits for a reload of the keys
 * (bounded by the init timeout) and is decided then.
 */
static void
authorize(RtsyncWsSession *ws, const char *key, bool may_wait)
{
	char		hash[RTSYNC_KEY_HASH_LEN + 1];
	const char *role = NULL;
	RtsyncKeyStatus status = rtsync_apikey_check(key, hash, &role);

	if (status == RTSYNC_KEY_INVALID && may_wait)
	{
		ws->pending_key = MemoryContextStrdup(ws->conn->cxt, key);
		rtsync_ws_session_set_state(ws, RTSYNC_WS_AUTHORISING);
		rtsync_control_reload();
		return;
	}
	if (status != RTSYNC_KEY_OK)
	{
		refuse_connection(ws, key_problem(status), "UnauthorizedException");
		return;
	}
	if (!admit_identity(ws, hash, NULL, role))
		return;
	ws->role = MemoryContextStrdup(ws->conn->cxt, role);
	strlcpy(ws->key_hash, hash, sizeof(ws->key_hash));
	rtsync_ws_session_set_state(ws, RTSYNC_WS_READY);
	send_ack(ws);
}

/*
 * Accepts or refuses the connection's token. A token whose role the worker
 * does not know may name a role granted a moment ago: it waits for a
 * reload like an unknown key. Accepted, the session ends when the token
 * expires.
 */
static void
authorize_token(RtsyncWsSession *ws, const char *token, bool may_wait)
{
	RtsyncIdentity id;
	RtsyncTokenStatus status = rtsync_identity_from_token(token, may_wait, CurrentMemoryContext, &id);
	MemoryContext cxt = ws->conn->cxt;

	if (status == RTSYNC_TOKEN_ROLE_UNKNOWN && may_wait)
	{
		ws->pending_key = MemoryContextStrdup(cxt, token);
		ws->pending_is_token = true;
		rtsync_ws_session_set_state(ws, RTSYNC_WS_AUTHORISING);
		rtsync_control_reload();
		return;
	}
	if (status != RTSYNC_TOKEN_OK)
	{
		refuse_token(ws, status);
		return;
	}
	if (!admit_identity(ws, NULL, id.subject, id.role))
		return;
	ws->role = MemoryContextStrdup(cxt, id.role);
	ws->claims = MemoryContextStrdup(cxt, id.claims);
	ws->subject = id.subject ? MemoryContextStrdup(cxt, id.subject) : NULL;
	ws->key_hash[0] = '\0';
	rtsync_ws_session_set_state(ws, RTSYNC_WS_READY);
	rtsync_ws_session_expire_at(ws, id.expires_at);
	send_ack(ws);
}

/*
 * A parked message runs from the control connection's callback, on libuv's
 * stack rather than inside an lws callback and its guard: an error closes
 * this client, as server.c's guard would, and unwinds no further.
 */
static bool
receive_guarded(RtsyncWsSession *ws, const char *msg, size_t len)
{
	volatile bool ok = true;

	RTSYNC_GUARD(rtsync_protocol_receive(ws, msg, len),
				 {
					 rtsync_ws_session_close(ws, 1011, "internal server error");
					 ok = false;
				 });
	return ok;
}

/*
 * Run a connection's parked messages, in the order they came. Any of them
 * may park the rest again (a subscription to start, a reload asked for).
 */
static void
replay_parked(RtsyncWsSession *ws)
{
	List	   *msgs = rtsync_ws_session_unpark(ws);
	ListCell   *mc;

	foreach(mc, msgs)
	{
		StringInfo	m = lfirst(mc);

		if (!rtsync_ws_session_live(ws) || !receive_guarded(ws, m->data, m->len))
			return;				/* the messages go with conn->cxt */
		pfree(m->data);
		pfree(m);
	}
	list_free(msgs);
}

/* The keys were reloaded: a session that waited for its key is decided. */
static void
decide_key(RtsyncWsSession *ws)
{
	if (!rtsync_ws_session_live(ws))
		return;
	if (ws->pending_is_token)
		authorize_token(ws, ws->pending_key, false);
	else
		authorize(ws, ws->pending_key, false);
}

/*
 * A reload finished (control/'s on_loaded callback): decide every session
 * that waited for its key, then run the messages that waited, in the order
 * they came.
 */
static void
control_loaded(void)
{
	rtsync_ws_sessions_foreach_authorising(decide_key);
	rtsync_ws_sessions_foreach_parked(replay_parked);
}

static void
handle_connection_init(RtsyncWsSession *ws, ClientMessage *m)
{
	char	   *key;
	char	   *token;

	if (ws->state != RTSYNC_WS_AWAITING_INIT)
	{
		if (ws->dialect == RTSYNC_DIALECT_TRANSPORT_WS)
			rtsync_ws_session_close(ws, 4429, "Too many initialisation requests");
		return;
	}
	if (ws->dialect == RTSYNC_DIALECT_GRAPHQL_WS)
		ws->dialect = payload_object(m) ? RTSYNC_DIALECT_LEGACY : RTSYNC_DIALECT_APPSYNC;
	rtsync_ws_resume_take(ws, payload_object(m));

	/* a token wins over a key, the message's over the upgrade's */
	token = init_payload_token(m);
	if (token == NULL && init_payload_key(m) == NULL)
		token = ws->handshake_token;
	if (token != NULL)
	{
		authorize_token(ws, token, true);
		return;
	}
	key = init_payload_key(m);
	if (key == NULL && ws->handshake_key[0] != '\0')
		key = ws->handshake_key;
	if (key == NULL || key[0] == '\0')
	{
		refuse_connection(ws, key_problem(RTSYNC_KEY_MISSING), "UnauthorizedException");
		return;
	}
	authorize(ws, key, true);
}

static RtsyncSubscription *
find_subscription(RtsyncWsSession *ws, const char *id)
{
	ListCell   *lc;

	foreach(lc, ws->subscriptions)
	{
		RtsyncSubscription *sub = lfirst(lc);

		if (strcmp(sub->id, id) == 0)
			return sub;
	}
	return NULL;
}

/*
 * A subscription not yet started can only be dropped by the server (a
 * reload ended it) or with its connection: the client's own messages wait
 * meanwhile. Its connection's parked messages then run after the reload.
 */
static void
drop_subscription(RtsyncWsSession *ws, RtsyncSubscription *sub)
{
	if (ws->starting == sub)
		ws->starting = NULL;
	ws->subscriptions = list_delete_ptr(ws->subscriptions, sub);
	rtsync_registry_unsubscribe(sub);
}

/*
 * The start point arrived: the subscription gets every transaction that
 * commits from now on, and none committed before it was accepted. AppSync
 * acknowledges it (start_ack); the other protocols have no such message,
 * and the connection's next messages, parked meanwhile, now run.
 */
static void
subscription_started(RtsyncLsnWait *wait, XLogRecPtr lsn)
{
	RtsyncSubscription *sub = wait->arg;
	RtsyncWsSession *ws = sub->owner;

	rtsync_registry_start(sub, lsn);
	if (ws->starting == sub)
		ws->starting = NULL;
	if (!rtsync_conn_is_open(ws->conn) || !rtsync_ws_session_live(ws))
		return;
	if (ws->dialect == RTSYNC_DIALECT_APPSYNC)
		send_simple(ws, "start_ack", sub->id, NULL);
	if (ws->parked != NIL && !rtsync_control_busy())
		replay_parked(ws);
}

/* A subscription request refused: counted, and answered with errors. */
static void
refuse_subscription(RtsyncWsSession *ws, const char *id, List *errors,
					const char *error_type)
{
	rtsync_metrics_count(RTSYNC_M_SUBSCRIPTIONS_REFUSED, 1);
	send_operation_errors(ws, id, errors, error_type);
}

static void deliver(RtsyncSubscription *sub, const char *payload, size_t len);
static void end_subscription(RtsyncSubscription *sub, const char *message);

/* A resuming subscription's position is good: AppSync acknowledges it. */
static void
subscription_resumed(RtsyncSubscription *sub)
{
	RtsyncWsSession *ws = sub->owner;

	if (ws->dialect == RTSYNC_DIALECT_APPSYNC && rtsync_ws_session_live(ws))
		send_simple(ws, "start_ack", sub->id, NULL);
}

/*
 * A resume position refused (malformed, too old, across a gap, beyond the
 * end): counted, and answered with its errorType in every dialect, since
 * the client must tell "fetch again" from a mistake.
 */
static void
refuse_position(RtsyncWsSession *ws, const char *id, const char *message,
				const char *error_type)
{
	rtsync_metrics_count(RTSYNC_M_SUBSCRIPTIONS_REFUSED, 1);
	send_errors(ws, id, one_error(message), error_type, true);
}

/* ... or it is not, once the catch-up checked it: refused. */
static void
subscription_refused(RtsyncSubscription *sub, const char *error_type, const char *message)
{
	RtsyncWsSession *ws = sub->owner;
	char	   *id = pstrdup(sub->id);

	drop_subscription(ws, sub);
	if (rtsync_ws_session_live(ws))
		refuse_position(ws, id, message, error_type);
	pfree(id);
}

static size_t
subscription_backlog(RtsyncSubscription *sub)
{
	return ((RtsyncWsSession *) sub->owner)->conn->out_bytes;
}

static void
subscription_too_slow(RtsyncSubscription *sub)
{
	RtsyncWsSession *ws = sub->owner;

	/* counted as slow where every 1013 is (net/transport.c) */
	if (rtsync_ws_session_live(ws))
		rtsync_ws_session_close(ws, 1013, RTSYNC_TOO_SLOW_REASON);
}

/* Where the registry sends a subscription's events: to sub->owner, its session. */
static const RtsyncSubscriptionSink subscription_sink = {
	.deliver = deliver,
	.ended = end_subscription,
	.resumed = subscription_resumed,
	.refused = subscription_refused,
	.backlog = subscription_backlog,
	.too_slow = subscription_too_slow,
};

/*
 * Plans and registers a subscription, and asks for its start point; it is
 * acknowledged once that comes (subscription_started). Returns false
 * (after answering the client) when it is refused.
 */
static bool
start_subscription(RtsyncWsSession *ws, const char *id, const char *query,
				   const char *variables, const char *operation_name,
				   JsonbContainer *start_header, const char **logged_name)
{
	List	   *errors = NIL;
	RtsyncSubscription *sub;
	MemoryContext old;
	char	   *why;
	const char *after;
	const char *problem;

	if (list_length(ws->subscriptions) >= rtsync_max_subscriptions_per_connection)
	{
		char		msg[128];

		snprintf(msg, sizeof(msg), "Max number of %d subscriptions reached",
				 rtsync_max_subscriptions_per_connection);
		refuse_subscription(ws, id, one_error(msg), "MaxSubscriptionsReachedError");
		return false;
	}
	if (query == NULL)
	{
		refuse_subscription(ws, id, one_error("The subscription has no query."), NULL);
		return false;
	}
	sub = rtsync_registry_subscribe(&subscription_sink, ws, ws->conn->cxt, id,
									query, strlen(query), variables,
									operation_name, ws->role, ws->claims, &errors);
	if (sub == NULL)
	{
		refuse_subscription(ws, id, errors, NULL);
		return false;
	}
	/* the request log names it as the document does when the client did not */
	if (operation_name == NULL && sub->plan->operation_name)
		*logged_name = pstrdup(sub->plan->operation_name);
	if (!rtsync_control_may_select(ws->role, sub->plan, &why))
	{
		rtsync_registry_unsubscribe(sub);
		refuse_subscription(ws, id, one_error(why), "Unauthorized");
		return false;
	}
	if (!rtsync_ws_resume_position(ws, id, sub->plan->after, start_header, &after, &problem))
	{
		rtsync_registry_unsubscribe(sub);
		refuse_position(ws, id, problem, "ValidationException");
		return false;
	}
	old = MemoryContextSwitchTo(ws->conn->cxt);
	ws->subscriptions = lappend(ws->subscriptions, sub);
	MemoryContextSwitchTo(old);
	rtsync_metrics_count(RTSYNC_M_SUBSCRIPTIONS_ACCEPTED, 1);
	if (after != NULL)
	{
		/*
		 * resumed: everything after the position comes, so the messages
		 * after it need not wait (the connection's other resuming
		 * subscribes then join the same catch-up)
		 */
		rtsync_catchup_join(sub, after);
		return true;
	}
	ws->starting = sub;
	rtsync_control_insert_lsn(&sub->start_wait, subscription_started, sub);
	return true;
}

/*
 * A request's operation (query, variables, operationName of request):
 * queries and mutations run as over HTTP when the protocol carries them
 * (ws_operations), anything else subscribes.
 */
static void operation_result(RtsyncWsSession *ws, const char *id,
							 const char *result, size_t len);
static void operation_errors(RtsyncWsSession *ws, const char *id, List *errors);

/* How ws/operation.c answers: in this dialect's messages. */
static const RtsyncWsOperationReplies operation_replies = {
	.result = operation_result,
	.errors = operation_errors,
};

static void
start_operation(RtsyncWsSession *ws, const char *id, JsonbContainer *request,
				bool ws_operations, JsonbContainer *start_header)
{
	char	   *query = rtsync_json_get_string(request, "query");
	char	   *variables = get_json_text(request, "variables");
	char	   *operation_name = rtsync_json_get_string(request, "operationName");

	if (!rtsync_limit_take(ws->identity, RTSYNC_RATE_WS_OPERATION))
	{
		send_operation_errors(ws, id, one_error("Rate limit exceeded for this identity (rtsync.identity_operations_per_second)."),
							  "LimitExceededException");
		rtsync_request_log("websocket", ws->identity, ws->role, "operation", operation_name,
						   RTSYNC_OUTCOME_LIMITED, 0);
		return;
	}
	if (ws_operations &&
		rtsync_ws_operation_start(ws, id, query, variables, operation_name,
								  &operation_replies))
		return;
	{
		const char *logged_name = operation_name;
		bool		started = start_subscription(ws, id, query, variables, operation_name,
												 start_header, &logged_name);

		rtsync_request_log("websocket", ws->identity, ws->role, "subscription", logged_name,
						   started ? RTSYNC_OUTCOME_OK : RTSYNC_OUTCOME_ERROR, 0);
	}
}

/* graphql-transport-ws */
static void
receive_transport_ws(RtsyncWsSession *ws, ClientMessage *m)
{
	if (strcmp(m->type, "connection_init") == 0)
		handle_connection_init(ws, m);
	else if (strcmp(m->type, "ping") == 0)
	{
		char	   *payload = get_json_text(m->root, "payload");

		if (payload)
			send_simple(ws, "pong", NULL, psprintf(",\"payload\":%s", payload));
		else
			send_simple(ws, "pong", NULL, NULL);
	}
	else if (strcmp(m->type, "pong") == 0)
		return;
	else if (strcmp(m->type, "subscribe") == 0)
	{
		JsonbContainer *payload = payload_object(m);

		if (m->id == NULL || m->id[0] == '\0' || payload == NULL)
		{
			rtsync_ws_session_close(ws, 4400, "Invalid message received");
			return;
		}
		if (ws->state != RTSYNC_WS_READY)
		{
			rtsync_ws_session_close(ws, 4401, "Unauthorized");
			return;
		}
		if (find_subscription(ws, m->id) || rtsync_ws_operation_running(ws, m->id))
		{
			char		reason[123];

			snprintf(reason, sizeof(reason), "Subscriber for %s already exists", m->id);
			rtsync_ws_session_close(ws, 4409, reason);
			return;
		}
		start_operation(ws, m->id, payload, true, NULL);
	}
	else if (strcmp(m->type, "complete") == 0)
	{
		RtsyncSubscription *sub;

		if (m->id == NULL)
		{
			rtsync_ws_session_close(ws, 4400, "Invalid message received");
			return;
		}
		sub = find_subscription(ws, m->id);
		if (sub)
			drop_subscription(ws, sub);
	}
	else
		rtsync_ws_session_close(ws, 4400, "Invalid message received");
}

/* legacy graphql-ws and AppSync share their message names */
static void
receive_graphql_ws(RtsyncWsSession *ws, ClientMessage *m)
{
	if (strcmp(m->type, "connection_init") == 0)
		handle_connection_init(ws, m);
	else if (strcmp(m->type, "start") == 0)
	{
		JsonbContainer *payload = payload_object(m);
		char	   *data = rtsync_json_get_string(payload, "data");
		RtsyncSubscription *old;

		if (m->id == NULL || payload == NULL)
		{
			send_operation_errors(ws, m->id, one_error("A start message needs an id and a payload."),
								  "BadRequestException");
			return;
		}
		if (data != NULL && ws->dialect != RTSYNC_DIALECT_APPSYNC)
			ws->dialect = RTSYNC_DIALECT_APPSYNC;
		if (ws->state != RTSYNC_WS_READY)
		{
			send_operation_errors(ws, m->id, one_error("connection_init must come first."),
								  "UnauthorizedException");
			return;
		}
		old = find_subscription(ws, m->id);
		if (ws->dialect == RTSYNC_DIALECT_APPSYNC)
		{
			JsonbContainer *auth = rtsync_json_get_object(rtsync_json_get_object(payload, "extensions"), "authorization");
			char	   *key = rtsync_json_get_string(auth, "x-api-key");
			char	   *token = rtsync_json_get_string(auth, "Authorization");
			JsonbContainer *request = NULL;

			/*
			 * per-start token (Amplify sends one with every start): valid
			 * now, and the same user the connection signed in as
			 */
			if (token == NULL)
				token = rtsync_json_get_string(auth, "authorization");
			if (token && token[0])
			{
				RtsyncIdentity id;
				RtsyncTokenStatus status = rtsync_identity_from_token(token, false, CurrentMemoryContext, &id);

				if (status == RTSYNC_TOKEN_OK &&
					(!signed_in_by_token(ws) || strcmp(id.role, ws->role) != 0 ||
					 (id.subject == NULL) != (ws->subject == NULL) ||
					 (id.subject && strcmp(id.subject, ws->subject) != 0)))
				{
					ereport(LOG,
							(errmsg("rtsync refused a start: its token names another user than the connection's")));
					status = RTSYNC_TOKEN_INVALID;
				}
				if (status != RTSYNC_TOKEN_OK)
				{
					send_operation_errors(ws, m->id, one_error(rtsync_token_problem(status)),
										  "UnauthorizedException");
					return;
				}
				/* a fresher token of the same user keeps the connection longer */
				if (ws->expires_at != 0 && (id.expires_at == 0 || id.expires_at > ws->expires_at))
					rtsync_ws_session_expire_at(ws, id.expires_at);
			}

			/* per-start authorization: a key given here must be valid too */
			if (key)
			{
				char		hash[RTSYNC_KEY_HASH_LEN + 1];
				const char *role;
				RtsyncKeyStatus status = rtsync_apikey_check(key, hash, &role);

				if (status != RTSYNC_KEY_OK)
				{
					send_operation_errors(ws, m->id, one_error(key_problem(status)),
										  "UnauthorizedException");
					return;
				}
			}
			if (old)
			{
				send_operation_errors(ws, m->id, one_error("A subscription with this id is already running."),
									  "DuplicatedOperationError");
				return;
			}
			if (data)
				request = rtsync_json_parse_object(data, strlen(data));
			if (request == NULL)
			{
				send_operation_errors(ws, m->id, one_error("payload.data must be a JSON string holding the query and variables."),
									  "BadRequestException");
				return;
			}
			/* start_ack follows once the subscription has started */
			start_operation(ws, m->id, request, false, auth);
			return;
		}
		/* legacy: the same id again replaces the running operation */
		if (old)
			drop_subscription(ws, old);
		start_operation(ws, m->id, payload, true, NULL);
	}
	else if (strcmp(m->type, "stop") == 0)
	{
		RtsyncSubscription *sub = m->id ? find_subscription(ws, m->id) : NULL;

		if (sub)
			drop_subscription(ws, sub);
		if (m->id)
			send_simple(ws, "complete", m->id, NULL);
	}
	else if (strcmp(m->type, "connection_terminate") == 0)
		rtsync_ws_session_close(ws, 1000, "connection_terminate");
	else if (ws->dialect == RTSYNC_DIALECT_APPSYNC)
		send_operation_errors(ws, m->id, one_error(psprintf("Unsupported message type \"%s\".", m->type)),
							  "UnsupportedOperation");
	else
		send_simple(ws, "connection_error", NULL,
					",\"payload\":{\"message\":\"Invalid message type!\"}");
}

static void
receive_invalid(RtsyncWsSession *ws)
{
	switch (ws->dialect)
	{
		case RTSYNC_DIALECT_TRANSPORT_WS:
			rtsync_ws_session_close(ws, 4400, "Invalid message received");
			break;
		case RTSYNC_DIALECT_APPSYNC:
			send_simple(ws, "error", NULL,
						",\"payload\":{\"errors\":[{\"errorType\":\"BadRequestException\",\"message\":\"The message is not a JSON object with a type.\"}]}");
			break;
		default:
			send_simple(ws, "connection_error", NULL,
						",\"payload\":{\"message\":\"Message must be a JSON object with a type.\"}");
			break;
	}
}

/*
 * A message from a client. While a reload of the schema, keys or grants is
 * running, or a subscription of the connection waits for its start point,
 * it waits (in order) and runs once that is done.
 */
void
rtsync_protocol_receive(RtsyncWsSession *ws, const char *msg, size_t len)
{
	if (rtsync_control_busy() || ws->parked != NIL || ws->starting != NULL)
	{
		rtsync_ws_session_park(ws, msg, len);
		return;
	}
	process_message(ws, msg, len);
}

static void
process_message(RtsyncWsSession *ws, const char *msg, size_t len)
{
	ClientMessage m;
	MemoryContext old;

	if (message_cxt == NULL)
		message_cxt = AllocSetContextCreate(TopMemoryContext, "rtsync message",
											ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(message_cxt);
	if (!parse_message(msg, len, &m))
		receive_invalid(ws);
	else if (ws->dialect == RTSYNC_DIALECT_TRANSPORT_WS)
		receive_transport_ws(ws, &m);
	else
		receive_graphql_ws(ws, &m);
	MemoryContextSwitchTo(old);
	MemoryContextReset(message_cxt);
}

/*
 * The keep-alive message, with the connection's position: every event up
 * to it has been sent, so a subscription whose filter rarely matches can
 * still resume from a recent position. graphql-ws hands a ping's payload
 * to on.ping: it is sent when no event went out since the last keep-alive
 * (an event carries a fresher position). AppSync and legacy clients get
 * "ka" as ever (stock ones ignore its payload). No position while the
 * connection catches up, or while a change is being judged (it is not
 * sent yet).
 */
static void
send_keepalive(RtsyncWsSession *ws)
{
	const char *position = rtsync_registry_delivered_sequence();
	char	   *rest = NULL;

	if (position != NULL && position[0] != '\0' && ws->subscriptions != NIL &&
		rtsync_catchup_of(ws) == NULL)
		rest = psprintf(",\"payload\":{\"sequenceNumber\":\"%s\"}", position);
	if (ws->dialect != RTSYNC_DIALECT_TRANSPORT_WS)
		send_simple(ws, "ka", NULL, rest);
	else if (rest != NULL && !ws->event_sent)
		send_simple(ws, "ping", NULL, rest);
	ws->event_sent = false;
}

/*
 * Keep-alive: AppSync and legacy clients expect "ka"; graphql-transport-ws
 * clients get WebSocket pings from lws, and a ping message with the
 * position when there is one. Also where an expired or revoked key is
 * noticed on a quiet connection.
 */
void
rtsync_protocol_keepalive(RtsyncWsSession *ws)
{
	if (ws->state != RTSYNC_WS_READY || !rtsync_ws_session_live(ws))
		return;
	if (!still_signed_in(ws))
	{
		refuse_connection(ws, sign_in_lost(ws), "UnauthorizedException");
		return;
	}
	send_keepalive(ws);
}

void
rtsync_protocol_closed(RtsyncWsSession *ws)
{
	ListCell   *lc;

	rtsync_ws_operations_closed(ws);
	ws->starting = NULL;
	foreach(lc, ws->subscriptions)
		rtsync_registry_unsubscribe(lfirst(lc));
	ws->subscriptions = NIL;
	if (ws->identity_counted)
		rtsync_limit_disconnect(ws->identity);
	ws->identity_counted = false;
}

/* A query's or mutation's answer (ws/operation.c), then its end. */
static void
operation_result(RtsyncWsSession *ws, const char *id, const char *result,
								 size_t len)
{
	StringInfoData s;

	initStringInfo(&s);
	appendStringInfo(&s, "{\"type\":\"%s\",\"id\":",
					 ws->dialect == RTSYNC_DIALECT_TRANSPORT_WS ? "next" : "data");
	escape_json(&s, id);
	appendStringInfoString(&s, ",\"payload\":");
	appendBinaryStringInfo(&s, result, len);
	appendStringInfoChar(&s, '}');
	rtsync_conn_send_str(ws->conn, &s);
	pfree(s.data);
	send_simple(ws, "complete", id, NULL);
}

static void
operation_errors(RtsyncWsSession *ws, const char *id, List *errors)
{
	send_operation_errors(ws, id, errors, NULL);
}

/* An event for one subscription: payload is {"data":{...}}. */
static void
deliver(RtsyncSubscription *sub, const char *payload, size_t len)
{
	RtsyncWsSession *ws = sub->owner;

	/* the envelope up to the payload is the same for every event: made once */
	if (sub->envelope == NULL)
	{
		StringInfoData s;
		MemoryContext old = MemoryContextSwitchTo(sub->cxt);

		initStringInfo(&s);
		appendStringInfo(&s, "{\"type\":\"%s\",\"id\":",
						 ws->dialect == RTSYNC_DIALECT_TRANSPORT_WS ? "next" : "data");
		escape_json(&s, sub->id);
		appendStringInfoString(&s, ",\"payload\":");
		sub->envelope = s.data;
		sub->envelope_len = s.len;
		MemoryContextSwitchTo(old);
	}
	rtsync_conn_send_parts(ws->conn, sub->envelope, sub->envelope_len, payload, len, "}", 1);
	ws->event_sent = true;		/* its position is fresh (send_keepalive) */
	if (rtsync_ws_session_live(ws))	/* else dropped: closing, or too slow */
		rtsync_metrics_count(RTSYNC_M_EVENTS_DELIVERED, 1);
}

/* The server ends a subscription (e.g. its table was unpublished). */
static void
end_subscription(RtsyncSubscription *sub, const char *message)
{
	RtsyncWsSession *ws = sub->owner;
	char	   *id = pstrdup(sub->id);

	List	   *errors = one_error(message);

	drop_subscription(ws, sub);
	send_operation_errors(ws, id, errors, "SubscriptionEnded");
	if (ws->dialect != RTSYNC_DIALECT_TRANSPORT_WS)
		send_simple(ws, "complete", id, NULL);
	pfree(((RtsyncGqlError *) linitial(errors))->message);
	list_free_deep(errors);
	pfree(id);
}

/* Re-check a session's key or token role after the keys or roles changed. */
static void
recheck_key(RtsyncWsSession *ws)
{
	if (ws->state == RTSYNC_WS_READY && !still_signed_in(ws))
		refuse_connection(ws, sign_in_lost(ws), "UnauthorizedException");
}

/*
 * Re-check every subscription of a connection after the grants changed: one
 * whose role may no longer read its table or a column it uses is ended.
 */
static void
recheck_privileges(RtsyncWsSession *ws)
{
	List	   *subs;
	ListCell   *lc;

	if (ws->state != RTSYNC_WS_READY || !rtsync_ws_session_live(ws) || ws->subscriptions == NIL)
		return;
	subs = list_copy(ws->subscriptions);
	foreach(lc, subs)
	{
		RtsyncSubscription *sub = lfirst(lc);
		char	   *why;

		if (!rtsync_control_may_select(ws->role, sub->plan, &why))
		{
			end_subscription(sub, why);
			pfree(why);
		}
	}
	list_free(subs);
}

/*
 * Keys and grants were loaded (control/'s on_access callback): every
 * session whose key is gone or expired is closed now, and every
 * subscription its role may no longer read is ended.
 */
static void
access_loaded(void)
{
	rtsync_ws_sessions_foreach(recheck_key);
	rtsync_ws_sessions_foreach(recheck_privileges);
}

/* At start, before control/ loads: hear of its loads. */
void
rtsync_protocol_init(void)
{
	rtsync_control_on_access(access_loaded);
	rtsync_control_on_loaded(control_loaded);
	rtsync_ws_sessions_on_expired(token_expired);
}
