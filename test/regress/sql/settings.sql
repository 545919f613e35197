-- rtsync.database: a check hook refuses what cannot be a database name.
-- ALTER SYSTEM validates the value as the server would on its next start
-- and writes nothing when it is refused.
ALTER SYSTEM SET rtsync.database = '';
ALTER SYSTEM SET rtsync.database = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
-- any characters are fine: the worker's conninfo quotes the name
ALTER SYSTEM SET rtsync.database = 'it''s a \ name';
ALTER SYSTEM RESET rtsync.database;
