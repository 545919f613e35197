/*-------------------------------------------------------------------------
 *
 * stream/handlers.h
 *	  Drives the stream handlers of sql/handlers.sql from the kept stream,
 *	  on connections of their own.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_STREAM_HANDLERS_H
#define RTSYNC_STREAM_HANDLERS_H

#include <uv.h>

extern void rtsync_handlers_start(uv_loop_t *loop);
extern void rtsync_handlers_stop(void);

#endif							/* RTSYNC_STREAM_HANDLERS_H */
