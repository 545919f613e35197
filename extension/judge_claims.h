/*-------------------------------------------------------------------------
 *
 * judge_claims.h
 *	  One row-security check run for several token identities of one role
 *	  in turn (rtsync._judge_claims; sql/rtsync.sql), and which claim names
 *	  become request.jwt.claim.<name> settings.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_JUDGE_CLAIMS_H
#define RTSYNC_JUDGE_CLAIMS_H

#include "fmgr.h"

extern Datum rtsync_judge_claims(PG_FUNCTION_ARGS);
extern bool rtsync_claim_name_ok(const char *name, int len);

#endif							/* RTSYNC_JUDGE_CLAIMS_H */
