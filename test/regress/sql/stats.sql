-- The view rtsync.stats: one row per series of GET /metrics. These tests run
-- with rtsync.port = 0 (no server), where every value is 0.
SELECT name, labels, kind FROM rtsync.stats;
SELECT count(*) AS nonzero FROM rtsync.stats WHERE value <> 0;
-- readable by everyone, like /metrics
CREATE ROLE rtsync_stats_reader;
SET ROLE rtsync_stats_reader;
SELECT count(*) AS series FROM rtsync.stats;
RESET ROLE;
DROP ROLE rtsync_stats_reader;
