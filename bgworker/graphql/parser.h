/*-------------------------------------------------------------------------
 *
 * graphql/parser.h
 *	  Parses a GraphQL executable document (operations and fragments) into
 *	  the syntax tree of graphql/ast.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_GRAPHQL_PARSER_H
#define RTSYNC_GRAPHQL_PARSER_H

#include "graphql/ast.h"

/*
 * How deeply selection sets, list and object values and list types may nest,
 * all counted together.  Deeper documents are refused with a syntax error,
 * which bounds the parser's (recursive) use of the C stack.
 */
#define RTSYNC_GQL_MAX_DEPTH 128

/*
 * Parses an executable document.  On success returns the document and leaves
 * *error untouched; on failure returns NULL and sets *error (message +
 * location).  Never ereports for bad input: callers run inside libwebsockets
 * callbacks where an ERROR longjmp must not happen.  Allocates with palloc in
 * the current memory context.
 */
extern RtsyncGqlDocument *rtsync_gql_parse(const char *source, size_t len,
										   RtsyncGqlError *error);

/*
 * The same, refusing a document of more than max_tokens tokens (0: no
 * limit) with a syntax error, before reading further: what the worker
 * parses is bounded by rtsync.max_query_tokens.
 */
extern RtsyncGqlDocument *rtsync_gql_parse_limited(const char *source, size_t len,
												   int max_tokens,
												   RtsyncGqlError *error);

#endif							/* RTSYNC_GRAPHQL_PARSER_H */
