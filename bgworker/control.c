/*-------------------------------------------------------------------------
 *
 * control.c
 *	  Loads what the worker must know from the database, over libpq: the
 *	  GraphQL schema of the published tables, the valid API keys, and what
 *	  each key's role may read.
 *
 * When: at start, after every reconnect, and whenever the stream carries a
 * CONTROL record. The SQL API emits one (a transactional logical message)
 * from publish, unpublish, create_api_key and revoke_api_key, and an event
 * trigger does for ALTER TABLE, GRANT, REVOKE and policy changes; so the
 * worker learns of each change in stream order, right after the commit that
 * made it, and never polls. A reload asked for while one runs is queued.
 *
 * The connection holds no transaction between loads.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "utils/builtins.h"
#include "utils/numeric.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "apikeys.h"
#include "connection.h"
#include "control.h"
#include "pgconn.h"
#include "protocol.h"
#include "registry.h"
#include "schema.h"
#include "settings.h"

/*
 * One round trip, three results: the schema, the keys, and for every
 * (key role, published table) pair whether the role may subscribe.
 */
/*
 * A transaction's commit reaches the stream a moment before the committing
 * backend leaves the proc array: a snapshot taken right after its CONTROL
 * record may not see it yet. So a load first waits, bounded (1 s), until
 * the last CONTROL record's transaction is visible. Its 32-bit xid is
 * widened with the epoch of the current snapshot's xmax.
 */
static const char *wait_sql_format =
"DO $rtsync$ DECLARE x xid8; lo bigint; ep bigint; BEGIN"
"  lo := pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot())::text::numeric %% 4294967296;"
"  ep := floor(pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot())::text::numeric / 4294967296);"
"  IF %u > lo THEN ep := ep - 1; END IF;"
"  x := (ep * 4294967296 + %u)::text::xid8;"
"  FOR i IN 1..2000 LOOP"
"    EXIT WHEN pg_catalog.pg_visible_in_snapshot(x, pg_catalog.pg_current_snapshot());"
"    PERFORM pg_catalog.pg_sleep(0.0005);"
"  END LOOP;"
"END $rtsync$;";

static const char *load_sql =
"SELECT rtsync._schema_description()::text;"
"SELECT key_hash, role, coalesce(expires_at, 'infinity')::text"
"  FROM rtsync.api_key WHERE revoked_at IS NULL;"
"SELECT r.role, p.relid::oid,"
"       has_table_privilege(r.role, p.relid, 'SELECT'),"
"       c.relrowsecurity AND NOT (a.rolsuper OR a.rolbypassrls"
"                                 OR pg_has_role(r.role, c.relowner, 'USAGE'))"
"  FROM (SELECT DISTINCT role FROM rtsync.api_key WHERE revoked_at IS NULL) r"
"  JOIN pg_authid a ON a.rolname = r.role"
"  CROSS JOIN rtsync.published_table p"
"  JOIN pg_class c ON c.oid = p.relid";

typedef struct Grant
{
	char		key[NAMEDATALEN + 16];	/* "<relid>:<role>" */
	bool		select;
	bool		rls;
} Grant;

static RtsyncPgConn control;
static bool loading = false;
static TransactionId wait_xid = InvalidTransactionId;	/* last CONTROL's */
static bool reload_pending = false;
static int	result_index = 0;
static bool load_failed = false;
static MemoryContext grants_cxt = NULL;
static HTAB *grants = NULL;
static HTAB *new_grants = NULL;
static MemoryContext new_grants_cxt = NULL;

static void
control_load(void)
{
	const char *sql = "";

	if (!control.ready || loading)
	{
		ereport(DEBUG1, (errmsg("rtsync queues a reload (connection %s)",
								control.ready ? "busy" : "not ready")));
		reload_pending = true;
		return;
	}
	ereport(DEBUG1, (errmsg("rtsync reloads schema, keys and grants")));
	if (TransactionIdIsValid(wait_xid))
		sql = psprintf(wait_sql_format, wait_xid, wait_xid);
	if (!PQsendQuery(control.conn, psprintf("%s%s", sql, load_sql)))
	{
		rtsync_pgconn_close(&control, PQerrorMessage(control.conn));
		return;
	}
	loading = true;
	reload_pending = false;
	result_index = 0;
	load_failed = false;
	if (PQflush(control.conn) == 1)
		rtsync_pgconn_want_write(&control, true);
}

static void
take_schema(PGresult *res)
{
	char	   *error = NULL;
	RtsyncSchema *schema;

	if (PQntuples(res) != 1)
		return;
	schema = rtsync_schema_from_json(PQgetvalue(res, 0, 0), &error);
	if (schema == NULL)
	{
		ereport(LOG, (errmsg("rtsync could not build the GraphQL schema: %s", error)));
		return;
	}
	rtsync_registry_set_schema(schema);
}

static void
take_keys(PGresult *res)
{
	rtsync_apikeys_begin_load();
	for (int i = 0; i < PQntuples(res); i++)
	{
		TimestampTz expires = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in,
																	  CStringGetDatum(PQgetvalue(res, i, 2)),
																	  ObjectIdGetDatum(InvalidOid),
																	  Int32GetDatum(-1)));

		rtsync_apikeys_add(PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), expires);
	}
	rtsync_apikeys_end_load();
}

static void
take_grants(PGresult *res)
{
	HASHCTL		ctl;

	new_grants_cxt = AllocSetContextCreate(TopMemoryContext, "rtsync grants",
										   ALLOCSET_SMALL_SIZES);
	ctl.keysize = NAMEDATALEN + 16;
	ctl.entrysize = sizeof(Grant);
	ctl.hcxt = new_grants_cxt;
	new_grants = hash_create("rtsync grants", 64, &ctl,
							 HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	for (int i = 0; i < PQntuples(res); i++)
	{
		char		key[NAMEDATALEN + 16];
		Grant	   *g;

		snprintf(key, sizeof(key), "%s:%s", PQgetvalue(res, i, 1), PQgetvalue(res, i, 0));
		g = hash_search(new_grants, key, HASH_ENTER, NULL);
		g->select = PQgetvalue(res, i, 2)[0] == 't';
		g->rls = PQgetvalue(res, i, 3)[0] == 't';
	}
	if (grants_cxt)
		MemoryContextDelete(grants_cxt);
	grants_cxt = new_grants_cxt;
	grants = new_grants;
	new_grants_cxt = NULL;
	new_grants = NULL;
}

/* Every connection whose key is gone or expired is closed now. */
static void
recheck_connections(void)
{
	rtsync_server_foreach_connection(rtsync_protocol_recheck_keys);
}

static void
control_on_readable(RtsyncPgConn *pc)
{
	if (!PQconsumeInput(control.conn))
	{
		rtsync_pgconn_close(&control, PQerrorMessage(control.conn));
		return;
	}
	while (loading && !PQisBusy(control.conn))
	{
		PGresult   *res = PQgetResult(control.conn);

		if (res == NULL)
		{
			ereport(DEBUG1, (errmsg("rtsync reload %s", load_failed ? "failed" : "done")));
			loading = false;
			if (!load_failed)
				recheck_connections();
			/* clients waiting on a key decide on a load begun after they asked */
			if (reload_pending)
				control_load();
			else
				rtsync_protocol_control_loaded();
			return;
		}
		if (PQresultStatus(res) == PGRES_COMMAND_OK)
		{
			/* the wait for the last CONTROL's transaction: no result to count */
			PQclear(res);
			continue;
		}
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
		{
			if (!load_failed)
				ereport(LOG,
						(errmsg("rtsync could not load its schema and keys: %s",
								PQresultErrorMessage(res)),
						 errhint("Is the extension installed in database \"%s\"? The worker loads again when it is.",
								 rtsync_database)));
			load_failed = true;
		}
		else if (!load_failed)
		{
			if (result_index == 0)
				take_schema(res);
			else if (result_index == 1)
				take_keys(res);
			else if (result_index == 2)
				take_grants(res);
		}
		result_index++;
		PQclear(res);
	}
}

static void
control_on_ready(RtsyncPgConn *pc)
{
	rtsync_pgconn_reset_backoff(pc);
	loading = false;
	control_load();
}

/* pgconn reconnects; the load runs again once it is back */
static void
control_on_closed(RtsyncPgConn *pc)
{
	loading = false;
	reload_pending = true;
}

void
rtsync_control_start(uv_loop_t *loop)
{
	memset(&control, 0, sizeof(control));
	control.name = "control";
	control.loop = loop;
	control.on_ready = control_on_ready;
	control.on_readable = control_on_readable;
	control.on_closed = control_on_closed;
	rtsync_pgconn_start(&control, rtsync_pgconn_conninfo(false));
}

void
rtsync_control_stop(void)
{
	rtsync_pgconn_stop(&control);
}

/* A CONTROL record from the stream: something we load has changed. */
void
rtsync_control_message(JsonbContainer *record)
{
	JsonbValue	v;

	if (getKeyJsonValueFromContainer(record, "xid", 3, &v) && v.type == jbvNumeric)
		wait_xid = DatumGetUInt32(DirectFunctionCall1(numeric_int8,
													   NumericGetDatum(v.val.numeric)));
	control_load();
}

/*
 * Is a load running or queued? Client messages wait meanwhile, so that
 * whatever the stream announced before them is in effect when they run.
 */
bool
rtsync_control_busy(void)
{
	return control.ready && (loading || reload_pending);
}

/* Load again now (e.g. a client presented a key we do not know yet). */
void
rtsync_control_reload(void)
{
	control_load();
}

/*
 * May a role subscribe to a table? Needs SELECT on it, and a table with
 * row-level security is refused to roles subject to it: rows are not yet
 * filtered by policies on delivery, and none may leak.
 */
bool
rtsync_control_may_select(const char *role, Oid relid, char **why)
{
	char		key[NAMEDATALEN + 16];
	Grant	   *g;

	snprintf(key, sizeof(key), "%u:%s", relid, role);
	g = grants ? hash_search(grants, key, HASH_FIND, NULL) : NULL;
	if (g == NULL || !g->select)
	{
		*why = psprintf("Not Authorized to access this table: role \"%s\" has no SELECT privilege on it.", role);
		return false;
	}
	if (g->rls)
	{
		*why = psprintf("Not Authorized to access this table: it has row-level security, which subscriptions do not apply yet, and role \"%s\" does not bypass it.", role);
		return false;
	}
	return true;
}
