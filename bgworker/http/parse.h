/*-------------------------------------------------------------------------
 *
 * http/parse.h
 *	  HTTP/1.x request heads, chunked bodies and query strings, parsed in
 *	  place from bytes a client sent.
 *
 * Pure C on caller-owned memory: no palloc, no I/O, no PostgreSQL error
 * paths, so that the listener, the HTTP connections and a fuzzer share
 * exactly the same code. Every function reads at most the length it is
 * given and never writes outside the buffers it is given.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_HTTP_PARSE_H
#define RTSYNC_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Limits, as nginx's defaults (large_client_header_buffers 4 8k): a request
 * line or one header line of at most 8 kB, a whole head of at most 32 kB.
 */
#define RTSYNC_HTTP_LINE_MAX 8192
#define RTSYNC_HTTP_HEAD_MAX 32768
#define RTSYNC_HTTP_HEADERS_MAX 100

typedef struct RtsyncHttpSlice
{
	const char *p;
	size_t		len;
} RtsyncHttpSlice;

typedef struct RtsyncHttpHeader
{
	RtsyncHttpSlice name;
	RtsyncHttpSlice value;		/* without surrounding blanks */
} RtsyncHttpHeader;

typedef struct RtsyncHttpHead
{
	RtsyncHttpSlice method;
	RtsyncHttpSlice target;		/* as sent: path and query */
	RtsyncHttpSlice path;		/* target up to '?' */
	RtsyncHttpSlice query;		/* after '?', or empty */
	int			minor_version;	/* HTTP/1.<minor> */
	int			nheaders;
	RtsyncHttpHeader headers[RTSYNC_HTTP_HEADERS_MAX];
	size_t		head_len;		/* bytes up to and including the empty line */
} RtsyncHttpHead;

/*
 * What rtsync_http_parse_head found. A status (400, 414, 431, 505) is the
 * answer a client gets for a head that is not acceptable.
 */
typedef enum RtsyncHttpParse
{
	RTSYNC_HTTP_INCOMPLETE = 0, /* no empty line yet, within the limits */
	RTSYNC_HTTP_COMPLETE = 1,
	RTSYNC_HTTP_BAD_REQUEST = 400,
	RTSYNC_HTTP_URI_TOO_LONG = 414,
	RTSYNC_HTTP_HEADERS_TOO_LARGE = 431,
	RTSYNC_HTTP_VERSION_NOT_SUPPORTED = 505
} RtsyncHttpParse;

extern RtsyncHttpParse rtsync_http_parse_head(const char *buf, size_t len,
											  RtsyncHttpHead *head);

/*
 * Incremental look at a head that is still arriving, so that a head sent a
 * byte at a time costs linear time: rtsync_http_head_ready looks only at
 * the bytes added since its last call and says whether parsing is worth it
 * (the empty line is in, a line ended in a bare LF, or a limit is passed).
 * Zero the struct for each new head.
 */
typedef struct RtsyncHttpScan
{
	size_t		scanned;		/* bytes looked at so far */
	size_t		line_start;		/* where the current line began */
} RtsyncHttpScan;

extern bool rtsync_http_head_ready(RtsyncHttpScan *scan, const char *buf, size_t len);

/* The value of the first header of that name (case-insensitive), or NULL. */
extern const RtsyncHttpSlice *rtsync_http_header(const RtsyncHttpHead *head,
												 const char *name);

/* Does a comma-separated header value hold this token (case-insensitive)? */
extern bool rtsync_http_token_in(const RtsyncHttpSlice *value, const char *token);

/*
 * How the body is framed: none, Content-Length, or chunked. Errors (a bad or
 * negative Content-Length, both headers, an unknown transfer coding) are
 * RTSYNC_BODY_INVALID, answered with 400 (501 for an unknown coding).
 */
typedef enum RtsyncHttpBodyKind
{
	RTSYNC_BODY_NONE,
	RTSYNC_BODY_LENGTH,
	RTSYNC_BODY_CHUNKED,
	RTSYNC_BODY_INVALID,
	RTSYNC_BODY_UNSUPPORTED
} RtsyncHttpBodyKind;

extern RtsyncHttpBodyKind rtsync_http_body_kind(const RtsyncHttpHead *head,
												uint64_t *length);

/*
 * A chunked body, decoded in place as its bytes arrive. Zero it to start.
 * rtsync_chunked_decode moves the data bytes of buf[0..len) to the front of
 * buf, returns how many there are, and sets *consumed to how many input
 * bytes it used (less than len only once the body is done: the rest is the
 * next request). state->done is set after the last chunk and the trailers;
 * state->error on a malformed chunk (answer 400).
 */
typedef struct RtsyncChunked
{
	int			phase;
	uint64_t	remaining;		/* data bytes left in the current chunk */
	int			digits;
	size_t		line_len;		/* of a chunk-size or trailer line */
	bool		done;
	bool		error;
} RtsyncChunked;

extern size_t rtsync_chunked_decode(RtsyncChunked *state, char *buf, size_t len,
									size_t *consumed);

/*
 * The value of name=... in a query string, %-decoded ('+' is a space) into
 * out (at most outmax - 1 bytes, NUL-terminated). Returns the decoded
 * length, or -1 when the argument is absent or does not fit.
 */
extern long rtsync_http_query_arg(const RtsyncHttpSlice *query, const char *name,
								  char *out, size_t outmax);

#endif							/* RTSYNC_HTTP_PARSE_H */
