/*-------------------------------------------------------------------------
 *
 * graphql/filter.h
 *	  Compiled subscription filters: Amplify's ModelSubscription...FilterInput
 *	  and AppSync's basic (argument) filtering, evaluated on record images.
 *
 * A filter is compiled once, when a subscription is planned, into AppSync's
 * own shape: an OR of at most RTSYNC_FILTER_MAX_GROUPS groups, each an AND
 * of at most RTSYNC_FILTER_MAX_CONDITIONS conditions (the "filterGroup" and
 * "filters" of an enhanced subscription filter). Constants are parsed then
 * (numbers as Numeric, JSON as Jsonb, canonical index keys as text), so
 * evaluating a record only looks values up in its image and compares.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_FILTER_H
#define RTSYNC_FILTER_H

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

#include "graphql/filter_ops.h"
#include "graphql/input.h"
#include "graphql/schema.h"

/* AppSync's limits on enhanced subscription filters */
#define RTSYNC_FILTER_MAX_GROUPS 10 /* filters OR-ed in a filterGroup */
#define RTSYNC_FILTER_MAX_CONDITIONS 5	/* conditions AND-ed in a filter */
#define RTSYNC_FILTER_MAX_IN 5		/* values of in and notIn */
#define RTSYNC_FILTER_MAX_DEPTH 5	/* nesting of and/or objects */

typedef struct RtsyncFilter RtsyncFilter;

/*
 * Compiles a coerced filter argument (an object of the table's filter input
 * type; NULL or a null value: none) and the basic filtering arguments
 * (RtsyncInputField *, index = column, scalar values) into a filter
 * allocated in cxt. Limit violations are reported to sink, and then the
 * result is meaningless. NULL when every record matches.
 */
extern RtsyncFilter *rtsync_filter_compile(RtsyncSchemaTable *table,
										   RtsyncInputValue *filter,
										   List *equalities,
										   RtsyncErrorSink *sink,
										   MemoryContext cxt);

/* image: the record's NewImage (create/update) or OldImage, else Keys */
extern bool rtsync_filter_match(const RtsyncFilter *filter, JsonbContainer *image);

/*
 * If the filter can only match records whose column *column (an index into
 * table->columns) equals one value, return true and that value's canonical
 * key text in *key (palloc'd in the current context).
 */
extern bool rtsync_filter_index_key(const RtsyncFilter *filter, int *column, char **key);

/*
 * The same canonical key text for a record's value of that column; NULL if
 * it is absent or null, or the column cannot be indexed (lists, AWSJSON).
 */
extern char *rtsync_image_index_key(JsonbContainer *image, const RtsyncSchemaColumn *column);

/*
 * Marks in used[] (one per table column, false on entry) every column a
 * condition of the filter reads; NULL filter: none.
 */
extern void rtsync_filter_columns(const RtsyncFilter *filter, bool *used);

/* A readable rendering of the compiled filter, for tests and logs. */
extern void rtsync_filter_describe(const RtsyncFilter *filter, StringInfo out);

#endif							/* RTSYNC_FILTER_H */
