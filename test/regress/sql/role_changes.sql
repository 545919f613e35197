-- Role changes fire no event trigger; the utility hook (extension/
-- role_watch.c) writes the worker's CONTROL message for them: one per
-- transaction that changed roles, at its place in the stream, none for what
-- rolled back or failed, none for other statements.
\pset format unaligned
CREATE FUNCTION control_records(slot name) RETURNS SETOF text LANGUAGE sql AS $$
	SELECT regexp_replace(data, '"xid":[0-9]+', '"xid":X')
	FROM changes(slot, 'include-control', 'on') AS c(data)
$$;
SELECT 'init' FROM pg_create_logical_replication_slot('role_changes', 'rtsync');

-- each statement in its own transaction: one message each
CREATE ROLE regress_rc_group;
CREATE ROLE regress_rc_member;
GRANT regress_rc_group TO regress_rc_member;
REVOKE regress_rc_group FROM regress_rc_member;
ALTER ROLE regress_rc_member NOINHERIT;
ALTER ROLE regress_rc_member BYPASSRLS;
ALTER GROUP regress_rc_group ADD USER regress_rc_member;
ALTER ROLE regress_rc_member RENAME TO regress_rc_renamed;
CREATE ROLE regress_rc_other IN ROLE regress_rc_group;
SELECT * FROM control_records('role_changes');

-- one message for a transaction of several role changes
BEGIN;
ALTER ROLE regress_rc_renamed INHERIT;
REVOKE regress_rc_group FROM regress_rc_renamed;
GRANT regress_rc_group TO regress_rc_renamed;
COMMIT;
SELECT * FROM control_records('role_changes');

-- none for what rolled back: a transaction, a subtransaction, a failed statement
BEGIN;
ALTER ROLE regress_rc_renamed NOBYPASSRLS;
ROLLBACK;
BEGIN;
SAVEPOINT a;
ALTER ROLE regress_rc_renamed NOBYPASSRLS;
ROLLBACK TO a;
CREATE TABLE regress_rc_table (id int);
COMMIT;
GRANT regress_rc_nosuch TO regress_rc_renamed;
SELECT * FROM control_records('role_changes');

-- a released savepoint keeps its message; a change after a rolled back one writes its own
BEGIN;
SAVEPOINT a;
ALTER ROLE regress_rc_renamed NOBYPASSRLS;
RELEASE a;
COMMIT;
BEGIN;
SAVEPOINT a;
ALTER ROLE regress_rc_renamed BYPASSRLS;
ROLLBACK TO a;
ALTER ROLE regress_rc_renamed BYPASSRLS;
COMMIT;
SELECT * FROM control_records('role_changes');

-- from a function too (through SPI); not for settings or other statements
DO $$ BEGIN EXECUTE 'ALTER ROLE regress_rc_renamed NOINHERIT'; END $$;
ALTER ROLE regress_rc_renamed SET work_mem = '1MB';
COMMENT ON ROLE regress_rc_renamed IS 'a comment';
SELECT * FROM control_records('role_changes');

-- ownership: REASSIGN OWNED through the hook; DROP OWNED through the event trigger ("ddl")
ALTER TABLE regress_rc_table OWNER TO regress_rc_renamed;
REASSIGN OWNED BY regress_rc_renamed TO regress_rc_other;
DROP OWNED BY regress_rc_other;
SELECT * FROM control_records('role_changes');

DROP ROLE regress_rc_renamed, regress_rc_other;
SELECT * FROM control_records('role_changes');

-- in a database without the extension the same commands work and write no
-- message (nor would one written there reach this database's slot)
SELECT current_database() AS regress_db \gset
\c postgres
SELECT count(*) AS rtsync_here FROM pg_extension WHERE extname = 'rtsync';
CREATE ROLE regress_rc_elsewhere;
GRANT regress_rc_group TO regress_rc_elsewhere;
BEGIN;
ALTER ROLE regress_rc_elsewhere NOINHERIT;
COMMIT;
DROP ROLE regress_rc_elsewhere;
\c :regress_db
SELECT * FROM control_records('role_changes');

DROP ROLE regress_rc_group;
SELECT 'stop' FROM pg_drop_replication_slot('role_changes');
DROP FUNCTION control_records(name);
