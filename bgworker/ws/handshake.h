/*-------------------------------------------------------------------------
 *
 * ws/handshake.h
 *	  The API key, the token and the AppSync mark an upgrade request carries.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_WS_HANDSHAKE_H
#define RTSYNC_WS_HANDSHAKE_H

#include "ws/session.h"

/*
 * From lws' ESTABLISHED (the upgrade's headers are still readable there);
 * moved_header is the header the upgrade copied AppSync's "header-"
 * subprotocol token into; a token is copied into cxt.
 */
extern void rtsync_ws_handshake_inspect(struct lws *wsi, RtsyncWsSession *s,
										const char *moved_header, MemoryContext cxt);

#endif							/* RTSYNC_WS_HANDSHAKE_H */
