/*-------------------------------------------------------------------------
 *
 * graphql/validate.h
 *	  Validation of a subscription document against the generated schema
 *	  (GraphQL spec, section 5), and the schema's object types and root
 *	  fields that validation and planning share.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_SUBSCRIPTION_VALIDATE_H
#define RTSYNC_SUBSCRIPTION_VALIDATE_H

#include "graphql/ast.h"
#include "graphql/schema.h"
#include "graphql/input.h"
#include "graphql/name_map.h"

/* Everything planning one request needs; lives in a scratch context. */
typedef struct RtsyncPlanState
{
	RtsyncSchema *schema;
	RtsyncGqlDocument *doc;
	RtsyncGqlOperation *op;		/* the operation being planned */
	RtsyncErrorSink sink;
	RtsyncInputContext input;	/* its variables live here */
	bool		nesting_checked;	/* rtsync_check_document_limits passed */
} RtsyncPlanState;

/* What one GraphQL request carries (variables: JSON text, or NULL). */
typedef struct RtsyncGqlRequest
{
	const char *query;
	size_t		query_len;
	const char *operation_name;
	const char *variables_json;
} RtsyncGqlRequest;

/*
 * Plans the operation ps->op of a parsed and document-validated request
 * into plan_cxt; NULL, with errors in ps->sink, when it cannot.
 */
typedef void *(*RtsyncOperationPlanner) (RtsyncPlanState *ps, const RtsyncGqlRequest *req,
										  MemoryContext plan_cxt, void *arg);

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
#define RTSYNC_ARG_FILTER (-1)
#define RTSYNC_ARG_AFTER (-2)
extern RtsyncInputType *rtsync_root_argument(RtsyncSchemaTable *table,
											 const char *name, int *column);
/* By name (the first of that name); an index is built on first use. */
extern RtsyncGqlFragment *rtsync_find_fragment(RtsyncGqlDocument *doc, const char *name);

/*
 * graphql-js's collectFields: the fields of selection sets by response key,
 * in order, through fragments (each spread once), honouring @skip and
 * @include. applies(arg, type_condition) says whether a fragment's type
 * condition (NULL: none) applies to the object type being collected.
 */
typedef struct RtsyncCollected
{
	const char *key;			/* the response key */
	List	   *fields;			/* RtsyncGqlSelection * */
} RtsyncCollected;

typedef struct RtsyncCollector
{
	List	   *entries;		/* RtsyncCollected *, in order */
	RtsyncNameMap *keys;		/* response key -> RtsyncCollected * */
	bool	   *visited;		/* by fragment index */
	bool		(*applies) (void *arg, const char *type_condition);
	void	   *arg;
} RtsyncCollector;

extern void rtsync_collector_init(RtsyncPlanState *ps, RtsyncCollector *c,
								  bool (*applies) (void *arg, const char *type_condition),
								  void *arg);
extern void rtsync_collect_fields(RtsyncPlanState *ps, List *selections, RtsyncCollector *c);

/*
 * The limits of base/settings.h on every operation of the document, its
 * fragments expanded (in linear time: each fragment's figures are worked
 * out once), and the nesting of fields and fragment spreads, which bounds
 * every recursion that follows spreads. Reports and returns false when a
 * limit is passed. rtsync_validate_document checks the nesting itself.
 */
extern bool rtsync_check_document_limits(RtsyncPlanState *ps);
/* The same arguments with equal values, in any order? (field merging) */
extern bool rtsync_gql_arguments_equal(List *a, List *b);

/* Rules on the whole document: operation and fragment names, cycles. */
extern void rtsync_validate_document(RtsyncPlanState *ps);

/*
 * Rules on ps->op (a subscription) and the fragments it uses: fields,
 * arguments, directives, variables. Sets up ps->input.variables.
 */
extern void rtsync_validate_subscription(RtsyncPlanState *ps);

/*
 * The variable definitions of ps->op (sets up ps->input.variables), and
 * the directives at a location (FIELD, QUERY, ...): for graphql/query_plan.c.
 */
extern void rtsync_validate_variables(RtsyncPlanState *ps);
extern void rtsync_validate_unused_variables(RtsyncPlanState *ps);
extern void rtsync_validate_directives(RtsyncPlanState *ps, List *directives,
									   const char *where);

/* @skip/@include of a selection, with the variables' runtime values. */
extern bool rtsync_directives_include(RtsyncPlanState *ps, List *directives);

#endif							/* RTSYNC_SUBSCRIPTION_VALIDATE_H */
