-- The view rtsync.stats: one row per series of GET /metrics, then the rows
-- only SQL computes (the heartbeat's age, the replication slot's state).
-- These tests run with rtsync.port = 0 (no server): every value the worker
-- writes is 0, its heartbeat has no age, and there is no slot yet.
SELECT name, labels, kind FROM rtsync.stats;
SELECT count(*) AS nonzero FROM rtsync.stats WHERE value <> 0;
SELECT name AS "null" FROM rtsync.stats WHERE value IS NULL;
-- the slot's own state, read when the view is: a slot that no walsender
-- streams is not active, and its lag grows with the WAL written after it
SELECT 'init' FROM pg_create_logical_replication_slot(current_setting('rtsync.slot_name'), 'rtsync');
SELECT name, value FROM rtsync.stats
 WHERE name IN ('rtsync_replication_streaming', 'rtsync_replication_slot_active');
CREATE TEMP TABLE stats_lag AS
	SELECT value FROM rtsync.stats WHERE name = 'rtsync_replication_slot_lag_bytes';
SELECT value >= 0 AS lag_known FROM stats_lag;
CREATE TABLE stats_wal AS SELECT generate_series(1, 1000) AS n;
SELECT s.value > l.value AS lag_grew
  FROM rtsync.stats s, stats_lag l WHERE s.name = 'rtsync_replication_slot_lag_bytes';
DROP TABLE stats_wal;
SELECT pg_drop_replication_slot(current_setting('rtsync.slot_name'));
-- readable by everyone, like /metrics
CREATE ROLE rtsync_stats_reader;
SET ROLE rtsync_stats_reader;
SELECT count(*) AS series, count(value) AS known FROM rtsync.stats;
RESET ROLE;
DROP ROLE rtsync_stats_reader;
