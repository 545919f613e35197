/*-------------------------------------------------------------------------
 *
 * http/request.c
 *	  HTTP requests and their answers: a request's memory, the status line's
 *	  reason, CORS headers, AppSync-shaped error bodies, and the answer
 *	  handed to the transport that read the request (see http/request.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "base/metrics.h"
#include "base/settings.h"
#include "extension/value_encode.h"
#include "http/request.h"

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

