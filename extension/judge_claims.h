/*-------------------------------------------------------------------------
 *
 * judge_claims.h
 *	  One row-security check run for several token identities of one role
 *	  in turn: SQL-callable only (rtsync._judge_claims; sql/rtsync.sql).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_JUDGE_CLAIMS_H
#define RTSYNC_JUDGE_CLAIMS_H

#include "fmgr.h"

extern Datum rtsync_judge_claims(PG_FUNCTION_ARGS);

#endif							/* RTSYNC_JUDGE_CLAIMS_H */
