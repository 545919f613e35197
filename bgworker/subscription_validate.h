/*-------------------------------------------------------------------------
 *
 * subscription_validate.h
 *	  Validation of a subscription document against the generated schema
 *	  (GraphQL spec, section 5), and the schema's object types and root
 *	  fields that validation and planning share.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_SUBSCRIPTION_VALIDATE_H
#define RTSYNC_SUBSCRIPTION_VALIDATE_H

#include "graphql_ast.h"
#include "schema.h"
#include "subscription_input.h"
#include "subscription_plan.h"

/* Everything planning one request needs; lives in a scratch context. */
typedef struct RtsyncPlanState
{
	RtsyncSchema *schema;
	RtsyncGqlDocument *doc;
	RtsyncGqlOperation *op;		/* the operation being planned */
	RtsyncErrorSink sink;
	RtsyncInputContext input;	/* its variables live here */
} RtsyncPlanState;

typedef enum RtsyncTypeKind
{
	RTSYNC_TYPE_UNKNOWN,
	RTSYNC_TYPE_SUBSCRIPTION,	/* the root type */
	RTSYNC_TYPE_OBJECT,			/* a published table's type */
	RTSYNC_TYPE_INPUT			/* a scalar or an input object type */
} RtsyncTypeKind;

extern RtsyncTypeKind rtsync_lookup_type(RtsyncSchema *schema, const char *name,
										 RtsyncSchemaTable **table);
extern bool rtsync_root_field(RtsyncSchema *schema, const char *name,
							  RtsyncSchemaTable **table, RtsyncEvent *event);
extern RtsyncInputType *rtsync_root_argument(RtsyncSchemaTable *table,
											 const char *name, int *column);
extern RtsyncGqlFragment *rtsync_find_fragment(RtsyncGqlDocument *doc, const char *name);

/* Rules on the whole document: operation and fragment names, cycles. */
extern void rtsync_validate_document(RtsyncPlanState *ps);

/*
 * Rules on ps->op (a subscription) and the fragments it uses: fields,
 * arguments, directives, variables. Sets up ps->input.variables.
 */
extern void rtsync_validate_subscription(RtsyncPlanState *ps);

/*
 * The variable definitions of ps->op (sets up ps->input.variables), and
 * the directives at a location (FIELD, QUERY, ...): for query_plan.c.
 */
extern void rtsync_validate_variables(RtsyncPlanState *ps);
extern RtsyncGqlOperation *rtsync_select_operation(RtsyncPlanState *ps, const char *name);
extern void rtsync_validate_directives(RtsyncPlanState *ps, List *directives,
									   const char *where);

/* @skip/@include of a selection, with the variables' runtime values. */
extern bool rtsync_directives_include(RtsyncPlanState *ps, List *directives);

#endif							/* RTSYNC_SUBSCRIPTION_VALIDATE_H */
