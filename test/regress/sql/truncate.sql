-- TRUNCATE of a published table: one TRUNCATE record per published table.
\pset format unaligned
SELECT 'init' FROM pg_create_logical_replication_slot('truncate', 'rtsync');
CREATE TABLE parent (id int PRIMARY KEY);
CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent);
CREATE TABLE unpublished (id int PRIMARY KEY);
SELECT rtsync.publish('parent', 'KEYS_ONLY');
SELECT rtsync.publish('child', 'KEYS_ONLY');
INSERT INTO parent VALUES (1);
INSERT INTO child VALUES (1, 1);
INSERT INTO unpublished VALUES (1);

TRUNCATE parent, unpublished CASCADE;
TRUNCATE child;
BEGIN;
INSERT INTO parent VALUES (2);
TRUNCATE parent RESTART IDENTITY CASCADE;
COMMIT;
SELECT * FROM changes('truncate', 'include-commit', 'on');

SELECT 'stop' FROM pg_drop_replication_slot('truncate');
SELECT rtsync.unpublish('parent');
SELECT rtsync.unpublish('child');
DROP TABLE parent, child, unpublished;
