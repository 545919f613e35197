// Legacy graphql-ws with subscriptions-transport-ws (Apollo's old client).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { SubscriptionClient } from 'subscriptions-transport-ws';
import { sql, wsUrl, apiKey, Inbox, rawSocket, withoutPosition, messageWithoutPosition } from '../lib/env.js';

after(() => sql(`DELETE FROM data_items WHERE id LIKE 'leg-%'`));

// A subscriptions-transport-ws client and a barrier: a stop for an unknown
// id is answered with complete, after everything sent before it.
function legacyClient(connectionParams = { 'x-api-key': apiKey }) {
  const client = new SubscriptionClient(wsUrl, { reconnect: false, connectionParams }, WebSocket);
  const probes = new Map();
  let n = 0;
  const connected = new Promise((resolve) => client.onConnected(resolve));
  client.sync = async () => {
    await connected;
    const id = `probe-${++n}`;
    const done = new Promise((resolve) => probes.set(id, resolve));
    client.client.on('message', (data) => {
      const m = JSON.parse(data.toString());
      if (m.type === 'complete' && probes.has(m.id)) { probes.get(m.id)(); probes.delete(m.id); }
    });
    client.client.send(JSON.stringify({ id, type: 'stop' }));
    await done;
  };
  return client;
}

function collect(client, request) {
  const inbox = new Inbox();
  inbox.subscription = client.request(request).subscribe({
    next: (value) => inbox.push({ next: value }),
    error: (error) => inbox.push({ error }),
    complete: () => inbox.push({ complete: true }),
  });
  return inbox;
}

test('a psql INSERT reaches a subscriptions-transport-ws subscriber', async () => {
  const client = legacyClient();
  const inbox = collect(client, { query: `subscription { onCreateDataItem { id title } }` });
  await client.sync();
  sql(`INSERT INTO data_items (id, title) VALUES ('leg-1', 'legacy')`);
  assert.deepEqual(withoutPosition((await inbox.next()).next), { data: { onCreateDataItem: { id: 'leg-1', title: 'legacy' } } });
  client.close();
});

test('unsubscribing stops delivery; the server answers stop with complete', async () => {
  const client = legacyClient();
  const first = collect(client, { query: `subscription { onCreateDataItem(title: "leg-stop") { id } }` });
  const second = collect(client, { query: `subscription { onCreateDataItem(title: "leg-stop") { id } }` });
  await client.sync();
  first.subscription.unsubscribe();
  await client.sync();
  sql(`INSERT INTO data_items (id, title) VALUES ('leg-2', 'leg-stop')`);
  assert.equal((await second.next()).next.data.onCreateDataItem.id, 'leg-2');
  assert.equal(first.size, 0, 'no event after unsubscribe');
  client.close();
});

test('validation errors arrive as an error message', async () => {
  const client = legacyClient();
  const inbox = collect(client, { query: `subscription { onCreateDataItem { id missing } }` });
  const { error } = await inbox.next();
  const errors = Array.isArray(error) ? error : [error];
  assert.match(errors[0].message, /missing/);
  client.close();
});

test('a wrong key gets connection_error', async () => {
  const ws = await rawSocket('graphql-ws');
  ws.sendJson({ type: 'connection_init', payload: { 'x-api-key': 'da2-wrong' } });
  const m = await ws.inbox.next();
  assert.equal(m.type, 'connection_error');
  assert.match(m.payload.message, /not authorized/);
  await ws.closed;
});

test('unparsable messages get connection_error and the socket stays open', async () => {
  const ws = await rawSocket('graphql-ws');
  ws.sendJson({ type: 'connection_init', payload: { 'x-api-key': apiKey } });
  assert.equal((await ws.inbox.next()).type, 'connection_ack');
  assert.equal((await ws.inbox.next()).type, 'ka');
  ws.send('not json');
  assert.equal((await ws.inbox.next()).type, 'connection_error');
  ws.sendJson({ id: '1', type: 'start', payload: { query: `subscription { onCreateDataItem { id } }` } });
  ws.sendJson({ id: 'x', type: 'stop' });
  assert.deepEqual(await ws.inbox.next(), { type: 'complete', id: 'x' });
  sql(`INSERT INTO data_items (id, title) VALUES ('leg-3', 'still open')`);
  const data = await ws.inbox.next();
  assert.deepEqual(messageWithoutPosition(data), { type: 'data', id: '1', payload: { data: { onCreateDataItem: { id: 'leg-3' } } } });
  ws.close();
});

test('queries and mutations over the socket are answered once, then complete', async () => {
  const client = legacyClient();
  const created = collect(client, { query: `mutation { createDataItem(input: {id: "leg-q", title: "over the socket"}) { id title version } }` });
  assert.deepEqual((await created.next()).next, { data: { createDataItem: { id: 'leg-q', title: 'over the socket', version: 1 } } });
  assert.deepEqual(await created.next(), { complete: true });
  const got = collect(client, { query: `query ($id: ID!) { getDataItem(id: $id) { title } }`, variables: { id: 'leg-q' } });
  assert.deepEqual((await got.next()).next, { data: { getDataItem: { title: 'over the socket' } } });
  client.close();
});
