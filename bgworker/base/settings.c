/*-------------------------------------------------------------------------
 *
 * base/settings.c
 *	  Defines the worker's GUCs. Those that shape the listening socket and
 *	  the replication slot need a restart; the limits apply on reload
 *	  (SIGHUP) to what happens next.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/guc.h"

#include "base/settings.h"

char	   *rtsync_database = NULL;
char	   *rtsync_listen_addresses = NULL;
int			rtsync_port = 8080;
int			rtsync_default_retention_s = 24 * 3600;
int			rtsync_retention_buffer_kb = 64 * 1024;
int			rtsync_retention_trim_interval_ms = 60 * 1000;
char	   *rtsync_slot_name = NULL;
int			rtsync_max_connections = 10000;
int			rtsync_max_subscriptions_per_connection = 100;
int			rtsync_max_message_bytes = 240 * 1024;
int			rtsync_keepalive_interval_ms = 10000;
int			rtsync_connection_init_timeout_ms = 10000;
int			rtsync_max_queue_kb = 4096;
char	   *rtsync_tls_cert_file = NULL;
char	   *rtsync_tls_key_file = NULL;
int			rtsync_log_replication_lag_ms = 1000;
int			rtsync_pool_size = 8;
int			rtsync_handler_connections = 2;
int			rtsync_handler_interval_ms = 10;
int			rtsync_statement_timeout_ms = 30000;
int			rtsync_max_request_bytes = 5 * 1024 * 1024;
int			rtsync_max_response_bytes = 16 * 1024 * 1024;
int			rtsync_http_head_timeout_ms = 10000;
int			rtsync_http_body_timeout_ms = 30000;
int			rtsync_http_keepalive_timeout_ms = 60000;
char	   *rtsync_cors_allowed_origins = NULL;
char	   *rtsync_jwt_secret = NULL;
char	   *rtsync_jwt_jwks_file = NULL;
char	   *rtsync_jwt_issuer = NULL;
char	   *rtsync_jwt_audience = NULL;
int			rtsync_jwt_leeway_s = 30;
char	   *rtsync_jwt_role_claim = NULL;
char	   *rtsync_jwt_default_role = NULL;
char	   *rtsync_jwt_authenticator = NULL;
bool		rtsync_jwt_allow_bypassrls = false;
int			rtsync_identity_operations_per_second = 10000;
int			rtsync_identity_requests_per_second = 10000;
int			rtsync_max_connections_per_identity = 0;
int			rtsync_log_requests = RTSYNC_LOG_REQUESTS_NONE;

static const struct config_enum_entry log_requests_options[] = {
	{"none", RTSYNC_LOG_REQUESTS_NONE, false},
	{"errors", RTSYNC_LOG_REQUESTS_ERRORS, false},
	{"all", RTSYNC_LOG_REQUESTS_ALL, false},
	{NULL, 0, false}
};

/*
 * The planner's limits. The defaults refuse what only an attacker sends
 * and nothing a stock client does:
 *
 * - max_query_depth 32 (levels of fields; fragments add none). graphql-js's
 *   getIntrospectionQuery(), every option on, is 15 deep (its TypeRef
 *   fragment nests ofType 9 times) and this schema's own types are at most
 *   3 deep (listT { items { field } }). AppSync lets one choose 1 to 75
 *   (off by default); graphql-armor defaults to 6 but leaves introspection
 *   alone, which we do not.
 * - max_query_aliases 1000. graphql-armor's 15 would refuse clients that
 *   batch lookups into one request with aliases (a1: getT(...) a2: ...);
 *   a thousand is far beyond those and keeps a document's statements (one
 *   per root field) to what one transaction should run.
 * - max_query_nodes 10000 fields, spreads and inline fragments once
 *   fragments are expanded: the cost budget. AppSync's resolver count
 *   limit is at most 10000 per request; getIntrospectionQuery() is 239.
 *   A document of nested doubling fragment spreads, whose expansion grows
 *   as 2^levels, is refused here before anything walks it.
 * - max_query_tokens 15000, Apollo Router's parser_max_tokens default
 *   (graphql-js has the option, maxTokens, without a default). It bounds
 *   the syntax tree, so the memory and time of everything after parsing;
 *   getIntrospectionQuery() is 183 tokens.
 *
 * Lower values than those getIntrospectionQuery() needs are refused by
 * the check hooks: they would break every introspecting client (GraphiQL,
 * Apollo and Amplify codegen) while protecting nothing the others do not.
 */
int			rtsync_max_query_depth = 32;
int			rtsync_max_query_aliases = 1000;
int			rtsync_max_query_nodes = 10000;
int			rtsync_max_query_tokens = 15000;

/* What the full getIntrospectionQuery() takes (test/fuzz/planner/corpus). */
#define INTROSPECTION_DEPTH 15
#define INTROSPECTION_NODES 239
#define INTROSPECTION_TOKENS 183

/* Does a name fit a catalog's name column (1 to NAMEDATALEN - 1 bytes)? */
static bool
name_length_ok(const char *p, const char *what)
{
	if (p == NULL || *p == '\0' || strlen(p) >= NAMEDATALEN)
	{
		GUC_check_errdetail("A %s needs 1 to %d characters.", what, NAMEDATALEN - 1);
		return false;
	}
	return true;
}

/*
 * A database name as CREATE DATABASE takes it: any characters (the
 * conninfo quotes the name, net/pgconn.c), of a name's length.
 */
static bool
check_database(char **newval, void **extra, GucSource source)
{
	return name_length_ok(*newval, "database name");
}

/* A slot name must be usable in START_REPLICATION without quoting. */
static bool
check_slot_name(char **newval, void **extra, GucSource source)
{
	const char *p = *newval;

	if (!name_length_ok(p, "slot name"))
		return false;
	for (; *p; p++)
	{
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
		{
			GUC_check_errdetail("Slot names contain only lower case letters, digits and underscores.");
			return false;
		}
	}
	return true;
}

/*
 * A planner limit must let graphql-js's getIntrospectionQuery() through:
 * the floor, and what needs it, in the message.
 */
static bool
check_planner_limit(int value, int floor, const char *what)
{
	if (value >= floor)
		return true;
	GUC_check_errdetail("graphql-js's getIntrospectionQuery() needs %d %s; a lower limit would refuse every introspecting client.",
						floor, what);
	GUC_check_errhint("Set it to %d or more.", floor);
	return false;
}

static bool
check_max_query_depth(int *newval, void **extra, GucSource source)
{
	return check_planner_limit(*newval, INTROSPECTION_DEPTH, "levels of fields");
}

static bool
check_max_query_aliases(int *newval, void **extra, GucSource source)
{
	/* introspection needs none; one alias is the least that makes sense */
	return check_planner_limit(*newval, 1, "alias");
}

static bool
check_max_query_nodes(int *newval, void **extra, GucSource source)
{
	return check_planner_limit(*newval, INTROSPECTION_NODES, "fields and fragments");
}

static bool
check_max_query_tokens(int *newval, void **extra, GucSource source)
{
	return check_planner_limit(*newval, INTROSPECTION_TOKENS, "tokens");
}

/*
 * An HMAC secret shorter than the hash is guessable offline from one token
 * (RFC 7518 section 3.2 asks for at least 256 bits): refused, not warned.
 */
static bool
check_jwt_secret(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0' || strlen(*newval) >= RTSYNC_JWT_SECRET_MIN_BYTES)
		return true;
	GUC_check_errdetail("An HMAC secret needs at least %d bytes; this one has %zu.",
						RTSYNC_JWT_SECRET_MIN_BYTES, strlen(*newval));
	GUC_check_errhint("Generate one with: openssl rand -base64 32");
	return false;
}

/* A claims path: names, dots and [index]es, never empty. */
static bool
check_jwt_role_claim(char **newval, void **extra, GucSource source)
{
	if (*newval != NULL && (*newval)[0] != '\0')
		return true;
	GUC_check_errdetail("The role claim is a path into the claims, such as role or cognito:groups[0].");
	return false;
}

void
rtsync_settings_define(void)
{
	DefineCustomStringVariable("rtsync.database",
							   "Database whose published tables the rtsync server serves.",
							   NULL, &rtsync_database, "postgres",
							   PGC_POSTMASTER, 0, check_database, NULL, NULL);
	DefineCustomStringVariable("rtsync.listen_addresses",
							   "Address the rtsync server listens on (one host name or IP address; * for all).",
							   NULL, &rtsync_listen_addresses, "localhost",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("rtsync.port",
							"TCP port of the rtsync GraphQL server; 0 runs no server.",
							NULL, &rtsync_port, 8080, 0, 65535,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("rtsync.slot_name",
							   "Logical replication slot the rtsync server consumes.",
							   NULL, &rtsync_slot_name, "rtsync",
							   PGC_POSTMASTER, 0, check_slot_name, NULL, NULL);
	DefineCustomIntVariable("rtsync.max_connections",
							"Most WebSocket and HTTP clients served at once.",
							NULL, &rtsync_max_connections, 10000, 1, 1000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("rtsync.max_subscriptions_per_connection",
							"Most subscriptions one connection may hold (AppSync: 100).",
							NULL, &rtsync_max_subscriptions_per_connection, 100, 1, 100000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("rtsync.max_message_bytes",
							"Largest message accepted from or sent to a client (AppSync: 240 kB).",
							NULL, &rtsync_max_message_bytes, 240 * 1024, 1024, 64 * 1024 * 1024,
							PGC_SIGHUP, GUC_UNIT_BYTE, NULL, NULL, NULL);
	DefineCustomIntVariable("rtsync.keepalive_interval",
							"Time between keep-alive messages to each WebSocket client.",
							NULL, &rtsync_keepalive_interval_ms, 10000, 1000, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("rtsync.connection_init_timeout",
							"Time a WebSocket client has to send connection_init.",
							NULL, &rtsync_connection_init_timeout_ms, 10000, 100, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("rtsync.max_queue",
							"Outbound bytes queued for one client before it is closed as too slow.",
							NULL, &rtsync_max_queue_kb, 4096, 64, 1024 * 1024,
							PGC_SIGHUP, GUC_UNIT_KB, NULL, NULL, NULL);
	DefineCustomStringVariable("rtsync.tls_cert_file",
							   "Certificate file for TLS (wss://, https://); empty: no TLS.",
							   NULL, &rtsync_tls_cert_file, "",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("rtsync.tls_key_file",
							   "Private key file for TLS.",
							   NULL, &rtsync_tls_key_file, "",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("rtsync.pool_size",
							"Database connections the rtsync server runs GraphQL queries and mutations on.",
							NULL, &rtsync_pool_size, 8, 1, 100,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("rtsync.handler_connections",
							"Database connections the rtsync server runs stream handlers on.",
							"At most this many handlers run a batch at once; each has its own connection, apart from the query pool, so a slow handler delays no client.",
							&rtsync_handler_connections, 2, 1, 16,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("rtsync.handler_interval",
							"Least time between the starts of two steps of a stream handler while records trickle in.",
							"A handler whose last batch was not full steps again this long after its last step began, at the earliest, taking what was kept meanwhile in one batch; a full batch is followed at once. 0: a step each time records are kept.",
							&rtsync_handler_interval_ms, 10, 0, 10000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("rtsync.default_retention",
							"How long a published table's stream records are kept when publish() was given no retention; 0 keeps none.",
							"As DynamoDB Streams, 24 hours. Kept records can be read with rtsync.get_records and resumed from.",
							&rtsync_default_retention_s, 24 * 3600, 0, PG_INT32_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("rtsync.retention_buffer",
							"Stream records the worker holds in memory while they are being kept; past it, replication waits for the writes.",
							NULL, &rtsync_retention_buffer_kb, 64 * 1024, 1024, 4 * 1024 * 1024,
							PGC_SIGHUP, GUC_UNIT_KB, NULL, NULL, NULL);
	DefineCustomIntVariable("rtsync.retention_trim_interval",
							"How often the server drops the partitions of kept stream records that every table's retention has passed.",
							NULL, &rtsync_retention_trim_interval_ms, 60 * 1000, 100, 24 * 3600 * 1000,
							PGC_POSTMASTER, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("rtsync.statement_timeout",
							"Longest a GraphQL query or mutation may run; 0 is no limit.",
							NULL, &rtsync_statement_timeout_ms, 30000, 0, 24 * 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("rtsync.max_request_bytes",
							"Largest HTTP request body accepted (AppSync: about 5 MB).",
							NULL, &rtsync_max_request_bytes, 5 * 1024 * 1024, 1024, 256 * 1024 * 1024,
							PGC_SIGHUP, GUC_UNIT_BYTE, NULL, NULL, NULL);
	DefineCustomIntVariable("rtsync.max_response_bytes",
							"Largest answer to a GraphQL query or mutation; a larger one is refused with errorType ResponseTooLarge.",
							"Bounds the worker's memory per request: the database's rows are counted as they arrive and dropped past the limit.",
							&rtsync_max_response_bytes, 16 * 1024 * 1024, 1024, 1024 * 1024 * 1024,
							PGC_SIGHUP, GUC_UNIT_BYTE, NULL, NULL, NULL);
	DefineCustomIntVariable("rtsync.http_head_timeout",
							"Time a client has to send a whole HTTP request head, counted from its first byte (or from connecting).",
							"A total: a head sent a byte at a time does not extend it. Past it the client gets 408 and is closed.",
							&rtsync_http_head_timeout_ms, 10000, 100, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("rtsync.http_body_timeout",
							"Time a client has to send an HTTP request body, and to take an answer.",
							NULL, &rtsync_http_body_timeout_ms, 30000, 100, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("rtsync.http_keepalive_timeout",
							"Time an HTTP connection is kept open between requests.",
							NULL, &rtsync_http_keepalive_timeout_ms, 60000, 100, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomStringVariable("rtsync.cors_allowed_origins",
							   "Origins browsers may call the GraphQL endpoint from: * for any, or a comma-separated list; empty: none.",
							   NULL, &rtsync_cors_allowed_origins, "*",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("rtsync.log_replication_lag",
							"Logs the replication lag when a transaction reaches the server this long after its commit (at most once every 10 s); -1 disables.",
							NULL, &rtsync_log_replication_lag_ms, 1000, -1, PG_INT32_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("rtsync.max_query_depth",
							"Deepest nesting of fields a GraphQL document may have (fragments add no level).",
							NULL, &rtsync_max_query_depth, 32,
							1, RTSYNC_MAX_QUERY_DEPTH_LIMIT,
							PGC_SIGHUP, 0, check_max_query_depth, NULL, NULL);
	DefineCustomIntVariable("rtsync.max_query_aliases",
							"Most aliases a GraphQL operation may have, counted through its fragments.",
							NULL, &rtsync_max_query_aliases, 1000, 1, PG_INT32_MAX,
							PGC_SIGHUP, 0, check_max_query_aliases, NULL, NULL);
	DefineCustomIntVariable("rtsync.max_query_nodes",
							"Most fields, fragment spreads and inline fragments a GraphQL operation may have once its fragments are expanded.",
							NULL, &rtsync_max_query_nodes, 10000, 1, PG_INT32_MAX,
							PGC_SIGHUP, 0, check_max_query_nodes, NULL, NULL);
	DefineCustomIntVariable("rtsync.max_query_tokens",
							"Most tokens (names, punctuators, values) a GraphQL document may have.",
							NULL, &rtsync_max_query_tokens, 15000, 1, PG_INT32_MAX,
							PGC_SIGHUP, 0, check_max_query_tokens, NULL, NULL);
	DefineCustomStringVariable("rtsync.jwt_secret",
							   "HMAC secret tokens signed with HS256, HS384 or HS512 are verified with (at least 32 bytes); empty: none.",
							   NULL, &rtsync_jwt_secret, "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL,
							   check_jwt_secret, NULL, NULL);
	DefineCustomStringVariable("rtsync.jwt_jwks_file",
							   "JWKS file of the public keys tokens are verified with (RS256, PS256, ES256, EdDSA and kin); read again on reload.",
							   NULL, &rtsync_jwt_jwks_file, "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomStringVariable("rtsync.jwt_issuer",
							   "Issuer (iss) a token must name; empty: not checked.",
							   NULL, &rtsync_jwt_issuer, "",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("rtsync.jwt_audience",
							   "Audience a token must be for: its aud (a string or an element of an array) or its client_id (Cognito access tokens); empty: not checked.",
							   NULL, &rtsync_jwt_audience, "",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("rtsync.jwt_leeway",
							"Clock skew allowed when checking a token's exp, nbf and iat.",
							NULL, &rtsync_jwt_leeway_s, 30, 0, 3600,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomStringVariable("rtsync.jwt_role_claim",
							   "Path to the claim naming a token's role: role, app_metadata.role, cognito:groups[0].",
							   NULL, &rtsync_jwt_role_claim, "role",
							   PGC_SIGHUP, 0, check_jwt_role_claim, NULL, NULL);
	DefineCustomStringVariable("rtsync.jwt_default_role",
							   "Role of a token whose role claim is absent; empty: such a token is refused.",
							   NULL, &rtsync_jwt_default_role, "",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("rtsync.jwt_authenticator",
							   "Tokens may become only roles this role is a member of (never a superuser); empty: tokens are refused.",
							   "As with PostgREST's authenticator: GRANT each role a token may name TO this role.",
							   &rtsync_jwt_authenticator, "",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("rtsync.jwt_allow_bypassrls",
							 "Lets tokens become roles with BYPASSRLS.",
							 NULL, &rtsync_jwt_allow_bypassrls, false,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("rtsync.identity_operations_per_second",
							"GraphQL operations per second one identity (API key or token subject) may start over WebSocket; 0 is no limit.",
							"A token bucket holding one second's worth: bursts up to the rate pass.",
							&rtsync_identity_operations_per_second, 10000, 0, 1000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("rtsync.identity_requests_per_second",
							"HTTP GraphQL requests per second one identity (API key or token subject) may send; 0 is no limit.",
							"A token bucket holding one second's worth; over it the answer is 429.",
							&rtsync_identity_requests_per_second, 10000, 0, 1000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("rtsync.max_connections_per_identity",
							"WebSocket connections one identity (API key or token subject) may hold at once; 0: no limit but rtsync.max_connections.",
							NULL, &rtsync_max_connections_per_identity, 0, 0, 1000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("rtsync.log_requests",
							 "Logs one line per GraphQL operation: none, errors (all but successes) or all.",
							 "Each line gives the identity (never a secret), role, operation type and name, outcome and duration.",
							 &rtsync_log_requests, RTSYNC_LOG_REQUESTS_NONE, log_requests_options,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	MarkGUCPrefixReserved("rtsync");
}
