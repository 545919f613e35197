/*-------------------------------------------------------------------------
 *
 * decoder.c
 *	  The rtsync logical decoding output plugin: every committed change to a
 *	  streamed table becomes one JSON stream record shaped like a DynamoDB
 *	  Streams record, written as its own output message.
 *
 *	  {"eventID":"…","eventName":"INSERT|MODIFY|REMOVE|TRUNCATE",
 *	   "eventVersion":"1.1","eventSource":"rtsync","tableName":"public.t",
 *	   "dynamodb":{"ApproximateCreationDateTime":1700000000.123,
 *	               "Keys":{…},"NewImage":{…},"OldImage":{…},
 *	               "SequenceNumber":"…","SizeBytes":N,
 *	               "StreamViewType":"NEW_AND_OLD_IMAGES"}}
 *
 * SequenceNumber is the commit's end LSN (20 decimal digits) followed by the
 * change's index in its transaction (10 digits): fixed width, so plain string
 * order is stream order, and unique for the life of the slot. The index
 * counts every change the transaction made, streamed or not, so the same
 * change has the same number in every slot whatever its options.
 *
 * An UPDATE that changes the key also carries "OldKeys", the key it had.
 *
 * TOAST: an UPDATE that leaves an out-of-line value unchanged does not log
 * it. When the table logs whole old rows (REPLICA IDENTITY FULL, which
 * publish() sets for view types with old images) the value is taken from the
 * old row, so NewImage is complete. Otherwise the column is left out of
 * NewImage and named in "OmittedColumns": never dropped silently.
 *
 * Memory: everything a change needs is allocated in a context reset after
 * the change, so a transaction of any size decodes in constant memory here
 * (the reorder buffer spills large transactions to disk on its own).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/htup_details.h"
#include "datatype/timestamp.h"
#include "replication/logical.h"
#include "replication/output_plugin.h"
#include "utils/datum.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "decoder_options.h"
#include "relinfo.h"
#include "value_encode.h"

typedef struct RtsyncDecodingData
{
	MemoryContext change_cxt;	/* reset after every change */
	RtsyncDecoderOptions opts;
	uint32		change_index;	/* index of the next change in this xact */
	uint32		records;		/* records written for this xact */
} RtsyncDecodingData;

/* A row as its column values, indexed by attnum - 1. */
typedef struct RowValues
{
	Datum	   *values;
	bool	   *nulls;
} RowValues;

extern PGDLLEXPORT void _PG_output_plugin_init(OutputPluginCallbacks *cb);

static void
rtsync_decoder_startup(LogicalDecodingContext *ctx, OutputPluginOptions *opt,
					   bool is_init)
{
	RtsyncDecodingData *data = palloc0(sizeof(RtsyncDecodingData));

	data->change_cxt = AllocSetContextCreate(ctx->context, "rtsync change",
											 ALLOCSET_DEFAULT_SIZES);
	rtsync_options_parse(ctx->output_plugin_options, &data->opts);
	ctx->output_plugin_private = data;
	opt->output_type = OUTPUT_PLUGIN_TEXTUAL_OUTPUT;
	opt->receive_rewrites = false;
	rtsync_relinfo_startup(&data->opts);
}

static void
rtsync_decoder_shutdown(LogicalDecodingContext *ctx)
{
	rtsync_relinfo_shutdown();
}

static void
rtsync_decoder_begin(LogicalDecodingContext *ctx, ReorderBufferTXN *txn)
{
	RtsyncDecodingData *data = ctx->output_plugin_private;

	data->change_index = 0;
	data->records = 0;
}

/* "eventID" and the opening of the record, up to the dynamodb object. */
static void
append_record_head(StringInfo out, RtsyncDecodingData *data,
				   ReorderBufferTXN *txn, uint32 index, const char *event_name,
				   const char *table_name_json)
{
	appendStringInfoChar(out, '{');
	if (data->opts.include_sequence)
		appendStringInfo(out, "\"eventID\":\"%016" INT64_MODIFIER "X%016X\",",
						 (uint64) txn->end_lsn, index);
	appendStringInfo(out, "\"eventName\":\"%s\",\"eventVersion\":\"1.1\","
					 "\"eventSource\":\"rtsync\",", event_name);
	if (table_name_json)
	{
		appendStringInfoString(out, "\"tableName\":");
		appendStringInfoString(out, table_name_json);
		appendStringInfoChar(out, ',');
	}
	appendStringInfoString(out, "\"dynamodb\":{");
	if (data->opts.include_timestamp)
	{
		/* commit time as epoch seconds with a millisecond fraction */
		int64		ms = txn->xact_time.commit_time / 1000 +
			(int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * 1000;

		appendStringInfo(out, "\"ApproximateCreationDateTime\":%" INT64_MODIFIER "d.%03d,",
						 ms / 1000, (int) (ms % 1000));
	}
}

static void
append_sequence_number(StringInfo out, RtsyncDecodingData *data,
					   ReorderBufferTXN *txn, uint32 index)
{
	if (data->opts.include_sequence)
		appendStringInfo(out, "\"SequenceNumber\":\"%020" INT64_MODIFIER "u%010u\",",
						 (uint64) txn->end_lsn, index);
}

static RowValues *
deform_row(HeapTuple tuple, TupleDesc desc)
{
	RowValues  *row = palloc(sizeof(RowValues));

	row->values = palloc(sizeof(Datum) * desc->natts);
	row->nulls = palloc(sizeof(bool) * desc->natts);
	heap_deform_tuple(tuple, desc, row->values, row->nulls);
	return row;
}

/* Keys (or OldKeys): the key columns of the given row. */
static void
append_keys(StringInfo out, const char *name, RtsyncRelInfo *info,
			RowValues *row, RtsyncFormat format)
{
	appendStringInfo(out, "\"%s\":{", name);
	for (int k = 0; row && k < info->nkeys; k++)
	{
		RtsyncColumn *col = &info->columns[info->keys[k]];

		if (k > 0)
			appendStringInfoChar(out, ',');
		appendBinaryStringInfo(out, col->json_key, col->json_key_len);
		rtsync_value_append(out, &col->type, row->values[col->attnum - 1],
							row->nulls[col->attnum - 1], format);
	}
	appendStringInfoChar(out, '}');
}

/* Did an UPDATE change the row's key? */
static bool
keys_differ(RtsyncRelInfo *info, RowValues *new_row, RowValues *old_row)
{
	for (int k = 0; k < info->nkeys; k++)
	{
		RtsyncColumn *col = &info->columns[info->keys[k]];
		int			i = col->attnum - 1;

		if (new_row->nulls[i] != old_row->nulls[i])
			return true;
		if (!new_row->nulls[i] &&
			!datum_image_eq(new_row->values[i], old_row->values[i],
							col->attbyval, col->attlen))
			return true;
	}
	return false;
}

/*
 * An image: every live column of the row. An unchanged out-of-line value is
 * taken from old_row when there is one, else left out and added to
 * *omitted.
 */
static void
append_image(StringInfo out, const char *name, RtsyncRelInfo *info,
			 RowValues *row, RowValues *old_row, List **omitted,
			 RtsyncFormat format)
{
	bool		first = true;

	appendStringInfo(out, ",\"%s\":{", name);
	for (int c = 0; c < info->ncolumns; c++)
	{
		RtsyncColumn *col = &info->columns[c];
		int			i = col->attnum - 1;
		Datum		value = row->values[i];
		bool		isnull = row->nulls[i];

		if (col->attlen == -1 && !isnull &&
			VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(value)))
		{
			if (old_row == NULL)
			{
				*omitted = lappend(*omitted, col);
				continue;
			}
			value = old_row->values[i];
			isnull = old_row->nulls[i];
		}
		if (!first)
			appendStringInfoChar(out, ',');
		first = false;
		appendBinaryStringInfo(out, col->json_key, col->json_key_len);
		rtsync_value_append(out, &col->type, value, isnull, format);
	}
	appendStringInfoChar(out, '}');
}

static void
rtsync_decoder_change(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
					  Relation relation, ReorderBufferChange *change)
{
	RtsyncDecodingData *data = ctx->output_plugin_private;
	uint32		index = data->change_index++;
	RtsyncRelInfo *info;
	TupleDesc	desc = RelationGetDescr(relation);
	MemoryContext old;
	RowValues  *new_row = NULL;
	RowValues  *old_row = NULL;
	const char *event_name;
	bool		want_new;
	bool		want_old;
	List	   *omitted = NIL;
	StringInfo	out;
	int			images_start;

	info = rtsync_relinfo_get(relation);
	if (!info->streamed)
		return;

	switch (change->action)
	{
		case REORDER_BUFFER_CHANGE_INSERT:
			event_name = "INSERT";
			break;
		case REORDER_BUFFER_CHANGE_UPDATE:
			event_name = "MODIFY";
			break;
		case REORDER_BUFFER_CHANGE_DELETE:
			event_name = "REMOVE";
			break;
		default:
			return;
	}

	old = MemoryContextSwitchTo(data->change_cxt);
	if (change->data.tp.newtuple)
		new_row = deform_row(&change->data.tp.newtuple->tuple, desc);
	/* without REPLICA IDENTITY FULL the old tuple holds only key columns */
	if (change->data.tp.oldtuple)
		old_row = deform_row(&change->data.tp.oldtuple->tuple, desc);
	want_new = new_row && RTSYNC_VIEW_HAS_NEW(info->view_type);
	want_old = old_row && info->old_row_logged &&
		RTSYNC_VIEW_HAS_OLD(info->view_type);

	OutputPluginPrepareWrite(ctx, true);
	out = ctx->out;
	append_record_head(out, data, txn, index, event_name, info->table_name_json);
	images_start = out->len;
	append_keys(out, "Keys", info, new_row ? new_row : old_row,
				data->opts.format);
	/* a key change is a move: say where from, whatever the view type */
	if (new_row && old_row && keys_differ(info, new_row, old_row))
	{
		appendStringInfoChar(out, ',');
		append_keys(out, "OldKeys", info, old_row, data->opts.format);
	}
	if (want_new)
		append_image(out, "NewImage", info, new_row,
					 info->old_row_logged ? old_row : NULL, &omitted,
					 data->opts.format);
	if (want_old)
		append_image(out, "OldImage", info, old_row, NULL, &omitted,
					 data->opts.format);
	appendStringInfoChar(out, ',');
	if (omitted != NIL)
	{
		ListCell   *lc;

		appendStringInfoString(out, "\"OmittedColumns\":[");
		foreach(lc, omitted)
		{
			RtsyncColumn *col = lfirst(lc);

			if (lc != list_head(omitted))
				appendStringInfoChar(out, ',');
			/* the key without its trailing colon is the quoted name */
			appendBinaryStringInfo(out, col->json_key, col->json_key_len - 1);
		}
		appendStringInfoString(out, "],");
	}
	append_sequence_number(out, data, txn, index);
	appendStringInfo(out, "\"SizeBytes\":%d,\"StreamViewType\":\"%s\"}}",
					 out->len - images_start,
					 rtsync_view_type_name(info->view_type));
	OutputPluginWrite(ctx, true);
	data->records++;

	MemoryContextSwitchTo(old);
	MemoryContextReset(data->change_cxt);
}

/* TRUNCATE: one record per streamed table, with no keys or images. */
static void
rtsync_decoder_truncate(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
						int nrelations, Relation relations[],
						ReorderBufferChange *change)
{
	RtsyncDecodingData *data = ctx->output_plugin_private;

	for (int i = 0; i < nrelations; i++)
	{
		uint32		index = data->change_index++;
		RtsyncRelInfo *info = rtsync_relinfo_get(relations[i]);

		if (!info->streamed)
			continue;
		OutputPluginPrepareWrite(ctx, true);
		append_record_head(ctx->out, data, txn, index, "TRUNCATE",
						   info->table_name_json);
		append_sequence_number(ctx->out, data, txn, index);
		appendStringInfo(ctx->out, "\"SizeBytes\":0,\"StreamViewType\":\"%s\"}}",
						 rtsync_view_type_name(info->view_type));
		OutputPluginWrite(ctx, true);
		data->records++;
	}
}

/*
 * With include-control, the SQL API's transactional messages (prefix
 * "rtsync": a publication or API key changed) become CONTROL records, in
 * stream order, for the worker to reload what it caches. The record names
 * the transaction: a commit can reach the stream a moment before other
 * sessions can see it, and the worker waits for that before reloading.
 */
static void
rtsync_decoder_message(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
					   XLogRecPtr message_lsn, bool transactional,
					   const char *prefix, Size message_size,
					   const char *message)
{
	RtsyncDecodingData *data = ctx->output_plugin_private;
	MemoryContext old;

	if (!transactional)
		return;
	data->change_index++;
	if (!data->opts.include_control || strcmp(prefix, "rtsync") != 0)
		return;
	old = MemoryContextSwitchTo(data->change_cxt);
	OutputPluginPrepareWrite(ctx, true);
	appendStringInfo(ctx->out, "{\"eventName\":\"CONTROL\",\"eventVersion\":\"1.1\","
					 "\"eventSource\":\"rtsync\",\"xid\":%u,\"content\":", txn->xid);
	escape_json(ctx->out, pnstrdup(message, message_size));
	appendStringInfoChar(ctx->out, '}');
	OutputPluginWrite(ctx, true);
	data->records++;
	MemoryContextSwitchTo(old);
	MemoryContextReset(data->change_cxt);
}

/*
 * With include-commit, a transaction that produced records ends with a
 * COMMIT record whose SequenceNumber sorts after all of them.
 */
static void
rtsync_decoder_commit(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
					  XLogRecPtr commit_lsn)
{
	RtsyncDecodingData *data = ctx->output_plugin_private;

	if (!data->opts.include_commit || data->records == 0)
		return;
	OutputPluginPrepareWrite(ctx, true);
	append_record_head(ctx->out, data, txn, data->change_index, "COMMIT", NULL);
	append_sequence_number(ctx->out, data, txn, data->change_index);
	appendStringInfo(ctx->out, "\"RecordCount\":%u}}", data->records);
	OutputPluginWrite(ctx, true);
}

void
_PG_output_plugin_init(OutputPluginCallbacks *cb)
{
	cb->startup_cb = rtsync_decoder_startup;
	cb->begin_cb = rtsync_decoder_begin;
	cb->change_cb = rtsync_decoder_change;
	cb->truncate_cb = rtsync_decoder_truncate;
	cb->commit_cb = rtsync_decoder_commit;
	cb->message_cb = rtsync_decoder_message;
	cb->shutdown_cb = rtsync_decoder_shutdown;
}
