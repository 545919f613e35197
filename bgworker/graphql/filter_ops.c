/*-------------------------------------------------------------------------
 *
 * graphql/filter_ops.c
 *	  The operators of the filter inputs (their semantics are in
 *	  graphql/filter.c's banner): names, the scalars that have each, and
 *	  what value each takes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "graphql/filter_ops.h"

static const char *const op_names[RTSYNC_FILTER_NUM_OPS] = {
	"ne", "eq", "le", "lt", "ge", "gt", "contains", "notContains", "between",
	"beginsWith", "in", "notIn", "attributeExists"
};

#define OP(op) (1U << (op))
#define ALL_OPS (OP(RTSYNC_FILTER_NUM_OPS) - 1)

/* Int, Float, BigInt, BigFloat: compared as numeric */
bool
rtsync_filter_scalar_numeric(RtsyncGqlScalar scalar)
{
	return scalar == RTSYNC_SCALAR_INT || scalar == RTSYNC_SCALAR_FLOAT ||
		scalar == RTSYNC_SCALAR_BIGINT || scalar == RTSYNC_SCALAR_BIGFLOAT;
}

/* The rest but Boolean and AWSJSON: compared as UTF-8 bytes */
bool
rtsync_filter_scalar_string(RtsyncGqlScalar scalar)
{
	return !rtsync_filter_scalar_numeric(scalar) && scalar != RTSYNC_SCALAR_BOOLEAN &&
		scalar != RTSYNC_SCALAR_AWSJSON;
}

/* The fields of ModelSubscription<Scalar>Input (see graphql/filter.c's banner) */
static uint32
ops_of(RtsyncGqlScalar scalar)
{
	if (rtsync_filter_scalar_numeric(scalar))
		return ALL_OPS & ~OP(RTSYNC_OP_BEGINS_WITH);
	if (scalar == RTSYNC_SCALAR_BOOLEAN)
		return OP(RTSYNC_OP_NE) | OP(RTSYNC_OP_EQ) | OP(RTSYNC_OP_IN) |
			OP(RTSYNC_OP_NOT_IN) | OP(RTSYNC_OP_CONTAINS) |
			OP(RTSYNC_OP_NOT_CONTAINS) | OP(RTSYNC_OP_ATTRIBUTE_EXISTS);
	if (scalar == RTSYNC_SCALAR_AWSJSON)
		return OP(RTSYNC_OP_NE) | OP(RTSYNC_OP_EQ) | OP(RTSYNC_OP_ATTRIBUTE_EXISTS);
	return ALL_OPS;
}

/* The operator's field name, e.g. beginsWith */
const char *
rtsync_filter_op_name(RtsyncFilterOp op)
{
	return op_names[op];
}

/* The operator of a field name, when the scalar's condition input has it */
bool
rtsync_filter_op_lookup(const char *name, RtsyncGqlScalar scalar, RtsyncFilterOp *op)
{
	for (int i = 0; i < RTSYNC_FILTER_NUM_OPS; i++)
	{
		if (strcmp(op_names[i], name) == 0 && (ops_of(scalar) & OP(i)) != 0)
		{
			*op = (RtsyncFilterOp) i;
			return true;
		}
	}
	return false;
}

/* What the operator's field takes: the scalar, a list of it, or Boolean */
RtsyncOpValue
rtsync_filter_op_value(RtsyncFilterOp op)
{
	if (op == RTSYNC_OP_BETWEEN || op == RTSYNC_OP_IN || op == RTSYNC_OP_NOT_IN)
		return RTSYNC_OPVALUE_LIST;
	if (op == RTSYNC_OP_ATTRIBUTE_EXISTS)
		return RTSYNC_OPVALUE_BOOLEAN;
	return RTSYNC_OPVALUE_SCALAR;
}
