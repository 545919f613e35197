/*-------------------------------------------------------------------------
 *
 * graphql/introspection_validate.h
 *	  Static validation of the introspection fields of a query (__schema,
 *	  __type and everything under them) against the type catalogue, with
 *	  graphql-js's messages.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_INTROSPECTION_VALIDATE_H
#define RTSYNC_INTROSPECTION_VALIDATE_H

#include "graphql/ast.h"
#include "graphql/schema_types.h"
#include "graphql/validate.h"

/* true for "__schema" and "__type" */
extern bool rtsync_introspection_field(const char *name);

/*
 * true for the introspection types (__Schema, __Type, __TypeKind, __Field,
 * __InputValue, __EnumValue, __Directive, __DirectiveLocation): a validator
 * meeting a fragment on one of them should leave its selections to
 * rtsync_introspection_validate (and report the usual error when it is
 * spread anywhere else than inside an introspection field).
 */
extern bool rtsync_introspection_type(const char *name);

/*
 * The static validation of one root introspection field and of the
 * fragments on introspection types it spreads, for the caller's validation
 * phase (ps->input.substitute false): fields, arguments, directives, leaf
 * and composite selections, fragment spreads, and the usage of variables,
 * which it marks used. Errors go to ps->sink with locations, in graphql-js's
 * words; an error that repeats one already in the sink (same message and
 * location) is dropped.
 */
extern void rtsync_introspection_validate(RtsyncPlanState *ps,
										  const RtsyncGqlSelection *field);

/*
 * The same for field nodes of the root type (the query root of cat), with
 * a catalogue already built; true when no error was added.
 */
extern bool rtsync_introspection_validate_fields(RtsyncPlanState *ps,
												 const RtsyncTypeCatalogue *cat,
												 List *fields);

#endif							/* RTSYNC_INTROSPECTION_VALIDATE_H */
