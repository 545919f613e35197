-- Schema changes between changes: images match the table as it was when
-- each change was made; dropped columns never appear; generated columns do.
\pset format unaligned
SELECT 'init' FROM pg_create_logical_replication_slot('schema_change', 'rtsync');
CREATE TABLE evolving (id int PRIMARY KEY, a text, b int);
SELECT rtsync.publish('evolving');

INSERT INTO evolving VALUES (1, 'one', 10);
ALTER TABLE evolving ADD COLUMN c text DEFAULT 'default c';
INSERT INTO evolving VALUES (2, 'two', 20, 'c two');
UPDATE evolving SET a = 'one, edited' WHERE id = 1;
ALTER TABLE evolving DROP COLUMN b;
INSERT INTO evolving VALUES (3, 'three', 'c three');
ALTER TABLE evolving ALTER COLUMN a TYPE int USING length(a);
INSERT INTO evolving VALUES (4, 4, 'c four');
ALTER TABLE evolving ADD COLUMN twice int GENERATED ALWAYS AS (id * 2) STORED;
INSERT INTO evolving (id, a, c) VALUES (5, 5, 'c five');
ALTER TABLE evolving RENAME COLUMN c TO renamed;
-- one transaction across a schema change
BEGIN;
UPDATE evolving SET renamed = 'before add' WHERE id = 5;
ALTER TABLE evolving ADD COLUMN d boolean;
UPDATE evolving SET d = true WHERE id = 5;
COMMIT;
DELETE FROM evolving WHERE id = 2;

SELECT * FROM changes('schema_change');

SELECT 'stop' FROM pg_drop_replication_slot('schema_change');
SELECT rtsync.unpublish('evolving');
DROP TABLE evolving;
