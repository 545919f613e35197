/*-------------------------------------------------------------------------
 *
 * http/connection.h
 *	  rtsync's own HTTP/1.1 connections (plain TCP): keep-alive, pipelining
 *	  in order, Content-Length and chunked bodies, total deadlines.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_HTTP_SERVER_H
#define RTSYNC_HTTP_SERVER_H

#include <uv.h>

#include "http/router.h"
#include "http/parse.h"

/*
 * Hands a connection that asked for a WebSocket upgrade to whoever serves
 * WebSockets: fd (a descriptor of its own), the bytes read so far, and the
 * parsed head at their start. Returns 0 when it took fd, else the HTTP
 * status to answer with. Registered by the layer above.
 */
typedef int (*RtsyncHttpUpgradeFn) (int fd, const char *data, size_t len,
									 const RtsyncHttpHead *head);

extern void rtsync_http_server_init(uv_loop_t *loop, RtsyncHttpUpgradeFn upgrade);
extern void rtsync_http_server_adopt(int fd, const char *data, size_t len);
extern int	rtsync_http_server_connection_count(void);
extern void rtsync_http_server_shutdown(void);

#endif							/* RTSYNC_HTTP_SERVER_H */
