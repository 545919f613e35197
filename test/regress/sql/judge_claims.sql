-- rtsync._judge_claims: one check, several identities' claims set in turn
-- (extension/judge_claims.c), as the worker judges many token users of one
-- role under row-level security.
CREATE ROLE jc_user;
-- what each identity's check sees: its claims, the sub claim, the tenant claim
SELECT member, ord FROM rtsync._judge_claims(
	$$SELECT x.ord FROM jsonb_array_elements($1) WITH ORDINALITY x(img, ord)
	   WHERE x.img->>'owner' = current_setting('request.jwt.claim.sub', true)$$,
	ARRAY['{"sub":"ann"}', '{"sub":"ben","tenant":"t1"}', '{"role":"jc_user"}', '{"sub":"ann","exp":1}'],
	'[{"owner":"ann"},{"owner":"ben"},{"owner":"ann"},{"owner":""}]');
-- a claim the identity before set and this one lacks reads '' (as the
-- pool's identity statement leaves it), never the other identity's value
SELECT member, ord FROM rtsync._judge_claims(
	$$SELECT x.ord FROM jsonb_array_elements($1) WITH ORDINALITY x(img, ord)
	   WHERE x.img->>'tenant' IS NOT DISTINCT FROM current_setting('request.jwt.claim.tenant', true)$$,
	ARRAY['{"tenant":"t1"}', '{"sub":"x"}', '{"tenant":"t2","n":5,"ok":true}'],
	'[{"tenant":"t1"},{"tenant":""},{"tenant":"t2"}]');
-- scalars as text, request.jwt.claims whole; names that cannot be settings are skipped
SELECT member, ord FROM rtsync._judge_claims(
	$$SELECT x.ord FROM jsonb_array_elements($1) WITH ORDINALITY x(img, ord)
	   WHERE current_setting('request.jwt.claim.n', true) = '5'
	     AND current_setting('request.jwt.claim.ok', true) = 'true'
	     AND (current_setting('request.jwt.claims', true)::jsonb ->> 'odd-name') = 'y'$$,
	ARRAY['{"n":5,"ok":true,"odd-name":"y"}'], '[{}]');
-- nothing is left behind after the call
SELECT current_setting('request.jwt.claim.sub', true) AS sub_after,
	   current_setting('request.jwt.claim.tenant', true) AS tenant_after;
-- it runs as its caller: anyone may call it, and row security applies
CREATE TABLE jc_doc (id int PRIMARY KEY, owner text);
ALTER TABLE jc_doc ENABLE ROW LEVEL SECURITY;
CREATE POLICY jc_own ON jc_doc USING (owner = current_setting('request.jwt.claim.sub', true));
GRANT SELECT ON jc_doc TO jc_user;
INSERT INTO jc_doc VALUES (1, 'ann'), (2, 'ben');
SET ROLE jc_user;
SELECT member, ord FROM rtsync._judge_claims(
	$$SELECT x.ord FROM jsonb_array_elements($1) WITH ORDINALITY x(img, ord)
	   WHERE EXISTS (SELECT FROM jc_doc d WHERE d.id = (x.img->>'id')::int)$$,
	ARRAY['{"sub":"ann"}', '{"sub":"ben"}', '{"sub":"cat"}'], '[{"id":1},{"id":2}]');
RESET ROLE;
-- bad input: a clear error
SELECT * FROM rtsync._judge_claims('SELECT 1::bigint', ARRAY['[1]'], '[]');
SELECT * FROM rtsync._judge_claims('SELECT 1::bigint', ARRAY[NULL], '[]');
SELECT * FROM rtsync._judge_claims('SELECT 1::bigint', ARRAY['{"a":'], '[]');
DROP TABLE jc_doc;
DROP ROLE jc_user;
