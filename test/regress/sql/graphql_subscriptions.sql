-- GraphQL subscriptions: the generated schema, validation, planning, filters,
-- index keys and projection, on real stream records from an rtsync slot.
-- Its own schema: earlier tests leave public.data_items published as DataItem.
\pset format unaligned
SET timezone = 'UTC';
CREATE SCHEMA gql;
SET search_path = gql, public;
SELECT 'init' FROM pg_create_logical_replication_slot('gql', 'rtsync');

-- the recipe's table
CREATE TABLE data_items (
	id text PRIMARY KEY,
	title text NOT NULL,
	content text,
	"timestamp" timestamptz NOT NULL,
	version int NOT NULL DEFAULT 1
);
SELECT rtsync.publish('data_items', type_name => 'Item');

-- every scalar kind; a domain over numeric; a column GraphQL cannot name
CREATE DOMAIN score AS numeric;
CREATE DOMAIN score_list AS score[];
CREATE TABLE measurements (
	m_id int8 PRIMARY KEY,
	i4 int4, i2 int2, n score, f float8, b bool NOT NULL DEFAULT false,
	at timestamptz, d date, t time, doc jsonb,
	tags text[], nums int4[], scores score_list,
	label varchar(20), u uuid, o oid,
	"Bad Name" text, dropped int
);
ALTER TABLE measurements DROP COLUMN dropped;
SELECT rtsync.publish('measurements', 'NEW_IMAGE');

-- a two-column key, keys only
CREATE TABLE order_lines (order_id int, line int, qty int, PRIMARY KEY (order_id, line));
SELECT rtsync.publish('order_lines', 'KEYS_ONLY');

-- no primary key: the replica identity index is the key (one text column: ID)
CREATE TABLE tags (name text NOT NULL, uses int);
CREATE UNIQUE INDEX tags_name ON tags (name);
ALTER TABLE tags REPLICA IDENTITY USING INDEX tags_name;
SELECT rtsync.publish('tags', 'NEW_IMAGE');

-- a type name that the generated schema itself uses: left out of it
CREATE TABLE strs (id int PRIMARY KEY);
SELECT rtsync.publish('strs', type_name => 'String');
-- publish() refuses it; written to the catalogue directly, it is left out
SELECT rtsync._store_publication('strs', 'NEW_AND_OLD_IMAGES', 'String');

-- the schema description, one row per column (relid differs between runs)
SELECT t->>'type' AS type, t->>'table' AS table, t->>'view_type' AS view_type,
	   c->>'name' AS column, (c->>'type_oid')::regtype AS type_oid, c->'is_array' AS is_array,
	   c->'not_null' AS not_null, c->'is_key' AS is_key
FROM jsonb_array_elements(rtsync._schema_description()) WITH ORDINALITY AS tt(t, i),
	 jsonb_array_elements(t->'columns') WITH ORDINALITY AS cc(c, j)
WHERE t->>'table' LIKE 'gql.%'
ORDER BY i, j;
SELECT DISTINCT jsonb_typeof(t->'relid') AS relid, (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(t) k) AS keys
FROM jsonb_array_elements(rtsync._schema_description()) t;
SELECT count(*) FROM jsonb_array_elements(rtsync._schema_description()) t
WHERE t->>'table' LIKE 'gql.%' AND (t->>'relid')::oid = (t->>'table')::regclass;

-- real stream records to deliver
INSERT INTO data_items VALUES
	('item-1', 'Item 1', 'first draft', '2024-01-01 10:00:00+00', 1),
	('item-2', 'Item 2', 'hello world', '2024-06-15 12:30:00.5+00', 2),
	('other-3', 'Other', NULL, '2025-01-01 00:00:00+00', 10);
UPDATE data_items SET content = 'edited', version = 3 WHERE id = 'item-2';
DELETE FROM data_items WHERE id = 'item-1';
INSERT INTO measurements VALUES
	(1, 5, 1, 12345678901234567890.123456789, 1.5, true, '2024-01-01 00:00:00+00',
	 '2024-01-01', '08:30', '{"a": 1, "b": [1, 2]}', '{red,green}', '{1,2,3}', '{1.50,2}',
	 'alpha', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 42, 'x'),
	(9223372036854775807, -3, NULL, 2.50, 'NaN', false, '2024-06-30 23:59:59.999+00',
	 '2024-06-30', '23:59:59', '"just a string"', '{blue}', '{}', NULL,
	 'beta', NULL, NULL, NULL),
	(3, NULL, NULL, 0.1, -0.25, false, NULL, NULL, NULL, '{"b": [1, 2], "a": 1}',
	 '{red,NULL}', '{4,5}', '{}', 'alphabet', NULL, 7, NULL);
UPDATE measurements SET i4 = 7 WHERE m_id = 3;
DELETE FROM measurements WHERE m_id = 1;
INSERT INTO order_lines VALUES (10, 1, 5);
DELETE FROM order_lines;
INSERT INTO tags VALUES ('pg', 1);

CREATE TABLE recs (n serial PRIMARY KEY, rec jsonb);
INSERT INTO recs (rec) SELECT c::jsonb FROM changes('gql') c;
SELECT n, rec->>'eventName' AS event, rec->>'tableName' AS table, rec->'dynamodb'->'Keys' AS keys
FROM recs ORDER BY n;
SELECT rec->'dynamodb'->'NewImage' FROM recs WHERE n = 6;

-- Plans a subscription: its table, event, document key, filter and index, or errors.
CREATE FUNCTION plan(doc text, vars jsonb DEFAULT NULL, op text DEFAULT NULL)
RETURNS jsonb LANGUAGE sql AS $$ SELECT rtsync._graphql_plan(doc, vars, op) $$;
-- The payloads a subscription receives for the recorded changes.
CREATE FUNCTION deliver(doc text, vars jsonb DEFAULT NULL)
RETURNS TABLE (n int, payload json) LANGUAGE sql AS $$
	SELECT n, p FROM recs, rtsync._graphql_deliver(doc, vars, rec) p
	WHERE p IS NOT NULL ORDER BY n
$$;
-- Which recorded changes a subscription receives (or its errors).
CREATE FUNCTION matches(doc text, vars jsonb DEFAULT NULL)
RETURNS text LANGUAGE sql AS $$
	SELECT coalesce(
		(SELECT string_agg(DISTINCT e->>'message', ' | ')
		 FROM jsonb_array_elements(rtsync._graphql_plan(doc, vars)->'errors') e),
		(SELECT string_agg(n::text, ',' ORDER BY n) FROM recs
		 WHERE rtsync._graphql_deliver(doc, vars, rec) IS NOT NULL),
		'none')
$$;
-- The same for a filter on creations of measurements (records 6, 7, 8).
CREATE FUNCTION mfilter(filter text)
RETURNS text LANGUAGE sql AS $$
	SELECT matches('subscription { onCreateMeasurement(filter: ' || filter || ') { m_id } }')
$$;

--
-- Plans, document keys and projection
--
SELECT plan('subscription OnCreate { onCreateItem { id title content timestamp version } }');
SELECT * FROM deliver('subscription OnCreate { onCreateItem { id title content timestamp version } }');
-- aliases, __typename, fields in selection order, duplicates merged
SELECT plan('subscription { item: onUpdateItem { v: version id, __typename id t: title } }');
SELECT * FROM deliver('subscription { item: onUpdateItem { v: version id, __typename id t: title } }');
-- fragments and inline fragments: the same payload shape has the same key
SELECT plan('subscription { onUpdateItem { ...F __typename } } fragment F on Item { id ... on Item { title } }')->>'document_key' AS fragments,
	   plan('subscription { onUpdateItem(filter: {version: {gt: 1}}) { id title __typename } }')->>'document_key' AS plain;
SELECT * FROM deliver('subscription S { ... on Subscription { onDeleteItem { ... on Item { ...Keys } content } } } fragment Keys on Item { id version }');
-- @include and @skip, literal and with variables
SELECT * FROM deliver('subscription ($full: Boolean!, $brief: Boolean = true) {
	onDeleteItem { id title @include(if: $full) content @skip(if: $brief) version @skip(if: false) } }',
	'{"full": false}');
SELECT plan('subscription ($full: Boolean!) { onDeleteItem { id ... @include(if: $full) { title content } } }', '{"full": true}')->>'document_key';
-- every scalar: BigInt and BigFloat as strings, AWSJSON as a string of JSON,
-- NaN (no GraphQL Float) as null, lists, oid (a String) as a string
SELECT * FROM deliver('subscription { onCreateMeasurement { m_id i4 i2 n f b at d t doc tags nums scores label u o } }');
-- a delete with only Keys (view type NEW_IMAGE): the other columns are null
SELECT * FROM deliver('subscription { onDeleteMeasurement { m_id i4 label __typename } }');
-- keys only: creations and deletions carry only the key
SELECT * FROM deliver('subscription { onCreateOrderLine { order_id line qty } }');
SELECT * FROM deliver('subscription { onDeleteOrderLine { order_id line qty } }');
-- the replica identity index's single text column is an ID
SELECT * FROM deliver('subscription { onCreateTag(name: "pg") { name uses } }');
SELECT plan('subscription { onCreateTag(name: 5) { name } }')->'index';

--
-- Basic filtering: arguments are equality conditions; null ones are none
--
SELECT matches('subscription { onCreateItem(title: "Item 2") { id } }') AS title,
	   matches('subscription { onCreateItem(id: "item-1", title: "Item 1") { id } }') AS both,
	   matches('subscription { onCreateItem(id: "item-1", title: "Item 2") { id } }') AS neither,
	   matches('subscription { onCreateItem(title: null, content: null) { id } }') AS nulls,
	   matches('subscription { onUpdateItem(version: 3) { id } }') AS version,
	   matches('subscription { onCreateItem(version: 2, filter: {title: {beginsWith: "Item"}}) { id } }') AS with_filter;
SELECT plan('subscription { onCreateMeasurement(m_id: 1, label: "a", f: 1.5, b: true, doc: "{\"a\": 1}") { m_id } }');
-- list columns take no argument
SELECT plan('subscription { onCreateMeasurement(tags: "red") { m_id } }');

--
-- Filter operators on each kind of scalar (records 6, 7, 8 are creations)
--
SELECT i, f AS filter, mfilter(f) FROM (VALUES
	-- Int
	(1, '{i4: {eq: 5}}'), (2, '{i4: {ne: 5}}'), (3, '{i4: {le: -3}}'), (4, '{i4: {lt: 5}}'),
	(5, '{i4: {ge: 5}}'), (6, '{i4: {gt: -3}}'), (7, '{i4: {between: [0, 10]}}'),
	(8, '{i4: {in: [5, -3]}}'), (9, '{i4: {notIn: [5]}}'), (10, '{i4: {attributeExists: true}}'),
	(11, '{i4: {attributeExists: false}}'), (12, '{i4: {contains: 5}}'), (13, '{i4: {notContains: 5}}'),
	(14, '{i2: {eq: 1}}'), (15, '{i4: {in: [null, 5]}}'), (16, '{i4: {notIn: []}}'), (17, '{i4: {in: []}}'),
	-- BigInt: exact beyond a double's precision; int literals or strings
	(20, '{m_id: {eq: "9223372036854775807"}}'), (21, '{m_id: {eq: 9223372036854775807}}'),
	(22, '{m_id: {gt: 9223372036854775806}}'), (23, '{m_id: {lt: 2}}'), (24, '{m_id: {in: ["3", 1]}}'),
	(25, '{m_id: {between: ["2", "9223372036854775806"]}}'),
	-- BigFloat (a domain over numeric): exact, long values arrive as strings
	(30, '{n: {eq: "12345678901234567890.123456789"}}'), (31, '{n: {eq: 12345678901234567890.1234567890}}'),
	(32, '{n: {gt: 12345678901234567890.12345678}}'), (33, '{n: {eq: 2.5}}'), (34, '{n: {between: ["0.1", 2.5]}}'),
	(35, '{n: {lt: 1}}'), (36, '{n: {eq: "NaN"}}'),
	-- Float: NaN is no Float, it behaves as null
	(40, '{f: {eq: 1.5}}'), (41, '{f: {gt: 0}}'), (42, '{f: {lt: 0}}'), (43, '{f: {ne: 1.5}}'),
	(44, '{f: {attributeExists: false}}'), (45, '{f: {ge: -1, le: 2}}'), (46, '{f: {eq: 1}}'),
	-- Boolean
	(50, '{b: {eq: true}}'), (51, '{b: {ne: true}}'), (52, '{b: {in: [false]}}'), (53, '{b: {attributeExists: true}}'),
	-- String (varchar, uuid, oid): bytes order, substring, prefix
	(60, '{label: {eq: "alpha"}}'), (61, '{label: {beginsWith: "alpha"}}'), (62, '{label: {contains: "ph"}}'),
	(63, '{label: {notContains: "bet"}}'), (64, '{label: {lt: "b"}}'), (65, '{label: {ge: "beta"}}'),
	(66, '{label: {between: ["alpha", "alphaz"]}}'), (67, '{label: {in: ["beta", "gamma"]}}'),
	(68, '{u: {eq: "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"}}'), (69, '{o: {eq: "42"}}'), (70, '{o: {gt: "5"}}'),
	(71, '{label: {beginsWith: ""}}'),
	-- AWSDateTime, AWSDate, AWSTime: lexicographic
	(80, '{at: {gt: "2024-03-01T00:00:00Z"}}'), (81, '{at: {le: "2024-01-01T00:00:00Z"}}'),
	(82, '{at: {beginsWith: "2024-06"}}'), (83, '{d: {eq: "2024-06-30"}}'), (84, '{d: {lt: "2024-06-01"}}'),
	(85, '{t: {ge: "12:00"}}'), (86, '{at: {between: ["2024-01-01T00:00:00Z", "2024-12-31T23:59:59+02:00"]}}'),
	-- AWSJSON: jsonb equality
	(90, '{doc: {eq: "{\"b\":[1,2],\"a\":1}"}}'), (91, '{doc: {eq: "\"just a string\""}}'),
	(92, '{doc: {ne: "{\"a\": 1}"}}'), (93, '{doc: {eq: "{\"a\": 1.0, \"b\": [1, 2.00]}"}}'),
	-- lists: contains is membership, other operators compare a list with a scalar
	(100, '{tags: {contains: "red"}}'), (101, '{tags: {notContains: "red"}}'), (102, '{tags: {eq: "red"}}'),
	(103, '{tags: {ne: "red"}}'), (104, '{nums: {contains: 4}}'), (105, '{nums: {contains: 1}}'),
	(106, '{scores: {contains: "1.5"}}'), (107, '{tags: {attributeExists: true}}'),
	-- and, or, several operators and columns in one object
	(110, '{or: [{i4: {eq: 5}}, {label: {eq: "beta"}}]}'),
	(111, '{and: [{b: {eq: false}}, {or: [{i4: {eq: -3}}, {i4: {attributeExists: false}}]}]}'),
	(112, '{i4: {ge: 0, le: 10}, label: {beginsWith: "a"}}'),
	(113, '{or: [{and: [{label: {beginsWith: "alpha"}}, {n: {lt: 1}}]}, {m_id: {eq: 9223372036854775807}}]}'),
	(114, '{label: {beginsWith: "alpha"}, or: [{f: {gt: 0}}, {f: {lt: -1}}]}'),
	(115, '{or: [{i4: {eq: 5}}, {}]}'),
	-- null imposes nothing
	(120, '{}'), (121, 'null'), (122, '{i4: null}'), (123, '{i4: {eq: null}}'), (124, '{or: []}'),
	(125, '{and: null, or: [null]}')
) v(i, f) ORDER BY i;

-- the compiled filters, in AppSync's shape (an OR of ANDs)
SELECT plan('subscription { onCreateMeasurement(filter: {and: [{or: [{i4: {eq: 1}}, {i4: {eq: 2}}]}, {or: [{label: {eq: "a"}}, {label: {in: ["b", "c"]}}]}]}, b: true) { m_id } }')->>'filter';
SELECT plan('subscription { onCreateMeasurement(filter: {or: [{i4: {eq: 1}}, {}]}) { m_id } }')->>'filter';

-- limits (AppSync's)
SELECT i, f AS filter, mfilter(f) FROM (VALUES
	(1, '{i4: {in: [1, 2, 3, 4, 5, 6]}}'),
	(2, '{i4: {notIn: [1, 2, 3, 4, 5, 6]}}'),
	(3, '{i4: {between: [1, 2, 3]}}'),
	(4, '{i4: {between: [1]}}'),
	(5, '{i4: {ge: 1, le: 2, ne: 3}, label: {ne: "a", ge: "b", le: "z"}}'),
	(6, '{or: [{i4: {eq: 1}}, {i4: {eq: 2}}, {i4: {eq: 3}}, {i4: {eq: 4}}, {i4: {eq: 5}}, {i4: {eq: 6}}, {i4: {eq: 7}}, {i4: {eq: 8}}, {i4: {eq: 9}}, {i4: {eq: 10}}, {i4: {eq: 11}}]}'),
	(7, '{and: [{or: [{i4: {eq: 1}}, {i4: {eq: 2}}, {i4: {eq: 3}}, {i4: {eq: 4}}]}, {or: [{i2: {eq: 1}}, {i2: {eq: 2}}, {i2: {eq: 3}}]}]}'),
	(8, '{and: {and: {and: {and: {and: {i4: {eq: 1}}}}}}}'),
	(9, '{and: {and: {and: {and: {i4: {eq: 5}}}}}}'),
	(10, '{i4: {in: [1, 2, 3, 4, 5]}, or: [{b: {eq: true}}, {b: {eq: false}}, {f: {gt: 0}}, {f: {lt: 0}}, {f: {eq: 0}}, {i2: {eq: 1}}, {i2: {eq: 2}}, {i2: {eq: 3}}, {i2: {eq: 4}}, {i2: {eq: 5}}]}')
) v(i, f) ORDER BY i;
SELECT plan('subscription { onCreateMeasurement(filter: {i4: {in: [1, 2, 3, 4, 5, 6]}}) { m_id } }');

--
-- Index keys: the value a filter pins a column to, and the same key from a record
--
SELECT i, plan(doc)->'index' AS index FROM (VALUES
	(1, 'subscription { onUpdateItem(filter: {id: {eq: "item-2"}}) { id } }'),
	(2, 'subscription { onUpdateItem(id: "item-2") { id } }'),
	(3, 'subscription { onUpdateItem(filter: {title: {eq: "x"}, id: {in: ["item-2"]}}) { id } }'),
	(4, 'subscription { onUpdateItem(filter: {or: [{id: {eq: "a"}, version: {eq: 1}}, {version: {eq: 1}, title: {eq: "t"}}]}) { id } }'),
	(5, 'subscription { onUpdateItem(filter: {or: [{id: {eq: "a"}}, {id: {eq: "b"}}]}) { id } }'),
	(6, 'subscription { onUpdateItem(filter: {id: {in: ["a", "b"]}}) { id } }'),
	(7, 'subscription { onUpdateItem(filter: {id: {ne: "a"}}) { id } }'),
	(8, 'subscription { onCreateMeasurement(filter: {n: {eq: 2.50}}) { m_id } }'),
	(9, 'subscription { onCreateMeasurement(filter: {m_id: {eq: "0009"}}) { m_id } }'),
	(10, 'subscription { onCreateMeasurement(filter: {f: {eq: 1.50}}, b: false) { m_id } }'),
	(11, 'subscription { onCreateMeasurement(filter: {doc: {eq: "1"}}) { m_id } }'),
	(12, 'subscription { onCreateMeasurement(filter: {tags: {eq: "red"}}) { m_id } }'),
	(13, 'subscription { onCreateMeasurement(filter: {o: {eq: "42"}}) { m_id } }')
) v(i, doc) ORDER BY i;
SELECT n, rtsync._graphql_index_key(rec, 'id') AS id, rtsync._graphql_index_key(rec, 'version') AS version
FROM recs WHERE rec->>'tableName' = 'gql.data_items' ORDER BY n;
SELECT n, rtsync._graphql_index_key(rec, 'm_id') AS m_id, rtsync._graphql_index_key(rec, 'n') AS n_,
	   rtsync._graphql_index_key(rec, 'f') AS f, rtsync._graphql_index_key(rec, 'b') AS b,
	   rtsync._graphql_index_key(rec, 'o') AS o, rtsync._graphql_index_key(rec, 'doc') AS doc,
	   rtsync._graphql_index_key(rec, 'tags') AS tags
FROM recs WHERE rec->>'tableName' = 'gql.measurements' ORDER BY n;

--
-- Variables
--
SELECT * FROM deliver('subscription ($id: ID!) { onUpdateItem(id: $id) { id version } }', '{"id": "item-2"}');
SELECT matches('subscription ($t: String = "Item 1") { onCreateItem(title: $t) { id } }') AS default_value,
	   matches('subscription ($t: String = "Item 1") { onCreateItem(title: $t) { id } }', '{"t": "Other"}') AS given,
	   matches('subscription ($t: String = "Item 1") { onCreateItem(title: $t) { id } }', '{"t": null}') AS given_null,
	   matches('subscription ($t: String) { onCreateItem(title: $t) { id } }') AS absent;
SELECT matches('subscription ($f: ModelSubscriptionMeasurementFilterInput) { onCreateMeasurement(filter: $f) { m_id } }',
			   '{"f": {"or": [{"m_id": {"eq": "9223372036854775807"}}, {"n": {"gt": 1e10}}]}}') AS filter_variable,
	   matches('subscription ($v: [Int]) { onCreateMeasurement(filter: {i4: {in: $v}}) { m_id } }', '{"v": 5}') AS list_of_one,
	   matches('subscription ($v: Int) { onCreateMeasurement(filter: {i4: {in: [$v, -3]}}) { m_id } }', '{"v": 5.0}') AS item_variable,
	   matches('subscription ($v: Int) { onCreateMeasurement(filter: {i4: {in: [$v, -3]}}) { m_id } }') AS item_absent,
	   matches('subscription ($v: BigInt!, $w: BigFloat) { onCreateMeasurement(filter: {m_id: {ge: $v}, n: {ne: $w}}) { m_id } }',
			   '{"v": "3", "w": 2.5}') AS big,
	   matches('subscription ($e: Boolean) { onCreateMeasurement(filter: {i4: {attributeExists: $e}}) { m_id } }', '{"e": false}') AS boolean,
	   matches('subscription ($j: AWSJSON, $d: AWSDate) { onCreateMeasurement(filter: {doc: {eq: $j}, d: {ge: $d}}) { m_id } }',
			   '{"j": "{\"a\":1,\"b\":[1,2]}", "d": "2024-01-01"}') AS aws;
-- a list from a variable is held to the limits too
SELECT plan('subscription ($v: [Int]) { onCreateMeasurement(filter: {i4: {in: $v}}) { m_id } }', '{"v": [1, 2, 3, 4, 5, 6]}');
-- wrong values
SELECT i, plan(doc, vars::jsonb)->'errors' AS errors FROM (VALUES
	(1, 'subscription ($v: Int) { onCreateMeasurement(i4: $v) { m_id } }', '{"v": "abc"}'),
	(2, 'subscription ($v: Int) { onCreateMeasurement(i4: $v) { m_id } }', '{"v": 1.5}'),
	(3, 'subscription ($v: Int) { onCreateMeasurement(i4: $v) { m_id } }', '{"v": 3000000000}'),
	(4, 'subscription ($v: Int!) { onCreateMeasurement(i4: $v) { m_id } }', '{}'),
	(5, 'subscription ($v: Int!) { onCreateMeasurement(i4: $v) { m_id } }', '{"v": null}'),
	(6, 'subscription ($f: ModelSubscriptionMeasurementFilterInput) { onCreateMeasurement(filter: $f) { m_id } }',
		'{"f": {"label": {"eq": 1}}}'),
	(7, 'subscription ($f: ModelSubscriptionMeasurementFilterInput) { onCreateMeasurement(filter: $f) { m_id } }',
		'{"f": {"or": [{"i4": {"eq": 1}}, {"nope": {"eq": 1}}]}}'),
	(8, 'subscription ($f: ModelSubscriptionMeasurementFilterInput) { onCreateMeasurement(filter: $f) { m_id } }',
		'{"f": {"i4": {"in": [1, "x"]}}}'),
	(9, 'subscription ($f: ModelSubscriptionMeasurementFilterInput) { onCreateMeasurement(filter: $f) { m_id } }',
		'{"f": "i4 = 1"}'),
	(10, 'subscription ($v: BigInt) { onCreateMeasurement(m_id: $v) { m_id } }', '{"v": "12.5"}'),
	(11, 'subscription ($v: AWSJSON) { onCreateMeasurement(doc: $v) { m_id } }', '{"v": "{not json"}'),
	(12, 'subscription ($v: AWSDateTime) { onCreateMeasurement(at: $v) { m_id } }', '{"v": "yesterday"}'),
	(13, 'subscription ($v: Int) { onCreateMeasurement(i4: $v) { m_id } }', '[1]'),
	(14, 'subscription ($v: ID) { onCreateItem(id: $v) { id } }', '{"v": true}')
) v(i, doc, vars) ORDER BY i;
SELECT matches('subscription ($v: ID) { onCreateItem(id: $v) { id } }', '{"v": 5}') AS id_from_int,
	   matches('subscription ($v: Int) { onCreateMeasurement(i4: $v) { m_id } }', 'null') AS null_variables;

--
-- Validation errors, with locations
--
SELECT i, plan(doc)->'errors' AS errors FROM (VALUES
	-- syntax
	(1, 'subscription { onCreateItem { id }'),
	-- operations
	(2, '{ onCreateItem { id } }'),
	(3, 'mutation M { createItem { id } }'),
	(4, 'subscription A { onCreateItem { id } } subscription B { onUpdateItem { id } }'),
	(5, 'subscription A { onCreateItem { id } } subscription A { onUpdateItem { id } }'),
	(6, 'subscription { onCreateItem { id } } subscription B { onUpdateItem { id } }'),
	-- root fields
	(7, 'subscription S { onCreateItem { id } onUpdateItem { id } }'),
	(8, 'subscription { __typename }'),
	(9, 'subscription { onCreateNothing { id } }'),
	(10, 'subscription { onCreateItem }'),
	(11, 'subscription { onCreateItem @skip(if: true) { id } }'),
	-- fields
	(12, 'subscription { onCreateItem { id nope } }'),
	(13, 'subscription { onCreateItem { id(x: 1) title { a } __typename(y: 2) } }'),
	(14, 'subscription { onCreateMeasurement { tags { x } } }'),
	(15, 'subscription { onCreateItem { t: title t: id } }'),
	(16, 'subscription { a: onCreateItem(title: "a") { id } a: onCreateItem(title: "b") { id } }'),
	(17, 'subscription { a: onCreateItem { id } a: onUpdateItem { id } }'),
	-- arguments and values
	(18, 'subscription { onCreateItem(nope: 1, title: "a", title: "b") { id } }'),
	(19, 'subscription { onCreateItem(version: "abc", title: 5, id: 1.5) { id } }'),
	(20, 'subscription { onCreateItem(version: 3000000000, title: RED) { id } }'),
	(21, 'subscription { onCreateItem(filter: "title = x") { id } }'),
	(22, 'subscription { onCreateItem(filter: {nope: {eq: 1}, title: {eq: "a", eq: "b"}}) { id } }'),
	(23, 'subscription { onCreateMeasurement(filter: {b: {le: true}, doc: {beginsWith: "{"}, i4: {beginsWith: "1"}}) { m_id } }'),
	(24, 'subscription { onCreateMeasurement(filter: {i4: {in: [1, "2"]}, f: {eq: 1e400}, doc: {eq: "{x"}}) { m_id } }'),
	(25, 'subscription { onCreateMeasurement(filter: {at: {eq: "2024-13-01T00:00:00Z"}, d: {eq: "2024-01-01T00:00"}, t: {eq: "25:00"}}) { m_id } }'),
	(26, 'subscription { onCreateMeasurement(filter: {i4: {attributeExists: "yes"}, and: {or: 5}}) { m_id } }'),
	-- variables
	(27, 'subscription { onCreateItem(title: $t) { id } }'),
	(28, 'subscription S($t: String, $u: Int) { onCreateItem(title: $t) { id } }'),
	(29, 'subscription ($t: String, $t: String) { onCreateItem(title: $t) { id } }'),
	(30, 'subscription ($t: Nope, $d: Item, $l: [Subscription!]) { onCreateItem(title: $t) { id } }'),
	(31, 'subscription ($v: Int) { onCreateItem(title: $v) { id } }'),
	(32, 'subscription ($v: Boolean) { onCreateItem { id @include(if: $v) } }'),
	(33, 'subscription ($v: Int = "x", $w: [Int] = [1, "y"]) { onCreateItem(version: $v) { id } }'),
	(34, 'subscription ($v: String = $w) { onCreateItem(title: $v) { id } }'),
	(35, 'subscription ($f: ModelSubscriptionStringInput) { onCreateItem(filter: {title: $f, id: $f}) { id } }'),
	-- fragments
	(36, 'subscription { onCreateItem { ...Nope } }'),
	(37, 'subscription { onCreateItem { id } } fragment Unused on Item { id }'),
	(38, 'subscription { onCreateItem { ...A } } fragment A on Item { id ...B } fragment B on Item { ...C } fragment C on Item { ...A }'),
	(39, 'subscription { onCreateItem { ...A } } fragment A on Item { ...A }'),
	(40, 'subscription { onCreateItem { ...M } } fragment M on Measurement { m_id }'),
	(41, 'subscription { onCreateItem { ...N } } fragment N on Nope { id }'),
	(42, 'subscription { onCreateItem { ...I } } fragment I on Int { id }'),
	(43, 'subscription { onCreateItem { ...F } } fragment F on Item { id } fragment F on Item { title }'),
	(44, 'subscription { onCreateItem { ... on Measurement { m_id } ... on Nope { x } ... on String { y } } }'),
	(45, 'subscription { ...R } fragment R on Item { id }'),
	-- directives
	(46, 'subscription @include(if: true) { onCreateItem { id @foo } }'),
	(47, 'subscription { onCreateItem { id @include title @skip(if: "yes") content @skip(if: true, also: 1) } }'),
	(48, 'subscription { onCreateItem { id @skip(if: false) @skip(if: true) } }'),
	(49, 'subscription { onCreateItem { ...F } } fragment F on Item @skip(if: true) { id }'),
	-- a table left out of the schema
	(50, 'subscription { onCreateString { id } }')
) v(i, doc) ORDER BY i;
-- operation names pick the operation; only subscriptions are planned
SELECT plan('query Q { x } subscription S { onCreateItem { id } }', NULL, 'S')->>'field' AS picked,
	   plan('query Q { x } subscription S { onCreateItem { id } }', NULL, 'Q')->'errors' AS query,
	   plan('query Q { x } subscription S { onCreateItem { id } }', NULL, 'Nope')->'errors' AS unknown;
-- several errors at once, each with its location
SELECT jsonb_pretty(plan('subscription S($unused: Int) {
  onCreateItem(filter: {title: {eq: 1}}, nope: 2) {
    id
    missing
  }
}'));

--
-- Clean up
--
SELECT 'stop' FROM pg_drop_replication_slot('gql');
DROP FUNCTION plan(text, jsonb, text), deliver(text, jsonb), matches(text, jsonb), mfilter(text);
DROP TABLE recs, data_items, measurements, order_lines, tags, strs;
DROP DOMAIN score_list;
DROP DOMAIN score;
DROP SCHEMA gql;
RESET search_path;
RESET timezone;
