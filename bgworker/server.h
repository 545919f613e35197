/*-------------------------------------------------------------------------
 *
 * server.h
 *	  The worker's WebSocket/HTTP server: libwebsockets on the worker's
 *	  libuv loop.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_SERVER_H
#define RTSYNC_SERVER_H

#include <uv.h>

extern bool rtsync_server_start(uv_loop_t *loop);
extern void rtsync_server_reload(void);
extern void rtsync_server_shutdown(void);
extern void rtsync_server_destroy(void);

#endif							/* RTSYNC_SERVER_H */
