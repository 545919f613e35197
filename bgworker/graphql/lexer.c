/*-------------------------------------------------------------------------
 *
 * graphql/lexer.c
 *	  Splits GraphQL source text into tokens (GraphQL spec, October 2021,
 *	  section 2.1), for graphql/parser.c.
 *
 * The source is untrusted network data: it is read only within its given
 * length, must be well-formed UTF-8, and may not contain NUL bytes (outside
 * strings and comments a NUL is an unexpected character; a comment ends at
 * one).  Strings may not contain control characters other than tab, and an
 * escape may not produce U+0000, so every value fits a C string.  Error
 * messages follow graphql-js's wording; columns count characters, not
 * bytes.  Every step is linear in the input; nothing here recurses.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"

#include "graphql/lexer.h"

#define IS_DIGIT(c)			((c) >= '0' && (c) <= '9')
#define IS_NAME_START(c)	(((c) >= 'A' && (c) <= 'Z') || \
							 ((c) >= 'a' && (c) <= 'z') || (c) == '_')
#define IS_NAME_CONTINUE(c) (IS_NAME_START(c) || IS_DIGIT(c))

/* Is cp a Unicode scalar value (a code point that is not a surrogate)? */
#define IS_SCALAR_VALUE(cp) \
	((cp) <= 0x10FFFF && !((cp) >= 0xD800 && (cp) <= 0xDFFF))

static void lex_name(RtsyncGqlLexer *lexer, size_t start);
static void lex_number(RtsyncGqlLexer *lexer, size_t start);
static void lex_string(RtsyncGqlLexer *lexer, size_t start);
static void lex_block_string(RtsyncGqlLexer *lexer, size_t start);

/* The one-character punctuators, and their token kinds in the same order. */
static const char punctuators[] = "!$&():=@[]{|}";
static const RtsyncGqlTokenKind punctuator_kinds[] = {
	RTSYNC_GQL_TOK_BANG, RTSYNC_GQL_TOK_DOLLAR, RTSYNC_GQL_TOK_AMP,
	RTSYNC_GQL_TOK_PAREN_L, RTSYNC_GQL_TOK_PAREN_R, RTSYNC_GQL_TOK_COLON,
	RTSYNC_GQL_TOK_EQUALS, RTSYNC_GQL_TOK_AT, RTSYNC_GQL_TOK_BRACKET_L,
	RTSYNC_GQL_TOK_BRACKET_R, RTSYNC_GQL_TOK_BRACE_L, RTSYNC_GQL_TOK_PIPE,
	RTSYNC_GQL_TOK_BRACE_R
};

/* Token kinds as graphql-js names them in messages. */
static const char *const token_kind_descs[] = {
	[RTSYNC_GQL_TOK_ERROR] = "<error>",
	[RTSYNC_GQL_TOK_EOF] = "<EOF>",
	[RTSYNC_GQL_TOK_BANG] = "\"!\"",
	[RTSYNC_GQL_TOK_DOLLAR] = "\"$\"",
	[RTSYNC_GQL_TOK_AMP] = "\"&\"",
	[RTSYNC_GQL_TOK_PAREN_L] = "\"(\"",
	[RTSYNC_GQL_TOK_PAREN_R] = "\")\"",
	[RTSYNC_GQL_TOK_SPREAD] = "\"...\"",
	[RTSYNC_GQL_TOK_COLON] = "\":\"",
	[RTSYNC_GQL_TOK_EQUALS] = "\"=\"",
	[RTSYNC_GQL_TOK_AT] = "\"@\"",
	[RTSYNC_GQL_TOK_BRACKET_L] = "\"[\"",
	[RTSYNC_GQL_TOK_BRACKET_R] = "\"]\"",
	[RTSYNC_GQL_TOK_BRACE_L] = "\"{\"",
	[RTSYNC_GQL_TOK_PIPE] = "\"|\"",
	[RTSYNC_GQL_TOK_BRACE_R] = "\"}\"",
	[RTSYNC_GQL_TOK_NAME] = "Name",
	[RTSYNC_GQL_TOK_INT] = "Int",
	[RTSYNC_GQL_TOK_FLOAT] = "Float",
	[RTSYNC_GQL_TOK_STRING] = "String",
	[RTSYNC_GQL_TOK_BLOCK_STRING] = "BlockString"
};


/*
 * Records a syntax error: "Syntax Error: " and the formatted message, at the
 * given location.  Shared with the parser, so all messages look alike.
 */
void
rtsync_gql_syntax_error_va(RtsyncGqlError *error, RtsyncGqlLocation loc,
						   const char *fmt, va_list args)
{
	StringInfoData msg;

	initStringInfo(&msg);
	appendStringInfoString(&msg, "Syntax Error: ");
	for (;;)
	{
		va_list		copy;
		int			needed;

		va_copy(copy, args);
		needed = appendStringInfoVA(&msg, fmt, copy);
		va_end(copy);
		if (needed == 0)
			break;
		enlargeStringInfo(&msg, needed);
	}
	error->message = msg.data;
	error->loc = loc;
}

/*
 * Records a lexing error at byte offset pos and makes the current token an
 * error token, which the lexer then never moves past.
 */
static void
lex_error(RtsyncGqlLexer *lexer, size_t pos, const char *fmt,...)
pg_attribute_printf(3, 4);

static void
lex_error(RtsyncGqlLexer *lexer, size_t pos, const char *fmt,...)
{
	RtsyncGqlLocation loc = rtsync_gql_lexer_location(lexer, pos);
	va_list		args;

	va_start(args, fmt);
	rtsync_gql_syntax_error_va(lexer->error, loc, fmt, args);
	va_end(args);

	lexer->token.kind = RTSYNC_GQL_TOK_ERROR;
	lexer->token.loc = loc;
	lexer->token.start = pos;
	lexer->token.value = NULL;
	lexer->pos = pos;
}

/* The byte at pos, or -1 at and past the end of the source. */
static inline int
byte_at(const RtsyncGqlLexer *lexer, size_t pos)
{
	return pos < lexer->len ? (unsigned char) lexer->src[pos] : -1;
}

/*
 * The length of the well-formed UTF-8 character at pos (< len), or 0 if the
 * bytes there are not one (overlong, surrogate, too large, or truncated).
 */
static int
utf8_char_len(const RtsyncGqlLexer *lexer, size_t pos)
{
	const unsigned char *s = (const unsigned char *) lexer->src + pos;
	int			n = pg_utf_mblen(s);

	if ((size_t) n > lexer->len - pos || !pg_utf8_islegal(s, n))
		return 0;
	return n;
}

/*
 * The character at pos as graphql-js prints it in messages: "c" for
 * printable ASCII ('"' for a double quote), U+XXXX for anything else, <EOF>
 * past the end.
 */
static const char *
describe_char(const RtsyncGqlLexer *lexer, size_t pos)
{
	int			c = byte_at(lexer, pos);

	if (c < 0)
		return "<EOF>";
	if (c == '"')
		return "'\"'";
	if (c >= 0x20 && c <= 0x7E)
		return psprintf("\"%c\"", c);
	if (c < 0x80)
		return psprintf("U+%04X", (unsigned int) c);
	if (utf8_char_len(lexer, pos) == 0)
		return "<invalid UTF-8>";
	return psprintf("U+%04X",
					(unsigned int) utf8_to_unicode((const unsigned char *) lexer->src + pos));
}

/*
 * Up to nchars characters of the source from pos, for quoting in a message.
 * Stops early at the end, at a NUL and at malformed UTF-8, so the result is
 * always a valid UTF-8 C string.
 */
static char *
source_slice(const RtsyncGqlLexer *lexer, size_t pos, size_t nchars)
{
	StringInfoData out;

	initStringInfo(&out);
	while (nchars-- > 0 && pos < lexer->len)
	{
		int			c = (unsigned char) lexer->src[pos];
		int			n = 1;

		if (c == 0)
			break;
		if (c >= 0x80 && (n = utf8_char_len(lexer, pos)) == 0)
			break;
		appendBinaryStringInfo(&out, lexer->src + pos, n);
		pos += n;
	}
	return out.data;
}

/* Makes [start, end) the current token and moves past it. */
static void
set_token(RtsyncGqlLexer *lexer, RtsyncGqlTokenKind kind, size_t start,
		  size_t end, char *value)
{
	lexer->token.kind = kind;
	lexer->token.start = start;
	lexer->token.loc = rtsync_gql_lexer_location(lexer, start);
	lexer->token.value = value;
	lexer->pos = end;
	if (kind != RTSYNC_GQL_TOK_EOF)
		lexer->ntokens++;
}

/*
 * Prepares to read the source; the first rtsync_gql_lexer_advance() reads
 * the first token.  Lexing errors are reported through *error.
 */
void
rtsync_gql_lexer_init(RtsyncGqlLexer *lexer, const char *src, size_t len,
					  RtsyncGqlError *error)
{
	memset(lexer, 0, sizeof(*lexer));
	lexer->src = src;
	lexer->len = len;
	lexer->pos = 0;
	lexer->token.kind = RTSYNC_GQL_TOK_EOF;
	lexer->error = error;
	lexer->loc_pos = 0;
	lexer->loc_line = 1;
	lexer->loc_column = 1;
	initStringInfo(&lexer->buf);
}

/*
 * The line and column (1-based; columns count characters) of byte offset
 * pos.  Counts forward from the last answer, so asking in increasing order
 * costs linear time in all; an earlier position restarts from the top.
 * Line terminators are \n, \r\n and \r: every one of them in the source ends
 * a line, as strings cannot hold them raw and block strings count them.
 */
RtsyncGqlLocation
rtsync_gql_lexer_location(RtsyncGqlLexer *lexer, size_t pos)
{
	const unsigned char *s = (const unsigned char *) lexer->src;
	size_t		p;
	int			line;
	int			column;
	RtsyncGqlLocation loc;

	if (pos < lexer->loc_pos)
	{
		lexer->loc_pos = 0;
		lexer->loc_line = 1;
		lexer->loc_column = 1;
	}
	p = lexer->loc_pos;
	line = lexer->loc_line;
	column = lexer->loc_column;
	for (; p < pos && p < lexer->len; p++)
	{
		if (s[p] == '\n')
		{
			/* the \n of \r\n: the \r already ended the line */
			if (!(p > 0 && s[p - 1] == '\r'))
				line++;
			column = 1;
		}
		else if (s[p] == '\r')
		{
			line++;
			column = 1;
		}
		else if ((s[p] & 0xC0) != 0x80)
			column++;			/* not a UTF-8 continuation byte */
	}
	lexer->loc_pos = p;
	lexer->loc_line = line;
	lexer->loc_column = column;

	loc.line = line;
	loc.column = column;
	return loc;
}

/*
 * Skips a comment, from '#' to the end of its line (or a NUL byte, which the
 * caller then rejects).  Returns false, having reported it, on malformed
 * UTF-8.
 */
static bool
skip_comment(RtsyncGqlLexer *lexer, size_t *ppos)
{
	size_t		pos = *ppos + 1;

	while (pos < lexer->len)
	{
		int			c = (unsigned char) lexer->src[pos];
		int			n;

		if (c == '\n' || c == '\r' || c == '\0')
			break;
		if (c < 0x80)
		{
			pos++;
			continue;
		}
		if ((n = utf8_char_len(lexer, pos)) == 0)
		{
			lex_error(lexer, pos, "Invalid UTF-8 byte sequence.");
			return false;
		}
		pos += n;
	}
	*ppos = pos;
	return true;
}

/*
 * Reads the next token into lexer->token, skipping whitespace, commas, line
 * terminators, comments and byte order marks (the spec's Ignored tokens).
 * After an error the lexer stays on its error token.
 */
void
rtsync_gql_lexer_advance(RtsyncGqlLexer *lexer)
{
	size_t		pos = lexer->pos;
	int			c;
	const char *punct;

	if (lexer->token.kind == RTSYNC_GQL_TOK_ERROR)
		return;

	for (;;)
	{
		c = byte_at(lexer, pos);
		if (c < 0)
		{
			set_token(lexer, RTSYNC_GQL_TOK_EOF, pos, pos, NULL);
			return;
		}
		if (lexer->max_tokens > 0 && lexer->ntokens >= lexer->max_tokens &&
			!(c == ' ' || c == '\t' || c == ',' || c == '\n' || c == '\r' ||
			  c == '#' || c == 0xEF))
		{
			/* graphql-js's maxTokens wording, and the setting's name */
			lex_error(lexer, pos,
					  "Document contains more than %d tokens. Parsing aborted (rtsync.max_query_tokens).",
					  lexer->max_tokens);
			return;
		}
		if (c == ' ' || c == '\t' || c == ',' || c == '\n' || c == '\r')
			pos++;
		else if (c == '#')
		{
			if (!skip_comment(lexer, &pos))
				return;
		}
		else if (c == 0xEF && byte_at(lexer, pos + 1) == 0xBB &&
				 byte_at(lexer, pos + 2) == 0xBF)
			pos += 3;			/* U+FEFF, the byte order mark */
		else
			break;
	}

	if (c != '\0' && (punct = strchr(punctuators, c)) != NULL)
	{
		set_token(lexer, punctuator_kinds[punct - punctuators], pos, pos + 1,
				  NULL);
		return;
	}

	switch (c)
	{
		case '.':
			if (byte_at(lexer, pos + 1) == '.' && byte_at(lexer, pos + 2) == '.')
			{
				set_token(lexer, RTSYNC_GQL_TOK_SPREAD, pos, pos + 3, NULL);
				return;
			}
			break;
		case '"':
			if (byte_at(lexer, pos + 1) == '"' && byte_at(lexer, pos + 2) == '"')
				lex_block_string(lexer, pos);
			else
				lex_string(lexer, pos);
			return;
		case '\'':
			lex_error(lexer, pos,
					  "Unexpected single quote character ('), did you mean to use a double quote (\")?");
			return;
	}

	if (IS_DIGIT(c) || c == '-')
		lex_number(lexer, pos);
	else if (IS_NAME_START(c))
		lex_name(lexer, pos);
	else if (c >= 0x80 && utf8_char_len(lexer, pos) == 0)
		lex_error(lexer, pos, "Invalid UTF-8 byte sequence.");
	else
		lex_error(lexer, pos, "Unexpected character: %s.",
				  describe_char(lexer, pos));
}

/* Name :: NameStart NameContinue* */
static void
lex_name(RtsyncGqlLexer *lexer, size_t start)
{
	size_t		pos = start + 1;

	while (IS_NAME_CONTINUE(byte_at(lexer, pos)))
		pos++;
	set_token(lexer, RTSYNC_GQL_TOK_NAME, start, pos,
			  pnstrdup(lexer->src + start, pos - start));
}

/*
 * Reads one or more digits at *ppos; reports "expected digit" and returns
 * false if there is none.
 */
static bool
read_digits(RtsyncGqlLexer *lexer, size_t *ppos)
{
	size_t		pos = *ppos;

	if (!IS_DIGIT(byte_at(lexer, pos)))
	{
		lex_error(lexer, pos, "Invalid number, expected digit but got: %s.",
				  describe_char(lexer, pos));
		return false;
	}
	while (IS_DIGIT(byte_at(lexer, pos)))
		pos++;
	*ppos = pos;
	return true;
}

/*
 * IntValue and FloatValue: an optional '-', an integer part without leading
 * zeros, then an optional fraction and exponent (either makes it a Float).
 * A number may not be followed directly by '.' or a NameStart, so "1.",
 * "1e", "0x1" and "1a" are errors rather than two tokens.
 */
static void
lex_number(RtsyncGqlLexer *lexer, size_t start)
{
	size_t		pos = start;
	int			c = byte_at(lexer, pos);
	bool		is_float = false;

	if (c == '-')
		c = byte_at(lexer, ++pos);

	if (c == '0')
	{
		c = byte_at(lexer, ++pos);
		if (IS_DIGIT(c))
		{
			lex_error(lexer, pos, "Invalid number, unexpected digit after 0: %s.",
					  describe_char(lexer, pos));
			return;
		}
	}
	else
	{
		if (!read_digits(lexer, &pos))
			return;
		c = byte_at(lexer, pos);
	}

	if (c == '.')
	{
		is_float = true;
		pos++;
		if (!read_digits(lexer, &pos))
			return;
		c = byte_at(lexer, pos);
	}

	if (c == 'e' || c == 'E')
	{
		is_float = true;
		c = byte_at(lexer, ++pos);
		if (c == '+' || c == '-')
			pos++;
		if (!read_digits(lexer, &pos))
			return;
		c = byte_at(lexer, pos);
	}

	if (c == '.' || IS_NAME_START(c))
	{
		lex_error(lexer, pos, "Invalid number, expected digit but got: %s.",
				  describe_char(lexer, pos));
		return;
	}

	set_token(lexer, is_float ? RTSYNC_GQL_TOK_FLOAT : RTSYNC_GQL_TOK_INT,
			  start, pos, pnstrdup(lexer->src + start, pos - start));
}

/* The value of a hex digit, or -1. */
static inline int
hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The value of four hex digits at pos, or -1 if they are not. */
static long
read_hex4(const RtsyncGqlLexer *lexer, size_t pos)
{
	long		value = 0;

	for (int i = 0; i < 4; i++)
	{
		int			h = hex_value(byte_at(lexer, pos + i));

		if (h < 0)
			return -1;
		value = (value << 4) | h;
	}
	return value;
}

/*
 * Appends the UTF-8 encoding of the scalar value cp, produced by the escape
 * of nchars characters at pos, to the string being read.  U+0000 is refused:
 * values are C strings (and jsonb refuses it too).
 */
static bool
append_code_point(RtsyncGqlLexer *lexer, size_t pos, size_t nchars,
				  pg_wchar cp)
{
	unsigned char utf8[8];

	if (cp == 0)
	{
		lex_error(lexer, pos,
				  "Unsupported Unicode escape sequence: \"%s\" (strings cannot contain U+0000).",
				  source_slice(lexer, pos, nchars));
		return false;
	}
	unicode_to_utf8(cp, utf8);
	appendBinaryStringInfo(&lexer->buf, (char *) utf8, pg_utf_mblen(utf8));
	return true;
}

/*
 * \u{X...}: one to eight hex digits naming a Unicode scalar value (October
 * 2021 spec).  The escape starts at *ppos; on success *ppos moves past it.
 */
static bool
lex_unicode_variable(RtsyncGqlLexer *lexer, size_t *ppos)
{
	size_t		pos = *ppos;
	size_t		size = 3;		/* \u{ */
	uint32		point = 0;

	/*
	 * At most \u{ + 8 digits + }: 12 characters.  Like graphql-js, give up
	 * once the value no longer fits an int32, which makes messages alike.
	 */
	while (size < 12)
	{
		int			c = byte_at(lexer, pos + size++);
		int			h;

		if (c == '}')
		{
			/* at least one digit, and a scalar value */
			if (size < 5 || !IS_SCALAR_VALUE(point))
				break;
			if (!append_code_point(lexer, pos, size, (pg_wchar) point))
				return false;
			*ppos = pos + size;
			return true;
		}
		if ((h = hex_value(c)) < 0)
			break;
		point = (point << 4) | (uint32) h;
		if (point > PG_INT32_MAX)
			break;
	}

	/* the characters read so far are ASCII, but for the last one */
	lex_error(lexer, pos, "Invalid Unicode escape sequence: \"%s\".",
			  source_slice(lexer, pos, size));
	return false;
}

/*
 * \uXXXX: a scalar value, or the first half of a surrogate pair that must be
 * completed by a second \uXXXX escape (JSON style); the pair yields one code
 * point.  A lone surrogate is an error.
 */
static bool
lex_unicode_fixed(RtsyncGqlLexer *lexer, size_t *ppos)
{
	size_t		pos = *ppos;
	long		code = read_hex4(lexer, pos + 2);

	if (code >= 0 && IS_SCALAR_VALUE(code))
	{
		if (!append_code_point(lexer, pos, 6, (pg_wchar) code))
			return false;
		*ppos = pos + 6;
		return true;
	}

	if (code >= 0 && is_utf16_surrogate_first((pg_wchar) code) &&
		byte_at(lexer, pos + 6) == '\\' && byte_at(lexer, pos + 7) == 'u')
	{
		long		trail = read_hex4(lexer, pos + 8);

		if (trail >= 0 && is_utf16_surrogate_second((pg_wchar) trail))
		{
			if (!append_code_point(lexer, pos, 12,
								   surrogate_pair_to_codepoint((pg_wchar) code,
															   (pg_wchar) trail)))
				return false;
			*ppos = pos + 12;
			return true;
		}
	}

	lex_error(lexer, pos, "Invalid Unicode escape sequence: \"%s\".",
			  source_slice(lexer, pos, 6));
	return false;
}

/*
 * An escape sequence in a string, starting with the backslash at *ppos: its
 * value is appended to lexer->buf and *ppos moves past it.
 */
static bool
lex_escape(RtsyncGqlLexer *lexer, size_t *ppos)
{
	size_t		pos = *ppos;
	char		value;

	switch (byte_at(lexer, pos + 1))
	{
		case '"':
			value = '"';
			break;
		case '\\':
			value = '\\';
			break;
		case '/':
			value = '/';
			break;
		case 'b':
			value = '\b';
			break;
		case 'f':
			value = '\f';
			break;
		case 'n':
			value = '\n';
			break;
		case 'r':
			value = '\r';
			break;
		case 't':
			value = '\t';
			break;
		case 'u':
			if (byte_at(lexer, pos + 2) == '{')
				return lex_unicode_variable(lexer, ppos);
			return lex_unicode_fixed(lexer, ppos);
		default:
			lex_error(lexer, pos, "Invalid character escape sequence: \"%s\".",
					  source_slice(lexer, pos, 2));
			return false;
	}
	appendStringInfoChar(&lexer->buf, value);
	*ppos = pos + 2;
	return true;
}

/*
 * Checks the non-ASCII or control character at pos inside a string and
 * returns its length in bytes, or 0 after reporting it.  Tab is the only
 * control character allowed.
 */
static int
string_char_len(RtsyncGqlLexer *lexer, size_t pos)
{
	int			c = (unsigned char) lexer->src[pos];
	int			n;

	if (c < 0x20 && c != '\t')
	{
		lex_error(lexer, pos, "Invalid character within String: %s.",
				  describe_char(lexer, pos));
		return 0;
	}
	if (c < 0x80)
		return 1;
	if ((n = utf8_char_len(lexer, pos)) == 0)
		lex_error(lexer, pos, "Invalid UTF-8 byte sequence.");
	return n;
}

/*
 * StringValue: "...", on one line, with escapes.  Unescaped runs are copied
 * in chunks.
 */
static void
lex_string(RtsyncGqlLexer *lexer, size_t start)
{
	size_t		pos = start + 1;
	size_t		chunk = pos;
	StringInfo	buf = &lexer->buf;

	resetStringInfo(buf);
	while (pos < lexer->len)
	{
		int			c = (unsigned char) lexer->src[pos];
		int			n;

		if (c == '"')
		{
			appendBinaryStringInfo(buf, lexer->src + chunk, pos - chunk);
			set_token(lexer, RTSYNC_GQL_TOK_STRING, start, pos + 1,
					  pnstrdup(buf->data, buf->len));
			return;
		}
		if (c == '\\')
		{
			appendBinaryStringInfo(buf, lexer->src + chunk, pos - chunk);
			if (!lex_escape(lexer, &pos))
				return;
			chunk = pos;
			continue;
		}
		if (c == '\n' || c == '\r')
			break;
		if (c >= 0x20 && c < 0x80)
			pos++;
		else if ((n = string_char_len(lexer, pos)) == 0)
			return;
		else
			pos += n;
	}
	lex_error(lexer, pos, "Unterminated string.");
}

/*
 * The value of a block string from its raw lines (line terminators already
 * turned into \n, \""" into """): the common indentation of all lines but
 * the first is removed, then leading and trailing blank lines (those of only
 * spaces and tabs).  This is the spec's BlockStringValue(), in two passes.
 */
static char *
dedent_block_string(const char *raw, int rawlen)
{
	int			common = PG_INT32_MAX;
	int			first = -1;
	int			last = -1;
	int			lineno;
	int			start;
	StringInfoData out;

	/* find the common indentation and the first and last non-blank lines */
	for (lineno = 0, start = 0;; lineno++)
	{
		const char *nl = memchr(raw + start, '\n', rawlen - start);
		int			end = nl ? (int) (nl - raw) : rawlen;
		int			indent = 0;

		while (start + indent < end &&
			   (raw[start + indent] == ' ' || raw[start + indent] == '\t'))
			indent++;
		if (start + indent < end)
		{
			if (first < 0)
				first = lineno;
			last = lineno;
			if (lineno > 0 && indent < common)
				common = indent;
		}
		if (!nl)
			break;
		start = end + 1;
	}

	/* emit the lines from first to last, less the common indentation */
	initStringInfo(&out);
	for (lineno = 0, start = 0; lineno <= last; lineno++)
	{
		const char *nl = memchr(raw + start, '\n', rawlen - start);
		int			end = nl ? (int) (nl - raw) : rawlen;

		if (lineno >= first)
		{
			int			skip = (lineno == 0) ? 0 : Min(common, end - start);

			if (lineno > first)
				appendStringInfoChar(&out, '\n');
			appendBinaryStringInfo(&out, raw + start + skip, end - start - skip);
		}
		start = end + 1;
	}
	return out.data;
}

/*
 * BlockString: """...""", raw text over any number of lines, where only \"""
 * is an escape.  The lines are collected (normalised to \n) and dedented.
 */
static void
lex_block_string(RtsyncGqlLexer *lexer, size_t start)
{
	size_t		pos = start + 3;
	size_t		chunk = pos;
	StringInfo	raw = &lexer->buf;

	resetStringInfo(raw);
	while (pos < lexer->len)
	{
		int			c = (unsigned char) lexer->src[pos];
		int			n;

		if (c == '"' && byte_at(lexer, pos + 1) == '"' &&
			byte_at(lexer, pos + 2) == '"')
		{
			appendBinaryStringInfo(raw, lexer->src + chunk, pos - chunk);
			set_token(lexer, RTSYNC_GQL_TOK_BLOCK_STRING, start, pos + 3,
					  dedent_block_string(raw->data, raw->len));
			return;
		}
		if (c == '\\' && byte_at(lexer, pos + 1) == '"' &&
			byte_at(lexer, pos + 2) == '"' && byte_at(lexer, pos + 3) == '"')
		{
			/* drop the backslash, keep the quotes */
			appendBinaryStringInfo(raw, lexer->src + chunk, pos - chunk);
			chunk = pos + 1;
			pos += 4;
			continue;
		}
		if (c == '\n' || c == '\r')
		{
			appendBinaryStringInfo(raw, lexer->src + chunk, pos - chunk);
			appendStringInfoChar(raw, '\n');
			pos += (c == '\r' && byte_at(lexer, pos + 1) == '\n') ? 2 : 1;
			chunk = pos;
			continue;
		}
		if (c >= 0x20 && c < 0x80)
			pos++;
		else if ((n = string_char_len(lexer, pos)) == 0)
			return;
		else
			pos += n;
	}
	lex_error(lexer, pos, "Unterminated string.");
}

/*
 * A token kind as graphql-js names it in messages: punctuators quoted
 * ("{"), the others by name (Name, <EOF>).
 */
const char *
rtsync_gql_token_kind_desc(RtsyncGqlTokenKind kind)
{
	if ((int) kind < 0 || (int) kind >= lengthof(token_kind_descs))
		return "<unknown>";
	return token_kind_descs[kind];
}

/* A token as graphql-js describes it: its kind, then its value quoted. */
char *
rtsync_gql_token_desc(const RtsyncGqlToken *token)
{
	const char *kind = rtsync_gql_token_kind_desc(token->kind);

	if (token->value == NULL)
		return pstrdup(kind);
	return psprintf("%s \"%s\"", kind, token->value);
}
