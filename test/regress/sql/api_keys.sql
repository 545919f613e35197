-- API keys as their owners see them: each role sees the keys of the roles
-- it is a member of, and a key whose role was dropped is seen by no one
-- (and breaks no one's view).
CREATE ROLE regress_key_gone;
CREATE ROLE regress_key_reader;
GRANT regress_key_gone TO regress_key_reader;
SELECT rtsync.create_api_key('gone', role => 'regress_key_gone') LIKE 'da2-%' AS made;
SELECT rtsync.create_api_key('reader', role => 'regress_key_reader') LIKE 'da2-%' AS made;
SET ROLE regress_key_reader;
SELECT description, role FROM rtsync.api_keys ORDER BY description;
RESET ROLE;
DROP ROLE regress_key_gone;
SET ROLE regress_key_reader;
SELECT description, role FROM rtsync.api_keys ORDER BY description;
RESET ROLE;
SELECT description, role FROM rtsync.api_keys WHERE role::text LIKE 'regress_key%' ORDER BY description;
DELETE FROM rtsync.api_key WHERE role::text LIKE 'regress_key%';
DROP ROLE regress_key_reader;
