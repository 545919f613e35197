/*-------------------------------------------------------------------------
 *
 * http/router.c
 *	  HTTP requests on the worker's port: routing, CORS, and answers handed
 *	  to the transport that read the request (see http/router.h).
 *
 * Routes:
 *	  GET  /healthz				"ok"
 *	  GET  /metrics				Prometheus text format (base/metrics.c)
 *	  POST /graphql				GraphQL (application/json or application/graphql)
 *	  GET  /graphql?query=...	GraphQL queries (no mutations)
 *	  GET  /graphql/schema.graphql	the schema's SDL
 *	  GET  /						the explorer page (http/static.c)
 *	  OPTIONS *					CORS preflight
 * HEAD is answered like GET, without the body. Another method on a known
 * path gets 405 with an Allow header; an unknown path 404.
 *
 * /healthz and /metrics take no API key, as usual for health checks and
 * exporters (the server listens on localhost unless configured otherwise);
 * /metrics shows counts, never data or keys.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "extension/value_encode.h"
#include "http/router.h"
#include "http/static.h"
#include "base/metrics.h"
#include "base/settings.h"

RtsyncHttpRequest *
rtsync_http_request_new(MemoryContext parent, const RtsyncHttpTransport *transport,
						void *transport_data)
{
	MemoryContext cxt = AllocSetContextCreate(parent, "rtsync http request",
											  ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	RtsyncHttpRequest *req = palloc0(sizeof(RtsyncHttpRequest));

	req->cxt = cxt;
	req->transport = transport;
	req->transport_data = transport_data;
	req->query = "";
	req->started = GetCurrentTimestamp();
	initStringInfo(&req->body);
	initStringInfo(&req->answer);
	MemoryContextSwitchTo(old);
	return req;
}

const char *
rtsync_http_reason(int status)
{
	switch (status)
	{
		case 100:
			return "Continue";
		case 200:
			return "OK";
		case 204:
			return "No Content";
		case 400:
			return "Bad Request";
		case 401:
			return "Unauthorized";
		case 404:
			return "Not Found";
		case 405:
			return "Method Not Allowed";
		case 408:
			return "Request Timeout";
		case 413:
			return "Content Too Large";
		case 414:
			return "URI Too Long";
		case 426:
			return "Upgrade Required";
		case 429:
			return "Too Many Requests";
		case 431:
			return "Request Header Fields Too Large";
		case 500:
			return "Internal Server Error";
		case 501:
			return "Not Implemented";
		case 503:
			return "Service Unavailable";
		case 505:
			return "HTTP Version Not Supported";
		default:
			return status < 300 ? "OK" : status < 500 ? "Bad Request" : "Server Error";
	}
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

/* A header value we echo must not end the line it is on. */
static bool
header_safe(const char *value)
{
	return strpbrk(value, "\r\n") == NULL;
}

void
rtsync_http_append_cors(RtsyncHttpRequest *req, StringInfo out)
{
	if (!origin_allowed(req->origin) || !header_safe(req->origin))
		return;
	appendStringInfo(out, "Access-Control-Allow-Origin: %s\r\nVary: Origin\r\n",
					 strcmp(rtsync_cors_allowed_origins, "*") == 0 ? "*" : req->origin);
	if (req->method == RTSYNC_HTTP_OPTIONS)
		appendStringInfo(out,
						 "Access-Control-Allow-Methods: GET, POST, OPTIONS\r\n"
						 "Access-Control-Allow-Headers: %s\r\n"
						 "Access-Control-Max-Age: 86400\r\n",
						 req->cors_request_headers && header_safe(req->cors_request_headers) ?
						 req->cors_request_headers :
						 "content-type, x-api-key, x-amz-user-agent, authorization");
}

void
rtsync_http_answer(RtsyncHttpRequest *req, int status, const char *type,
				   const char *body, size_t len)
{
	MemoryContext old;

	req->busy = false;
	/* every answer counts, also one whose client went away meanwhile */
	rtsync_metrics_http_request(status, req->started);
	if (status == RTSYNC_HTTP_STATUS_UNAUTHORIZED)
		rtsync_metrics_count(RTSYNC_M_KEYS_REFUSED, 1);
	if (req->transport == NULL)
	{
		rtsync_http_request_done(req);	/* the client went away */
		return;
	}
	old = MemoryContextSwitchTo(req->cxt);
	req->answered = true;
	req->status = status;
	req->answer_type = type;
	resetStringInfo(&req->answer);
	if (req->method != RTSYNC_HTTP_HEAD)
		appendBinaryStringInfo(&req->answer, body, len);
	MemoryContextSwitchTo(old);
	req->transport->send(req);
}

void
rtsync_http_error_body(StringInfo out, const char *error_type, const char *message)
{
	appendStringInfoString(out, "{\"errors\":[{\"errorType\":");
	rtsync_json_append_string(out, error_type, strlen(error_type));
	appendStringInfoString(out, ",\"message\":");
	rtsync_json_append_string(out, message, strlen(message));
	appendStringInfoString(out, "}]}");
}

void
rtsync_http_answer_error(RtsyncHttpRequest *req, int status, const char *error_type,
						 const char *message)
{
	StringInfoData buf;

	initStringInfo(&buf);
	rtsync_http_error_body(&buf, error_type, message);
	rtsync_http_answer(req, status, "application/json", buf.data, buf.len);
	pfree(buf.data);
}

/* The transport is done with the request: its client or answer is gone. */
void
rtsync_http_request_detach(RtsyncHttpRequest *req)
{
	req->transport = NULL;
	req->transport_data = NULL;
	rtsync_http_request_done(req);
}

/* Frees a request no one needs any more. */
void
rtsync_http_request_done(RtsyncHttpRequest *req)
{
	if (req->transport == NULL && !req->busy)
	{
		/* never delete the context we are in */
		if (CurrentMemoryContext == req->cxt)
			MemoryContextSwitchTo(MemoryContextGetParent(req->cxt));
		MemoryContextDelete(req->cxt);
	}
}

static void
method_not_allowed(RtsyncHttpRequest *req, const char *allow, const char *message)
{
	req->extra_headers = psprintf("Allow: %s\r\n", allow);
	rtsync_http_answer_error(req, RTSYNC_HTTP_STATUS_METHOD_NOT_ALLOWED,
							 "MethodNotAllowedException", message);
}

/* Routes a whole request; the answer may come later (the pool, a reload). */
void
rtsync_http_route(RtsyncHttpRequest *req)
{
	MemoryContext old = MemoryContextSwitchTo(req->cxt);
	const char *uri = req->uri;
	bool		get = req->method == RTSYNC_HTTP_GET || req->method == RTSYNC_HTTP_HEAD;

	if (req->method == RTSYNC_HTTP_OPTIONS)
		rtsync_http_answer(req, RTSYNC_HTTP_STATUS_NO_CONTENT, "text/plain", "", 0);
	else if (strcmp(uri, "/") == 0)
	{
		if (get)
			rtsync_explorer_serve(req);
		else
			method_not_allowed(req, "GET, HEAD",
							   "The explorer page takes GET; GraphQL requests go to /graphql.");
	}
	else if (strcmp(uri, "/healthz") == 0 || strcmp(uri, "/metrics") == 0)
	{
		if (!get)
			method_not_allowed(req, "GET, HEAD", "Use GET.");
		else if (uri[1] == 'h')
			rtsync_http_answer(req, RTSYNC_HTTP_STATUS_OK, "text/plain", "ok\n", 3);
		else
		{
			StringInfoData text;

			initStringInfo(&text);
			rtsync_metrics_write_prometheus(&text);
			rtsync_http_answer(req, RTSYNC_HTTP_STATUS_OK, RTSYNC_METRICS_CONTENT_TYPE,
							   text.data, text.len);
		}
	}
	else if (strcmp(uri, "/graphql") == 0 || strcmp(uri, "/graphql/schema.graphql") == 0)
	{
		if (get || (req->post && uri[8] == '\0'))
			rtsync_graphql_http(req, true);
		else if (uri[8] == '\0')
			method_not_allowed(req, "GET, HEAD, POST, OPTIONS",
							   "Use POST (or GET for queries) on /graphql.");
		else
			method_not_allowed(req, "GET, HEAD", "Use GET.");
	}
	else
		rtsync_http_answer_error(req, RTSYNC_HTTP_STATUS_NOT_FOUND, "NotFoundException",
								 "Not found. GraphQL is served at /graphql: POST for queries and mutations, WebSocket for subscriptions.");
	MemoryContextSwitchTo(old);
}
