/*-------------------------------------------------------------------------
 *
 * control.h
 *	  The worker's control connection: loads the schema, API keys and the
 *	  keys' privileges over libpq, and reloads them when the stream says
 *	  they changed (CONTROL records, emitted by the SQL API).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_CONTROL_H
#define RTSYNC_CONTROL_H

#include <uv.h>

#include "utils/jsonb.h"

extern void rtsync_control_start(uv_loop_t *loop);
extern void rtsync_control_stop(void);
extern void rtsync_control_message(JsonbContainer *record);
extern void rtsync_control_reload(void);
extern bool rtsync_control_busy(void);
extern bool rtsync_control_may_select(const char *role, Oid relid, char **why);

#endif							/* RTSYNC_CONTROL_H */
