// 1,000 concurrent subscribers each receive every change exactly once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sql, rawSocket, apiKey } from '../lib/env.js';

const SUBSCRIBERS = 1000;
const CHANGES = 5;

test(`${SUBSCRIBERS} subscribers each get ${CHANGES} changes exactly once`, async () => {
  const sockets = [];
  for (let i = 0; i < SUBSCRIBERS; i++) {
    const ws = await rawSocket('graphql-transport-ws');
    ws.sendJson({ type: 'connection_init', payload: { 'x-api-key': apiKey } });
    ws.sendJson({ id: `s${i}`, type: 'subscribe', payload: { query: `subscription { onCreateDataItem(filter: {title: {beginsWith: "fan-"}}) { id title } }` } });
    ws.sendJson({ type: 'ping' });
    sockets.push(ws);
  }
  // ack then pong: every subscription is registered
  for (const ws of sockets) {
    assert.equal((await ws.inbox.next()).type, 'connection_ack');
    assert.equal((await ws.inbox.next()).type, 'pong');
  }
  for (let n = 1; n <= CHANGES; n++)
    sql(`INSERT INTO data_items (id, title) VALUES ('fan-${n}', 'fan-${n}')`);
  // a fence after them: anything between the changes and the fence is a duplicate
  sql(`INSERT INTO data_items (id, title) VALUES ('fan-fence', 'fan-fence')`);
  for (const [i, ws] of sockets.entries()) {
    const got = [];
    for (let n = 0; n <= CHANGES; n++) {
      const m = await ws.inbox.next(20000);
      assert.equal(m.type, 'next');
      assert.equal(m.id, `s${i}`);
      got.push(m.payload.data.onCreateDataItem.id);
    }
    assert.deepEqual(got, ['fan-1', 'fan-2', 'fan-3', 'fan-4', 'fan-5', 'fan-fence']);
  }
  for (const ws of sockets) ws.close();
  sql(`DELETE FROM data_items WHERE id LIKE 'fan-%'`);
});
