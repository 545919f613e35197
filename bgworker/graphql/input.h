/*-------------------------------------------------------------------------
 *
 * graphql/input.h
 *	  Input types and input values of subscription documents: the types of
 *	  arguments and variables, and the coercion of literals and of the
 *	  request's variables (JSON) to them, with GraphQL's error messages.
 *
 * The input types of the generated schema, for a table published as T:
 *	  scalars			ID String Int Float Boolean BigInt BigFloat
 *						AWSDateTime AWSDate AWSTime AWSJSON
 *	  ModelSubscriptionTFilterInput
 *						one field per column (of the column's condition input
 *						type), and: [ModelSubscriptionTFilterInput],
 *						or: [ModelSubscriptionTFilterInput]
 *	  ModelSubscription<Scalar>Input
 *						the operators of graphql/filter_ops.h allowed for the scalar
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_SUBSCRIPTION_INPUT_H
#define RTSYNC_SUBSCRIPTION_INPUT_H

#include "lib/stringinfo.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "graphql/ast.h"
#include "graphql/errors.h"
#include "graphql/schema.h"

typedef enum RtsyncInputKind
{
	RTSYNC_INPUT_SCALAR,
	RTSYNC_INPUT_FILTER,		/* ModelSubscription<T>FilterInput */
	RTSYNC_INPUT_CONDITION,		/* ModelSubscription<Scalar>Input */
	RTSYNC_INPUT_LIST,
	RTSYNC_INPUT_MUTATION		/* Create<T>Input, Update<T>Input, ... */
} RtsyncInputKind;

/* Which mutation an RTSYNC_INPUT_MUTATION type is the input of */
typedef enum RtsyncMutationKind
{
	RTSYNC_MUTATION_CREATE,
	RTSYNC_MUTATION_UPDATE,
	RTSYNC_MUTATION_DELETE
} RtsyncMutationKind;

typedef struct RtsyncInputType
{
	RtsyncInputKind kind;
	bool		non_null;
	RtsyncGqlScalar scalar;		/* SCALAR, CONDITION */
	RtsyncSchemaTable *table;	/* FILTER, MUTATION */
	struct RtsyncInputType *item;	/* LIST */
	bool		model;			/* FILTER, CONDITION: the query filter inputs
								 * Model<T>FilterInput and Model<Scalar>Input
								 * (which also have "not"), not the
								 * ModelSubscription... ones */
	RtsyncMutationKind mutation;	/* MUTATION */
} RtsyncInputType;

/*
 * RtsyncInputField.index of a filter input's and/or/not fields, and of a
 * mutation input's expectedVersion; columns have their index >= 0
 */
#define RTSYNC_FIELD_AND (-1)
#define RTSYNC_FIELD_OR (-2)
#define RTSYNC_FIELD_NOT (-3)
#define RTSYNC_FIELD_EXPECTED_VERSION (-4)

typedef enum RtsyncInputValueKind
{
	RTSYNC_VALUE_NULL,
	RTSYNC_VALUE_BOOLEAN,
	RTSYNC_VALUE_STRING,		/* String, ID, AWS date/time, AWSJSON */
	RTSYNC_VALUE_NUMBER,		/* Int, Float, BigInt, BigFloat */
	RTSYNC_VALUE_LIST,
	RTSYNC_VALUE_OBJECT
} RtsyncInputValueKind;

/* A value coerced to its input type (a list type's value is always a list). */
typedef struct RtsyncInputValue
{
	RtsyncInputValueKind kind;
	RtsyncGqlLocation loc;		/* of the literal, or the variable's definition */
	const char *variable;		/* the variable it came from, or NULL */
	bool		boolean;
	char	   *str;			/* STRING */
	Numeric		num;			/* NUMBER */
	Jsonb	   *json;			/* STRING of type AWSJSON: the parsed JSON */
	List	   *items;			/* LIST: RtsyncInputValue * */
	List	   *fields;			/* OBJECT: RtsyncInputField *, as given */
} RtsyncInputValue;

typedef struct RtsyncInputField
{
	const char *name;
	int			index;			/* filter input: column or RTSYNC_FIELD_AND/OR;
								 * condition input: RtsyncFilterOp */
	RtsyncInputValue *value;
	RtsyncGqlLocation loc;
} RtsyncInputField;

typedef struct RtsyncVariable
{
	RtsyncGqlVariableDef *def;
	RtsyncInputType *type;		/* NULL when the declared type is invalid */
	RtsyncInputValue *default_value;	/* coerced, or NULL */
	RtsyncInputValue *value;	/* the runtime value; NULL: none */
	bool		used;
} RtsyncVariable;

typedef struct RtsyncInputContext
{
	RtsyncSchema *schema;
	RtsyncErrorSink *sink;
	const char *operation_name; /* for messages; NULL: anonymous */
	List	   *variables;		/* RtsyncVariable * */
	bool		substitute;		/* variables: replace by their values (else
								 * check their usage) */
	bool		constant;		/* coercing a default value: no variables */
} RtsyncInputContext;

extern RtsyncInputType *rtsync_input_scalar_type(RtsyncGqlScalar scalar, bool non_null);
extern RtsyncInputType *rtsync_input_filter_type(RtsyncSchemaTable *table);
extern RtsyncInputType *rtsync_input_model_filter_type(RtsyncSchemaTable *table);
extern RtsyncInputType *rtsync_input_mutation_type(RtsyncSchemaTable *table,
												   RtsyncMutationKind kind,
												   bool non_null);
/* Must a mutation input give this column? (create: NOT NULL without a
 * default; update and delete: the key) */
extern bool rtsync_input_column_required(const RtsyncSchemaTable *table,
										 RtsyncMutationKind kind, int column);
/* Is the column a field of the mutation input? */
extern bool rtsync_input_column_in_mutation(const RtsyncSchemaTable *table,
											RtsyncMutationKind kind, int column);
/*
 * Reports each required field of a mutation input missing from a coerced
 * object (graphql-js' words, prefixed by prefix when given); false if any.
 */
extern bool rtsync_input_check_required(RtsyncErrorSink *sink, const RtsyncInputType *type,
										const RtsyncInputValue *object,
										const char *prefix);
extern RtsyncInputType *rtsync_input_type_by_name(RtsyncSchema *schema, const char *name);
extern RtsyncInputType *rtsync_input_type_from_ref(RtsyncInputContext *ctx,
												   const RtsyncGqlVariableDef *def);
extern void rtsync_input_type_print(StringInfo out, const RtsyncInputType *type);
extern char *rtsync_input_type_string(const RtsyncInputType *type);

/*
 * Coerces a literal (which may hold variables) to a type. Reports errors
 * and returns false when it does not coerce. *result: the value, or NULL
 * when there is none (a variable without a value, or not substituting).
 */
extern bool rtsync_input_coerce_literal(RtsyncInputContext *ctx,
										const RtsyncGqlValue *value,
										const RtsyncInputType *type,
										RtsyncInputValue **result);

/* Gives every variable its runtime value from the request's JSON. */
extern bool rtsync_input_coerce_variables(RtsyncInputContext *ctx,
										  const char *variables_json);

/* A literal as GraphQL prints it, for messages. */
extern void rtsync_gql_print_value(StringInfo out, const RtsyncGqlValue *value);

/* For graphql/input_variables.c: the pieces both coercions share */
typedef enum RtsyncRawKind
{
	RTSYNC_RAW_INT,
	RTSYNC_RAW_FLOAT,
	RTSYNC_RAW_STRING,
	RTSYNC_RAW_BOOLEAN,
	RTSYNC_RAW_OTHER
} RtsyncRawKind;

/* A scalar as given, in a literal or in JSON, before coercion. */
typedef struct RtsyncRawScalar
{
	RtsyncRawKind kind;
	const char *text;			/* INT, FLOAT: the number; STRING: the value */
	bool		boolean;
} RtsyncRawScalar;

extern RtsyncInputValue *rtsync_input_new_value(RtsyncInputValueKind kind, RtsyncGqlLocation loc);
extern RtsyncInputType *rtsync_input_field_type(const RtsyncInputType *type,
												const char *name, int *index);
extern RtsyncInputValue *rtsync_input_coerce_scalar(RtsyncGqlScalar scalar,
													const RtsyncRawScalar *raw,
													RtsyncGqlLocation loc);

#endif							/* RTSYNC_SUBSCRIPTION_INPUT_H */
