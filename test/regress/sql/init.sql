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
\dx+ rtsync
