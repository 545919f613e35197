/*-------------------------------------------------------------------------
 *
 * control/limits.h
 *	  Per-identity limits: GraphQL operations per second over WebSocket,
 *	  HTTP requests per second (token buckets), and open connections.
 *
 * An identity is an API key (by its hash) or a token's subject (sub; its
 * role when it has none): rtsync_identity_name gives the name used here
 * and in the request log. A limit of 0 is no limit.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_LIMITS_H
#define RTSYNC_LIMITS_H

#include "c.h"

typedef enum RtsyncRateKind
{
	RTSYNC_RATE_WS_OPERATION,	/* rtsync.identity_operations_per_second */
	RTSYNC_RATE_HTTP_REQUEST	/* rtsync.identity_requests_per_second */
} RtsyncRateKind;

/* "key:<hash prefix>", "sub:<sub>" or "role:<role>", palloc'd. */
extern char *rtsync_identity_name(const char *key_hash, const char *subject,
								  const char *role);

/* Takes one from the identity's bucket; false when it is empty. */
extern bool rtsync_limit_take(const char *identity, RtsyncRateKind kind);

/* Counts a connection of the identity; false (not counted) when at the limit. */
extern bool rtsync_limit_connect(const char *identity);
extern void rtsync_limit_disconnect(const char *identity);

#endif							/* RTSYNC_LIMITS_H */
