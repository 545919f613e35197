-- The DynamoDB Streams read API (sql/stream_read.sql) over the kept stream.
-- No worker runs here: records are kept as the worker keeps them
-- (rtsync._retain), shaped as the plugin emits them, at SequenceNumbers of
-- one transaction committed just after the table was published.
\pset format unaligned

CREATE TABLE sr_notes (id int PRIMARY KEY, owner text NOT NULL, body text);
SELECT rtsync.publish('sr_notes', retention => '2 hours');
-- WAL after the publication: those positions are not in the future
CREATE TABLE sr_filler AS SELECT g FROM generate_series(1, 1000) g;

-- SequenceNumber i of the transaction after tbl's publication
CREATE FUNCTION sr_seq(tbl regclass, i bigint) RETURNS text LANGUAGE sql AS $$
	SELECT lpad((substr(g.sequence_number, 1, 20)::numeric + 1)::text, 20, '0') || lpad(i::text, 10, '0')
	  FROM rtsync.stream_gap g WHERE g.relid = tbl AND g.reason = 'the table was published'
$$;
-- a record as the plugin emits it
CREATE FUNCTION sr_record(tbl regclass, seq text, event text, id int, owner text, body text,
						  old_image boolean DEFAULT true) RETURNS text LANGUAGE sql AS $$
	SELECT format('{"eventID":"%s","eventName":"%s","eventVersion":"1.1","eventSource":"rtsync","tableName":"%s","dynamodb":{"ApproximateCreationDateTime":1796248330.600,"Keys":{"id":%s}%s,"SequenceNumber":"%s","SizeBytes":1,"StreamViewType":"NEW_AND_OLD_IMAGES"}}',
				  seq, event, tbl::text, id,
				  CASE WHEN event = 'REMOVE' AND old_image
					   THEN format(',"OldImage":{"id":%s,"owner":%s,"body":%s}', id, to_json(owner), to_json(body))
					   WHEN event <> 'REMOVE'
					   THEN format(',"NewImage":{"id":%s,"owner":%s,"body":%s}', id, to_json(owner), to_json(body))
					   ELSE '' END,
				  seq)
$$;
-- keeps records first..last of tbl, created age before it was published
CREATE FUNCTION sr_keep(tbl regclass, first int, last int, age interval DEFAULT '0', body text DEFAULT 'b')
RETURNS bigint LANGUAGE sql AS $$
	SELECT rtsync._retain(array_agg(tbl::oid), array_agg(sr_seq(tbl, i)),
						  array_agg((SELECT g.recorded_at - age FROM rtsync.stream_gap g WHERE g.relid = tbl)),
						  array_agg(sr_record(tbl, sr_seq(tbl, i), 'INSERT', i, 'alice', body)))
	  FROM generate_series(first, last) i
$$;
-- the ids of a page's records
CREATE FUNCTION sr_ids(page json) RETURNS text LANGUAGE sql AS $$
	SELECT coalesce(string_agg(r #>> '{dynamodb,Keys,id}', ',' ORDER BY o), '')
	  FROM json_array_elements(page -> 'Records') WITH ORDINALITY x(r, o)
$$;
-- what a statement answers, or its error's SQLSTATE and message
CREATE FUNCTION sr_try(statement text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	answer text;
BEGIN
	EXECUTE statement INTO answer;
	RETURN 'ok: ' || left(answer, 60);
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ' ' || regexp_replace(SQLERRM, '\d{30}', '<SequenceNumber>', 'g');
END;
$$;
-- every page from an iterator to the first empty one: "count first..last" each
CREATE FUNCTION sr_pages(iterator text, lim int DEFAULT 1000) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
	page json;
	ids text[];
BEGIN
	LOOP
		page := rtsync.get_records(iterator, lim);
		ids := string_to_array(nullif(sr_ids(page), ''), ',');
		RETURN NEXT coalesce(cardinality(ids), 0) || ' ' || coalesce(ids[1] || '..' || ids[cardinality(ids)], '-')
					|| CASE WHEN page ->> 'NextShardIterator' LIKE 'v1.%' THEN '' ELSE ' NO NEXT ITERATOR' END;
		EXIT WHEN ids IS NULL;
		iterator := page ->> 'NextShardIterator';
	END LOOP;
END;
$$;

-- ten records older than the table keeps, then 2,500 fresh ones
SELECT sr_keep('sr_notes', 1, 10, '3 hours'), sr_keep('sr_notes', 11, 2510);
-- kept again after a crash: once
SELECT sr_keep('sr_notes', 2000, 2510);

-- ListStreams and DescribeStream
SELECT s ->> 'TableName' AS table_name,
	   s ->> 'StreamArn' = 'arn:rtsync:postgres:' || current_database() || ':table/public.sr_notes/stream/'
						   || (s ->> 'StreamLabel') AS arn_ok,
	   s ->> 'StreamLabel' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}$' AS label_ok,
	   l ? 'LastEvaluatedStreamArn' AS more
  FROM rtsync.list_streams('sr_notes') l, jsonb_array_elements(l -> 'Streams') s;
SELECT d #>> '{StreamDescription,StreamStatus}' AS status,
	   d #>> '{StreamDescription,StreamViewType}' AS view_type,
	   d #> '{StreamDescription,KeySchema}' AS key_schema,
	   d #>> '{StreamDescription,Shards,0,SequenceNumberRange,StartingSequenceNumber}' = sr_seq('sr_notes', 11)
		   AS starts_at_oldest_kept,
	   d #> '{StreamDescription,Shards,0,SequenceNumberRange}' ? 'EndingSequenceNumber' AS closed
  FROM rtsync.describe_stream('sr_notes') d;
SELECT sr_try($$SELECT rtsync.list_streams("limit" => 0)$$);

-- TRIM_HORIZON: from the oldest record kept, 1,000 at a time, then an empty page
SELECT * FROM sr_pages(rtsync.get_shard_iterator('sr_notes', 'TRIM_HORIZON'));
-- byte for byte as kept, in stream order
SELECT string_agg(r::text, ',' ORDER BY o) = (SELECT string_agg(k.record, ',' ORDER BY k.sequence_number)
												FROM rtsync.stream_record k
											   WHERE k.relid = 'sr_notes'::regclass AND k.sequence_number
													 BETWEEN sr_seq('sr_notes', 11) AND sr_seq('sr_notes', 30))
	   AS byte_identical
  FROM json_array_elements(rtsync.get_records(rtsync.get_shard_iterator('sr_notes', 'TRIM_HORIZON'), 20) -> 'Records')
	   WITH ORDINALITY x(r, o);
-- AT and AFTER a SequenceNumber
SELECT sr_ids(rtsync.get_records(rtsync.get_shard_iterator('sr_notes', 'AT_SEQUENCE_NUMBER', sr_seq('sr_notes', 500)), 3));
SELECT sr_ids(rtsync.get_records(rtsync.get_shard_iterator('sr_notes', 'AFTER_SEQUENCE_NUMBER', sr_seq('sr_notes', 500)), 3));
SELECT * FROM sr_pages(rtsync.get_shard_iterator('sr_notes', 'AFTER_SEQUENCE_NUMBER', sr_seq('sr_notes', 2505)));

-- an empty page's iterator reads what is kept later; LATEST starts after the newest
CREATE TABLE sr_latest AS
	SELECT rtsync.get_records(rtsync.get_shard_iterator('sr_notes', 'AFTER_SEQUENCE_NUMBER', sr_seq('sr_notes', 2510))) ->> 'NextShardIterator' AS after_last,
		   rtsync.get_shard_iterator('sr_notes', 'LATEST') AS latest;
SELECT sr_ids(rtsync.get_records(latest)) AS latest_before FROM sr_latest;
SELECT rtsync._retain(ARRAY['sr_notes'::regclass::oid], ARRAY[rtsync._stream_end()], ARRAY[now()],
					  ARRAY[sr_record('sr_notes', rtsync._stream_end(), 'MODIFY', 7, 'alice', 'later')]);
SELECT sr_ids(rtsync.get_records(after_last)) AS after_last, sr_ids(rtsync.get_records(latest)) AS latest
  FROM sr_latest;

-- at most 1 MB a page, but always one record
CREATE TABLE sr_big (id int PRIMARY KEY, owner text NOT NULL, body text);
SELECT rtsync.publish('sr_big', retention => '1 day');
SELECT sr_keep('sr_big', 1, 5, '0', repeat('x', 300000)), sr_keep('sr_big', 6, 7, '0', repeat('y', 1100000));
SELECT * FROM sr_pages(rtsync.get_shard_iterator('sr_big', 'TRIM_HORIZON'));

-- limits and malformed arguments
SELECT sr_try($$SELECT rtsync.get_records(rtsync.get_shard_iterator('sr_notes', 'LATEST'), 1001)$$);
SELECT sr_try($$SELECT rtsync.get_records(rtsync.get_shard_iterator('sr_notes', 'LATEST'), 0)$$);
SELECT sr_try($$SELECT rtsync.get_shard_iterator('sr_notes', 'OLDEST')$$);
SELECT sr_try($$SELECT rtsync.get_shard_iterator('sr_notes', 'AT_SEQUENCE_NUMBER')$$);
SELECT sr_try($$SELECT rtsync.get_shard_iterator('sr_notes', 'AFTER_SEQUENCE_NUMBER', '12x')$$);
SELECT sr_try($$SELECT rtsync.get_shard_iterator('sr_notes', 'TRIM_HORIZON', sr_seq('sr_notes', 1))$$);
SELECT sr_try($$SELECT rtsync.get_shard_iterator('sr_notes', 'AT_SEQUENCE_NUMBER', '9' || repeat('0', 29))$$);
SELECT sr_try($$SELECT rtsync.get_shard_iterator('sr_filler', 'LATEST')$$);
SELECT sr_try($$SELECT rtsync.describe_stream('sr_filler')$$);

-- iterators: not ours, altered, or older than 15 minutes
CREATE FUNCTION sr_iterator(message text) RETURNS text LANGUAGE sql AS $$
	SELECT 'v1.' || rtsync._base64url(convert_to(message, 'UTF8')) || '.'
		   || rtsync._base64url(rtsync._hmac_sha256(k.secret, message))
	  FROM rtsync.stream_iterator_key k
$$;
CREATE FUNCTION sr_issued(age interval) RETURNS text LANGUAGE sql AS $$
	SELECT floor(extract(epoch FROM clock_timestamp() - age) * 1000)::bigint::text
$$;
SELECT sr_try($$SELECT rtsync.get_records('garbage')$$);
SELECT sr_try($$SELECT rtsync.get_records(NULL)$$);
SELECT sr_try($$SELECT rtsync.get_records('v1.' || rtsync._base64url(convert_to('sr_notes:TRIM_HORIZON::1', 'UTF8')) || '.' || repeat('A', 43))$$);
-- moved: another position under the signature of the first
SELECT sr_try(format($$SELECT rtsync.get_records(%L)$$,
					 'v1.' || rtsync._base64url(convert_to(concat_ws(':', 'sr_notes'::regclass::oid, 'AFTER_SEQUENCE_NUMBER',
																	  sr_seq('sr_notes', 2000), sr_issued('0')), 'UTF8'))
					 || '.' || split_part(rtsync.get_shard_iterator('sr_notes', 'TRIM_HORIZON'), '.', 3)));
SELECT sr_try(format($$SELECT sr_ids(rtsync.get_records(%L, 2))$$,
					 sr_iterator(concat_ws(':', 'sr_notes'::regclass::oid, 'TRIM_HORIZON', '', sr_issued('14 minutes')))));
SELECT sr_try(format($$SELECT sr_ids(rtsync.get_records(%L, 2))$$,
					 sr_iterator(concat_ws(':', 'sr_notes'::regclass::oid, 'TRIM_HORIZON', '', sr_issued('16 minutes')))));

-- older than the table keeps: trimmed
SELECT sr_try(format($$SELECT rtsync.get_shard_iterator('sr_notes', 'AT_SEQUENCE_NUMBER', %L)$$, sr_seq('sr_notes', 1)));
SELECT sr_try(format($$SELECT rtsync.get_shard_iterator('sr_notes', 'AFTER_SEQUENCE_NUMBER', %L)$$, sr_seq('sr_notes', 9)));
SELECT sr_try(format($$SELECT sr_ids(rtsync.get_records(rtsync.get_shard_iterator('sr_notes', 'AFTER_SEQUENCE_NUMBER', %L), 2))$$,
					 sr_seq('sr_notes', 10)));
-- before the table was published: trimmed
SELECT sr_try(format($$SELECT rtsync.get_shard_iterator('sr_notes', 'AT_SEQUENCE_NUMBER', %L)$$,
					 (SELECT sequence_number FROM rtsync.stream_gap WHERE relid = 'sr_notes'::regclass)));
-- across a gap (a trimmed partition's), also for an iterator got before it
CREATE TABLE sr_before_gap AS
	SELECT rtsync.get_shard_iterator('sr_notes', 'AFTER_SEQUENCE_NUMBER', sr_seq('sr_notes', 50)) AS it;
INSERT INTO rtsync.stream_gap (relid, sequence_number, reason)
	VALUES (NULL, sr_seq('sr_notes', 100), 'records past their retention were trimmed');
SELECT sr_try(format($$SELECT rtsync.get_records(%L)$$, it)) FROM sr_before_gap;
SELECT sr_try(format($$SELECT rtsync.get_shard_iterator('sr_notes', 'AFTER_SEQUENCE_NUMBER', %L)$$, sr_seq('sr_notes', 99)));
SELECT sr_try(format($$SELECT sr_ids(rtsync.get_records(rtsync.get_shard_iterator('sr_notes', 'AFTER_SEQUENCE_NUMBER', %L), 2))$$,
					 sr_seq('sr_notes', 100)));
SELECT sr_ids(rtsync.get_records(rtsync.get_shard_iterator('sr_notes', 'TRIM_HORIZON'), 2)) AS trim_horizon;

-- retention 0 keeps nothing: no stream
SELECT rtsync.publish('sr_big', retention => '0');
SELECT sr_try($$SELECT rtsync.get_shard_iterator('sr_big', 'TRIM_HORIZON')$$);
SELECT jsonb_array_length(rtsync.list_streams('sr_big') -> 'Streams') AS streams;

-- A reader sees what its role could SELECT: privileges and row-level
-- security as for delivery, through get_records and SELECT alike.
CREATE TABLE sr_private (id int PRIMARY KEY, owner text NOT NULL, body text);
SELECT rtsync.publish('sr_private', retention => '1 day');
ALTER TABLE sr_private ENABLE ROW LEVEL SECURITY;
CREATE ROLE sr_alice;
CREATE ROLE sr_bob;
CREATE ROLE sr_nobody;
CREATE ROLE sr_boss BYPASSRLS;
GRANT SELECT ON sr_private TO sr_alice, sr_bob, sr_boss;
-- as Supabase writes them: the token's subject, or the role
CREATE POLICY own ON sr_private FOR SELECT
	USING (owner = coalesce(current_setting('request.jwt.claims', true)::jsonb ->> 'sub', current_user::text));
CREATE POLICY not_secret ON sr_private AS RESTRICTIVE FOR SELECT USING (body <> 'secret');
SELECT rtsync._retain(array_agg('sr_private'::regclass::oid ORDER BY i), array_agg(sr_seq('sr_private', i) ORDER BY i),
					  array_agg(now() ORDER BY i), array_agg(r ORDER BY i))
  FROM (VALUES (1, sr_record('sr_private', sr_seq('sr_private', 1), 'INSERT', 1, 'sr_alice', 'a')),
			   (2, sr_record('sr_private', sr_seq('sr_private', 2), 'INSERT', 2, 'sr_bob', 'b')),
			   (3, sr_record('sr_private', sr_seq('sr_private', 3), 'MODIFY', 1, 'sr_alice', 'secret')),
			   (4, sr_record('sr_private', sr_seq('sr_private', 4), 'MODIFY', 2, 'sr_alice', 'given to alice')),
			   (5, sr_record('sr_private', sr_seq('sr_private', 5), 'REMOVE', 1, 'sr_alice', 'a')),
			   (6, sr_record('sr_private', sr_seq('sr_private', 6), 'REMOVE', 2, 'sr_alice', 'x', false)),
			   (7, replace(sr_record('sr_private', sr_seq('sr_private', 7), 'INSERT', 0, '', ''), '"INSERT"', '"TRUNCATE"')))
	   AS v(i, r);
CREATE FUNCTION sr_seen(who text) RETURNS TABLE (via_get_records text, via_select bigint)
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('SET LOCAL ROLE %I', who);
	via_get_records := (SELECT string_agg(r ->> 'eventName' || ' ' || (r #>> '{dynamodb,Keys,id}'), ', ' ORDER BY o)
						  FROM json_array_elements(rtsync.get_records(rtsync.get_shard_iterator('sr_private', 'TRIM_HORIZON')) -> 'Records')
							   WITH ORDINALITY x(r, o));
	via_select := (SELECT count(*) FROM rtsync.stream_record WHERE relid = 'sr_private'::regclass);
	RESET ROLE;
	RETURN NEXT;
END;
$$;
SELECT * FROM sr_seen('sr_alice');
SELECT * FROM sr_seen('sr_bob');
SELECT * FROM sr_seen('sr_boss');
SELECT * FROM sr_seen(current_user);
-- the check is planned once per table and role and kept for the session:
-- a policy created, a policy dropped and a role granted take effect at once
SELECT * FROM sr_seen('sr_bob');
CREATE POLICY bob_not_b ON sr_private AS RESTRICTIVE FOR SELECT TO sr_bob USING (body <> 'b');
SELECT * FROM sr_seen('sr_bob');
DROP POLICY bob_not_b ON sr_private;
SELECT * FROM sr_seen('sr_bob');
CREATE ROLE sr_auditors;
CREATE POLICY auditors_see_all ON sr_private FOR SELECT TO sr_auditors USING (true);
SELECT * FROM sr_seen('sr_bob');
GRANT sr_auditors TO sr_bob;
SELECT * FROM sr_seen('sr_bob');
REVOKE sr_auditors FROM sr_bob;
SELECT * FROM sr_seen('sr_bob');
DROP POLICY auditors_see_all ON sr_private;
DROP ROLE sr_auditors;
BEGIN;
SELECT set_config('request.jwt.claims', '{"sub": "sr_bob"}', true);
SELECT * FROM sr_seen('sr_alice');
ROLLBACK;
CREATE FUNCTION sr_leak(record text) RETURNS boolean LANGUAGE plpgsql COST 0.0001 AS $$
BEGIN
	RAISE NOTICE 'saw %', record::json #>> '{dynamodb,Keys,id}';
	RETURN true;
END;
$$;
SET ROLE sr_nobody;
SELECT sr_try($$SELECT rtsync.get_shard_iterator('sr_private', 'TRIM_HORIZON')$$);
SELECT count(*) AS nobody_selects FROM rtsync.stream_record WHERE relid = 'sr_private'::regclass;
-- the view is a security barrier: a reader's own cheap function in the WHERE
-- sees only the records the view shows it (none here; bob's own below)
SELECT count(*) AS nobody_leaks FROM rtsync.stream_record
 WHERE sr_leak(record) AND relid = 'sr_private'::regclass;
RESET ROLE;
SET ROLE sr_bob;
SET request.jwt.claims = '{}';	-- defined since the transaction above: '' is no json
SELECT count(*) AS bob_leaks FROM rtsync.stream_record
 WHERE sr_leak(record) AND relid = 'sr_private'::regclass;
RESET request.jwt.claims;
RESET ROLE;
SET ROLE sr_nobody;
SELECT jsonb_array_length(rtsync.list_streams('sr_private') -> 'Streams') AS nobody_lists;
SELECT sr_try($$SELECT count(*) FROM rtsync.stream_iterator_key$$);
SELECT sr_try($$SELECT rtsync._hmac_sha256('k', 'm')$$);
RESET ROLE;

-- kept once: a batch decoded again keeps nothing new, an overlapping one
-- only its new records; a batch past the kept position takes the fast path
CREATE TABLE sr_once (id int PRIMARY KEY, owner text NOT NULL, body text);
SELECT rtsync.publish('sr_once', retention => '1 hour');
SELECT sr_keep('sr_once', 1, 5) AS first_batch, sr_keep('sr_once', 1, 5) AS again,
	   sr_keep('sr_once', 3, 8) AS overlapping, sr_keep('sr_once', 9, 10) AS past_it;
SELECT count(*) AS kept, count(DISTINCT sequence_number) AS distinct_kept
  FROM rtsync.stream_record WHERE relid = 'sr_once'::regclass;
SELECT k.sequence_number = sr_seq('sr_once', 10) AS position_is_the_last_kept FROM rtsync.stream_kept k;
SELECT sr_ids(rtsync.get_records(rtsync.get_shard_iterator('sr_once', 'TRIM_HORIZON')));
SET ROLE sr_alice;
SELECT sr_try($$SELECT count(*) FROM rtsync.stream_kept$$);
RESET ROLE;

-- kept in chunks: a row holds up to 1,000 consecutive records of one table
-- and one hour. A batch of two tables' records, interleaved and crossing an
-- hour, is cut by table, by hour and at 1,000; each table reads back in
-- stream order, pages crossing the chunks, from any position in one
CREATE TABLE sr_chunked_too (id int PRIMARY KEY, owner text NOT NULL, body text);
SELECT rtsync.publish('sr_chunked_too', retention => '1 day');
CREATE TABLE sr_chunked (id int PRIMARY KEY, owner text NOT NULL, body text);
SELECT rtsync.publish('sr_chunked', retention => '1 day');
SELECT rtsync._retain(array_agg(t::oid ORDER BY i), array_agg(sr_seq('sr_chunked', i) ORDER BY i),
					  array_agg(CASE WHEN i <= 3000 THEN now() - interval '1 hour' ELSE now() END ORDER BY i),
					  array_agg(sr_record(t, sr_seq('sr_chunked', i), 'INSERT', i, 'alice', 'b') ORDER BY i)) AS kept
  FROM (SELECT i, CASE WHEN i % 2 = 0 THEN 'sr_chunked' ELSE 'sr_chunked_too' END::regclass AS t
		  FROM generate_series(1, 5000) i) b;
SELECT relid::regclass AS tbl, cardinality(records) AS records,
	   first_sequence_number = sequence_numbers[1]
	   AND last_sequence_number = sequence_numbers[cardinality(sequence_numbers)] AS bounds,
	   (SELECT count(DISTINCT date_bin('1 hour', c, 'epoch')) FROM unnest(created) c) AS hours
  FROM rtsync.stream_chunk WHERE relid IN ('sr_chunked'::regclass, 'sr_chunked_too'::regclass)
 ORDER BY relid::regclass::text, last_sequence_number;
SELECT count(*) AS records, bool_and(ordered) AS in_stream_order
  FROM (SELECT sequence_number > lag(sequence_number, 1, '') OVER () AS ordered
		  FROM rtsync.stream_record WHERE relid = 'sr_chunked'::regclass) r;
SELECT * FROM sr_pages(rtsync.get_shard_iterator('sr_chunked', 'TRIM_HORIZON'));
SELECT sr_ids(rtsync.get_records(rtsync.get_shard_iterator('sr_chunked', 'AFTER_SEQUENCE_NUMBER',
															sr_seq('sr_chunked', 2500)), 3)) AS after_2500;
SELECT sr_ids(rtsync.get_records(rtsync.get_shard_iterator('sr_chunked_too', 'AT_SEQUENCE_NUMBER',
															sr_seq('sr_chunked', 2999)), 3)) AS at_2999;

-- a day of records, as DynamoDB Streams keeps them: 24 hours of records in
-- their hourly partitions, paged through from TRIM_HORIZON in stream order
-- across them; an hour older than the table's retention is not read,
-- although its partition is still there (trimming drops whole partitions)
CREATE TABLE sr_day (id int PRIMARY KEY, owner text NOT NULL, body text);
SELECT rtsync.publish('sr_day', retention => '1 day');
SELECT sum(sr_keep('sr_day', 100 * h + 1, 100 * h + 100,
				   CASE WHEN h = 0 THEN interval '25 hours' ELSE make_interval(hours => 24 - h, mins => 30) END)) AS kept
  FROM generate_series(0, 24) h;
SELECT count(DISTINCT tableoid) AS hourly_partitions FROM rtsync.stream_chunk WHERE relid = 'sr_day'::regclass;
SELECT * FROM sr_pages(rtsync.get_shard_iterator('sr_day', 'TRIM_HORIZON'));
SELECT d #>> '{StreamDescription,Shards,0,SequenceNumberRange,StartingSequenceNumber}' = sr_seq('sr_day', 101)
		   AS starts_at_the_day
  FROM rtsync.describe_stream('sr_day') d;

SELECT rtsync.unpublish('sr_notes'), rtsync.unpublish('sr_big'), rtsync.unpublish('sr_private'), rtsync.unpublish('sr_once'),
	   rtsync.unpublish('sr_day'), rtsync.unpublish('sr_chunked'), rtsync.unpublish('sr_chunked_too');
SELECT sr_try($$SELECT rtsync.describe_stream('sr_notes')$$);
DROP FUNCTION sr_leak(text);
DROP TABLE sr_notes, sr_big, sr_private, sr_filler, sr_latest, sr_before_gap, sr_once, sr_day, sr_chunked, sr_chunked_too;
DROP ROLE sr_alice, sr_bob, sr_nobody, sr_boss;
