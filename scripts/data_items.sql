-- The AppSync recipe's demo table, published as type DataItem.
-- Used by the demo and the end-to-end tests.
CREATE EXTENSION IF NOT EXISTS rtsync;
CREATE TABLE data_items (
	id text PRIMARY KEY DEFAULT gen_random_uuid()::text,
	title text NOT NULL,
	content text,
	"timestamp" timestamptz NOT NULL DEFAULT now(),
	version int NOT NULL DEFAULT 1
);
SET client_min_messages = warning;
SELECT rtsync.publish('data_items', type_name => 'DataItem', version_column => 'version');
