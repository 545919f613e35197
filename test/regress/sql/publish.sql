-- rtsync.publish / unpublish, the published_tables view, and every refusal.
\pset format unaligned

-- The demo table of the AppSync recipe.
CREATE TABLE data_items (
	id text PRIMARY KEY DEFAULT gen_random_uuid()::text,
	title text NOT NULL,
	content text,
	"timestamp" timestamptz NOT NULL DEFAULT now(),
	version int NOT NULL DEFAULT 1
);
-- old images need whole old rows: publish says so and sets REPLICA IDENTITY FULL
SELECT rtsync.publish('data_items');
SELECT relreplident FROM pg_class WHERE oid = 'data_items'::regclass;
SELECT table_name, view_type, type_name, published_at <= now() AS published_at_ok
FROM rtsync.published_tables;

-- publishing again changes the settings; FULL is already there, so no notice
SELECT rtsync.publish('data_items', 'NEW_IMAGE', 'Item');
SELECT table_name, view_type, type_name FROM rtsync.published_tables;
SELECT rtsync.publish('data_items', view_type => 'new_and_old_images');
SELECT table_name, view_type, type_name FROM rtsync.published_tables;

-- KEYS_ONLY and NEW_IMAGE leave the replica identity alone
CREATE TABLE keys_only (id int PRIMARY KEY, v text);
SELECT rtsync.publish('keys_only', 'KEYS_ONLY');
SELECT relreplident FROM pg_class WHERE oid = 'keys_only'::regclass;

-- a replica identity index is a key too
CREATE TABLE by_index (a int NOT NULL, b text);
CREATE UNIQUE INDEX by_index_a ON by_index (a);
ALTER TABLE by_index REPLICA IDENTITY USING INDEX by_index_a;
SELECT rtsync.publish('by_index', 'NEW_IMAGE');

-- default type names: singular PascalCase of the table name
CREATE TABLE categories (id int PRIMARY KEY);
CREATE TABLE boxes (id int PRIMARY KEY);
CREATE TABLE addresses (id int PRIMARY KEY);
CREATE TABLE status (id int PRIMARY KEY);
CREATE TABLE analysis (id int PRIMARY KEY);
CREATE TABLE "order-lines" (id int PRIMARY KEY);
CREATE TABLE "userAccounts" (id int PRIMARY KEY);
CREATE TABLE "2fa_codes" (id int PRIMARY KEY);
SELECT t, rtsync.default_type_name(t::regclass)
FROM unnest(ARRAY['data_items', 'categories', 'boxes', 'addresses', 'status',
				  'analysis', '"order-lines"', '"userAccounts"', '"2fa_codes"']) AS t;

-- refusals
SELECT rtsync.publish('categories', 'EVERYTHING');
SELECT rtsync.publish('categories', NULL);
SELECT rtsync.publish(NULL);
SELECT rtsync.publish('no_such_table');
CREATE TABLE no_key (a int, b text);
SELECT rtsync.publish('no_key');
CREATE TABLE parted (id int PRIMARY KEY) PARTITION BY RANGE (id);
SELECT rtsync.publish('parted');
CREATE UNLOGGED TABLE scratch (id int PRIMARY KEY);
SELECT rtsync.publish('scratch');
CREATE VIEW item_titles AS SELECT id, title FROM data_items;
SELECT rtsync.publish('item_titles');
SELECT rtsync.publish('rtsync.published_table');
SELECT rtsync.publish('categories', type_name => '1Category');
SELECT rtsync.publish('categories', type_name => '__Category');
SELECT rtsync.publish('categories', type_name => 'Cate-gory');
SELECT rtsync.publish('categories', type_name => 'DataItem');
SELECT rtsync.unpublish('categories');
SELECT table_name, view_type, type_name FROM rtsync.published_tables ORDER BY table_name::text;

-- privileges: EXECUTE is not granted to PUBLIC, and only owners may publish
CREATE ROLE regress_alice;
SET ROLE regress_alice;
SELECT rtsync.publish('categories');
SELECT rtsync._store_publication('categories', 'KEYS_ONLY', 'Category');
RESET ROLE;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA rtsync TO regress_alice;
GRANT CREATE ON SCHEMA public TO regress_alice;
SET ROLE regress_alice;
SELECT rtsync.publish('categories');
SELECT rtsync.unpublish('data_items');
SELECT rtsync._store_publication('data_items', NULL, NULL);
CREATE TABLE alices (id int PRIMARY KEY);
SELECT rtsync.publish('alices');
SELECT table_name, type_name FROM rtsync.published_tables WHERE table_name = 'alices'::regclass;
-- she cannot write the catalogue directly
DELETE FROM rtsync.published_table;
SELECT rtsync.unpublish('alices');
DROP TABLE alices;
RESET ROLE;

-- dropping a published table forgets its publication
CREATE TABLE short_lived (id int PRIMARY KEY);
SELECT rtsync.publish('short_lived', 'KEYS_ONLY');
DROP TABLE short_lived;
SELECT count(*) FROM rtsync.published_table WHERE type_name = 'ShortLived';

-- names the GraphQL schema uses itself, and list fields that would collide
SELECT rtsync.publish('categories', type_name => 'Query');
SELECT rtsync.publish('categories', type_name => 'ModelThingConnection');
SELECT rtsync.publish('categories', type_name => 'CreateThingInput');
CREATE TABLE boxe (id int PRIMARY KEY);
SELECT rtsync.publish('boxes', type_name => 'Box');
SELECT rtsync.publish('boxe', type_name => 'Boxe');
SELECT rtsync.unpublish('boxes');
DROP TABLE boxe;

-- optimistic concurrency: a version column for GraphQL mutations
CREATE TABLE versioned (id int PRIMARY KEY, v int NOT NULL DEFAULT 1, note text,
	g int GENERATED ALWAYS AS (id * 2) STORED);
SELECT rtsync.publish('versioned', version_column => 'v');
SELECT type_name, version_column FROM rtsync.published_tables WHERE table_name = 'versioned'::regclass;
-- publishing again without version_column keeps it; '' removes it
SELECT rtsync.publish('versioned', 'KEYS_ONLY');
SELECT view_type, version_column FROM rtsync.published_tables WHERE table_name = 'versioned'::regclass;
SELECT rtsync.publish('versioned', version_column => '');
SELECT version_column FROM rtsync.published_tables WHERE table_name = 'versioned'::regclass;
SELECT rtsync.publish('versioned', version_column => 'nope');
SELECT rtsync.publish('versioned', version_column => 'note');
SELECT rtsync.publish('versioned', version_column => 'id');
SELECT rtsync.publish('versioned', version_column => 'g');
-- the conflict check that GraphQL updates and deletes run
SELECT rtsync._check_version(3, NULL), rtsync._check_version(3, 3);
SELECT rtsync._check_version(4, 3);
SELECT rtsync.unpublish('versioned');
DROP TABLE versioned;

-- clean up what later tests do not need
SELECT rtsync.unpublish('keys_only');
SELECT rtsync.unpublish('by_index');
DROP TABLE keys_only, by_index, categories, boxes, addresses, status, analysis,
	"order-lines", "userAccounts", "2fa_codes", no_key, parted, scratch CASCADE;
REVOKE ALL ON SCHEMA public FROM regress_alice;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA rtsync FROM regress_alice;
DROP ROLE regress_alice;
SELECT table_name, view_type, type_name FROM rtsync.published_tables;
