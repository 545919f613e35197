/*-------------------------------------------------------------------------
 *
 * ws/resume.h
 *	  Where a reconnecting client says how far it got: the position a
 *	  subscription resumes after, from its "after" argument, the
 *	  connection's connection_init (graphql-ws and legacy clients'
 *	  connectionParams) or AppSync headers (Amplify's additionalHeaders).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_WS_RESUME_H
#define RTSYNC_WS_RESUME_H

#include "utils/jsonb.h"

#include "ws/session.h"

/* The header (AppSync) and connectionParams key that carry a position. */
#define RTSYNC_RESUME_HEADER "x-rtsync-after"
#define RTSYNC_RESUME_PARAM "after"

/*
 * What a connection_init payload (or AppSync's connection header) says:
 * "after": one position for every subscription of the connection, or an
 * object from subscription id to position; also headers["x-rtsync-after"]
 * and, for AppSync, "x-rtsync-after" itself.
 */
extern void rtsync_ws_resume_take(RtsyncWsSession *ws, JsonbContainer *payload);

/*
 * The position subscription id resumes after (NULL: none, it starts live):
 * the latest of its after argument, the connection's position for it and
 * a start message's own header (AppSync's per-start authorization, or
 * NULL). False, with *problem, when a position given is malformed.
 */
extern bool rtsync_ws_resume_position(RtsyncWsSession *ws, const char *id,
									  const char *argument, JsonbContainer *start_header,
									  const char **after, const char **problem);

#endif							/* RTSYNC_WS_RESUME_H */
