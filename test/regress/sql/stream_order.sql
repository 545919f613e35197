-- Publishing and unpublishing take effect in stream order; unpublished
-- tables never appear; the tables and all-tables options pick tables.
\pset format unaligned
CREATE TABLE early (id int PRIMARY KEY, v text);
CREATE TABLE other (id int PRIMARY KEY, v text);
CREATE TABLE "Mixed Case" (id int PRIMARY KEY);
SELECT 'init' FROM pg_create_logical_replication_slot('stream_order', 'rtsync');

INSERT INTO early VALUES (1, 'before publish: not streamed');
SELECT rtsync.publish('early', 'NEW_IMAGE');
INSERT INTO early VALUES (2, 'after publish');
INSERT INTO other VALUES (1, 'never published');
-- inside one transaction: changes before the unpublish are streamed, after are not
BEGIN;
INSERT INTO early VALUES (3, 'same transaction, before unpublish');
SELECT rtsync.unpublish('early');
INSERT INTO early VALUES (4, 'same transaction, after unpublish');
COMMIT;
INSERT INTO early VALUES (5, 'after unpublish');
-- a publish that rolls back never happened
BEGIN;
SELECT rtsync.publish('early', 'NEW_IMAGE');
INSERT INTO early VALUES (6, 'publish rolled back');
ROLLBACK;
INSERT INTO early VALUES (7, 'after the rolled back publish');
-- published again: streamed again
SELECT rtsync.publish('early', 'NEW_IMAGE');
INSERT INTO early VALUES (8, 'published again');
INSERT INTO "Mixed Case" VALUES (1);

-- published tables only (the default)
SELECT * FROM peek('stream_order');
-- every table, published or not (CDC use, like wal2json)
SELECT * FROM peek('stream_order', 'all-tables', 'true', 'view-type', 'KEYS_ONLY');
-- exactly the tables named, published or not; quoted names keep their case
SELECT * FROM peek('stream_order', 'tables', 'other, "Mixed Case"', 'view-type', 'KEYS_ONLY');
SELECT * FROM peek('stream_order', 'tables', 'public.early', 'view-type', 'KEYS_ONLY');
SELECT * FROM changes('stream_order', 'tables', 'nosuchschema.early');

-- a slot created after publishing streams the table from its first change
SELECT 'init' FROM pg_create_logical_replication_slot('stream_order_late', 'rtsync');
INSERT INTO early VALUES (9, 'seen by both slots');
SELECT * FROM changes('stream_order_late');
SELECT * FROM changes('stream_order');

-- the extension's own catalogue is never streamed, even with all-tables
SELECT rtsync.publish('other', 'NEW_IMAGE');
SELECT count(*) AS records FROM changes('stream_order', 'all-tables', 'true');

SELECT 'stop' FROM pg_drop_replication_slot('stream_order');
SELECT 'stop' FROM pg_drop_replication_slot('stream_order_late');
SELECT rtsync.unpublish('early');
SELECT rtsync.unpublish('other');
DROP TABLE early, other, "Mixed Case";
