// AWS Amplify v6 (aws-amplify generateClient, API-key auth) against rtsync,
// exactly as an AppSync app would use it. The subscription client gets a
// ws:// endpoint so Amplify keeps ws:// on localhost (it would upgrade
// http:// to wss://) and connects to /graphql/realtime.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { Amplify } from 'aws-amplify';
import { generateClient } from 'aws-amplify/api';
import { Hub } from 'aws-amplify/utils';
import { sql, apiKey, httpUrl, port, Inbox } from '../lib/env.js';

globalThis.WebSocket = WebSocket; // Node 20 has no global WebSocket

Amplify.configure({
  API: { GraphQL: { endpoint: httpUrl, region: 'us-east-1', defaultAuthMode: 'apiKey', apiKey } },
});

after(() => sql(`DELETE FROM data_items WHERE id LIKE 'amp-%'`));

function subscriptionAcked() {
  return new Promise((resolve) => {
    const stop = Hub.listen('api', ({ payload }) => {
      if (payload.event === 'Subscription ack') { stop(); resolve(); }
    });
  });
}

test('an Amplify v6 subscriber receives onCreateDataItem for a psql INSERT', async () => {
  const client = generateClient({ endpoint: `ws://127.0.0.1:${port}/graphql`, authMode: 'apiKey', apiKey });
  const inbox = new Inbox();
  const acked = subscriptionAcked();
  const sub = client.graphql({
    query: `subscription OnCreateDataItem($filter: ModelSubscriptionDataItemFilterInput) {
      onCreateDataItem(filter: $filter) { id title content version }
    }`,
    variables: { filter: { title: { beginsWith: 'amp-' } } },
  }).subscribe({
    next: (value) => inbox.push(value),
    error: (error) => inbox.push({ error }),
  });
  await acked;
  sql(`INSERT INTO data_items (id, title, content) VALUES ('amp-0', 'skip me', 'filtered out')`);
  sql(`INSERT INTO data_items (id, title, content) VALUES ('amp-1', 'amp-hello', 'from psql')`);
  const value = await inbox.next();
  assert.ifError(value.error);
  assert.deepEqual(value.data, { onCreateDataItem: { id: 'amp-1', title: 'amp-hello', content: 'from psql', version: 1 } });
  sub.unsubscribe();
});
