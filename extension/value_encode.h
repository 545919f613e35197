/*-------------------------------------------------------------------------
 *
 * value_encode.h
 *	  Writes column values as JSON: plain JSON values, or DynamoDB
 *	  AttributeValue maps.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_VALUE_ENCODE_H
#define RTSYNC_VALUE_ENCODE_H

#include "fmgr.h"
#include "lib/stringinfo.h"

#include "decoder_options.h"

/* How a type's values are written; picked once per column. */
typedef enum RtsyncValueKind
{
	RTSYNC_KIND_INT2,
	RTSYNC_KIND_INT4,
	RTSYNC_KIND_INT8,
	RTSYNC_KIND_OID,
	RTSYNC_KIND_FLOAT4,
	RTSYNC_KIND_FLOAT8,
	RTSYNC_KIND_NUMERIC,
	RTSYNC_KIND_BOOL,
	RTSYNC_KIND_JSON,
	RTSYNC_KIND_JSONB,
	RTSYNC_KIND_TIMESTAMPTZ,
	RTSYNC_KIND_TIMESTAMP,
	RTSYNC_KIND_DATE,
	RTSYNC_KIND_TIME,
	RTSYNC_KIND_BYTEA,
	RTSYNC_KIND_ARRAY,
	RTSYNC_KIND_TEXT,			/* text, varchar, char: the bytes as they are */
	RTSYNC_KIND_STRING			/* anything else: its output function's text */
} RtsyncValueKind;

typedef struct RtsyncValueType
{
	RtsyncValueKind kind;
	FmgrInfo	output;			/* for RTSYNC_KIND_STRING and NUMERIC */
	/* arrays: how to take the array apart, and how to write each element */
	Oid			elemtype;
	int16		elmlen;
	bool		elmbyval;
	char		elmalign;
	struct RtsyncValueType *element;
} RtsyncValueType;

extern void rtsync_value_type_init(RtsyncValueType *type, Oid typid,
								   MemoryContext cxt);
extern void rtsync_json_append_string(StringInfo out, const char *str, size_t len);
extern void rtsync_value_append(StringInfo out, const RtsyncValueType *type,
								Datum value, bool isnull, RtsyncFormat format);

#endif							/* RTSYNC_VALUE_ENCODE_H */
