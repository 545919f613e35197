/*-------------------------------------------------------------------------
 *
 * stream/replication.h
 *	  The worker's replication stream: its own slot on its own server,
 *	  consumed with START_REPLICATION over libpq, records handed to the
 *	  subscription registry as they arrive.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_REPLICATION_H
#define RTSYNC_REPLICATION_H

#include <uv.h>

#include "access/xlogdefs.h"
#include "datatype/timestamp.h"

typedef struct RtsyncReplicationStats
{
	bool		streaming;
	uint64		records;		/* stream records received */
	XLogRecPtr	received_lsn;	/* highest WAL position seen */
	XLogRecPtr	confirmed_lsn;	/* flush position last confirmed */
	TimestampTz last_send_time; /* walsender's clock on its last message */
	TimestampTz last_receive_time;	/* ours, when it arrived */
	XLogRecPtr	server_wal_end; /* the walsender's position, as last told */
	TimestampTz last_commit_time;	/* of the last transaction processed */
	int64		lag_us;			/* its commit to its processing */
	uint64		lag_bytes;		/* its commit to the server's WAL flush
								 * position when it was processed */
} RtsyncReplicationStats;

extern RtsyncReplicationStats rtsync_replication_stats;

extern void rtsync_replication_start(uv_loop_t *loop);
extern void rtsync_replication_stop(void);

#endif							/* RTSYNC_REPLICATION_H */
