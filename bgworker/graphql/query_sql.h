/*-------------------------------------------------------------------------
 *
 * graphql/query_sql.h
 *	  SQL text for the root fields of GraphQL queries and mutations.
 *
 * Everything a client sends travels as a statement parameter, never in
 * the SQL text; identifiers come from the schema and are quoted. The
 * statement's select list gives one JSON value per selected column, so
 * the worker only concatenates.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_QUERY_SQL_H
#define RTSYNC_QUERY_SQL_H

#include "lib/stringinfo.h"
#include "nodes/pg_list.h"

#include "graphql/schema.h"
#include "graphql/input.h"

typedef struct RtsyncSqlBuilder
{
	RtsyncSchemaTable *table;
	StringInfoData select;		/* the select (or RETURNING) list */
	int			ncols;
	int		   *col_of;			/* per table column: its result column, or
								 * -1 */
	List	   *params;			/* char *, NULL for SQL null */
	RtsyncErrorSink *sink;
} RtsyncSqlBuilder;

extern void rtsync_sql_begin(RtsyncSqlBuilder *b, RtsyncSchemaTable *table,
							 RtsyncErrorSink *sink);

/* The result column that holds the column's GraphQL JSON value. */
extern int	rtsync_sql_output(RtsyncSqlBuilder *b, int column);

/* A result column with the column's text, for pagination tokens. */
extern int	rtsync_sql_output_text(RtsyncSqlBuilder *b, int column);

/* A parameter ("$n") with a coerced input value, or with text. */
extern char *rtsync_sql_param(RtsyncSqlBuilder *b, const RtsyncInputValue *value);
extern char *rtsync_sql_param_text(RtsyncSqlBuilder *b, const char *text);

/*
 * The statements; filter may be NULL; after: the key columns' text of the
 * last row of the previous page, or NULL.
 */
extern char *rtsync_sql_get(RtsyncSqlBuilder *b, List *key_args);
extern char *rtsync_sql_list(RtsyncSqlBuilder *b, const RtsyncInputValue *filter,
							 char **after, int limit);
extern char *rtsync_sql_create(RtsyncSqlBuilder *b, const RtsyncInputValue *input);
extern char *rtsync_sql_update(RtsyncSqlBuilder *b, const RtsyncInputValue *input);
extern char *rtsync_sql_delete(RtsyncSqlBuilder *b, const RtsyncInputValue *input);

#endif							/* RTSYNC_QUERY_SQL_H */
