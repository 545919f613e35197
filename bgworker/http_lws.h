/*-------------------------------------------------------------------------
 *
 * http_lws.h
 *	  HTTP over TLS, read and written by libwebsockets (see http_lws.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_HTTP_LWS_H
#define RTSYNC_HTTP_LWS_H

#include <libwebsockets.h>

#include "connection.h"

/* lws' HTTP callbacks, from server.c; returns what lws expects */
extern int	rtsync_http_lws_callback(struct lws *wsi, enum lws_callback_reasons reason,
									 RtsyncConn *conn, void *in, size_t len);

#endif							/* RTSYNC_HTTP_LWS_H */
