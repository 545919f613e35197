/*-------------------------------------------------------------------------
 *
 * role_watch.h
 *	  Tells the rtsync worker about role changes (membership, attributes,
 *	  drops, renames), which fire no event trigger: a ProcessUtility hook in
 *	  every backend, and a counter in shared memory for role changes made in
 *	  other databases than the worker's.
 *
 * No libwebsockets here: extension/rtsync.c includes this header.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_ROLE_WATCH_H
#define RTSYNC_ROLE_WATCH_H

/* from _PG_init (extension/rtsync.c), only when preloaded */
extern void rtsync_role_watch_install(void);
extern Size rtsync_role_watch_shmem_size(void);
extern void rtsync_role_watch_shmem_startup(void);

/*
 * For the worker: have its latch set when the counter moves (until it
 * exits), and read the counter. Both return 0 when the shared memory is
 * missing (the library was not preloaded).
 */
extern uint64 rtsync_role_watch_attach_worker(void);
extern uint64 rtsync_role_watch_generation(void);

#endif							/* RTSYNC_ROLE_WATCH_H */
