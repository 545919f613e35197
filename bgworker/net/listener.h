/*-------------------------------------------------------------------------
 *
 * net/listener.h
 *	  The server's listening socket (plain TCP or TLS): accepts connections and
 *	  hands each one's descriptor to whoever registered for them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_LISTENER_H
#define RTSYNC_LISTENER_H

#include <uv.h>

/* Takes an accepted connection's descriptor (it is the callee's now). */
typedef void (*RtsyncAcceptFn) (int fd);

extern bool rtsync_listener_start(uv_loop_t *loop, const char *address, int port,
								  RtsyncAcceptFn on_accept);
extern void rtsync_listener_stop(void);

#endif							/* RTSYNC_LISTENER_H */
