// Bad and slow clients get the protocol's error, to themselves only; the
// worker survives all of it and keeps serving everyone else.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { sql, rawSocket, transportClient, collect, apiKey, closeBarrier } from '../lib/env.js';

after(async () => {
  await closeBarrier();
  sql(`DELETE FROM data_items WHERE id LIKE 'rob-%'`);
});

async function acked(protocol = 'graphql-transport-ws') {
  const ws = await rawSocket(protocol);
  ws.sendJson({ type: 'connection_init', payload: { 'x-api-key': apiKey } });
  assert.equal((await ws.inbox.next()).type, 'connection_ack');
  return ws;
}

test('an oversized message closes that client with 1009', async () => {
  const ws = await acked();
  ws.send(JSON.stringify({ type: 'ping', payload: { pad: 'x'.repeat(300 * 1024) } }));
  assert.equal((await ws.closed).code, 1009);
});

test('an unknown message type closes with 4400; a binary frame with 1003', async () => {
  let ws = await acked();
  ws.sendJson({ type: 'bogus' });
  assert.equal((await ws.closed).code, 4400);
  ws = await acked();
  ws.send(Buffer.from([1, 2, 3]));
  assert.equal((await ws.closed).code, 1003);
});

test('the 101st subscription on a connection is refused, the first 100 stay', async () => {
  const ws = await acked();
  for (let i = 1; i <= 101; i++)
    ws.sendJson({ id: `s${i}`, type: 'subscribe', payload: { query: `subscription { onCreateDataItem(id: "rob-max") { id } }` } });
  const m = await ws.inbox.next();
  assert.equal(m.type, 'error');
  assert.equal(m.id, 's101');
  assert.match(m.payload[0].message, /Max number of 100 subscriptions reached/);
  sql(`INSERT INTO data_items (id, title) VALUES ('rob-max', 'fan')`);
  const ids = new Set();
  for (let i = 0; i < 100; i++) ids.add((await ws.inbox.next()).id);
  assert.equal(ids.size, 100);
  ws.close();
});

test('a client that stops reading is closed with 1013 and the others see every event', async () => {
  const slow = await acked();
  slow.sendJson({ id: 'slow', type: 'subscribe', payload: { query: `subscription { onCreateDataItem { id content } }` } });
  const fast = transportClient();
  const inbox = collect(fast, { query: `subscription { onCreateDataItem(title: "rob-bulk") { id } }` });
  await fast.sync();
  // make sure the subscribe was handled before the slow client stops reading
  slow.sendJson({ type: 'ping' });
  assert.equal((await slow.inbox.next()).type, 'pong');
  slow._socket.pause();
  // bounded: 400 rows of 64 kB, far more than socket buffers and rtsync.max_queue hold
  sql(`INSERT INTO data_items (id, title, content)
       SELECT 'rob-bulk-' || i, 'rob-bulk', repeat(md5(i::text), 2048) FROM generate_series(1, 400) i`);
  for (let i = 1; i <= 400; i++)
    assert.equal((await inbox.next()).next.data.onCreateDataItem.id, `rob-bulk-${i}`);
  slow._socket.resume();
  const { code, reason } = await slow.closed;
  assert.equal(code, 1013);
  assert.match(reason, /too slow/);
  await fast.dispose();
});
