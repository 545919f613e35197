/*-------------------------------------------------------------------------
 *
 * control/request_log.c
 *	  The request log and its counters.
 *
 * rtsync.log_requests: none, errors (every outcome but ok) or all. The
 * line is LOG, one per operation, with the fields AppSync's request logs
 * give for debugging; the counters count every outcome whatever the
 * setting.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/timestamp.h"

#include "base/metrics.h"
#include "base/settings.h"
#include "control/request_log.h"

static const char *const outcome_names[] = {"ok", "error", "unauthorized", "limited"};

void
rtsync_request_log(const char *transport, const char *identity, const char *role,
				   const char *type, const char *name, RtsyncOutcome outcome,
				   TimestampTz started)
{
	TimestampTz now;

	rtsync_metrics_count(RTSYNC_M_OPERATIONS_OK + outcome, 1);
	if (rtsync_log_requests == RTSYNC_LOG_REQUESTS_NONE ||
		(rtsync_log_requests == RTSYNC_LOG_REQUESTS_ERRORS && outcome == RTSYNC_OUTCOME_OK))
		return;
	now = GetCurrentTimestamp();
	ereport(LOG,
			(errmsg("rtsync request: %s %s %s identity=%s role=%s status=%s duration=%.3f ms",
					transport, type ? type : "-", name ? name : "-",
					identity ? identity : "-", role ? role : "-",
					outcome_names[outcome],
					started ? (double) (now - started) / 1000.0 : 0.0),
			 errhidestmt(true)));
}
