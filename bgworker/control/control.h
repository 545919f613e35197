/*-------------------------------------------------------------------------
 *
 * control/control.h
 *	  The worker's control connection: loads the schema, API keys and the
 *	  keys' privileges over libpq, reloads them when the stream says they
 *	  changed (CONTROL records, emitted by the SQL API, its event trigger
 *	  and the role hook) or when roles changed in another database (a
 *	  shared counter), and tells waiting subscriptions the server's WAL
 *	  insert position (their start point). It owns the current schema.
 *
 *	  Upper layers learn of loads through callbacks they register at start
 *	  (as PostgreSQL's CacheRegisterRelcacheCallback): control/ calls no
 *	  one above it by name.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_CONTROL_H
#define RTSYNC_CONTROL_H

#include <uv.h>

#include "access/xlogdefs.h"
#include "lib/ilist.h"
#include "utils/jsonb.h"

struct RtsyncSubscriptionPlan;
struct RtsyncSchema;

/*
 * A wait for the server's current WAL insert position, embedded in whoever
 * waits (a subscription waiting for its start point). The callback runs
 * once, from the loop, with a position read after the wait was queued.
 */
typedef struct RtsyncLsnWait RtsyncLsnWait;
typedef void (*RtsyncLsnCallback) (RtsyncLsnWait *wait, XLogRecPtr lsn);

struct RtsyncLsnWait
{
	dlist_node	node;			/* in control/control.c's waiting or asked list */
	bool		queued;
	RtsyncLsnCallback callback;
	void	   *arg;			/* for the callback */
};

/*
 * Callbacks run from the loop, in the order they were registered, after a
 * load: see rtsync_control_on_schema, _on_access and _on_loaded. At most
 * RTSYNC_CONTROL_MAX_CALLBACKS of each kind.
 */
#define RTSYNC_CONTROL_MAX_CALLBACKS 4
typedef void (*RtsyncControlSchemaCallback) (struct RtsyncSchema *schema);
typedef void (*RtsyncControlCallback) (void);

extern void rtsync_control_on_schema(RtsyncControlSchemaCallback callback);
extern void rtsync_control_on_access(RtsyncControlCallback callback);
extern void rtsync_control_on_loaded(RtsyncControlCallback callback);
extern struct RtsyncSchema *rtsync_control_schema(void);

extern void rtsync_control_start(uv_loop_t *loop);
extern void rtsync_control_stop(void);
extern void rtsync_control_message(JsonbContainer *record);
extern void rtsync_control_reload(void);
extern bool rtsync_control_busy(void);
struct RtsyncRowPolicy;
extern const struct RtsyncRowPolicy *rtsync_control_row_policy(const char *role, Oid relid);
extern uint64 rtsync_control_generation(void);
extern bool rtsync_control_may_select(const char *role,
									  const struct RtsyncSubscriptionPlan *plan,
									  char **why);
extern void rtsync_control_insert_lsn(RtsyncLsnWait *wait, RtsyncLsnCallback callback,
									  void *arg);
extern void rtsync_control_cancel_lsn(RtsyncLsnWait *wait);

#endif							/* RTSYNC_CONTROL_H */
