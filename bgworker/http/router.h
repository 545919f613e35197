/*-------------------------------------------------------------------------
 *
 * http/router.h
 *	  Which handler answers a whole HTTP request (see http/router.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_HTTP_ROUTER_H
#define RTSYNC_HTTP_ROUTER_H

#include "http/request.h"

/* The transport has the whole request: route it and answer (maybe later). */
extern void rtsync_http_route(RtsyncHttpRequest *req);

#endif							/* RTSYNC_HTTP_ROUTER_H */
