// The worker or its walsender terminated: clients reconnect on their own,
// new changes flow, and nothing is delivered twice.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { sql, transportClient, collect, Inbox, workerPid } from '../lib/env.js';

before(() => sql(`DELETE FROM data_items WHERE id LIKE 'rec-%'`));
after(() => sql(`DELETE FROM data_items WHERE id LIKE 'rec-%'`));


const onCreate = { query: `subscription { onCreateDataItem(title: "rec") { id } }` };

test('the walsender terminated: the worker streams again, nothing lost or repeated', async () => {
  const client = transportClient();
  const inbox = collect(client, onCreate);
  await client.sync();
  sql(`INSERT INTO data_items (id, title) VALUES ('rec-1', 'rec')`);
  assert.equal((await inbox.next()).next.data.onCreateDataItem.id, 'rec-1');
  assert.equal(sql(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_replication WHERE application_name = 'rtsync'`), '1');
  sql(`INSERT INTO data_items (id, title) VALUES ('rec-2', 'rec')`);
  sql(`INSERT INTO data_items (id, title) VALUES ('rec-3', 'rec')`);
  assert.equal((await inbox.next(10000)).next.data.onCreateDataItem.id, 'rec-2');
  assert.equal((await inbox.next(10000)).next.data.onCreateDataItem.id, 'rec-3');
  await client.dispose();
});

test('the worker terminated: it comes back and graphql-ws clients resubscribe on their own', async () => {
  const connected = new Inbox();
  const client = transportClient({
    retryAttempts: 10,
    // graphql-ws' own retry policy: its first retry comes 1.3 s or more after
    // the close, once the postmaster has started the worker again (1 s)
    on: { connected: (socket, payload, wasRetry) => connected.push(wasRetry) },
  });
  const inbox = collect(client, onCreate);
  assert.equal(await connected.next(), false);
  await client.sync();
  try {
    process.kill(workerPid(), 'SIGTERM');
    assert.equal(await connected.next(15000, 'a reconnect'), true);
    await client.sync();
    sql(`INSERT INTO data_items (id, title) VALUES ('rec-4', 'rec')`);
    assert.equal((await inbox.next(10000)).next.data.onCreateDataItem.id, 'rec-4');
  } finally {
    await client.dispose();
  }
});
