/*
 * libFuzzer target: the HTTP request-head parser, the incremental head
 * scanner, body framing, the chunked decoder and query arguments
 * (bgworker/http/parse.c), on arbitrary bytes. Checks the invariants the
 * server relies on: nothing read or written out of bounds (AddressSanitizer),
 * a complete head's slices lie inside it, the scanner never misses a head
 * or a head too large, and the decoder never produces more than it consumed.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "http/parse.h"

static void
check_slice(const RtsyncHttpSlice *s, const char *buf, size_t len)
{
	if (s->len == 0)
		return;
	assert(s->p >= buf && s->p + s->len <= buf + len);
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static RtsyncHttpHead head;
	char	   *buf = malloc(size ? size : 1);
	RtsyncHttpParse r;

	memcpy(buf, data, size);
	r = rtsync_http_parse_head(buf, size, &head);
	if (r == RTSYNC_HTTP_COMPLETE)
	{
		uint64_t	length;
		char		out[256];

		assert(head.head_len <= size && head.head_len <= RTSYNC_HTTP_HEAD_MAX);
		check_slice(&head.method, buf, head.head_len);
		check_slice(&head.target, buf, head.head_len);
		check_slice(&head.path, buf, head.head_len);
		check_slice(&head.query, buf, head.head_len);
		for (int i = 0; i < head.nheaders; i++)
		{
			check_slice(&head.headers[i].name, buf, head.head_len);
			check_slice(&head.headers[i].value, buf, head.head_len);
		}
		(void) rtsync_http_body_kind(&head, &length);
		(void) rtsync_http_header(&head, "content-length");
		(void) rtsync_http_token_in(rtsync_http_header(&head, "connection"), "close");
		(void) rtsync_http_query_arg(&head.query, "query", out, sizeof(out));
		(void) rtsync_http_query_arg(&head.query, "variables", out, 1);
	}

	/* the scanner, fed in pieces, is ready whenever the parser decides */
	{
		RtsyncHttpScan scan = {0, 0};
		bool		ready = false;
		size_t		step = size > 0 ? (data[0] % 7) + 1 : 1;

		for (size_t n = 0; n <= size && !ready; n += step)
			ready = rtsync_http_head_ready(&scan, buf, n < size ? n : size);
		if (!ready)
			ready = rtsync_http_head_ready(&scan, buf, size);
		/* a bad line is refused when the head ends; a whole head or its size at once */
		if (r == RTSYNC_HTTP_COMPLETE || size >= RTSYNC_HTTP_HEAD_MAX)
			assert(ready);
	}

	/* the same bytes as a chunked body, decoded in pieces */
	{
		RtsyncChunked ch;
		size_t		pos = 0;
		size_t		produced = 0;

		memcpy(buf, data, size);
		memset(&ch, 0, sizeof(ch));
		while (pos < size && !ch.done && !ch.error)
		{
			size_t		piece = (size - pos) > 5 ? 5 : size - pos;
			size_t		used;
			size_t		n = rtsync_chunked_decode(&ch, buf + pos, piece, &used);

			assert(n <= used && used <= piece);
			produced += n;
			if (used == 0)
				break;
			pos += used;
		}
		assert(produced <= size);
	}
	free(buf);
	return 0;
}
