/*-------------------------------------------------------------------------
 *
 * graphql/lexer.h
 *	  The tokens of a GraphQL document (GraphQL spec, October 2021, 2.1).
 *
 * The lexer reads UTF-8 source of a given length (it may hold NUL bytes and
 * need not be NUL-terminated) one token at a time, on demand of the parser.
 * It never throws: a malformed token becomes an RTSYNC_GQL_TOK_ERROR token,
 * and the error (message and location) is recorded once; from then on the
 * lexer stays on that token.  The parser can therefore treat a lexing error
 * like any token it did not expect, and the lexer's message wins.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_GRAPHQL_LEXER_H
#define RTSYNC_GRAPHQL_LEXER_H

#include "lib/stringinfo.h"

#include "graphql/ast.h"

typedef enum RtsyncGqlTokenKind
{
	RTSYNC_GQL_TOK_ERROR,		/* a lexing error; see the lexer's error */
	RTSYNC_GQL_TOK_EOF,
	RTSYNC_GQL_TOK_BANG,		/* ! */
	RTSYNC_GQL_TOK_DOLLAR,		/* $ */
	RTSYNC_GQL_TOK_AMP,			/* & */
	RTSYNC_GQL_TOK_PAREN_L,		/* ( */
	RTSYNC_GQL_TOK_PAREN_R,		/* ) */
	RTSYNC_GQL_TOK_SPREAD,		/* ... */
	RTSYNC_GQL_TOK_COLON,		/* : */
	RTSYNC_GQL_TOK_EQUALS,		/* = */
	RTSYNC_GQL_TOK_AT,			/* @ */
	RTSYNC_GQL_TOK_BRACKET_L,	/* [ */
	RTSYNC_GQL_TOK_BRACKET_R,	/* ] */
	RTSYNC_GQL_TOK_BRACE_L,		/* { */
	RTSYNC_GQL_TOK_PIPE,		/* | */
	RTSYNC_GQL_TOK_BRACE_R,		/* } */
	RTSYNC_GQL_TOK_NAME,
	RTSYNC_GQL_TOK_INT,
	RTSYNC_GQL_TOK_FLOAT,
	RTSYNC_GQL_TOK_STRING,
	RTSYNC_GQL_TOK_BLOCK_STRING
} RtsyncGqlTokenKind;

typedef struct RtsyncGqlToken
{
	RtsyncGqlTokenKind kind;
	RtsyncGqlLocation loc;		/* of the token's first character */
	size_t		start;			/* byte offset of the token's first byte */

	/*
	 * Name, Int, Float: the token as written; String, BlockString: the value,
	 * escapes resolved and (block strings) indentation removed; NULL for the
	 * rest.  A fresh palloc'd string per token: the parser may keep it.
	 */
	char	   *value;
} RtsyncGqlToken;

typedef struct RtsyncGqlLexer
{
	const char *src;
	size_t		len;
	size_t		pos;			/* next byte to read */
	RtsyncGqlToken token;		/* the current token */
	RtsyncGqlError *error;		/* set when a TOK_ERROR is produced */

	/*
	 * A location cursor: loc_pos is at line loc_line, column loc_column.
	 * Locations are asked for in increasing order (tokens are), so it only
	 * moves forward and finding every token's location is linear overall.
	 */
	size_t		loc_pos;
	int			loc_line;
	int			loc_column;

	StringInfoData buf;			/* scratch space for string values */

	/*
	 * Tokens read so far, and how many a document may have (0: any number):
	 * the one more is an error token. This bounds the syntax tree, and so
	 * everything done with it, by a number the client cannot raise.
	 */
	int			ntokens;
	int			max_tokens;
} RtsyncGqlLexer;

extern void rtsync_gql_lexer_init(RtsyncGqlLexer *lexer, const char *src,
								  size_t len, RtsyncGqlError *error);
extern void rtsync_gql_lexer_advance(RtsyncGqlLexer *lexer);
extern RtsyncGqlLocation rtsync_gql_lexer_location(RtsyncGqlLexer *lexer,
												   size_t pos);
extern const char *rtsync_gql_token_kind_desc(RtsyncGqlTokenKind kind);
extern char *rtsync_gql_token_desc(const RtsyncGqlToken *token);
extern void rtsync_gql_syntax_error_va(RtsyncGqlError *error,
									   RtsyncGqlLocation loc,
									   const char *fmt, va_list args)
			pg_attribute_printf(3, 0);

#endif							/* RTSYNC_GRAPHQL_LEXER_H */
