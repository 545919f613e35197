// Settings changed with ALTER SYSTEM and pg_reload_conf() apply to the
// running worker (SIGHUP), without a restart: a limit a client can see,
// and rtsync.log_replication_lag, which writes the lag to the server log.
// On a cluster of this file's own, so the shared one keeps its settings.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { transportClient, collect, rawSocket } from '../lib/env.js';
import { startCluster } from '../lib/cluster.js';

let cluster;

before(async () => { cluster = await startCluster({ offset: 1 }); });
after(() => cluster?.stop());

const client = () => transportClient({
  url: `ws://127.0.0.1:${cluster.port}/graphql`,
  connectionParams: { 'x-api-key': cluster.apiKey },
});

// How many of three subscriptions one connection is allowed.
async function allowedOfThree() {
  const c = client();
  try {
    const inboxes = [1, 2, 3].map((i) => collect(c, { query: `subscription S${i} { onCreateDataItem(id: "sighup-${i}") { id } }` }));
    await c.sync();
    return 3 - inboxes.filter((inbox) => inbox.size > 0).length;
  } finally {
    await c.dispose();
  }
}

// The worker takes the new configuration a moment after pg_reload_conf():
// ask until it answers the new way (bounded).
async function until(what, check) {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting until ${what}`);
}

test('a reloaded limit applies to the next subscriptions, and again after RESET', async () => {
  assert.equal(await allowedOfThree(), 3);
  cluster.sql(`ALTER SYSTEM SET rtsync.max_subscriptions_per_connection = 2`);
  cluster.sql(`SELECT pg_reload_conf()`);
  await until('two subscriptions per connection are allowed', async () => (await allowedOfThree()) === 2);

  // the refusal names the limit, and the connection stays up
  const c = client();
  try {
    const inboxes = [1, 2, 3].map((i) => collect(c, { query: `subscription { onCreateDataItem(id: "sighup-${i}") { id } }` }));
    const { error } = await inboxes[2].next();
    assert.match(error[0].message, /Max number of 2 subscriptions reached/);
    await c.sync();
    cluster.sql(`INSERT INTO data_items (id, title) VALUES ('sighup-1', 'still served')`);
    assert.deepEqual((await inboxes[0].next()).next.data, { onCreateDataItem: { id: 'sighup-1' } });
  } finally {
    await c.dispose();
  }

  cluster.sql(`ALTER SYSTEM RESET rtsync.max_subscriptions_per_connection`);
  cluster.sql(`SELECT pg_reload_conf()`);
  await until('three subscriptions per connection are allowed again', async () => (await allowedOfThree()) === 3);
});

test('rtsync.log_replication_lag = 0 logs the lag of the next transaction', async () => {
  // lines logged before (a slow start on a busy machine can lag by seconds)
  const lagLine = /LOG: {2}rtsync replication lag: \d+\.\d{3} s behind the commit, \d+ bytes behind the server's WAL end/g;
  const before = (cluster.log().match(lagLine) ?? []).length;
  // in the same reload as a limit the client can see, to know when it applied
  cluster.sql(`ALTER SYSTEM SET rtsync.log_replication_lag = 0`);
  cluster.sql(`ALTER SYSTEM SET rtsync.max_subscriptions_per_connection = 1`);
  cluster.sql(`SELECT pg_reload_conf()`);
  await until('the reload applied', async () => (await allowedOfThree()) === 1);

  const c = client();
  try {
    const inbox = collect(c, { query: `subscription { onCreateDataItem(title: "lag") { id } }` });
    await c.sync();
    cluster.sql(`INSERT INTO data_items (id, title) VALUES ('lag-1', 'lag')`);
    cluster.sql(`INSERT INTO data_items (id, title) VALUES ('lag-2', 'lag')`);
    await inbox.next();
    // the second row arrived: the first transaction's COMMIT was processed
    assert.deepEqual((await inbox.next()).next.data, { onCreateDataItem: { id: 'lag-2' } });
    assert.ok((cluster.log().match(lagLine) ?? []).length > before, 'a lag line for the new transactions');
  } finally {
    await c.dispose();
  }

  cluster.sql(`ALTER SYSTEM RESET ALL`);
  cluster.sql(`SELECT pg_reload_conf()`);
});

test('a reloaded rtsync.keepalive_interval paces the keep-alives of connected clients', async () => {
  const ws = await rawSocket('graphql-ws', `ws://127.0.0.1:${cluster.port}/graphql`);
  try {
    ws.sendJson({ type: 'connection_init', payload: { 'x-api-key': cluster.apiKey } });
    assert.equal((await ws.inbox.next()).type, 'connection_ack');
    assert.equal((await ws.inbox.next()).type, 'ka');
    cluster.sql(`ALTER SYSTEM SET rtsync.keepalive_interval = '1s'`);
    cluster.sql(`ALTER SYSTEM SET rtsync.max_subscriptions_per_connection = 1`);
    cluster.sql(`SELECT pg_reload_conf()`);
    await until('the reload applied', async () => (await allowedOfThree()) === 1);
    // the default is 10 s: three, each within 2 s, can only come from the new interval
    for (let i = 0; i < 3; i++) assert.equal((await ws.inbox.next(2000, 'a keep-alive')).type, 'ka');
  } finally {
    ws.close();
    cluster.sql(`ALTER SYSTEM RESET ALL`);
    cluster.sql(`SELECT pg_reload_conf()`);
  }
});
