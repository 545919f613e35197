/*-------------------------------------------------------------------------
 *
 * stream_dynamodb.h
 *	  A kept stream record (json format) in the plugin's dynamodb format:
 *	  SQL-callable only (rtsync._record_dynamodb; sql/stream_read.sql).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_STREAM_DYNAMODB_H
#define RTSYNC_STREAM_DYNAMODB_H

#include "fmgr.h"

extern Datum rtsync_record_dynamodb(PG_FUNCTION_ARGS);

#endif							/* RTSYNC_STREAM_DYNAMODB_H */
