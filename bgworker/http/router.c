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
#include "http/graphql.h"
#include "http/router.h"
#include "http/static.h"
#include "base/metrics.h"
#include "base/settings.h"

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
