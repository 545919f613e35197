/*-------------------------------------------------------------------------
 *
 * notify.c
 *	  Transactional logical messages (prefix "rtsync") that tell the worker
 *	  to reload what it caches.
 *
 * A transactional message is decoded at its place in its transaction, and
 * only if the transaction commits: the worker reloads right after the
 * change that made the reload necessary, never before it and never for a
 * change that was rolled back. The output plugin passes these on as
 * CONTROL records when asked (include-control).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "replication/message.h"
#include "utils/builtins.h"

#include "notify.h"

#define NOTIFY_PREFIX "rtsync"

void
rtsync_notify_worker(const char *what)
{
	LogLogicalMessage(NOTIFY_PREFIX, what, strlen(what), true);
}

/* rtsync._notify(what text): for the SQL API and its event trigger. */
PG_FUNCTION_INFO_V1(rtsync_notify);
Datum
rtsync_notify(PG_FUNCTION_ARGS)
{
	rtsync_notify_worker(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	PG_RETURN_VOID();
}
