// graphql-transport-ws with the stock graphql-ws client: a row inserted
// with psql reaches the subscriber; update and delete images; the
// protocol's refusals.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { sql, transportClient, collect, rawSocket, apiKey, withoutPosition } from '../lib/env.js';

const onCreate = `subscription { onCreateDataItem { id title content version __typename } }`;

after(() => sql(`DELETE FROM data_items WHERE id LIKE 'tws-%'`));

test('a psql INSERT reaches a graphql-ws subscriber', async () => {
  const client = transportClient();
  const inbox = collect(client, { query: onCreate });
  await client.sync();
  sql(`INSERT INTO data_items (id, title, content) VALUES ('tws-1', 'Test Item', 'Testing real-time sync')`);
  const { next } = await inbox.next();
  assert.deepEqual(withoutPosition(next), {
    data: { onCreateDataItem: { id: 'tws-1', title: 'Test Item', content: 'Testing real-time sync', version: 1, __typename: 'DataItem' } },
  });
  await client.dispose();
});

test('update and delete deliver the new and the old image', async () => {
  sql(`INSERT INTO data_items (id, title) VALUES ('tws-2', 'before')`);
  const client = transportClient();
  const updates = collect(client, { query: `subscription { onUpdateDataItem(id: "tws-2") { id title version } }` });
  const deletes = collect(client, { query: `subscription { onDeleteDataItem(id: "tws-2") { id title } }` });
  await client.sync();
  sql(`UPDATE data_items SET title = 'after', version = version + 1 WHERE id = 'tws-2'`);
  sql(`DELETE FROM data_items WHERE id = 'tws-2'`);
  assert.deepEqual((await updates.next()).next.data, { onUpdateDataItem: { id: 'tws-2', title: 'after', version: 2 } });
  assert.deepEqual((await deletes.next()).next.data, { onDeleteDataItem: { id: 'tws-2', title: 'after' } });
  await client.dispose();
});

test('an invalid subscription gets GraphQL errors with locations and the connection stays up', async () => {
  const client = transportClient();
  const bad = collect(client, { query: `subscription {\n  onCreateDataItem { nope } }` });
  const { error } = await bad.next();
  assert.ok(Array.isArray(error), 'errors arrive as an array');
  assert.match(error[0].message, /nope/);
  assert.deepEqual(error[0].locations, [{ line: 2, column: 22 }]);
  const good = collect(client, { query: onCreate });
  await client.sync();
  sql(`INSERT INTO data_items (id, title) VALUES ('tws-3', 'still served')`);
  assert.equal((await good.next()).next.data.onCreateDataItem.id, 'tws-3');
  await client.dispose();
});

test('a wrong key is refused with 4403', async () => {
  const ws = await rawSocket('graphql-transport-ws');
  ws.sendJson({ type: 'connection_init', payload: { 'x-api-key': 'da2-wrong' } });
  assert.deepEqual(await ws.closed, { code: 4403, reason: 'Forbidden' });
});

test('subscribe before connection_init closes with 4401', async () => {
  const ws = await rawSocket('graphql-transport-ws');
  ws.sendJson({ id: '1', type: 'subscribe', payload: { query: onCreate } });
  assert.equal((await ws.closed).code, 4401);
});

test('malformed JSON closes with 4400, to that client only', async () => {
  const bystander = transportClient();
  const inbox = collect(bystander, { query: onCreate });
  await bystander.sync();
  const ws = await rawSocket('graphql-transport-ws');
  ws.send('{"type": "connection_init", ');
  assert.equal((await ws.closed).code, 4400);
  sql(`INSERT INTO data_items (id, title) VALUES ('tws-4', 'bystander unaffected')`);
  assert.equal((await inbox.next()).next.data.onCreateDataItem.id, 'tws-4');
  await bystander.dispose();
});

test('a second connection_init closes with 4429, a duplicate id with 4409', async () => {
  let ws = await rawSocket('graphql-transport-ws');
  ws.sendJson({ type: 'connection_init', payload: { 'x-api-key': apiKey } });
  assert.equal((await ws.inbox.next()).type, 'connection_ack');
  ws.sendJson({ type: 'connection_init', payload: { 'x-api-key': apiKey } });
  assert.equal((await ws.closed).code, 4429);

  ws = await rawSocket('graphql-transport-ws');
  ws.sendJson({ type: 'connection_init', payload: { 'x-api-key': apiKey } });
  await ws.inbox.next();
  ws.sendJson({ id: 'a', type: 'subscribe', payload: { query: onCreate } });
  ws.sendJson({ id: 'a', type: 'subscribe', payload: { query: onCreate } });
  assert.deepEqual(await ws.closed, { code: 4409, reason: 'Subscriber for a already exists' });
});

test('no connection_init in time closes with 4408', async () => {
  const ws = await rawSocket('graphql-transport-ws');
  assert.equal((await ws.closed).code, 4408);
});

test('queries and mutations over graphql-ws: one result, then complete; errors the protocol\'s way', async () => {
  const client = transportClient();
  const created = collect(client, { query: `mutation ($i: CreateDataItemInput!) { createDataItem(input: $i) { id title version } }`,
    variables: { i: { id: 'tws-q', title: 'over the socket' } } });
  assert.deepEqual((await created.next()).next, { data: { createDataItem: { id: 'tws-q', title: 'over the socket', version: 1 } } });
  assert.deepEqual(await created.next(), { complete: true });
  // a database error is part of the result; the transaction rolled back
  const dup = collect(client, { query: `mutation { createDataItem(input: {id: "tws-q", title: "again"}) { id } }` });
  const { next } = await dup.next();
  assert.equal(next.data.createDataItem, null);
  assert.equal(next.errors[0].errorType, 'UniqueViolation');
  // a validation error is an error message, and the connection stays up
  const bad = collect(client, { query: `query { getDataItem(id: "tws-q") { nope } }` });
  const { error } = await bad.next();
  assert.match(error[0].message, /Cannot query field "nope" on type "DataItem"/);
  const list = collect(client, { query: `{ listDataItems(filter: {id: {eq: "tws-q"}}) { items { id } } }` });
  assert.deepEqual((await list.next()).next, { data: { listDataItems: { items: [{ id: 'tws-q' }] } } });
  await client.dispose();
});
