/*-------------------------------------------------------------------------
 *
 * stream_retain.h
 *	  Keeping the stream in chunks: SQL-callable only (rtsync._retain,
 *	  sql/rtsync.sql; called by bgworker/stream/retention.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_STREAM_RETAIN_H
#define RTSYNC_STREAM_RETAIN_H

#include "fmgr.h"

extern Datum rtsync_retain(PG_FUNCTION_ARGS);

#endif							/* RTSYNC_STREAM_RETAIN_H */
