/*-------------------------------------------------------------------------
 *
 * publication.h
 *	  The publication catalogue rtsync.published_table: written by the SQL
 *	  API, read by the output plugin under its historic snapshot.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_PUBLICATION_H
#define RTSYNC_PUBLICATION_H

#include "decoder_options.h"

extern bool rtsync_publication_lookup(Oid relid, RtsyncViewType *view_type);
extern bool rtsync_publication_is_catalog(Oid relid);

#endif							/* RTSYNC_PUBLICATION_H */
