/*-------------------------------------------------------------------------
 *
 * relinfo.c
 *	  Per-relation cache of the output plugin.
 *
 * For every relation a change arrives for, we decide once whether it is
 * streamed and prepare what writing its rows needs: column names already
 * escaped as JSON keys, how to write each column's type, and which columns
 * form the key. Entries are built under the decoder's historic snapshot, so
 * they describe the table as it was at that point of the WAL.
 *
 * Invalidation: a relcache callback marks entries stale; the next use
 * rebuilds them. ALTER TABLE, publish() and unpublish() all queue relcache
 * invalidations that the decoder replays in WAL order, so images on both
 * sides of a schema change are right. The callback only ever clears the
 * valid flag: it may run in the middle of a rebuild (catalog access accepts
 * invalidations), and memory is freed only at the next rebuild.
 *
 * The cache lives for one decoding session: the session's options (tables,
 * view-type) are folded into the entries, so startup starts it afresh.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_index.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/relcache.h"
#include "utils/syscache.h"

#include "publication.h"
#include "relinfo.h"

#define RTSYNC_SCHEMA "rtsync"

static HTAB *relinfo_cache = NULL;
static MemoryContext relinfo_cxt = NULL;
static const RtsyncDecoderOptions *session_opts = NULL;
static bool callback_registered = false;

static void
relinfo_invalidate(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	RtsyncRelInfo *entry;

	if (relinfo_cache == NULL)
		return;
	if (OidIsValid(relid) && !rtsync_publication_is_catalog(relid))
	{
		entry = hash_search(relinfo_cache, &relid, HASH_FIND, NULL);
		if (entry)
			entry->valid = false;
		return;
	}
	hash_seq_init(&status, relinfo_cache);
	while ((entry = hash_seq_search(&status)) != NULL)
		entry->valid = false;
}

void
rtsync_relinfo_startup(const RtsyncDecoderOptions *opts)
{
	HASHCTL		ctl;

	rtsync_relinfo_shutdown();
	relinfo_cxt = AllocSetContextCreate(CacheMemoryContext,
										"rtsync relation info",
										ALLOCSET_DEFAULT_SIZES);
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(RtsyncRelInfo);
	ctl.hcxt = relinfo_cxt;
	relinfo_cache = hash_create("rtsync relation info", 64, &ctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	session_opts = opts;
	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(relinfo_invalidate, (Datum) 0);
		callback_registered = true;
	}
}

void
rtsync_relinfo_shutdown(void)
{
	if (relinfo_cxt)
		MemoryContextDelete(relinfo_cxt);
	relinfo_cxt = NULL;
	relinfo_cache = NULL;
	session_opts = NULL;
}

/* Does the "tables" option name this relation? */
static bool
table_listed(Relation rel, const char *nspname)
{
	ListCell   *lc;

	foreach(lc, session_opts->tables)
	{
		RtsyncTableName *t = lfirst(lc);

		if (strcmp(t->relname, RelationGetRelationName(rel)) == 0 &&
			(t->schemaname == NULL || strcmp(t->schemaname, nspname) == 0))
			return true;
	}
	return false;
}

/* The key columns: the primary key, else the replica identity index. */
static void
build_keys(RtsyncRelInfo *entry, Relation rel)
{
	Oid			indexoid;
	HeapTuple	tup;
	Form_pg_index index;

	entry->nkeys = 0;
	entry->keys = NULL;
	list_free(RelationGetIndexList(rel));	/* fills rd_pkindex */
	indexoid = OidIsValid(rel->rd_pkindex) ? rel->rd_pkindex :
		RelationGetReplicaIndex(rel);
	if (!OidIsValid(indexoid))
		return;

	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexoid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for index %u", indexoid);
	index = (Form_pg_index) GETSTRUCT(tup);
	entry->keys = MemoryContextAlloc(entry->cxt, sizeof(int) * index->indnkeyatts);
	for (int i = 0; i < index->indnkeyatts; i++)
	{
		for (int c = 0; c < entry->ncolumns; c++)
		{
			if (entry->columns[c].attnum == index->indkey.values[i])
				entry->keys[entry->nkeys++] = c;
		}
	}
	ReleaseSysCache(tup);
}

static void
build_columns(RtsyncRelInfo *entry, Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	StringInfoData key;

	entry->columns = MemoryContextAllocZero(entry->cxt,
											sizeof(RtsyncColumn) * Max(desc->natts, 1));
	entry->ncolumns = 0;
	initStringInfo(&key);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		RtsyncColumn *col;

		if (att->attisdropped)
			continue;
		col = &entry->columns[entry->ncolumns++];
		col->attnum = att->attnum;
		col->attlen = att->attlen;
		col->attbyval = att->attbyval;
		resetStringInfo(&key);
		escape_json(&key, NameStr(att->attname));
		appendStringInfoChar(&key, ':');
		col->json_key = MemoryContextStrdup(entry->cxt, key.data);
		col->json_key_len = key.len;
		rtsync_value_type_init(&col->type, att->atttypid, entry->cxt);
	}
	pfree(key.data);
}

static void
build_entry(RtsyncRelInfo *entry, Relation rel)
{
	char	   *nspname = get_namespace_name(RelationGetNamespace(rel));
	RtsyncViewType published_view = RTSYNC_VIEW_NEW_AND_OLD_IMAGES;
	MemoryContext old;
	StringInfoData name;

	if (entry->cxt)
		MemoryContextReset(entry->cxt);
	else
		entry->cxt = AllocSetContextCreate(relinfo_cxt, "rtsync relation",
										   ALLOCSET_SMALL_SIZES);
	/* set first: an invalidation arriving while we build must win */
	entry->valid = true;
	entry->ncolumns = 0;
	entry->nkeys = 0;

	if (nspname == NULL || strcmp(nspname, RTSYNC_SCHEMA) == 0)
		entry->streamed = false;	/* never stream our own catalogue */
	else if (session_opts->tables != NIL)
		entry->streamed = table_listed(rel, nspname);
	else if (session_opts->all_tables)
		entry->streamed = true;
	else
		entry->streamed = rtsync_publication_lookup(RelationGetRelid(rel),
													&published_view);
	if (!entry->streamed)
		return;

	entry->view_type = session_opts->view_type_given ?
		session_opts->view_type : published_view;
	entry->old_row_logged = rel->rd_rel->relreplident == REPLICA_IDENTITY_FULL;
	if (RTSYNC_VIEW_HAS_OLD(entry->view_type) && !entry->old_row_logged)
		ereport(WARNING,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s.%s\" does not log old rows, so its records carry no OldImage",
						nspname, RelationGetRelationName(rel)),
				 errhint("ALTER TABLE ... REPLICA IDENTITY FULL, or publish the table again with rtsync.publish().")));

	old = MemoryContextSwitchTo(entry->cxt);
	initStringInfo(&name);
	escape_json(&name, psprintf("%s.%s", nspname, RelationGetRelationName(rel)));
	entry->table_name_json = name.data;
	MemoryContextSwitchTo(old);

	build_columns(entry, rel);
	build_keys(entry, rel);
}

/*
 * The cached facts for a relation, built or rebuilt as needed. The result
 * stays valid until the next call.
 */
RtsyncRelInfo *
rtsync_relinfo_get(Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	bool		found;
	RtsyncRelInfo *entry;

	Assert(relinfo_cache != NULL);
	entry = hash_search(relinfo_cache, &relid, HASH_ENTER, &found);
	if (!found)
	{
		entry->cxt = NULL;
		entry->valid = false;
	}
	if (!entry->valid)
		build_entry(entry, rel);
	return entry;
}
