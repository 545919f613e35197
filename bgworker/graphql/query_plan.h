/*-------------------------------------------------------------------------
 *
 * graphql/query_plan.h
 *	  Validation and planning of GraphQL queries and mutations (the HTTP
 *	  endpoint): each root field becomes one parameterised SQL statement,
 *	  and a projection that turns its rows into the field's JSON.
 *
 * A request plan is self-contained: it lives in its own memory context and
 * points into nothing else (not into the schema, which a reload may free
 * while the statements run).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_QUERY_PLAN_H
#define RTSYNC_QUERY_PLAN_H

#include "lib/stringinfo.h"
#include "nodes/pg_list.h"

#include "base/statement.h"
#include "graphql/ast.h"
#include "graphql/schema.h"

typedef enum RtsyncRootKind
{
	RTSYNC_ROOT_VALUE,			/* __typename, __schema, __type: known now */
	RTSYNC_ROOT_GET,
	RTSYNC_ROOT_LIST,
	RTSYNC_ROOT_CREATE,
	RTSYNC_ROOT_UPDATE,
	RTSYNC_ROOT_DELETE
} RtsyncRootKind;

/* One key of a projected object: "key": then a result column's JSON. */
typedef struct RtsyncProjField
{
	char	   *prefix;			/* "responseKey": */
	int			column;			/* result column; -1: __typename */
} RtsyncProjField;

typedef struct RtsyncProjection
{
	int			nfields;
	RtsyncProjField *fields;
	char	   *typename_json;	/* "DataItem" */
} RtsyncProjection;

/* A field of a ModelTConnection */
typedef enum RtsyncConnFieldKind
{
	RTSYNC_CONN_ITEMS,
	RTSYNC_CONN_NEXT_TOKEN,
	RTSYNC_CONN_TYPENAME
} RtsyncConnFieldKind;

typedef struct RtsyncConnField
{
	RtsyncConnFieldKind kind;
	char	   *prefix;			/* "responseKey": */
	RtsyncProjection *items;	/* ITEMS */
} RtsyncConnField;

typedef struct RtsyncRootPlan
{
	RtsyncRootKind kind;
	char	   *response_key;	/* for errors' "path" */
	char	   *prefix;			/* "responseKey": */
	RtsyncGqlLocation loc;
	char	   *field_name;		/* e.g. getDataItem */
	char	   *type_name;		/* the table's type */
	char	   *value_json;		/* VALUE */
	int			statement;		/* index in the request's statements */
	RtsyncProjection *object;	/* GET, CREATE, UPDATE, DELETE */
	List	   *conn_fields;	/* LIST: RtsyncConnField * */
	int			limit;			/* LIST: the page size; one more row is
								 * fetched to know whether there is more */
	int			nkeys;			/* LIST: key columns, as text, after the
								 * projected ones, for nextToken */
	int			key_first;
	char	   *version_name;	/* UPDATE, DELETE: the version column */
} RtsyncRootPlan;

typedef struct RtsyncRequestPlan
{
	MemoryContext cxt;			/* owns the plan */
	bool		mutation;
	char	   *name;			/* the operation's name in the document, or NULL */
	List	   *roots;			/* RtsyncRootPlan *, in response order */
	int			nstatements;
	RtsyncStatement *statements;
} RtsyncRequestPlan;

/*
 * Parse, validate and plan a query or mutation. variables_json: the
 * request's "variables" as JSON text, or NULL. allow_mutation: false for
 * GET requests. Returns NULL and appends RtsyncGqlError * to *errors (in
 * the caller's context) when the request cannot run; never ereports on
 * bad input.
 */
extern RtsyncRequestPlan *rtsync_plan_request(RtsyncSchema *schema,
											  const char *query, size_t query_len,
											  const char *operation_name,
											  const char *variables_json,
											  bool allow_mutation,
											  bool *is_subscription,
											  List **errors);
extern void rtsync_request_plan_free(RtsyncRequestPlan *plan);

#endif							/* RTSYNC_QUERY_PLAN_H */
