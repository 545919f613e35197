/*-------------------------------------------------------------------------
 *
 * net/tls_proxy.h
 *	  TLS terminated by rtsync: the handshake on an accepted socket, then
 *	  plaintext pumped to and from a socketpair whose other end is served
 *	  exactly like a plain-TCP connection (see net/tls_proxy.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_TLS_PROXY_H
#define RTSYNC_TLS_PROXY_H

#include <uv.h>

/* Takes the plaintext end of a TLS connection (it is the callee's now). */
typedef void (*RtsyncTlsPlainFn) (int fd);

extern bool rtsync_tls_proxy_start(uv_loop_t *loop, const char *cert_file,
								   const char *key_file, RtsyncTlsPlainFn on_plain);
extern void rtsync_tls_proxy_accept(int fd);
extern int	rtsync_tls_proxy_connection_count(void);
extern void rtsync_tls_proxy_shutdown(void);
extern void rtsync_tls_proxy_stop(void);

#endif							/* RTSYNC_TLS_PROXY_H */
