/*-------------------------------------------------------------------------
 *
 * relinfo.h
 *	  Per-relation facts the decoder needs for every change: whether the
 *	  table is streamed, with which view type, and how to write its columns
 *	  and keys. Cached per decoding session, invalidated by relcache
 *	  invalidations replayed from the WAL.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_RELINFO_H
#define RTSYNC_RELINFO_H

#include "utils/rel.h"

#include "decoder_options.h"
#include "value_encode.h"

typedef struct RtsyncColumn
{
	char	   *json_key;		/* "name": ready to copy into a record */
	int			json_key_len;
	AttrNumber	attnum;
	int16		attlen;			/* -1: varlena, may be an unchanged TOAST pointer */
	bool		attbyval;
	RtsyncValueType type;
} RtsyncColumn;

typedef struct RtsyncRelInfo
{
	Oid			relid;			/* hash key; must be first */
	bool		valid;
	MemoryContext cxt;			/* owns everything this entry points to */
	bool		streamed;		/* false: the decoder skips the table */
	RtsyncViewType view_type;
	bool		old_row_logged; /* REPLICA IDENTITY FULL: whole old rows */
	char	   *table_name_json;	/* "schema.table" as a JSON string */
	int			ncolumns;		/* live columns, in attnum order */
	RtsyncColumn *columns;
	int			nkeys;			/* primary key (or replica identity index) */
	int		   *keys;			/* ... as indexes into columns[] */
} RtsyncRelInfo;

extern void rtsync_relinfo_startup(const RtsyncDecoderOptions *opts);
extern void rtsync_relinfo_shutdown(void);
extern RtsyncRelInfo *rtsync_relinfo_get(Relation rel);

#endif							/* RTSYNC_RELINFO_H */
