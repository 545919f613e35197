/*-------------------------------------------------------------------------
 *
 * control/control.c
 *	  Loads what the worker must know from the database, over libpq: the
 *	  GraphQL schema of the published tables, the valid API keys, and what
 *	  each key's role may read; and reads the server's WAL insert position
 *	  for subscriptions waiting for their start point.
 *
 * When: at start, after every reconnect, and whenever the stream carries a
 * CONTROL record. The SQL API emits one (a transactional logical message)
 * from publish, unpublish, create_api_key and revoke_api_key, an event
 * trigger does for ALTER TABLE, GRANT, REVOKE and policy changes, and a
 * utility hook in every backend does for role changes (GRANT/REVOKE of
 * roles, ALTER, CREATE, DROP and renaming of roles; ../extension/
 * role_watch.c); so the worker learns of each change in stream order, right
 * after the commit that made it, and never polls. Role changes made in
 * another database cannot reach this database's stream: for those the
 * committing backend moves a counter in shared memory and sets our latch,
 * and we reload when we see it move, on the next pass of the loop and
 * before any client message is handled (notice_role_changes). A reload
 * asked for while one runs is queued.
 *
 * A reload recomputes every key role's privileges from scratch with the
 * server's own functions (has_table_privilege, has_column_privilege,
 * pg_has_role), so whatever membership, INHERIT, SUPERUSER or BYPASSRLS
 * changed is in the answer; afterwards every live subscription is checked
 * again, and those that lost access end with the protocol's error.
 *
 * Who hears of a load: the layers above register callbacks at start, run in
 * the order they were registered. A new schema goes to the on_schema ones
 * as soon as it is in (the registry re-plans its subscriptions). After
 * every load that succeeded, the on_access ones run (the protocol re-checks
 * every connection's key and subscriptions against the new keys and
 * grants); then, unless another load is already queued, the on_loaded ones
 * (the protocol, then HTTP, run the clients' messages and requests that
 * waited for the load; also after a load that failed, so that they do not
 * wait for ever).
 *
 * Start points: a subscription is acknowledged with the server's WAL insert
 * position read after it was accepted, and gets only transactions that
 * commit after it (see stream/registry.c). The position is one autocommit SELECT
 * on this connection; every wait queued before it was sent is answered by
 * it, so a thousand clients subscribing at once cost one or two round
 * trips, not a thousand. The connection runs one command at a time: a
 * reload waits for a position query in flight and the other way round,
 * position queries first (they are short, and clients wait on them).
 *
 * The connection holds no transaction between commands.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "extension/role_watch.h"
#include "control/apikeys.h"
#include "control/control.h"
#include "control/identity.h"
#include "control/policy.h"
#include "base/guard.h"
#include "base/json.h"
#include "net/pgconn.h"
#include "graphql/schema.h"
#include "base/settings.h"
#include "graphql/subscription_plan.h"

/*
 * A transaction's commit reaches the stream a moment before the committing
 * backend leaves the proc array: a snapshot taken right after its CONTROL
 * record may not see it yet. Nor has it then sent its catalog
 * invalidations: a backend that had cached the old pg_authid or
 * pg_auth_members rows (role attributes, memberships) could still answer
 * from them. So a load first waits, bounded (1 s), until the last CONTROL
 * record's transaction is visible and has released its transaction lock,
 * which it does after sending its invalidations; in a transaction of its
 * own, so that the load's transaction starts afterwards and takes in those
 * invalidations when it starts. The 32-bit xid is widened with the epoch of
 * the current snapshot's xmax.
 */
static const char *wait_sql_format =
"BEGIN;"
"DO $rtsync$ DECLARE x xid8; lo bigint; ep bigint; BEGIN"
"  lo := pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot())::text::numeric %% 4294967296;"
"  ep := floor(pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot())::text::numeric / 4294967296);"
"  IF %u > lo THEN ep := ep - 1; END IF;"
"  x := (ep * 4294967296 + %u)::text::xid8;"
"  FOR i IN 1..2000 LOOP"
"    EXIT WHEN pg_catalog.pg_visible_in_snapshot(x, pg_catalog.pg_current_snapshot())"
"      AND NOT EXISTS (SELECT FROM pg_catalog.pg_locks l"
"                      WHERE l.locktype = 'transactionid' AND l.transactionid = '%u'::xid);"
"    PERFORM pg_catalog.pg_sleep(0.0005);"
"  END LOOP;"
"END $rtsync$;"
"COMMIT;";

/*
 * One round trip, five results: the schema; the keys; the roles tokens may
 * take (control/identity.c); for every (key or token role, published table)
 * pair whether the role has SELECT on the table and
 * whether row-level security applies to it; and, where it has no SELECT on
 * the table, the columns it may read (column privileges). Roles are taken
 * by OID from pg_authid, so a key whose role was dropped matches nothing
 * rather than failing the privilege functions, and a role created again
 * under that name is the key's role again.
 *
 * Privileges through membership count as the server counts them: the
 * privilege functions take inherited privileges only from roles the key's
 * role inherits from (INHERIT), and superusers have every privilege. Row-
 * level security applies as check_enable_rls() decides: not to superusers
 * and BYPASSRLS roles (attributes of the role itself, never inherited), nor
 * to the table's owner or roles that inherit from it unless the table
 * forces row-level security.
 *
 * Where it applies, the policies the role is subject to when it SELECTs
 * are composed the way the server composes them (add_security_quals):
 * the USING expressions of the permissive SELECT and ALL policies whose
 * roles include PUBLIC or a role whose privileges it has, OR-ed, AND the
 * restrictive ones; no permissive policy is false (default deny). Each
 * expression is printed by pg_get_expr, so it reads the table's columns
 * by their names: a change's image, made a row of the table's type with
 * jsonb_populate_record and given the table's name, is judged by it
 * exactly (stream/rls.c).
 */
static const char *load_sql_format =
"SELECT rtsync._schema_description()::text;"
"SELECT key_hash, role, coalesce(expires_at, 'infinity')::text"
"  FROM rtsync.api_key WHERE revoked_at IS NULL;"
"%s;"
"WITH claims AS MATERIALIZED ("
"  SELECT p.relid, pg_catalog.jsonb_build_object('c', rtsync._claims_read(p.relid))::text AS read"
"    FROM rtsync.published_table p JOIN pg_catalog.pg_class c ON c.oid = p.relid"
"   WHERE c.relrowsecurity)"
"SELECT a.rolname, p.relid::oid,"
"       pg_catalog.has_table_privilege(a.oid, p.relid, 'SELECT'),"
"       c.relrowsecurity AND NOT (a.rolsuper OR a.rolbypassrls"
"                                 OR (NOT c.relforcerowsecurity"
"                                     AND pg_catalog.pg_has_role(a.oid, c.relowner, 'USAGE'))),"
"       c.relname,"
"       (SELECT CASE WHEN pg_catalog.bool_or(pol.polpermissive) IS NOT TRUE THEN 'false'"
"               ELSE '(' || pg_catalog.string_agg('(' || pg_catalog.pg_get_expr(pol.polqual, pol.polrelid) || ')', ' OR ')"
"                             FILTER (WHERE pol.polpermissive) || ')'"
"                    || coalesce(' AND ' || pg_catalog.string_agg('(' || pg_catalog.pg_get_expr(pol.polqual, pol.polrelid) || ')', ' AND ')"
"                                           FILTER (WHERE NOT pol.polpermissive), '') END"
"          FROM pg_catalog.pg_policy pol"
"         WHERE pol.polrelid = p.relid AND pol.polcmd IN ('r', '*') AND pol.polqual IS NOT NULL"
"           AND (0::oid = ANY (pol.polroles) OR EXISTS (SELECT FROM pg_catalog.unnest(pol.polroles) pr(oid)"
"                                                      WHERE pg_catalog.pg_has_role(a.oid, pr.oid, 'USAGE')))),"
"       (SELECT cl.read FROM claims cl WHERE cl.relid = p.relid)"
"  FROM (%s) r"
"  JOIN pg_catalog.pg_authid a ON a.rolname = r.role"
"  CROSS JOIN rtsync.published_table p"
"  JOIN pg_catalog.pg_class c ON c.oid = p.relid;"
"SELECT a.rolname, p.relid::oid, pol.polpermissive,"
"       pg_catalog.pg_get_expr(pol.polqual, pol.polrelid),"
"       pol.polqual::text !~ '\\{SUBLINK'"
"       AND (SELECT pg_catalog.count(*) FROM pg_catalog.regexp_matches(pol.polqual::text, '\\{VAR ', 'g')) <= 1"
"       AND NOT EXISTS (SELECT FROM pg_catalog.regexp_matches(pol.polqual::text, ':funcid (\\d+)', 'g') m"
"                         JOIN pg_catalog.pg_proc f ON f.oid = m[1]::oid"
"                        WHERE f.provolatile = 'v' OR (f.pronamespace <> 'pg_catalog'::regnamespace"
"                              AND (f.prolang <> (SELECT l.oid FROM pg_catalog.pg_language l WHERE l.lanname = 'sql')"
"                                   OR f.prosrc ~* '\\m(from|join|rtsync)\\M')))"
"       AND NOT EXISTS (SELECT FROM pg_catalog.regexp_matches(pol.polqual::text, ':opno (\\d+)', 'g') m"
"                         JOIN pg_catalog.pg_operator o ON o.oid = m[1]::oid"
"                        WHERE o.oprnamespace <> 'pg_catalog'::regnamespace),"
"       (SELECT t.attname FROM pg_catalog.pg_attribute t"
"         WHERE t.attrelid = p.relid"
"           AND t.attnum = (pg_catalog.regexp_match(pol.polqual::text, '\\{VAR :varno 1 :varattno (\\d+)'))[1]::int"
"           AND t.atttypid IN ('text'::regtype, 'varchar'::regtype, 'uuid'::regtype,"
"                              'int2'::regtype, 'int4'::regtype, 'int8'::regtype))"
"  FROM (%s) r"
"  JOIN pg_catalog.pg_authid a ON a.rolname = r.role"
"  CROSS JOIN rtsync.published_table p"
"  JOIN pg_catalog.pg_class c ON c.oid = p.relid"
"  JOIN pg_catalog.pg_policy pol ON pol.polrelid = p.relid AND pol.polcmd IN ('r', '*')"
"   AND pol.polqual IS NOT NULL"
"   AND (0::oid = ANY (pol.polroles) OR EXISTS (SELECT FROM pg_catalog.unnest(pol.polroles) pr(oid)"
"                                              WHERE pg_catalog.pg_has_role(a.oid, pr.oid, 'USAGE')))"
" WHERE c.relrowsecurity AND NOT (a.rolsuper OR a.rolbypassrls"
"                                 OR (NOT c.relforcerowsecurity"
"                                     AND pg_catalog.pg_has_role(a.oid, c.relowner, 'USAGE')))"
" ORDER BY 1, 2, pol.polname;"
"SELECT a.rolname, p.relid::oid, t.attname"
"  FROM (%s) r"
"  JOIN pg_catalog.pg_authid a ON a.rolname = r.role"
"  CROSS JOIN rtsync.published_table p"
"  JOIN pg_catalog.pg_attribute t ON t.attrelid = p.relid"
"   AND t.attnum > 0 AND NOT t.attisdropped"
" WHERE NOT pg_catalog.has_table_privilege(a.oid, p.relid, 'SELECT')"
"   AND pg_catalog.has_column_privilege(a.oid, p.relid, t.attnum, 'SELECT')"
" ORDER BY 1, 2, t.attnum";

/* The roles grants are computed for: the keys' and those tokens may take. */
static char *
load_sql(void)
{
	char	   *token_roles = rtsync_identity_roles_sql();
	char	   *roles = psprintf("SELECT role FROM rtsync.api_key WHERE revoked_at IS NULL"
								 " UNION SELECT rolname FROM (%s) t",
								 token_roles);

	return psprintf(load_sql_format, token_roles, roles, roles, roles);
}

static const char *insert_lsn_sql = "SELECT pg_catalog.pg_current_wal_insert_lsn()";

typedef struct Grant
{
	char		key[NAMEDATALEN + 16];	/* "<relid>:<role>" */
	bool		select;			/* SELECT on the table: every column */
	bool		rls;
	RtsyncRowPolicy *policy;	/* with rls: how changes are judged */
	char		relname[NAMEDATALEN];
	List	   *columns;		/* without select: the readable columns'
								 * names (char *) */
} Grant;

/* What the connection is doing. */
typedef enum ControlState
{
	CONTROL_IDLE,
	CONTROL_LOADING,			/* schema, keys and grants */
	CONTROL_INSERT_LSN			/* pg_current_wal_insert_lsn() */
} ControlState;

static RtsyncPgConn control;
static ControlState state = CONTROL_IDLE;
static TransactionId wait_xid = InvalidTransactionId;	/* last CONTROL's */
static bool reload_pending = false;
static int	result_index = 0;
static bool load_failed = false;
static MemoryContext grants_cxt = NULL;
static uint64 generation = 0;	/* of the grants */
static HTAB *grants = NULL;
static HTAB *new_grants = NULL;
static MemoryContext new_grants_cxt = NULL;

/* role changes in other databases: the shared counter as last seen */
static uint64 roles_seen = 0;
static uv_prepare_t roles_check;

/*
 * Waits for the insert position: queued ones, and those the query in
 * flight answers (queued before it was sent).
 */
static dlist_head lsn_waiting = DLIST_STATIC_INIT(lsn_waiting);
static dlist_head lsn_asked = DLIST_STATIC_INIT(lsn_asked);
static XLogRecPtr lsn_result = InvalidXLogRecPtr;

/* the current schema; NULL until the first load or the first ask */
static RtsyncSchema *schema = NULL;

/* the upper layers' callbacks, in registration order */
static RtsyncControlSchemaCallback schema_callbacks[RTSYNC_CONTROL_MAX_CALLBACKS];
static int	nschema_callbacks = 0;
static RtsyncControlCallback access_callbacks[RTSYNC_CONTROL_MAX_CALLBACKS];
static int	naccess_callbacks = 0;
static RtsyncControlCallback loaded_callbacks[RTSYNC_CONTROL_MAX_CALLBACKS];
static int	nloaded_callbacks = 0;

/*
 * Register a callback for every new schema, called with it once it is the
 * current one (rtsync_control_schema). Registered at start, before
 * rtsync_control_start; a full list is a programming error.
 */
void
rtsync_control_on_schema(RtsyncControlSchemaCallback callback)
{
	if (nschema_callbacks >= RTSYNC_CONTROL_MAX_CALLBACKS)
		elog(FATAL, "out of rtsync_control_on_schema slots");
	schema_callbacks[nschema_callbacks++] = callback;
}

/*
 * Register a callback for after every load that succeeded: the keys and
 * grants loaded are in effect (rtsync_apikey_recheck,
 * rtsync_control_may_select), whether they changed or not.
 */
void
rtsync_control_on_access(RtsyncControlCallback callback)
{
	if (naccess_callbacks >= RTSYNC_CONTROL_MAX_CALLBACKS)
		elog(FATAL, "out of rtsync_control_on_access slots");
	access_callbacks[naccess_callbacks++] = callback;
}

/*
 * Register a callback for when a load finished (or failed) and no other is
 * queued: whatever waited for the load may go on.
 */
void
rtsync_control_on_loaded(RtsyncControlCallback callback)
{
	if (nloaded_callbacks >= RTSYNC_CONTROL_MAX_CALLBACKS)
		elog(FATAL, "out of rtsync_control_on_loaded slots");
	loaded_callbacks[nloaded_callbacks++] = callback;
}

/*
 * The schema subscriptions and HTTP requests are planned against. Before
 * the first schema has loaded (or while it fails to build) that is an empty
 * one, made under TopMemoryContext: the caller's context (a request's, a
 * message's, the pass's) would free it under the pointer.
 */
RtsyncSchema *
rtsync_control_schema(void)
{
	if (schema == NULL)
		schema = rtsync_schema_create(TopMemoryContext);
	return schema;
}

static bool
control_send(const char *sql, ControlState next)
{
	if (!PQsendQuery(control.conn, sql))
	{
		rtsync_pgconn_close(&control, PQerrorMessage(control.conn));
		return false;
	}
	state = next;
	if (PQflush(control.conn) == 1)
		rtsync_pgconn_want_write(&control, true);
	return true;
}

static void
control_send_load(void)
{
	char	   *wait_sql = NULL;
	char	   *sql;
	bool		sent;

	ereport(DEBUG1, (errmsg("rtsync reloads schema, keys and grants")));
	if (TransactionIdIsValid(wait_xid))
		wait_sql = psprintf(wait_sql_format, wait_xid, wait_xid, wait_xid);
	sql = psprintf("%s%s", wait_sql ? wait_sql : "", load_sql());
	/* libpq has copied the query into its buffer: ours go now */
	sent = control_send(sql, CONTROL_LOADING);
	pfree(sql);
	if (wait_sql)
		pfree(wait_sql);
	if (!sent)
		return;
	reload_pending = false;
	result_index = 0;
	load_failed = false;
}

/* Ask for the insert position on behalf of every wait queued so far. */
static void
control_send_insert_lsn(void)
{
	int			n = 0;

	if (!control_send(insert_lsn_sql, CONTROL_INSERT_LSN))
		return;
	lsn_result = InvalidXLogRecPtr;
	while (!dlist_is_empty(&lsn_waiting))
	{
		dlist_push_tail(&lsn_asked, dlist_pop_head_node(&lsn_waiting));
		n++;
	}
	ereport(DEBUG2, (errmsg("rtsync asks for the insert position for %d subscriptions", n)));
}

/* Whatever is due next, once the connection is free. */
static void
control_next(void)
{
	if (!control.ready || control.closing || state != CONTROL_IDLE)
		return;
	if (!dlist_is_empty(&lsn_waiting))
		control_send_insert_lsn();
	else if (reload_pending)
		control_send_load();
}

static void
control_load(void)
{
	if (!control.ready || state != CONTROL_IDLE)
		ereport(DEBUG1, (errmsg("rtsync queues a reload (connection %s)",
								control.ready ? "busy" : "not ready")));
	reload_pending = true;
	control_next();
}

/*
 * Roles changed in another database (../extension/role_watch.c moved the
 * shared counter after the commit, and set our latch): load again. Cheap
 * enough (one atomic read) to run on every pass of the loop and before
 * every client message, which is what orders the reload before any client
 * message sent after the commit.
 */
static void
notice_role_changes(void)
{
	uint64		generation = rtsync_role_watch_generation();

	if (generation == roles_seen)
		return;
	ereport(DEBUG1, (errmsg("rtsync reloads: roles changed in another database")));
	control_load();
	/* only now: should the above fail, the next call tries again */
	roles_seen = generation;
}

/*
 * Entry from libuv, on every pass of the loop before it polls; woken by the
 * latch the committing backend set. An error (out of memory building the
 * query) is logged, never unwound through libuv; the next pass tries again
 * (roles_seen has not moved).
 */
static void
roles_check_cb(uv_prepare_t *handle)
{
	RTSYNC_GUARD(notice_role_changes(), (void) 0);
}

static void
take_schema(PGresult *res)
{
	char	   *error = NULL;
	RtsyncSchema *new_schema;

	if (PQntuples(res) != 1)
		return;
	new_schema = rtsync_schema_from_json(PQgetvalue(res, 0, 0), &error);
	if (new_schema == NULL)
	{
		ereport(LOG, (errmsg("rtsync could not build the GraphQL schema: %s", error)));
		return;
	}
	if (schema)
		rtsync_schema_free(schema);
	/* kept: made in the loader's (transient) context */
	MemoryContextSetParent(new_schema->cxt, TopMemoryContext);
	schema = new_schema;
	for (int i = 0; i < nschema_callbacks; i++)
		schema_callbacks[i] (schema);
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

/*
 * The statement that judges images of a table for a role its policy
 * applies to: $1 is a JSON array of images; it returns the (1-based)
 * ordinals of those the role may see. NULL when the table is not in the
 * schema.
 */
static char *
rls_check_sql(Oid relid, const char *relname, const char *policy)
{
	RtsyncSchemaTable *table = NULL;
	ListCell   *lc;

	/* the schema is the load's first result: already taken */
	if (schema)
		foreach(lc, schema->tables)
			if (((RtsyncSchemaTable *) lfirst(lc))->relid == relid)
				table = lfirst(lc);
	if (table == NULL)
		return NULL;
	return psprintf("SELECT x.ord FROM pg_catalog.jsonb_array_elements($1::jsonb)"
					" WITH ORDINALITY AS x(img, ord)"
					" WHERE EXISTS (SELECT FROM pg_catalog.jsonb_populate_record(NULL::%s, x.img) AS %s"
					" WHERE %s)",
					table->sql_name, quote_identifier(relname), policy);
}

static void
take_token_roles(PGresult *res)
{
	rtsync_identity_roles_begin_load();
	for (int i = 0; i < PQntuples(res); i++)
		rtsync_identity_roles_add(PQgetvalue(res, i, 0), PQgetvalue(res, i, 1)[0] == 't',
								  PQgetvalue(res, i, 2)[0] == 't');
	rtsync_identity_roles_end_load();
}

/* The claims judging the table can read: {"c": [names]} or {"c": null}. */
static void
take_claims_read(RtsyncRowPolicy *policy, const char *json)
{
	JsonbContainer *names = json ?
		rtsync_json_get_array(rtsync_json_parse_object(json, strlen(json)), "c") : NULL;

	policy->nclaims_read = -1;
	if (names == NULL)
		return;
	policy->nclaims_read = JsonContainerSize(names);
	policy->claims_read = palloc0(Max(policy->nclaims_read, 1) * sizeof(char *));
	for (int i = 0; i < policy->nclaims_read; i++)
	{
		JsonbValue *v = getIthJsonbValueFromContainer(names, i);

		if (v->type != jbvString)
		{
			policy->nclaims_read = -1;
			return;
		}
		policy->claims_read[i] = pnstrdup(v->val.string.val, v->val.string.len);
	}
}

static void
take_grants(PGresult *res)
{
	HASHCTL		ctl;

	/* left from a load that failed half-way */
	if (new_grants_cxt)
		MemoryContextDelete(new_grants_cxt);
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
		strlcpy(g->relname, PQgetvalue(res, i, 4), sizeof(g->relname));
		g->policy = NULL;
		if (g->rls)
		{
			MemoryContext old = MemoryContextSwitchTo(new_grants_cxt);

			g->policy = palloc0(sizeof(RtsyncRowPolicy));
			g->policy->check_sql = rls_check_sql(atooid(PQgetvalue(res, i, 1)), g->relname,
												 PQgetvalue(res, i, 5));
			take_claims_read(g->policy, PQgetisnull(res, i, 6) ? NULL : PQgetvalue(res, i, 6));
			/* no policy applies: nothing passes, and nothing need be asked */
			if (strcmp(PQgetvalue(res, i, 5), "false") == 0)
				rtsync_policy_compile(g->policy, NULL, 0);
			MemoryContextSwitchTo(old);
		}
		g->columns = NIL;
	}
}

/* A (role, table) pair's policies, rows [from, to) of res: compiled if simple. */
static void
compile_policies(PGresult *res, int from, int to)
{
	char		key[NAMEDATALEN + 16];
	Grant	   *g;
	RtsyncPolicySource *sources;

	snprintf(key, sizeof(key), "%s:%s", PQgetvalue(res, from, 1), PQgetvalue(res, from, 0));
	g = hash_search(new_grants, key, HASH_FIND, NULL);
	if (g == NULL || g->policy == NULL)
		return;
	sources = palloc((to - from) * sizeof(RtsyncPolicySource));
	for (int i = from; i < to; i++)
	{
		RtsyncPolicySource *src = &sources[i - from];

		src->permissive = PQgetvalue(res, i, 2)[0] == 't';
		src->expr = PQgetvalue(res, i, 3);
		src->safe = PQgetvalue(res, i, 4)[0] == 't';
		src->column = PQgetisnull(res, i, 5) ? NULL : PQgetvalue(res, i, 5);
	}
	rtsync_policy_compile(g->policy, sources, to - from);
	pfree(sources);
}

/* Every restricted (role, table) pair's policies, ordered by the pair. */
static void
take_policies(PGresult *res)
{
	MemoryContext old = MemoryContextSwitchTo(new_grants_cxt);
	int			n = PQntuples(res);
	int			from = 0;

	for (int i = 1; i <= n; i++)
	{
		if (i < n && strcmp(PQgetvalue(res, i, 0), PQgetvalue(res, from, 0)) == 0 &&
			strcmp(PQgetvalue(res, i, 1), PQgetvalue(res, from, 1)) == 0)
			continue;
		compile_policies(res, from, i);
		from = i;
	}
	MemoryContextSwitchTo(old);
}

/* The columns each role may read where it has no SELECT on the table. */
static void
take_column_grants(PGresult *res)
{
	MemoryContext old = MemoryContextSwitchTo(new_grants_cxt);

	for (int i = 0; i < PQntuples(res); i++)
	{
		char		key[NAMEDATALEN + 16];
		Grant	   *g;

		snprintf(key, sizeof(key), "%s:%s", PQgetvalue(res, i, 1), PQgetvalue(res, i, 0));
		g = hash_search(new_grants, key, HASH_FIND, NULL);
		if (g != NULL)
			g->columns = lappend(g->columns, pstrdup(PQgetvalue(res, i, 2)));
	}
	MemoryContextSwitchTo(old);

	/* the last result is in: the new grants replace the old */
	generation++;
	if (grants_cxt)
		MemoryContextDelete(grants_cxt);
	grants_cxt = new_grants_cxt;
	grants = new_grants;
	new_grants_cxt = NULL;
	new_grants = NULL;
}

/*
 * The insert position arrived: answer every wait it was asked for. The
 * state stays CONTROL_INSERT_LSN meanwhile, so that waits the callbacks
 * queue (a client's next subscription) go into the next query, not this
 * one; that query is sent afterwards. Should a callback fail, the waits not
 * yet answered are still in lsn_asked, and are asked for again after the
 * reconnect.
 */
static void
control_lsn_done(bool ok)
{
	if (!ok)
	{
		/* ask again after the reconnect: keep the waits first in line */
		while (!dlist_is_empty(&lsn_asked))
		{
			dlist_node *node = dlist_tail_node(&lsn_asked);

			dlist_delete(node);
			dlist_push_head(&lsn_waiting, node);
		}
		state = CONTROL_IDLE;
		return;
	}
	while (!dlist_is_empty(&lsn_asked))
	{
		RtsyncLsnWait *wait = dlist_container(RtsyncLsnWait, node,
											  dlist_pop_head_node(&lsn_asked));

		wait->queued = false;
		wait->callback(wait, lsn_result);
	}
	state = CONTROL_IDLE;
	control_next();
}

static void
control_lsn_readable(void)
{
	while (state == CONTROL_INSERT_LSN && !PQisBusy(control.conn))
	{
		PGresult   *res = PQgetResult(control.conn);
		uint32		hi;
		uint32		lo;

		if (res == NULL)
		{
			if (XLogRecPtrIsInvalid(lsn_result))
			{
				rtsync_pgconn_close(&control, "no WAL insert position");
				return;
			}
			control_lsn_done(true);
			return;
		}
		if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
			sscanf(PQgetvalue(res, 0, 0), "%X/%X", &hi, &lo) == 2)
			lsn_result = ((uint64) hi) << 32 | lo;
		else
			ereport(LOG,
					(errmsg("rtsync could not read the WAL insert position: %s",
							PQresultErrorMessage(res))));
		PQclear(res);
	}
}

static void
control_read(void)
{
	if (!PQconsumeInput(control.conn))
	{
		rtsync_pgconn_close(&control, PQerrorMessage(control.conn));
		return;
	}
	if (state == CONTROL_INSERT_LSN)
	{
		control_lsn_readable();
		return;
	}
	while (state == CONTROL_LOADING && !PQisBusy(control.conn))
	{
		PGresult   *res = PQgetResult(control.conn);

		if (res == NULL)
		{
			ereport(DEBUG1, (errmsg("rtsync reload %s", load_failed ? "failed" : "done")));
			state = CONTROL_IDLE;
			if (!load_failed)
			{
				for (int i = 0; i < naccess_callbacks; i++)
					access_callbacks[i] ();
			}
			/* clients waiting on a key decide on a load begun after they asked */
			if (reload_pending)
				control_next();
			else
			{
				for (int i = 0; i < nloaded_callbacks; i++)
					loaded_callbacks[i] ();
				control_next();
			}
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
				take_token_roles(res);
			else if (result_index == 3)
				take_grants(res);
			else if (result_index == 4)
				take_policies(res);
			else if (result_index == 5)
				take_column_grants(res);
		}
		result_index++;
		PQclear(res);
	}
}

/*
 * Results arrive on libuv's stack, inside pgconn's guard: an error (in a
 * loader, or in a client message run once a reload or a start point is in)
 * is logged and the connection reopened, and control_on_closed drops the
 * half-made grants and queues the load again.
 */
static void
control_on_readable(RtsyncPgConn *pc)
{
	control_read();
}

static void
control_on_ready(RtsyncPgConn *pc)
{
	rtsync_pgconn_reset_backoff(pc);
	state = CONTROL_IDLE;
	control_load();
}

/*
 * pgconn reconnects; the load runs again once it is back, and so does a
 * position query that was in flight.
 */
static void
control_on_closed(RtsyncPgConn *pc)
{
	if (state == CONTROL_INSERT_LSN)
		control_lsn_done(false);
	if (new_grants_cxt)
	{
		MemoryContextDelete(new_grants_cxt);
		new_grants_cxt = NULL;
		new_grants = NULL;
	}
	state = CONTROL_IDLE;
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
	/* the first load follows: what changed before is in it */
	roles_seen = rtsync_role_watch_attach_worker();
	uv_prepare_init(loop, &roles_check);
	uv_prepare_start(&roles_check, roles_check_cb);
	uv_unref((uv_handle_t *) &roles_check);
	rtsync_pgconn_start(&control, rtsync_pgconn_conninfo(false));
}

void
rtsync_control_stop(void)
{
	uv_prepare_stop(&roles_check);
	uv_close((uv_handle_t *) &roles_check, NULL);
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
	notice_role_changes();
	return control.ready && (state == CONTROL_LOADING || reload_pending);
}

/* Load again now (e.g. a client presented a key we do not know yet). */
void
rtsync_control_reload(void)
{
	control_load();
}

/*
 * Queue a wait for the server's WAL insert position; the callback gets one
 * read after now. A wait that is queued already stays where it is.
 */
void
rtsync_control_insert_lsn(RtsyncLsnWait *wait, RtsyncLsnCallback callback, void *arg)
{
	if (wait->queued)
		return;
	wait->callback = callback;
	wait->arg = arg;
	wait->queued = true;
	dlist_push_tail(&lsn_waiting, &wait->node);
	control_next();
}

/* Forget a wait (its owner is going away); no callback follows. */
void
rtsync_control_cancel_lsn(RtsyncLsnWait *wait)
{
	if (!wait->queued)
		return;
	dlist_delete(&wait->node);
	wait->queued = false;
}

/* May the grant's role read this column of its table? */
static bool
may_read_column(Grant *g, const char *column)
{
	ListCell   *lc;

	if (g->select)
		return true;
	foreach(lc, g->columns)
	{
		if (strcmp(lfirst(lc), column) == 0)
			return true;
	}
	return false;
}

/*
 * May a role subscribe with this plan? It needs SELECT on the table, or on
 * every column the subscription selects or filters on; and a table with
 * row-level security is refused to roles subject to it: rows are not yet
 * filtered by policies on delivery, and none may leak. *why is the client's
 * error message when not.
 */
/*
 * How changes of a table are judged for a role under its row-level
 * security, or NULL when the role's reads of the table are not subject to
 * it. Owned by the grants, which a load replaces: copy what is kept.
 */
const RtsyncRowPolicy *
rtsync_control_row_policy(const char *role, Oid relid)
{
	static RtsyncRowPolicy deny_all = {
		.check_sql = "SELECT NULL::bigint WHERE false", .compiled = true,
		.values_sql = "SELECT '{\"v\": []}'"
	};
	char		key[NAMEDATALEN + 16];
	Grant	   *g;

	snprintf(key, sizeof(key), "%u:%s", relid, role);
	g = grants ? hash_search(grants, key, HASH_FIND, NULL) : NULL;
	if (g == NULL || !g->rls)
		return NULL;
	/* a table the schema lacks: nothing to judge with, so nothing passes */
	if (g->policy == NULL || g->policy->check_sql == NULL)
		return &deny_all;
	return g->policy;
}

/* Bumped by every load of the grants: compiled values may be stale. */
uint64
rtsync_control_generation(void)
{
	return generation;
}

bool
rtsync_control_may_select(const char *role, const RtsyncSubscriptionPlan *plan,
						  char **why)
{
	RtsyncSchemaTable *table = plan->table;
	char		key[NAMEDATALEN + 16];
	Grant	   *g;
	bool	   *filtered;

	snprintf(key, sizeof(key), "%u:%s", table->relid, role);
	g = grants ? hash_search(grants, key, HASH_FIND, NULL) : NULL;
	if (g == NULL || (!g->select && g->columns == NIL))
	{
		*why = psprintf("Not Authorized to access this table: role \"%s\" has no SELECT privilege on it.", role);
		return false;
	}
	if (g->select)
		return true;

	/* column privileges: the selection first, then the filter's columns */
	for (int i = 0; i < plan->nfields; i++)
	{
		const RtsyncSchemaColumn *col = plan->fields[i].column;

		if (col != NULL && !may_read_column(g, col->name))
		{
			*why = psprintf("Not Authorized to access this column: permission denied for column \"%s\" of table \"%s\" to role \"%s\".",
							col->name, g->relname, role);
			return false;
		}
	}
	filtered = palloc0(sizeof(bool) * Max(table->ncolumns, 1));
	rtsync_filter_columns(plan->filter, filtered);
	for (int c = 0; c < table->ncolumns; c++)
	{
		if (filtered[c] && !may_read_column(g, table->columns[c].name))
		{
			*why = psprintf("Not Authorized to access this column: permission denied for column \"%s\" of table \"%s\" to role \"%s\".",
							table->columns[c].name, g->relname, role);
			pfree(filtered);
			return false;
		}
	}
	pfree(filtered);
	return true;
}
