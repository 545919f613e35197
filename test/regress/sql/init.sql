-- Creates the extension and the helpers every later test uses.
CREATE EXTENSION rtsync;

-- Decoded records of a slot, without the parts that differ between runs.
CREATE FUNCTION changes(slot name, VARIADIC opts text[] DEFAULT '{}')
RETURNS SETOF text LANGUAGE sql AS $$
	SELECT data FROM pg_logical_slot_get_changes(slot, NULL, NULL,
		VARIADIC ARRAY['include-timestamp', 'false', 'include-sequence', 'false'] || opts)
$$;

-- The same, without consuming them.
CREATE FUNCTION peek(slot name, VARIADIC opts text[] DEFAULT '{}')
RETURNS SETOF text LANGUAGE sql AS $$
	SELECT data FROM pg_logical_slot_peek_changes(slot, NULL, NULL,
		VARIADIC ARRAY['include-timestamp', 'false', 'include-sequence', 'false'] || opts)
$$;

SELECT extname, extversion FROM pg_extension WHERE extname = 'rtsync';
-- the public API (internal helpers start with an underscore)
SELECT p.oid::regprocedure AS function
FROM pg_proc p WHERE p.pronamespace = 'rtsync'::regnamespace AND p.proname !~ '^_'
ORDER BY p.proname;
SELECT c.relname, c.relkind FROM pg_class c
WHERE c.relnamespace = 'rtsync'::regnamespace AND c.relkind IN ('r', 'v')
ORDER BY 1;
