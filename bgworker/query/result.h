/*-------------------------------------------------------------------------
 *
 * query/result.h
 *	  Root fields' JSON from their statements' rows.
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

#endif							/* RTSYNC_QUERY_RESULT_H */
