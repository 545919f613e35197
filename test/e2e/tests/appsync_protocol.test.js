// The AppSync real-time protocol on the wire, as Amplify and
// aws-appsync-subscription-link speak it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { sql, apiKey, rawSocket, port, messageWithoutPosition } from '../lib/env.js';

const realtimeUrl = `ws://127.0.0.1:${port}/graphql/realtime`;
const b64url = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');
const header = (key) => b64url({ host: `127.0.0.1:${port}`, 'x-api-key': key });

after(() => sql(`DELETE FROM data_items WHERE id LIKE 'aps-%'`));

async function appsyncSocket(key = apiKey, how = 'subprotocol') {
  if (how === 'subprotocol')
    return rawSocket(['graphql-ws', `header-${header(key)}`], realtimeUrl);
  return rawSocket('graphql-ws', `${realtimeUrl}?header=${header(key)}&payload=e30=`);
}

function start(ws, id, query, variables = {}, key = apiKey) {
  ws.sendJson({
    id, type: 'start',
    payload: {
      data: JSON.stringify({ query, variables }),
      extensions: { authorization: { 'x-api-key': key, host: `127.0.0.1:${port}` } },
    },
  });
}

for (const how of ['subprotocol', 'query']) {
  test(`handshake with the key in the ${how}: ack, ka, start_ack, data`, async () => {
    const ws = await appsyncSocket(apiKey, how);
    assert.equal(ws.protocol, 'graphql-ws', 'exactly one offered subprotocol is echoed');
    ws.sendJson({ type: 'connection_init' });
    assert.deepEqual(await ws.inbox.next(), { type: 'connection_ack', payload: { connectionTimeoutMs: 300000 } });
    assert.deepEqual(await ws.inbox.next(), { type: 'ka' });
    start(ws, 'sub-1', `subscription OnCreate($title: String) { onCreateDataItem(title: $title) { id title } }`, { title: `aps-${how}` });
    assert.deepEqual(await ws.nextIgnoringKa(), { type: 'start_ack', id: 'sub-1' });
    sql(`INSERT INTO data_items (id, title) VALUES ('aps-other-${how}', 'not this one')`);
    sql(`INSERT INTO data_items (id, title) VALUES ('aps-${how}', 'aps-${how}')`);
    assert.deepEqual(messageWithoutPosition(await ws.nextIgnoringKa()), {
      type: 'data', id: 'sub-1', payload: { data: { onCreateDataItem: { id: `aps-${how}`, title: `aps-${how}` } } },
    });
    ws.sendJson({ type: 'stop', id: 'sub-1' });
    assert.deepEqual(await ws.nextIgnoringKa(), { type: 'complete', id: 'sub-1' });
    ws.close();
  });
}

test('a wrong key in the handshake: connection_error with UnauthorizedException', async () => {
  const ws = await appsyncSocket('da2-wrong');
  ws.sendJson({ type: 'connection_init' });
  const m = await ws.inbox.next();
  assert.equal(m.type, 'connection_error');
  assert.equal(m.payload.errors[0].errorType, 'UnauthorizedException');
  await ws.closed;
});

test('a wrong key on start is refused for that start only', async () => {
  const ws = await appsyncSocket();
  ws.sendJson({ type: 'connection_init' });
  await ws.inbox.next();
  await ws.inbox.next();
  start(ws, 'bad', `subscription { onCreateDataItem { id } }`, {}, 'da2-wrong');
  const m = await ws.inbox.next();
  assert.equal(m.type, 'error');
  assert.equal(m.id, 'bad');
  assert.equal(m.payload.errors[0].errorType, 'UnauthorizedException');
  start(ws, 'good', `subscription { onCreateDataItem { id } }`);
  assert.deepEqual(await ws.inbox.next(), { type: 'start_ack', id: 'good' });
  ws.close();
});

test('an invalid document gets an error with errorType, not start_ack', async () => {
  const ws = await appsyncSocket();
  ws.sendJson({ type: 'connection_init' });
  await ws.inbox.next();
  await ws.inbox.next();
  start(ws, 'v', `subscription { onCreateDataItem { id nope } }`);
  const m = await ws.inbox.next();
  assert.equal(m.type, 'error');
  assert.equal(m.id, 'v');
  assert.ok(m.payload.errors[0].errorType);
  assert.match(m.payload.errors[0].message, /nope/);
  ws.close();
});
