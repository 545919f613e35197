/*-------------------------------------------------------------------------
 *
 * graphql/schema_sdl.h
 *	  The generated schema in the GraphQL schema definition language, as
 *	  graphql-js's printSchema prints it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_SCHEMA_SDL_H
#define RTSYNC_SCHEMA_SDL_H

#include "lib/stringinfo.h"

#include "graphql/schema.h"
#include "graphql/schema_types.h"

/*
 * Appends the SDL of the schema's generated types (no built-in scalars,
 * introspection types or specified directives, and no schema definition:
 * the root types have the standard names), in catalogue order, without a
 * final newline: exactly what graphql-js's printSchema(buildSchema(sdl))
 * gives back. Never ereports; allocates in the current memory context.
 */
extern void rtsync_schema_print_sdl(RtsyncSchema *schema, StringInfo out);
extern void rtsync_types_print_sdl(const RtsyncTypeCatalogue *cat, StringInfo out);

#endif							/* RTSYNC_SCHEMA_SDL_H */
