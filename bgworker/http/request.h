/*-------------------------------------------------------------------------
 *
 * http/request.h
 *	  An HTTP request as the handlers see it, and how they answer it
 *	  (status, body, CORS headers, AppSync-shaped error bodies).
 *
 * A request is what a transport read from a client: its method, target,
 * the headers rtsync uses, and its whole body. One transport makes them:
 * http/connection.c (rtsync's own HTTP/1.1 connections, plain TCP or the
 * plaintext end of a TLS one, net/tls_proxy.c). The router (http/router.c)
 * hands it to a handler, which answers it through the transport that made
 * it.
 *
 * A request lives in its own memory context. The client may go away while
 * its statements run on the pool; the request then stays, orphaned
 * (transport NULL), until the pool's answer comes and frees it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_HTTP_REQUEST_H
#define RTSYNC_HTTP_REQUEST_H

#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"

#include "http/parse.h"

typedef struct RtsyncHttpRequest RtsyncHttpRequest;

/* How a transport sends an answer and learns that a request is over. */
typedef struct RtsyncHttpTransport
{
	/* the answer is in req->status, answer_type, extra_headers, answer */
	void		(*send) (RtsyncHttpRequest *req);
} RtsyncHttpTransport;

typedef enum RtsyncHttpMethod
{
	RTSYNC_HTTP_GET,
	RTSYNC_HTTP_HEAD,
	RTSYNC_HTTP_POST,
	RTSYNC_HTTP_OPTIONS,
	RTSYNC_HTTP_OTHER
} RtsyncHttpMethod;

struct RtsyncHttpRequest
{
	MemoryContext cxt;
	const RtsyncHttpTransport *transport;	/* NULL once the client has gone */
	void	   *transport_data;
	RtsyncHttpMethod method;
	bool		post;			/* method == POST */
	char	   *uri;			/* the path, without the query */
	char	   *query;			/* the query string, without '?' ("" if none) */
	char	   *api_key;		/* x-api-key, or NULL */
	char	   *authorization;	/* Authorization (a token), or NULL */
	char	   *origin;			/* Origin, or NULL */
	char	   *content_type;
	char	   *cors_request_headers;	/* Access-Control-Request-Headers */
	StringInfoData body;
	TimestampTz started;		/* when its head was in (for metrics) */
	bool		busy;			/* waiting on the pool or a reload */
	/* the answer */
	bool		answered;
	int			status;
	const char *answer_type;
	const char *extra_headers;	/* "name: value\r\n" lines, or NULL */
	StringInfoData answer;
};

/* A new request in its own context, child of parent. */
extern RtsyncHttpRequest *rtsync_http_request_new(MemoryContext parent,
												  const RtsyncHttpTransport *transport,
												  void *transport_data);

/* Queues the answer (status, type, body copied); frees orphans. */
extern void rtsync_http_answer(RtsyncHttpRequest *req, int status, const char *type,
							   const char *body, size_t len);
/* {"errors":[{"errorType":...,"message":...}]}, AppSync's shape */
extern void rtsync_http_error_body(StringInfo out, const char *error_type,
								   const char *message);
extern void rtsync_http_answer_error(RtsyncHttpRequest *req, int status,
									 const char *error_type, const char *message);

/* The transport has sent the answer, or its client has gone. */
extern void rtsync_http_request_detach(RtsyncHttpRequest *req);
extern void rtsync_http_request_done(RtsyncHttpRequest *req);

/* Response headers a router answer adds (CORS); appended to out. */
extern void rtsync_http_append_cors(RtsyncHttpRequest *req, StringInfo out);

/* Reason phrase of a status code. */
extern const char *rtsync_http_reason(int status);

/* HTTP status codes used by the router */
#define RTSYNC_HTTP_STATUS_OK 200
#define RTSYNC_HTTP_STATUS_NO_CONTENT 204
#define RTSYNC_HTTP_STATUS_BAD_REQUEST 400
#define RTSYNC_HTTP_STATUS_UNAUTHORIZED 401
#define RTSYNC_HTTP_STATUS_NOT_FOUND 404
#define RTSYNC_HTTP_STATUS_METHOD_NOT_ALLOWED 405
#define RTSYNC_HTTP_STATUS_PAYLOAD_TOO_LARGE 413
#define RTSYNC_HTTP_STATUS_TOO_MANY_REQUESTS 429
#define RTSYNC_HTTP_STATUS_INTERNAL_ERROR 500
#define RTSYNC_HTTP_STATUS_SERVICE_UNAVAILABLE 503

#endif							/* RTSYNC_HTTP_REQUEST_H */
