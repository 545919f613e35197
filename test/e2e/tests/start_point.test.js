// Only changes committed after a subscription was acknowledged reach it:
// a change committed before, but still on its way through the stream when
// the client subscribed, is not delivered, in any of the three protocols.
//
// To hold a committed change in the stream deterministically, a session
// keeps rtsync's publication catalogue locked: the walsender looks a table
// up there on the first change it decodes for it (publication.c), so it
// waits on that lock before it can send the change. Meanwhile the clients
// subscribe and are acknowledged; a second row is committed after that;
// then the lock goes, and each client must get the second row and never the
// first (it would be delivered first: the stream is in commit order).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { sql, apiKey, port, rawSocket, transportClient, collect, streamBarrier, closeBarrier, holdLock, messageWithoutPosition } from '../lib/env.js';

const realtimeUrl = `ws://127.0.0.1:${port}/graphql/realtime`;
const b64url = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');
const query = `subscription { onCreateStartPointItem { id } }`;

before(async () => {
  sql(`SELECT rtsync.unpublish(relid) FROM rtsync.published_table WHERE relid = to_regclass('start_point_items')`);
  sql(`DROP TABLE IF EXISTS start_point_items`);
  // a new table: no walsender has looked it up yet
  sql(`CREATE TABLE start_point_items (id text PRIMARY KEY)`);
  sql(`SET client_min_messages = warning; SELECT rtsync.publish('start_point_items', type_name => 'StartPointItem')`);
  await streamBarrier();
});

after(async () => {
  await closeBarrier();
  sql(`SELECT rtsync.unpublish('start_point_items')`);
  sql(`DROP TABLE start_point_items`);
});

// Bounded wait for a condition that SQL can see.
async function until(what, check) {
  for (let i = 0; i < 500; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting until ${what}`);
}

test('a change committed before the acknowledgement, still in the stream, is not delivered', async () => {
  const lock = await holdLock('LOCK TABLE rtsync.published_table IN ACCESS EXCLUSIVE MODE');
  let released = false;
  const open = []; // closed whatever happens, so that a failure cannot hang the file
  try {
    sql(`INSERT INTO start_point_items (id) VALUES ('before-ack')`);
    // the change is in flight: the worker's walsender waits for the lock
    await until('the walsender waits on the lock', () => sql(
      `SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender'
         AND application_name = 'rtsync' AND wait_event_type = 'Lock'`) === '1');

    // graphql-transport-ws: sync() is answered after the subscribe was handled
    const client = transportClient();
    open.push(() => client.dispose());
    const transport = collect(client, { query });
    await client.sync();

    // AppSync: start_ack
    const header = b64url({ host: `127.0.0.1:${port}`, 'x-api-key': apiKey });
    const appsync = await rawSocket('graphql-ws', `${realtimeUrl}?header=${header}&payload=e30=`);
    open.push(() => appsync.close());
    appsync.sendJson({ type: 'connection_init' });
    assert.equal((await appsync.inbox.next()).type, 'connection_ack');
    assert.equal((await appsync.inbox.next()).type, 'ka');
    appsync.sendJson({ id: 'a', type: 'start', payload: { data: JSON.stringify({ query }), extensions: { authorization: { 'x-api-key': apiKey } } } });
    assert.deepEqual(await appsync.nextIgnoringKa(), { type: 'start_ack', id: 'a' });

    // legacy graphql-ws has no acknowledgement: an invalid start sent after
    // the good one is answered after the good one was handled
    const legacy = await rawSocket('graphql-ws');
    open.push(() => legacy.close());
    legacy.sendJson({ type: 'connection_init', payload: { 'x-api-key': apiKey } });
    assert.equal((await legacy.inbox.next()).type, 'connection_ack');
    assert.equal((await legacy.inbox.next()).type, 'ka');
    legacy.sendJson({ id: 'l', type: 'start', payload: { query } });
    legacy.sendJson({ id: 'probe', type: 'start', payload: { query: 'subscription { nope }' } });
    assert.equal((await legacy.nextIgnoringKa()).id, 'probe');

    sql(`INSERT INTO start_point_items (id) VALUES ('after-ack')`);
    await lock.release();
    released = true;

    assert.deepEqual((await transport.next(5000, 'the row committed after the ack')).next.data,
      { onCreateStartPointItem: { id: 'after-ack' } });
    assert.deepEqual(messageWithoutPosition(await appsync.nextIgnoringKa()), { type: 'data', id: 'a', payload: { data: { onCreateStartPointItem: { id: 'after-ack' } } } });
    assert.deepEqual(messageWithoutPosition(await legacy.nextIgnoringKa()), { type: 'data', id: 'l', payload: { data: { onCreateStartPointItem: { id: 'after-ack' } } } });
    assert.equal(transport.size, 0);
  } finally {
    if (!released) await lock.release();
    for (const close of open) await close();
  }
});

test('a subscription acknowledged after earlier commits were delivered gets only later ones', async () => {
  const client = transportClient();
  const inbox = collect(client, { query });
  await client.sync();
  sql(`INSERT INTO start_point_items (id) VALUES ('later')`);
  assert.deepEqual((await inbox.next()).next.data, { onCreateStartPointItem: { id: 'later' } });
  await client.dispose();
});

test('many subscribers acknowledged at once each get the next change exactly once', async () => {
  const clients = [];
  const inboxes = [];
  for (let i = 0; i < 200; i++) {
    const client = transportClient();
    clients.push(client);
    inboxes.push(collect(client, { query }));
  }
  await Promise.all(clients.map((c) => c.sync()));
  sql(`INSERT INTO start_point_items (id) VALUES ('burst')`);
  sql(`INSERT INTO start_point_items (id) VALUES ('burst-end')`);
  for (const inbox of inboxes) {
    assert.deepEqual((await inbox.next()).next.data, { onCreateStartPointItem: { id: 'burst' } });
    assert.deepEqual((await inbox.next()).next.data, { onCreateStartPointItem: { id: 'burst-end' } });
    assert.equal(inbox.size, 0);
  }
  await Promise.all(clients.map((c) => c.dispose()));
});
