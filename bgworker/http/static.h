/*-------------------------------------------------------------------------
 *
 * http/static.h
 *	  Static pages served by the worker: the GraphQL explorer at GET /.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_HTTP_STATIC_H
#define RTSYNC_HTTP_STATIC_H

#include "http/request.h"

/* the page's file name in PostgreSQL's share/extension directory */
#define RTSYNC_EXPLORER_FILE "rtsync_explorer.html"

extern void rtsync_explorer_serve(RtsyncHttpRequest *req);

#endif							/* RTSYNC_HTTP_STATIC_H */
