
/*
 * The DynamoDB Streams read API, over the kept stream (rtsync.stream_record):
 * list_streams, describe_stream, get_shard_iterator and get_records, with
 * DynamoDB's operations, shapes, limits and exception names. Each published
 * table that keeps records (retention > 0) is one stream of one shard, whose
 * positions are SequenceNumbers.
 *
 * Errors carry a SQLSTATE and begin with the DynamoDB exception name, so a
 * caller can branch on either:
 *   ResourceNotFoundException   RT404  not published, or keeps no records
 *   AccessDeniedException       42501  no SELECT on the table
 *   ValidationException         22023  a malformed argument, iterator or position
 *   TrimmedDataAccessException  RT410  the position is older than what is kept
 *   ExpiredIteratorException    RT440  the iterator is older than 15 minutes
 *   LimitExceededException      RT429  a limit over DynamoDB's maximum
 *
 * A reader sees a record only if its role could SELECT the row as the record
 * shows it: the same rule as delivery to subscribers, enforced by the view
 * rtsync.stream_record itself, so it holds for direct SELECTs too.
 */

CREATE FUNCTION rtsync._stream_error(sqlstate text, exception text, message text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RAISE EXCEPTION USING ERRCODE = sqlstate, MESSAGE = exception || ': ' || message;
END;
$$;

/*
 * The expression of the SELECT policies current_user is subject to on a
 * table, composed as the server composes them (see control/control.c):
 * permissive ones OR-ed, restrictive ones AND-ed, none: false.
 */
CREATE FUNCTION rtsync._row_filter(tbl oid)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN bool_or(pol.polpermissive) IS NOT TRUE THEN 'false'
		   ELSE '(' || string_agg('(' || pg_get_expr(pol.polqual, pol.polrelid) || ')', ' OR ')
						 FILTER (WHERE pol.polpermissive) || ')'
				|| coalesce(' AND ' || string_agg('(' || pg_get_expr(pol.polqual, pol.polrelid) || ')', ' AND ')
									   FILTER (WHERE NOT pol.polpermissive), '') END
	  FROM pg_policy pol
	 WHERE pol.polrelid = tbl AND pol.polcmd IN ('r', '*') AND pol.polqual IS NOT NULL
	   AND (0::oid = ANY (pol.polroles)
			OR EXISTS (SELECT FROM unnest(pol.polroles) pr(oid)
						WHERE pg_has_role(current_user, pr.oid, 'USAGE')))
$$;

/*
 * Whether current_user, subject to a table's row security, may see a
 * record of it: its policies judge the row as the record shows it (the new
 * image of a create or update, the old image of a delete; a delete without
 * one, or a truncate, cannot be judged and is not seen), as a row of the
 * table's type, as stream/rls.c judges changes for subscribers. The check
 * (rtsync._row_filter's policies) is planned once per table and role
 * (extension/stream_visibility.c).
 */
CREATE FUNCTION rtsync._image_visible(tbl oid, record text)
RETURNS boolean
LANGUAGE C STRICT STABLE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'rtsync_image_visible';

/*
 * The kept stream, a record a row (the chunks of rtsync.stream_chunk
 * unnested), for every reader, each table's in stream order. chunk_end is
 * the last SequenceNumber of the record's chunk: a read after a position
 * opens only the chunks that end past it (chunk_end > it), in order
 * (ORDER BY chunk_end, sequence_number is the view's own order, which a
 * query on the view gets without sorting: the order comes from the
 * primary key, sorting only within each chunk). A security barrier: a record is
 * seen only by a role that may SELECT its table (NULL for a dropped
 * table: nothing of it is seen) and, where that role is subject to the
 * table's row security, the row as the record shows it. Both depend on
 * the table alone and are judged once a chunk; the image, once a record.
 */
CREATE VIEW rtsync.stream_record WITH (security_barrier) AS
SELECT c.relid, r.sequence_number, r.created_at, r.record, c.last_sequence_number AS chunk_end
  FROM rtsync.stream_chunk c
 CROSS JOIN LATERAL (SELECT pg_catalog.row_security_active(c.relid) AS judged OFFSET 0) j
 CROSS JOIN LATERAL unnest(c.sequence_numbers, c.created, c.records) r(sequence_number, created_at, record)
 WHERE coalesce(pg_catalog.has_table_privilege(c.relid, 'SELECT'), false)
   AND (NOT j.judged OR rtsync._image_visible(c.relid, r.record))
 ORDER BY c.relid, c.last_sequence_number, r.sequence_number;
GRANT SELECT ON rtsync.stream_record TO PUBLIC;

/* Where reading a table's stream must start: after its newest gap. */
CREATE FUNCTION rtsync._stream_horizon(tbl oid)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- plpgsql, not sql: its plan is kept (a sql function with SET is planned at each call)
	RETURN (SELECT coalesce(max(g.sequence_number), '')
			  FROM rtsync.stream_gap g WHERE g.relid = tbl OR g.relid IS NULL);
END;
$$;

/* The SequenceNumber a record committed from now on is at or after. */
CREATE FUNCTION rtsync._stream_end()
RETURNS text
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT rtsync._sequence_at(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
									ELSE pg_current_wal_insert_lsn() END)
$$;

/* The position just before a SequenceNumber ('' before the first). */
CREATE FUNCTION rtsync._sequence_before(sequence_number text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN sequence_number::numeric = 0 THEN ''
		   ELSE lpad((sequence_number::numeric - 1)::text, 30, '0') END
$$;

/*
 * A published table's stream, if it has one: its label is when it began,
 * when the table was last published anew.
 */
CREATE FUNCTION rtsync._stream_of(tbl oid, OUT relid regclass, OUT view_type text,
								  OUT retention interval, OUT label timestamptz, OUT arn text)
RETURNS SETOF record
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- plpgsql, not sql: its plan is kept (a sql function with SET is planned at each call)
	RETURN QUERY
	SELECT s.*, 'arn:rtsync:postgres:' || current_database() || ':table/' || s.relid::text
				|| '/stream/' || to_char(s.label AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS')
	  FROM (SELECT p.relid, p.view_type, rtsync._retention(p.relid) AS retention,
				   coalesce((SELECT max(g.recorded_at) FROM rtsync.stream_gap g
							  WHERE g.relid = p.relid AND g.reason = 'the table was published'),
							p.published_at) AS label
			  FROM rtsync.published_table p WHERE p.relid = tbl) s
	 WHERE s.retention > '0'::interval;
END;
$$;

/*
 * A stream, for a reader: ResourceNotFoundException when the table is not
 * published or keeps nothing, AccessDeniedException when current_user may
 * not SELECT it.
 */
CREATE FUNCTION rtsync._readable_stream(tbl oid, OUT relid regclass, OUT view_type text,
										OUT retention interval, OUT label timestamptz,
										OUT arn text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	SELECT * INTO relid, view_type, retention, label, arn FROM rtsync._stream_of(tbl);
	IF NOT FOUND THEN
		PERFORM rtsync._stream_error('RT404', 'ResourceNotFoundException',
			format('Requested resource not found: table %s has no stream (%s)', tbl::regclass,
				   CASE WHEN EXISTS (SELECT FROM rtsync.published_table p WHERE p.relid = tbl)
				   THEN 'its retention is 0: nothing is kept' ELSE 'it is not published' END));
	END IF;
	IF NOT has_table_privilege(tbl, 'SELECT') THEN
		PERFORM rtsync._stream_error('42501', 'AccessDeniedException',
			format('role %s may not SELECT table %s', current_user, relid));
	END IF;
END;
$$;

/*
 * Whether reading after a position would skip records: a gap after it, or
 * the first record after it the reader may see is older than the table
 * keeps (trimmed, or due to be).
 */
CREATE FUNCTION rtsync._stream_trimmed(tbl oid, after text, retention interval)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT after < rtsync._stream_horizon(tbl)
		   OR coalesce((SELECT r.created_at < now() - retention FROM rtsync.stream_record r
						 WHERE r.relid = tbl AND r.chunk_end > after AND r.sequence_number > after
						 ORDER BY r.chunk_end, r.sequence_number LIMIT 1), false)
$$;

CREATE FUNCTION rtsync._raise_trimmed(tbl regclass, seq text)
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT rtsync._stream_error('RT410', 'TrimmedDataAccessException',
		format('the stream of %s no longer holds the records after %s: they are past its trim horizon (older than its retention, or across a gap); read from TRIM_HORIZON',
			   tbl, coalesce(nullif(seq, ''), 'its start')))
$$;

/* The key iterators are signed with: only the extension's owner reads it. */
CREATE TABLE rtsync.stream_iterator_key (
	only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
	secret bytea NOT NULL
);
REVOKE ALL ON rtsync.stream_iterator_key FROM PUBLIC;

CREATE FUNCTION rtsync._hmac_sha256(key bytea, message text) RETURNS bytea
LANGUAGE C STRICT IMMUTABLE AS 'MODULE_PATHNAME', 'rtsync_hmac_sha256';
CREATE FUNCTION rtsync._hmac_sha256_matches(key bytea, message text, mac bytea) RETURNS boolean
LANGUAGE C STRICT IMMUTABLE AS 'MODULE_PATHNAME', 'rtsync_hmac_sha256_matches';
CREATE FUNCTION rtsync._random_bytes(n integer) RETURNS bytea
LANGUAGE C STRICT VOLATILE AS 'MODULE_PATHNAME', 'rtsync_random_bytes';
REVOKE EXECUTE ON FUNCTION rtsync._hmac_sha256(bytea, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION rtsync._hmac_sha256_matches(bytea, text, bytea) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION rtsync._random_bytes(integer) FROM PUBLIC;

INSERT INTO rtsync.stream_iterator_key (secret) VALUES (rtsync._random_bytes(32));

CREATE FUNCTION rtsync._base64url(data bytea)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$ SELECT translate(encode(data, 'base64'), E'+/=\n', '-_') $$;

/*
 * A shard iterator: "v1.", the base64url of table:kind:position:issued
 * (milliseconds since 1970), ".", the base64url of its HMAC-SHA256. kind is
 * AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER or TRIM_HORIZON (LATEST is made
 * AT the stream's end when asked for). Anyone may make one: it grants
 * nothing, each read checks its reader's privileges.
 */
CREATE FUNCTION rtsync._iterator_make(tbl oid, kind text, seq text)
RETURNS text
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'v1.' || rtsync._base64url(convert_to(m, 'UTF8')) || '.'
		   || rtsync._base64url(rtsync._hmac_sha256(k.secret, m))
	  FROM (SELECT concat_ws(':', tbl, kind, seq,
							 floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) AS m) p,
		   rtsync.stream_iterator_key k
$$;

/* What an iterator says, once its signature and age are checked. */
CREATE FUNCTION rtsync._iterator_open(iterator text, OUT tbl oid, OUT kind text, OUT seq text)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	part text[] := CASE WHEN length(iterator) <= 2048
					   THEN regexp_match(iterator, '^v1\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{43})$') END;
	message text;
	field text[];
BEGIN
	BEGIN
		message := convert_from(decode(rpad(translate(part[1], '-_', '+/'),
											(length(part[1]) + 3) / 4 * 4, '='), 'base64'), 'UTF8');
		IF NOT rtsync._hmac_sha256_matches((SELECT k.secret FROM rtsync.stream_iterator_key k), message,
										   decode(translate(part[2], '-_', '+/') || '=', 'base64')) THEN
			message := NULL;
		END IF;
	EXCEPTION WHEN invalid_parameter_value OR character_not_in_repertoire OR untranslatable_character THEN
		message := NULL;	-- not base64, or not UTF-8: not ours
	END;
	field := regexp_match(message, '^(\d+):([A-Z_]+):(\d*):(\d+)$');
	IF field IS NULL THEN
		PERFORM rtsync._stream_error('22023', 'ValidationException', 'Invalid ShardIterator');
	END IF;
	IF field[4]::bigint < floor(extract(epoch FROM clock_timestamp()) * 1000) - 15 * 60 * 1000 THEN
		PERFORM rtsync._stream_error('RT440', 'ExpiredIteratorException',
			'Iterator expired: the provided iterator exceeds the maximum age allowed (15 minutes); get a new one with get_shard_iterator');
	END IF;
	tbl := field[1]::oid;
	kind := field[2];
	seq := field[3];
END;
$$;

/*
 * ListStreams: {"Streams": [{StreamArn, TableName, StreamLabel}], and
 * "LastEvaluatedStreamArn" when more follow}, the streams of the tables
 * current_user may SELECT, in StreamArn order, at most "limit" (1-100).
 */
CREATE FUNCTION rtsync.list_streams(table_name regclass DEFAULT NULL, "limit" integer DEFAULT 100,
									exclusive_start_stream_arn text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	streams jsonb;
	more boolean;
BEGIN
	IF "limit" IS NULL OR "limit" NOT BETWEEN 1 AND 100 THEN
		PERFORM rtsync._stream_error('22023', 'ValidationException',
			format('limit must be between 1 and 100, not %s', coalesce("limit"::text, 'NULL')));
	END IF;
	WITH readable AS (
		SELECT s.*
		  FROM rtsync.published_table p, LATERAL rtsync._stream_of(p.relid) s
		 WHERE (list_streams.table_name IS NULL OR p.relid = list_streams.table_name)
		   AND has_table_privilege(p.relid, 'SELECT')
	), page AS (
		SELECT * FROM readable
		 WHERE exclusive_start_stream_arn IS NULL OR arn > exclusive_start_stream_arn
		 ORDER BY arn LIMIT "limit" + 1
	)
	SELECT coalesce(jsonb_agg(jsonb_build_object(
				'StreamArn', arn, 'TableName', relid::text,
				'StreamLabel', to_char(label AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS'))
				ORDER BY arn) FILTER (WHERE n <= "limit"), '[]'),
		   count(*) > "limit"
	  INTO streams, more
	  FROM (SELECT page.*, row_number() OVER (ORDER BY arn) AS n FROM page) x;
	RETURN jsonb_build_object('Streams', streams)
		   || CASE WHEN more THEN jsonb_build_object('LastEvaluatedStreamArn', streams -> -1 ->> 'StreamArn')
			  ELSE '{}' END;
END;
$$;

/*
 * DescribeStream: {"StreamDescription": {...}}, its one shard open (no
 * EndingSequenceNumber) from the oldest record the reader can read, or
 * from the stream's end when it has none.
 */
CREATE FUNCTION rtsync.describe_stream(tbl regclass)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s record;
	first text;
BEGIN
	SELECT * INTO s FROM rtsync._readable_stream(tbl);
	SELECT r.sequence_number INTO first FROM rtsync.stream_record r
	 WHERE r.relid = tbl AND r.chunk_end > rtsync._stream_horizon(tbl)
	   AND r.sequence_number > rtsync._stream_horizon(tbl)
	   AND r.created_at >= now() - s.retention
	 ORDER BY r.chunk_end, r.sequence_number LIMIT 1;
	RETURN jsonb_build_object('StreamDescription', jsonb_build_object(
		'StreamArn', s.arn,
		'StreamLabel', to_char(s.label AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS'),
		'StreamStatus', 'ENABLED',
		'StreamViewType', s.view_type,
		'CreationRequestDateTime', round(extract(epoch FROM s.label), 3),
		'TableName', s.relid::text,
		'KeySchema', (SELECT coalesce(jsonb_agg(jsonb_build_object(
								'AttributeName', a.attname,
								'KeyType', CASE WHEN k.ord = 1 THEN 'HASH' ELSE 'RANGE' END) ORDER BY k.ord), '[]')
						FROM pg_index i, unnest(i.indkey) WITH ORDINALITY k(attnum, ord), pg_attribute a
					   WHERE i.indrelid = tbl AND i.indisprimary
						 AND a.attrelid = tbl AND a.attnum = k.attnum),
		'Shards', jsonb_build_array(jsonb_build_object(
			'ShardId', 'shardId-' || lpad(floor(extract(epoch FROM s.label) * 1000)::bigint::text, 20, '0')
					   || '-' || lpad(to_hex(tbl::oid::bigint), 8, '0'),
			'SequenceNumberRange', jsonb_build_object(
				'StartingSequenceNumber', coalesce(first, rtsync._stream_end())))))
	);
END;
$$;

/*
 * GetShardIterator: TRIM_HORIZON (the oldest record kept), LATEST (after
 * the newest), AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER. A position
 * older than what is kept: TrimmedDataAccessException; malformed or not
 * yet written: ValidationException.
 */
CREATE FUNCTION rtsync.get_shard_iterator(tbl regclass, iterator_type text,
										  sequence_number text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s record;
	at_or_after boolean := iterator_type IN ('AT_SEQUENCE_NUMBER', 'AFTER_SEQUENCE_NUMBER');
BEGIN
	SELECT * INTO s FROM rtsync._readable_stream(tbl);
	IF iterator_type IS NULL OR NOT (at_or_after OR iterator_type IN ('TRIM_HORIZON', 'LATEST')) THEN
		PERFORM rtsync._stream_error('22023', 'ValidationException',
			format('iterator_type %s is none of TRIM_HORIZON, LATEST, AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER',
				   coalesce(quote_literal(iterator_type), 'NULL')));
	END IF;
	IF NOT at_or_after THEN
		IF sequence_number IS NOT NULL THEN
			PERFORM rtsync._stream_error('22023', 'ValidationException',
				format('a sequence_number is given only with AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER, not %s', iterator_type));
		END IF;
		IF iterator_type = 'LATEST' THEN
			RETURN rtsync._iterator_make(tbl, 'AT_SEQUENCE_NUMBER', rtsync._stream_end());
		END IF;
		RETURN rtsync._iterator_make(tbl, 'TRIM_HORIZON', '');
	END IF;
	IF sequence_number IS NULL OR sequence_number !~ '^[0-9]{30}$' THEN
		PERFORM rtsync._stream_error('22023', 'ValidationException',
			format('%s is not a SequenceNumber (30 digits)', coalesce(quote_literal(sequence_number), 'NULL')));
	END IF;
	IF sequence_number > rtsync._stream_end() THEN
		PERFORM rtsync._stream_error('22023', 'ValidationException',
			format('SequenceNumber %s is beyond the end of the stream of %s', sequence_number, tbl));
	END IF;
	IF rtsync._stream_trimmed(tbl, CASE WHEN iterator_type = 'AT_SEQUENCE_NUMBER'
										THEN rtsync._sequence_before(sequence_number)
										ELSE sequence_number END, s.retention) THEN
		PERFORM rtsync._raise_trimmed(tbl, sequence_number);
	END IF;
	RETURN rtsync._iterator_make(tbl, iterator_type, sequence_number);
END;
$$;

/*
 * A kept record (json format, as the worker keeps them) as the plugin
 * writes it in dynamodb format, by the table's column types
 * (../extension/stream_dynamodb.c).
 */
CREATE FUNCTION rtsync._record_dynamodb(tbl oid, record text)
RETURNS text
LANGUAGE C STABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'rtsync_record_dynamodb';

/*
 * GetRecords: {"Records": [...], "NextShardIterator": "..."}, the records
 * after the iterator's position that the reader may see, in stream order,
 * byte for byte as the plugin emits them in the format asked for (json,
 * or dynamodb: values as DynamoDB AttributeValues): at most "limit"
 * (1-1000) and 1 MB of records in that format (always at least one). An
 * empty page is an answer; its next iterator stays where this one was
 * (records still being kept are read next time). The shard never closes:
 * NextShardIterator is never null.
 */
CREATE FUNCTION rtsync.get_records(iterator text, "limit" integer DEFAULT 1000,
								   format text DEFAULT 'json')
RETURNS json
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
-- a page is read in key order from its position: for a reader judged per
-- record, a plan that sorts everything after the position (what a fresh,
-- unanalyzed partition invites) would judge every record to the end
SET enable_bitmapscan = off
SET enable_sort = off
-- which makes every plan look costly: JIT would compile each page's (~100 ms)
SET jit = off
AS $$
DECLARE
	it record;
	s record;
	after text;
	cutoff timestamptz;
	body text;
	n bigint;
	last text;
	first_created timestamptz;
BEGIN
	IF "limit" IS NULL OR "limit" < 1 THEN
		PERFORM rtsync._stream_error('22023', 'ValidationException',
			format('limit must be at least 1, not %s', coalesce("limit"::text, 'NULL')));
	ELSIF "limit" > 1000 THEN
		PERFORM rtsync._stream_error('RT429', 'LimitExceededException',
			format('limit %s exceeds the maximum of 1000 records per call', "limit"));
	END IF;
	IF format IS NULL OR format NOT IN ('json', 'dynamodb') THEN
		PERFORM rtsync._stream_error('22023', 'ValidationException',
			format('format must be json or dynamodb, not %s', coalesce(quote_literal(format), 'NULL')));
	END IF;
	SELECT * INTO it FROM rtsync._iterator_open(iterator);
	SELECT * INTO s FROM rtsync._readable_stream(it.tbl);
	cutoff := now() - s.retention;
	IF it.kind = 'TRIM_HORIZON' THEN
		after := rtsync._stream_horizon(it.tbl);
	ELSE
		after := CASE WHEN it.kind = 'AT_SEQUENCE_NUMBER' THEN rtsync._sequence_before(it.seq)
				 ELSE it.seq END;
		IF after < rtsync._stream_horizon(it.tbl) THEN
			PERFORM rtsync._raise_trimmed(s.relid, it.seq);
		END IF;
	END IF;

	SELECT string_agg(p.record, ',' ORDER BY p.sequence_number), count(*), max(p.sequence_number),
		   (array_agg(p.created_at ORDER BY p.sequence_number))[1]
	  INTO body, n, last, first_created
	  FROM (SELECT w.*, sum(octet_length(w.record)) OVER (ORDER BY w.sequence_number) AS bytes,
				   row_number() OVER (ORDER BY w.sequence_number) AS ord
			  FROM (SELECT r.sequence_number, r.created_at,
						   CASE WHEN get_records.format = 'dynamodb'
								THEN rtsync._record_dynamodb(r.relid, r.record)
								ELSE r.record END AS record
					  FROM rtsync.stream_record r
					 WHERE r.relid = it.tbl AND r.chunk_end > after AND r.sequence_number > after
					   AND r.created_at >= CASE WHEN it.kind = 'TRIM_HORIZON' THEN cutoff
										   ELSE '-infinity' END
					 ORDER BY r.chunk_end, r.sequence_number LIMIT "limit") w) p
	 WHERE p.bytes <= 1048576 OR p.ord = 1;

	IF n > 0 AND it.kind <> 'TRIM_HORIZON' AND first_created < cutoff THEN
		PERFORM rtsync._raise_trimmed(s.relid, it.seq);
	END IF;
	RETURN ('{"Records":[' || coalesce(body, '') || '],"NextShardIterator":'
			|| to_json(CASE WHEN n > 0 THEN rtsync._iterator_make(it.tbl, 'AFTER_SEQUENCE_NUMBER', last)
					   ELSE rtsync._iterator_make(it.tbl, it.kind, it.seq) END)::text
			|| '}')::json;
END;
$$;

/*
 * Resuming a subscription after a SequenceNumber (the worker's catch-up,
 * bgworker/stream/catchup.c), as the subscriber: the position must be one
 * the stream still holds everything after (TrimmedDataAccessException,
 * also when the table keeps nothing) and not beyond its end
 * (ValidationException).
 */
CREATE FUNCTION rtsync._resume_check(tbl oid, after text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s record;
BEGIN
	SELECT * INTO s FROM rtsync._stream_of(tbl);
	IF NOT FOUND THEN
		PERFORM rtsync._stream_error('RT410', 'TrimmedDataAccessException',
			format('table %s keeps no stream records (its retention is 0), so there is nothing to resume from; fetch the data again and subscribe without a position',
				   tbl::regclass));
	END IF;
	IF after !~ '^[0-9]{30}$' THEN
		PERFORM rtsync._stream_error('22023', 'ValidationException',
			format('%s is not a SequenceNumber (30 digits)', quote_literal(after)));
	END IF;
	IF after > rtsync._stream_end() THEN
		PERFORM rtsync._stream_error('22023', 'ValidationException',
			format('SequenceNumber %s is beyond the end of the stream of %s', after, tbl::regclass));
	END IF;
	IF rtsync._stream_trimmed(tbl, after, s.retention) THEN
		PERFORM rtsync._stream_error('RT410', 'TrimmedDataAccessException',
			format('the stream of %s no longer holds every record after %s (older than its retention, or across a gap); fetch the data again and subscribe without a position',
				   tbl::regclass, after));
	END IF;
END;
$$;

/*
 * A page of the catch-up: the records of the tables after a position (and
 * up to through, when given) that the reader may see, the first "limit" in
 * stream order across the tables, and no more than max_bytes of them
 * (always at least one), so a page fits the connection's queue; when the
 * bytes cut the page, a last row of NULLs says so. Each table's are read in
 * key order from the position (as get_records does); a position that a
 * trim or gap has passed meanwhile is refused. The bytes are counted in a
 * loop: window functions over the page cost twice the page's reading.
 */
CREATE FUNCTION rtsync._catchup_page(tbls oid[], after text, through text, "limit" integer,
									 max_bytes bigint)
RETURNS TABLE (relid oid, sequence_number text, record text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET enable_bitmapscan = off
SET enable_sort = off
SET jit = off
AS $$
DECLARE
	bytes bigint := 0;
	n integer := 0;
BEGIN
	IF EXISTS (SELECT FROM unnest(tbls) t(relid) WHERE after < rtsync._stream_horizon(t.relid)) THEN
		PERFORM rtsync._stream_error('RT410', 'TrimmedDataAccessException',
			format('the kept stream no longer holds every record after %s (it was trimmed, or has a gap); fetch the data again and subscribe without a position', after));
	END IF;
	FOR relid, sequence_number, record IN
		SELECT p.relid, p.sequence_number, p.record
		  FROM unnest(tbls) t(relid),
			   LATERAL (SELECT r.relid, r.sequence_number, r.record FROM rtsync.stream_record r
						 WHERE r.relid = t.relid AND r.chunk_end > after AND r.sequence_number > after
						   AND r.sequence_number <= coalesce(through, '999999999999999999999999999999')
						 ORDER BY r.chunk_end, r.sequence_number LIMIT "limit") p
		 ORDER BY p.sequence_number LIMIT "limit"
	LOOP
		bytes := bytes + octet_length(record);
		IF bytes > max_bytes AND n > 0 THEN
			relid := NULL;
			sequence_number := NULL;
			record := NULL;
			RETURN NEXT;
			RETURN;
		END IF;
		n := n + 1;
		RETURN NEXT;
	END LOOP;
END;
$$;
