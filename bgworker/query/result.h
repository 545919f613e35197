/*-------------------------------------------------------------------------
 *
 * query/result.h
 *	  Root fields' JSON from their statements' rows; pagination tokens.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_QUERY_RESULT_H
#define RTSYNC_QUERY_RESULT_H

#include "lib/stringinfo.h"
#include "libpq-fe.h"

#include "graphql/query_plan.h"

/*
 * Appends the JSON of a root field's value from its statement's result (a
 * PGRES_TUPLES_OK result, or NULL for VALUE roots).
 */
extern void rtsync_root_result(const RtsyncRootPlan *root, PGresult *res, StringInfo out);

/*
 * A list's nextToken: base64 of a JSON array of the last row's key values
 * as text; decoding gives those values, or NULL for a token that is not
 * one of ours (nkeys values expected).
 */
extern char *rtsync_page_token_encode(char **keys, int nkeys);
extern char **rtsync_page_token_decode(const char *token, int nkeys);

#endif							/* RTSYNC_QUERY_RESULT_H */
