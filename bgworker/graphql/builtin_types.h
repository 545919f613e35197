/*-------------------------------------------------------------------------
 *
 * graphql/builtin_types.h
 *	  What every GraphQL schema has, as graphql-js 16 defines it: the
 *	  built-in scalars, the introspection types (__Schema, __Type, ...) and
 *	  the specified directives, with their descriptions; entries of the type
 *	  catalogue of graphql/schema_types.h, built of graphql/type_defs.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_BUILTIN_TYPES_H
#define RTSYNC_BUILTIN_TYPES_H

#include "graphql/type_defs.h"

/* ID String Int Float Boolean, in that order: RtsyncTypeDef * */
extern List *rtsync_builtin_scalars(void);

/* The introspection types, in graphql-js's order: RtsyncTypeDef * */
extern List *rtsync_builtin_introspection_types(void);

/* Is this the name of an introspection type (__Schema, __Type, ...)? */
extern bool rtsync_builtin_is_introspection_type(const char *name);

/* @include @skip @deprecated @specifiedBy @oneOf: RtsyncDirectiveDef * */
extern List *rtsync_builtin_directives(void);

#endif							/* RTSYNC_BUILTIN_TYPES_H */
