/*-------------------------------------------------------------------------
 *
 * http/upgrade.h
 *	  WebSocket upgrades of plain-TCP connections, handed to libwebsockets.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_WS_UPGRADE_H
#define RTSYNC_WS_UPGRADE_H

#include <libwebsockets.h>

#include "http/parse.h"

/* The header that carries an AppSync client's "header-..." token to us. */
#define RTSYNC_APPSYNC_HEADER "x-rtsync-appsync-header:"

/* can_accept: false while the server stops or is full (answer 503) */
extern void rtsync_ws_upgrade_init(struct lws_vhost *vhost, bool (*can_accept) (void));

/*
 * Takes fd (0) when the upgrade goes to lws; else returns the HTTP status
 * to answer with, and fd stays the caller's.
 */
extern int	rtsync_ws_upgrade(int fd, const char *data, size_t len,
							  const RtsyncHttpHead *head);

#endif							/* RTSYNC_WS_UPGRADE_H */
