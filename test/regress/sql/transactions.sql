-- Transactions: order inside them, rollbacks, savepoints, commit markers,
-- and the SequenceNumber / eventID contract.
\pset format unaligned
SELECT 'init' FROM pg_create_logical_replication_slot('transactions', 'rtsync');
CREATE TABLE ledger (id int PRIMARY KEY, note text);
SELECT rtsync.publish('ledger', 'NEW_IMAGE');

-- several statements, in statement order
BEGIN;
INSERT INTO ledger VALUES (1, 'first');
UPDATE ledger SET note = 'first, edited' WHERE id = 1;
INSERT INTO ledger VALUES (2, 'second'), (3, 'third');
DELETE FROM ledger WHERE id = 1;
COMMIT;
-- rolled back: nothing
BEGIN;
INSERT INTO ledger VALUES (10, 'rolled back');
ROLLBACK;
-- savepoints: what was rolled back to is gone, what was released stays
BEGIN;
INSERT INTO ledger VALUES (4, 'kept');
SAVEPOINT a;
INSERT INTO ledger VALUES (5, 'rolled back to a');
UPDATE ledger SET note = 'also undone' WHERE id = 4;
ROLLBACK TO a;
INSERT INTO ledger VALUES (6, 'after rollback to a');
SAVEPOINT b;
INSERT INTO ledger VALUES (7, 'released');
RELEASE b;
COMMIT;
-- a transaction that fails is rolled back too
INSERT INTO ledger VALUES (8, 'ok'), (2, 'duplicate key');

-- include-commit ends each transaction with a COMMIT record
SELECT * FROM peek('transactions', 'include-commit', 'true');

-- SequenceNumber: 30 digits, strictly increasing in stream order (as plain
-- strings), the commit LSN then the change's index; eventID is derived from it
SELECT count(*) AS records,
	   bool_and(seq ~ '^[0-9]{30}$') AS fixed_width,
	   bool_and(prev IS NULL OR seq > prev) AS increasing,
	   count(DISTINCT seq) = count(*) AS unique_numbers,
	   bool_and(eid ~ '^[0-9A-F]{32}$') AS event_id_hex,
	   count(DISTINCT eid) = count(*) AS unique_ids,
	   bool_and(('x' || left(eid, 16))::bit(64)::bigint = left(seq, 20)::bigint
				 AND ('x' || right(eid, 16))::bit(64)::bigint = right(seq, 10)::bigint) AS event_id_derived,
	   count(DISTINCT left(seq, 20)) AS transactions,
	   bool_and(ts ~ '^[0-9]{10}\.[0-9]{3}$') AS timestamp_epoch_ms,
	   bool_and(abs(ts::numeric - extract(epoch FROM now())) < 3600) AS timestamp_recent
FROM (SELECT r->'dynamodb'->>'SequenceNumber' AS seq,
			 lag(r->'dynamodb'->>'SequenceNumber') OVER (ORDER BY n) AS prev,
			 r->>'eventID' AS eid,
			 (regexp_match(data, '"ApproximateCreationDateTime":([0-9.]+)'))[1] AS ts
	  FROM (SELECT data, data::jsonb AS r, n
			FROM pg_logical_slot_get_changes('transactions', NULL, NULL, 'include-commit', 'true')
				 WITH ORDINALITY AS c(lsn, xid, data, n)) d) s;

SELECT 'stop' FROM pg_drop_replication_slot('transactions');
SELECT rtsync.unpublish('ledger');
DROP TABLE ledger;
