/*-------------------------------------------------------------------------
 *
 * publication.c
 *	  The publication catalogue, rtsync.published_table.
 *
 * The SQL API writes it through rtsync._store_publication(); the output
 * plugin reads it under the decoder's historic snapshot (the table is a
 * user_catalog_table, see the install script). A write also queues a relcache
 * invalidation for the published table: decoders replay it at the same WAL
 * position and drop their cached answer for that table, so publishing takes
 * effect exactly in stream order.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "notify.h"
#include "publication.h"

#define CATALOG_SCHEMA "rtsync"
#define CATALOG_TABLE "published_table"

/* The catalogue's OID as last looked up; its own invalidation resets all. */
static Oid	catalog_relid = InvalidOid;

static Oid
find_catalog(void)
{
	Oid			nsp = get_namespace_oid(CATALOG_SCHEMA, true);

	if (!OidIsValid(nsp))
		return InvalidOid;
	return get_relname_relid(CATALOG_TABLE, nsp);
}

/*
 * Is the table published, and with which view type? Reads the catalogue as
 * of the current (historic, when decoding) catalog snapshot. A database
 * without the extension publishes nothing.
 */
bool
rtsync_publication_lookup(Oid relid, RtsyncViewType *view_type)
{
	Oid			catalog = find_catalog();
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		found = false;

	catalog_relid = catalog;
	if (!OidIsValid(catalog))
		return false;

	rel = table_open(catalog, AccessShareLock);
	ScanKeyInit(&key, get_attnum(catalog, "relid"), BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, get_attnum(catalog, "view_type"),
									 RelationGetDescr(rel), &isnull);

		found = !isnull && rtsync_view_type_parse(TextDatumGetCString(d), view_type);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

bool
rtsync_publication_is_catalog(Oid relid)
{
	return OidIsValid(catalog_relid) && relid == catalog_relid;
}

static Oid
relation_owner(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * rtsync._store_publication(tbl regclass, view_type text, type_name text,
 *							  version_column name)
 *
 * Writes the table's publication, or deletes it when view_type is NULL, and
 * returns whether a row was written or deleted. Only the table's owner may
 * call it for a table; the write itself runs as the catalogue's owner, which
 * is why callers need no privileges on the catalogue.
 */
PG_FUNCTION_INFO_V1(rtsync_store_publication);
Datum
rtsync_store_publication(PG_FUNCTION_ARGS)
{
	Oid			relid;
	Oid			catalog;
	Oid			save_userid;
	int			save_sec;
	bool		changed;
	int			rc;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table must not be null")));
	relid = PG_GETARG_OID(0);
	if (!pg_class_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_TABLE, get_rel_name(relid));

	catalog = find_catalog();
	if (!OidIsValid(catalog))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table %s.%s does not exist", CATALOG_SCHEMA, CATALOG_TABLE),
				 errhint("Reinstall the extension with DROP EXTENSION rtsync; CREATE EXTENSION rtsync;")));

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(relation_owner(catalog),
						   save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	SPI_connect();
	if (PG_ARGISNULL(1))
	{
		Oid			types[1] = {REGCLASSOID};
		Datum		values[1] = {ObjectIdGetDatum(relid)};

		rc = SPI_execute_with_args("DELETE FROM rtsync.published_table"
								   " WHERE relid OPERATOR(pg_catalog.=) $1",
								   1, types, values, NULL, false, 0);
	}
	else
	{
		bool		has_version = PG_NARGS() > 3 && !PG_ARGISNULL(3);
		Oid			types[4] = {REGCLASSOID, TEXTOID, TEXTOID, NAMEOID};
		Datum		values[4] = {ObjectIdGetDatum(relid), PG_GETARG_DATUM(1),
			PG_GETARG_DATUM(2), has_version ? PG_GETARG_DATUM(3) : (Datum) 0};
		char		nulls[4] = {' ', ' ', PG_ARGISNULL(2) ? 'n' : ' ',
		has_version ? ' ' : 'n'};

		/* no ON CONFLICT: speculative insertion is refused on catalog tables */
		rc = SPI_execute_with_args("UPDATE rtsync.published_table SET"
								   " view_type = $2, type_name = $3,"
								   " version_column = $4,"
								   " published_at = pg_catalog.now()"
								   " WHERE relid OPERATOR(pg_catalog.=) $1",
								   4, types, values, nulls, false, 0);
		if (rc >= 0 && SPI_processed == 0)
			rc = SPI_execute_with_args("INSERT INTO rtsync.published_table"
									   " (relid, view_type, type_name, version_column)"
									   " VALUES ($1, $2, $3, $4)",
									   4, types, values, nulls, false, 0);
	}
	if (rc < 0)
		elog(ERROR, "could not write %s.%s: %s", CATALOG_SCHEMA, CATALOG_TABLE,
			 SPI_result_code_string(rc));
	changed = SPI_processed > 0;
	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec);

	/* decoders replay this where it sits in the WAL and re-read the catalogue */
	CacheInvalidateRelcacheByRelid(relid);
	if (changed)
		rtsync_notify_worker("publication");
	PG_RETURN_BOOL(changed);
}
