/*-------------------------------------------------------------------------
 *
 * http/graphql.h
 *	  GraphQL over HTTP: POST and GET /graphql, and the schema's SDL.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_HTTP_GRAPHQL_H
#define RTSYNC_HTTP_GRAPHQL_H

#include "http/request.h"

/* Answers a GraphQL request; may_wait: it may wait for a reload first. */
extern void rtsync_graphql_http(RtsyncHttpRequest *req, bool may_wait);

/* At start: hear of control/'s reloads, to run the requests that waited. */
extern void rtsync_http_graphql_init(void);

#endif							/* RTSYNC_HTTP_GRAPHQL_H */
