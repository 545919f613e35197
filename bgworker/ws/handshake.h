/*-------------------------------------------------------------------------
 *
 * ws/handshake.h
 *	  The API key and the AppSync mark an upgrade request carries.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_WS_HANDSHAKE_H
#define RTSYNC_WS_HANDSHAKE_H

#include "ws/session.h"

/*
 * From lws' FILTER_PROTOCOL_CONNECTION; moved_header is the header the
 * upgrade copied AppSync's "header-" subprotocol token into.
 */
extern void rtsync_ws_handshake_inspect(struct lws *wsi, RtsyncWsSession *s,
										const char *moved_header);

#endif							/* RTSYNC_WS_HANDSHAKE_H */
