/*-------------------------------------------------------------------------
 *
 * graphql/type_defs.h
 *	  The pieces of a GraphQL type system, as introspection shows them:
 *	  types, fields, arguments and input fields, enum values, directives,
 *	  and type references. graphql/schema_types.h builds the generated
 *	  schema's catalogue of them, with graphql/builtin_types.h's.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_TYPE_DEFS_H
#define RTSYNC_TYPE_DEFS_H

#include "lib/stringinfo.h"
#include "nodes/pg_list.h"

#include "graphql/ast.h"

/* The named kinds; LIST and NON_NULL are type references (RtsyncGqlTypeRef). */
typedef enum RtsyncTypeDefKind
{
	RTSYNC_DEF_SCALAR,
	RTSYNC_DEF_OBJECT,
	RTSYNC_DEF_ENUM,
	RTSYNC_DEF_INPUT_OBJECT
} RtsyncTypeDefKind;

/* Where a type comes from; only GENERATED ones are printed as SDL. */
typedef enum RtsyncTypeOrigin
{
	RTSYNC_ORIGIN_GENERATED,	/* from the published tables */
	RTSYNC_ORIGIN_BUILTIN,		/* ID String Int Float Boolean */
	RTSYNC_ORIGIN_INTROSPECTION /* __Schema, __Type, ... */
} RtsyncTypeOrigin;

/* An argument or an input object's field. */
typedef struct RtsyncInputValueDef
{
	const char *name;
	const char *description;	/* or NULL */
	RtsyncGqlTypeRef *type;
	const char *default_value;	/* as a GraphQL literal, or NULL */
} RtsyncInputValueDef;

/* A field of an object type. */
typedef struct RtsyncFieldDef
{
	const char *name;
	const char *description;
	RtsyncGqlTypeRef *type;
	List	   *args;			/* RtsyncInputValueDef * */
} RtsyncFieldDef;

typedef struct RtsyncEnumValueDef
{
	const char *name;
	const char *description;
} RtsyncEnumValueDef;

typedef struct RtsyncTypeDef
{
	RtsyncTypeDefKind kind;
	RtsyncTypeOrigin origin;
	const char *name;
	const char *description;
	List	   *fields;			/* OBJECT: RtsyncFieldDef *; INPUT_OBJECT:
								 * RtsyncInputValueDef * */
	List	   *values;			/* ENUM: RtsyncEnumValueDef * */
} RtsyncTypeDef;

typedef struct RtsyncDirectiveDef
{
	const char *name;
	const char *description;
	List	   *locations;		/* const char *, __DirectiveLocation names */
	List	   *args;			/* RtsyncInputValueDef * */
	bool		repeatable;
} RtsyncDirectiveDef;

/* Lookups: NULL when there is no such field, argument or input field. */
extern RtsyncFieldDef *rtsync_types_field(const RtsyncTypeDef *type, const char *name);
extern RtsyncInputValueDef *rtsync_types_input_value(List *values, const char *name);

/*
 * Type references: a named type (the name is not copied), a list of a
 * type, a type from its GraphQL text ("[String!]!"; NULL when the text is
 * no type), its text, and its innermost named type's name.
 */
extern RtsyncGqlTypeRef *rtsync_type_ref_make(const char *name, bool non_null);
extern RtsyncGqlTypeRef *rtsync_type_ref_list(RtsyncGqlTypeRef *item, bool non_null);
extern RtsyncGqlTypeRef *rtsync_type_ref_parse(const char *text);
extern void rtsync_type_ref_print(StringInfo out, const RtsyncGqlTypeRef *ref);
extern char *rtsync_type_ref_string(const RtsyncGqlTypeRef *ref);
extern const char *rtsync_type_ref_base(const RtsyncGqlTypeRef *ref);

/* Constructors, for the catalogue's builders (strings are not copied). */
extern RtsyncTypeDef *rtsync_types_new(RtsyncTypeDefKind kind, RtsyncTypeOrigin origin,
									   const char *name, const char *description);
extern RtsyncFieldDef *rtsync_types_add_field(RtsyncTypeDef *type, const char *name,
											  RtsyncGqlTypeRef *ref,
											  const char *description);
extern RtsyncInputValueDef *rtsync_types_new_input_value(const char *name,
														 RtsyncGqlTypeRef *type,
														 const char *description,
														 const char *default_value);

#endif							/* RTSYNC_TYPE_DEFS_H */
