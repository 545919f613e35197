/*-------------------------------------------------------------------------
 *
 * listener.h
 *	  The server's TCP listener: accepts connections itself, fixes up the
 *	  one request header libwebsockets 4.1 cannot take, and hands each
 *	  connection to libwebsockets.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_LISTENER_H
#define RTSYNC_LISTENER_H

#include <libwebsockets.h>
#include <uv.h>

/* The header that carries an AppSync client's "header-..." token to us. */
#define RTSYNC_APPSYNC_HEADER "x-rtsync-appsync-header:"

extern bool rtsync_listener_start(uv_loop_t *loop, struct lws_vhost *vhost,
								  const char *address, int port);
extern void rtsync_listener_stop(void);

#endif							/* RTSYNC_LISTENER_H */
