-- Stream handlers (sql/handlers.sql), stepped here by hand as the worker
-- steps them (rtsync._handler_step): batches, starting positions, filters,
-- retries, bisection, partial batch failures, the on-failure table, record
-- age, trimming, exactly-once effects, and who may do what. No worker runs:
-- records are kept as the worker keeps them, from a slot of the plugin.
\pset format unaligned

CREATE TABLE hd_items (id int PRIMARY KEY, status text, qty int);
SELECT rtsync.publish('hd_items', retention => '1 hour');
CREATE TABLE hd_filler AS SELECT g FROM generate_series(1, 100) g;	-- WAL past the publication
SELECT 'init' FROM pg_create_logical_replication_slot('hd', 'rtsync');
-- keeps what the slot decoded since the last call, created age ago
CREATE FUNCTION hd_keep(age interval DEFAULT '0') RETURNS bigint LANGUAGE sql AS $$
	SELECT coalesce(rtsync._retain(array_agg((data::json ->> 'tableName')::regclass::oid),
								   array_agg(data::json -> 'dynamodb' ->> 'SequenceNumber'),
								   array_agg(now() - age), array_agg(data)), 0)
	  FROM pg_logical_slot_get_changes('hd', NULL, NULL, 'format', 'json')
$$;
-- steps a handler until it has nothing to do now (bounded); a retry's
-- backoff is skipped, as if its time had come: "step answers" in order
CREATE FUNCTION hd_run(hname text, max_steps int DEFAULT 100) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	answer jsonb;
	answers text[] := '{}';
BEGIN
	FOR i IN 1..max_steps LOOP
		UPDATE rtsync.handler SET retry_at = NULL WHERE name = hname;
		answer := rtsync._handler_step(hname);
		answers := answers || (answer ->> 'next');
		EXIT WHEN answer ->> 'next' = 'idle';
	END LOOP;
	RETURN array_to_string(answers, ' ');
END;
$$;
CREATE FUNCTION hd_state(handler text) RETURNS TABLE (state text, invocations bigint, errors bigint,
	records_in bigint, records_filtered bigint, records_failed bigint, records_on_failure bigint, last_error text)
LANGUAGE sql AS $$
	SELECT state, invocations, errors, records_in, records_filtered, records_failed, records_on_failure,
		   regexp_replace(last_error, '\d{30}', '<SequenceNumber>', 'g')
	  FROM rtsync.handlers WHERE name = handler
$$;

-- an audit trail: every record's event and key, with the batch it came in
CREATE TABLE hd_audit (handler text, event text, id int, batch int);
CREATE SEQUENCE hd_batches;
CREATE FUNCTION hd_audit_fn(event jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
	b int := nextval('hd_batches');
BEGIN
	INSERT INTO hd_audit
	SELECT 'audit', r ->> 'eventName', (r #>> '{dynamodb,Keys,id}')::int, b
	  FROM jsonb_array_elements(event -> 'Records') r;
	RETURN NULL;
END;
$$;

-- who may create a handler
CREATE ROLE hd_owner;
CREATE ROLE hd_other;
GRANT SELECT ON hd_items TO hd_owner;
GRANT INSERT ON hd_audit TO hd_owner;
GRANT USAGE ON SEQUENCE hd_batches TO hd_owner;
SET ROLE hd_other;
SELECT rtsync.create_handler('nope', 'hd_items', 'hd_audit_fn(jsonb)', run_as => 'hd_owner');
SELECT rtsync.create_handler('nope', 'hd_items', 'hd_audit_fn(jsonb)');
RESET ROLE;
SELECT rtsync.create_handler('nope', 'hd_filler', 'hd_audit_fn(jsonb)');
SELECT rtsync.create_handler('nope', 'hd_items', 'hd_keep(interval)');

-- positions: LATEST (the default) gets only what commits after it, TRIM_HORIZON everything kept
INSERT INTO hd_items SELECT g, 'old', g FROM generate_series(1, 5) g;
SELECT hd_keep() AS kept;
SET ROLE hd_owner;
SELECT rtsync.create_handler('audit', 'hd_items', 'hd_audit_fn(jsonb)');
RESET ROLE;
SELECT rtsync.create_handler('from_horizon', 'hd_items', 'hd_audit_fn(jsonb)', starting_position => 'TRIM_HORIZON',
							 batch_size => 2, run_as => 'hd_owner');
-- (the superuser is whichever OS user made the cluster)
SELECT name, table_name, run_as, state, batch_size,
	   CASE WHEN created_by = session_user::regrole THEN 'the superuser' ELSE created_by::text END AS created_by
  FROM rtsync.handlers ORDER BY name;
SET ROLE hd_other;
SELECT count(*) AS other_sees FROM rtsync.handlers;
SELECT rtsync.drop_handler('audit');
RESET ROLE;
INSERT INTO hd_items SELECT g, 'new', g FROM generate_series(6, 255) g;
UPDATE hd_items SET qty = qty + 1 WHERE id = 6;
DELETE FROM hd_items WHERE id = 7;
SELECT hd_keep() AS kept;
SELECT hd_run('audit') AS steps;
-- batches of 100 in stream order, each record once
SELECT count(*) AS records, count(DISTINCT (event, id)) AS distinct_records, min(id), max(id),
	   count(DISTINCT batch) AS batches FROM hd_audit WHERE id > 5 OR event <> 'INSERT';
SELECT event, count(*) FROM hd_audit GROUP BY event ORDER BY event;
SELECT * FROM hd_state('audit');
TRUNCATE hd_audit;
SELECT hd_run('from_horizon', 3) AS steps;
SELECT id, batch - min(batch) OVER () AS batch FROM hd_audit ORDER BY id;
SELECT rtsync.drop_handler('from_horizon');
-- AT_SEQUENCE_NUMBER: from that record on
TRUNCATE hd_audit;
SELECT rtsync.create_handler('at', 'hd_items', 'hd_audit_fn(jsonb)', starting_position => 'AT_SEQUENCE_NUMBER',
	starting_sequence_number => (SELECT sequence_number FROM rtsync.stream_record
								  WHERE relid = 'hd_items'::regclass ORDER BY sequence_number OFFSET 250 LIMIT 1));
SELECT hd_run('at') AS steps;
SELECT event, id FROM hd_audit ORDER BY id;
SELECT rtsync.create_handler('at', 'hd_items', 'hd_audit_fn(jsonb)');
SELECT rtsync.drop_handler('at');
SELECT rtsync.create_handler('bad', 'hd_items', 'hd_audit_fn(jsonb)', starting_position => 'AT_SEQUENCE_NUMBER',
							 starting_sequence_number => '999999999999999999999999999999');
SELECT rtsync.create_handler('bad', 'hd_items', 'hd_audit_fn(jsonb)', starting_position => 'EARLIEST');

-- filters: Lambda's pattern rules
SELECT p AS pattern, rtsync._filter_matches(p::jsonb, '{"eventName": "INSERT", "dynamodb": {"NewImage":
		{"status": "shipped-eu", "qty": 12, "note": null, "tags": ["a", "b"]}}}') AS matches
  FROM unnest(ARRAY[
	'{"eventName": ["INSERT"]}', '{"eventName": ["MODIFY", "REMOVE"]}',
	'{"dynamodb": {"NewImage": {"status": [{"prefix": "shipped"}]}}}',
	'{"dynamodb": {"NewImage": {"status": [{"prefix": "pending"}]}}}',
	'{"dynamodb": {"NewImage": {"status": [{"suffix": "-eu"}]}}}',
	'{"dynamodb": {"NewImage": {"status": [{"equals-ignore-case": "SHIPPED-EU"}]}}}',
	'{"dynamodb": {"NewImage": {"status": [{"anything-but": ["pending", "lost"]}]}}}',
	'{"dynamodb": {"NewImage": {"status": [{"anything-but": "shipped-eu"}]}}}',
	'{"dynamodb": {"NewImage": {"status": [{"anything-but": {"prefix": "ship"}}]}}}',
	'{"dynamodb": {"NewImage": {"qty": [{"numeric": [">", 10, "<=", 12]}]}}}',
	'{"dynamodb": {"NewImage": {"qty": [{"numeric": [">", 12]}]}}}',
	'{"dynamodb": {"NewImage": {"qty": [12]}}}',
	'{"dynamodb": {"NewImage": {"status": [{"exists": true}], "missing": [{"exists": false}]}}}',
	'{"dynamodb": {"NewImage": {"missing": [{"exists": true}]}}}',
	'{"dynamodb": {"NewImage": {"note": [null]}}}',
	'{"dynamodb": {"NewImage": {"missing": [null]}}}',
	'{"dynamodb": {"NewImage": {"tags": ["b"]}}}',
	'{"dynamodb": {"OldImage": {"status": [{"exists": true}]}}}'
  ]) p;
-- a handler with a filter: only records that match reach it; the others are counted
TRUNCATE hd_audit;
SELECT rtsync.create_handler('filtered', 'hd_items', 'hd_audit_fn(jsonb)', starting_position => 'TRIM_HORIZON',
	filter_criteria => '{"Filters": [{"Pattern": "{\"eventName\": [\"MODIFY\", \"REMOVE\"]}"},
									 {"Pattern": {"dynamodb": {"NewImage": {"qty": [{"numeric": ["<", 3]}]}}}}]}');
SELECT hd_run('filtered') AS steps;
SELECT event, id FROM hd_audit ORDER BY event, id;
SELECT * FROM hd_state('filtered');
SELECT rtsync.drop_handler('filtered');
SELECT rtsync.create_handler('bad', 'hd_items', 'hd_audit_fn(jsonb)',
	filter_criteria => '{"Filters": [{"Pattern": "[1]"}]}');
SELECT rtsync.create_handler('bad', 'hd_items', 'hd_audit_fn(jsonb)', filter_criteria => jsonb_build_object('Filters',
	(SELECT jsonb_agg(jsonb_build_object('Pattern', '{"eventName": ["INSERT"]}')) FROM generate_series(1, 6))));

-- exactly once: a failed invocation's effects are rolled back with it
CREATE SEQUENCE hd_tries;
CREATE FUNCTION hd_flaky_fn(event jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO hd_audit SELECT 'flaky', r ->> 'eventName', (r #>> '{dynamodb,Keys,id}')::int, 0
	  FROM jsonb_array_elements(event -> 'Records') r;
	IF nextval('hd_tries') <= 2 THEN
		RAISE EXCEPTION 'try % fails', currval('hd_tries');
	END IF;
	RETURN NULL;
END;
$$;
TRUNCATE hd_audit;
SELECT rtsync.create_handler('flaky', 'hd_items', 'hd_flaky_fn(jsonb)', starting_position => 'TRIM_HORIZON',
							 batch_size => 1000);
SELECT hd_run('flaky') AS steps;
SELECT count(*) AS audited, count(DISTINCT (event, id)) AS distinct_audited FROM hd_audit;
SELECT * FROM hd_state('flaky');
SELECT rtsync.drop_handler('flaky');

-- bisection isolates one poison record in a batch of 100; when its retries
-- run out it goes to the on-failure table with Lambda's failure document
CREATE TABLE hd_failures (failure jsonb, records jsonb);
CREATE FUNCTION hd_poison_fn(event jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO hd_audit SELECT 'poison', r ->> 'eventName', (r #>> '{dynamodb,Keys,id}')::int, 0
	  FROM jsonb_array_elements(event -> 'Records') r;
	IF event @? '$.Records[*].dynamodb.Keys.id ? (@ == 57)' THEN
		RAISE EXCEPTION 'record 57 is poison';
	END IF;
	RETURN NULL;
END;
$$;
TRUNCATE hd_audit;
SELECT rtsync.create_handler('poison', 'hd_items', 'hd_poison_fn(jsonb)', starting_position => 'TRIM_HORIZON',
							 bisect_batch_on_function_error => true, maximum_retry_attempts => 2,
							 on_failure => 'hd_failures');
SELECT hd_run('poison') AS steps;
SELECT count(*) AS audited, count(DISTINCT (event, id)) AS distinct_audited,
	   bool_or(id = 57) AS has_57 FROM hd_audit;
SELECT failure -> 'requestContext' ->> 'condition' AS condition,
	   failure -> 'requestContext' ->> 'approximateInvokeCount' AS invokes,
	   failure -> 'error' ->> 'message' AS error,
	   failure -> 'DDBStreamBatchInfo' ->> 'batchSize' AS batch_size,
	   failure -> 'DDBStreamBatchInfo' ->> 'startSequenceNumber' = records -> 0 -> 'dynamodb' ->> 'SequenceNumber' AS start_matches,
	   records -> 0 -> 'dynamodb' -> 'Keys' AS keys
  FROM hd_failures;
SELECT * FROM hd_state('poison');
SELECT rtsync.drop_handler('poison');

-- partial batch failures: the records before the lowest reported one are
-- done once; the rest is retried from it
CREATE FUNCTION hd_partial_fn(event jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO hd_audit SELECT 'partial', r ->> 'eventName', (r #>> '{dynamodb,Keys,id}')::int, 0
	  FROM jsonb_array_elements(event -> 'Records') r;
	RETURN jsonb_build_object('batchItemFailures',
		(SELECT coalesce(jsonb_agg(jsonb_build_object('itemIdentifier', r #>> '{dynamodb,SequenceNumber}')), '[]')
		   FROM jsonb_array_elements(event -> 'Records') r
		  WHERE (r #>> '{dynamodb,Keys,id}')::int IN (30, 40)));
END;
$$;
TRUNCATE hd_audit;
TRUNCATE hd_failures;
SELECT rtsync.create_handler('partial', 'hd_items', 'hd_partial_fn(jsonb)', starting_position => 'TRIM_HORIZON',
							 report_batch_item_failures => true, maximum_retry_attempts => 1, batch_size => 50,
							 on_failure => 'hd_failures');
SELECT hd_run('partial') AS steps;
SELECT count(*) AS audited, count(DISTINCT (event, id)) AS distinct_audited,
	   count(*) FILTER (WHERE id BETWEEN 30 AND 79 AND event = 'INSERT') AS audited_30_to_79 FROM hd_audit;
SELECT failure -> 'requestContext' ->> 'condition' AS condition, jsonb_array_length(records) AS records,
	   records -> 0 -> 'dynamodb' -> 'Keys' AS first, records -> -1 -> 'dynamodb' -> 'Keys' AS last
  FROM hd_failures;
SELECT rtsync.drop_handler('partial');

-- maximum_record_age: records older than it are discarded, not processed
INSERT INTO hd_items VALUES (1000, 'late', 1);
SELECT hd_keep('2 minutes') AS kept;
TRUNCATE hd_audit;
TRUNCATE hd_failures;
SELECT rtsync.create_handler('aged', 'hd_items', 'hd_audit_fn(jsonb)', starting_position => 'AT_SEQUENCE_NUMBER',
	starting_sequence_number => (SELECT max(sequence_number) FROM rtsync.stream_record WHERE relid = 'hd_items'::regclass),
	maximum_record_age => '1 minute', on_failure => 'hd_failures');
SELECT hd_run('aged') AS steps;
SELECT count(*) AS audited FROM hd_audit;
SELECT failure -> 'requestContext' ->> 'condition' AS condition, records -> 0 -> 'dynamodb' -> 'Keys' AS keys FROM hd_failures;
SELECT rtsync.drop_handler('aged');

-- a handler's function runs as its role, which it cannot leave
CREATE FUNCTION hd_escape_fn(event jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
	RESET ROLE;
	RETURN NULL;
END;
$$;
SELECT rtsync.create_handler('escape', 'hd_items', 'hd_escape_fn(jsonb)', starting_position => 'TRIM_HORIZON',
							 run_as => 'hd_owner', maximum_retry_attempts => 0);
SELECT hd_run('escape', 2) AS steps;
SELECT state, errors, records_failed, last_error FROM rtsync.handlers WHERE name = 'escape';
SELECT rtsync.drop_handler('escape');

-- a handler whose role can no longer read its table says so and waits; granted
-- again, it goes on where it was
SELECT rtsync.create_handler('revoked', 'hd_items', 'hd_audit_fn(jsonb)', run_as => 'hd_owner');
INSERT INTO hd_items VALUES (4001, 'revoked', 1);
SELECT hd_keep() AS kept;
REVOKE SELECT ON hd_items FROM hd_owner;
SELECT rtsync._handler_step('revoked') ->> 'next' AS waits;
SELECT state, attempts, last_error FROM rtsync.handlers WHERE name = 'revoked';
GRANT SELECT ON hd_items TO hd_owner;
SELECT hd_run('revoked') AS steps;
SELECT state, attempts, records_in, (SELECT count(*) FROM hd_audit WHERE id = 4001) AS audited
  FROM rtsync.handlers WHERE name = 'revoked';
SELECT rtsync.drop_handler('revoked');

-- parallelization: lanes by item key, stepped side by side (round robin
-- here); every record once, each key's records in order, keys interleaved
CREATE TABLE hd_lanes_audit (ord bigserial, id int, seq text, qty int);
CREATE FUNCTION hd_lanes_fn(event jsonb) RETURNS void LANGUAGE sql AS $$
	INSERT INTO hd_lanes_audit (id, seq, qty)
	SELECT (r #>> '{dynamodb,Keys,id}')::int, r #>> '{dynamodb,SequenceNumber}', (r #>> '{dynamodb,NewImage,qty}')::int
	  FROM jsonb_array_elements(event -> 'Records') r
$$;
CREATE FUNCTION hd_run_lanes(hname text, lanes int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
	busy boolean;
	steps int := 0;
BEGIN
	LOOP
		busy := false;
		FOR l IN 0 .. lanes - 1 LOOP
			IF rtsync._handler_step(hname, l) ->> 'next' <> 'idle' THEN
				busy := true;
			END IF;
			steps := steps + 1;
		END LOOP;
		EXIT WHEN NOT busy OR steps > 2000;
	END LOOP;
	RETURN steps;
END;
$$;
SELECT rtsync.create_handler('lanes', 'hd_items', 'hd_lanes_fn(jsonb)', parallelization_factor => 10,
							 batch_size => 3);
INSERT INTO hd_items SELECT 5000 + g, 'lane', 0 FROM generate_series(1, 20) g;
UPDATE hd_items SET qty = 1 WHERE id > 5000;
UPDATE hd_items SET qty = 2 WHERE id > 5000;
UPDATE hd_items SET qty = 3 WHERE id > 5000;
UPDATE hd_items SET qty = 4 WHERE id > 5000;
UPDATE hd_items SET qty = 5 WHERE id > 5000;
SELECT hd_keep() AS kept;
SELECT hd_run_lanes('lanes', 10) < 2000 AS all_idle;
SELECT count(*) AS records, count(DISTINCT seq) AS distinct_records FROM hd_lanes_audit;
SELECT count(*) AS keys_out_of_order
  FROM (SELECT id, array_agg(qty ORDER BY ord) AS qtys FROM hd_lanes_audit GROUP BY id) k
 WHERE qtys <> '{0,1,2,3,4,5}';
SELECT count(*) > 0 AS keys_interleaved
  FROM (SELECT seq < lag(seq) OVER (ORDER BY ord) AS back FROM hd_lanes_audit) x WHERE back;
SELECT state, parallelization_factor, jsonb_array_length(lanes) AS lanes, records_in,
	   (SELECT count(*) FROM rtsync.handler WHERE name = 'lanes' AND records_in > 0) AS lanes_used,
	   position = (SELECT min(position) FROM rtsync.handler WHERE name = 'lanes') AS position_is_lowest
  FROM rtsync.handlers WHERE name = 'lanes';
-- caught up, every lane is past the last record, its own or another lane's
SELECT count(DISTINCT position) AS lane_positions,
	   min(position) = (SELECT max(sequence_number) FROM rtsync.stream_record WHERE relid = 'hd_items'::regclass) AS at_the_end
  FROM rtsync.handler WHERE name = 'lanes';
-- each key's records stay in one lane: changing the lanes needs a new position
SELECT rtsync.alter_handler('lanes', parallelization_factor => 2);
SELECT rtsync.alter_handler('lanes', parallelization_factor => 2, starting_position => 'LATEST');
SELECT parallelization_factor, jsonb_array_length(lanes) AS lanes, records_in FROM rtsync.handlers WHERE name = 'lanes';
SELECT rtsync.alter_handler('lanes', batch_size => 7, enabled => false);
SELECT string_agg(batch_size || ' ' || enabled, ', ' ORDER BY lane) FROM rtsync.handler WHERE name = 'lanes';
SELECT rtsync.drop_handler('lanes');
SELECT count(*) AS rows_left FROM rtsync.handler WHERE name = 'lanes';
DROP FUNCTION hd_run_lanes, hd_lanes_fn;
DROP TABLE hd_lanes_audit;

-- the batching window: a partial batch waits for more (up to the window
-- after its first record); a full batch, or one whose first record is older
-- than the window, goes at once
SELECT rtsync.create_handler('windowed', 'hd_items', 'hd_audit_fn(jsonb)', batch_size => 4,
							 maximum_batching_window => '30 s', run_as => 'hd_owner');
INSERT INTO hd_items SELECT 7000 + g, 'batched', g FROM generate_series(1, 3) g;
SELECT hd_keep() AS kept;
SELECT rtsync._handler_step('windowed') ->> 'next' AS three_wait,
	   (rtsync._handler_step('windowed') ->> 'delay_ms')::int BETWEEN 1 AND 30000 AS for_at_most_the_window;
SELECT invocations FROM rtsync.handlers WHERE name = 'windowed';
INSERT INTO hd_items VALUES (7004, 'batched', 4);
SELECT hd_keep() AS kept;
SELECT rtsync._handler_step('windowed') ->> 'next' AS four_go;
SELECT count(*) AS audited, count(DISTINCT batch) AS calls FROM hd_audit WHERE id BETWEEN 7001 AND 7004;
INSERT INTO hd_items VALUES (7005, 'batched', 5);
SELECT hd_keep('1 minute') AS kept;
SELECT rtsync._handler_step('windowed') ->> 'next' AS old_one_goes;
SELECT invocations, records_in FROM rtsync.handlers WHERE name = 'windowed';
SELECT rtsync.drop_handler('windowed');

-- tumbling windows: each batch within one window, the state carried from
-- call to call, a final call per window with the state and no records
CREATE TABLE hd_windows (window_start text, window_end text, total int, records int, calls int, keys text);
CREATE FUNCTION hd_window_fn(event jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
	st jsonb := coalesce(event -> 'state', '{}');
BEGIN
	IF (event ->> 'isFinalInvokeForWindow')::boolean THEN
		INSERT INTO hd_windows
		SELECT event #>> '{window,start}', event #>> '{window,end}', (st ->> 'total')::int,
			   (st ->> 'records')::int, (st ->> 'calls')::int,
			   (SELECT string_agg(k, ',' ORDER BY k) FROM jsonb_object_keys(event) k);
		RETURN NULL;
	END IF;
	RETURN jsonb_build_object('state', jsonb_build_object(
		'total', coalesce((st ->> 'total')::int, 0)
				 + (SELECT coalesce(sum((r #>> '{dynamodb,NewImage,qty}')::int), 0)
					  FROM jsonb_array_elements(event -> 'Records') r),
		'records', coalesce((st ->> 'records')::int, 0) + jsonb_array_length(event -> 'Records'),
		'calls', coalesce((st ->> 'calls')::int, 0) + 1));
END;
$$;
SELECT rtsync.create_handler('windows', 'hd_items', 'hd_window_fn(jsonb)', tumbling_window => '60 s',
							 batch_size => 2);
INSERT INTO hd_items SELECT 6000 + g, 'win', g FROM generate_series(1, 5) g;
SELECT hd_keep('10 minutes') AS kept;
INSERT INTO hd_items SELECT 6100 + g, 'win', 10 * g FROM generate_series(1, 3) g;
SELECT hd_keep('5 minutes') AS kept;
SELECT hd_run('windows') AS steps;
SELECT total, records, calls, window_end::timestamptz - window_start::timestamptz AS size,
	   extract(epoch FROM window_start::timestamptz)::bigint % 60 AS aligned, keys
  FROM hd_windows ORDER BY window_start;
SELECT state, invocations, records_in, (SELECT window_start FROM rtsync.handler WHERE name = 'windows') AS open_window,
	   last_error
  FROM rtsync.handlers WHERE name = 'windows';
SELECT rtsync.drop_handler('windows');
DROP FUNCTION hd_window_fn;
DROP TABLE hd_windows;

-- a position out of retention stops the handler, and says so
SELECT rtsync.create_handler('trimmed', 'hd_items', 'hd_audit_fn(jsonb)', starting_position => 'TRIM_HORIZON');
UPDATE rtsync.handler SET position = '' WHERE name = 'trimmed';
INSERT INTO rtsync.stream_gap (relid, sequence_number, recorded_at, reason)
SELECT 'hd_items'::regclass, max(sequence_number), now(), 'the slot was recreated'
  FROM rtsync.stream_record WHERE relid = 'hd_items'::regclass;
SELECT hd_run('trimmed') AS steps;
SELECT * FROM hd_state('trimmed');
SELECT rtsync.alter_handler('trimmed', starting_position => 'LATEST');
SELECT state FROM rtsync.handlers WHERE name = 'trimmed';
SELECT rtsync.drop_handler('trimmed');
SELECT rtsync.drop_handler('nope');

SELECT 'stop' FROM pg_drop_replication_slot('hd');
SELECT rtsync.unpublish('hd_items');
DROP TABLE hd_items, hd_filler, hd_audit, hd_failures;
DROP FUNCTION hd_audit_fn, hd_flaky_fn, hd_poison_fn, hd_partial_fn, hd_escape_fn;
DROP SEQUENCE hd_batches, hd_tries;
DROP ROLE hd_owner, hd_other;
