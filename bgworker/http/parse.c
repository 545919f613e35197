/*-------------------------------------------------------------------------
 *
 * http/parse.c
 *	  HTTP/1.x request heads, chunked bodies and query strings.
 *
 * Strict where leniency lets two parsers disagree about where a request
 * ends (request smuggling): lines end in CRLF, no folded headers, no
 * blanks before a header's colon, one Content-Length value, and never both
 * Content-Length and Transfer-Encoding. Limits are checked before anything
 * is kept, so a hostile head costs at most the limits.
 *
 * Plain C with no PostgreSQL dependency (see http/parse.h): the fuzzer in
 * test/fuzz/http_head links this file alone.
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>
#include <strings.h>

#include "http/parse.h"

/* RFC 9110 tchar: the characters of a method or a header name */
static bool
is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* a visible character of a request target (no blanks, no controls) */
static bool
is_target_char(unsigned char c)
{
	return c > 0x20 && c != 0x7f;
}

/* a character allowed in a header value: visible, blank, or obs-text */
static bool
is_value_char(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static bool
slice_equals_nocase(const RtsyncHttpSlice *s, const char *text)
{
	size_t		n = strlen(text);

	return s->len == n && strncasecmp(s->p, text, n) == 0;
}

/*
 * The request line: METHOD SP TARGET SP HTTP/1.x. Returns
 * RTSYNC_HTTP_COMPLETE or the status to answer.
 */
static RtsyncHttpParse
parse_request_line(const char *line, size_t len, RtsyncHttpHead *head)
{
	size_t		i = 0;
	const char *v;

	while (i < len && is_tchar((unsigned char) line[i]))
		i++;
	if (i == 0 || i >= len || line[i] != ' ')
		return RTSYNC_HTTP_BAD_REQUEST;
	head->method.p = line;
	head->method.len = i;
	head->target.p = line + ++i;
	while (i < len && is_target_char((unsigned char) line[i]))
		i++;
	head->target.len = line + i - head->target.p;
	if (head->target.len == 0 || i >= len || line[i] != ' ')
		return RTSYNC_HTTP_BAD_REQUEST;
	i++;
	if (len - i != 8 || strncmp(line + i, "HTTP/", 5) != 0)
		return RTSYNC_HTTP_BAD_REQUEST;
	v = line + i + 5;
	if (v[0] < '0' || v[0] > '9' || v[1] != '.' || v[2] < '0' || v[2] > '9')
		return RTSYNC_HTTP_BAD_REQUEST;
	if (v[0] != '1')
		return RTSYNC_HTTP_VERSION_NOT_SUPPORTED;
	head->minor_version = v[2] - '0';

	/* origin form "/path?query", or "*" for OPTIONS; anything else is refused */
	{
		const char *q = memchr(head->target.p, '?', head->target.len);

		head->path.p = head->target.p;
		head->path.len = q ? (size_t) (q - head->target.p) : head->target.len;
		head->query.p = q ? q + 1 : head->target.p + head->target.len;
		head->query.len = head->target.p + head->target.len - head->query.p;
		if (head->target.p[0] != '/' &&
			!(head->target.len == 1 && head->target.p[0] == '*'))
			return RTSYNC_HTTP_BAD_REQUEST;
	}
	return RTSYNC_HTTP_COMPLETE;
}

/* One header line, "name: value", without its CRLF. */
static RtsyncHttpParse
parse_header_line(const char *line, size_t len, RtsyncHttpHead *head)
{
	size_t		i = 0;
	size_t		start,
				end;
	RtsyncHttpHeader *h;

	while (i < len && is_tchar((unsigned char) line[i]))
		i++;
	/* no name, a blank before the colon, or a folded continuation line */
	if (i == 0 || i >= len || line[i] != ':')
		return RTSYNC_HTTP_BAD_REQUEST;
	if (head->nheaders >= RTSYNC_HTTP_HEADERS_MAX)
		return RTSYNC_HTTP_HEADERS_TOO_LARGE;
	h = &head->headers[head->nheaders++];
	h->name.p = line;
	h->name.len = i;
	start = i + 1;
	for (size_t j = start; j < len; j++)
		if (!is_value_char((unsigned char) line[j]))
			return RTSYNC_HTTP_BAD_REQUEST;
	while (start < len && (line[start] == ' ' || line[start] == '\t'))
		start++;
	end = len;
	while (end > start && (line[end - 1] == ' ' || line[end - 1] == '\t'))
		end--;
	h->value.p = line + start;
	h->value.len = end - start;
	return RTSYNC_HTTP_COMPLETE;
}

/*
 * Parses a request head from the start of buf. INCOMPLETE while the empty
 * line that ends it has not arrived and the limits still hold. Empty lines
 * before the request line are skipped, as RFC 9112 allows.
 */
RtsyncHttpParse
rtsync_http_parse_head(const char *buf, size_t len, RtsyncHttpHead *head)
{
	size_t		pos = 0;
	bool		have_request_line = false;

	memset(head, 0, sizeof(*head));
	while (pos < len)
	{
		const char *line = buf + pos;
		size_t		avail = len - pos;
		size_t		limit = avail < RTSYNC_HTTP_LINE_MAX + 2 ? avail : RTSYNC_HTTP_LINE_MAX + 2;
		const char *lf = memchr(line, '\n', limit);
		size_t		linelen;
		RtsyncHttpParse r;

		if (lf == NULL)
		{
			if (avail > RTSYNC_HTTP_LINE_MAX + 1)
				return have_request_line ? RTSYNC_HTTP_HEADERS_TOO_LARGE :
					RTSYNC_HTTP_URI_TOO_LONG;
			break;				/* the line is still arriving */
		}
		if (pos + (lf - line) + 1 > RTSYNC_HTTP_HEAD_MAX)
			return RTSYNC_HTTP_HEADERS_TOO_LARGE;
		if (lf == line || lf[-1] != '\r')
			return RTSYNC_HTTP_BAD_REQUEST; /* a bare LF */
		linelen = lf - 1 - line;
		pos += linelen + 2;
		if (memchr(line, '\0', linelen) != NULL || memchr(line, '\r', linelen) != NULL)
			return RTSYNC_HTTP_BAD_REQUEST;
		if (linelen == 0)
		{
			if (!have_request_line)
				continue;		/* a leading empty line */
			head->head_len = pos;
			return RTSYNC_HTTP_COMPLETE;
		}
		r = have_request_line ? parse_header_line(line, linelen, head) :
			parse_request_line(line, linelen, head);
		if (r != RTSYNC_HTTP_COMPLETE)
			return r;
		have_request_line = true;
	}
	if (len >= RTSYNC_HTTP_HEAD_MAX)
		return RTSYNC_HTTP_HEADERS_TOO_LARGE;
	return RTSYNC_HTTP_INCOMPLETE;
}

bool
rtsync_http_head_ready(RtsyncHttpScan *scan, const char *buf, size_t len)
{
	size_t		pos = scan->scanned;

	while (pos < len)
	{
		const char *lf = memchr(buf + pos, '\n', len - pos);
		size_t		at;

		if (lf == NULL)
			break;
		at = lf - buf;
		/* a bare LF, or the empty line that ends the head */
		if (at == 0 || buf[at - 1] != '\r' ||
			(at >= 3 && buf[at - 2] == '\n' && buf[at - 3] == '\r') ||
			at - scan->line_start > RTSYNC_HTTP_LINE_MAX + 1)
		{
			scan->scanned = len;
			return true;
		}
		scan->line_start = at + 1;
		pos = at + 1;
	}
	scan->scanned = len;
	return len >= RTSYNC_HTTP_HEAD_MAX ||
		len - scan->line_start > RTSYNC_HTTP_LINE_MAX + 1;
}

const RtsyncHttpSlice *
rtsync_http_header(const RtsyncHttpHead *head, const char *name)
{
	for (int i = 0; i < head->nheaders; i++)
		if (slice_equals_nocase(&head->headers[i].name, name))
			return &head->headers[i].value;
	return NULL;
}

bool
rtsync_http_token_in(const RtsyncHttpSlice *value, const char *token)
{
	size_t		n = strlen(token);
	size_t		i = 0;

	while (value && i < value->len)
	{
		size_t		start,
					end;

		while (i < value->len && (value->p[i] == ' ' || value->p[i] == '\t' || value->p[i] == ','))
			i++;
		start = i;
		while (i < value->len && value->p[i] != ',')
			i++;
		end = i;
		while (end > start && (value->p[end - 1] == ' ' || value->p[end - 1] == '\t'))
			end--;
		if (end - start == n && strncasecmp(value->p + start, token, n) == 0)
			return true;
	}
	return false;
}

RtsyncHttpBodyKind
rtsync_http_body_kind(const RtsyncHttpHead *head, uint64_t *length)
{
	bool		have_length = false;
	bool		chunked = false;

	*length = 0;
	for (int i = 0; i < head->nheaders; i++)
	{
		const RtsyncHttpHeader *h = &head->headers[i];

		if (slice_equals_nocase(&h->name, "content-length"))
		{
			uint64_t	v = 0;

			if (h->value.len == 0 || h->value.len > 18)
				return RTSYNC_BODY_INVALID;
			for (size_t j = 0; j < h->value.len; j++)
			{
				if (h->value.p[j] < '0' || h->value.p[j] > '9')
					return RTSYNC_BODY_INVALID; /* also "-1" and "1, 2" */
				v = v * 10 + (h->value.p[j] - '0');
			}
			if (have_length && v != *length)
				return RTSYNC_BODY_INVALID;
			have_length = true;
			*length = v;
		}
		else if (slice_equals_nocase(&h->name, "transfer-encoding"))
		{
			/* only "chunked", once, and only in HTTP/1.1 */
			if (!slice_equals_nocase(&h->value, "chunked"))
				return rtsync_http_token_in(&h->value, "chunked") || h->value.len == 0 ?
					RTSYNC_BODY_INVALID : RTSYNC_BODY_UNSUPPORTED;
			if (chunked || head->minor_version == 0)
				return RTSYNC_BODY_INVALID;
			chunked = true;
		}
	}
	if (chunked && have_length)
		return RTSYNC_BODY_INVALID;
	if (chunked)
		return RTSYNC_BODY_CHUNKED;
	return have_length && *length > 0 ? RTSYNC_BODY_LENGTH : RTSYNC_BODY_NONE;
}

/* The chunked decoder's phases. */
enum
{
	CH_SIZE = 0,				/* hex digits of a chunk size */
	CH_EXT,						/* ";name=value" after the size, ignored */
	CH_SIZE_LF,					/* the LF after the size line's CR */
	CH_DATA,
	CH_DATA_CR,
	CH_DATA_LF,
	CH_TRAILER,					/* a trailer line, or the final empty one */
	CH_TRAILER_LF,
	CH_DONE
};

/* bounds on the parts of a chunked body that carry no data */
#define CHUNK_LINE_MAX 1024
#define CHUNK_TRAILER_MAX RTSYNC_HTTP_LINE_MAX

static int
hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

size_t
rtsync_chunked_decode(RtsyncChunked *s, char *buf, size_t len, size_t *consumed)
{
	size_t		in = 0;
	size_t		out = 0;

	while (in < len && !s->done && !s->error)
	{
		unsigned char c = (unsigned char) buf[in];

		switch (s->phase)
		{
			case CH_SIZE:
				if (hex_value(c) >= 0)
				{
					/* 15 hex digits: far above any body limit, and no overflow */
					if (++s->digits > 15)
						s->error = true;
					s->remaining = s->remaining * 16 + hex_value(c);
				}
				else if (s->digits > 0 && (c == ';' || c == ' ' || c == '\t'))
					s->phase = CH_EXT;
				else if (s->digits > 0 && c == '\r')
					s->phase = CH_SIZE_LF;
				else
					s->error = true;
				in++;
				break;
			case CH_EXT:
				if (c == '\r')
					s->phase = CH_SIZE_LF;
				else if (c == '\n' || c == '\0')
					s->error = true;
				in++;
				break;
			case CH_SIZE_LF:
				if (c != '\n')
				{
					s->error = true;
					break;
				}
				in++;
				s->line_len = 0;
				s->phase = s->remaining > 0 ? CH_DATA : CH_TRAILER;
				break;
			case CH_DATA:
				{
					size_t		n = len - in;

					if (n > s->remaining)
						n = (size_t) s->remaining;
					memmove(buf + out, buf + in, n);
					out += n;
					in += n;
					s->remaining -= n;
					if (s->remaining == 0)
						s->phase = CH_DATA_CR;
				}
				break;
			case CH_DATA_CR:
				if (c != '\r')
					s->error = true;
				in++;
				s->phase = CH_DATA_LF;
				break;
			case CH_DATA_LF:
				if (c != '\n')
					s->error = true;
				in++;
				s->digits = 0;
				s->line_len = 0;
				s->phase = CH_SIZE;
				break;
			case CH_TRAILER:
				if (c == '\r')
					s->phase = CH_TRAILER_LF;
				else if (c == '\n' || c == '\0')
					s->error = true;
				else
					s->line_len++;
				in++;
				break;
			case CH_TRAILER_LF:
				if (c != '\n')
				{
					s->error = true;
					break;
				}
				in++;
				if (s->line_len == 0)
				{
					s->phase = CH_DONE;
					s->done = true;
				}
				else
				{
					s->line_len = 0;
					s->phase = CH_TRAILER;
				}
				break;
		}
		/* the size line, with extensions, and each trailer line are bounded */
		if (s->phase == CH_EXT || s->phase == CH_SIZE)
		{
			if (++s->line_len > CHUNK_LINE_MAX)
				s->error = true;
		}
		else if (s->phase == CH_TRAILER && s->line_len > CHUNK_TRAILER_MAX)
			s->error = true;
	}
	*consumed = in;
	return out;
}

long
rtsync_http_query_arg(const RtsyncHttpSlice *query, const char *name,
					  char *out, size_t outmax)
{
	size_t		namelen = strlen(name);
	size_t		i = 0;

	while (i < query->len)
	{
		size_t		start = i;
		size_t		end;

		while (i < query->len && query->p[i] != '&')
			i++;
		end = i++;
		if (end - start > namelen && query->p[start + namelen] == '=' &&
			strncmp(query->p + start, name, namelen) == 0)
		{
			size_t		n = 0;

			for (size_t j = start + namelen + 1; j < end; j++)
			{
				char		c = query->p[j];

				if (c == '+')
					c = ' ';
				else if (c == '%' && j + 2 < end &&
						 hex_value((unsigned char) query->p[j + 1]) >= 0 &&
						 hex_value((unsigned char) query->p[j + 2]) >= 0)
				{
					c = (char) (hex_value((unsigned char) query->p[j + 1]) * 16 +
								hex_value((unsigned char) query->p[j + 2]));
					j += 2;
				}
				if (n + 1 >= outmax)
					return -1;
				out[n++] = c;
			}
			if (outmax == 0)
				return -1;
			out[n] = '\0';
			return (long) n;
		}
	}
	return -1;
}
