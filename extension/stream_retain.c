/*-------------------------------------------------------------------------
 *
 * stream_retain.c
 *	  rtsync._retain(): keeps a batch of stream records in
 *	  rtsync.stream_chunk, a row per chunk of records (sql/rtsync.sql).
 *
 * The worker (bgworker/stream/retention.c) sends its batches as four
 * parallel arrays in stream order. Records at or before the kept position
 * (rtsync.stream_kept, locked for the call: one writer at a time) were kept
 * by an earlier call and are skipped, so a record decoded again after a
 * crash is kept once. The rest are ordered by table and SequenceNumber and
 * cut into chunks of one table and one UTC hour, at most CHUNK_RECORDS
 * each; each chunk is one row, its arrays built here and compressed by
 * TOAST, in its hour's partition (made if missing). The statements are
 * planned once a session.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_collation_d.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "stream_retain.h"

/* records a row: a page of the read API is at most one or two chunks */
#define CHUNK_RECORDS 1000

typedef struct BatchRecord
{
	Oid			relid;
	text	   *sequence_number;
	int			position;		/* in the batch: ties keep stream order */
} BatchRecord;

/* Planned once a session, not at every call (batches can be of one record). */
static SPIPlanPtr kept_plan = NULL;
static SPIPlanPtr advance_plan = NULL;
static SPIPlanPtr insert_chunk_plan = NULL;

/* The partition made (or found) last, while it exists: most batches need only it. */
static TimestampTz last_hour = 0;
static Oid	last_partition = InvalidOid;

static SPIPlanPtr
planned(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types)
{
	if (*plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(sql, nargs, types);

		if (p == NULL || SPI_keepplan(p) != 0)
			elog(ERROR, "could not prepare \"%s\": %s", sql, SPI_result_code_string(SPI_result));
		*plan = p;
	}
	return *plan;
}

/* SequenceNumbers compare in collation "C", as the table's columns do. */
static int
sequence_cmp(const text *a, const text *b)
{
	return varstr_cmp(VARDATA_ANY(a), VARSIZE_ANY_EXHDR(a), VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b),
					  C_COLLATION_OID);
}

static int
batch_record_cmp(const void *pa, const void *pb)
{
	const BatchRecord *a = pa;
	const BatchRecord *b = pb;
	int			c;

	if (a->relid != b->relid)
		return a->relid < b->relid ? -1 : 1;
	c = sequence_cmp(a->sequence_number, b->sequence_number);
	return c != 0 ? c : a->position - b->position;
}

/* The same record twice in one batch (sorted): kept once, the first. */
static int
drop_repeats(BatchRecord *batch, int n)
{
	int			kept = 0;

	for (int i = 0; i < n; i++)
		if (kept == 0 || batch[i].relid != batch[kept - 1].relid ||
			sequence_cmp(batch[i].sequence_number, batch[kept - 1].sequence_number) != 0)
			batch[kept++] = batch[i];
	return kept;
}

/* The UTC hour a commit time is in (partitions are hourly, from the epoch). */
static TimestampTz
hour_of(TimestampTz t)
{
	int64		h = INT64CONST(3600) * USECS_PER_SEC;

	return t - (((t % h) + h) % h);
}

static Datum *
elements(ArrayType *array, Oid type, int16 len, bool byval, char align, int *n)
{
	Datum	   *values;
	bool	   *nulls;

	deconstruct_array(array, type, len, byval, align, &values, &nulls, n);
	for (int i = 0; i < *n; i++)
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("stream records to keep must not be null")));
	return values;
}

/* The kept position, locked until the transaction ends; NULL: none yet. */
static text *
kept_position(void)
{
	bool		isnull;
	Datum		d;

	if (SPI_execute_plan(planned(&kept_plan, "SELECT sequence_number FROM rtsync.stream_kept FOR UPDATE",
								 0, NULL), NULL, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read rtsync.stream_kept");
	if (SPI_processed == 0)
		return NULL;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? NULL : DatumGetTextPCopy(d);
}

/* The partition of an hour, made if missing (rtsync._stream_partition). */
static void
make_partition(TimestampTz hour)
{
	Oid			type = TIMESTAMPTZOID;
	Datum		value = TimestampTzGetDatum(hour);
	bool		isnull;

	if (hour == last_hour && OidIsValid(last_partition) &&
		SearchSysCacheExists1(RELOID, ObjectIdGetDatum(last_partition)))
		return;
	if (SPI_execute_with_args("SELECT rtsync._stream_partition($1)", 1, &type, &value, NULL,
							  false, 0) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not make a partition of rtsync.stream_chunk");
	last_partition = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
													1, &isnull));
	last_hour = hour;
}

static void
insert_chunk(Oid relid, Datum *seqs, Datum *created, Datum *records, int n)
{
	Datum		values[7];
	Oid			types[7] = {OIDOID, TEXTOID, TEXTOID, TIMESTAMPTZOID,
	TEXTARRAYOID, TIMESTAMPTZARRAYOID, TEXTARRAYOID};

	values[0] = ObjectIdGetDatum(relid);
	values[1] = seqs[0];
	values[2] = seqs[n - 1];
	values[3] = created[0];
	values[4] = PointerGetDatum(construct_array(seqs, n, TEXTOID, -1, false, TYPALIGN_INT));
	values[5] = PointerGetDatum(construct_array(created, n, TIMESTAMPTZOID, sizeof(TimestampTz),
												FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[6] = PointerGetDatum(construct_array(records, n, TEXTOID, -1, false, TYPALIGN_INT));
	if (SPI_execute_plan(planned(&insert_chunk_plan,
								 "INSERT INTO rtsync.stream_chunk (relid, first_sequence_number, "
								 "last_sequence_number, created_at, sequence_numbers, created, "
								 "records) VALUES ($1, $2, $3, $4, $5, $6, $7)", 7, types),
						 values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not insert a stream chunk");
}

static void
advance_kept(text *last)
{
	Oid			type = TEXTOID;
	Datum		value = PointerGetDatum(last);

	if (SPI_execute_plan(planned(&advance_plan,
								 "INSERT INTO rtsync.stream_kept AS k (sequence_number) VALUES ($1) "
								 "ON CONFLICT (only_row) DO UPDATE SET sequence_number = excluded.sequence_number "
								 "WHERE excluded.sequence_number > k.sequence_number", 1, &type),
						 &value, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not advance rtsync.stream_kept");
}

/*
 * rtsync._retain(relids oid[], sequence_numbers text[], created timestamptz[],
 *				  records text[]) RETURNS bigint: how many records were new.
 */
PG_FUNCTION_INFO_V1(rtsync_retain);
Datum
rtsync_retain(PG_FUNCTION_ARGS)
{
	int			n,
				nseq,
				ncreated,
				nrecords;
	Datum	   *relids = elements(PG_GETARG_ARRAYTYPE_P(0), OIDOID, sizeof(Oid), true,
								  TYPALIGN_INT, &n);
	Datum	   *seqs = elements(PG_GETARG_ARRAYTYPE_P(1), TEXTOID, -1, false, TYPALIGN_INT, &nseq);
	Datum	   *created = elements(PG_GETARG_ARRAYTYPE_P(2), TIMESTAMPTZOID, sizeof(TimestampTz),
								   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &ncreated);
	Datum	   *records = elements(PG_GETARG_ARRAYTYPE_P(3), TEXTOID, -1, false, TYPALIGN_INT,
								   &nrecords);
	BatchRecord *batch;
	Datum	   *chunk_seqs;
	Datum	   *chunk_created;
	Datum	   *chunk_records;
	int			nbatch = 0;
	int64		kept = 0;
	text	   *kept_at;
	text	   *last = NULL;
	MemoryContext chunk_cxt;

	if (nseq != n || ncreated != n || nrecords != n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the arrays of stream records to keep differ in length")));
	if (n == 0)
		PG_RETURN_INT64(0);

	SPI_connect();
	kept_at = kept_position();
	batch = palloc(sizeof(BatchRecord) * n);
	for (int i = 0; i < n; i++)
	{
		text	   *seq = DatumGetTextPP(seqs[i]);

		if (last == NULL || sequence_cmp(seq, last) > 0)
			last = seq;
		if (kept_at != NULL && sequence_cmp(seq, kept_at) <= 0)
			continue;			/* kept by an earlier call */
		batch[nbatch].relid = DatumGetObjectId(relids[i]);
		batch[nbatch].sequence_number = seq;
		batch[nbatch].position = i;
		nbatch++;
	}
	qsort(batch, nbatch, sizeof(BatchRecord), batch_record_cmp);
	nbatch = drop_repeats(batch, nbatch);

	chunk_seqs = palloc(sizeof(Datum) * CHUNK_RECORDS);
	chunk_created = palloc(sizeof(Datum) * CHUNK_RECORDS);
	chunk_records = palloc(sizeof(Datum) * CHUNK_RECORDS);
	chunk_cxt = AllocSetContextCreate(CurrentMemoryContext, "rtsync retain chunk",
									  ALLOCSET_DEFAULT_SIZES);
	for (int start = 0, len; start < nbatch; start += len)
	{
		Oid			relid = batch[start].relid;
		TimestampTz hour = hour_of(DatumGetTimestampTz(created[batch[start].position]));
		MemoryContext old;

		for (len = 0; start + len < nbatch && len < CHUNK_RECORDS; len++)
		{
			const BatchRecord *r = &batch[start + len];

			if (r->relid != relid || hour_of(DatumGetTimestampTz(created[r->position])) != hour)
				break;
			chunk_seqs[len] = PointerGetDatum(r->sequence_number);
			chunk_created[len] = created[r->position];
			chunk_records[len] = records[r->position];
		}
		make_partition(hour);
		old = MemoryContextSwitchTo(chunk_cxt);
		insert_chunk(relid, chunk_seqs, chunk_created, chunk_records, len);
		MemoryContextSwitchTo(old);
		MemoryContextReset(chunk_cxt);
		kept += len;
	}
	advance_kept(last);
	SPI_finish();
	PG_RETURN_INT64(kept);
}
