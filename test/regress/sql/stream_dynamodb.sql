-- get_records(..., format => 'dynamodb'): the kept records (json format, as
-- the worker keeps them) rewritten byte for byte as the plugin writes them
-- in dynamodb format, checked against the plugin's own output for the same
-- changes: every data type, special values, a key change, old images,
-- omitted TOAST columns, a truncate, and a column dropped since.
\pset format unaligned
SET timezone = 'America/New_York';
SET datestyle = 'SQL, DMY';
SET intervalstyle = 'iso_8601';

CREATE TYPE ddb_mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN ddb_positive AS int CHECK (VALUE > 0);
CREATE TABLE ddb_types (
	id int PRIMARY KEY,
	i2 smallint, i4 int, i8 bigint, o oid,
	f4 real, f8 double precision,
	n numeric, n_wide numeric,
	b boolean,
	t text, vc varchar(10), c char(3), nm name,
	j json, jb jsonb,
	ts timestamp, tstz timestamptz, d date, tm time, tmtz timetz, iv interval,
	by bytea, u uuid,
	ai int[], at text[], a2 int[][], an numeric[], ajb jsonb[], aby bytea[], ats timestamptz[],
	e ddb_mood, dom ddb_positive, ip inet, pt point, "odd ""name"" é" text
);
SELECT rtsync.publish('ddb_types', retention => '1 hour');
CREATE TABLE ddb_docs (id int PRIMARY KEY, rev int, body text);
ALTER TABLE ddb_docs ALTER body SET STORAGE EXTERNAL;
SELECT rtsync.publish('ddb_docs', 'NEW_IMAGE', retention => '1 hour');
SELECT 'init' FROM pg_create_logical_replication_slot('sr_ddb', 'rtsync');

INSERT INTO ddb_types VALUES (
	1,
	-32768, 2147483647, 9223372036854775807, 4294967295,
	1.5, 0.1,
	123.4500, 12345678901234567890.123456789,
	true,
	E'quote " backslash \\ newline \n tab \t bell \x07 unicode é 中 😀', '', 'ab', 'a name',
	E'{ "a" : [1, 2,\n 3],  "s": "x  y\\n", "a": "dup" }', '{"b": {"c": null, "d": [true, 1.5, "s"]}, "a": "z"}',
	'2024-02-29 13:14:15.123456', '2024-02-29 13:14:15.5+02', '2024-02-29', '23:59:59.999', '12:00+05', '1 year 2 days 03:04:05',
	'\x00ff10', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
	'{1,NULL,3}', E'{"a","b \\"q\\"",NULL,""}', '{{1,2},{3,4}}', '{1.5,NaN,12345678901234567890.5}', ARRAY['{"k": [1]}', '"s"']::jsonb[],
	ARRAY['\x01'::bytea, NULL], ARRAY['2024-01-01 00:00:00+00'::timestamptz, 'infinity'],
	'happy', 7, '192.168.0.1/24', '(1.5,-2)', E'odd \u0001'
);
INSERT INTO ddb_types (id) VALUES (2);
INSERT INTO ddb_types (id, i8, f4, f8, n, n_wide, ts, tstz, d, by, ai, jb, j) VALUES
	(3, -9223372036854775808, 'NaN', '-Infinity', 'NaN', '0.000000000000000000001', 'infinity', '-infinity', 'infinity', '', '{}', '"just a string"', '[]'),
	(4, 0, 'Infinity', 1e308, '-Infinity', '1234567890.12345', '1999-12-31 23:59:59', '1970-01-01 00:00:00+00', '0044-03-15 BC', '\x', '{}', '12.50', 'null'),
	(5, 1, -0.0, 5e-324, '-0.001', '9999999999999999', '2000-01-01', '2000-01-01 00:00:00.000001+00', '2000-01-01', '\x41', '{-1}', 'true', '{"nested": {"deeper": [[]]}}');
UPDATE ddb_types SET id = 10, t = 'moved' WHERE id = 1;
DELETE FROM ddb_types WHERE id = 3;
INSERT INTO ddb_docs VALUES (1, 1, repeat('long body ', 1000));
UPDATE ddb_docs SET rev = 2 WHERE id = 1;
TRUNCATE ddb_docs;

-- the same changes in both formats, straight from the plugin
CREATE TEMP TABLE ddb_plugin AS
SELECT j.data AS json_record, d.data AS dynamodb_record,
	   (j.data::json ->> 'tableName')::regclass AS tbl,
	   j.data::json -> 'dynamodb' ->> 'SequenceNumber' AS seq
  FROM (SELECT data, row_number() OVER () AS o
		  FROM pg_logical_slot_peek_changes('sr_ddb', NULL, NULL, 'format', 'json')) j
  JOIN (SELECT data, row_number() OVER () AS o
		  FROM pg_logical_slot_peek_changes('sr_ddb', NULL, NULL, 'format', 'dynamodb')) d USING (o);
SELECT tbl, count(*) AS records, count(*) FILTER (WHERE json_record <> dynamodb_record) AS formats_differ
  FROM ddb_plugin GROUP BY tbl ORDER BY tbl;
-- kept as the worker keeps them: the json records
SELECT rtsync._retain(array_agg(tbl::oid), array_agg(seq), array_agg(now()), array_agg(json_record))
  FROM ddb_plugin;
-- a column dropped since: its values are written by their JSON shape
ALTER TABLE ddb_docs DROP COLUMN rev;

CREATE FUNCTION ddb_page(tbl regclass, format text) RETURNS TABLE (seq text, record text)
LANGUAGE sql AS $$
	SELECT r -> 'dynamodb' ->> 'SequenceNumber', r::text
	  FROM json_array_elements(rtsync.get_records(rtsync.get_shard_iterator(tbl, 'TRIM_HORIZON'), 1000, format)
							   -> 'Records') r
$$;
SELECT p.tbl, count(*) AS records,
	   count(*) FILTER (WHERE j.record = p.json_record) AS json_identical,
	   count(*) FILTER (WHERE d.record = p.dynamodb_record) AS dynamodb_identical
  FROM ddb_plugin p
  JOIN ddb_page(p.tbl, 'json') j USING (seq)
  JOIN ddb_page(p.tbl, 'dynamodb') d USING (seq)
 GROUP BY p.tbl ORDER BY p.tbl;
-- any that differ, to see how
SELECT p.dynamodb_record AS plugin, d.record AS get_records
  FROM ddb_plugin p JOIN ddb_page(p.tbl, 'dynamodb') d USING (seq)
 WHERE d.record <> p.dynamodb_record;
-- what a dynamodb record looks like (the one whose key moved)
SELECT d.record::jsonb -> 'dynamodb' -> 'OldKeys' AS old_keys,
	   d.record::jsonb -> 'dynamodb' -> 'NewImage' -> 'an' AS numeric_array,
	   d.record::jsonb -> 'dynamodb' -> 'NewImage' -> 'j' AS json_value
  FROM ddb_page('ddb_types', 'dynamodb') d WHERE d.record::jsonb -> 'dynamodb' ? 'OldKeys';
SELECT count(*) FILTER (WHERE d.record::jsonb -> 'dynamodb' ? 'OmittedColumns') AS with_omitted_columns
  FROM ddb_page('ddb_docs', 'dynamodb') d;
\set VERBOSITY terse
SELECT rtsync.get_records(rtsync.get_shard_iterator('ddb_types', 'TRIM_HORIZON'), 1000, 'xml');
\set VERBOSITY default

SELECT 'stop' FROM pg_drop_replication_slot('sr_ddb');
SELECT rtsync.unpublish('ddb_types'), rtsync.unpublish('ddb_docs');
DROP TABLE ddb_types, ddb_docs;
DROP TYPE ddb_mood;
DROP DOMAIN ddb_positive;
