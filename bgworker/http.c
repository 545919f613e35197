/*-------------------------------------------------------------------------
 *
 * http.c
 *	  HTTP requests on the worker's port: routing, request bodies with a
 *	  size limit, CORS, and answers written as the socket allows.
 *
 * Routes:
 *	  GET  /healthz				"ok"
 *	  GET  /metrics				Prometheus text format (metrics.c)
 *	  POST /graphql				GraphQL (application/json or application/graphql)
 *	  GET  /graphql?query=...	GraphQL queries (no mutations)
 *	  GET  /graphql/schema.graphql	the schema's SDL
 *	  GET  /						the explorer page (http_static.c)
 *	  OPTIONS *					CORS preflight
 *
 * /healthz and /metrics take no API key, as usual for health checks and
 * exporters (the server listens on localhost unless configured otherwise);
 * /metrics shows counts, never data or keys.
 *
 * Answers are built whole, then written in pieces from lws' writeable
 * callback (never more than the socket takes), with a Content-Length so
 * that connections are kept alive between requests.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "../extension/value_encode.h"
#include "http.h"
#include "http_static.h"
#include "metrics.h"
#include "settings.h"

/* the most one writeable callback writes */
#define WRITE_CHUNK (32 * 1024)
/* room for an answer's headers */
#define HEADERS_MAX 4096

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

/* Is this Origin allowed by rtsync.cors_allowed_origins? */
static bool
origin_allowed(const char *origin)
{
	const char *list = rtsync_cors_allowed_origins;
	size_t		olen;

	if (origin == NULL || list == NULL || list[0] == '\0')
		return false;
	if (strcmp(list, "*") == 0)
		return true;
	olen = strlen(origin);
	while (*list)
	{
		const char *end = strchr(list, ',');
		size_t		len;

		while (*list == ' ')
			list++;
		len = end ? (size_t) (end - list) : strlen(list);
		while (len > 0 && list[len - 1] == ' ')
			len--;
		if (len == olen && strncmp(list, origin, len) == 0)
			return true;
		if (end == NULL)
			break;
		list = end + 1;
	}
	return false;
}

static int
add_header(struct lws *wsi, const char *name, const char *value,
		   unsigned char **p, unsigned char *end)
{
	return lws_add_http_header_by_name(wsi, (const unsigned char *) name,
									   (const unsigned char *) value, strlen(value), p, end);
}

static int
add_cors_headers(RtsyncHttpRequest *req, unsigned char **p, unsigned char *end)
{
	if (!origin_allowed(req->origin))
		return 0;
	if (add_header(req->wsi, "access-control-allow-origin:",
				   strcmp(rtsync_cors_allowed_origins, "*") == 0 ? "*" : req->origin, p, end) ||
		add_header(req->wsi, "vary:", "Origin", p, end))
		return 1;
	if (!req->post && lws_hdr_total_length(req->wsi, WSI_TOKEN_OPTIONS_URI) > 0)
	{
		char	   *asked = custom_header_copy(req->wsi, "access-control-request-headers:");

		if (add_header(req->wsi, "access-control-allow-methods:", "GET, POST, OPTIONS", p, end) ||
			add_header(req->wsi, "access-control-allow-headers:",
					   asked ? asked : "content-type, x-api-key, x-amz-user-agent, authorization",
					   p, end) ||
			add_header(req->wsi, "access-control-max-age:", "86400", p, end))
			return 1;
	}
	return 0;
}

/* Writes the headers, then the body a chunk per callback. */
static int
http_writeable(RtsyncHttpRequest *req)
{
	struct lws *wsi = req->wsi;
	unsigned char buf[LWS_PRE + HEADERS_MAX];
	unsigned char *start = buf + LWS_PRE;
	unsigned char *p = start;
	unsigned char *end = buf + sizeof(buf) - 1;
	size_t		body_len = req->answer.len - LWS_PRE;
	size_t		left;
	size_t		n;

	if (!req->answered)
		return 0;
	if (!req->headers_sent)
	{
		if (lws_add_http_common_headers(wsi, req->status, req->answer_type,
										body_len, &p, end) ||
			add_cors_headers(req, &p, end) ||
			lws_finalize_write_http_header(wsi, start, &p, end))
			return -1;
		rtsync_metrics_count(RTSYNC_M_BYTES_SENT_HTTP, p - start);
		req->headers_sent = true;
		if (body_len > 0)
		{
			lws_callback_on_writable(wsi);
			return 0;
		}
	}
	left = body_len - req->sent;
	n = Min(left, WRITE_CHUNK);
	if (n > 0)
	{
		/* written in place: LWS_PRE bytes (headroom, or sent ones) precede it */
		unsigned char *from = (unsigned char *) req->answer.data + LWS_PRE + req->sent;

		if (lws_write(wsi, from, n, n == left ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int) n)
			return -1;
		rtsync_metrics_count(RTSYNC_M_BYTES_SENT_HTTP, n);
		req->sent += n;
	}
	if (req->sent < body_len)
	{
		lws_callback_on_writable(wsi);
		return 0;
	}
	/* done: the connection stays open for the next request, or closes */
	req->conn->http = NULL;
	req->wsi = NULL;
	rtsync_http_request_done(req);
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

void
rtsync_http_answer(RtsyncHttpRequest *req, int status, const char *type,
				   const char *body, size_t len)
{
	req->busy = false;
	/* every answer counts, also one whose client went away meanwhile */
	rtsync_metrics_http_request(status, req->started);
	if (status == HTTP_STATUS_UNAUTHORIZED)
		rtsync_metrics_count(RTSYNC_M_KEYS_REFUSED, 1);
	if (req->wsi == NULL)
	{
		rtsync_http_request_done(req);	/* the client went away */
		return;
	}
	req->answered = true;
	req->status = status;
	req->answer_type = type;
	/* LWS_PRE bytes of headroom, as lws_write wants before what it writes */
	resetStringInfo(&req->answer);
	appendStringInfoSpaces(&req->answer, LWS_PRE);
	appendBinaryStringInfo(&req->answer, body, len);
	lws_callback_on_writable(req->wsi);
}

void
rtsync_http_request_done(RtsyncHttpRequest *req)
{
	if (req->wsi == NULL && !req->busy)
		MemoryContextDelete(req->cxt);
}

static void
answer_error(RtsyncHttpRequest *req, int status, const char *error_type, const char *message)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"errors\":[{\"errorType\":");
	rtsync_json_append_string(&buf, error_type, strlen(error_type));
	appendStringInfoString(&buf, ",\"message\":");
	rtsync_json_append_string(&buf, message, strlen(message));
	appendStringInfoString(&buf, "}]}");
	rtsync_http_answer(req, status, "application/json", buf.data, buf.len);
}

static RtsyncHttpRequest *
new_request(struct lws *wsi, RtsyncConn *conn, const char *uri)
{
	MemoryContext cxt = AllocSetContextCreate(TopMemoryContext, "rtsync http request",
											  ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	RtsyncHttpRequest *req = palloc0(sizeof(RtsyncHttpRequest));

	req->cxt = cxt;
	req->wsi = wsi;
	req->conn = conn;
	req->uri = pstrdup(uri);
	req->started = GetCurrentTimestamp();
	req->post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
	req->api_key = custom_header_copy(wsi, "x-api-key:");
	req->origin = header_copy(wsi, WSI_TOKEN_ORIGIN);
	req->content_type = header_copy(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE);
	initStringInfo(&req->body);
	initStringInfo(&req->answer);
	MemoryContextSwitchTo(old);
	return req;
}

/* A new request: answer now, or wait for its body. */
static int
http_request(struct lws *wsi, RtsyncConn *conn, const char *uri)
{
	RtsyncHttpRequest *req = new_request(wsi, conn, uri);
	MemoryContext old = MemoryContextSwitchTo(req->cxt);
	bool		options = lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI) > 0;
	bool		get = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0;

	conn->http = req;
	if (options)
		rtsync_http_answer(req, HTTP_STATUS_NO_CONTENT, "text/plain", "", 0);
	else if (strcmp(uri, "/healthz") == 0)
		rtsync_http_answer(req, HTTP_STATUS_OK, "text/plain", "ok\n", 3);
	else if (strcmp(uri, "/metrics") == 0)
	{
		StringInfoData text;

		initStringInfo(&text);
		rtsync_metrics_write_prometheus(&text);
		rtsync_http_answer(req, HTTP_STATUS_OK, RTSYNC_METRICS_CONTENT_TYPE,
						   text.data, text.len);
	}
	else if (strcmp(uri, "/graphql") == 0 && req->post)
	{
		char	   *length = header_copy(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH);

		if (length && strtoll(length, NULL, 10) > rtsync_max_request_bytes)
		{
			req->too_big = true;
			answer_error(req, HTTP_STATUS_REQ_ENTITY_TOO_LARGE, "PayloadTooLargeException",
						 psprintf("The request body is larger than rtsync.max_request_bytes (%d bytes).",
								  rtsync_max_request_bytes));
		}
		/* else: the body follows */
	}
	else if ((strcmp(uri, "/graphql") == 0 || strcmp(uri, "/graphql/schema.graphql") == 0) && get)
		rtsync_graphql_http(req, true);
	else if (strcmp(uri, "/graphql") == 0)
		answer_error(req, HTTP_STATUS_METHOD_NOT_ALLOWED, "MethodNotAllowedException",
					 "Use POST (or GET for queries) on /graphql.");
	else
		answer_error(req, HTTP_STATUS_NOT_FOUND, "NotFoundException",
					 "Not found. GraphQL is served at /graphql: POST for queries and mutations, WebSocket for subscriptions.");
	MemoryContextSwitchTo(old);
	return 0;
}

static int
http_body(RtsyncHttpRequest *req, const char *in, size_t len)
{
	if (req->too_big || req->answered)
		return 0;
	if (req->body.len + len > (size_t) rtsync_max_request_bytes)
	{
		MemoryContext old = MemoryContextSwitchTo(req->cxt);

		req->too_big = true;
		answer_error(req, HTTP_STATUS_REQ_ENTITY_TOO_LARGE, "PayloadTooLargeException",
					 psprintf("The request body is larger than rtsync.max_request_bytes (%d bytes).",
							  rtsync_max_request_bytes));
		MemoryContextSwitchTo(old);
		return 0;
	}
	appendBinaryStringInfo(&req->body, in, len);
	return 0;
}

int
rtsync_http_callback(struct lws *wsi, enum lws_callback_reasons reason,
					 RtsyncConn *conn, void *in, size_t len)
{
	RtsyncHttpRequest *req = conn ? conn->http : NULL;

	switch (reason)
	{
		case LWS_CALLBACK_HTTP:
			if (req)
			{
				/* an earlier request on this connection is still running */
				req->wsi = NULL;
				conn->http = NULL;
				rtsync_http_request_done(req);
			}
			if (strcmp((const char *) in, "/") == 0)
				return rtsync_explorer_serve(wsi);	/* served by lws from a file */
			return http_request(wsi, conn, (const char *) in);
		case LWS_CALLBACK_HTTP_BODY:
			return req ? http_body(req, in, len) : 0;
		case LWS_CALLBACK_HTTP_BODY_COMPLETION:
			if (req && !req->answered && !req->too_big)
			{
				MemoryContext old = MemoryContextSwitchTo(req->cxt);

				rtsync_graphql_http(req, true);
				MemoryContextSwitchTo(old);
			}
			return 0;
		case LWS_CALLBACK_HTTP_WRITEABLE:
			return req ? http_writeable(req) : 0;
		case LWS_CALLBACK_CLOSED_HTTP:
			if (req)
			{
				conn->http = NULL;
				req->wsi = NULL;
				rtsync_http_request_done(req);
			}
			return 0;
		default:
			return 0;
	}
}
