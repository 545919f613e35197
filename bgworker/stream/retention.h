/*-------------------------------------------------------------------------
 *
 * stream/retention.h
 *	  Keeping the stream: records written to rtsync.stream_record, and the
 *	  position the slot may be confirmed to.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_RETENTION_H
#define RTSYNC_RETENTION_H

#include <uv.h>

#include "access/xlogdefs.h"
#include "datatype/timestamp.h"

extern void rtsync_retention_start(uv_loop_t *loop);
extern void rtsync_retention_stop(void);

/* A record to keep, as the slot emitted it (copied). */
extern void rtsync_retention_add(Oid relid, const char *sequence_number, TimestampTz created,
								 const char *record, int len);
/* A transaction's COMMIT was processed at lsn. */
extern void rtsync_retention_commit(XLogRecPtr lsn);
/* How far the slot may be confirmed, given what was processed. */
extern XLogRecPtr rtsync_retention_confirmable(XLogRecPtr processed);
/* Is the buffer of records not yet kept full (read no more)? */
extern bool rtsync_retention_full(void);
/* Called (from the loop) once a full buffer has room again. */
extern void rtsync_retention_on_room(void (*fn) (void));
/*
 * Is a record at or before sequence_number still waiting to be kept? Each
 * fn registered (a few) is called each time a batch has been kept.
 */
extern bool rtsync_retention_keeping(const char *sequence_number);
extern void rtsync_retention_on_kept(void (*fn) (void));
/* Records a gap in every table's stream at lsn (see rtsync.stream_gap). */
extern void rtsync_retention_gap(XLogRecPtr lsn, const char *reason);

#endif							/* RTSYNC_RETENTION_H */
