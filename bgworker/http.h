/*-------------------------------------------------------------------------
 *
 * http.h
 *	  The HTTP side of the worker's server: GraphQL over HTTP (POST and GET
 *	  /graphql), CORS, health, and the answers' plumbing.
 *
 * A request lives in its own memory context. The lws connection may close
 * while its statements run on the pool; the request then stays, orphaned
 * (wsi NULL), until the pool's answer comes and frees it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_HTTP_H
#define RTSYNC_HTTP_H

#include <libwebsockets.h>

#include "datatype/timestamp.h"
#include "lib/stringinfo.h"

#include "connection.h"

typedef struct RtsyncHttpRequest
{
	MemoryContext cxt;
	struct lws *wsi;			/* NULL once the client has gone */
	RtsyncConn *conn;			/* lws' per-session data */
	bool		post;
	char	   *uri;
	char	   *api_key;		/* x-api-key, or NULL */
	char	   *origin;			/* Origin, or NULL */
	char	   *content_type;
	StringInfoData body;
	TimestampTz started;		/* when its headers were in (for metrics) */
	bool		too_big;
	bool		busy;			/* waiting on the pool or a reload */
	/* the answer */
	bool		answered;
	int			status;
	const char *answer_type;
	StringInfoData answer;
	size_t		sent;
	bool		headers_sent;
} RtsyncHttpRequest;

/* lws' HTTP callbacks, from server.c; returns what lws expects */
extern int	rtsync_http_callback(struct lws *wsi, enum lws_callback_reasons reason,
								 RtsyncConn *conn, void *in, size_t len);

/* Sends the answer (status, type, body copied); frees orphans. */
extern void rtsync_http_answer(RtsyncHttpRequest *req, int status, const char *type,
							   const char *body, size_t len);
extern void rtsync_http_request_done(RtsyncHttpRequest *req);

/* GraphQL over HTTP (http_graphql.c) */
extern void rtsync_graphql_http(RtsyncHttpRequest *req, bool may_wait);
extern void rtsync_http_control_loaded(void);

/* {"data":...,"errors":[...]} of an executed plan (http_graphql.c) */
struct RtsyncRequestPlan;
extern void rtsync_graphql_result(struct RtsyncRequestPlan *plan, List *results,
								  StringInfo body);

#endif							/* RTSYNC_HTTP_H */
