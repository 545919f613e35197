// Resuming with the other stock clients, each with only the documented
// lines: AWS Amplify v6 (additionalHeaders as a function, re-evaluated for
// every start after its own reconnect) and subscriptions-transport-ws
// (connectionParams as a function, reconnect on). And the keep-alive
// position: a subscription whose filter matches nothing still learns how
// far the stream got, so it can resume from there.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { Amplify } from 'aws-amplify';
import { generateClient } from 'aws-amplify/api';
import { Hub } from 'aws-amplify/utils';
import { SubscriptionClient } from 'subscriptions-transport-ws';
import { until } from '../lib/rls.js';
import { sql, apiKey, httpUrl, wsUrl, port, Inbox, transportClient, collect } from '../lib/env.js';

// Amplify opens its sockets with the global WebSocket: keep them, to cut one
const sockets = [];
globalThis.WebSocket = class extends WebSocket {
  constructor(...args) { super(...args); sockets.push(this); }
};

Amplify.configure({
  API: { GraphQL: { endpoint: httpUrl, region: 'us-east-1', defaultAuthMode: 'apiKey', apiKey } },
});

before(() => sql(`DELETE FROM data_items WHERE id LIKE 'rsc-%'`));
after(() => sql(`DELETE FROM data_items WHERE id LIKE 'rsc-%'`));

const insert = (title, ...ids) =>
  sql(`INSERT INTO data_items (id, title) VALUES ${ids.map((id) => `('${id}', '${title}')`).join(', ')}`);

function hubEvent(name) {
  return new Promise((resolve) => {
    const stop = Hub.listen('api', ({ payload }) => {
      if (payload.event === name || payload.data?.connectionState === name) { stop(); resolve(); }
    });
  });
}

test('an Amplify v6 app resumes through additionalHeaders after Amplify reconnects on its own', async () => {
  const client = generateClient({ endpoint: `ws://127.0.0.1:${port}/graphql`, authMode: 'apiKey', apiKey });
  let last = null;
  const inbox = new Inbox();
  const acked = hubEvent('Subscription ack');
  const sub = client.graphql(
    { query: `subscription { onCreateDataItem(title: "rsc-amp") { id title } }` },
    // the documented lines: the last position, on every start
    () => (last ? { 'x-rtsync-after': last } : {}),
  ).subscribe({
    next: (value) => { last = value.extensions?.sequenceNumber ?? last; inbox.push(value); },
    error: (error) => inbox.push({ error }),
  });
  await acked;
  insert('rsc-amp', 'rsc-amp1');
  const first = await inbox.next(10000, 'the first event');
  assert.ifError(first.error);
  assert.equal(first.data.onCreateDataItem.id, 'rsc-amp1');
  assert.match(last, /^[0-9]{30}$/);

  const disrupted = hubEvent('ConnectionDisrupted');
  const reconnected = hubEvent('Connected');
  sockets.at(-1).terminate(); // the network goes
  await disrupted;
  insert('rsc-amp', 'rsc-amp2', 'rsc-amp3');
  await reconnected; // Amplify's own reconnect (about 5 s)
  const ids = [];
  for (let i = 0; i < 2; i++) ids.push((await inbox.next(20000, 'a missed event')).data.onCreateDataItem.id);
  assert.deepEqual(ids, ['rsc-amp2', 'rsc-amp3']);
  insert('rsc-amp', 'rsc-amp4');
  assert.equal((await inbox.next(10000, 'the live event')).data.onCreateDataItem.id, 'rsc-amp4');
  assert.equal(inbox.size, 0, 'nothing twice');
  sub.unsubscribe();
});

test('a subscriptions-transport-ws app resumes through connectionParams after reconnecting on its own', async () => {
  let last = null;
  const client = new SubscriptionClient(wsUrl, {
    reconnect: true,
    // the documented lines: connectionParams is called on every connect
    connectionParams: () => ({ 'x-api-key': apiKey, ...(last ? { after: last } : {}) }),
  }, WebSocket);
  const connected = new Inbox();
  client.onConnected(() => connected.push('connected'));
  client.onReconnected(() => connected.push('reconnected'));
  const inbox = new Inbox();
  client.request({ query: `subscription { onCreateDataItem(title: "rsc-leg") { id } }` }).subscribe({
    next: (value) => { last = value.extensions.sequenceNumber; inbox.push(value); },
    error: (error) => inbox.push({ error }),
  });
  assert.equal(await connected.next(), 'connected');
  // the subscription is registered once a stop for an unknown id is answered after it
  await new Promise((resolve) => {
    client.client.on('message', (data) => { if (JSON.parse(data.toString()).id === 'probe') resolve(); });
    client.client.send(JSON.stringify({ id: 'probe', type: 'stop' }));
  });
  insert('rsc-leg', 'rsc-leg1');
  assert.equal((await inbox.next(10000, 'the first event')).data.onCreateDataItem.id, 'rsc-leg1');
  client.client.terminate();
  insert('rsc-leg', 'rsc-leg2', 'rsc-leg3');
  assert.equal(await connected.next(20000, 'the reconnect'), 'reconnected');
  const ids = [];
  for (let i = 0; i < 2; i++) ids.push((await inbox.next(10000, 'a missed event')).data.onCreateDataItem.id);
  assert.deepEqual(ids, ['rsc-leg2', 'rsc-leg3']);
  client.close();
});

test('keep-alive pings carry the position: a subscription that matched nothing resumes from there', async () => {
  sql(`ALTER SYSTEM SET rtsync.keepalive_interval = '1s'`);
  sql(`SELECT pg_reload_conf()`);
  try {
    const pings = new Inbox();
    const client = transportClient({
      on: { ping: (received, payload) => { if (received && payload?.sequenceNumber) pings.push(payload.sequenceNumber); } },
    });
    const inbox = collect(client, { query: `subscription { onCreateDataItem(title: "rsc-rare") { id } }` });
    await client.sync();
    insert('rsc-often', 'rsc-often1');
    const keptAt = () => sql(`SELECT sequence_number FROM rtsync.stream_record
      WHERE relid = 'data_items'::regclass AND record LIKE '%rsc-often1%'`);
    await until('the unmatched change is kept', () => keptAt() !== '');
    const written = keptAt();
    let position;
    do position = await pings.next(10000, 'a ping with a position'); while (position < written);
    await client.dispose();
    assert.equal(inbox.size, 0);
    // resumed from the ping's position, it gets only what came after it
    insert('rsc-rare', 'rsc-rare1');
    const again = transportClient({ connectionParams: { 'x-api-key': apiKey, after: position } });
    const resumed = collect(again, { query: `subscription { onCreateDataItem(title: "rsc-rare") { id } }` });
    assert.equal((await resumed.next(10000)).next.data.onCreateDataItem.id, 'rsc-rare1');
    await again.dispose();
  } finally {
    sql(`ALTER SYSTEM RESET rtsync.keepalive_interval`);
    sql(`SELECT pg_reload_conf()`);
  }
});
