-- Every listed data type in both formats: plain JSON and DynamoDB AttributeValues.
\pset format unaligned
SET timezone = 'America/New_York';	-- timestamptz is written in UTC whatever this says
SET datestyle = 'SQL, DMY';			-- and dates in ISO 8601 whatever this says
SET intervalstyle = 'iso_8601';	-- other types: their output function, as the session says
SELECT 'init' FROM pg_create_logical_replication_slot('data_types', 'rtsync');

CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN positive_int AS int CHECK (VALUE > 0);
CREATE TABLE all_types (
	id int PRIMARY KEY,
	i2 smallint, i4 int, i8 bigint, o oid,
	f4 real, f8 double precision,
	n numeric, n_wide numeric,
	b boolean,
	t text, vc varchar(10), c char(3), nm name,
	j json, jb jsonb,
	ts timestamp, tstz timestamptz, d date, tm time, tmtz timetz, iv interval,
	by bytea, u uuid,
	ai int[], at text[], a2 int[][], an numeric[], ajb jsonb[],
	e mood, dom positive_int, ip inet, pt point
);
SELECT rtsync.publish('all_types', 'NEW_IMAGE');

INSERT INTO all_types VALUES (
	1,
	-32768, 2147483647, 9223372036854775807, 4294967295,
	1.5, 0.1,
	123.4500, 12345678901234567890.123456789,
	true,
	E'quote " backslash \\ newline \n tab \t bell \x07 unicode é 中 😀', '', 'ab', 'a name',
	E'{ "a" : [1, 2,\n 3],  "s": "x  y\\n" }', '{"b": {"c": null, "d": [true, 1.5, "s"]}, "a": "z"}',
	'2024-02-29 13:14:15.123456', '2024-02-29 13:14:15.5+02', '2024-02-29', '23:59:59.999', '12:00+05', '1 year 2 days 03:04:05',
	'\x00ff10', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
	'{1,NULL,3}', E'{"a","b \\"q\\"",NULL,""}', '{{1,2},{3,4}}', '{1.5,NaN}', ARRAY['{"k": [1]}', '"s"']::jsonb[],
	'happy', 7, '192.168.0.1/24', '(1.5,-2)'
);
-- all NULLs but the key
INSERT INTO all_types (id) VALUES (2);
-- special values: NaN, infinities, extremes, empty arrays, scalar jsonb
INSERT INTO all_types (id, i8, f4, f8, n, n_wide, ts, tstz, d, by, ai, jb, j) VALUES
	(3, -9223372036854775808, 'NaN', '-Infinity', 'NaN', '0.000000000000000000001', 'infinity', '-infinity', 'infinity', '', '{}', '"just a string"', '[]'),
	(4, 0, 'Infinity', 1e308, '-Infinity', '1234567890.12345', '1999-12-31 23:59:59', '1970-01-01 00:00:00+00', '0044-03-15 BC', '\x', '{}', '12.50', 'null'),
	(5, 1, -0.0, 5e-324, '-0.001', '9999999999999999', '2000-01-01', '2000-01-01 00:00:00.000001+00', '2000-01-01', '\x41', '{-1}', 'true', '{"nested": {"deeper": [[]]}}');

SELECT * FROM peek('data_types');
SELECT * FROM changes('data_types', 'format', 'dynamodb');

-- every record is valid JSON whatever the value
INSERT INTO all_types (id, t, j, jb) VALUES (6, repeat(E'\\"\u0001', 3), '"\u00e9"', '{"k\"x": "\ud83d\ude00"}');
SELECT data::jsonb -> 'dynamodb' -> 'NewImage' ->> 't' = repeat(E'\\"\u0001', 3) AS text_round_trips,
	   data::jsonb -> 'dynamodb' -> 'NewImage' -> 'jb'
FROM pg_logical_slot_get_changes('data_types', NULL, NULL);

SELECT 'stop' FROM pg_drop_replication_slot('data_types');
SELECT rtsync.unpublish('all_types');
DROP TABLE all_types;
DROP TYPE mood;
DROP DOMAIN positive_int;
RESET timezone;
RESET datestyle;
RESET intervalstyle;
