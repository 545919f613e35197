-- Plugin options: unknown, duplicate and malformed ones are errors.
\pset format unaligned
SELECT 'init' FROM pg_create_logical_replication_slot('options', 'rtsync');
SELECT data FROM pg_logical_slot_peek_changes('options', NULL, NULL, 'no-such-option', 'x');
SELECT data FROM pg_logical_slot_peek_changes('options', NULL, NULL, 'format', 'xml');
SELECT data FROM pg_logical_slot_peek_changes('options', NULL, NULL, 'format', 'json', 'format', 'dynamodb');
SELECT data FROM pg_logical_slot_peek_changes('options', NULL, NULL, 'view-type', 'ALL');
SELECT data FROM pg_logical_slot_peek_changes('options', NULL, NULL, 'include-timestamp', 'maybe');
SELECT data FROM pg_logical_slot_peek_changes('options', NULL, NULL, 'include-commit', '');
SELECT data FROM pg_logical_slot_peek_changes('options', NULL, NULL, 'all-tables', 'yes please');
SELECT data FROM pg_logical_slot_peek_changes('options', NULL, NULL, 'tables', '');
SELECT data FROM pg_logical_slot_peek_changes('options', NULL, NULL, 'tables', 'a.b.c.d');
SELECT data FROM pg_logical_slot_peek_changes('options', NULL, NULL, 'tables', '"unterminated');
SELECT data FROM pg_logical_slot_peek_changes('options', NULL, NULL, 'tables', 'a,,b');
CREATE TABLE b (id int PRIMARY KEY, v text);
INSERT INTO b VALUES (1, 'not published, but named');
-- all of them, valid, at once; booleans take the usual spellings
SELECT data FROM pg_logical_slot_peek_changes('options', NULL, NULL,
	'format', 'dynamodb', 'view-type', 'new_image', 'tables', 'a, public.b',
	'all-tables', 'off', 'include-timestamp', 'no', 'include-sequence', '0',
	'include-commit', 'on');
SELECT 'stop' FROM pg_drop_replication_slot('options');
DROP TABLE b;
