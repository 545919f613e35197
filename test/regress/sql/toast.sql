-- TOAST: an UPDATE that leaves a large out-of-line value unchanged.
\pset format unaligned
SELECT 'init' FROM pg_create_logical_replication_slot('toast', 'rtsync');

-- 128 kB of text stored out of line and uncompressed (STORAGE EXTERNAL), so
-- the WAL of an UPDATE that does not touch it carries only a TOAST pointer
CREATE TABLE docs_full (id int PRIMARY KEY, rev int, body text);
CREATE TABLE docs_keyed (id int PRIMARY KEY, rev int, body text);
ALTER TABLE docs_full ALTER body SET STORAGE EXTERNAL;
ALTER TABLE docs_keyed ALTER body SET STORAGE EXTERNAL;
INSERT INTO docs_full SELECT 1, 1, string_agg(md5(i::text), '') FROM generate_series(1, 4000) i;
INSERT INTO docs_keyed SELECT * FROM docs_full;
SELECT length(body) AS body_length FROM docs_full;

-- REPLICA IDENTITY FULL (set by publish for NEW_AND_OLD_IMAGES): the old row
-- is logged whole, so NewImage is complete
SELECT rtsync.publish('docs_full');
-- NEW_IMAGE keeps REPLICA IDENTITY DEFAULT: the unchanged value is nowhere in
-- the WAL, and the record says which column it left out
SELECT rtsync.publish('docs_keyed', 'NEW_IMAGE');

UPDATE docs_full SET rev = 2;
UPDATE docs_keyed SET rev = 2;

SELECT r->>'tableName' AS table_name,
	   r->'dynamodb'->'NewImage'->'rev' AS new_rev,
	   md5(r->'dynamodb'->'NewImage'->>'body') = (SELECT md5(body) FROM docs_full) AS new_body_complete,
	   r->'dynamodb'->'NewImage' ? 'body' AS new_has_body,
	   md5(r->'dynamodb'->'OldImage'->>'body') = (SELECT md5(body) FROM docs_full) AS old_body_complete,
	   r->'dynamodb'->'OmittedColumns' AS omitted
FROM (SELECT data::jsonb AS r FROM changes('toast') AS data) c;

-- a changed large value is always there, whatever the replica identity
UPDATE docs_keyed SET body = upper(body), rev = 3;
SELECT md5(data::jsonb->'dynamodb'->'NewImage'->>'body') = (SELECT md5(body) FROM docs_keyed) AS changed_body_complete,
	   data::jsonb->'dynamodb' ? 'OmittedColumns' AS has_omitted
FROM changes('toast') AS data;

SELECT 'stop' FROM pg_drop_replication_slot('toast');
SELECT rtsync.unpublish('docs_full');
SELECT rtsync.unpublish('docs_keyed');
DROP TABLE docs_full, docs_keyed;
