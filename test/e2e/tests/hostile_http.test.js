// Hostile HTTP clients: pipelined requests, heads that never end or come a
// byte at a time, oversized heads, chunked and malformed bodies, huge
// answers, wrong WebSocket handshakes. Each gets a correct answer; healthy
// bystanders on all three protocols keep receiving; the worker keeps its
// pid, and its descriptors and memory come back to where they were.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import { readFileSync, readdirSync } from 'node:fs';
import { sql, port, httpUrl, apiKey, transportClient, collect, rawSocket, Inbox, workerPid } from '../lib/env.js';

const fds = (pid) => readdirSync(`/proc/${pid}/fd`).length;
// The worker's descriptors come back to within slack of what they were
// (closing is asynchronous: bounded polling).
async function fdsBack(slack = 2) {
  for (let i = 0; i < 50 && fds(pid0) > fds0 + slack; i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(fds(pid0) <= fds0 + slack, `descriptors back: ${fds(pid0)} vs ${fds0}`);
}
const rssKb = (pid) => Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1]);

// Sends raw bytes on a new connection; resolves with everything the server
// sent until it closed (or until timeoutMs, then with what came).
function raw(chunks, { timeoutMs = 5000, endAfter = false } = {}) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    const timer = setTimeout(() => { s.destroy(); resolve({ data: got, closed: false }); }, timeoutMs);
    s.on('data', (d) => { got += d.toString('latin1'); });
    s.on('close', () => { clearTimeout(timer); resolve({ data: got, closed: true }); });
    s.on('error', (e) => { if (e.code !== 'ECONNRESET') { clearTimeout(timer); reject(e); } });
    s.on('connect', () => {
      for (const c of [].concat(chunks)) s.write(c);
      if (endAfter) s.end();
    });
  });
}
const statuses = (data) => [...data.matchAll(/HTTP\/1\.1 (\d{3}) [A-Z]/g)].map((m) => Number(m[1]));

// Bystanders, one per protocol, each subscribed to every new row of the test.
let pid0, fds0;
const bystanders = [];
before(async () => {
  sql(`DELETE FROM data_items WHERE id LIKE 'hos-%'`);
  pid0 = workerPid();
  const transport = transportClient();
  bystanders.push({ name: 'graphql-transport-ws', inbox: collect(transport, { query: 'subscription { onCreateDataItem(title: "hos") { id } }' }),
    close: () => transport.dispose() });
  await transport.sync();
  const legacy = await rawSocket('graphql-ws');
  legacy.sendJson({ type: 'connection_init', payload: { 'x-api-key': apiKey } });
  assert.equal((await legacy.nextIgnoringKa()).type, 'connection_ack');
  legacy.sendJson({ id: 'l', type: 'start', payload: { query: 'subscription { onCreateDataItem(title: "hos") { id } }' } });
  const appsync = await rawSocket(['graphql-ws', 'header-' + Buffer.from(JSON.stringify({ host: 'x', 'x-api-key': apiKey })).toString('base64url')],
    `ws://127.0.0.1:${port}/graphql/realtime`);
  appsync.sendJson({ type: 'connection_init' });
  assert.equal((await appsync.nextIgnoringKa()).type, 'connection_ack');
  appsync.sendJson({ id: 'a', type: 'start', payload: { data: JSON.stringify({ query: 'subscription { onCreateDataItem(title: "hos") { id } }' }),
    extensions: { authorization: { host: 'x', 'x-api-key': apiKey } } } });
  assert.equal((await appsync.nextIgnoringKa()).type, 'start_ack');
  bystanders.push({ name: 'legacy', socket: legacy, close: () => legacy.close() });
  bystanders.push({ name: 'appsync', socket: appsync, close: () => appsync.close() });
  // the legacy start has no ack: a first row proves all three are live
  await checkBystanders('hos-0');
  fds0 = fds(pid0);
});

after(async () => {
  for (const b of bystanders) await b.close();
  sql(`DELETE FROM data_items WHERE id LIKE 'hos-%'`);
  sql(`ALTER SYSTEM RESET rtsync.http_head_timeout`);
  sql(`ALTER SYSTEM RESET rtsync.max_response_bytes`);
  sql(`SELECT pg_reload_conf()`);
});

// A row committed now reaches every bystander promptly, and the worker is
// the same process.
async function checkBystanders(id) {
  const started = Date.now();
  sql(`INSERT INTO data_items (id, title) VALUES ('${id}', 'hos')`);
  for (const b of bystanders) {
    if (b.inbox) {
      assert.equal((await b.inbox.next(3000, `${b.name} bystander`)).next.data.onCreateDataItem.id, id);
    } else {
      const m = await b.socket.nextIgnoringKa(3000, `${b.name} bystander`);
      assert.equal(m.type, 'data', `${b.name}: ${JSON.stringify(m)}`);
      const payload = m.payload.data;
      assert.equal(payload.onCreateDataItem.id, id);
    }
  }
  assert.ok(Date.now() - started < 3000);
  assert.equal(workerPid(), pid0, 'the worker kept its pid');
}

async function healthz() {
  const { data } = await raw('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.match(data, /^HTTP\/1\.1 200 /);
}

test('pipelined requests are answered in order, and the server stays responsive', async () => {
  const post = (q) => `POST /graphql HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\nx-api-key: ${apiKey}\r\ncontent-length: ${Buffer.byteLength(q)}\r\n\r\n${q}`;
  // the reproduction: a GET and a POST in one write
  let r = await raw('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nPOST /graphql HTTP/1.1\r\nHost: x\r\ncontent-length: 2\r\n\r\n{}', { timeoutMs: 2000 });
  const st = statuses(r.data);
  assert.equal(st.length, 2, r.data);
  assert.equal(st[0], 200);
  assert.ok(st[1] >= 400 && st[1] < 500, 'the body-less POST is refused, not left hanging');
  // two POSTs, then a GET that closes
  const q1 = JSON.stringify({ query: '{ a: listDataItems(limit: 1) { items { id } } }' });
  const q2 = JSON.stringify({ query: '{ b: listDataItems(limit: 1) { items { id } } }' });
  r = await raw(post(q1) + post(q2) + 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.deepEqual(statuses(r.data), [200, 200, 200], r.data);
  assert.ok(r.data.indexOf('"a":') < r.data.indexOf('"b":'), 'answers in request order');
  assert.ok(r.closed);
  // 200 pipelined GETs in one write, bounded
  r = await raw('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(199) + 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.equal(statuses(r.data).length, 200);
  await healthz();
  await checkBystanders('hos-pipe');
});

test('heads that never end time out as a whole, and closed ones are let go', async () => {
  sql(`ALTER SYSTEM SET rtsync.http_head_timeout = '1s'`);
  sql(`SELECT pg_reload_conf()`);
  await checkBystanders('hos-reload'); // the worker has read its settings by now
  // 100 clients send "G" and close: nothing of theirs stays open
  await Promise.all(Array.from({ length: 100 }, () => raw('G', { endAfter: true, timeoutMs: 3000 })));
  // a head sent a byte every 100 ms is cut at the deadline with 408, not accepted later
  const started = Date.now();
  const trickle = await new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const head = 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: ' + 'a'.repeat(100) + '\r\n\r\n';
    let i = 0;
    let got = '';
    const timer = setInterval(() => { if (i < head.length && !s.destroyed) s.write(head[i++]); }, 100);
    s.on('data', (d) => { got += d; });
    s.on('close', () => { clearInterval(timer); resolve(got); });
    s.on('error', () => {});
  });
  assert.match(trickle, /^HTTP\/1\.1 408 /);
  assert.ok(Date.now() - started < 3000, 'the deadline is a total');
  // 200 clients send half a head and then nothing: all answered 408 and closed
  const halves = await Promise.all(Array.from({ length: 200 }, () => raw('GET /graphql HTTP/1.1\r\nHost: x\r\n', { timeoutMs: 5000 })));
  assert.ok(halves.every((h) => h.closed && /^HTTP\/1\.1 408 /.test(h.data)), 'every half head was closed with 408');
  // a connection that sends nothing at all is closed too
  const silent = await raw([], { timeoutMs: 5000 });
  assert.ok(silent.closed);
  await checkBystanders('hos-heads');
  await fdsBack();
});

test('large heads are accepted up to 32 kB; larger ones get 431, a long URI 414', async () => {
  // the documented GET form with a 2 kB query
  const q = `{ listDataItems(limit: 1) { items { id ${'title '.repeat(300)} } } }`;
  let res = await fetch(`${httpUrl}?query=${encodeURIComponent(q)}`, { headers: { 'x-api-key': apiKey } });
  assert.equal(res.status, 200);
  assert.ok((await res.json()).data.listDataItems);
  // browser cookies of 6 kB, a long AppSync-style header
  res = await fetch(`${httpUrl}`, { method: 'POST', headers: { 'x-api-key': apiKey, 'content-type': 'application/json',
    cookie: 'c=' + 'x'.repeat(6000), 'x-amz-user-agent': 'y'.repeat(4000) }, body: JSON.stringify({ query: '{ listDataItems(limit: 1) { items { id } } }' }) });
  assert.equal(res.status, 200);
  // a 10 kB API key is just a wrong key
  res = await fetch(httpUrl, { method: 'POST', headers: { 'x-api-key': 'k'.repeat(7000), 'content-type': 'application/json' },
    body: JSON.stringify({ query: '{ listDataItems { items { id } } }' }) });
  assert.equal(res.status, 401);
  // four 8 kB headers fit (nginx's large_client_header_buffers 4 8k); five do not
  const pad = (n) => Array.from({ length: n }, (_, i) => `X-${i}: ${'h'.repeat(7900)}\r\n`).join('');
  let r = await raw(`GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${pad(4)}\r\n`);
  assert.deepEqual(statuses(r.data), [200]);
  r = await raw(`GET /healthz HTTP/1.1\r\nHost: x\r\n${pad(5)}\r\n`);
  assert.deepEqual(statuses(r.data), [431]);
  r = await raw(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: ${'l'.repeat(9000)}\r\n\r\n`);
  assert.deepEqual(statuses(r.data), [431]);
  r = await raw(`GET /graphql?query=${'a'.repeat(9000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
  assert.deepEqual(statuses(r.data), [414]);
  // a WebSocket upgrade with 14 kB of headers still works
  const ws = await rawSocket('graphql-transport-ws', undefined, { 'x-pad1': 'p'.repeat(7000), 'x-pad2': 'q'.repeat(7000) });
  ws.sendJson({ type: 'connection_init', payload: { 'x-api-key': apiKey } });
  assert.equal((await ws.inbox.next()).type, 'connection_ack');
  ws.close();
  await checkBystanders('hos-big');
});

test('chunked bodies are read; bad framing gets 400', async () => {
  // Node sends chunked whenever no Content-Length is set
  const body = JSON.stringify({ query: 'mutation { createDataItem(input: {id: "hos-chunk", title: "chunked"}) { id } }' });
  const answer = await new Promise((resolve, reject) => {
    const req = http.request(httpUrl, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': apiKey } }, (res) => {
      let d = '';
      res.on('data', (c) => { d += c; });
      res.on('end', () => resolve({ status: res.statusCode, body: d }));
    });
    req.on('error', reject);
    req.write(body.slice(0, 10));
    req.end(body.slice(10));
  });
  assert.equal(answer.status, 200);
  assert.equal(JSON.parse(answer.body).data.createDataItem.id, 'hos-chunk');
  let r = await raw('POST /graphql HTTP/1.1\r\nHost: x\r\ncontent-length: -1\r\n\r\n');
  assert.deepEqual(statuses(r.data), [400]);
  r = await raw('POST /graphql HTTP/1.1\r\nHost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n');
  assert.deepEqual(statuses(r.data), [400]);
  r = await raw('POST /graphql HTTP/1.1\r\nHost: x\r\ntransfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n0\r\n\r\n');
  assert.deepEqual(statuses(r.data), [400]);
  // a chunked body over rtsync.max_request_bytes is refused without reading it all
  r = await raw(['POST /graphql HTTP/1.1\r\nHost: x\r\ntransfer-encoding: chunked\r\n\r\n',
    ('10000\r\n' + 'x'.repeat(0x10000) + '\r\n').repeat(100)]);
  assert.deepEqual(statuses(r.data), [413]);
  await checkBystanders('hos-chunked');
});

test('answers have a bound, and one large answer stalls no one', async () => {
  sql(`ALTER SYSTEM SET rtsync.max_response_bytes = '64kB'`);
  sql(`SELECT pg_reload_conf()`);
  sql(`INSERT INTO data_items (id, title, content) SELECT 'hos-big-' || i, 'big', repeat('z', 1000) FROM generate_series(1, 200) i`);
  await checkBystanders('hos-bound-reload');
  const fields = Array.from({ length: 20 }, (_, i) => `f${i}: listDataItems(limit: 200) { items { id content } }`).join(' ');
  const res = await fetch(httpUrl, { method: 'POST', headers: { 'x-api-key': apiKey, 'content-type': 'application/json' },
    body: JSON.stringify({ query: `{ ${fields} }` }) });
  const body = await res.json();
  assert.equal(body.errors[0].errorType, 'ResponseTooLarge');
  assert.match(body.errors[0].message, /rtsync\.max_response_bytes/);
  // a small answer still comes
  const ok = await fetch(httpUrl, { method: 'POST', headers: { 'x-api-key': apiKey, 'content-type': 'application/json' },
    body: JSON.stringify({ query: '{ listDataItems(limit: 2) { items { id } } }' }) });
  assert.ok((await ok.json()).data.listDataItems);
  await checkBystanders('hos-bound');
});

test('wrong WebSocket handshakes and methods get a status', async () => {
  const upgrade = (path, extra = '') => `GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`;
  assert.deepEqual(statuses((await raw(upgrade('/nowhere'))).data), [404]);
  assert.deepEqual(statuses((await raw(upgrade('/graphql', 'Sec-WebSocket-Protocol: mqtt\r\n'))).data), [400]);
  assert.deepEqual(statuses((await raw(upgrade('/graphql', 'Sec-WebSocket-Protocol: graphql-transport-ws\r\n'), { timeoutMs: 1000 })).data), [101]);
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { method: 'DELETE' });
  assert.equal(res.status, 405);
  assert.match(res.headers.get('allow'), /GET/);
  assert.deepEqual(statuses((await raw('BREW /graphql HTTP/2.0\r\nHost: x\r\n\r\n')).data), [505]);
  assert.deepEqual(statuses((await raw('GET /healthz HTTP/1.1\nHost: x\n\n')).data), [400]);
  await checkBystanders('hos-ws');
  await fdsBack();
  assert.ok(rssKb(pid0) < 400 * 1024, `worker RSS ${rssKb(pid0)} kB`);
});
