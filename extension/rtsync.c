/*-------------------------------------------------------------------------
 *
 * rtsync.c
 *	  Module entry point of rtsync.so, which is both the logical decoding
 *	  output plugin "rtsync" (see decoder.c; walsenders load it) and the
 *	  home of the SQL API's C functions (publication.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"

PG_MODULE_MAGIC;
