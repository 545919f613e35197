// GraphQL over HTTP: the recipe's curl verbatim, every operation, filters in
// SQL, pagination under concurrent writes, optimistic versioning,
// privileges and row-level security, injection attempts and every class of
// error. Mutations made here reach subscribers through the stream.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { sql, transportClient, collect, apiKey, httpUrl, port, streamBarrier, closeBarrier, holdLock } from '../lib/env.js';

// POST /graphql; returns { status, body } (body parsed when JSON)
async function post(query, variables, { key = apiKey, headers = {}, raw } = {}) {
  const res = await fetch(httpUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { 'x-api-key': key } : {}), ...headers },
    body: raw ?? JSON.stringify({ query, variables }),
  });
  const text = await res.text();
  let body = text;
  try { body = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, body, headers: res.headers };
}

async function gql(query, variables, options) {
  const { status, body } = await post(query, variables, options);
  assert.equal(status, 200, JSON.stringify(body));
  return body;
}

before(() => {
  sql(`CREATE TABLE http_things (
         id int PRIMARY KEY, name text NOT NULL, qty int, price numeric, tags text[],
         big bigint, doc jsonb, born date, seen timestamptz, v int NOT NULL DEFAULT 1,
         CHECK (qty IS NULL OR qty >= 0))`);
  sql(`CREATE TABLE http_owners (id int PRIMARY KEY)`);
  sql(`ALTER TABLE http_things ADD COLUMN owner int REFERENCES http_owners`);
  sql(`SET client_min_messages = warning; SELECT rtsync.publish('http_things', type_name => 'Thing', version_column => 'v')`);
});

after(async () => {
  await closeBarrier();
  sql(`DELETE FROM data_items WHERE id LIKE 'http-%' OR title LIKE 'http %' OR title = 'Test Item'`);
  sql(`SELECT rtsync.unpublish('http_things')`);
  sql(`DROP TABLE http_things, http_owners`);
  sql(`DROP TABLE IF EXISTS http_secrets`);
  sql(`DROP OWNED BY rtsync_http_reader; DROP ROLE IF EXISTS rtsync_http_reader`);
});

test("the recipe's curl, verbatim, creates an item and every subscriber gets onCreateDataItem", async () => {
  const clients = [transportClient(), transportClient()];
  const inboxes = clients.map((c) => collect(c, { query: 'subscription { onCreateDataItem { id title content timestamp version } }' }));
  await Promise.all(clients.map((c) => c.sync()));
  const KEY = apiKey;
  const out = execFileSync('curl', ['-s', '-X', 'POST', '-H', 'Content-Type: application/json', '-H', `x-api-key: ${KEY}`,
    '-d', '{"query":"mutation CreateItem($input: CreateDataItemInput!) { createDataItem(input: $input) { id title content timestamp version } }","variables":{"input":{"title":"Test Item","content":"Testing real-time sync"}}}',
    `http://127.0.0.1:${port}/graphql`], { encoding: 'utf8' });
  const item = JSON.parse(out).data.createDataItem;
  assert.match(item.id, /^[0-9a-f-]{36}$/);
  assert.equal(item.title, 'Test Item');
  assert.equal(item.content, 'Testing real-time sync');
  assert.match(item.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  assert.equal(item.version, 1);
  for (const inbox of inboxes) {
    for (;;) {
      const { next } = await inbox.next();
      if (next.data.onCreateDataItem.id === item.id) {
        assert.deepEqual(next.data.onCreateDataItem, item);  // the same values, the same shape
        break;
      }
    }
  }
  await Promise.all(clients.map((c) => c.dispose()));
});

test('get, list, create, update and delete with aliases, fragments, variables and several root fields', async () => {
  await streamBarrier();  // the worker knows the Thing table
  const created = await gql(`mutation M($a: CreateThingInput!, $b: CreateThingInput!) {
      first: createThing(input: $a) { ...T }
      second: createThing(input: $b) { id name tags big price doc born seen }
    }
    fragment T on Thing { id name qty __typename v }`,
  { a: { id: 1, name: "one", qty: 5 },
    b: { id: 2, name: "two", tags: ['x', 'y'], big: '9007199254740993', price: '12.50', doc: '{"a":[1,2]}', born: "2026-11-25", seen: '2026-11-25T10:00:00Z' } });
  assert.deepEqual(created, { data: {
    first: { id: 1, name: "one", qty: 5, __typename: "Thing", v: 1 },
    second: { id: 2, name: "two", tags: ['x', 'y'], big: '9007199254740993', price: '12.50', doc: '{"a": [1, 2]}', born: "2026-11-25", seen: '2026-11-25T10:00:00Z' },
  } });

  const got = await gql(`query ($id: Int!, $skip: Boolean = true) {
      getThing(id: $id) { name ... on Thing { qty } v @skip(if: $skip) }
      missing: getThing(id: 99) { name }
      __typename
    }`, { id: 1 });
  assert.deepEqual(got, { data: { getThing: { name: "one", qty: 5 }, missing: null, __typename: "Query" } });

  const updated = await gql(`mutation { updateThing(input: {id: 1, qty: 6, expectedVersion: 1}) { id qty v } }`);
  assert.deepEqual(updated.data.updateThing, { id: 1, qty: 6, v: 2 });
  const deleted = await gql(`mutation { deleteThing(input: {id: 2}) { id name } }`);
  assert.deepEqual(deleted.data.deleteThing, { id: 2, name: "two" });
  assert.equal(sql(`SELECT count(*) FROM http_things`), '1');

  const list = await gql(`{ listThings { __typename items { id } nextToken } }`);
  assert.deepEqual(list.data.listThings, { __typename: "ModelThingConnection", items: [{ id: 1 }], nextToken: null });
  sql(`DELETE FROM http_things`);
});

test('every filter operator and and/or/not run in SQL', async () => {
  sql(`INSERT INTO http_things (id, name, qty, tags) VALUES
        (1, 'apple', 1, '{red,fruit}'), (2, 'banana', 2, '{yellow,fruit}'), (3, 'carrot', 3, '{orange}'),
        (4, 'date', NULL, NULL), (5, 'eggplant', 5, '{purple}')`);
  const ids = async (filter) => (await gql(`query ($f: ModelThingFilterInput) { listThings(filter: $f) { items { id } } }`, { f: filter }))
    .data.listThings.items.map((i) => i.id);
  assert.deepEqual(await ids({ qty: { eq: 2 } }), [2]);
  assert.deepEqual(await ids({ qty: { ne: 2 } }), [1, 3, 4, 5]);  // ne also matches a null, as AppSync's
  assert.deepEqual(await ids({ qty: { le: 2 } }), [1, 2]);
  assert.deepEqual(await ids({ qty: { lt: 2 } }), [1]);
  assert.deepEqual(await ids({ qty: { ge: 3 } }), [3, 5]);
  assert.deepEqual(await ids({ qty: { gt: 3 } }), [5]);
  assert.deepEqual(await ids({ name: { contains: 'an' } }), [2, 5]);
  assert.deepEqual(await ids({ name: { notContains: 'an' } }), [1, 3, 4]);
  assert.deepEqual(await ids({ tags: { contains: 'fruit' } }), [1, 2]);
  assert.deepEqual(await ids({ qty: { between: [2, 3] } }), [2, 3]);
  assert.deepEqual(await ids({ name: { beginsWith: 'ca' } }), [3]);
  assert.deepEqual(await ids({ id: { in: [1, 3, 9] } }), [1, 3]);
  assert.deepEqual(await ids({ id: { notIn: [1, 3] } }), [2, 4, 5]);
  assert.deepEqual(await ids({ qty: { attributeExists: false } }), [4]);
  assert.deepEqual(await ids({ qty: { attributeExists: true, lt: 3 } }), [1, 2]);
  assert.deepEqual(await ids({ or: [{ id: { eq: 1 } }, { name: { eq: 'date' } }] }), [1, 4]);
  assert.deepEqual(await ids({ and: [{ qty: { gt: 1 } }, { qty: { lt: 5 } }] }), [2, 3]);
  assert.deepEqual(await ids({ not: { qty: { gt: 1 } } }), [1, 4]);
  // a bad between is the client's error, reported with its location
  const bad = await gql(`{ listThings(filter: {qty: {between: [1]}}) { items { id } } }`);
  assert.equal(bad.data, null);
  assert.match(bad.errors[0].message, /between takes exactly two values/);
  sql(`DELETE FROM http_things`);
});

test('pagination: keyset pages are stable under concurrent inserts and deletes', async () => {
  sql(`INSERT INTO http_things (id, name) SELECT g * 10, 'row ' || g FROM generate_series(1, 20) g`);
  const seen = [];
  let token = null;
  let pages = 0;
  do {
    const page = await gql(`query ($t: String) { listThings(limit: 3, nextToken: $t) { items { id } nextToken } }`, { t: token });
    seen.push(...page.data.listThings.items.map((i) => i.id));
    token = page.data.listThings.nextToken;
    // between pages: rows appear before and after the cursor, and a row not yet read goes away
    sql(`INSERT INTO http_things (id, name) VALUES (${1000 + pages}, 'late'), (${pages + 1}, 'early')`);
    if (pages === 2) sql(`DELETE FROM http_things WHERE id = 150`);
    pages++;
    assert.ok(pages < 50, 'pagination must end');
  } while (token);
  // every row that existed throughout is there once, in key order, no duplicates
  const stable = Array.from({ length: 20 }, (_, i) => (i + 1) * 10).filter((id) => id !== 150);
  assert.deepEqual(seen.filter((id) => id % 10 === 0 && id < 1000), stable);
  assert.equal(new Set(seen).size, seen.length);
  assert.deepEqual([...seen].sort((a, b) => a - b), seen);
  const bad = await gql(`{ listThings(nextToken: "not a token") { items { id } } }`);
  assert.match(bad.errors[0].message, /Invalid nextToken/);
  sql(`DELETE FROM http_things`);
});

test('optimistic versioning: a stale expectedVersion is ConflictUnhandled with the current version', async () => {
  await gql(`mutation { createThing(input: {id: 7, name: "seven"}) { v } }`);
  await gql(`mutation { updateThing(input: {id: 7, name: "seven!", expectedVersion: 1}) { v } }`);
  const stale = await gql(`mutation { updateThing(input: {id: 7, name: "lost", expectedVersion: 1}) { v name } }`);
  assert.deepEqual(stale.data, { updateThing: null });
  assert.equal(stale.errors[0].errorType, 'ConflictUnhandled');
  assert.deepEqual(stale.errors[0].errorInfo, { currentVersion: 2 });
  assert.deepEqual(stale.errors[0].path, ['updateThing']);
  assert.equal(sql(`SELECT name FROM http_things WHERE id = 7`), 'seven!');
  const del = await gql(`mutation { deleteThing(input: {id: 7, expectedVersion: 1}) { id } }`);
  assert.equal(del.errors[0].errorType, 'ConflictUnhandled');
  // concurrent updates expecting the same version: exactly one wins
  const racers = await Promise.all([1, 2, 3, 4].map((n) =>
    gql(`mutation { updateThing(input: {id: 7, qty: ${n}, expectedVersion: 2}) { v } }`)));
  assert.equal(racers.filter((r) => r.data.updateThing?.v === 3).length, 1);
  assert.equal(racers.filter((r) => r.errors?.[0]?.errorType === 'ConflictUnhandled').length, 3);
  sql(`DELETE FROM http_things`);
});

test('database errors map to useful error types, and a failed mutation rolls the request back', async () => {
  const dup = await gql(`mutation { a: createThing(input: {id: 1, name: "a"}) { id } b: createThing(input: {id: 1, name: "b"}) { id } }`);
  assert.deepEqual(dup.data, { a: null, b: null });
  assert.deepEqual(dup.errors.map((e) => e.errorType), ['RolledBack', 'UniqueViolation']);
  assert.equal(sql(`SELECT count(*) FROM http_things`), '0');
  const check = await gql(`mutation { createThing(input: {id: 1, name: "a", qty: -1}) { id } }`);
  assert.equal(check.errors[0].errorType, 'CheckViolation');
  const fk = await gql(`mutation { createThing(input: {id: 1, name: "a", owner: 42}) { id } }`);
  assert.equal(fk.errors[0].errorType, 'ForeignKeyViolation');
  const notNull = await gql(`mutation { createThing(input: {id: 1, name: null}) { id } }`);
  assert.equal(notNull.data, null);  // refused by validation: name is String!
  assert.match(notNull.errors[0].message, /String!/);
  // a NOT NULL column with a default is optional, but null is the database's to refuse
  const nullDefault = await gql(`mutation { createDataItem(input: {title: "http null", timestamp: null}) { id } }`);
  assert.equal(nullDefault.errors[0].errorType, 'NotNullViolation');
  const badDate = await gql(`mutation { createThing(input: {id: 1, name: "a", born: "yesterday-ish"}) { id } }`);
  assert.ok(['InvalidInput', 'ValidationError'].includes(badDate.errors[0].errorType), JSON.stringify(badDate));
  const missing = await gql(`mutation { updateThing(input: {id: 404, name: "x"}) { id } }`);
  assert.deepEqual(missing.data, { updateThing: null });
  assert.equal(missing.errors[0].errorType, 'NotFound');
});

test('values and names cannot inject SQL', async () => {
  const evil = `'); DROP TABLE http_things; --`;
  const made = await gql(`mutation ($n: String!) { createThing(input: {id: 66, name: $n}) { name } }`, { n: evil });
  assert.equal(made.data.createThing.name, evil);
  const found = await gql(`query ($n: String) { listThings(filter: {name: {eq: $n}}) { items { id } } }`, { n: evil });
  assert.deepEqual(found.data.listThings.items, [{ id: 66 }]);
  const like = await gql(`{ listThings(filter: {name: {beginsWith: "%"}}) { items { id } } }`);
  assert.deepEqual(like.data.listThings.items, []);
  const field = await gql(`{ listThings(filter: {name_or_1_eq_1: {eq: "x"}}) { items { id } } }`);
  assert.equal(field.data, null);
  assert.match(field.errors[0].message, /is not defined by type "ModelThingFilterInput"/);
  const alias = await gql(`{ listThings { items { "x": id } } }`);
  assert.equal(alias.data, null);
  assert.equal(sql(`SELECT count(*) FROM http_things`), '1');
  sql(`DELETE FROM http_things`);
});

test('privileges and row-level security apply as the key\'s role', async () => {
  sql(`DROP ROLE IF EXISTS rtsync_http_reader; CREATE ROLE rtsync_http_reader`);
  sql(`CREATE TABLE http_secrets (id int PRIMARY KEY, owner name NOT NULL DEFAULT current_user, body text)`);
  sql(`ALTER TABLE http_secrets ENABLE ROW LEVEL SECURITY`);
  sql(`CREATE POLICY mine ON http_secrets USING (owner = current_user) WITH CHECK (owner = current_user)`);
  sql(`GRANT SELECT, INSERT ON http_secrets TO rtsync_http_reader`);
  sql(`GRANT SELECT ON data_items TO rtsync_http_reader`);
  sql(`INSERT INTO http_secrets VALUES (1, 'rtsync_http_reader', 'hers'), (2, 'postgres', 'not hers')`);
  sql(`SET client_min_messages = warning; SELECT rtsync.publish('http_secrets', type_name => 'Secret')`);
  const key = sql(`SELECT rtsync.create_api_key('http reader', role => 'rtsync_http_reader')`);
  await streamBarrier();
  const list = await gql(`{ listSecrets { items { id body } } getSecret(id: 2) { id } }`, undefined, { key });
  assert.deepEqual(list.data, { listSecrets: { items: [{ id: 1, body: "hers" }] }, getSecret: null });
  const write = await gql(`mutation { createSecret(input: {id: 3, owner: "postgres", body: "x"}) { id } }`, undefined, { key });
  assert.equal(write.errors[0].errorType, 'Unauthorized');  // the policy's WITH CHECK
  const denied = await gql(`{ listThings { items { id } } }`, undefined, { key });
  assert.deepEqual(denied.data, { listThings: null });
  assert.equal(denied.errors[0].errorType, 'Unauthorized');
  assert.match(denied.errors[0].message, /Not Authorized to access listThings on type Query/);
  const mutate = await gql(`mutation { createDataItem(input: {title: "http no"}) { id } }`, undefined, { key });
  assert.equal(mutate.errors[0].errorType, 'Unauthorized');
  sql(`SELECT rtsync.unpublish('http_secrets')`);
});

test('mutations reach subscribers through the stream, like any SQL change', async () => {
  const client = transportClient();
  const updates = collect(client, { query: 'subscription { onUpdateDataItem(id: "http-sub") { id title version } }' });
  const deletes = collect(client, { query: 'subscription { onDeleteDataItem(id: "http-sub") { id title } }' });
  await client.sync();
  await gql(`mutation { createDataItem(input: {id: "http-sub", title: "http a"}) { id } }`);
  await gql(`mutation { updateDataItem(input: {id: "http-sub", title: "http b", expectedVersion: 1}) { id } }`);
  await gql(`mutation { deleteDataItem(input: {id: "http-sub"}) { id } }`);
  assert.deepEqual((await updates.next()).next.data, { onUpdateDataItem: { id: 'http-sub', title: "http b", version: 2 } });
  assert.deepEqual((await deletes.next()).next.data, { onDeleteDataItem: { id: 'http-sub', title: "http b" } });
  await client.dispose();
});

test('a mutation waiting on a lock delays no subscriber, and rtsync.statement_timeout ends it', async () => {
  sql(`INSERT INTO data_items (id, title) VALUES ('http-locked', 'http locked')`);
  const lock = await holdLock(`SELECT 1 FROM data_items WHERE id = 'http-locked' FOR UPDATE`);
  const client = transportClient();
  try {
    const inbox = collect(client, { query: 'subscription { onCreateDataItem(title: "http meanwhile") { id } }' });
    await client.sync();
    const started = Date.now();
    const slow = gql(`mutation { updateDataItem(input: {id: "http-locked", content: "x"}) { id } }`);
    // while the mutation waits on the pool, the stream and the loop go on
    sql(`INSERT INTO data_items (id, title) VALUES ('http-meanwhile', 'http meanwhile')`);
    assert.deepEqual((await inbox.next()).next.data, { onCreateDataItem: { id: 'http-meanwhile' } });
    assert.deepEqual(await gql('{ getDataItem(id: "http-meanwhile") { id } }'), { data: { getDataItem: { id: 'http-meanwhile' } } });
    const result = await slow;
    assert.equal(result.errors[0].errorType, 'Timeout', JSON.stringify(result));
    const timeout = sql(`SELECT setting::int FROM pg_settings WHERE name = 'rtsync.statement_timeout'`);
    assert.ok(Date.now() - started >= Number(timeout) - 50);
  } finally {
    await lock.release();
    await client.dispose();
  }
});

test('request errors: keys, bodies, methods, documents', async () => {
  const noKey = await post('{ __typename }', undefined, { key: null });
  assert.equal(noKey.status, 401);
  assert.equal(noKey.body.errors[0].errorType, 'UnauthorizedException');
  const badKey = await post('{ __typename }', undefined, { key: 'da2-not-a-key' });
  assert.equal(badKey.status, 401);
  assert.equal(badKey.body.errors[0].errorType, 'UnauthorizedException');
  const malformed = await post(null, null, { raw: '{"query": ' });
  assert.equal(malformed.status, 400);
  assert.equal(malformed.body.errors[0].errorType, 'MalformedHttpRequestException');
  const noQuery = await post(null, null, { raw: '{"variables": {}}' });
  assert.equal(noQuery.status, 400);
  const huge = await post(null, null, { raw: JSON.stringify({ query: `{ __typename }`, pad: 'x'.repeat(6 * 1024 * 1024) }) });
  assert.equal(huge.status, 413);
  const syntax = await gql('{\n  listThings(');
  assert.equal(syntax.data, null);
  assert.deepEqual(syntax.errors[0].locations, [{ line: 2, column: 14 }]);
  const sub = await gql('subscription { onCreateDataItem { id } }');
  assert.match(sub.errors[0].message, /WebSocket/);
  const get = await fetch(`${httpUrl}?query=${encodeURIComponent('{ getThing(id: 1) { id } }')}`, { headers: { 'x-api-key': apiKey } });
  assert.deepEqual(await get.json(), { data: { getThing: null } });
  const getMutation = await fetch(`${httpUrl}?query=${encodeURIComponent('mutation { deleteThing(input: {id: 1}) { id } }')}`,
    { headers: { 'x-api-key': apiKey } });
  assert.match((await getMutation.json()).errors[0].message, /not allowed in GET/);
  const graphqlBody = await fetch(httpUrl, { method: 'POST', headers: { 'content-type': 'application/graphql', 'x-api-key': apiKey }, body: "{ __typename }" });
  assert.deepEqual(await graphqlBody.json(), { data: { __typename: "Query" } });
  const notFound = await fetch(`http://127.0.0.1:${port}/nope`);
  assert.equal(notFound.status, 404);
  const put = await fetch(httpUrl, { method: 'PUT', body: "x" });
  assert.equal(put.status, 405);
});

test('CORS: preflight and headers for browsers', async () => {
  const pre = await fetch(httpUrl, { method: 'OPTIONS', headers: {
    origin: 'http://localhost:3000', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-api-key' } });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get('access-control-allow-origin'), '*');
  assert.match(pre.headers.get('access-control-allow-methods'), /POST/);
  assert.match(pre.headers.get('access-control-allow-headers'), /x-api-key/);
  const res = await post('{ __typename }', undefined, { headers: { origin: 'http://localhost:3000' } });
  assert.equal(res.headers.get('access-control-allow-origin'), '*');
});

test('the schema as SDL', async () => {
  const res = await fetch(`http://127.0.0.1:${port}/graphql/schema.graphql`, { headers: { 'x-api-key': apiKey } });
  assert.equal(res.status, 200);
  const sdl = await res.text();
  assert.equal(sdl.trimEnd(), sql(`SELECT rtsync.schema_sdl()`));
  assert.match(sdl, /createDataItem\(input: CreateDataItemInput!\): DataItem/);
});
