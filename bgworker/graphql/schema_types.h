/*-------------------------------------------------------------------------
 *
 * graphql/schema_types.h
 *	  The generated GraphQL schema as a type system: every type with its
 *	  fields, arguments, input fields and descriptions, the directives, and
 *	  the root types; what the SDL printer and introspection both walk, so
 *	  that the two cannot tell different stories.
 *
 * For a table published as type T (see graphql/schema.h for the column mapping),
 * in this order:
 *	  type T							one field per column
 *	  type ModelTConnection				items: [T]!, nextToken: String
 *	  input ModelTFilterInput			per column a Model<Scalar>Input; and,
 *										or, not (queries)
 *	  input ModelSubscriptionTFilterInput
 *										per column a ModelSubscription<Scalar>
 *										Input; and, or (subscriptions)
 *	  input CreateTInput				writable columns but the version column;
 *										required when NOT NULL without default
 *	  input UpdateTInput				key columns (required), other writable
 *										columns, expectedVersion: Int
 *	  input DeleteTInput				key columns (required), expectedVersion
 * and its root fields: getT(<key>) and listTs(filter, limit, nextToken) on
 * Query, createT, updateT, deleteT(input) on Mutation, onCreateT, onUpdateT,
 * onDeleteT(filter, <one per non-list column>) on Subscription. The input
 * types' fields are those graphql/input.c coerces (the same functions
 * tell), so introspection cannot promise what validation refuses.
 *
 * The SDL order: Query, Mutation, Subscription; each table's types, in the
 * schema's table order; once per scalar some filter uses, Model<Scalar>Input
 * and ModelSubscription<Scalar>Input (graphql/filter_ops.h's operators for the scalar);
 * the custom scalars BigInt BigFloat AWSDateTime AWSDate AWSTime AWSJSON.
 *
 * getT, updateT, deleteT and their inputs exist only for tables whose key
 * columns all have GraphQL names (key_usable); expectedVersion only with a
 * version column. A table without any column GraphQL can name has no valid
 * object type and is left out; so is createT when CreateTInput would have
 * no field. With no published table, Query has the single field
 * "_empty: String" (always null: GraphQL needs a Query type with a field),
 * and there is no Mutation or Subscription type.
 *
 * Everything is allocated in the memory context current when the catalogue
 * is built, and points into the schema, which must outlive it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_SCHEMA_TYPES_H
#define RTSYNC_SCHEMA_TYPES_H

#include "lib/stringinfo.h"
#include "nodes/pg_list.h"

#include "graphql/ast.h"
#include "graphql/schema.h"
#include "graphql/type_defs.h"

/* The lone field of Query when no table is published; resolves to null. */
#define RTSYNC_EMPTY_QUERY_FIELD "_empty"

typedef struct RtsyncTypeCatalogue
{
	/*
	 * Every type: the generated ones in SDL order, then the built-in scalars
	 * that something refers to, then the introspection types.
	 */
	List	   *types;			/* RtsyncTypeDef * */
	List	   *directives;		/* RtsyncDirectiveDef *: @include, @skip,
								 * @deprecated, @specifiedBy, @oneOf */
	RtsyncTypeDef *query;
	RtsyncTypeDef *mutation;	/* NULL when it would have no field */
	RtsyncTypeDef *subscription;	/* NULL when it would have no field */
	int			ntypes;
	RtsyncTypeDef **by_name;	/* the types sorted by name, for lookups */
} RtsyncTypeCatalogue;

/* The catalogue of a schema, in the current memory context. Never ereports. */
extern RtsyncTypeCatalogue *rtsync_types_build(RtsyncSchema *schema);

/* Lookups: NULL when there is no such type or directive. */
extern RtsyncTypeDef *rtsync_types_find(const RtsyncTypeCatalogue *cat, const char *name);
extern RtsyncDirectiveDef *rtsync_types_directive(const RtsyncTypeCatalogue *cat,
												  const char *name);

#endif							/* RTSYNC_SCHEMA_TYPES_H */
