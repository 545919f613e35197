/*-------------------------------------------------------------------------
 *
 * graphql/subscription_plan.h
 *	  Validation and planning of GraphQL subscriptions against the schema,
 *	  and the projection of records into their payloads.
 *
 * A plan says which records a subscription wants (table, event, filter)
 * and what it sends for each (the payload's shape). It lives in its own
 * memory context, a child of the context current when it was made, and
 * points into the schema, which must outlive it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_SUBSCRIPTION_PLAN_H
#define RTSYNC_SUBSCRIPTION_PLAN_H

#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"

#include "graphql/filter.h"
#include "graphql/ast.h"
#include "graphql/schema.h"

/* One field of the payload's object, in selection order. */
typedef struct RtsyncPlanField
{
	char	   *prefix;			/* "responseKey": as JSON, with the colon */
	int			prefix_len;
	const RtsyncSchemaColumn *column;	/* NULL for __typename */
	int			namelen;		/* strlen(column->name) */
} RtsyncPlanField;

typedef struct RtsyncSubscriptionPlan
{
	MemoryContext cxt;			/* owns the plan; see rtsync_plan_free */
	RtsyncSchemaTable *table;
	RtsyncEvent event;
	char	   *document_key;	/* equal keys <=> identical payload for the
								 * same record: the worker serialises once
								 * per distinct key */
	RtsyncFilter *filter;		/* NULL: every record of the table/event
								 * matches */
	char	   *after;			/* the "after" argument (a SequenceNumber),
								 * or NULL: resume after it */
	char	   *operation_name; /* or NULL */
	char	   *field_name;		/* the root field, e.g. onCreateDataItem */
	char	   *response_key;	/* its alias, or field_name */
	char	   *prefix;			/* {"responseKey":{ */
	int			prefix_len;
	char	   *typename_json;	/* "DataItem" */
	int			nfields;
	RtsyncPlanField *fields;
} RtsyncSubscriptionPlan;

/*
 * Parse (rtsync_gql_parse), validate and plan. variables_json: the request's
 * "variables" object as JSON text, or NULL. On failure returns NULL and
 * appends RtsyncGqlError * (message + location, allocated in the current
 * memory context) to *errors. Never ereports on bad input.
 */
extern RtsyncSubscriptionPlan *rtsync_plan_subscription(RtsyncSchema *schema,
														const char *query,
														size_t query_len,
														const char *operation_name,
														const char *variables_json,
														List **errors);
extern void rtsync_plan_free(RtsyncSubscriptionPlan *plan);

/* A stream position: a SequenceNumber, 30 digits that sort in stream order. */
#define RTSYNC_SEQUENCE_LEN 30
extern bool rtsync_plan_sequence_valid(const char *s);

/*
 * Append the GraphQL "data" object for this record, e.g.
 * {"onCreateDataItem":{"id":"a","title":"x","__typename":"DataItem"}}
 * image: the record's NewImage (create/update) or OldImage, else Keys
 * (delete), as a jsonb container; NULL gives null for every column.
 */
extern void rtsync_plan_project(const RtsyncSubscriptionPlan *plan,
								JsonbContainer *image, StringInfo out);

/*
 * rtsync_filter_match, rtsync_filter_index_key and rtsync_image_index_key
 * are in graphql/filter.h.
 */

#endif							/* RTSYNC_SUBSCRIPTION_PLAN_H */
