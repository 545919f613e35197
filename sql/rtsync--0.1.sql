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
	published_at timestamptz NOT NULL DEFAULT now()
) WITH (user_catalog_table = true);

GRANT USAGE ON SCHEMA rtsync TO PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('rtsync.published_table', '');
GRANT SELECT ON rtsync.published_table TO PUBLIC;

CREATE VIEW rtsync.published_tables AS
	SELECT relid AS table_name, view_type, type_name, published_at
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
CREATE FUNCTION rtsync._store_publication(tbl regclass, view_type text, type_name text)
RETURNS boolean
LANGUAGE C CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'rtsync_store_publication';

CREATE FUNCTION rtsync.publish(tbl regclass,
							   view_type text DEFAULT 'NEW_AND_OLD_IMAGES',
							   type_name text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	rel record;
	vt text := upper(publish.view_type);
	tn text := coalesce(publish.type_name, rtsync.default_type_name(publish.tbl));
	other regclass;
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

	IF vt IN ('OLD_IMAGE', 'NEW_AND_OLD_IMAGES') AND rel.relreplident <> 'f' THEN
		EXECUTE format('ALTER TABLE %s REPLICA IDENTITY FULL', publish.tbl);
		RAISE NOTICE 'table % now has REPLICA IDENTITY FULL', publish.tbl
			USING DETAIL = format('View type %s needs the whole old row of every update and delete.', vt);
	END IF;

	PERFORM rtsync._store_publication(publish.tbl, vt, tn);
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
END;
$$;

REVOKE EXECUTE ON FUNCTION rtsync._store_publication(regclass, text, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION rtsync.publish(regclass, text, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION rtsync.unpublish(regclass) FROM PUBLIC;

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
