/*-------------------------------------------------------------------------
 *
 * control/request_log.h
 *	  One line per GraphQL operation (rtsync.log_requests), as AppSync's
 *	  request logs, and counters per outcome in /metrics.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_REQUEST_LOG_H
#define RTSYNC_REQUEST_LOG_H

#include "datatype/timestamp.h"

typedef enum RtsyncOutcome
{
	RTSYNC_OUTCOME_OK,
	RTSYNC_OUTCOME_ERROR,		/* answered with errors (invalid, failed) */
	RTSYNC_OUTCOME_UNAUTHORIZED,
	RTSYNC_OUTCOME_LIMITED		/* over a per-identity limit */
} RtsyncOutcome;

/*
 * An operation finished: identity (never a secret), role, type (query,
 * mutation, subscription), its name (or NULL), the outcome, and when it
 * began (0: now).
 */
extern void rtsync_request_log(const char *transport, const char *identity, const char *role,
							   const char *type, const char *name,
							   RtsyncOutcome outcome, TimestampTz started);

#endif							/* RTSYNC_REQUEST_LOG_H */
