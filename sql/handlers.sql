
/*
 * Stream handlers: Lambda's event source mapping for DynamoDB Streams, as
 * SQL functions on the kept stream. A handler reads its table's kept
 * records in stream order, in batches, and calls a function with
 * {"Records": [...]} as the function's role; the function's effects and the
 * handler's checkpoint commit in one transaction, so each record's effects
 * in the database happen exactly once. The worker drives handlers
 * (bgworker/stream/handlers.c) by calling rtsync._handler_step on
 * connections of their own.
 *
 * Lambda's options, under SQL names, with its defaults and ranges:
 *   batch_size                      100 (1-10,000)
 *   maximum_batching_window         0 (up to 300 s)
 *   starting_position               TRIM_HORIZON | LATEST | AT_SEQUENCE_NUMBER
 *   bisect_batch_on_function_error  false
 *   maximum_retry_attempts          -1 = until the record leaves retention (0-10,000)
 *   maximum_record_age              NULL = -1, until it leaves retention (60 s-604,800 s)
 *   report_batch_item_failures      false (FunctionResponseTypes ReportBatchItemFailures)
 *   filter_criteria                 {"Filters": [{"Pattern": "..."}]}, up to 5
 *   on_failure                      a table with columns failure jsonb, records jsonb
 *   parallelization_factor          1 (1-10): lanes by item key, each in order
 *   tumbling_window                 0 = none (up to 900 s), with state
 */

CREATE TABLE rtsync.handler (
	name text NOT NULL CHECK (name ~ '^[A-Za-z0-9_.-]{1,64}$'),
	-- one row per lane: a record goes to the lane of its item key's hash, so
	-- lanes run side by side and each key's records stay in order
	lane integer NOT NULL DEFAULT 0,
	parallelization_factor integer NOT NULL DEFAULT 1 CHECK (parallelization_factor BETWEEN 1 AND 10),
	relid regclass NOT NULL,
	function regprocedure NOT NULL,
	run_as regrole NOT NULL,
	batch_size integer NOT NULL DEFAULT 100 CHECK (batch_size BETWEEN 1 AND 10000),
	maximum_batching_window interval NOT NULL DEFAULT '0'
		CHECK (maximum_batching_window BETWEEN '0' AND '300 s'),
	tumbling_window interval NOT NULL DEFAULT '0' CHECK (tumbling_window BETWEEN '0' AND '900 s'),
	bisect_batch_on_function_error boolean NOT NULL DEFAULT false,
	maximum_retry_attempts integer NOT NULL DEFAULT -1
		CHECK (maximum_retry_attempts BETWEEN -1 AND 10000),
	maximum_record_age interval
		CHECK (maximum_record_age BETWEEN '60 s' AND '604800 s'),
	report_batch_item_failures boolean NOT NULL DEFAULT false,
	filter_patterns jsonb CHECK (jsonb_typeof(filter_patterns) = 'array'
								 AND jsonb_array_length(filter_patterns) BETWEEN 1 AND 5),
	on_failure regclass,
	format text NOT NULL DEFAULT 'json' CHECK (format IN ('json', 'dynamodb')),
	enabled boolean NOT NULL DEFAULT true,
	-- where it is: the last SequenceNumber done ('' before the first)
	position text COLLATE "C" NOT NULL,
	-- while a failing batch is split: the half being tried ends here
	bisect_through text COLLATE "C",
	attempts integer NOT NULL DEFAULT 0,	-- failed invocations of the batch at position
	-- the tumbling window open (its start) and the state its invocations returned
	window_start timestamptz,
	window_state jsonb,
	retry_at timestamptz,
	state text NOT NULL DEFAULT 'enabled' CHECK (state IN ('enabled', 'retrying', 'failed')),
	last_error text,
	last_error_at timestamptz,
	last_invoked_at timestamptz,
	iterator_age interval,
	invocations bigint NOT NULL DEFAULT 0,
	errors bigint NOT NULL DEFAULT 0,
	records_in bigint NOT NULL DEFAULT 0,
	records_filtered bigint NOT NULL DEFAULT 0,
	records_failed bigint NOT NULL DEFAULT 0,
	records_on_failure bigint NOT NULL DEFAULT 0,
	created_by regrole NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (name, lane),
	CHECK (lane >= 0 AND lane < parallelization_factor)
);
REVOKE ALL ON rtsync.handler FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('rtsync.handler', '');

/*
 * What a role may see of the handlers: those it runs as or created; one row
 * a handler, its lanes summed up (position: the lowest lane's; state: the
 * worst lane's), each lane in lanes.
 */
CREATE VIEW rtsync.handlers AS
	SELECT h.name, h.relid AS table_name, h.function, h.run_as, h.enabled,
		   CASE WHEN NOT h.enabled THEN 'disabled' ELSE l.state END AS state,
		   l.position, l.iterator_age, l.last_error, l.last_error_at, l.last_invoked_at,
		   l.attempts, l.retry_at, l.invocations, l.errors, l.records_in,
		   l.records_filtered, l.records_failed, l.records_on_failure,
		   h.batch_size, h.maximum_batching_window, h.parallelization_factor, h.tumbling_window,
		   h.bisect_batch_on_function_error,
		   h.maximum_retry_attempts, h.maximum_record_age, h.report_batch_item_failures,
		   h.filter_patterns, h.on_failure, h.format, h.created_by, h.created_at, l.lanes
	  FROM rtsync.handler h
	  JOIN LATERAL (
		SELECT CASE WHEN bool_or(x.state = 'failed') THEN 'failed'
					WHEN bool_or(x.state = 'retrying') THEN 'retrying' ELSE 'enabled' END AS state,
			   min(x.position) AS position, max(x.iterator_age) AS iterator_age,
			   (array_agg(x.last_error ORDER BY x.last_error_at DESC NULLS LAST))[1] AS last_error,
			   max(x.last_error_at) AS last_error_at, max(x.last_invoked_at) AS last_invoked_at,
			   max(x.attempts) AS attempts, min(x.retry_at) AS retry_at,
			   sum(x.invocations)::bigint AS invocations, sum(x.errors)::bigint AS errors,
			   sum(x.records_in)::bigint AS records_in,
			   sum(x.records_filtered)::bigint AS records_filtered,
			   sum(x.records_failed)::bigint AS records_failed,
			   sum(x.records_on_failure)::bigint AS records_on_failure,
			   jsonb_agg(jsonb_build_object('lane', x.lane, 'state', x.state, 'position', x.position,
											'attempts', x.attempts, 'last_error', x.last_error)
						 ORDER BY x.lane) AS lanes
		  FROM rtsync.handler x WHERE x.name = h.name) l ON true
	 WHERE h.lane = 0
	   AND (pg_catalog.pg_has_role(current_user, h.run_as, 'MEMBER')
			OR pg_catalog.pg_has_role(current_user, h.created_by, 'MEMBER'));
GRANT SELECT ON rtsync.handlers TO PUBLIC;

/*
 * Calls fn(arg) as role, the way a SECURITY DEFINER function runs: the
 * role cannot be left from inside (SET ROLE is refused there), and an
 * error restores the caller. arg and the answer are text, converted by the
 * function's argument and result types (void: NULL).
 * (../extension/handler_call.c)
 */
CREATE FUNCTION rtsync._call_as(role oid, fn regprocedure, arg text)
RETURNS text
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'rtsync_call_as';
REVOKE EXECUTE ON FUNCTION rtsync._call_as(oid, regprocedure, text) FROM PUBLIC;

/*
 * Whether a record (as jsonb) matches a Lambda/EventBridge filter pattern:
 * every key of the pattern matches; an object goes deeper, an array is a
 * list of rules of which one must match: a value (equals; null matches a
 * JSON null), {"prefix"}, {"suffix"}, {"equals-ignore-case"},
 * {"anything-but": value, list or {"prefix"}}, {"numeric": [op, n, ...]},
 * {"exists": true|false}. A rule on an array value matches when it
 * matches one of its elements.
 */
CREATE FUNCTION rtsync._filter_rule(rule jsonb, v jsonb)
RETURNS boolean
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	op text;
	arg jsonb;
	holds boolean;
BEGIN
	IF jsonb_typeof(rule) = 'object' AND rule ? 'exists' THEN
		RETURN (v IS NOT NULL) = (rule ->> 'exists')::boolean;
	END IF;
	IF v IS NULL THEN
		RETURN false;
	END IF;
	IF jsonb_typeof(v) = 'array' THEN
		RETURN EXISTS (SELECT FROM jsonb_array_elements(v) e WHERE rtsync._filter_rule(rule, e));
	END IF;
	IF jsonb_typeof(rule) <> 'object' THEN
		RETURN v = rule;
	END IF;
	SELECT key, value INTO op, arg FROM jsonb_each(rule) LIMIT 1;
	CASE op
		WHEN 'prefix' THEN
			IF jsonb_typeof(arg) = 'object' AND arg ? 'equals-ignore-case' THEN
				RETURN jsonb_typeof(v) = 'string' AND lower(v #>> '{}') LIKE lower(arg ->> 'equals-ignore-case') || '%';
			END IF;
			RETURN jsonb_typeof(v) = 'string' AND starts_with(v #>> '{}', arg #>> '{}');
		WHEN 'suffix' THEN
			RETURN jsonb_typeof(v) = 'string' AND right(v #>> '{}', length(arg #>> '{}')) = arg #>> '{}';
		WHEN 'equals-ignore-case' THEN
			RETURN jsonb_typeof(v) = 'string' AND lower(v #>> '{}') = lower(arg #>> '{}');
		WHEN 'anything-but' THEN
			IF jsonb_typeof(arg) = 'object' THEN
				RETURN NOT rtsync._filter_rule(arg, v);
			ELSIF jsonb_typeof(arg) = 'array' THEN
				RETURN NOT (arg @> jsonb_build_array(v));
			END IF;
			RETURN v <> arg;
		WHEN 'numeric' THEN
			IF jsonb_typeof(v) <> 'number' THEN
				RETURN false;
			END IF;
			FOR i IN 0 .. jsonb_array_length(arg) / 2 - 1 LOOP
				holds := CASE arg ->> (2 * i)
							 WHEN '=' THEN (v #>> '{}')::numeric = (arg ->> (2 * i + 1))::numeric
							 WHEN '<' THEN (v #>> '{}')::numeric < (arg ->> (2 * i + 1))::numeric
							 WHEN '<=' THEN (v #>> '{}')::numeric <= (arg ->> (2 * i + 1))::numeric
							 WHEN '>' THEN (v #>> '{}')::numeric > (arg ->> (2 * i + 1))::numeric
							 WHEN '>=' THEN (v #>> '{}')::numeric >= (arg ->> (2 * i + 1))::numeric
							 ELSE false END;
				IF NOT holds THEN
					RETURN false;
				END IF;
			END LOOP;
			RETURN true;
		ELSE
			RETURN false;
	END CASE;
END;
$$;

CREATE FUNCTION rtsync._filter_matches(pattern jsonb, doc jsonb)
RETURNS boolean
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT coalesce(bool_and(CASE jsonb_typeof(p.value)
								 WHEN 'object' THEN jsonb_typeof(doc -> p.key) = 'object'
													AND rtsync._filter_matches(p.value, doc -> p.key)
								 ELSE EXISTS (SELECT FROM jsonb_array_elements(p.value) r(rule)
											   WHERE rtsync._filter_rule(r.rule, doc -> p.key)) END), true)
	  FROM jsonb_each(pattern) p
$$;

/* Lambda's FilterCriteria, checked, as the list of its patterns. */
CREATE FUNCTION rtsync._filter_patterns(criteria jsonb)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	patterns jsonb := '[]';
	f jsonb;
	p jsonb;
BEGIN
	IF criteria IS NULL OR criteria = '{}' OR criteria -> 'Filters' = '[]' THEN
		RETURN NULL;
	END IF;
	IF jsonb_typeof(criteria -> 'Filters') IS DISTINCT FROM 'array' THEN
		RAISE EXCEPTION USING ERRCODE = '22023',
			MESSAGE = 'filter_criteria must be {"Filters": [{"Pattern": "..."}]}';
	END IF;
	IF jsonb_array_length(criteria -> 'Filters') > 5 THEN
		RAISE EXCEPTION USING ERRCODE = '22023',
			MESSAGE = format('filter_criteria has %s filters; at most 5 are allowed',
							 jsonb_array_length(criteria -> 'Filters'));
	END IF;
	FOR f IN SELECT * FROM jsonb_array_elements(criteria -> 'Filters') LOOP
		p := CASE jsonb_typeof(f -> 'Pattern') WHEN 'string' THEN (f ->> 'Pattern')::jsonb
			 ELSE f -> 'Pattern' END;
		IF jsonb_typeof(p) IS DISTINCT FROM 'object' THEN
			RAISE EXCEPTION USING ERRCODE = '22023',
				MESSAGE = format('filter pattern %s is not a JSON object', coalesce((f -> 'Pattern')::text, 'NULL'));
		END IF;
		patterns := patterns || jsonb_build_array(p);
	END LOOP;
	RETURN patterns;
END;
$$;

/*
 * The lane of a record among n: by the hash of its item key (Keys, as
 * kept), so one key's records are all in one lane; records without Keys
 * (TRUNCATE) are lane 0's.
 */
CREATE FUNCTION rtsync._record_lane(record text, n integer)
RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
	SELECT coalesce(abs(hashtext(record::json -> 'dynamodb' ->> 'Keys') % n), 0)
$$;

/*
 * A batch of a handler's table's kept records after a position (through a
 * bound, if any), as the handler's role sees them (rtsync.stream_record):
 * called through _call_as. args: relid, after, through, limit, format,
 * lanes, lane (the handler's lanes and this one). Answers
 * {"records": [{"seq", "created", "text"}], "more"}, each record's text as
 * kept (or rewritten in dynamodb format); a lane given none also gets
 * "scanned", the last of the other lanes' records after the position.
 */
CREATE FUNCTION rtsync._handler_batch(args text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET enable_bitmapscan = off
SET enable_sort = off
SET jit = off
AS $$
DECLARE
	a jsonb := args::jsonb;
	tbl oid := (a ->> 'relid')::oid;
	answer text;
	nrecords bigint;
BEGIN
	SELECT '{"records":[' || coalesce(string_agg(
				'{"seq":' || to_json(b.sequence_number)::text || ',"created":'
				|| to_json(b.created_at)::text || ',"text":'
				|| to_json(CASE WHEN a ->> 'format' = 'dynamodb' THEN rtsync._record_dynamodb(tbl, b.record)
								ELSE b.record END)::text || '}', ',' ORDER BY b.sequence_number)
					FILTER (WHERE b.n <= (a ->> 'limit')::int), '')
		   || '],"more":' || (count(*) > (a ->> 'limit')::int)::text || '}', count(*)
	  INTO answer, nrecords
	  FROM (SELECT r.sequence_number, r.created_at, r.record,
				   row_number() OVER (ORDER BY r.chunk_end, r.sequence_number) AS n
			  FROM rtsync.stream_record r
			 WHERE r.relid = tbl AND r.chunk_end > a ->> 'after' AND r.sequence_number > a ->> 'after'
			   AND (a ->> 'through' IS NULL OR r.sequence_number <= a ->> 'through')
			   AND ((a ->> 'lanes')::int = 1
					OR rtsync._record_lane(r.record, (a ->> 'lanes')::int) = (a ->> 'lane')::int)
			 ORDER BY r.chunk_end, r.sequence_number LIMIT (a ->> 'limit')::int + 1) b;
	-- a lane with nothing of its own may still move past the others' records
	IF (a ->> 'lanes')::int > 1 AND nrecords = 0 THEN
		answer := left(answer, -1) || ',"scanned":'
			|| coalesce(to_json((SELECT max(r.sequence_number) FROM rtsync.stream_record r
								  WHERE r.relid = tbl AND r.chunk_end > a ->> 'after'
									AND r.sequence_number > a ->> 'after'))::text, 'null')
			|| '}';
	END IF;
	RETURN answer;
END;
$$;

/* Writes a discarded batch to the handler's on-failure table, as its role. */
CREATE FUNCTION rtsync._handler_discard(args text)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	a jsonb := args::jsonb;
BEGIN
	EXECUTE format('INSERT INTO %s (failure, records) VALUES ($1, $2)', (a ->> 'table')::oid::regclass)
		USING a -> 'failure', a -> 'records';
	RETURN NULL;
END;
$$;

/* Retries wait 100 ms, 200 ms, ... doubling up to a minute. */
CREATE FUNCTION rtsync._handler_backoff(attempts integer)
RETURNS interval
LANGUAGE sql IMMUTABLE
AS $$
	SELECT least(interval '100 ms' * (2 ^ least(greatest(attempts - 1, 0), 20)), interval '1 minute')
$$;

/* A step's answer: step again at a time (now, if it has passed). */
CREATE FUNCTION rtsync._later(at timestamptz)
RETURNS jsonb
LANGUAGE sql VOLATILE
AS $$
	SELECT jsonb_build_object('next', 'later', 'delay_ms',
							  greatest(ceil(extract(epoch FROM at - clock_timestamp()) * 1000), 0))
$$;

/* A lane retries after its attempts' backoff: the answer that says when. */
CREATE FUNCTION rtsync._handler_retry(h rtsync.handler, attempts integer)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	at timestamptz := clock_timestamp() + rtsync._handler_backoff(attempts);
BEGIN
	UPDATE rtsync.handler t SET attempts = _handler_retry.attempts, state = 'retrying', retry_at = at
	 WHERE t.name = h.name AND t.lane = h.lane;
	RETURN rtsync._later(at);
END;
$$;

/* Checks what a handler is given; raises the error its creator should see. */
CREATE FUNCTION rtsync._handler_check(h rtsync.handler)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	p record;
BEGIN
	IF NOT pg_has_role(h.created_by, h.run_as, 'MEMBER') THEN
		RAISE EXCEPTION USING ERRCODE = '42501',
			MESSAGE = format('permission denied to run a handler as role %s', h.run_as),
			DETAIL = format('Only members of role %s may create handlers that run as it.', h.run_as);
	END IF;
	IF NOT EXISTS (SELECT FROM rtsync._stream_of(h.relid)) THEN
		RAISE EXCEPTION USING ERRCODE = 'RT404',
			MESSAGE = format('ResourceNotFoundException: table %s has no kept stream', h.relid),
			HINT = 'Publish it with a retention above 0: handlers read the kept stream.';
	END IF;
	IF NOT has_table_privilege(h.run_as, h.relid, 'SELECT') THEN
		RAISE EXCEPTION USING ERRCODE = '42501',
			MESSAGE = format('role %s may not SELECT table %s', h.run_as, h.relid),
			DETAIL = 'A handler reads only tables its role may read.';
	END IF;
	SELECT pr.pronargs, pr.proargtypes[0] AS argtype, pr.prorettype, pr.proretset, pr.prokind INTO p
	  FROM pg_proc pr WHERE pr.oid = h.function;
	IF p.prokind <> 'f' OR p.pronargs <> 1 OR p.argtype NOT IN ('jsonb'::regtype, 'json'::regtype)
	   OR p.proretset OR p.prorettype NOT IN ('jsonb'::regtype, 'json'::regtype, 'void'::regtype) THEN
		RAISE EXCEPTION USING ERRCODE = '42883',
			MESSAGE = format('function %s cannot be a handler', h.function),
			DETAIL = 'A handler is a function of one jsonb (or json) argument returning jsonb, json or void.';
	END IF;
	IF NOT has_function_privilege(h.run_as, h.function, 'EXECUTE') THEN
		RAISE EXCEPTION USING ERRCODE = '42501',
			MESSAGE = format('role %s may not execute function %s', h.run_as, h.function);
	END IF;
	IF h.on_failure IS NOT NULL THEN
		IF NOT has_table_privilege(h.run_as, h.on_failure, 'INSERT') THEN
			RAISE EXCEPTION USING ERRCODE = '42501',
				MESSAGE = format('role %s may not INSERT into the on-failure table %s', h.run_as, h.on_failure);
		END IF;
		IF (SELECT count(*) FROM pg_attribute
			 WHERE attrelid = h.on_failure AND NOT attisdropped
			   AND ((attname = 'failure' AND atttypid = 'jsonb'::regtype)
					OR (attname = 'records' AND atttypid = 'jsonb'::regtype))) <> 2 THEN
			RAISE EXCEPTION USING ERRCODE = '42804',
				MESSAGE = format('the on-failure table %s needs columns failure jsonb and records jsonb', h.on_failure);
		END IF;
	END IF;
END;
$$;

/* Where a handler starts: just before its first record. */
CREATE FUNCTION rtsync._handler_start(tbl regclass, starting_position text, sequence_number text)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s record;
BEGIN
	SELECT * INTO s FROM rtsync._stream_of(tbl);
	CASE starting_position
		WHEN 'TRIM_HORIZON' THEN
			-- after the newest gap and after whatever is older than the retention
			RETURN greatest(rtsync._stream_horizon(tbl),
							coalesce((SELECT max(r.sequence_number) FROM rtsync.stream_record r
									   WHERE r.relid = tbl AND r.created_at < now() - s.retention), ''));
		WHEN 'LATEST' THEN
			RETURN rtsync._sequence_before(rtsync._stream_end());
		WHEN 'AT_SEQUENCE_NUMBER' THEN
			IF sequence_number IS NULL THEN
				RAISE EXCEPTION USING ERRCODE = '22023',
					MESSAGE = 'ValidationException: AT_SEQUENCE_NUMBER needs a starting_sequence_number';
			END IF;
			IF sequence_number ~ '^[0-9]{30}$' AND sequence_number > rtsync._stream_end() THEN
				PERFORM rtsync._stream_error('22023', 'ValidationException',
					format('SequenceNumber %s is beyond the end of the stream of %s', sequence_number, tbl));
			END IF;
			PERFORM rtsync._resume_check(tbl, rtsync._sequence_before(sequence_number));
			RETURN rtsync._sequence_before(sequence_number);
		ELSE
			RAISE EXCEPTION USING ERRCODE = '22023',
				MESSAGE = format('ValidationException: starting_position must be TRIM_HORIZON, LATEST or AT_SEQUENCE_NUMBER, not %s',
								 coalesce(quote_literal(starting_position), 'NULL'));
	END CASE;
END;
$$;

/*
 * Who called a SECURITY DEFINER function of ours: the role set with SET
 * ROLE, else the session's user.
 */
CREATE FUNCTION rtsync._invoker()
RETURNS regrole
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT oid::regrole FROM pg_roles
	 WHERE rolname = CASE WHEN current_setting('role') = 'none' THEN session_user
						  ELSE current_setting('role') END
$$;

CREATE FUNCTION rtsync.create_handler(
	name text, tbl regclass, function regprocedure,
	batch_size integer DEFAULT 100,
	maximum_batching_window interval DEFAULT '0',
	parallelization_factor integer DEFAULT 1,
	tumbling_window interval DEFAULT '0',
	starting_position text DEFAULT 'LATEST',
	starting_sequence_number text DEFAULT NULL,
	bisect_batch_on_function_error boolean DEFAULT false,
	maximum_retry_attempts integer DEFAULT -1,
	maximum_record_age interval DEFAULT NULL,
	report_batch_item_failures boolean DEFAULT false,
	filter_criteria jsonb DEFAULT NULL,
	on_failure regclass DEFAULT NULL,
	format text DEFAULT 'json',
	run_as regrole DEFAULT current_user::regrole,
	enabled boolean DEFAULT true)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	h rtsync.handler;
	l integer;
BEGIN
	h.name := create_handler.name;
	h.relid := tbl;
	h.function := create_handler.function;
	h.run_as := run_as;
	h.created_by := rtsync._invoker();
	h.batch_size := batch_size;
	h.maximum_batching_window := maximum_batching_window;
	h.parallelization_factor := parallelization_factor;
	h.tumbling_window := tumbling_window;
	h.bisect_batch_on_function_error := bisect_batch_on_function_error;
	h.maximum_retry_attempts := maximum_retry_attempts;
	h.maximum_record_age := maximum_record_age;
	h.report_batch_item_failures := report_batch_item_failures;
	h.filter_patterns := rtsync._filter_patterns(filter_criteria);
	h.on_failure := on_failure;
	h.format := format;
	h.enabled := enabled;
	PERFORM rtsync._handler_check(h);
	h.position := rtsync._handler_start(tbl, starting_position, starting_sequence_number);
	h.attempts := 0;
	h.state := 'enabled';
	h.invocations := 0; h.errors := 0; h.records_in := 0; h.records_filtered := 0;
	h.records_failed := 0; h.records_on_failure := 0;
	h.created_at := now();
	FOR l IN 0 .. coalesce(h.parallelization_factor, 1) - 1 LOOP
		h.lane := l;
		INSERT INTO rtsync.handler SELECT h.*;
	END LOOP;
	PERFORM rtsync._notify('handlers');
EXCEPTION WHEN unique_violation THEN
	RAISE EXCEPTION USING ERRCODE = '42710',
		MESSAGE = format('ResourceConflictException: a handler named %s exists', quote_literal(create_handler.name));
END;
$$;

/* The handler, if current_user may change it (it runs as or created it). */
CREATE FUNCTION rtsync._handler_own(handler_name text)
RETURNS rtsync.handler
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	h rtsync.handler;
	who oid := rtsync._invoker();
BEGIN
	PERFORM FROM rtsync.handler WHERE name = handler_name FOR UPDATE;
	SELECT * INTO h FROM rtsync.handler WHERE name = handler_name AND lane = 0;
	IF NOT FOUND OR NOT (pg_has_role(who, h.run_as, 'MEMBER') OR pg_has_role(who, h.created_by, 'MEMBER')) THEN
		RAISE EXCEPTION USING ERRCODE = 'RT404',
			MESSAGE = format('ResourceNotFoundException: no handler named %s', quote_literal(handler_name));
	END IF;
	RETURN h;
END;
$$;

/*
 * Changes a handler's options (NULL: unchanged). A new starting position
 * moves it; enabling a failed handler clears its failure, so it retries
 * where it stopped.
 */
CREATE FUNCTION rtsync.alter_handler(
	name text,
	function regprocedure DEFAULT NULL,
	batch_size integer DEFAULT NULL,
	maximum_batching_window interval DEFAULT NULL,
	parallelization_factor integer DEFAULT NULL,
	tumbling_window interval DEFAULT NULL,
	starting_position text DEFAULT NULL,
	starting_sequence_number text DEFAULT NULL,
	bisect_batch_on_function_error boolean DEFAULT NULL,
	maximum_retry_attempts integer DEFAULT NULL,
	maximum_record_age interval DEFAULT NULL,
	report_batch_item_failures boolean DEFAULT NULL,
	filter_criteria jsonb DEFAULT NULL,
	on_failure regclass DEFAULT NULL,
	format text DEFAULT NULL,
	enabled boolean DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	h rtsync.handler := rtsync._handler_own(alter_handler.name);
	l integer;
BEGIN
	h.function := coalesce(alter_handler.function, h.function);
	h.batch_size := coalesce(batch_size, h.batch_size);
	h.maximum_batching_window := coalesce(maximum_batching_window, h.maximum_batching_window);
	h.tumbling_window := coalesce(tumbling_window, h.tumbling_window);
	h.bisect_batch_on_function_error := coalesce(bisect_batch_on_function_error, h.bisect_batch_on_function_error);
	h.maximum_retry_attempts := coalesce(maximum_retry_attempts, h.maximum_retry_attempts);
	h.maximum_record_age := coalesce(maximum_record_age, h.maximum_record_age);
	h.report_batch_item_failures := coalesce(report_batch_item_failures, h.report_batch_item_failures);
	IF filter_criteria IS NOT NULL THEN
		h.filter_patterns := rtsync._filter_patterns(filter_criteria);
	END IF;
	h.on_failure := coalesce(on_failure, h.on_failure);
	h.format := coalesce(format, h.format);
	PERFORM rtsync._handler_check(h);
	IF starting_position IS NOT NULL THEN
		h.position := rtsync._handler_start(h.relid, starting_position, starting_sequence_number);
		h.bisect_through := NULL;
		h.attempts := 0;
		h.retry_at := NULL;
		h.state := 'enabled';
	END IF;
	IF parallelization_factor IS DISTINCT FROM NULL
	   AND parallelization_factor <> h.parallelization_factor THEN
		-- lanes are at positions of their own: a record's new lane may be
		-- behind or ahead of its old one, which would run it twice or never
		IF starting_position IS NULL THEN
			RAISE EXCEPTION USING ERRCODE = '22023',
				MESSAGE = 'ValidationException: parallelization_factor can be changed only with a starting_position',
				HINT = 'Give the position to go on from, e.g. AT_SEQUENCE_NUMBER after the lowest lane''s position (rtsync.handlers.lanes).';
		END IF;
		h.parallelization_factor := parallelization_factor;
	END IF;
	IF starting_position IS NOT NULL THEN
		-- every lane starts again there; the counts are kept (on lane 0)
		SELECT sum(t.invocations), sum(t.errors), sum(t.records_in), sum(t.records_filtered),
			   sum(t.records_failed), sum(t.records_on_failure)
		  INTO h.invocations, h.errors, h.records_in, h.records_filtered, h.records_failed,
			   h.records_on_failure
		  FROM rtsync.handler t WHERE t.name = h.name;
		DELETE FROM rtsync.handler t WHERE t.name = h.name;
		FOR l IN 0 .. h.parallelization_factor - 1 LOOP
			h.lane := l;
			INSERT INTO rtsync.handler SELECT h.*;
			h.invocations := 0; h.errors := 0; h.records_in := 0; h.records_filtered := 0;
			h.records_failed := 0; h.records_on_failure := 0;
		END LOOP;
	END IF;
	-- the options, on every lane; enabling clears a lane's failure
	UPDATE rtsync.handler t
	   SET function = h.function, batch_size = h.batch_size,
		   maximum_batching_window = h.maximum_batching_window,
		   tumbling_window = h.tumbling_window,
		   -- windows of another size: the open one is dropped
		   window_start = CASE WHEN t.tumbling_window = h.tumbling_window THEN t.window_start END,
		   window_state = CASE WHEN t.tumbling_window = h.tumbling_window THEN t.window_state END,
		   bisect_batch_on_function_error = h.bisect_batch_on_function_error,
		   maximum_retry_attempts = h.maximum_retry_attempts,
		   maximum_record_age = h.maximum_record_age,
		   report_batch_item_failures = h.report_batch_item_failures,
		   filter_patterns = h.filter_patterns, on_failure = h.on_failure, format = h.format,
		   enabled = coalesce(alter_handler.enabled, t.enabled),
		   state = CASE WHEN alter_handler.enabled AND (NOT t.enabled OR t.state = 'failed')
						THEN 'enabled' ELSE t.state END,
		   attempts = CASE WHEN alter_handler.enabled AND (NOT t.enabled OR t.state = 'failed')
						   THEN 0 ELSE t.attempts END,
		   retry_at = CASE WHEN alter_handler.enabled AND (NOT t.enabled OR t.state = 'failed')
						   THEN NULL ELSE t.retry_at END
	 WHERE t.name = h.name;
	PERFORM rtsync._notify('handlers');
END;
$$;

CREATE FUNCTION rtsync.drop_handler(name text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM rtsync._handler_own(drop_handler.name);
	DELETE FROM rtsync.handler h WHERE h.name = drop_handler.name;
	PERFORM rtsync._notify('handlers');
END;
$$;

/* The failure document Lambda sends an on-failure destination. */
CREATE FUNCTION rtsync._handler_failure(h rtsync.handler, batch jsonb, condition text,
										error text, sqlstate text)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT jsonb_build_object(
		'requestContext', jsonb_build_object('requestId', gen_random_uuid(),
											 'functionArn', h.function::text,
											 'condition', condition,
											 'approximateInvokeCount', h.attempts),
		'responseContext', jsonb_build_object('statusCode', 200, 'executedVersion', '$LATEST',
											  'functionError', CASE WHEN error IS NULL THEN NULL ELSE 'Unhandled' END),
		'version', '1.0',
		'timestamp', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
		'error', CASE WHEN error IS NULL THEN NULL
					  ELSE jsonb_build_object('message', error, 'sqlstate', sqlstate) END,
		'DDBStreamBatchInfo', jsonb_build_object(
			'shardId', 'shardId-00000000000000000001',
			'startSequenceNumber', batch -> 0 ->> 'seq',
			'endSequenceNumber', batch -> -1 ->> 'seq',
			'approximateArrivalOfFirstRecord', batch -> 0 ->> 'created',
			'approximateArrivalOfLastRecord', batch -> -1 ->> 'created',
			'batchSize', jsonb_array_length(batch),
			'streamArn', (SELECT s.arn FROM rtsync._stream_of(h.relid) s)))
$$;

/*
 * Tumbling windows, as Lambda's: fixed, back to back, aligned on the epoch;
 * a record is in the window of its commit time (ApproximateCreationDateTime).
 */
CREATE FUNCTION rtsync._window_start(at timestamptz, size interval)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT
AS $$
	SELECT to_timestamp(floor(extract(epoch FROM at) / extract(epoch FROM size)) * extract(epoch FROM size))
$$;

/* The event of an invocation in a window: its records, the window, its state. */
CREATE FUNCTION rtsync._handler_window_event(event text, h rtsync.handler, window_start timestamptz,
											 final boolean)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT left(event, -1) || ',' || right(jsonb_build_object(
		'window', jsonb_build_object(
			'start', to_char(window_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
			'end', to_char((window_start + h.tumbling_window) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')),
		'state', CASE WHEN h.window_start = window_start THEN coalesce(h.window_state, '{}') ELSE '{}' END,
		'isFinalInvokeForWindow', final,
		'isWindowTerminatedEarly', false)::text, -1)
$$;

/*
 * The open window has ended: the final invocation, with its state and no
 * records; then the window is closed. Failing, it is retried as a batch is
 * (no bisection); when retries run out the window's state is dropped.
 */
CREATE FUNCTION rtsync._handler_window_end(h rtsync.handler, started timestamptz)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	err text;
BEGIN
	BEGIN
		PERFORM rtsync._call_as(h.run_as, h.function,
								rtsync._handler_window_event('{"Records":[]}', h, h.window_start, true));
		UPDATE rtsync.handler
		   SET window_start = NULL, window_state = NULL, invocations = invocations + 1,
			   attempts = 0, retry_at = NULL, state = 'enabled', last_invoked_at = started
		 WHERE name = h.name AND lane = h.lane;
		RETURN '{"next":"now"}';
	EXCEPTION WHEN OTHERS OR query_canceled THEN
		GET STACKED DIAGNOSTICS err = MESSAGE_TEXT;
	END;
	h.attempts := h.attempts + 1;
	IF h.maximum_retry_attempts >= 0 AND h.attempts > h.maximum_retry_attempts THEN
		UPDATE rtsync.handler
		   SET window_start = NULL, window_state = NULL, errors = errors + 1,
			   invocations = invocations + 1, attempts = 0, retry_at = NULL, state = 'enabled',
			   last_error = format('the final invocation of the window from %s failed; its state was dropped: %s',
								   h.window_start, err),
			   last_error_at = now(), last_invoked_at = started
		 WHERE name = h.name AND lane = h.lane;
		RETURN '{"next":"now"}';
	END IF;
	UPDATE rtsync.handler
	   SET errors = errors + 1, invocations = invocations + 1, last_error = err, last_error_at = now(),
		   last_invoked_at = started
	 WHERE name = h.name AND lane = h.lane;
	RETURN rtsync._handler_retry(h, h.attempts);
END;
$$;

/* The handler's position has left retention: it stops, saying so. */
CREATE FUNCTION rtsync._handler_trimmed(h rtsync.handler)
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
	UPDATE rtsync.handler SET state = 'failed', last_error_at = now(),
		   last_error = format('TrimmedDataAccessException: the records after its position %s are no longer kept (older than the retention, or across a gap); alter the handler''s starting_position to go on',
							   coalesce(nullif(h.position, ''), '(the start)'))
	 WHERE name = h.name AND lane = h.lane
$$;

/*
 * One step of a handler, in the caller's transaction (the worker's, one
 * statement): reads its next batch as its role, drops what its filter
 * does not match, and calls its function with the rest; the function's
 * effects and the new position commit together. A failure rolls the
 * function's effects back (a subtransaction) and records the retry, the
 * bisection or the discard instead. Answers when to step again:
 * {"next": "now"} (more is waiting), {"next": "idle"} (caught up: when more
 * is kept), or {"next": "later", "delay_ms": n}.
 */
CREATE FUNCTION rtsync._handler_step(handler_name text, handler_lane integer DEFAULT 0)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	h rtsync.handler;
	retention interval;
	answer jsonb;
	batch jsonb;
	more boolean;
	matched jsonb;
	nread integer;
	event text;
	response jsonb;
	err text;
	errstate text;
	failures jsonb;
	lowest text;
	ok_prefix jsonb;
	expired jsonb;
	started timestamptz := clock_timestamp();
	idle constant jsonb := '{"next":"idle"}';
	win timestamptz;			-- the tumbling window of this batch
BEGIN
	SELECT * INTO h FROM rtsync.handler WHERE name = handler_name AND lane = handler_lane
	   FOR UPDATE SKIP LOCKED;
	IF NOT FOUND OR NOT h.enabled OR h.state = 'failed' THEN
		RETURN idle;
	END IF;
	IF h.retry_at > clock_timestamp() THEN
		RETURN rtsync._later(h.retry_at);
	END IF;
	SELECT s.retention INTO retention FROM rtsync._stream_of(h.relid) s;
	IF NOT FOUND THEN
		UPDATE rtsync.handler SET state = 'failed', last_error_at = now(),
			   last_error = 'ResourceNotFoundException: the table keeps no stream any more (unpublished, or retention 0)'
		 WHERE name = h.name AND lane = h.lane;
		RETURN idle;
	END IF;
	-- trimmed: across a gap (trimming records one), or, below, the batch's
	-- first record older than the retention (as rtsync._stream_trimmed)
	IF h.position < rtsync._stream_horizon(h.relid) THEN
		PERFORM rtsync._handler_trimmed(h);
		RETURN idle;
	END IF;

	-- its role must still read the table (the stream's row security would
	-- just hide every record): shown, and tried again later
	IF NOT has_table_privilege(h.run_as, h.relid, 'SELECT') THEN
		err := format('role %s may not SELECT table %s', h.run_as, h.relid);
	END IF;
	BEGIN
		IF err IS NOT NULL THEN
			RAISE EXCEPTION '%', err;
		END IF;
		answer := rtsync._call_as(h.run_as, 'rtsync._handler_batch(text)',
								  jsonb_build_object('relid', h.relid::oid, 'after', h.position,
													 'through', h.bisect_through, 'limit', h.batch_size,
													 'lanes', h.parallelization_factor, 'lane', h.lane,
													 'format', h.format)::text)::jsonb;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS err = MESSAGE_TEXT;
		UPDATE rtsync.handler SET last_error = 'reading its batch: ' || err, last_error_at = now()
		 WHERE name = h.name AND lane = h.lane;
		RETURN rtsync._handler_retry(h, h.attempts + 1);
	END;
	batch := answer -> 'records';
	more := (answer ->> 'more')::boolean;
	nread := jsonb_array_length(batch);
	IF nread = 0 THEN
		IF h.bisect_through IS NOT NULL THEN
			UPDATE rtsync.handler SET bisect_through = NULL WHERE name = h.name AND lane = h.lane;
			RETURN '{"next":"now"}';
		END IF;
		-- a lane: past the other lanes' records, so its position keeps up
		IF answer ->> 'scanned' > h.position THEN
			UPDATE rtsync.handler SET position = answer ->> 'scanned' WHERE name = h.name AND lane = h.lane;
		END IF;
		-- an open window ends on time (a second late: its last records are kept by then)
		IF h.window_start IS NOT NULL THEN
			IF h.window_start + h.tumbling_window + interval '1 s' <= clock_timestamp() THEN
				RETURN rtsync._handler_window_end(h, started);
			END IF;
			RETURN rtsync._later(h.window_start + h.tumbling_window + interval '1 s');
		END IF;
		RETURN idle;
	END IF;
	IF (batch -> 0 ->> 'created')::timestamptz < now() - retention THEN
		PERFORM rtsync._handler_trimmed(h);
		RETURN idle;
	END IF;
	-- a batching window: wait for a full batch until its first record is that old
	IF nread < h.batch_size AND h.bisect_through IS NULL AND h.attempts = 0
	   AND h.maximum_batching_window > '0'
	   AND (batch -> 0 ->> 'created')::timestamptz + h.maximum_batching_window > clock_timestamp() THEN
		RETURN rtsync._later((batch -> 0 ->> 'created')::timestamptz + h.maximum_batching_window);
	END IF;

	-- records older than maximum_record_age are discarded, not processed
	IF h.maximum_record_age IS NOT NULL THEN
		SELECT coalesce(jsonb_agg(b.r ORDER BY b.o), '[]') INTO expired
		  FROM jsonb_array_elements(batch) WITH ORDINALITY b(r, o)
		 WHERE (b.r ->> 'created')::timestamptz < clock_timestamp() - h.maximum_record_age;
		IF jsonb_array_length(expired) > 0 THEN
			batch := expired;
			nread := jsonb_array_length(batch);
			PERFORM rtsync._handler_give_up(h, batch, 'RecordAgeExceeded', NULL, NULL);
			RETURN '{"next":"now"}';
		END IF;
	END IF;

	-- tumbling windows: a batch holds one window's records; the window open
	-- before ends (its final invocation) before the next one's records
	IF h.tumbling_window > '0' THEN
		win := rtsync._window_start((batch -> 0 ->> 'created')::timestamptz, h.tumbling_window);
		IF h.window_start IS NOT NULL AND h.window_start < win THEN
			RETURN rtsync._handler_window_end(h, started);
		END IF;
		SELECT jsonb_agg(b.r ORDER BY b.o) INTO batch
		  FROM jsonb_array_elements(batch) WITH ORDINALITY b(r, o)
		 WHERE rtsync._window_start((b.r ->> 'created')::timestamptz, h.tumbling_window) = win;
		more := more OR jsonb_array_length(batch) < nread;
		nread := jsonb_array_length(batch);
	END IF;

	SELECT coalesce(jsonb_agg(b.r ORDER BY b.o), '[]') INTO matched
	  FROM jsonb_array_elements(batch) WITH ORDINALITY b(r, o)
	 WHERE h.filter_patterns IS NULL
		OR EXISTS (SELECT FROM jsonb_array_elements(h.filter_patterns) p
					WHERE rtsync._filter_matches(p, (b.r ->> 'text')::jsonb));
	IF jsonb_array_length(matched) = 0 THEN
		UPDATE rtsync.handler
		   SET position = batch -> -1 ->> 'seq', records_filtered = records_filtered + nread,
			   bisect_through = CASE WHEN batch -> -1 ->> 'seq' >= bisect_through THEN NULL ELSE bisect_through END,
			   iterator_age = clock_timestamp() - (batch -> -1 ->> 'created')::timestamptz
		 WHERE name = h.name AND lane = h.lane;
		RETURN CASE WHEN more THEN '{"next":"now"}' ELSE idle END;
	END IF;

	event := rtsync._handler_event(matched);
	IF win IS NOT NULL THEN
		event := rtsync._handler_window_event(event, h, win, false);
	END IF;
	BEGIN
		response := rtsync._call_as(h.run_as, h.function, event)::jsonb;
		IF h.report_batch_item_failures AND jsonb_typeof(response -> 'batchItemFailures') = 'array'
		   AND jsonb_array_length(response -> 'batchItemFailures') > 0 THEN
			failures := response -> 'batchItemFailures';
			-- an identifier that names no record of the batch fails it whole
			IF EXISTS (SELECT FROM jsonb_array_elements(failures) f
						WHERE NOT EXISTS (SELECT FROM jsonb_array_elements(matched) m
										   WHERE m ->> 'seq' = f ->> 'itemIdentifier')) THEN
				RAISE EXCEPTION USING ERRCODE = '22023',
					MESSAGE = 'batchItemFailures names an itemIdentifier that is no SequenceNumber of the batch';
			END IF;
			SELECT min(f ->> 'itemIdentifier' COLLATE "C") INTO lowest FROM jsonb_array_elements(failures) f;
			RAISE EXCEPTION USING ERRCODE = 'RT500', MESSAGE = 'partial batch failure';
		END IF;
	EXCEPTION WHEN OTHERS OR query_canceled THEN
		GET STACKED DIAGNOSTICS err = MESSAGE_TEXT, errstate = RETURNED_SQLSTATE;
	END;

	IF err IS NULL THEN
		UPDATE rtsync.handler
		   SET position = batch -> -1 ->> 'seq', attempts = 0, retry_at = NULL, state = 'enabled',
			   bisect_through = CASE WHEN batch -> -1 ->> 'seq' >= bisect_through THEN NULL ELSE bisect_through END,
			   invocations = invocations + 1, records_in = records_in + jsonb_array_length(matched),
			   records_filtered = records_filtered + nread - jsonb_array_length(matched),
			   last_invoked_at = started,
			   iterator_age = clock_timestamp() - (batch -> -1 ->> 'created')::timestamptz,
			   window_start = win,
			   window_state = CASE WHEN win IS NULL THEN NULL
								   ELSE coalesce(response -> 'state', '{}') END
		 WHERE name = h.name AND lane = h.lane;
		IF win IS NOT NULL AND NOT more AND h.bisect_through IS NULL THEN
			-- the window stays open: the worker comes back when it ends
			RETURN rtsync._later(win + h.tumbling_window + interval '1 s');
		END IF;
		RETURN CASE WHEN more OR h.bisect_through IS NOT NULL THEN '{"next":"now"}' ELSE idle END;
	END IF;

	IF errstate = 'RT500' AND lowest IS NOT NULL THEN
		-- a partial failure: the records before the lowest failed one are
		-- done, once; their effects are those of an invocation with them alone
		SELECT coalesce(jsonb_agg(m ORDER BY m ->> 'seq' COLLATE "C"), '[]') INTO ok_prefix
		  FROM jsonb_array_elements(matched) m WHERE m ->> 'seq' < lowest COLLATE "C";
		IF jsonb_array_length(ok_prefix) > 0 THEN
			BEGIN
				event := rtsync._handler_event(ok_prefix);
				IF win IS NOT NULL THEN
					event := rtsync._handler_window_event(event, h, win, false);
				END IF;
				response := rtsync._call_as(h.run_as, h.function, event)::jsonb;
				h.position := ok_prefix -> -1 ->> 'seq';
				h.attempts := 0;
				UPDATE rtsync.handler
				   SET position = h.position, invocations = invocations + 1,
					   records_in = records_in + jsonb_array_length(ok_prefix), attempts = 0,
					   last_invoked_at = started,
					   window_start = coalesce(win, window_start),
					   window_state = CASE WHEN win IS NULL THEN window_state
										   ELSE coalesce(response -> 'state', '{}') END
				 WHERE name = h.name AND lane = h.lane;
			EXCEPTION WHEN OTHERS OR query_canceled THEN
				GET STACKED DIAGNOSTICS err = MESSAGE_TEXT, errstate = RETURNED_SQLSTATE;
			END;
		ELSE
			h.position := rtsync._sequence_before(lowest);
		END IF;
		IF errstate = 'RT500' AND lowest IS NOT NULL THEN
			err := format('the function reported %s failed records, the first %s',
						  jsonb_array_length(failures), lowest);
			-- what is left of the batch, from the lowest failure
			SELECT coalesce(jsonb_agg(m ORDER BY m ->> 'seq' COLLATE "C"), '[]') INTO batch
			  FROM jsonb_array_elements(batch) m WHERE m ->> 'seq' >= lowest COLLATE "C";
			UPDATE rtsync.handler SET position = h.position WHERE name = h.name AND lane = h.lane;
		END IF;
	END IF;

	-- the batch failed
	UPDATE rtsync.handler
	   SET errors = errors + 1, invocations = invocations + 1, last_error = err, last_error_at = now(),
		   last_invoked_at = started
	 WHERE name = h.name AND lane = h.lane
	RETURNING * INTO h;
	IF h.bisect_batch_on_function_error AND jsonb_array_length(batch) > 1 THEN
		-- try the first half alone; splitting counts no attempt
		UPDATE rtsync.handler
		   SET bisect_through = batch -> (jsonb_array_length(batch) / 2 - 1) ->> 'seq'
		 WHERE name = h.name AND lane = h.lane;
		RETURN '{"next":"now"}';
	END IF;
	h.attempts := h.attempts + 1;
	IF h.maximum_retry_attempts >= 0 AND h.attempts > h.maximum_retry_attempts THEN
		PERFORM rtsync._handler_give_up(h, batch, 'RetryAttemptsExhausted', err, errstate);
		RETURN '{"next":"now"}';
	END IF;
	RETURN rtsync._handler_retry(h, h.attempts);
END;
$$;
REVOKE EXECUTE ON FUNCTION rtsync._handler_step(text, integer) FROM PUBLIC;

/* {"Records": [...]}, each record exactly as read. */
CREATE FUNCTION rtsync._handler_event(batch jsonb)
RETURNS text
LANGUAGE sql IMMUTABLE
AS $$
	SELECT '{"Records":[' || string_agg(b.r ->> 'text', ',' ORDER BY b.o) || ']}'
	  FROM jsonb_array_elements(batch) WITH ORDINALITY b(r, o)
$$;

/*
 * A batch given up on (retries or age exhausted): to the on-failure table
 * with Lambda's failure document, and the handler moves past it. Should
 * the on-failure table refuse it, the handler stops (failed) rather than
 * drop the batch.
 */
CREATE FUNCTION rtsync._handler_give_up(h rtsync.handler, batch jsonb, condition text,
										error text, sqlstate text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	msg text;
BEGIN
	IF h.on_failure IS NOT NULL THEN
		BEGIN
			PERFORM rtsync._call_as(h.run_as, 'rtsync._handler_discard(text)',
				jsonb_build_object('table', h.on_failure::oid,
								   'failure', rtsync._handler_failure(h, batch, condition, error, sqlstate),
								   'records', (SELECT jsonb_agg((b.r ->> 'text')::jsonb ORDER BY b.o)
												 FROM jsonb_array_elements(batch) WITH ORDINALITY b(r, o)))::text);
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
			UPDATE rtsync.handler
			   SET state = 'failed', last_error_at = now(),
				   last_error = format('the on-failure table %s refused a discarded batch (%s): %s',
									   h.on_failure, condition, msg)
			 WHERE name = h.name AND lane = h.lane;
			RETURN;
		END;
	END IF;
	UPDATE rtsync.handler
	   SET position = batch -> -1 ->> 'seq', attempts = 0, retry_at = NULL, state = 'enabled',
		   bisect_through = CASE WHEN batch -> -1 ->> 'seq' >= bisect_through THEN NULL ELSE bisect_through END,
		   records_failed = records_failed + jsonb_array_length(batch),
		   records_on_failure = records_on_failure + CASE WHEN h.on_failure IS NULL THEN 0
														  ELSE jsonb_array_length(batch) END,
		   last_error = coalesce(error, last_error),
		   last_error_at = now()
	 WHERE name = h.name AND lane = h.lane;
END;
$$;

/*
 * A lane's counts, as the worker shows them (its handler's lanes summed) in
 * /metrics and rtsync.stats. Only the lane's own steps change them, so
 * read after its step they are exact.
 */
CREATE FUNCTION rtsync._handler_counts(h rtsync.handler)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT jsonb_build_object('invocations', h.invocations, 'errors', h.errors,
							  'records_in', h.records_in, 'records_filtered', h.records_filtered,
							  'records_failed', h.records_failed,
							  'records_on_failure', h.records_on_failure,
							  'iterator_age_ms', coalesce(round(extract(epoch FROM h.iterator_age) * 1000), 0))
$$;

/*
 * What the worker calls: one step, and the handler's counts after it (read
 * by a statement of its own, so they include the step's).
 */
CREATE FUNCTION rtsync._handler_drive(handler_name text, handler_lane integer)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	answer jsonb;
BEGIN
	answer := rtsync._handler_step(handler_name, handler_lane);
	RETURN answer || coalesce((SELECT jsonb_build_object('counts', rtsync._handler_counts(h))
								 FROM rtsync.handler h
								WHERE h.name = handler_name AND h.lane = handler_lane), '{}');
END;
$$;
REVOKE EXECUTE ON FUNCTION rtsync._handler_counts(rtsync.handler) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION rtsync._handler_drive(text, integer) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION rtsync._handler_trimmed(rtsync.handler) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION rtsync._handler_retry(rtsync.handler, integer) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION rtsync._handler_window_end(rtsync.handler, timestamptz) FROM PUBLIC;
