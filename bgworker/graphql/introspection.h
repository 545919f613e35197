/*-------------------------------------------------------------------------
 *
 * graphql/introspection.h
 *	  GraphQL introspection of the generated schema: the root fields
 *	  __schema and __type of queries, validated and resolved against the
 *	  type catalogue of graphql/schema_types.h.
 *
 * The query executor hands each root introspection field here while it
 * plans a query. Everything below that field (aliases, fragments on the
 * introspection types, inline fragments, @include/@skip, variables,
 * __typename) is validated (graphql/introspection_validate.h) and executed here;
 * the document-wide rules (fragment names, cycles, unused fragments) and
 * the operation's variable definitions are the caller's, through
 * graphql/validate.h. Query's own __typename is the caller's too.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_INTROSPECTION_H
#define RTSYNC_INTROSPECTION_H

#include "lib/stringinfo.h"

#include "graphql/ast.h"
#include "graphql/introspection_validate.h"
#include "graphql/validate.h"

/* Output beyond this many bytes is refused (nested introspection grows fast). */
#define RTSYNC_INTROSPECTION_MAX_BYTES (16 * 1024 * 1024)

/*
 * Validates and resolves one root introspection field of a query and
 * appends its JSON value (e.g. {"queryType":{"name":"Query"},...}) to out.
 * ps->doc has the fragments, ps->input the coerced variables
 * (ps->input.substitute is true). On invalid selections (unknown field
 * "Cannot query field \"x\" on type \"__Type\".", missing or invalid
 * arguments, as graphql-js words them) appends errors with locations to
 * ps->sink, appends nothing to out, and returns false. Validation is
 * repeated here (it is cheap), so calling rtsync_introspection_validate
 * first is only needed to mark variables used; errors already reported are
 * not reported twice.
 */
extern bool rtsync_introspect(RtsyncPlanState *ps, const RtsyncGqlSelection *field,
							  StringInfo out);

/*
 * The same for the fields of one response key (the root selection set
 * collected by response key, as graphql-js merges them): they must be the
 * same field with the same arguments, and their selection sets are merged.
 */
extern bool rtsync_introspect_fields(RtsyncPlanState *ps, List *fields, StringInfo out);

#endif							/* RTSYNC_INTROSPECTION_H */
