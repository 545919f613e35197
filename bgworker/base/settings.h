/*-------------------------------------------------------------------------
 *
 * base/settings.h
 *	  The worker's GUCs (rtsync.*), defined in one place.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_SETTINGS_H
#define RTSYNC_SETTINGS_H

extern char *rtsync_database;
extern char *rtsync_listen_addresses;
extern int	rtsync_port;
extern char *rtsync_slot_name;
extern int	rtsync_max_connections;
extern int	rtsync_max_subscriptions_per_connection;
extern int	rtsync_max_message_bytes;
extern int	rtsync_keepalive_interval_ms;
extern int	rtsync_connection_init_timeout_ms;
extern int	rtsync_max_queue_kb;
extern char *rtsync_tls_cert_file;
extern char *rtsync_tls_key_file;
extern int	rtsync_log_replication_lag_ms;
extern int	rtsync_pool_size;
extern int	rtsync_handler_connections;
extern int	rtsync_handler_interval_ms;
extern int	rtsync_statement_timeout_ms;
extern int	rtsync_max_request_bytes;
extern int	rtsync_max_response_bytes;
extern int	rtsync_http_head_timeout_ms;
extern int	rtsync_http_body_timeout_ms;
extern int	rtsync_http_keepalive_timeout_ms;
extern char *rtsync_cors_allowed_origins;

/* The kept stream (stream/retention.c) */
extern int	rtsync_default_retention_s;
extern int	rtsync_retention_buffer_kb;
extern int	rtsync_retention_trim_interval_ms;

/* Token sign-in (control/identity.c) */
#define RTSYNC_JWT_SECRET_MIN_BYTES 32
extern char *rtsync_jwt_secret;
extern char *rtsync_jwt_jwks_file;
extern char *rtsync_jwt_issuer;
extern char *rtsync_jwt_audience;
extern int	rtsync_jwt_leeway_s;
extern char *rtsync_jwt_role_claim;
extern char *rtsync_jwt_default_role;
extern char *rtsync_jwt_authenticator;
extern bool rtsync_jwt_allow_bypassrls;

/* Per-identity limits (control/limits.c) and the request log */
extern int	rtsync_identity_operations_per_second;
extern int	rtsync_identity_requests_per_second;
extern int	rtsync_max_connections_per_identity;
typedef enum RtsyncLogRequests
{
	RTSYNC_LOG_REQUESTS_NONE,
	RTSYNC_LOG_REQUESTS_ERRORS,
	RTSYNC_LOG_REQUESTS_ALL
} RtsyncLogRequests;
extern int	rtsync_log_requests;

/*
 * What one GraphQL document may ask of the planner (see base/settings.c for the
 * defaults' reasons). Fields, fragment spreads and inline fragments nest at
 * most RTSYNC_GQL_MAX_DEPTH (graphql/parser.h) levels whatever these say.
 */
#define RTSYNC_HAVE_PLANNER_LIMITS 1
#define RTSYNC_MAX_QUERY_DEPTH_LIMIT 128
extern int	rtsync_max_query_depth;
extern int	rtsync_max_query_aliases;
extern int	rtsync_max_query_nodes;
extern int	rtsync_max_query_tokens;

extern void rtsync_settings_define(void);

#endif							/* RTSYNC_SETTINGS_H */
