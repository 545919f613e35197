/*-------------------------------------------------------------------------
 *
 * rtsync.c
 *	  Module entry point of rtsync.so, which is both the logical decoding
 *	  output plugin "rtsync" (see decoder.c; walsenders load it), the home
 *	  of the SQL API's C functions (publication.c), and the background
 *	  worker serving GraphQL (../bgworker/).
 *
 *	  The worker and its settings are registered only when the library is
 *	  preloaded by the postmaster; loaded as an output plugin it does
 *	  nothing at load time.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"

#include "../bgworker/worker.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	if (process_shared_preload_libraries_in_progress)
		rtsync_worker_register();
}
