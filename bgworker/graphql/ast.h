/*-------------------------------------------------------------------------
 *
 * graphql/ast.h
 *	  The syntax tree of a GraphQL executable document (operations and
 *	  fragments), as produced by graphql/parser.c.
 *
 * Every node and string is palloc'd in the memory context that was current
 * when the parser ran; freeing that context frees the whole tree. Lists are
 * Postgres Lists of node pointers. Locations are 1-based line and column
 * (columns count characters, as GraphQL error locations do).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_GRAPHQL_AST_H
#define RTSYNC_GRAPHQL_AST_H

#include "nodes/pg_list.h"

typedef struct RtsyncGqlLocation
{
	int			line;
	int			column;
} RtsyncGqlLocation;

/* A parse, validation or execution error, as GraphQL reports them. */
typedef struct RtsyncGqlError
{
	char	   *message;
	RtsyncGqlLocation loc;		/* line 0: no location */
} RtsyncGqlError;

typedef enum RtsyncGqlValueKind
{
	RTSYNC_GQL_VARIABLE,		/* str: the variable's name, without '$' */
	RTSYNC_GQL_INT,				/* str: the literal's digits */
	RTSYNC_GQL_FLOAT,			/* str: the literal as written */
	RTSYNC_GQL_STRING,			/* str: the value, escapes resolved (UTF-8) */
	RTSYNC_GQL_BOOLEAN,			/* boolean */
	RTSYNC_GQL_NULL,
	RTSYNC_GQL_ENUM,			/* str: the enum value's name */
	RTSYNC_GQL_LIST,			/* items: RtsyncGqlValue * */
	RTSYNC_GQL_OBJECT			/* fields: RtsyncGqlObjectField * */
} RtsyncGqlValueKind;

typedef struct RtsyncGqlValue
{
	RtsyncGqlValueKind kind;
	RtsyncGqlLocation loc;
	char	   *str;
	bool		boolean;
	List	   *items;
	List	   *fields;
} RtsyncGqlValue;

typedef struct RtsyncGqlObjectField
{
	char	   *name;
	RtsyncGqlValue *value;
	RtsyncGqlLocation loc;
} RtsyncGqlObjectField;

typedef struct RtsyncGqlArgument
{
	char	   *name;
	RtsyncGqlValue *value;
	RtsyncGqlLocation loc;
} RtsyncGqlArgument;

typedef struct RtsyncGqlDirective
{
	char	   *name;
	List	   *arguments;		/* RtsyncGqlArgument * */
	RtsyncGqlLocation loc;
} RtsyncGqlDirective;

/* A type reference: Name, [Type], or either followed by '!'. */
typedef struct RtsyncGqlTypeRef
{
	char	   *name;			/* named type; NULL for a list type */
	struct RtsyncGqlTypeRef *item;	/* list type's item type */
	bool		non_null;
	RtsyncGqlLocation loc;
} RtsyncGqlTypeRef;

typedef enum RtsyncGqlSelectionKind
{
	RTSYNC_GQL_FIELD,
	RTSYNC_GQL_FRAGMENT_SPREAD,
	RTSYNC_GQL_INLINE_FRAGMENT
} RtsyncGqlSelectionKind;

typedef struct RtsyncGqlSelection
{
	RtsyncGqlSelectionKind kind;
	RtsyncGqlLocation loc;
	char	   *alias;			/* field: alias, or NULL */
	char	   *name;			/* field: name; fragment spread: fragment name */
	List	   *arguments;		/* field: RtsyncGqlArgument * */
	List	   *directives;		/* RtsyncGqlDirective * */
	char	   *type_condition; /* inline fragment: "on Type", or NULL */
	List	   *selections;		/* field and inline fragment: the selection
								 * set (RtsyncGqlSelection *); NIL when the
								 * field has none */
} RtsyncGqlSelection;

typedef struct RtsyncGqlVariableDef
{
	char	   *name;			/* without '$' */
	RtsyncGqlTypeRef *type;
	RtsyncGqlValue *default_value;	/* or NULL */
	List	   *directives;
	RtsyncGqlLocation loc;
} RtsyncGqlVariableDef;

typedef enum RtsyncGqlOperationType
{
	RTSYNC_GQL_QUERY,
	RTSYNC_GQL_MUTATION,
	RTSYNC_GQL_SUBSCRIPTION
} RtsyncGqlOperationType;

typedef struct RtsyncGqlOperation
{
	RtsyncGqlOperationType type;
	char	   *name;			/* or NULL for an anonymous operation */
	List	   *variables;		/* RtsyncGqlVariableDef * */
	List	   *directives;
	List	   *selections;
	RtsyncGqlLocation loc;
} RtsyncGqlOperation;

typedef struct RtsyncGqlFragment
{
	int			index;			/* its position in the document's fragments */
	char	   *name;
	char	   *type_condition;
	List	   *directives;
	List	   *selections;
	RtsyncGqlLocation loc;
} RtsyncGqlFragment;

typedef struct RtsyncGqlDocument
{
	List	   *operations;		/* RtsyncGqlOperation *, in document order */
	List	   *fragments;		/* RtsyncGqlFragment *, in document order */
	struct RtsyncNameMap *fragment_index;	/* fragments by name, built on
											 * first use (see
											 * rtsync_find_fragment) */
} RtsyncGqlDocument;

#endif							/* RTSYNC_GRAPHQL_AST_H */
