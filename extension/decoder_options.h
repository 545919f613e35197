/*-------------------------------------------------------------------------
 *
 * decoder_options.h
 *	  Options of the rtsync output plugin and the vocabulary they use
 *	  (stream view types, value formats).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_DECODER_OPTIONS_H
#define RTSYNC_DECODER_OPTIONS_H

#include "nodes/pg_list.h"

/* DynamoDB's StreamViewType: which images a record carries. */
typedef enum RtsyncViewType
{
	RTSYNC_VIEW_KEYS_ONLY,
	RTSYNC_VIEW_NEW_IMAGE,
	RTSYNC_VIEW_OLD_IMAGE,
	RTSYNC_VIEW_NEW_AND_OLD_IMAGES
} RtsyncViewType;

#define RTSYNC_VIEW_HAS_NEW(vt) \
	((vt) == RTSYNC_VIEW_NEW_IMAGE || (vt) == RTSYNC_VIEW_NEW_AND_OLD_IMAGES)
#define RTSYNC_VIEW_HAS_OLD(vt) \
	((vt) == RTSYNC_VIEW_OLD_IMAGE || (vt) == RTSYNC_VIEW_NEW_AND_OLD_IMAGES)

/* How column values are written. */
typedef enum RtsyncFormat
{
	RTSYNC_FORMAT_JSON,			/* plain JSON values */
	RTSYNC_FORMAT_DYNAMODB		/* DynamoDB AttributeValue maps */
} RtsyncFormat;

/* A table named in the "tables" option; schemaname NULL matches any schema. */
typedef struct RtsyncTableName
{
	char	   *schemaname;
	char	   *relname;
} RtsyncTableName;

typedef struct RtsyncDecoderOptions
{
	RtsyncFormat format;
	bool		view_type_given;	/* "view-type" overrides every table's */
	RtsyncViewType view_type;
	List	   *tables;			/* of RtsyncTableName; NIL when not given */
	bool		all_tables;
	bool		include_timestamp;
	bool		include_sequence;
	bool		include_commit;
	bool		include_control;	/* the SQL API's messages, for the worker */
} RtsyncDecoderOptions;

extern void rtsync_options_parse(List *defels, RtsyncDecoderOptions *opts);
extern bool rtsync_view_type_parse(const char *name, RtsyncViewType *vt);
extern const char *rtsync_view_type_name(RtsyncViewType vt);

#endif							/* RTSYNC_DECODER_OPTIONS_H */
