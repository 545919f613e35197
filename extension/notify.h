/*-------------------------------------------------------------------------
 *
 * notify.h
 *	  Tells the rtsync worker, in stream order, that something it caches
 *	  (publications, API keys, privileges) changed.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_NOTIFY_H
#define RTSYNC_NOTIFY_H

extern void rtsync_notify_worker(const char *what);

#endif							/* RTSYNC_NOTIFY_H */
