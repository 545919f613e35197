/*-------------------------------------------------------------------------
 *
 * stream_visibility.c
 *	  rtsync._image_visible(tbl, record): whether current_user, subject to
 *	  a table's row security, may see one of its kept stream records — its
 *	  SELECT policies judge the row as the record shows it (the new image
 *	  of a create or update, else its keys; the old image of a delete; a
 *	  delete without one, or a truncate, cannot be judged and is not seen),
 *	  as stream/rls.c judges changes for subscribers.
 *
 * It runs once per record a restricted reader scans (the row security of
 * rtsync.stream_record), so the statement that judges a record is
 * composed (rtsync._row_filter) and planned once per table and role and
 * kept: a relcache invalidation of the table (CREATE, ALTER or DROP
 * POLICY, ENABLE/FORCE ROW LEVEL SECURITY, ALTER TABLE) or any change of
 * role membership drops it. The plan cache revalidates it otherwise.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "stream_visibility.h"

typedef struct JudgeKey
{
	Oid			relid;
	Oid			userid;
} JudgeKey;

typedef struct JudgeEntry
{
	JudgeKey	key;
	bool		valid;
	bool		never;			/* no policy lets this role see any row */
	SPIPlanPtr	plan;			/* kept; NULL when never */
} JudgeEntry;

static HTAB *judges = NULL;

static void
invalidate_matching(Oid relid)
{
	HASH_SEQ_STATUS seq;
	JudgeEntry *e;

	if (judges == NULL)
		return;
	hash_seq_init(&seq, judges);
	while ((e = hash_seq_search(&seq)) != NULL)
		if (!OidIsValid(relid) || e->key.relid == relid)
			e->valid = false;
}

static void
relcache_changed(Datum arg, Oid relid)
{
	invalidate_matching(relid);
}

static void
membership_changed(Datum arg, int cacheid, uint32 hashvalue)
{
	invalidate_matching(InvalidOid);
}

static void
judges_init(void)
{
	HASHCTL		ctl;

	ctl.keysize = sizeof(JudgeKey);
	ctl.entrysize = sizeof(JudgeEntry);
	ctl.hcxt = TopMemoryContext;
	judges = hash_create("rtsync stream record judges", 16, &ctl,
						 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	CacheRegisterRelcacheCallback(relcache_changed, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHMEMMEMROLE, membership_changed, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, membership_changed, (Datum) 0);
}

/* Composes and plans the judging statement of e (inside SPI). */
static void
judge_build(JudgeEntry *e)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(e->key.relid)};
	Oid			jsonb_type[1] = {JSONBOID};
	char	   *filter;
	char	   *relname;
	char	   *nspname;
	SPIPlanPtr	plan;

	if (e->plan)
		SPI_freeplan(e->plan);
	e->plan = NULL;
	e->never = true;
	if (SPI_execute_with_args("SELECT rtsync._row_filter($1)", 1, argtypes, args, NULL,
							  true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "rtsync._row_filter gave no answer");
	filter = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	relname = get_rel_name(e->key.relid);
	nspname = relname ? get_namespace_name(get_rel_namespace(e->key.relid)) : NULL;
	if (filter != NULL && strcmp(filter, "false") != 0 && nspname != NULL)
	{
		plan = SPI_prepare(psprintf("SELECT EXISTS (SELECT FROM pg_catalog.jsonb_populate_record(NULL::%s, $1) AS %s WHERE %s)",
									quote_qualified_identifier(nspname, relname),
									quote_identifier(relname), filter),
						   1, jsonb_type);
		if (plan == NULL)
			elog(ERROR, "could not plan the row security check of \"%s\": %s",
				 relname, SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "could not keep the row security check of \"%s\"", relname);
		e->plan = plan;
		e->never = false;
	}
	e->valid = true;
}

/* The image a record shows for judging, or NULL when it shows none. */
static Jsonb *
record_image(text *record)
{
	Jsonb	   *jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
														CStringGetDatum(text_to_cstring(record))));
	JsonbValue	event;
	JsonbValue	dynamodb;
	JsonbValue	image;
	const char *key;

	if (!JB_ROOT_IS_OBJECT(jb) ||
		getKeyJsonValueFromContainer(&jb->root, "eventName", 9, &event) == NULL ||
		event.type != jbvString ||
		getKeyJsonValueFromContainer(&jb->root, "dynamodb", 8, &dynamodb) == NULL ||
		dynamodb.type != jbvBinary)
		return NULL;
	if (event.val.string.len == 6 && memcmp(event.val.string.val, "REMOVE", 6) == 0)
		key = "OldImage";
	else if ((event.val.string.len == 6 && memcmp(event.val.string.val, "INSERT", 6) == 0) ||
			 (event.val.string.len == 6 && memcmp(event.val.string.val, "MODIFY", 6) == 0))
		key = "NewImage";
	else
		return NULL;
	if (getKeyJsonValueFromContainer(dynamodb.val.binary.data, key, strlen(key), &image) == NULL &&
		(strcmp(key, "NewImage") != 0 ||
		 getKeyJsonValueFromContainer(dynamodb.val.binary.data, "Keys", 4, &image) == NULL))
		return NULL;
	if (image.type != jbvBinary)
		return NULL;
	return JsonbValueToJsonb(&image);
}

/* rtsync._image_visible(tbl oid, record text) RETURNS boolean */
PG_FUNCTION_INFO_V1(rtsync_image_visible);
Datum
rtsync_image_visible(PG_FUNCTION_ARGS)
{
	JudgeKey	key;
	JudgeEntry *e;
	bool		found;
	Jsonb	   *image;
	Datum		args[1];
	bool		visible = false;
	bool		isnull;

	if (judges == NULL)
		judges_init();
	memset(&key, 0, sizeof(key));
	key.relid = PG_GETARG_OID(0);
	key.userid = GetUserId();
	e = hash_search(judges, &key, HASH_ENTER, &found);
	if (!found)
	{
		e->valid = false;
		e->never = true;
		e->plan = NULL;
	}
	image = record_image(PG_GETARG_TEXT_PP(1));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (!e->valid)
		judge_build(e);
	if (!e->never && image != NULL)
	{
		args[0] = JsonbPGetDatum(image);
		if (SPI_execute_plan(e->plan, args, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "the row security check gave no answer");
		visible = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
											 &isnull)) && !isnull;
	}
	SPI_finish();
	PG_RETURN_BOOL(visible);
}
