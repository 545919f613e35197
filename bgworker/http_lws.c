/*-------------------------------------------------------------------------
 *
 * http_lws.c
 *	  The HTTP transport over TLS: requests that libwebsockets read (it
 *	  listens itself when rtsync.tls_cert_file is set) become rtsync
 *	  requests for the router, and their answers go back through lws.
 *
 * Plain-TCP connections never come here: http_server.c serves them. lws
 * 4.1's HTTP server has faults rtsync's own avoids (it spins on pipelined
 * requests with bodies and takes no chunked bodies): over TLS, put clients
 * that pipeline behind a proxy, or use plain TCP on loopback behind one.
 *
 * Answers are written a chunk per writeable callback (never more than the
 * socket takes), with a Content-Length so connections are kept alive.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "http.h"
#include "http_lws.h"
#include "metrics.h"
#include "settings.h"

#define WRITE_CHUNK (32 * 1024)
#define HEADERS_MAX 4096

typedef struct LwsHttp
{
	struct lws *wsi;
	bool		headers_sent;
	bool		too_big;
	size_t		sent;
} LwsHttp;

static void
lws_send(RtsyncHttpRequest *req)
{
	lws_callback_on_writable(((LwsHttp *) req->transport_data)->wsi);
}

static const RtsyncHttpTransport lws_transport = {lws_send};

static char *
header_copy(struct lws *wsi, enum lws_token_indexes token)
{
	int			len = lws_hdr_total_length(wsi, token);
	char	   *buf;

	if (len <= 0)
		return NULL;
	buf = palloc(len + 1);
	if (lws_hdr_copy(wsi, buf, len + 1, token) < 0)
		return NULL;
	return buf;
}

static char *
custom_header_copy(struct lws *wsi, const char *name)
{
	int			len = lws_hdr_custom_length(wsi, name, strlen(name));
	char	   *buf;

	if (len <= 0)
		return NULL;
	buf = palloc(len + 1);
	if (lws_hdr_custom_copy(wsi, buf, len + 1, name, strlen(name)) < 0)
		return NULL;
	return buf;
}

/*
 * lws keeps query arguments decoded; the router parses a query string, so
 * the ones GraphQL uses are encoded again.
 */
static void
append_query_arg(struct lws *wsi, StringInfo q, const char *name, char *buf, int buflen)
{
	char		key[32];
	const char *v;

	snprintf(key, sizeof(key), "%s=", name);
	if ((v = lws_get_urlarg_by_name(wsi, key, buf, buflen)) == NULL)
		return;
	if (q->len > 0)
		appendStringInfoChar(q, '&');
	appendStringInfoString(q, key);
	for (; *v; v++)
	{
		if (isalnum((unsigned char) *v))
			appendStringInfoChar(q, *v);
		else
			appendStringInfo(q, "%%%02X", (unsigned char) *v);
	}
}

static RtsyncHttpRequest *
new_request(struct lws *wsi, const char *uri)
{
	RtsyncHttpRequest *req = rtsync_http_request_new(TopMemoryContext, &lws_transport, NULL);
	MemoryContext old = MemoryContextSwitchTo(req->cxt);
	LwsHttp    *st = palloc0(sizeof(LwsHttp));
	int			args = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS);

	st->wsi = wsi;
	req->transport_data = st;
	if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0)
		req->method = RTSYNC_HTTP_GET;
	else if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0)
		req->method = RTSYNC_HTTP_POST;
	else if (lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI) > 0)
		req->method = RTSYNC_HTTP_OPTIONS;
	else if (lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI) > 0)
		req->method = RTSYNC_HTTP_HEAD;
	else
		req->method = RTSYNC_HTTP_OTHER;
	req->post = req->method == RTSYNC_HTTP_POST;
	req->uri = pstrdup(uri);
	if (args > 0)
	{
		StringInfoData q;
		char	   *buf = palloc(args + 1);

		initStringInfo(&q);
		append_query_arg(wsi, &q, "query", buf, args + 1);
		append_query_arg(wsi, &q, "operationName", buf, args + 1);
		append_query_arg(wsi, &q, "variables", buf, args + 1);
		req->query = q.data;
	}
	req->api_key = custom_header_copy(wsi, "x-api-key:");
	req->origin = header_copy(wsi, WSI_TOKEN_ORIGIN);
	req->content_type = header_copy(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE);
	req->cors_request_headers = custom_header_copy(wsi, "access-control-request-headers:");
	MemoryContextSwitchTo(old);
	return req;
}

/* Adds "Name: value\r\n" lines to an lws header block. */
static int
add_header_lines(struct lws *wsi, const char *lines, unsigned char **p, unsigned char *end)
{
	while (lines && *lines)
	{
		const char *colon = strchr(lines, ':');
		const char *eol = strstr(lines, "\r\n");
		char		name[128];
		const char *value;

		if (colon == NULL || eol == NULL || colon > eol || colon - lines + 2 > sizeof(name))
			return 1;
		memcpy(name, lines, colon - lines + 1);
		name[colon - lines + 1] = '\0';
		for (char *c = name; *c; c++)
			*c = pg_tolower((unsigned char) *c);
		value = colon + 1;
		while (*value == ' ')
			value++;
		if (lws_add_http_header_by_name(wsi, (const unsigned char *) name,
										(const unsigned char *) value, eol - value, p, end))
			return 1;
		lines = eol + 2;
	}
	return 0;
}

/* Writes the headers, then the body a chunk per callback. */
static int
http_writeable(RtsyncConn *conn, RtsyncHttpRequest *req)
{
	LwsHttp    *st = req->transport_data;
	struct lws *wsi = st->wsi;
	unsigned char buf[LWS_PRE + HEADERS_MAX];
	unsigned char *start = buf + LWS_PRE;
	unsigned char *p = start;
	unsigned char *end = buf + sizeof(buf) - 1;
	size_t		body_len = req->answer.len;
	size_t		left;
	size_t		n;

	if (!req->answered)
		return 0;
	if (!st->headers_sent)
	{
		StringInfoData cors;

		bool		failed;

		initStringInfo(&cors);
		rtsync_http_append_cors(req, &cors);
		failed = lws_add_http_common_headers(wsi, req->status, req->answer_type,
											 body_len, &p, end) ||
			add_header_lines(wsi, cors.data, &p, end) ||
			add_header_lines(wsi, req->extra_headers, &p, end) ||
			lws_finalize_write_http_header(wsi, start, &p, end);
		pfree(cors.data);
		if (failed)
			return -1;
		rtsync_metrics_count(RTSYNC_M_BYTES_SENT_HTTP, p - start);
		st->headers_sent = true;
		if (body_len > 0)
		{
			lws_callback_on_writable(wsi);
			return 0;
		}
	}
	left = body_len - st->sent;
	n = Min(left, WRITE_CHUNK);
	if (n > 0)
	{
		/* lws_write wants LWS_PRE writable bytes before what it writes */
		unsigned char *chunk = palloc(LWS_PRE + n);
		int			written;

		memcpy(chunk + LWS_PRE, req->answer.data + st->sent, n);
		written = lws_write(wsi, chunk + LWS_PRE, n,
							n == left ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP);
		pfree(chunk);
		if (written != (int) n)
			return -1;
		rtsync_metrics_count(RTSYNC_M_BYTES_SENT_HTTP, n);
		st->sent += n;
	}
	if (st->sent < body_len)
	{
		lws_callback_on_writable(wsi);
		return 0;
	}
	/* done: the connection stays open for the next request, or closes */
	conn->http = NULL;
	rtsync_http_request_detach(req);
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static void
too_big(RtsyncHttpRequest *req)
{
	((LwsHttp *) req->transport_data)->too_big = true;
	rtsync_http_answer_error(req, RTSYNC_HTTP_STATUS_PAYLOAD_TOO_LARGE, "PayloadTooLargeException",
							 psprintf("The request body is larger than rtsync.max_request_bytes (%d bytes).",
									  rtsync_max_request_bytes));
}

int
rtsync_http_lws_callback(struct lws *wsi, enum lws_callback_reasons reason,
						 RtsyncConn *conn, void *in, size_t len)
{
	RtsyncHttpRequest *req = conn ? conn->http : NULL;
	MemoryContext old;

	switch (reason)
	{
		case LWS_CALLBACK_HTTP:
			if (req)
			{
				/* an earlier request on this connection is still running */
				conn->http = NULL;
				rtsync_http_request_detach(req);
			}
			req = new_request(wsi, (const char *) in);
			conn->http = req;
			old = MemoryContextSwitchTo(req->cxt);
			if (req->post)
			{
				char	   *length = header_copy(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH);

				if (length && strtoll(length, NULL, 10) > rtsync_max_request_bytes)
					too_big(req);
				/* else: the body follows */
			}
			else
				rtsync_http_route(req);
			MemoryContextSwitchTo(old);
			return 0;
		case LWS_CALLBACK_HTTP_BODY:
			if (req && !req->answered && !((LwsHttp *) req->transport_data)->too_big)
			{
				old = MemoryContextSwitchTo(req->cxt);
				if (req->body.len + len > (size_t) rtsync_max_request_bytes)
					too_big(req);
				else
					appendBinaryStringInfo(&req->body, in, len);
				MemoryContextSwitchTo(old);
			}
			return 0;
		case LWS_CALLBACK_HTTP_BODY_COMPLETION:
			if (req && !req->answered && !((LwsHttp *) req->transport_data)->too_big)
				rtsync_http_route(req);
			return 0;
		case LWS_CALLBACK_HTTP_WRITEABLE:
			return req ? http_writeable(conn, req) : 0;
		case LWS_CALLBACK_CLOSED_HTTP:
			if (req)
			{
				conn->http = NULL;
				rtsync_http_request_detach(req);
			}
			return 0;
		default:
			return 0;
	}
}
