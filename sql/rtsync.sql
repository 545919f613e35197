/* rtsync 0.1: publication catalogue and the SQL API around it. */

\echo Use "CREATE EXTENSION rtsync" to load this file. \quit

/*
 * Which tables are streamed, and how.
 *
 * The output plugin decides per change whether a table is published by reading
 * this table under the decoder's historic snapshot. That is why it is a
 * user_catalog_table: logical decoding can read such tables as of each
 * change's position in the WAL, so publishing and unpublishing take effect in
 * stream order (changes committed after the publishing transaction are
 * streamed, earlier ones are not) without any side channel. The SQL API also
 * sends a relcache invalidation for the table, which the decoder replays at
 * the same position to drop its cached answer.
 */
CREATE TABLE rtsync.published_table (
	relid regclass PRIMARY KEY,
	view_type text NOT NULL
		CHECK (view_type IN ('KEYS_ONLY', 'NEW_IMAGE', 'OLD_IMAGE', 'NEW_AND_OLD_IMAGES')),
	type_name text NOT NULL UNIQUE,
	version_column name,	-- optimistic concurrency for GraphQL mutations
	published_at timestamptz NOT NULL DEFAULT now()
) WITH (user_catalog_table = true);

GRANT USAGE ON SCHEMA rtsync TO PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('rtsync.published_table', '');
GRANT SELECT ON rtsync.published_table TO PUBLIC;

CREATE VIEW rtsync.published_tables AS
	SELECT relid AS table_name, view_type, type_name, version_column, published_at
	FROM rtsync.published_table;
GRANT SELECT ON rtsync.published_tables TO PUBLIC;

/*
 * The GraphQL type name a table gets when none is given: the table name in
 * singular PascalCase (data_items -> DataItem, order_lines -> OrderLine).
 */
CREATE FUNCTION rtsync.default_type_name(tbl regclass)
RETURNS text
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	words text[];
	last text;
	result text := '';
	w text;
BEGIN
	SELECT array_agg(x) INTO words
	FROM regexp_split_to_table((SELECT relname FROM pg_class WHERE oid = tbl),
							   '[^A-Za-z0-9]+') AS x
	WHERE x <> '';
	IF words IS NULL THEN
		RETURN 'T';
	END IF;

	-- English plurals, the common cases only: the last word is the noun.
	last := words[array_upper(words, 1)];
	IF last ~* '[^aeiou]ies$' THEN
		last := regexp_replace(last, '(?i)ies$', 'y');
	ELSIF last ~* '(ss|sh|ch|x|z)es$' THEN
		last := left(last, -2);
	ELSIF last ~* '[^su]s$' AND last !~* 'is$' THEN
		last := left(last, -1);
	END IF;
	words[array_upper(words, 1)] := last;

	FOREACH w IN ARRAY words LOOP
		result := result || upper(left(w, 1)) || substr(w, 2);
	END LOOP;
	IF result ~ '^[0-9]' THEN
		result := 'T' || result;
	END IF;
	RETURN result;
END;
$$;

/*
 * Writes or removes a table's row in rtsync.published_table (view_type NULL
 * removes it) and invalidates the table's relcache entry so that decoders
 * notice at this point in the stream. Checks ownership itself, so it is safe
 * to call directly; publish() and unpublish() are the friendly front ends.
 */
CREATE FUNCTION rtsync._store_publication(tbl regclass, view_type text, type_name text,
										  version_column name DEFAULT NULL)
RETURNS boolean
LANGUAGE C CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'rtsync_store_publication';

/*
 * version_column: an integer column that GraphQL mutations use for
 * optimistic concurrency (AppSync's versioned data sources): create sets it
 * to 1, update adds 1, and an update or delete whose input carries
 * expectedVersion fails when the row has moved on. NULL keeps the table's
 * current setting (none for a new publication); '' removes it.
 */
/* see bgworker/schema_sql.c */
CREATE FUNCTION rtsync._type_name_check(type_name text) RETURNS text[]
LANGUAGE C STRICT IMMUTABLE AS 'MODULE_PATHNAME', 'rtsync_type_name_check';

CREATE FUNCTION rtsync.publish(tbl regclass,
							   view_type text DEFAULT 'NEW_AND_OLD_IMAGES',
							   type_name text DEFAULT NULL,
							   version_column name DEFAULT NULL,
							   retention interval DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	rel record;
	was_published boolean;
	vt text := upper(publish.view_type);
	tn text := coalesce(publish.type_name, rtsync.default_type_name(publish.tbl));
	other regclass;
	vc name;
	name_check text[];
BEGIN
	IF publish.tbl IS NULL THEN
		RAISE EXCEPTION 'table must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT c.relkind, c.relpersistence, c.relowner, c.relreplident, n.nspname
	INTO rel
	FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	WHERE c.oid = publish.tbl;

	IF vt IS NULL OR vt NOT IN ('KEYS_ONLY', 'NEW_IMAGE', 'OLD_IMAGE', 'NEW_AND_OLD_IMAGES') THEN
		RAISE EXCEPTION 'invalid view type "%"', publish.view_type
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Valid view types are KEYS_ONLY, NEW_IMAGE, OLD_IMAGE and NEW_AND_OLD_IMAGES.';
	END IF;
	IF rel.relkind = 'p' THEN
		RAISE EXCEPTION 'cannot publish partitioned table %', publish.tbl
			USING ERRCODE = 'feature_not_supported',
				  HINT = 'Publish each partition instead.';
	ELSIF rel.relkind <> 'r' THEN
		RAISE EXCEPTION '"%" is not a table', publish.tbl
			USING ERRCODE = 'wrong_object_type';
	END IF;
	IF rel.relpersistence <> 'p' THEN
		RAISE EXCEPTION 'cannot publish unlogged or temporary table %', publish.tbl
			USING ERRCODE = 'feature_not_supported',
				  DETAIL = 'Changes to such tables are not written to the write-ahead log, so they cannot be streamed.';
	END IF;
	IF rel.nspname IN ('rtsync', 'pg_catalog', 'information_schema')
		OR rel.nspname LIKE 'pg\_toast%' THEN
		RAISE EXCEPTION 'cannot publish system table %', publish.tbl
			USING ERRCODE = 'wrong_object_type';
	END IF;
	IF NOT pg_has_role(current_user, rel.relowner, 'USAGE') THEN
		RAISE EXCEPTION 'must be owner of table %', publish.tbl
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_index i
				   WHERE i.indrelid = publish.tbl AND (i.indisprimary OR i.indisreplident)) THEN
		RAISE EXCEPTION 'table % has no primary key', publish.tbl
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'Every stream record carries the Keys of its row.',
				  HINT = 'Add a primary key, or name a unique index on NOT NULL columns with ALTER TABLE ... REPLICA IDENTITY USING INDEX.';
	END IF;
	IF tn !~ '^[_A-Za-z][_0-9A-Za-z]*$' OR tn LIKE '\_\_%' THEN
		RAISE EXCEPTION 'invalid type name "%"', tn
			USING ERRCODE = 'invalid_name',
				  HINT = 'A type name is a GraphQL name: letters, digits and underscores, not starting with a digit or with "__".';
	END IF;
	SELECT p.relid INTO other FROM rtsync.published_table p
	WHERE p.type_name = tn AND p.relid <> publish.tbl;
	IF FOUND THEN
		RAISE EXCEPTION 'type name "%" is already used by table %', tn, other
			USING ERRCODE = 'duplicate_object',
				  HINT = 'Pass a different type_name.';
	END IF;
	name_check := rtsync._type_name_check(tn);
	IF name_check[1] IS NOT NULL THEN
		RAISE EXCEPTION 'invalid type name "%"', tn
			USING ERRCODE = 'invalid_name',
				  DETAIL = format('The GraphQL schema uses this name (or its pattern: Query, Mutation, Subscription, scalars, Model...Input, Model...Connection, Create/Update/Delete...Input) for a type of its own.'),
				  HINT = 'Pass a different type_name.';
	END IF;
	SELECT p.relid INTO other FROM rtsync.published_table p
	WHERE (rtsync._type_name_check(p.type_name))[2] = name_check[2] AND p.relid <> publish.tbl;
	IF FOUND THEN
		RAISE EXCEPTION 'type name "%" would share its list field list% with table %', tn, name_check[2], other
			USING ERRCODE = 'duplicate_object',
				  HINT = 'Pass a different type_name.';
	END IF;

	IF vt IN ('OLD_IMAGE', 'NEW_AND_OLD_IMAGES') AND rel.relreplident <> 'f' THEN
		EXECUTE format('ALTER TABLE %s REPLICA IDENTITY FULL', publish.tbl);
		RAISE NOTICE 'table % now has REPLICA IDENTITY FULL', publish.tbl
			USING DETAIL = format('View type %s needs the whole old row of every update and delete.', vt);
	END IF;

	IF publish.version_column IS NULL THEN
		SELECT p.version_column INTO vc FROM rtsync.published_table p
		WHERE p.relid = publish.tbl;
	ELSIF publish.version_column <> '' THEN
		vc := publish.version_column;
		PERFORM 1 FROM pg_attribute a
		WHERE a.attrelid = publish.tbl AND a.attname = vc AND a.attnum > 0
		  AND NOT a.attisdropped;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'column "%" of table % does not exist', vc, publish.tbl
				USING ERRCODE = 'undefined_column';
		END IF;
		PERFORM 1 FROM pg_attribute a
		WHERE a.attrelid = publish.tbl AND a.attname = vc
		  AND a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype)
		  AND a.attgenerated = '' AND a.attidentity = ''
		  AND NOT EXISTS (SELECT 1 FROM pg_index i
						  WHERE i.indrelid = publish.tbl
							AND (i.indisprimary OR i.indisreplident)
							AND a.attnum = ANY (i.indkey::int2[]));
		IF NOT FOUND THEN
			RAISE EXCEPTION 'column "%" of table % cannot be a version column', vc, publish.tbl
				USING ERRCODE = 'invalid_parameter_value',
					  DETAIL = 'A version column is a plain smallint, integer or bigint column outside the primary key.';
		END IF;
	END IF;

	IF publish.retention < '0'::interval THEN
		RAISE EXCEPTION 'retention must not be negative'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass 0 to keep no records (live subscriptions only).';
	END IF;

	was_published := EXISTS (SELECT FROM rtsync.published_table p WHERE p.relid = publish.tbl);
	PERFORM rtsync._store_publication(publish.tbl, vt, tn, vc);
	IF publish.retention IS NOT NULL THEN
		INSERT INTO rtsync.stream_retention AS r (relid, retention)
		VALUES (publish.tbl, publish.retention)
		ON CONFLICT (relid) DO UPDATE SET retention = EXCLUDED.retention;
	END IF;
	-- its stream starts here: what came before was not kept for it
	IF NOT was_published THEN
		PERFORM rtsync._stream_gap(publish.tbl, pg_current_wal_insert_lsn(), 'the table was published');
	END IF;
END;
$$;

CREATE FUNCTION rtsync.unpublish(tbl regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT rtsync._store_publication(unpublish.tbl, NULL, NULL) THEN
		RAISE EXCEPTION 'table % is not published', unpublish.tbl
			USING ERRCODE = 'undefined_object';
	END IF;
	DELETE FROM rtsync.stream_retention r WHERE r.relid = unpublish.tbl;
END;
$$;

REVOKE EXECUTE ON FUNCTION rtsync._store_publication(regclass, text, text, name) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION rtsync.publish(regclass, text, text, name, interval) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION rtsync.unpublish(regclass) FROM PUBLIC;

/*
 * The stream, kept (bgworker/stream/retention.c writes it): every record
 * the worker's slot emits for a table published with a retention, as it was
 * emitted (the json text, byte for byte), with its SequenceNumber (which
 * sorts in stream order) and created_at, its ApproximateCreationDateTime
 * (its transaction's commit time). Records are kept in chunks: a row holds
 * up to 1,000 consecutive records of one table and one UTC hour, as arrays
 * in stream order, compressed together (a row a record cost ten times the
 * WAL, and the writer three times the CPU). The chunks of a table never
 * overlap, so chunk order is stream order. Read them a record a row
 * through rtsync.stream_record (sql/stream_read.sql). Partitioned by the
 * hour of created_at (the first record's) and trimmed by dropping whole
 * partitions (rtsync._trim_stream), never by DELETE. Written only by
 * rtsync._retain, once each: a record decoded again after a crash is at
 * or before the kept position (rtsync.stream_kept) and is not written again.
 */
CREATE TABLE rtsync.stream_chunk (
	relid regclass NOT NULL,	-- regclass, not oid: pg_dump writes its name, a restore its new oid
	first_sequence_number text COLLATE "C" NOT NULL,
	last_sequence_number text COLLATE "C" NOT NULL,
	created_at timestamptz NOT NULL,
	sequence_numbers text[] COMPRESSION lz4 COLLATE "C" NOT NULL,
	created timestamptz[] COMPRESSION lz4 NOT NULL,
	records text[] COMPRESSION lz4 NOT NULL
) PARTITION BY RANGE (created_at);
-- the key, (relid, last_sequence_number, created_at), is each partition's
-- (rtsync._stream_partition): on the parent, an extension's table that
-- pg_dump leaves out, pg_restore would make each partition's twice
REVOKE ALL ON rtsync.stream_chunk FROM PUBLIC;

/* A table's retention, as publish() was given it; none: rtsync.default_retention. */
CREATE TABLE rtsync.stream_retention (
	relid regclass PRIMARY KEY,
	retention interval NOT NULL CHECK (retention >= '0'::interval)
);
SELECT pg_catalog.pg_extension_config_dump('rtsync.stream_retention', '');
-- publish() and unpublish() write it as their caller: the table's owner
ALTER TABLE rtsync.stream_retention ENABLE ROW LEVEL SECURITY;
CREATE POLICY stream_retention_owner ON rtsync.stream_retention
	USING (pg_catalog.pg_has_role(current_user,
		   (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = relid), 'USAGE'));
-- every reader of a stream needs its retention (sql/stream_read.sql)
CREATE POLICY stream_retention_read ON rtsync.stream_retention FOR SELECT USING (true);
GRANT SELECT, INSERT, UPDATE, DELETE ON rtsync.stream_retention TO PUBLIC;

/*
 * Where a table's stream is not whole: nothing before sequence_number can
 * be read, or resumed from, across it (relid NULL: every table). Written
 * when a table is published (again), when the worker's slot is created
 * (again), and when a partition is trimmed: the records before were never
 * kept, not all of them, or are gone.
 */
CREATE TABLE rtsync.stream_gap (
	relid regclass,
	sequence_number text COLLATE "C" NOT NULL CHECK (sequence_number ~ '^[0-9]{30}$'),
	reason text NOT NULL,
	recorded_at timestamptz NOT NULL DEFAULT now()
);
SELECT pg_catalog.pg_extension_config_dump('rtsync.stream_gap', '');
-- publish() records one as its caller, the table's owner; all tables' only the worker
ALTER TABLE rtsync.stream_gap ENABLE ROW LEVEL SECURITY;
CREATE POLICY stream_gap_owner ON rtsync.stream_gap
	USING (true)
	WITH CHECK (relid IS NOT NULL AND pg_catalog.pg_has_role(current_user,
		   (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = relid), 'USAGE'));
GRANT SELECT, INSERT ON rtsync.stream_gap TO PUBLIC;

/* The SequenceNumber at an LSN: before every record of a later commit. */
CREATE FUNCTION rtsync._sequence_at(lsn pg_lsn)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$ SELECT lpad((lsn - '0/0'::pg_lsn)::text, 20, '0') || '0000000000' $$;

/* How long a table's records are kept (0: none). */
CREATE FUNCTION rtsync._retention(tbl oid)
RETURNS interval
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- plpgsql, not sql: its plan is kept (a sql function with SET is planned at each call)
	RETURN coalesce((SELECT r.retention FROM rtsync.stream_retention r WHERE r.relid = tbl),
					current_setting('rtsync.default_retention')::interval);
END;
$$;

/* The partition for the hour (UTC) that starts at hour, made if missing. */
CREATE FUNCTION rtsync._stream_partition(hour timestamptz)
RETURNS regclass
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	name text := 'stream_chunk_' || to_char(hour AT TIME ZONE 'UTC', 'YYYYMMDD"_"HH24');
BEGIN
	IF to_regclass('rtsync.' || name) IS NULL THEN
		EXECUTE format('CREATE TABLE rtsync.%I PARTITION OF rtsync.stream_chunk '
					   '(PRIMARY KEY (relid, last_sequence_number, created_at)) FOR VALUES FROM (%L) TO (%L)',
					   name, hour, hour + interval '1 hour');
	END IF;
	RETURN ('rtsync.' || name)::regclass;
END;
$$;

/*
 * The highest SequenceNumber rtsync._retain() has kept. Records are kept
 * in stream order, so every record at or before it is kept: one given
 * again (decoded again after a crash) is skipped. No row: nothing kept yet.
 */
CREATE TABLE rtsync.stream_kept (
	only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
	sequence_number text COLLATE "C" NOT NULL
) WITH (fillfactor = 10);	-- a version a batch: pruned early, its HOT chain stays short
SELECT pg_catalog.pg_extension_config_dump('rtsync.stream_kept', '');
REVOKE ALL ON rtsync.stream_kept FROM PUBLIC;

/*
 * Keeps a batch of records (the worker's, in stream order): those past the
 * kept position, cut into chunks, with the partitions they need; returns
 * how many were new (extension/stream_retain.c).
 */
CREATE FUNCTION rtsync._retain(relids oid[], sequence_numbers text[], created timestamptz[],
							   records text[])
RETURNS bigint
LANGUAGE C STRICT VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rtsync_retain';

/*
 * Drops the partitions every published table's retention has passed (all
 * of them when no table keeps records); returns how many. Each leaves a gap
 * (for every table) at its last record; only the newest such gap is kept. The worker calls
 * it every minute; a record older than its own table's retention is not
 * read even while its partition stays for a table that keeps longer.
 */
CREATE FUNCTION rtsync._trim_stream()
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	keep interval := (SELECT max(rtsync._retention(p.relid)) FROM rtsync.published_table p);
	part record;
	n integer := 0;
	last text;
	trimmed constant text := 'records past their retention were trimmed';
BEGIN
	FOR part IN
		SELECT c.oid::regclass AS rel,
			   (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz AS upper
		  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		 WHERE i.inhparent = 'rtsync.stream_chunk'::regclass
		 ORDER BY c.relname
	LOOP
		EXIT WHEN keep > '0'::interval AND part.upper > now() - keep;
		-- what it held can no longer be read: a gap up to its last record
		EXECUTE format('SELECT max(last_sequence_number) FROM %s', part.rel) INTO last;
		IF last IS NOT NULL THEN
			DELETE FROM rtsync.stream_gap g
			 WHERE g.relid IS NULL AND g.reason = trimmed AND g.sequence_number <= last;
			INSERT INTO rtsync.stream_gap (relid, sequence_number, reason) VALUES (NULL, last, trimmed);
		END IF;
		EXECUTE format('DROP TABLE %s', part.rel);
		n := n + 1;
	END LOOP;
	RETURN n;
END;
$$;

/* Records a gap (see rtsync.stream_gap) at an LSN, for a table or all. */
CREATE FUNCTION rtsync._stream_gap(tbl oid, lsn pg_lsn, reason text)
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
	INSERT INTO rtsync.stream_gap (relid, sequence_number, reason)
	VALUES (tbl, rtsync._sequence_at(lsn), reason)
$$;

REVOKE EXECUTE ON FUNCTION rtsync._stream_partition(timestamptz) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION rtsync._retain(oid[], text[], timestamptz[], text[]) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION rtsync._trim_stream() FROM PUBLIC;

/* Forget the publication of a table when the table is dropped. */
CREATE FUNCTION rtsync._forget_dropped_tables()
RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	DELETE FROM rtsync.published_table p
	USING pg_event_trigger_dropped_objects() d
	WHERE d.classid = 'pg_class'::regclass AND d.objid = p.relid::oid;
END;
$$;

CREATE EVENT TRIGGER rtsync_forget_dropped_tables ON sql_drop
	WHEN TAG IN ('DROP TABLE', 'DROP SCHEMA', 'DROP OWNED')
	EXECUTE FUNCTION rtsync._forget_dropped_tables();

/*
 * Optimistic concurrency of GraphQL updates and deletes (bgworker/query_sql.c):
 * true when the row's version is the one the mutation expects (or it
 * expects none), else raises ConflictUnhandled (SQLSTATE RT409) with the
 * current version as the detail. It sits in the statement's WHERE clause,
 * so under READ COMMITTED it sees the row's newest version once locked.
 */
CREATE FUNCTION rtsync._check_version(current_version bigint, expected_version bigint)
RETURNS boolean
LANGUAGE plpgsql STABLE COST 10000
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF expected_version IS NULL OR current_version IS NOT DISTINCT FROM expected_version THEN
		RETURN true;
	END IF;
	RAISE EXCEPTION 'conflict: the item has version %, not the expected %',
		current_version, expected_version
		USING ERRCODE = 'RT409', DETAIL = coalesce(current_version::text, 'null');
END;
$$;

/* The GraphQL parser, for tests: the document's syntax tree as JSON. */
CREATE FUNCTION rtsync._graphql_parse(document text) RETURNS jsonb
LANGUAGE C STRICT IMMUTABLE AS 'MODULE_PATHNAME', 'rtsync_graphql_parse';
REVOKE EXECUTE ON FUNCTION rtsync._graphql_parse(text) FROM PUBLIC;

/*
 * API keys, as AppSync's: the key is shown once, by create_api_key; only its
 * sha256 is stored. A key acts as its role: subscriptions need that role's
 * SELECT privilege. Row-level security lets each role see and manage the
 * keys of roles it is a member of, and nothing else; the worker (superuser)
 * reads them all.
 */
CREATE TABLE rtsync.api_key (
	key_id text PRIMARY KEY,		-- the key's first 12 characters: not secret
	key_hash text NOT NULL UNIQUE,	-- sha256 of the whole key, hex
	description text,
	role name NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	expires_at timestamptz,
	revoked_at timestamptz
);
ALTER TABLE rtsync.api_key ENABLE ROW LEVEL SECURITY;
-- through pg_roles: a key whose role was dropped matches no one (and the
-- policy does not fail with "role does not exist" for everyone else)
CREATE POLICY api_key_member ON rtsync.api_key
	USING (EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname = role
				   AND pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER')))
	WITH CHECK (pg_catalog.pg_has_role(current_user, role, 'MEMBER'));
GRANT SELECT, INSERT (key_id, key_hash, description, role, expires_at),
	UPDATE (revoked_at) ON rtsync.api_key TO PUBLIC;

CREATE VIEW rtsync.api_keys WITH (security_invoker = true) AS
	SELECT key_id, description, role, created_at, expires_at, revoked_at,
		   revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()) AS valid
	FROM rtsync.api_key;
GRANT SELECT ON rtsync.api_keys TO PUBLIC;

/* Tells the worker, in stream order, to reload its cached state. */
CREATE FUNCTION rtsync._notify(what text) RETURNS void
LANGUAGE C STRICT VOLATILE AS 'MODULE_PATHNAME', 'rtsync_notify';

CREATE FUNCTION rtsync.create_api_key(description text DEFAULT NULL,
									  expires_in interval DEFAULT '7 days',
									  role name DEFAULT current_user)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	key text;
BEGIN
	IF create_api_key.role IS NULL OR NOT EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = create_api_key.role) THEN
		RAISE EXCEPTION 'role "%" does not exist', create_api_key.role
			USING ERRCODE = 'undefined_object';
	END IF;
	IF NOT pg_has_role(current_user, create_api_key.role, 'MEMBER') THEN
		RAISE EXCEPTION 'permission denied to create an API key for role "%"', create_api_key.role
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = 'Only members of a role may create keys that act as it.';
	END IF;
	IF expires_in IS NOT NULL AND expires_in <= interval '0' THEN
		RAISE EXCEPTION 'expires_in must be positive'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- 128 random bits (from two random UUIDs, 244 bits) in AppSync's da2- form
	key := 'da2-' || left(encode(sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8')), 'hex'), 32);
	INSERT INTO rtsync.api_key (key_id, key_hash, description, role, expires_at)
	VALUES (left(key, 12), encode(sha256(convert_to(key, 'UTF8')), 'hex'),
			create_api_key.description, create_api_key.role, now() + expires_in);
	PERFORM rtsync._notify('api_keys');
	RETURN key;
END;
$$;

/* Revokes a key, given the key itself or its key_id; live connections close. */
CREATE FUNCTION rtsync.revoke_api_key(key text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE rtsync.api_key k SET revoked_at = now()
	WHERE (k.key_id = revoke_api_key.key
		   OR k.key_hash = encode(sha256(convert_to(revoke_api_key.key, 'UTF8')), 'hex'))
	  AND k.revoked_at IS NULL;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no valid API key matches "%"', left(revoke_api_key.key, 12)
			USING ERRCODE = 'undefined_object',
				  HINT = 'See rtsync.api_keys for the keys you may revoke.';
	END IF;
	PERFORM rtsync._notify('api_keys');
END;
$$;

/* The worker reloads its schema and privileges after DDL that may change them. */
CREATE FUNCTION rtsync._ddl_changed()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM rtsync._notify('ddl');
END;
$$;

CREATE EVENT TRIGGER rtsync_ddl_changed ON ddl_command_end
	WHEN TAG IN ('ALTER TABLE', 'GRANT', 'REVOKE', 'CREATE POLICY', 'ALTER POLICY',
				 'DROP POLICY', 'DROP TABLE', 'DROP SCHEMA', 'DROP OWNED')
	EXECUTE FUNCTION rtsync._ddl_changed();

/* A worker already running learns that the extension is here now. */
SELECT rtsync._notify('installed');

/*
 * The JWT claims that judging a row of tbl under row-level security can
 * read, or NULL when that cannot be told. The worker judges subscribers of
 * one role whose values of these claims agree once, together
 * (bgworker/stream/rls.c).
 *
 * Everything that runs when a role SELECTs the row is followed: the
 * table's SELECT policies, the relations their sublinks read (their own
 * policies, a view's query), the functions and operators they call and
 * the bodies of those not built in. A body kept as text names what it
 * calls only by name, so every function whose name it calls and every
 * relation whose name is a word in it are followed too (more than is
 * called, at worst: harmless). A claim is
 * read as the setting request.jwt.claim.<name>, or as
 * request.jwt.claims' value ->> '<name>' (or -> '<name>'); any other
 * reading of request.jwt.claims, a setting named by an expression, a
 * body in a language other than SQL and PL/pgSQL, or dynamic SQL makes the
 * answer NULL: the worker then groups by every claim.
 */
CREATE FUNCTION rtsync._claims_read(tbl regclass)
RETURNS text[]
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	rels oid[] := ARRAY[tbl::oid];
	funcs oid[] := '{}';
	seen_rels oid[] := '{}';
	seen_funcs oid[] := '{}';
	trees text;			-- node trees read this round: the oids they name
	bodies text;		-- bodies read this round: the names they contain
	texts text := '';	-- everything read: where the claims are read
	f record;
	claims_re constant text :=
		'request\.jwt\.claims''(?:\s*::\s*text)?(?:\s*,\s*(?:true|false))?\s*\)+'
		'\s*::\s*jsonb?\s*\)*\s*->>?\s*''([^'']+)''';
	claim_re constant text := 'request\.jwt\.claim\.([A-Za-z_][A-Za-z0-9_$]*)''';
BEGIN
	LOOP
		trees := '';
		bodies := '';
		-- relations: SELECT policies (when row security is on), a view's query
		SELECT trees || coalesce(string_agg(pol.polqual::text, ' '), ''),
			   texts || ' ' || coalesce(string_agg(pg_get_expr(pol.polqual, pol.polrelid), ' '), '')
		  INTO trees, texts
		  FROM pg_policy pol JOIN pg_class c ON c.oid = pol.polrelid
		 WHERE pol.polrelid = ANY (rels) AND NOT pol.polrelid = ANY (seen_rels)
		   AND c.relrowsecurity AND pol.polcmd IN ('r', '*') AND pol.polqual IS NOT NULL;
		SELECT trees || ' ' || coalesce(string_agg(r.ev_action::text, ' '), ''),
			   texts || ' ' || coalesce(string_agg(pg_get_viewdef(r.ev_class), ' '), '')
		  INTO trees, texts
		  FROM pg_rewrite r
		 WHERE r.ev_class = ANY (rels) AND NOT r.ev_class = ANY (seen_rels) AND r.ev_type = '1';
		seen_rels := seen_rels || rels;

		-- functions: built-in ones read nothing but what their arguments say
		FOR f IN SELECT p.oid, l.lanname, p.prosrc, p.prosqlbody IS NOT NULL AS atomic
				   FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
				  WHERE p.oid = ANY (funcs) AND NOT p.oid = ANY (seen_funcs)
					AND p.pronamespace <> 'pg_catalog'::regnamespace
		LOOP
			IF f.lanname NOT IN ('sql', 'plpgsql') THEN
				RETURN NULL;
			END IF;
			IF f.atomic THEN
				trees := trees || ' ' || (SELECT p.prosqlbody::text FROM pg_proc p WHERE p.oid = f.oid);
				texts := texts || ' ' || pg_get_functiondef(f.oid);
			ELSE
				IF f.lanname = 'plpgsql' AND f.prosrc ~* '\mexecute\M' THEN
					RETURN NULL;
				END IF;
				bodies := bodies || ' ' || lower(f.prosrc);
				texts := texts || ' ' || f.prosrc;
			END IF;
		END LOOP;
		seen_funcs := seen_funcs || funcs;

		-- what this round's trees and bodies lead to
		SELECT coalesce(array_agg(DISTINCT x), '{}') INTO rels FROM (
			SELECT m[1]::oid FROM regexp_matches(trees, ':relid (\d+)', 'g') m
			UNION
			SELECT c.oid FROM pg_class c
			 WHERE bodies <> '' AND c.relnamespace <> 'pg_catalog'::regnamespace
			   AND (c.relrowsecurity OR c.relkind = 'v')
			   AND bodies ~ ('\m' || regexp_replace(lower(c.relname), '(\W)', '\\\1', 'g') || '\M')) s(x)
		 WHERE NOT x = ANY (seen_rels);
		SELECT coalesce(array_agg(DISTINCT x), '{}') INTO funcs FROM (
			SELECT m[1]::oid FROM regexp_matches(trees, ':(?:funcid|opfuncid) (\d+)', 'g') m
			UNION
			SELECT p.oid FROM pg_proc p
			 WHERE bodies <> '' AND p.pronamespace <> 'pg_catalog'::regnamespace
			   AND bodies ~ ('\m' || regexp_replace(lower(p.proname), '(\W)', '\\\1', 'g') || '\s*\(')) s(x)
		 WHERE NOT x = ANY (seen_funcs);
		EXIT WHEN rels = '{}' AND funcs = '{}';
	END LOOP;

	-- every setting read is named by a literal, every claims setting as above
	IF (SELECT count(*) FROM regexp_matches(texts, 'current_setting\s*\(', 'gi'))
	   <> (SELECT count(*) FROM regexp_matches(texts,
			'current_setting\s*\(\s*''[^'']*''\s*(?:::\s*text\s*)?[,)]', 'gi'))
	   OR (SELECT count(*) FROM regexp_matches(texts, 'request\.jwt\.claim\.', 'gi'))
	   <> (SELECT count(*) FROM regexp_matches(texts, claim_re, 'gi'))
	   OR (SELECT count(*) FROM regexp_matches(texts, 'request\.jwt\.claims', 'gi'))
	   <> (SELECT count(*) FROM regexp_matches(texts, claims_re, 'gi')) THEN
		RETURN NULL;
	END IF;
	RETURN (SELECT coalesce(array_agg(DISTINCT n ORDER BY n), '{}') FROM (
		SELECT m[1] FROM regexp_matches(texts, claim_re, 'gi') m
		UNION
		SELECT m[1] FROM regexp_matches(texts, claims_re, 'gi') m) s(n));
END
$$;

REVOKE EXECUTE ON FUNCTION rtsync._claims_read(regclass) FROM PUBLIC;

/*
 * The published tables as the GraphQL schema needs them, for the worker
 * (which has no catalog access of its own; see bgworker/schema.c):
 * [{"relid", "table" ("schema.table", as records' tableName), "type",
 *   "view_type", "columns": [{"name", "type_oid", "is_array", "not_null",
 *   "is_key"}, ...]}, ...], columns in attnum order, live ones only; the key
 * is the primary key (or the replica identity index's columns); type_oid is
 * the base type of a domain and the element type of an array.
 */
CREATE FUNCTION rtsync._schema_description()
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off	-- its cost estimate invites JIT compilation, slower than the query
AS $$
	SELECT coalesce(jsonb_agg(jsonb_build_object(
			'relid', p.relid::oid::int8,
			'table', n.nspname || '.' || c.relname,
			'sql_name', format('%I.%I', n.nspname, c.relname),
			'type', p.type_name,
			'view_type', p.view_type,
			'version_column', p.version_column,
			'retention_s', extract(epoch FROM rtsync._retention(p.relid))::int8,
			'columns', cols.columns) ORDER BY p.type_name), '[]')
	FROM rtsync.published_table p
	JOIN pg_class c ON c.oid = p.relid
	JOIN pg_namespace n ON n.oid = c.relnamespace
	LEFT JOIN LATERAL (
		SELECT i.indkey::int2[] AS attnums
		FROM pg_index i
		WHERE i.indrelid = p.relid AND (i.indisprimary OR i.indisreplident)
		ORDER BY i.indisprimary DESC
		LIMIT 1) k ON true
	CROSS JOIN LATERAL (
		SELECT coalesce(jsonb_agg(jsonb_build_object(
				'name', a.attname,
				'type_oid', t.typ::int8,
				'is_array', t.is_array,
				'not_null', a.attnotnull,
				'is_key', coalesce(a.attnum = ANY (k.attnums), false),
				'has_default', a.atthasdef OR a.attidentity <> '',
				'writable', a.attgenerated = '' AND a.attidentity <> 'a') ORDER BY a.attnum), '[]')
			AS columns
		FROM pg_attribute a
		CROSS JOIN LATERAL (
			-- through domains to their base type, and from an array to its element's
			WITH RECURSIVE r(typ, is_array, depth) AS (
				SELECT a.atttypid, false, 0
				UNION ALL
				SELECT CASE WHEN ty.typtype = 'd' THEN ty.typbasetype ELSE ty.typelem END,
					   r.is_array OR ty.typtype <> 'd', r.depth + 1
				FROM r JOIN pg_type ty ON ty.oid = r.typ
				WHERE ty.typtype = 'd'
				   OR (NOT r.is_array AND ty.typelem <> 0
					   AND ty.typsubscript = 'array_subscript_handler'::regproc))
			SELECT typ, is_array FROM r ORDER BY depth DESC LIMIT 1) t
		WHERE a.attrelid = p.relid AND a.attnum > 0 AND NOT a.attisdropped) cols
$$;

/*
 * Test hooks over the subscription planner (bgworker/subscription_sql.c):
 * plan a subscription document, deliver a stream record to it, and the
 * index key of a record's column.
 */
/*
 * Which of the images (a JSON array) each identity of the current role may
 * see: (member, ord) for the member-th claims object of claims and the
 * ord-th image that check (a statement of $1, the images, returning
 * ordinals) returns with those claims set. The worker judges changes for
 * many token users of one role in one call (bgworker/stream/rls.c;
 * extension/judge_claims.c). It runs as its caller and sets only what
 * set_config lets anyone set: anyone may call it.
 */
CREATE FUNCTION rtsync._judge_claims(check_sql text, claims text[], images jsonb,
									 OUT member integer, OUT ord bigint)
RETURNS SETOF record
LANGUAGE C VOLATILE STRICT
AS 'MODULE_PATHNAME', 'rtsync_judge_claims';

CREATE FUNCTION rtsync._graphql_plan(document text, variables jsonb DEFAULT NULL,
									 operation_name text DEFAULT NULL)
RETURNS jsonb
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'rtsync_graphql_plan';

CREATE FUNCTION rtsync._graphql_deliver(document text, variables jsonb, record jsonb)
RETURNS json
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'rtsync_graphql_deliver';

CREATE FUNCTION rtsync._graphql_index_key(record jsonb, column_name text)
RETURNS text
LANGUAGE C STABLE STRICT
AS 'MODULE_PATHNAME', 'rtsync_graphql_index_key';

REVOKE EXECUTE ON FUNCTION rtsync._schema_description() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION rtsync._graphql_plan(text, jsonb, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION rtsync._graphql_deliver(text, jsonb, jsonb) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION rtsync._graphql_index_key(jsonb, text) FROM PUBLIC;

/*
 * The GraphQL schema in the schema definition language, as graphql-js's
 * printSchema prints it (bgworker/schema_sdl.c). Security definer: it reads
 * rtsync._schema_description(), which PUBLIC may not call; the schema only
 * names the published tables' columns and types.
 */
CREATE FUNCTION rtsync.schema_sdl()
RETURNS text
LANGUAGE C STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rtsync_schema_sdl';

/*
 * Test hook over introspection (bgworker/schema_sql.c): runs a query whose
 * root fields are __schema, __type and __typename, as the query executor
 * does, and returns {"data": ...} or {"errors": [...]}.
 */
CREATE FUNCTION rtsync._graphql_introspect(document text, variables jsonb DEFAULT NULL)
RETURNS json
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'rtsync_graphql_introspect';

REVOKE EXECUTE ON FUNCTION rtsync._graphql_introspect(text, jsonb) FROM PUBLIC;

/*
 * The server's metrics, as GET /metrics shows them (bgworker/metrics.c): one
 * row per series, named as in Prometheus' format, with its labels (as inside
 * the braces, or NULL), its kind (counter, gauge, histogram) and its value.
 * The values are in shared memory, written by the worker: counters count
 * from the server's start; while the worker is not running (rtsync.port =
 * 0) every value is 0. Like /metrics (and pg_stat_get_* functions),
 * readable by everyone: the function too, as a view calls functions with
 * its caller's privileges.
 */
CREATE FUNCTION rtsync._stats(OUT name text, OUT labels text, OUT kind text,
							  OUT value double precision)
RETURNS SETOF record
LANGUAGE C VOLATILE STRICT
AS 'MODULE_PATHNAME', 'rtsync_stats';

/*
 * The view adds what the worker cannot say about itself, computed by the
 * backend that reads it, when it reads it, so that it is right when the
 * worker is stopped or hung (then GET /metrics does not answer at all):
 *
 *   rtsync_server_heartbeat_age_seconds: seconds since the worker's loop last
 *     turned (rtsync_server_heartbeat_seconds); NULL while no worker runs. A
 *     running worker turns its loop at least once a second, idle or not.
 *   rtsync_replication_slot_active: 1 while a walsender streams the slot
 *     named by rtsync.slot_name (pg_replication_slots.active).
 *   rtsync_replication_slot_lag_bytes: WAL written beyond the slot's
 *     confirmed_flush_lsn (pg_current_wal_lsn() minus it), i.e. what the
 *     worker has not yet confirmed; NULL without the slot or in recovery.
 *
 * and rtsync_replication_streaming is 1 only when the worker says it
 * streams, the slot is active, and the heartbeat is at most 3 s old (three
 * times the idle bound): a stopped or hung worker is not streaming, however
 * it last set its gauge. These rows come after the worker's series.
 */
CREATE VIEW rtsync.stats AS
	WITH worker AS (
		SELECT name, labels, kind, value, ord
		  FROM rtsync._stats() WITH ORDINALITY AS s(name, labels, kind, value, ord)
	),
	heartbeat AS (
		SELECT CASE WHEN value > 0
					THEN greatest(extract(epoch FROM clock_timestamp())::float8 - value, 0)
			   END AS age
		  FROM worker WHERE name = 'rtsync_server_heartbeat_seconds'
	),
	slot AS (
		SELECT coalesce(bool_or(active), false) AS active,
			   CASE WHEN NOT pg_is_in_recovery()
					THEN max(pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn))::float8
			   END AS lag_bytes
		  FROM pg_catalog.pg_replication_slots
		 WHERE slot_name = coalesce(current_setting('rtsync.slot_name', true), 'rtsync')
	)
	SELECT name, labels, kind, value FROM (
		SELECT w.name, w.labels, w.kind,
			   CASE WHEN w.name <> 'rtsync_replication_streaming' THEN w.value
					WHEN w.value = 1 AND slot.active AND heartbeat.age <= 3 THEN 1
					ELSE 0
			   END AS value,
			   w.ord
		  FROM worker w, heartbeat, slot
		UNION ALL
		SELECT 'rtsync_server_heartbeat_age_seconds', NULL, 'gauge', heartbeat.age, 1000001
		  FROM heartbeat
		UNION ALL
		SELECT 'rtsync_replication_slot_active', NULL, 'gauge', slot.active::int, 1000002
		  FROM slot
		UNION ALL
		SELECT 'rtsync_replication_slot_lag_bytes', NULL, 'gauge', slot.lag_bytes, 1000003
		  FROM slot
	) AS rows
	ORDER BY ord;
GRANT SELECT ON rtsync.stats TO PUBLIC;
