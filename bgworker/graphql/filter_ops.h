/*-------------------------------------------------------------------------
 *
 * graphql/filter_ops.h
 *	  The operators of the filter inputs: the fields of
 *	  ModelSubscription<Scalar>Input and Model<Scalar>Input, which scalars
 *	  have which, and the kind of value each takes.
 *
 * graphql/input.c coerces a condition input's fields by them and
 * graphql/filter.c and graphql/query_sql.c give them their meaning.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_FILTER_OPS_H
#define RTSYNC_FILTER_OPS_H

#include "graphql/schema.h"

/* The fields of a ModelSubscription<Scalar>Input, in their schema order. */
typedef enum RtsyncFilterOp
{
	RTSYNC_OP_NE,
	RTSYNC_OP_EQ,
	RTSYNC_OP_LE,
	RTSYNC_OP_LT,
	RTSYNC_OP_GE,
	RTSYNC_OP_GT,
	RTSYNC_OP_CONTAINS,
	RTSYNC_OP_NOT_CONTAINS,
	RTSYNC_OP_BETWEEN,
	RTSYNC_OP_BEGINS_WITH,
	RTSYNC_OP_IN,
	RTSYNC_OP_NOT_IN,
	RTSYNC_OP_ATTRIBUTE_EXISTS
} RtsyncFilterOp;

#define RTSYNC_FILTER_NUM_OPS (RTSYNC_OP_ATTRIBUTE_EXISTS + 1)

/* What an operator's value is: the column's scalar, a list of it, Boolean */
typedef enum RtsyncOpValue
{
	RTSYNC_OPVALUE_SCALAR,
	RTSYNC_OPVALUE_LIST,
	RTSYNC_OPVALUE_BOOLEAN
} RtsyncOpValue;

extern const char *rtsync_filter_op_name(RtsyncFilterOp op);
extern bool rtsync_filter_op_lookup(const char *name, RtsyncGqlScalar scalar,
									RtsyncFilterOp *op);
extern RtsyncOpValue rtsync_filter_op_value(RtsyncFilterOp op);

/*
 * How filters compare a scalar's values: as numbers (Int, Float, BigInt,
 * BigFloat), as strings (what orders and is no number), or neither
 * (Boolean, AWSJSON: equality only).
 */
extern bool rtsync_filter_scalar_numeric(RtsyncGqlScalar scalar);
extern bool rtsync_filter_scalar_string(RtsyncGqlScalar scalar);

#endif							/* RTSYNC_FILTER_OPS_H */
