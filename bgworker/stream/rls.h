/*-------------------------------------------------------------------------
 *
 * stream/rls.h
 *	  Row-level security on delivery: a change reaches a subscriber only
 *	  if the subscriber's role, with its claims, could SELECT the row as
 *	  the change shows it.
 *
 * Subscribers alike for row security (same role, same claims once the
 * claims that differ from token to token are set aside) share a group,
 * and a change is judged once per group, never once per subscriber. The
 * registry asks for the groups a change needs and delivers once every
 * verdict is in.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_RLS_H
#define RTSYNC_RLS_H

#include "c.h"
#include "postgres_ext.h"

typedef struct RtsyncRlsGroup RtsyncRlsGroup;

/* The group of (role, claims); claims NULL for an API key. Counted. */
extern RtsyncRlsGroup *rtsync_rls_group_acquire(const char *role, const char *claims);
extern void rtsync_rls_group_release(RtsyncRlsGroup *group);

/* Is the group's verdict on record serial known, and what is it? */
extern bool rtsync_rls_verdict(const RtsyncRlsGroup *group, uint64 serial, bool *allowed);
/* Decide without asking the database (e.g. a delete without its old image). */
extern void rtsync_rls_decide(RtsyncRlsGroup *group, uint64 serial, bool allowed);
/*
 * Judges the group in process when the role's policy on table relid is
 * compiled and the group's values for it are known; false when the
 * database must be asked (rtsync_rls_need).
 */
struct JsonbContainer;
extern bool rtsync_rls_decide_compiled(RtsyncRlsGroup *group, uint64 serial, Oid relid,
									   struct JsonbContainer *image);
/* The one value a group's compiled policy lets the column have, if so. */
extern bool rtsync_rls_index_value(RtsyncRlsGroup *group, Oid relid, const char **column,
								   const char **value);
/*
 * Batches: the changes the stream holds are judged together, each group's
 * check taking every image it must judge of a table at once. need adds
 * that the group must be judged on change serial (an image of table
 * relid), starting a batch if none is being gathered; judge asks
 * the database for everything needed, and done runs once every verdict is
 * in. False when nothing is needed (done is not called).
 */
extern void rtsync_rls_need(RtsyncRlsGroup *group, uint64 serial, Oid relid,
							struct JsonbContainer *image);
extern bool rtsync_rls_needed(void);
extern bool rtsync_rls_judge(void (*done) (void));

#endif							/* RTSYNC_RLS_H */
