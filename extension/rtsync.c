/*-------------------------------------------------------------------------
 *
 * rtsync.c
 *	  Module entry point of rtsync.so, which is both the logical decoding
 *	  output plugin "rtsync" (see decoder.c; walsenders load it), the home
 *	  of the SQL API's C functions (publication.c), and the background
 *	  worker serving GraphQL (../bgworker/).
 *
 *	  The worker, its settings, the shared memory of its metrics
 *	  (bgworker/base/metrics.c) and the hook that tells it of role changes
 *	  (role_watch.c) are registered only when the library is preloaded by
 *	  the postmaster; loaded as an output plugin it does nothing at load
 *	  time.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"

#include "base/metrics.h"
#include "worker.h"
#include "role_watch.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
rtsync_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(rtsync_metrics_shmem_size());
	RequestAddinShmemSpace(rtsync_role_watch_shmem_size());
}

static void
rtsync_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	rtsync_metrics_shmem_startup();
	rtsync_role_watch_shmem_startup();
}

void
_PG_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
	rtsync_worker_register();
	rtsync_role_watch_install();
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = rtsync_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = rtsync_shmem_startup;
}
