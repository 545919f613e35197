/*-------------------------------------------------------------------------
 *
 * stream_token.h
 *	  Signing the stream read API's shard iterators: SQL-callable only
 *	  (rtsync._hmac_sha256, rtsync._hmac_sha256_matches,
 *	  rtsync._random_bytes; sql/stream_read.sql).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_STREAM_TOKEN_H
#define RTSYNC_STREAM_TOKEN_H

#include "fmgr.h"

extern Datum rtsync_hmac_sha256(PG_FUNCTION_ARGS);
extern Datum rtsync_hmac_sha256_matches(PG_FUNCTION_ARGS);
extern Datum rtsync_random_bytes(PG_FUNCTION_ARGS);

#endif							/* RTSYNC_STREAM_TOKEN_H */
