-- rtsync._claims_read: which JWT claims judging a table's rows under row-
-- level security can read (the worker judges subscribers that agree on them
-- together), NULL when that cannot be told. Followed: policies, sublinks'
-- relations and their policies, views, called functions and their bodies.
CREATE SCHEMA regress_auth;
CREATE FUNCTION regress_auth.uid() RETURNS text LANGUAGE sql STABLE AS $f$
	SELECT nullif(coalesce(current_setting('request.jwt.claim.sub', true),
		(current_setting('request.jwt.claims', true)::jsonb ->> 'sub')), '') $f$;
CREATE FUNCTION regress_auth.jwt() RETURNS jsonb LANGUAGE sql STABLE AS $f$
	SELECT current_setting('request.jwt.claims', true)::jsonb $f$;
CREATE FUNCTION regress_tenant() RETURNS text LANGUAGE plpgsql STABLE AS $f$
	BEGIN RETURN current_setting('request.jwt.claims', true)::jsonb ->> 'tenant'; END $f$;
CREATE FUNCTION regress_outer() RETURNS text LANGUAGE sql STABLE AS $f$
	SELECT regress_tenant() || regress_auth.uid() $f$;
CREATE FUNCTION regress_atomic() RETURNS text LANGUAGE sql STABLE
	BEGIN ATOMIC SELECT current_setting('request.jwt.claim.org', true); END;
CREATE FUNCTION regress_named(n text) RETURNS text LANGUAGE sql STABLE AS $f$
	SELECT current_setting('request.jwt.claim.' || n, true) $f$;
CREATE FUNCTION regress_dynamic() RETURNS bool LANGUAGE plpgsql STABLE AS $f$
	BEGIN EXECUTE 'SELECT 1'; RETURN true; END $f$;
CREATE FUNCTION regress_claims_var() RETURNS text LANGUAGE plpgsql STABLE AS $f$
	DECLARE c jsonb := current_setting('request.jwt.claims', true)::jsonb;
	BEGIN RETURN c ->> 'a' || (c ->> 'b'); END $f$;

CREATE TABLE regress_members (team int, email text);
ALTER TABLE regress_members ENABLE ROW LEVEL SECURITY;
CREATE POLICY m ON regress_members
	USING (email = current_setting('request.jwt.claims', true)::jsonb ->> 'email');
CREATE VIEW regress_my_teams AS SELECT team FROM regress_members
	WHERE team::text = current_setting('request.jwt.claim.team', true);

CREATE FUNCTION regress_table(name text, policy text) RETURNS regclass LANGUAGE plpgsql AS $f$
BEGIN
	EXECUTE format('CREATE TABLE %I (id int, owner text, team int, tenant text)', name);
	EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', name);
	EXECUTE format('CREATE POLICY p ON %I USING (%s)', name, policy);
	RETURN name::regclass;
END $f$;

CREATE TABLE regress_tables AS SELECT regress_table(t, p) AS t
  FROM (VALUES
	('regress_owner', 'owner = regress_auth.uid()'),
	('regress_setting', 'tenant = current_setting(''request.jwt.claim.tenant'', true)'),
	('regress_json', 'tenant = (current_setting(''request.jwt.claims'', true)::json ->> ''tenant'')'),
	('regress_nested', 'owner = (current_setting(''request.jwt.claims'')::jsonb -> ''app'' ->> ''id'')'),
	('regress_plpgsql', 'tenant = regress_tenant()'),
	('regress_chain', 'owner = regress_outer()'),
	('regress_atomic_body', 'tenant = regress_atomic()'),
	('regress_sublink', 'EXISTS (SELECT FROM regress_members m WHERE m.team = team)'),
	('regress_view', 'team IN (SELECT team FROM regress_my_teams)'),
	('regress_true', 'true'),
	('regress_no_claims', 'owner = current_user'),
	-- cannot be told
	('regress_whole', 'tenant = regress_auth.jwt() ->> ''tenant'''),
	('regress_name_built', 'owner = regress_named(''sub'')'),
	('regress_setting_built', 'owner = current_setting(''request.jwt.claim.'' || ''sub'', true)'),
	('regress_exec', 'regress_dynamic()'),
	('regress_var', 'owner = regress_claims_var()')) v(t, p);
SELECT t, rtsync._claims_read(t) FROM regress_tables ORDER BY t::text;

-- another policy on the table adds what it reads
CREATE POLICY q ON regress_owner USING (team::text = current_setting('request.jwt.claim.team', true));
SELECT rtsync._claims_read('regress_owner');
-- without row-level security on the table, its policies do not apply
ALTER TABLE regress_owner DISABLE ROW LEVEL SECURITY;
SELECT rtsync._claims_read('regress_owner');

DROP TABLE regress_owner, regress_setting, regress_json, regress_nested, regress_plpgsql,
	regress_chain, regress_atomic_body, regress_sublink, regress_view, regress_true,
	regress_no_claims, regress_whole, regress_name_built, regress_setting_built, regress_exec,
	regress_var;
DROP TABLE regress_tables;
DROP VIEW regress_my_teams;
DROP TABLE regress_members;
DROP FUNCTION regress_table(text, text), regress_tenant(), regress_outer(), regress_atomic(),
	regress_named(text), regress_dynamic(), regress_claims_var();
SET client_min_messages = warning;
DROP SCHEMA regress_auth CASCADE;
RESET client_min_messages;
