// The worker's memory and error boundaries, seen from outside: a database
// name that needs quoting in the conninfo, many frames to one client
// arriving whole and in order (the direct send, net/transport.c conn_flush, and
// the lws version it is written for), memory that returns to where it was
// after thousands of connections, and a schema that fails to build at
// start without leaving the worker a dangling pointer.
//
// A cluster of this file's own: its rtsync.database is a name with a quote
// and a backslash, and the last test restarts the worker.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { createClient } from 'graphql-ws';
import { Inbox, collect, rawSocket } from '../lib/env.js';
import { startCluster } from '../lib/cluster.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const dbName = "rtsync's \\ db";
let cluster;
let dbEnv;
let key;

// SQL in the served database (cluster.sql runs in postgres)
const dbSql = (query) => execFileSync('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-c', query],
  { encoding: 'utf8', env: dbEnv }).trim();
const workerPid = () => cluster.sql(`SELECT pid FROM pg_stat_activity WHERE backend_type = 'rtsync server'`);

async function graphql(query, timeoutMs = 5000) {
  const res = await fetch(`http://127.0.0.1:${cluster.port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': key },
    body: JSON.stringify({ query }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  return { status: res.status, body: await res.json() };
}

// Retries fn until it returns something truthy: for what the worker does
// in its own time (reconnect with backoff, restart); bounded.
async function until(what, fn, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let value;
    try { value = await fn(); } catch { value = undefined; }
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(async () => {
  cluster = await startCluster({
    offset: 3,
    // GUC file syntax: '' is a quote, \\ a backslash
    settings: () => ["rtsync.database = 'rtsync''s \\\\ db'", "rtsync.keepalive_interval = '1s'"],
  });
  dbEnv = {
    ...process.env, PGHOST: cluster.dir, PGPORT: String(cluster.pgPort), PGDATABASE: dbName,
    PGUSER: process.getuid?.() === 0 ? 'postgres' : os.userInfo().username,
  };
  cluster.sql(`CREATE DATABASE "${dbName}"`);
  execFileSync('psql', ['-X', '-q', '-o', '/dev/null', '-v', 'ON_ERROR_STOP=1', '-f', 'scripts/data_items.sql'],
    { cwd: repo, env: dbEnv, stdio: ['ignore', 'ignore', 'pipe'] });
  key = dbSql(`SELECT rtsync.create_api_key('guards')`);
});

after(() => cluster?.stop());

test('a database name with a quote and a backslash: the worker connects to it and serves it', async () => {
  assert.equal(cluster.sql('SHOW rtsync.database'), dbName);
  dbSql(`INSERT INTO data_items (id, title) VALUES ('g-1', 'quoted')`);
  // the worker retries its connections with backoff until the database exists
  const { body } = await until('the worker to serve the database',
    async () => { const r = await graphql('{ getDataItem(id: "g-1") { id title } }'); return r.body.data?.getDataItem && r; });
  assert.deepEqual(body, { data: { getDataItem: { id: 'g-1', title: 'quoted' } } });
  // the slot streams from it too
  assert.equal(dbSql(`SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'rtsync' AND database = current_database()`), '1');
});

test('the build uses libwebsockets 4.1, which the direct send is written for', () => {
  // the headers the build used (Debian's package; pkg-config is not installed everywhere)
  const version = execFileSync('dpkg-query', ['-W', '--showformat=${Version}', 'libwebsockets-dev'], { encoding: 'utf8' }).trim();
  assert.match(version, /^4\.1\./, 'net/transport.c conn_flush relies on lws 4.1 (see its banner)');
});

test('3,000 events to one client in one transaction arrive whole and in order', async () => {
  const client = createClient({
    url: `ws://127.0.0.1:${cluster.port}/graphql`, webSocketImpl: WebSocket, lazy: false, retryAttempts: 0,
    connectionParams: { 'x-api-key': key },
  });
  const acked = new Promise((resolve) => client.on('connected', resolve));
  const inbox = collect(client, { query: 'subscription { onCreateDataItem(title: "order") { id title content } }' });
  await acked;
  // a round trip through the server after the subscribe: it is registered
  await graphql('{ __typename }');
  const filler = 'x'.repeat(300);
  dbSql(`INSERT INTO data_items (id, title, content)
         SELECT 'ord-' || lpad(i::text, 5, '0'), 'order', '${filler}' || i FROM generate_series(1, 3000) i`);
  for (let i = 1; i <= 3000; i++) {
    const m = await inbox.next(10000, `event ${i}`);
    assert.deepEqual(m.next?.data?.onCreateDataItem,
      { id: `ord-${String(i).padStart(5, '0')}`, title: 'order', content: `${filler}${i}` });
  }
  await client.dispose();
  dbSql(`DELETE FROM data_items WHERE id LIKE 'ord-%'`);
});

// The worker's memory contexts' grand total, as pg_log_backend_memory_contexts logs it.
let dumps = 0;
async function usedBytes() {
  const from = cluster.log().length;
  assert.equal(cluster.sql(`SELECT pg_log_backend_memory_contexts(${workerPid()})`), 't');
  dumps++;
  const line = await until('the memory context dump', () =>
    cluster.log().slice(from).match(/Grand total: \d+ bytes in \d+ blocks; \d+ free \(\d+ chunks\); (\d+) used/));
  return Number(line[1]);
}

const realtimeUrl = () => `ws://127.0.0.1:${cluster.port}/graphql/realtime`;
const header = () => Buffer.from(JSON.stringify({ host: `127.0.0.1:${cluster.port}`, 'x-api-key': key })).toString('base64url');

// One AppSync client's life: handshake with the key in the subprotocol,
// init, a subscription, a refused one, close.
async function appsyncCycle(i) {
  const ws = await rawSocket(['graphql-ws', `header-${header()}`], realtimeUrl());
  ws.sendJson({ type: 'connection_init' });
  assert.equal((await ws.nextIgnoringKa()).type, 'connection_ack');
  const start = (id, query) => ws.sendJson({
    id, type: 'start',
    payload: {
      data: JSON.stringify({ query, variables: {} }),
      extensions: { authorization: { 'x-api-key': key, host: `127.0.0.1:${cluster.port}` } },
    },
  });
  start('s', `subscription { onCreateDataItem(title: "leak-${i}") { id } }`);
  assert.deepEqual(await ws.nextIgnoringKa(), { type: 'start_ack', id: 's' });
  start('bad', 'subscription { noSuchField { id } }');
  assert.equal((await ws.nextIgnoringKa()).type, 'error');
  ws.close();
  await ws.closed;
}

test('thousands of clients and requests later the worker\'s memory is back where it was', async (t) => {
  const run = async (n, from) => {
    for (let i = from; i < from + n; i += 20) {
      await Promise.all(Array.from({ length: 20 }, (_, j) => appsyncCycle(i + j)));
      const answers = await Promise.all(Array.from({ length: 20 }, () => graphql('{ listDataItems(limit: 1) { items { id } } }')));
      for (const a of answers) assert.equal(a.status, 200);
    }
  };
  await run(200, 0);				// warm up: caches, free lists, the pool
  const before = await usedBytes();
  await run(2000, 200);
  const afterRun = await usedBytes();
  t.diagnostic(`worker memory used: ${before} -> ${afterRun} bytes`);
  // 2,000 clients and requests: a leak of even 100 bytes each would show
  assert.ok(afterRun - before < 100 * 1000,
    `the worker holds ${afterRun - before} bytes more after 2,000 clients and requests (${before} -> ${afterRun})`);
});

test('the first schema fails to build: requests are answered and the schema that loads later replaces it', async () => {
  const definition = dbSql(`SELECT pg_get_functiondef('rtsync._schema_description()'::regprocedure)`);
  dbSql(`CREATE OR REPLACE FUNCTION rtsync._schema_description() RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$`);
  const old = workerPid();
  cluster.sql(`SELECT pg_terminate_backend(${old})`);
  const pid = await until('the worker to start again', () => { const p = workerPid(); return p && p !== old && p; });
  // the keys load, the schema does not: the worker serves an empty one
  const first = await until('an answer', async () => { const r = await graphql('{ __typename }'); return r.status === 200 && r; });
  assert.deepEqual(first.body, { data: { __typename: 'Query' } });
  assert.match(cluster.log(), /could not build the GraphQL schema/);
  for (let i = 0; i < 50; i++) {
    const r = await graphql('{ listDataItems { items { id } } }');
    assert.equal(r.body.data, null, 'no table in the empty schema');
    const sdl = await fetch(`http://127.0.0.1:${cluster.port}/graphql/schema.graphql`, { headers: { 'x-api-key': key } });
    assert.equal(sdl.status, 200);
    assert.doesNotMatch(await sdl.text(), /DataItem/);
  }
  // the real schema again; creating a key makes the worker load again
  dbSql(definition);
  dbSql(`SELECT rtsync.create_api_key('reload')`);
  const r = await until('the schema to load', async () => { const a = await graphql('{ getDataItem(id: "g-1") { id } }'); return a.body.data?.getDataItem && a; });
  assert.deepEqual(r.body, { data: { getDataItem: { id: 'g-1' } } });
  assert.equal(workerPid(), pid, 'the worker is the one that served the empty schema');
  assert.doesNotMatch(cluster.log(), /terminated by signal/);
});
