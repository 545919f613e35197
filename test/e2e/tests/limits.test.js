// Per-identity limits and the request log: HTTP requests per second (429
// LimitExceededException), WebSocket operations per second (the protocol's
// error for that operation), connections per identity, each identity counted
// on its own; one log line per operation naming the identity (never the
// secret), and counters per outcome in /metrics. On a cluster of this file's
// own, with small limits.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rawSocket } from '../lib/env.js';
import { startCluster } from '../lib/cluster.js';
import { sign, now } from '../lib/tokens.js';

const SECRET = 'the limits test HMAC secret, well over 32 bytes';
const RATE = 2;
let cluster;
let otherKey;

before(async () => {
  cluster = await startCluster({
    offset: 5,
    settings: () => [
      `rtsync.identity_requests_per_second = ${RATE}`,
      `rtsync.identity_operations_per_second = ${RATE}`,
      'rtsync.max_connections_per_identity = 2',
      "rtsync.log_requests = 'all'",
      `rtsync.jwt_secret = '${SECRET}'`,
      "rtsync.jwt_authenticator = 'limits_authenticator'",
    ],
  });
  cluster.sql(`CREATE ROLE limits_authenticator NOLOGIN; CREATE ROLE limits_user NOLOGIN;
               GRANT limits_user TO limits_authenticator; GRANT SELECT ON data_items TO limits_user`);
  otherKey = cluster.sql(`SELECT rtsync.create_api_key('limits, second key')`);
});
after(() => cluster?.stop());

// request: the GraphQL request body (default: the named query Limited)
function post({ key, token, request } = {}) {
  const headers = { 'content-type': 'application/json' };
  if (key) headers['x-api-key'] = key;
  if (token) headers.authorization = `Bearer ${token}`;
  return fetch(`http://127.0.0.1:${cluster.port}/graphql`, {
    method: 'POST', headers,
    body: JSON.stringify(request ?? { query: 'query Limited { listDataItems { items { id } } }', operationName: 'Limited' }),
  }).then(async (res) => ({ status: res.status, body: await res.json() }));
}

// A burst of n requests at once: how many passed and how many were limited.
async function burst(n, who) {
  const started = Date.now();
  const answers = await Promise.all(Array.from({ length: n }, () => post(who)));
  const elapsed = (Date.now() - started) / 1000;
  const limited = answers.filter((a) => a.status === 429);
  for (const a of limited) {
    assert.deepEqual(a.body, { errors: [{ errorType: 'LimitExceededException',
      message: 'Rate limit exceeded for this identity (rtsync.identity_requests_per_second).' }] });
  }
  return { ok: answers.filter((a) => a.status === 200).length, limited: limited.length, elapsed };
}

const tokenFor = (sub) => sign({ alg: 'HS256', key: SECRET, claims: { sub, role: 'limits_user', exp: now() + 600 } });

test('HTTP: an identity past its requests per second gets 429 LimitExceededException; another identity does not', async () => {
  const first = await burst(8, { key: cluster.apiKey });
  // a bucket holds one second's worth and refills at the rate
  const allowed = RATE + Math.ceil(first.elapsed * RATE);
  assert.ok(first.ok >= RATE && first.ok <= allowed, `passed ${first.ok}, at most ${allowed} allowed`);
  assert.equal(first.ok + first.limited, 8);
  // a second key and a token subject each have a bucket of their own
  const second = await post({ key: otherKey });
  assert.equal(second.status, 200);
  const alice = await post({ token: tokenFor('alice') });
  assert.equal(alice.status, 200);
});

async function transportInit(key) {
  const ws = await rawSocket('graphql-transport-ws', `ws://127.0.0.1:${cluster.port}/graphql`);
  ws.sendJson({ type: 'connection_init', payload: { 'x-api-key': key } });
  return ws;
}

test('WebSocket: an identity holds at most rtsync.max_connections_per_identity connections', async () => {
  const key = cluster.sql(`SELECT rtsync.create_api_key('limits, connections')`);
  const a = await transportInit(key);
  assert.equal((await a.inbox.next()).type, 'connection_ack');
  const b = await transportInit(key);
  assert.equal((await b.inbox.next()).type, 'connection_ack');
  const c = await transportInit(key);
  assert.equal((await c.closed).code, 4403);
  // another identity is not affected
  const other = await transportInit(otherKey);
  assert.equal((await other.inbox.next()).type, 'connection_ack');
  other.close();
  // once one closes, a new connection is let in (the close is processed a moment later)
  a.close();
  await a.closed;
  let admitted = false;
  for (let i = 0; i < 100 && !admitted; i++) {
    const d = await transportInit(key);
    const first = await Promise.race([d.inbox.next(5000), d.closed]);
    admitted = first.type === 'connection_ack';
    d.close();
    if (!admitted) await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(admitted, 'a connection was admitted after one closed');
  b.close();
});

test('WebSocket: operations past the rate get the protocol error for that operation, and the connection stays', async () => {
  const ws = await transportInit(otherKey);
  assert.equal((await ws.inbox.next()).type, 'connection_ack');
  const n = 8;
  const started = Date.now();
  for (let i = 0; i < n; i++) {
    ws.sendJson({ id: `op${i}`, type: 'subscribe', payload: { query: `subscription { onCreateDataItem(id: "limits-${i}") { id } }` } });
  }
  const errors = [];
  ws.sendJson({ type: 'ping' });
  for (;;) {
    const m = await ws.inbox.next(5000, 'the answers');
    if (m.type === 'pong') break;
    if (m.type === 'error') errors.push(m);
  }
  const elapsed = (Date.now() - started) / 1000;
  const allowed = RATE + Math.ceil(elapsed * RATE);
  assert.ok(n - errors.length <= allowed, `${n - errors.length} operations passed, at most ${allowed} allowed`);
  assert.ok(errors.length >= n - allowed);
  for (const e of errors) assert.match(e.payload[0].message, /Rate limit exceeded/);
  ws.close();
});

test('the request log: one line per operation with identity, role, type, name and outcome; never the secret', async () => {
  const from = cluster.log().length;
  assert.equal((await post({ token: tokenFor('bob') })).status, 200);
  // without operationName, the name is the document's
  const unnamed = await post({ token: tokenFor('bob'), request: { query: 'query FromDocument { listDataItems { items { id } } }' } });
  assert.equal(unnamed.status, 200);
  assert.equal((await post({ key: 'not-a-key' })).status, 401);
  // a subscription over WebSocket, also named by its document
  const ws = await transportInit(cluster.sql(`SELECT rtsync.create_api_key('limits, request log')`));
  assert.equal((await ws.inbox.next()).type, 'connection_ack');
  ws.sendJson({ id: 's1', type: 'subscribe', payload: { query: 'subscription Watched { onCreateDataItem { id } }' } });
  ws.sendJson({ type: 'ping' });
  const answer = await ws.inbox.next();
  assert.equal(answer.type, 'pong', JSON.stringify(answer));
  ws.close();
  let log = '';
  for (let i = 0; i < 100; i++) {
    log = cluster.log().slice(from);
    if (log.includes('status=unauthorized')) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.match(log, /rtsync request: http query Limited identity=sub:bob role=limits_user status=ok duration=[\d.]+ ms/);
  assert.match(log, /rtsync request: http query FromDocument identity=sub:bob role=limits_user status=ok/);
  assert.match(log, /rtsync request: websocket subscription Watched identity=key:[0-9a-f]{12} role=\S+ status=ok/);
  assert.match(log, /rtsync request: http - - identity=- role=- status=unauthorized/);
  assert.match(cluster.log(), /rtsync request: http query Limited identity=key:[0-9a-f]{12} role=\S+ status=ok/);
  assert.match(cluster.log(), /status=limited/);
  assert.ok(!cluster.log().includes(cluster.apiKey), 'the API key itself is never logged');

  const metrics = await (await fetch(`http://127.0.0.1:${cluster.port}/metrics`)).text();
  for (const outcome of ['ok', 'unauthorized', 'limited']) {
    const m = metrics.match(new RegExp(`^rtsync_operations_total\\{outcome="${outcome}"\\} (\\d+)$`, 'm'));
    assert.ok(m && Number(m[1]) > 0, `rtsync_operations_total{outcome="${outcome}"} counted`);
  }
});
