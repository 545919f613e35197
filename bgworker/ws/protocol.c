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
#include "control/control.h"
#include "base/guard.h"
#include "base/metrics.h"
#include "ws/protocol.h"
#include "ws/operation.h"
#include "stream/registry.h"
#include "base/settings.h"

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

static bool
get_field(JsonbContainer *c, const char *key, JsonbValue *out)
{
	return getKeyJsonValueFromContainer(c, key, strlen(key), out) != NULL;
}

static char *
get_string(JsonbContainer *c, const char *key)
{
	JsonbValue	v;

	if (c == NULL || !get_field(c, key, &v) || v.type != jbvString)
		return NULL;
	return pnstrdup(v.val.string.val, v.val.string.len);
}

static JsonbContainer *
get_object(JsonbContainer *c, const char *key)
{
	JsonbValue	v;

	if (c == NULL || !get_field(c, key, &v) || v.type != jbvBinary ||
		!JsonContainerIsObject(v.val.binary.data))
		return NULL;
	return v.val.binary.data;
}

/* JSON text of an object-valued field, or NULL when absent or null. */
static char *
get_json_text(JsonbContainer *c, const char *key)
{
	JsonbValue	v;

	if (c == NULL || !get_field(c, key, &v) || v.type != jbvBinary)
		return NULL;
	return JsonbToCString(NULL, v.val.binary.data, v.val.binary.len);
}

/*
 * JSON text as a jsonb object, or NULL when it is not valid JSON or not an
 * object. jsonb_in reports bad input with ERROR: caught here, so that it
 * never unwinds through libwebsockets.
 */
static JsonbContainer *
parse_json_object(const char *text, size_t len)
{
	Jsonb	   *jb = NULL;

	PG_TRY();
	{
		jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
												CStringGetDatum(pnstrdup(text, len))));
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(message_cxt);
		FlushErrorState();
		jb = NULL;
	}
	PG_END_TRY();
	if (jb == NULL || !JB_ROOT_IS_OBJECT(jb))
		return NULL;
	return &jb->root;
}

/* Parses a client message; false when it is not a JSON object. */
static bool
parse_message(const char *msg, size_t len, ClientMessage *m)
{
	JsonbValue	v;

	m->root = parse_json_object(msg, len);
	if (m->root == NULL)
		return false;
	m->type = get_string(m->root, "type");
	m->has_id = get_field(m->root, "id", &v);
	m->id = get_string(m->root, "id");
	if (!get_field(m->root, "payload", &m->payload))
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
send_simple(RtsyncConn *conn, const char *type, const char *id, const char *rest)
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
	rtsync_conn_send_str(conn, &s);
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

/* An operation's errors, in the dialect's shape. */
static void
send_operation_errors(RtsyncConn *conn, const char *id, List *errors,
					  const char *error_type)
{
	StringInfoData s;

	initStringInfo(&s);
	appendStringInfoString(&s, "{\"type\":\"error\",\"id\":");
	escape_json(&s, id ? id : "");
	appendStringInfoString(&s, ",\"payload\":");
	switch (conn->dialect)
	{
		case RTSYNC_DIALECT_APPSYNC:
			appendStringInfoString(&s, "{\"errors\":");
			append_errors(&s, errors, error_type ? error_type : "ValidationError");
			appendStringInfoChar(&s, '}');
			break;
		default:
			append_errors(&s, errors, NULL);
			break;
	}
	appendStringInfoChar(&s, '}');
	rtsync_conn_send_str(conn, &s);
	pfree(s.data);
}

/* Refuse a connection the way the client's protocol expects. */
static void
refuse_connection(RtsyncConn *conn, const char *message, const char *error_type)
{
	StringInfoData s;

	ereport(DEBUG1, (errmsg("rtsync refused a client: %s", message)));
	rtsync_metrics_count(RTSYNC_M_KEYS_REFUSED, 1);

	switch (conn->dialect)
	{
		case RTSYNC_DIALECT_TRANSPORT_WS:
			rtsync_conn_close(conn, 4403, "Forbidden");
			return;
		case RTSYNC_DIALECT_APPSYNC:
			initStringInfo(&s);
			appendStringInfoString(&s, ",\"payload\":{\"errors\":[{\"errorType\":");
			escape_json(&s, error_type);
			appendStringInfoString(&s, ",\"message\":");
			escape_json(&s, message);
			appendStringInfoString(&s, ",\"errorCode\":401}]}");
			send_simple(conn, "connection_error", NULL, s.data);
			pfree(s.data);
			break;
		default:
			initStringInfo(&s);
			appendStringInfoString(&s, ",\"payload\":{\"message\":");
			escape_json(&s, message);
			appendStringInfoChar(&s, '}');
			send_simple(conn, "connection_error", NULL, s.data);
			pfree(s.data);
			break;
	}
	rtsync_conn_close(conn, 4403, "Forbidden");
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
	char	   *key = get_string(payload, "x-api-key");

	if (key == NULL)
		key = get_string(get_object(payload, "headers"), "x-api-key");
	return key;
}

/* Connections whose key was unknown, waiting for the keys to be reloaded. */
static List *parked = NIL;

/* Connections with messages waiting for a reload (conn->parked). */
static List *parked_messages = NIL;

static void process_message(RtsyncConn *conn, const char *msg, size_t len);

static void
send_ack(RtsyncConn *conn)
{
	switch (conn->dialect)
	{
		case RTSYNC_DIALECT_TRANSPORT_WS:
			send_simple(conn, "connection_ack", NULL, NULL);
			break;
		case RTSYNC_DIALECT_APPSYNC:
			{
				char		rest[64];

				snprintf(rest, sizeof(rest), ",\"payload\":{\"connectionTimeoutMs\":%d}",
						 APPSYNC_CONNECTION_TIMEOUT_MS);
				send_simple(conn, "connection_ack", NULL, rest);
				send_simple(conn, "ka", NULL, NULL);
				break;
			}
		default:
			send_simple(conn, "connection_ack", NULL, NULL);
			send_simple(conn, "ka", NULL, NULL);
			break;
	}
}

/*
 * Accepts or refuses the connection's key. A key the cache does not know
 * may have been created a moment ago, before the worker has seen that
 * transaction in the stream: the connection waits for a reload of the keys
 * (bounded by the init timeout) and is decided then.
 */
static void
authorize(RtsyncConn *conn, const char *key, bool may_wait)
{
	char		hash[RTSYNC_KEY_HASH_LEN + 1];
	const char *role = NULL;
	RtsyncKeyStatus status = rtsync_apikey_check(key, hash, &role);

	if (status == RTSYNC_KEY_INVALID && may_wait)
	{
		MemoryContext old = MemoryContextSwitchTo(conn->cxt);

		conn->pending_key = pstrdup(key);
		MemoryContextSwitchTo(TopMemoryContext);
		parked = lappend(parked, conn);
		MemoryContextSwitchTo(old);
		rtsync_control_reload();
		return;
	}
	if (status != RTSYNC_KEY_OK)
	{
		refuse_connection(conn, key_problem(status), "UnauthorizedException");
		return;
	}
	conn->role = MemoryContextStrdup(conn->cxt, role);
	strlcpy(conn->key_hash, hash, sizeof(conn->key_hash));
	conn->acked = true;
	send_ack(conn);
}

/*
 * A parked message runs from the control connection's callback, on libuv's
 * stack rather than inside an lws callback and its guard: an error closes
 * this client, as server.c's guard would, and unwinds no further.
 */
static bool
receive_guarded(RtsyncConn *conn, const char *msg, size_t len)
{
	volatile bool ok = true;

	RTSYNC_GUARD(rtsync_protocol_receive(conn, msg, len),
				 {
					 rtsync_conn_close(conn, 1011, "internal server error");
					 ok = false;
				 });
	return ok;
}

/*
 * Run a connection's parked messages, in the order they came. Any of them
 * may park the rest again (a subscription to start, a reload asked for).
 */
static void
replay_parked(RtsyncConn *conn)
{
	List	   *msgs = conn->parked;
	ListCell   *mc;

	conn->parked = NIL;
	foreach(mc, msgs)
	{
		StringInfo	m = lfirst(mc);

		if (conn->cxt == NULL || conn->close_code != 0 ||
			!receive_guarded(conn, m->data, m->len))
			return;				/* the messages go with conn->cxt */
		pfree(m->data);
		pfree(m);
	}
	list_free(msgs);
}

/*
 * A reload finished (control/'s on_loaded callback): decide every
 * connection that waited for its key, then run the messages that waited,
 * in the order they came.
 */
static void
control_loaded(void)
{
	List	   *waiting = parked;
	ListCell   *lc;

	parked = NIL;
	foreach(lc, waiting)
	{
		RtsyncConn *conn = lfirst(lc);

		if (conn->cxt && conn->close_code == 0)
			authorize(conn, conn->pending_key, false);
	}
	list_free(waiting);

	waiting = parked_messages;
	parked_messages = NIL;
	foreach(lc, waiting)
		replay_parked((RtsyncConn *) lfirst(lc));
	list_free(waiting);
}

static void
handle_connection_init(RtsyncConn *conn, ClientMessage *m)
{
	char	   *key;

	if (conn->init_received)
	{
		if (conn->dialect == RTSYNC_DIALECT_TRANSPORT_WS)
			rtsync_conn_close(conn, 4429, "Too many initialisation requests");
		return;
	}
	conn->init_received = true;
	if (conn->dialect == RTSYNC_DIALECT_GRAPHQL_WS)
		conn->dialect = payload_object(m) ? RTSYNC_DIALECT_LEGACY : RTSYNC_DIALECT_APPSYNC;

	key = init_payload_key(m);
	if (key == NULL && conn->handshake_key[0] != '\0')
		key = conn->handshake_key;
	if (key == NULL || key[0] == '\0')
	{
		refuse_connection(conn, key_problem(RTSYNC_KEY_MISSING), "UnauthorizedException");
		return;
	}
	authorize(conn, key, true);
}

static RtsyncSubscription *
find_subscription(RtsyncConn *conn, const char *id)
{
	ListCell   *lc;

	foreach(lc, conn->subscriptions)
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
drop_subscription(RtsyncConn *conn, RtsyncSubscription *sub)
{
	if (conn->starting == sub)
		conn->starting = NULL;
	conn->subscriptions = list_delete_ptr(conn->subscriptions, sub);
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
	RtsyncConn *conn = sub->owner;

	rtsync_registry_start(sub, lsn);
	if (conn->starting == sub)
		conn->starting = NULL;
	if (conn->cxt == NULL || conn->close_code != 0)
		return;
	if (conn->dialect == RTSYNC_DIALECT_APPSYNC)
		send_simple(conn, "start_ack", sub->id, NULL);
	if (conn->parked != NIL && !rtsync_control_busy())
	{
		parked_messages = list_delete_ptr(parked_messages, conn);
		replay_parked(conn);
	}
}

/* A subscription request refused: counted, and answered with errors. */
static void
refuse_subscription(RtsyncConn *conn, const char *id, List *errors,
					const char *error_type)
{
	rtsync_metrics_count(RTSYNC_M_SUBSCRIPTIONS_REFUSED, 1);
	send_operation_errors(conn, id, errors, error_type);
}

static void deliver(RtsyncSubscription *sub, const char *payload, size_t len);
static void end_subscription(RtsyncSubscription *sub, const char *message);

/* Where the registry sends a subscription's events: to sub->owner, its connection. */
static const RtsyncSubscriptionSink subscription_sink = {
	.deliver = deliver,
	.ended = end_subscription,
};

/*
 * Plans and registers a subscription, and asks for its start point; it is
 * acknowledged once that comes (subscription_started). Returns false
 * (after answering the client) when it is refused.
 */
static bool
start_subscription(RtsyncConn *conn, const char *id, const char *query,
				   const char *variables, const char *operation_name)
{
	List	   *errors = NIL;
	RtsyncSubscription *sub;
	MemoryContext old;
	char	   *why;

	if (list_length(conn->subscriptions) >= rtsync_max_subscriptions_per_connection)
	{
		char		msg[128];

		snprintf(msg, sizeof(msg), "Max number of %d subscriptions reached",
				 rtsync_max_subscriptions_per_connection);
		refuse_subscription(conn, id, one_error(msg), "MaxSubscriptionsReachedError");
		return false;
	}
	if (query == NULL)
	{
		refuse_subscription(conn, id, one_error("The subscription has no query."), NULL);
		return false;
	}
	sub = rtsync_registry_subscribe(&subscription_sink, conn, conn->cxt, id,
									query, strlen(query), variables,
									operation_name, &errors);
	if (sub == NULL)
	{
		refuse_subscription(conn, id, errors, NULL);
		return false;
	}
	if (!rtsync_control_may_select(conn->role, sub->plan, &why))
	{
		rtsync_registry_unsubscribe(sub);
		refuse_subscription(conn, id, one_error(why), "Unauthorized");
		return false;
	}
	old = MemoryContextSwitchTo(conn->cxt);
	conn->subscriptions = lappend(conn->subscriptions, sub);
	MemoryContextSwitchTo(old);
	conn->starting = sub;
	rtsync_metrics_count(RTSYNC_M_SUBSCRIPTIONS_ACCEPTED, 1);
	rtsync_control_insert_lsn(&sub->start_wait, subscription_started, sub);
	return true;
}

/*
 * A request's operation (query, variables, operationName of request):
 * queries and mutations run as over HTTP when the protocol carries them
 * (ws_operations), anything else subscribes.
 */
static void
start_operation(RtsyncConn *conn, const char *id, JsonbContainer *request,
				bool ws_operations)
{
	char	   *query = get_string(request, "query");
	char	   *variables = get_json_text(request, "variables");
	char	   *operation_name = get_string(request, "operationName");

	if (ws_operations &&
		rtsync_ws_operation_start(conn, id, query, variables, operation_name))
		return;
	start_subscription(conn, id, query, variables, operation_name);
}

/* graphql-transport-ws */
static void
receive_transport_ws(RtsyncConn *conn, ClientMessage *m)
{
	if (strcmp(m->type, "connection_init") == 0)
		handle_connection_init(conn, m);
	else if (strcmp(m->type, "ping") == 0)
	{
		char	   *payload = get_json_text(m->root, "payload");

		if (payload)
			send_simple(conn, "pong", NULL, psprintf(",\"payload\":%s", payload));
		else
			send_simple(conn, "pong", NULL, NULL);
	}
	else if (strcmp(m->type, "pong") == 0)
		return;
	else if (strcmp(m->type, "subscribe") == 0)
	{
		JsonbContainer *payload = payload_object(m);

		if (m->id == NULL || m->id[0] == '\0' || payload == NULL)
		{
			rtsync_conn_close(conn, 4400, "Invalid message received");
			return;
		}
		if (!conn->acked)
		{
			rtsync_conn_close(conn, 4401, "Unauthorized");
			return;
		}
		if (find_subscription(conn, m->id) || rtsync_ws_operation_running(conn, m->id))
		{
			char		reason[123];

			snprintf(reason, sizeof(reason), "Subscriber for %s already exists", m->id);
			rtsync_conn_close(conn, 4409, reason);
			return;
		}
		start_operation(conn, m->id, payload, true);
	}
	else if (strcmp(m->type, "complete") == 0)
	{
		RtsyncSubscription *sub;

		if (m->id == NULL)
		{
			rtsync_conn_close(conn, 4400, "Invalid message received");
			return;
		}
		sub = find_subscription(conn, m->id);
		if (sub)
			drop_subscription(conn, sub);
	}
	else
		rtsync_conn_close(conn, 4400, "Invalid message received");
}

/* legacy graphql-ws and AppSync share their message names */
static void
receive_graphql_ws(RtsyncConn *conn, ClientMessage *m)
{
	if (strcmp(m->type, "connection_init") == 0)
		handle_connection_init(conn, m);
	else if (strcmp(m->type, "start") == 0)
	{
		JsonbContainer *payload = payload_object(m);
		char	   *data = get_string(payload, "data");
		RtsyncSubscription *old;

		if (m->id == NULL || payload == NULL)
		{
			send_operation_errors(conn, m->id, one_error("A start message needs an id and a payload."),
								  "BadRequestException");
			return;
		}
		if (data != NULL && conn->dialect != RTSYNC_DIALECT_APPSYNC)
			conn->dialect = RTSYNC_DIALECT_APPSYNC;
		if (!conn->acked)
		{
			send_operation_errors(conn, m->id, one_error("connection_init must come first."),
								  "UnauthorizedException");
			return;
		}
		old = find_subscription(conn, m->id);
		if (conn->dialect == RTSYNC_DIALECT_APPSYNC)
		{
			JsonbContainer *auth = get_object(get_object(payload, "extensions"), "authorization");
			char	   *key = get_string(auth, "x-api-key");
			JsonbContainer *request = NULL;

			/* per-start authorization: a key given here must be valid too */
			if (key)
			{
				char		hash[RTSYNC_KEY_HASH_LEN + 1];
				const char *role;
				RtsyncKeyStatus status = rtsync_apikey_check(key, hash, &role);

				if (status != RTSYNC_KEY_OK)
				{
					send_operation_errors(conn, m->id, one_error(key_problem(status)),
										  "UnauthorizedException");
					return;
				}
			}
			if (old)
			{
				send_operation_errors(conn, m->id, one_error("A subscription with this id is already running."),
									  "DuplicatedOperationError");
				return;
			}
			if (data)
				request = parse_json_object(data, strlen(data));
			if (request == NULL)
			{
				send_operation_errors(conn, m->id, one_error("payload.data must be a JSON string holding the query and variables."),
									  "BadRequestException");
				return;
			}
			/* start_ack follows once the subscription has started */
			start_operation(conn, m->id, request, false);
			return;
		}
		/* legacy: the same id again replaces the running operation */
		if (old)
			drop_subscription(conn, old);
		start_operation(conn, m->id, payload, true);
	}
	else if (strcmp(m->type, "stop") == 0)
	{
		RtsyncSubscription *sub = m->id ? find_subscription(conn, m->id) : NULL;

		if (sub)
			drop_subscription(conn, sub);
		if (m->id)
			send_simple(conn, "complete", m->id, NULL);
	}
	else if (strcmp(m->type, "connection_terminate") == 0)
		rtsync_conn_close(conn, 1000, "connection_terminate");
	else if (conn->dialect == RTSYNC_DIALECT_APPSYNC)
		send_operation_errors(conn, m->id, one_error(psprintf("Unsupported message type \"%s\".", m->type)),
							  "UnsupportedOperation");
	else
		send_simple(conn, "connection_error", NULL,
					",\"payload\":{\"message\":\"Invalid message type!\"}");
}

static void
receive_invalid(RtsyncConn *conn)
{
	switch (conn->dialect)
	{
		case RTSYNC_DIALECT_TRANSPORT_WS:
			rtsync_conn_close(conn, 4400, "Invalid message received");
			break;
		case RTSYNC_DIALECT_APPSYNC:
			send_simple(conn, "error", NULL,
						",\"payload\":{\"errors\":[{\"errorType\":\"BadRequestException\",\"message\":\"The message is not a JSON object with a type.\"}]}");
			break;
		default:
			send_simple(conn, "connection_error", NULL,
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
rtsync_protocol_receive(RtsyncConn *conn, const char *msg, size_t len)
{
	if (rtsync_control_busy() || conn->parked != NIL || conn->starting != NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(conn->cxt);
		StringInfo	copy = makeStringInfo();

		appendBinaryStringInfo(copy, msg, len);
		if (conn->parked == NIL)
		{
			MemoryContextSwitchTo(TopMemoryContext);
			parked_messages = lappend(parked_messages, conn);
			MemoryContextSwitchTo(conn->cxt);
		}
		conn->parked = lappend(conn->parked, copy);
		MemoryContextSwitchTo(old);
		return;
	}
	process_message(conn, msg, len);
}

static void
process_message(RtsyncConn *conn, const char *msg, size_t len)
{
	ClientMessage m;
	MemoryContext old;

	if (message_cxt == NULL)
		message_cxt = AllocSetContextCreate(TopMemoryContext, "rtsync message",
											ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(message_cxt);
	if (!parse_message(msg, len, &m))
		receive_invalid(conn);
	else if (conn->dialect == RTSYNC_DIALECT_TRANSPORT_WS)
		receive_transport_ws(conn, &m);
	else
		receive_graphql_ws(conn, &m);
	MemoryContextSwitchTo(old);
	MemoryContextReset(message_cxt);
}

/*
 * Keep-alive: AppSync and legacy clients expect "ka"; graphql-transport-ws
 * clients get WebSocket pings from lws instead. Also where an expired or
 * revoked key is noticed on a quiet connection.
 */
void
rtsync_protocol_keepalive(RtsyncConn *conn)
{
	if (!conn->acked || conn->close_code)
		return;
	if (rtsync_apikey_recheck(conn->key_hash) != RTSYNC_KEY_OK)
	{
		refuse_connection(conn, "The API key is no longer valid.", "UnauthorizedException");
		return;
	}
	if (conn->dialect != RTSYNC_DIALECT_TRANSPORT_WS)
		send_simple(conn, "ka", NULL, NULL);
}

void
rtsync_protocol_closed(RtsyncConn *conn)
{
	ListCell   *lc;

	parked = list_delete_ptr(parked, conn);
	parked_messages = list_delete_ptr(parked_messages, conn);
	rtsync_ws_operations_closed(conn);
	conn->starting = NULL;
	foreach(lc, conn->subscriptions)
		rtsync_registry_unsubscribe(lfirst(lc));
	conn->subscriptions = NIL;
}

/* A query's or mutation's answer (ws/operation.c), then its end. */
void
rtsync_protocol_operation_result(RtsyncConn *conn, const char *id, const char *result,
								 size_t len)
{
	StringInfoData s;

	initStringInfo(&s);
	appendStringInfo(&s, "{\"type\":\"%s\",\"id\":",
					 conn->dialect == RTSYNC_DIALECT_TRANSPORT_WS ? "next" : "data");
	escape_json(&s, id);
	appendStringInfoString(&s, ",\"payload\":");
	appendBinaryStringInfo(&s, result, len);
	appendStringInfoChar(&s, '}');
	rtsync_conn_send_str(conn, &s);
	pfree(s.data);
	send_simple(conn, "complete", id, NULL);
}

void
rtsync_protocol_operation_errors(RtsyncConn *conn, const char *id, List *errors)
{
	send_operation_errors(conn, id, errors, NULL);
}

/* An event for one subscription: payload is {"data":{...}}. */
static void
deliver(RtsyncSubscription *sub, const char *payload, size_t len)
{
	RtsyncConn *conn = sub->owner;

	/* the envelope up to the payload is the same for every event: made once */
	if (sub->envelope == NULL)
	{
		StringInfoData s;
		MemoryContext old = MemoryContextSwitchTo(sub->cxt);

		initStringInfo(&s);
		appendStringInfo(&s, "{\"type\":\"%s\",\"id\":",
						 conn->dialect == RTSYNC_DIALECT_TRANSPORT_WS ? "next" : "data");
		escape_json(&s, sub->id);
		appendStringInfoString(&s, ",\"payload\":");
		sub->envelope = s.data;
		sub->envelope_len = s.len;
		MemoryContextSwitchTo(old);
	}
	rtsync_conn_send_parts(conn, sub->envelope, sub->envelope_len, payload, len, "}", 1);
	if (conn->close_code == 0)	/* else dropped: closing, or too slow */
		rtsync_metrics_count(RTSYNC_M_EVENTS_DELIVERED, 1);
}

/* The server ends a subscription (e.g. its table was unpublished). */
static void
end_subscription(RtsyncSubscription *sub, const char *message)
{
	RtsyncConn *conn = sub->owner;
	char	   *id = pstrdup(sub->id);

	List	   *errors = one_error(message);

	drop_subscription(conn, sub);
	send_operation_errors(conn, id, errors, "SubscriptionEnded");
	if (conn->dialect != RTSYNC_DIALECT_TRANSPORT_WS)
		send_simple(conn, "complete", id, NULL);
	pfree(((RtsyncGqlError *) linitial(errors))->message);
	list_free_deep(errors);
	pfree(id);
}

/* Re-check a connection's key after the keys changed. */
static void
recheck_key(RtsyncConn *conn)
{
	if (conn->acked && rtsync_apikey_recheck(conn->key_hash) != RTSYNC_KEY_OK)
		refuse_connection(conn, "The API key is no longer valid.", "UnauthorizedException");
}

/*
 * Re-check every subscription of a connection after the grants changed: one
 * whose role may no longer read its table or a column it uses is ended.
 */
static void
recheck_privileges(RtsyncConn *conn)
{
	List	   *subs;
	ListCell   *lc;

	if (!conn->acked || conn->close_code != 0 || conn->subscriptions == NIL)
		return;
	subs = list_copy(conn->subscriptions);
	foreach(lc, subs)
	{
		RtsyncSubscription *sub = lfirst(lc);
		char	   *why;

		if (!rtsync_control_may_select(conn->role, sub->plan, &why))
		{
			end_subscription(sub, why);
			pfree(why);
		}
	}
	list_free(subs);
}

/*
 * Keys and grants were loaded (control/'s on_access callback): every
 * connection whose key is gone or expired is closed now, and every
 * subscription its role may no longer read is ended.
 */
static void
access_loaded(void)
{
	rtsync_server_foreach_connection(recheck_key);
	rtsync_server_foreach_connection(recheck_privileges);
}

/* At start, before control/ loads: hear of its loads. */
void
rtsync_protocol_init(void)
{
	rtsync_control_on_access(access_loaded);
	rtsync_control_on_loaded(control_loaded);
}
