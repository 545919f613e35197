-- Tables and generators for bench/decoder/run.sh.
--
-- Loaded once into a fresh cluster. run.sh then, per workload, creates the
-- replication slots and CALLs the generator; sizes come in as arguments so
-- BENCH_SCALE can shrink them. Sessions run with synchronous_commit = off
-- (set by run.sh through PGOPTIONS): generation speed is not what we measure.
--
-- Every table gets REPLICA IDENTITY FULL here, which is what
-- rtsync.publish() sets for the default NEW_AND_OLD_IMAGES view type. Doing it
-- unconditionally keeps the WAL the same whether or not the rtsync decoders
-- are part of the run, so figures from subset runs stay comparable.

-- (a) 200,000 single-row INSERT transactions.
CREATE TABLE bench_a (
	id         bigint PRIMARY KEY,
	name       text NOT NULL,
	qty        integer NOT NULL,
	price      numeric(12, 2) NOT NULL,
	active     boolean NOT NULL,
	created_at timestamptz NOT NULL,
	attrs      jsonb
);

-- (b) 1,000,000 rows inserted in 100 transactions of 10,000 rows.
CREATE TABLE bench_b (LIKE bench_a INCLUDING ALL);

-- (c) 100,000 UPDATEs of rows carrying ~10 kB of incompressible text.
CREATE TABLE bench_c (
	id         bigint PRIMARY KEY,
	name       text NOT NULL,
	qty        integer NOT NULL,
	price      numeric(12, 2) NOT NULL,
	active     boolean NOT NULL,
	updated_at timestamptz NOT NULL,
	attrs      jsonb,
	body       text NOT NULL
);

-- Not published: run.sh commits a row here after each workload to flush the
-- asynchronously committed WAL before decoding.
CREATE TABLE bench_end_marker (workload text, at timestamptz DEFAULT now());

ALTER TABLE bench_a REPLICA IDENTITY FULL;
ALTER TABLE bench_b REPLICA IDENTITY FULL;
ALTER TABLE bench_c REPLICA IDENTITY FULL;

-- (a): n transactions, one INSERT each.
CREATE PROCEDURE bench_run_a(n integer)
LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1..n LOOP
		INSERT INTO bench_a VALUES (
			i, 'name-' || i, i % 1000, (i % 100000) / 100.0, i % 2 = 0, now(),
			jsonb_build_object('k', i, 'tag', 't' || (i % 10)));
		COMMIT;
	END LOOP;
END $$;

-- (b): txs transactions, each one INSERT ... SELECT of rows_per_tx rows.
CREATE PROCEDURE bench_run_b(txs integer, rows_per_tx integer)
LANGUAGE plpgsql AS $$
DECLARE
	base bigint;
BEGIN
	FOR t IN 0..txs - 1 LOOP
		base := t::bigint * rows_per_tx;
		INSERT INTO bench_b
		SELECT i, 'name-' || i, i % 1000, (i % 100000) / 100.0, i % 2 = 0, now(),
		       jsonb_build_object('k', i, 'tag', 't' || (i % 10))
		FROM generate_series(base + 1, base + rows_per_tx) AS i;
		COMMIT;
	END LOOP;
END $$;

-- (c), before the slots exist: n rows whose body is 320 concatenated md5 hex
-- digests (10,240 characters). Distinct digests leave pglz nothing to match, so
-- the value is stored out of line (TOAST) at full size; run.sh prints
-- avg(pg_column_size(body)) to show it.
CREATE PROCEDURE bench_preload_c(n integer)
LANGUAGE plpgsql AS $$
DECLARE
	batch constant integer := 10000;
BEGIN
	FOR lo IN 1..n BY batch LOOP
		INSERT INTO bench_c
		SELECT i, 'name-' || i, 0, (i % 100000) / 100.0, i % 2 = 0, now(),
		       jsonb_build_object('k', i, 'tag', 't' || (i % 10)),
		       (SELECT string_agg(md5(i || '.' || j), '' ORDER BY j)
		          FROM generate_series(1, 320) AS j)
		FROM generate_series(lo, least(lo + batch - 1, n)) AS i;
		COMMIT;
	END LOOP;
END $$;

-- (c), after the slots exist: UPDATE a small column of every row, rows_per_tx
-- rows per transaction, leaving body unchanged.
CREATE PROCEDURE bench_run_c(n integer, rows_per_tx integer)
LANGUAGE plpgsql AS $$
BEGIN
	FOR lo IN 1..n BY rows_per_tx LOOP
		UPDATE bench_c SET qty = qty + 1, updated_at = now()
		WHERE id BETWEEN lo AND lo + rows_per_tx - 1;
		COMMIT;
	END LOOP;
END $$;
