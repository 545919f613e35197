/*-------------------------------------------------------------------------
 *
 * stream_visibility.h
 *	  Whether a reader subject to a table's row security may see a kept
 *	  stream record: SQL-callable only (rtsync._image_visible, the row
 *	  security of rtsync.stream_record; sql/stream_read.sql).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_STREAM_VISIBILITY_H
#define RTSYNC_STREAM_VISIBILITY_H

#include "fmgr.h"

extern Datum rtsync_image_visible(PG_FUNCTION_ARGS);

#endif							/* RTSYNC_STREAM_VISIBILITY_H */
