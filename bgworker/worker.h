/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  The rtsync background worker: registration and main loop.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_WORKER_H
#define RTSYNC_WORKER_H

extern void rtsync_worker_register(void);
extern PGDLLEXPORT void rtsync_worker_main(Datum arg);

#endif							/* RTSYNC_WORKER_H */
