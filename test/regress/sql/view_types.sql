-- Every stream view type: which of Keys, NewImage and OldImage each event has.
\pset format unaligned
SELECT 'init' FROM pg_create_logical_replication_slot('view_types', 'rtsync');

CREATE TABLE vt_keys (id int PRIMARY KEY, v text);
CREATE TABLE vt_new (id int PRIMARY KEY, v text);
CREATE TABLE vt_old (id int PRIMARY KEY, v text);
CREATE TABLE vt_both (id int PRIMARY KEY, v text);
SELECT rtsync.publish('vt_keys', 'KEYS_ONLY');
SELECT rtsync.publish('vt_new', 'NEW_IMAGE');
SELECT rtsync.publish('vt_old', 'OLD_IMAGE');
SELECT rtsync.publish('vt_both', 'NEW_AND_OLD_IMAGES');

INSERT INTO vt_keys VALUES (1, 'a');
UPDATE vt_keys SET v = 'b';
DELETE FROM vt_keys;
INSERT INTO vt_new VALUES (1, 'a');
UPDATE vt_new SET v = 'b';
DELETE FROM vt_new;
INSERT INTO vt_old VALUES (1, 'a');
UPDATE vt_old SET v = 'b';
DELETE FROM vt_old;
INSERT INTO vt_both VALUES (1, 'a');
UPDATE vt_both SET v = 'b';
DELETE FROM vt_both;

SELECT * FROM peek('view_types');

-- the view-type option overrides every table's own
SELECT * FROM changes('view_types', 'view-type', 'KEYS_ONLY');

-- a key change: MODIFY's Keys are the new key; NEW_IMAGE has no old row to show
INSERT INTO vt_new VALUES (1, 'a');
UPDATE vt_new SET id = 2;
INSERT INTO vt_both VALUES (1, 'a');
UPDATE vt_both SET id = 2;
SELECT * FROM changes('view_types');

-- a table whose replica identity was taken back from FULL: old images are
-- not logged any more, so there are none to show (and the decoder warns)
ALTER TABLE vt_both REPLICA IDENTITY DEFAULT;
UPDATE vt_both SET v = 'c';
DELETE FROM vt_both;
SELECT * FROM changes('view_types');

SELECT 'stop' FROM pg_drop_replication_slot('view_types');
SELECT rtsync.unpublish(t) FROM unnest(ARRAY['vt_keys', 'vt_new', 'vt_old', 'vt_both']::regclass[]) t;
DROP TABLE vt_keys, vt_new, vt_old, vt_both;
