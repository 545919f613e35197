// TLS: with rtsync.tls_cert_file and rtsync.tls_key_file the server speaks
// wss:// and https://. rtsync terminates TLS itself (bgworker/net/tls_proxy.c)
// and serves the plaintext exactly like a plain-TCP connection, so what
// hostile_http.test.js asserts of plain TCP holds here too: pipelining,
// chunked bodies, long AppSync subprotocol tokens, deadlines, no leaks.
// A certificate made for the run with openssl, trusted by the clients as
// their CA. On a cluster of this file's own: TLS is a postmaster setting.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chownSync, readFileSync, readdirSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import path from 'node:path';
import WebSocket from 'ws';
import { transportClient, collect, rawSocket, workerPid, messageWithoutPosition } from '../lib/env.js';
import { startCluster } from '../lib/cluster.js';

let cluster;
let ca;

before(async () => {
  cluster = await startCluster({
    offset: 2,
    settings: (dir) => [
      `rtsync.tls_cert_file = '${path.join(dir, 'rtsync.crt')}'`,
      `rtsync.tls_key_file = '${path.join(dir, 'rtsync.key')}'`,
      // also the TLS handshake's deadline: short, for the test of it
      `rtsync.http_head_timeout = '1s'`,
    ],
    prepare: (dir) => {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
        '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-keyout', path.join(dir, 'rtsync.key'), '-out', path.join(dir, 'rtsync.crt')], { stdio: 'ignore' });
      if (process.getuid?.() === 0) {
        const { uid, gid } = JSON.parse(execFileSync('bash', ['-c', 'echo "{\\"uid\\":$(id -u postgres),\\"gid\\":$(id -g postgres)}"'], { encoding: 'utf8' }));
        for (const f of ['rtsync.key', 'rtsync.crt']) chownSync(path.join(dir, f), uid, gid);
      }
      ca = readFileSync(path.join(dir, 'rtsync.crt'));
    },
    ca: () => ca,
  });
});
after(() => cluster?.stop());

// ws with the test's CA: the certificate is verified, not waved through
class TlsWebSocket extends WebSocket {
  constructor(url, protocols) { super(url, protocols, { ca }); }
}

test('a graphql-ws client over wss:// gets its subscription events', async () => {
  const client = transportClient({
    url: `wss://127.0.0.1:${cluster.port}/graphql`,
    webSocketImpl: TlsWebSocket,
    connectionParams: { 'x-api-key': cluster.apiKey },
  });
  try {
    const inbox = collect(client, { query: `subscription { onCreateDataItem { id title } }` });
    await client.sync();
    cluster.sql(`INSERT INTO data_items (id, title) VALUES ('tls-1', 'over TLS')`);
    assert.deepEqual((await inbox.next()).next.data, { onCreateDataItem: { id: 'tls-1', title: 'over TLS' } });
  } finally {
    await client.dispose();
  }
});

test('AppSync with the key in the header= query parameter over wss://', async () => {
  const header = Buffer.from(JSON.stringify({ host: `127.0.0.1:${cluster.port}`, 'x-api-key': cluster.apiKey })).toString('base64url');
  const ws = await rawSocket('graphql-ws', `wss://127.0.0.1:${cluster.port}/graphql/realtime?header=${header}&payload=e30=`, {}, { ca });
  try {
    assert.equal(ws.protocol, 'graphql-ws');
    ws.sendJson({ type: 'connection_init' });
    assert.deepEqual(await ws.inbox.next(), { type: 'connection_ack', payload: { connectionTimeoutMs: 300000 } });
    assert.deepEqual(await ws.inbox.next(), { type: 'ka' });
    ws.sendJson({
      id: 's', type: 'start',
      payload: { data: JSON.stringify({ query: `subscription { onCreateDataItem(title: "tls-appsync") { id } }` }), extensions: { authorization: { 'x-api-key': cluster.apiKey } } },
    });
    assert.deepEqual(await ws.nextIgnoringKa(), { type: 'start_ack', id: 's' });
    cluster.sql(`INSERT INTO data_items (id, title) VALUES ('tls-2', 'tls-appsync')`);
    assert.deepEqual(messageWithoutPosition(await ws.nextIgnoringKa()), { type: 'data', id: 's', payload: { data: { onCreateDataItem: { id: 'tls-2' } } } });
  } finally {
    ws.close();
  }
});

test('a client that does not trust the certificate is refused by its own TLS check', async () => {
  await assert.rejects(rawSocket('graphql-transport-ws', `wss://127.0.0.1:${cluster.port}/graphql`), /self.signed|certificate/i);
});

// ----- HTTP over TLS: the plain-TCP server's behaviour -----

const fds = (pid) => readdirSync(`/proc/${pid}/fd`).length;
const statuses = (data) => [...data.matchAll(/HTTP\/1\.1 (\d{3}) [A-Z]/g)].map((m) => Number(m[1]));

// Raw bytes over TLS in one write; resolves with everything the server sent
// until it closed (or with what came by timeoutMs, closed: false).
function tlsRaw(bytes, { timeoutMs = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ port: cluster.port, host: '127.0.0.1', ca, servername: 'localhost' });
    let got = '';
    const timer = setTimeout(() => { s.destroy(); resolve({ data: got, closed: false }); }, timeoutMs);
    s.on('data', (d) => { got += d.toString('latin1'); });
    s.on('close', () => { clearTimeout(timer); resolve({ data: got, closed: true }); });
    s.on('error', (e) => { if (e.code !== 'ECONNRESET') { clearTimeout(timer); reject(e); } });
    s.on('secureConnect', () => s.write(bytes));
  });
}

// A plain TCP connection to the TLS port that sends bytes (maybe none) and
// waits for the server to close it.
function tcpRaw(bytes, timeoutMs = 5000) {
  return new Promise((resolve) => {
    const s = net.connect(cluster.port, '127.0.0.1');
    const t0 = Date.now();
    const timer = setTimeout(() => { s.destroy(); resolve({ closed: false, ms: Date.now() - t0 }); }, timeoutMs);
    s.on('error', () => {});
    s.on('close', () => { clearTimeout(timer); resolve({ closed: true, ms: Date.now() - t0 }); });
    s.on('connect', () => { if (bytes.length) s.write(bytes); });
  });
}

function httpsGet(pathname, agent) {
  return new Promise((resolve, reject) => {
    https.get({ host: '127.0.0.1', port: cluster.port, path: pathname, ca, agent, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    }).on('error', reject).on('timeout', function () { this.destroy(new Error('https GET timed out')); });
  });
}

const listQuery = JSON.stringify({ query: `{ listDataItems(limit: 1) { items { id } } }` });
const post = (close = false) => `POST /graphql HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n` +
  `x-api-key: ${cluster.apiKey}\r\ncontent-length: ${Buffer.byteLength(listQuery)}\r\n` +
  (close ? 'Connection: close\r\n' : '') + `\r\n${listQuery}`;
const get = (close = false) => `GET /healthz HTTP/1.1\r\nHost: x\r\n${close ? 'Connection: close\r\n' : ''}\r\n`;

test('pipelined GET + POST and POST + GET over TLS in one write are answered in order; the worker keeps its pid', async () => {
  const pid = workerPid((q) => cluster.sql(q));
  const a = await tlsRaw(get() + post(true));
  assert.ok(a.closed, 'the server closes after the answer that said close');
  assert.deepEqual(statuses(a.data), [200, 200]);
  assert.ok(a.data.indexOf('"listDataItems"') > a.data.indexOf('HTTP/1.1 200', 1), 'the GraphQL answer comes second');
  const b = await tlsRaw(post() + get(true));
  assert.ok(b.closed);
  assert.deepEqual(statuses(b.data), [200, 200]);
  assert.ok(b.data.indexOf('"listDataItems"') < b.data.lastIndexOf('HTTP/1.1 200'), 'the GraphQL answer comes first');
  // the crash of issue 8: each request answered with close, pipelined
  const c = await tlsRaw(post(true) + get());
  assert.deepEqual(statuses(c.data), [200]);
  assert.equal(workerPid((q) => cluster.sql(q)), pid);
  assert.equal((await httpsGet('/healthz')).status, 200);
});

test('a chunked POST over https:// is answered', async () => {
  const res = await new Promise((resolve, reject) => {
    // no Content-Length: node sends Transfer-Encoding: chunked
    const req = https.request({ host: '127.0.0.1', port: cluster.port, path: '/graphql', method: 'POST', ca, timeout: 5000,
      headers: { 'content-type': 'application/json', 'x-api-key': cluster.apiKey } }, (r) => {
      let body = '';
      r.on('data', (d) => { body += d; });
      r.on('end', () => resolve({ status: r.statusCode, headers: r.headers, body }));
    });
    req.on('error', reject).on('timeout', () => req.destroy(new Error('chunked POST timed out')));
    assert.equal(req.getHeader('content-length'), undefined);
    req.write(listQuery.slice(0, 10));
    req.end(listQuery.slice(10));
  });
  assert.equal(res.status, 200);
  assert.ok(JSON.parse(res.body).data.listDataItems);
});

test('an AppSync client with its key in a long header- subprotocol token over wss://', async () => {
  const header = Buffer.from(JSON.stringify({ host: `127.0.0.1:${cluster.port}`, 'x-api-key': cluster.apiKey,
    'x-amz-date': '20240101T000000Z', 'x-amz-user-agent': 'aws-amplify/6.0.0 api/1 framework/1' })).toString('base64url');
  const token = 'header-' + header;
  assert.ok(token.length > 127, 'longer than lws 4.1 takes in Sec-WebSocket-Protocol');
  const ws = await rawSocket(['graphql-ws', token], `wss://127.0.0.1:${cluster.port}/graphql/realtime`, {}, { ca });
  try {
    assert.equal(ws.protocol, 'graphql-ws');
    ws.sendJson({ type: 'connection_init' });
    assert.equal((await ws.nextIgnoringKa()).type, 'connection_ack');
    ws.sendJson({
      id: 'h', type: 'start',
      payload: { data: JSON.stringify({ query: `subscription { onCreateDataItem(title: "tls-token") { id } }` }), extensions: { authorization: { 'x-api-key': cluster.apiKey } } },
    });
    assert.deepEqual(await ws.nextIgnoringKa(), { type: 'start_ack', id: 'h' });
    cluster.sql(`INSERT INTO data_items (id, title) VALUES ('tls-3', 'tls-token')`);
    assert.deepEqual(messageWithoutPosition(await ws.nextIgnoringKa()), { type: 'data', id: 'h', payload: { data: { onCreateDataItem: { id: 'tls-3' } } } });
  } finally {
    ws.close();
  }
});

test('a client that sends nothing, or half a TLS handshake, is closed at the deadline', async () => {
  // rtsync.http_head_timeout is 1 s on this cluster
  const silent = await tcpRaw(Buffer.alloc(0));
  assert.ok(silent.closed, 'a silent client is closed');
  assert.ok(silent.ms >= 900 && silent.ms < 4000, `closed after ${silent.ms} ms`);
  // a ClientHello record header announcing 512 bytes, and 7 of them
  const half = await tcpRaw(Buffer.from('160301020001000200030300000000', 'hex'));
  assert.ok(half.closed, 'half a handshake is closed');
  assert.ok(half.ms >= 900 && half.ms < 4000, `closed after ${half.ms} ms`);
});

test('the explorer page over https://', async () => {
  const res = await httpsGet('/');
  assert.equal(res.status, 200);
  assert.match(res.headers['content-type'], /text\/html/);
  assert.match(res.body, /<title>rtsync explorer<\/title>/);
});

test('many TLS connections leave no descriptor behind', async () => {
  const pid = workerPid((q) => cluster.sql(q));
  const fds0 = fds(pid);
  for (let round = 0; round < 10; round++) {
    await Promise.all([
      // keep-alive GETs closed by the client
      ...Array.from({ length: 10 }, async () => {
        const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
        assert.equal((await httpsGet('/healthz', agent)).status, 200);
        assert.equal((await httpsGet('/healthz', agent)).status, 200);
        agent.destroy();
      }),
      // pipelined requests the server closes
      ...Array.from({ length: 5 }, async () => assert.deepEqual(statuses((await tlsRaw(get() + get(true))).data), [200, 200])),
      // WebSockets opened and closed
      ...Array.from({ length: 5 }, async () => {
        const ws = await rawSocket('graphql-transport-ws', `wss://127.0.0.1:${cluster.port}/graphql`, {}, { ca });
        ws.close();
        await ws.closed;
      }),
      // handshakes given up halfway
      ...Array.from({ length: 5 }, () => new Promise((resolve) => {
        const s = net.connect(cluster.port, '127.0.0.1', () => { s.write(Buffer.from('16030102000100', 'hex')); s.destroy(); resolve(); });
        s.on('error', resolve);
      })),
    ]);
  }
  // closing is asynchronous: bounded polling
  for (let i = 0; i < 50 && fds(pid) > fds0 + 2; i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(fds(pid) <= fds0 + 2, `descriptors back: ${fds(pid)} vs ${fds0}`);
  assert.equal(workerPid((q) => cluster.sql(q)), pid);
});
