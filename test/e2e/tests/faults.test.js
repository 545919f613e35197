// The fault suite (issue 11, section 4): a writer commits numbered rows at a
// steady rate while four stock subscribers stay subscribed, each with only
// the README's resume lines: graphql-ws, subscriptions-transport-ws, AWS
// Amplify v6, and a graphql-ws client in a process of its own (to be
// paused). One after another: the worker gets SIGTERM; the worker gets
// SIGKILL (the postmaster's crash restart); its walsender is terminated;
// the server restarts with -m immediate; the clients' TCP connections are
// cut; the paused client passes its queue bound, is closed with 1013 and
// resumes. After each fault every client catches up; at the end every
// client has received every committed row exactly once, in commit order.
// A resume older than retention is a TrimmedDataAccessException.
// On a cluster of this file's own.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { createClient } from 'graphql-ws';
import { SubscriptionClient } from 'subscriptions-transport-ws';
import { Amplify } from 'aws-amplify';
import { generateClient } from 'aws-amplify/api';
import { startCluster } from '../lib/cluster.js';
import { until } from '../lib/rls.js';
import { Inbox } from '../lib/env.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
// Amplify opens its sockets with the global WebSocket: keep them, to cut them
const amplifySockets = [];
globalThis.WebSocket = class extends WebSocket {
  constructor(...args) { super(...args); amplifySockets.push(this); }
};

const TITLE = 'fault';
const query = `subscription { onCreateDataItem(title: "${TITLE}") { id } }`;
const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
let cluster;
let wsUrl;
const expected = []; // the ids committed, in commit order
const clients = [];

// --- the writer: one row at a time, ~50 a second; a row whose commit is in
// doubt (the server went) is written again, ON CONFLICT DO NOTHING, so each
// id is committed, and streamed, once
const writer = { stop: false, pause: false, paused: null, resume: null, done: null, next: 1 };
function psql(sql) {
  return new Promise((resolve) => execFile('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-c', sql],
    { env: cluster.env }, (error, stdout) => resolve(error ? null : stdout.trim())));
}
async function write() {
  while (!writer.stop && writer.next <= 20000) {
    if (writer.pause) {
      writer.paused?.();
      await new Promise((resolve) => { writer.resume = resolve; });
      continue;
    }
    const id = `f-${String(writer.next).padStart(6, '0')}`;
    if (await psql(`INSERT INTO data_items (id, title) VALUES ('${id}', '${TITLE}') ON CONFLICT (id) DO NOTHING`) === null) {
      await delay(100); // the server is away: again shortly
      continue;
    }
    expected.push(id);
    writer.next++;
    await delay(20);
  }
}
async function pauseWriter() {
  const paused = new Promise((resolve) => { writer.paused = resolve; });
  writer.pause = true;
  await paused;
}
function resumeWriter() {
  writer.pause = false;
  writer.resume?.();
}

// --- the clients: each keeps the ids it received, in order
function track(name) {
  const c = { name, ids: [], errors: [], last: null };
  clients.push(c);
  return c;
}
function received(c, value) {
  c.last = value.extensions?.sequenceNumber ?? c.last;
  if (!value.data.onCreateDataItem.id.startsWith('f-probe')) c.ids.push(value.data.onCreateDataItem.id);
  else c.probed = true;
}

let gwsSocket;
let gwsClient;
let amplifySub;
let legacy;
let child;
const childLines = new Inbox();

// A stock graphql-ws client with the README's resume lines: it reconnects
// on its own, and connectionParams hands the last position it saw (c.last).
function resumingGraphqlWs(c, onConnected) {
  return createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    lazy: false,
    retryAttempts: 1000,
    retryWait: () => delay(200),
    shouldRetry: () => true,
    connectionParams: () => ({ 'x-api-key': cluster.apiKey, ...(c.last && { after: c.last }) }),
    on: { connected: onConnected },
  });
}

function startClients() {
  const gws = track('graphql-ws');
  gwsClient = resumingGraphqlWs(gws, (socket) => { gwsSocket = socket; });
  gwsClient.subscribe({ query }, {
    next: (value) => received(gws, value),
    error: (error) => gws.errors.push(error),
    complete: () => gws.errors.push('completed'),
  });

  const leg = track('subscriptions-transport-ws');
  legacy = new SubscriptionClient(wsUrl, {
    reconnect: true,
    reconnectionAttempts: 1000,
    connectionParams: () => ({ 'x-api-key': cluster.apiKey, ...(leg.last && { after: leg.last }) }),
  }, WebSocket);
  legacy.request({ query }).subscribe({
    next: (value) => received(leg, value),
    error: (error) => leg.errors.push(error),
  });

  const amp = track('amplify');
  Amplify.configure({
    API: { GraphQL: { endpoint: `http://127.0.0.1:${cluster.port}/graphql`, region: 'us-east-1', defaultAuthMode: 'apiKey', apiKey: cluster.apiKey } },
  });
  amplifySub = generateClient({ endpoint: `ws://127.0.0.1:${cluster.port}/graphql`, authMode: 'apiKey', apiKey: cluster.apiKey })
    .graphql({ query }, () => (amp.last ? { 'x-rtsync-after': amp.last } : {}))
    .subscribe({ next: (value) => received(amp, value), error: (error) => amp.errors.push(error) });

  const paused = track('graphql-ws, own process');
  child = spawn(process.execPath, [path.join(repo, 'test/e2e/lib/resuming_subscriber.mjs'), wsUrl, cluster.apiKey, TITLE],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  createInterface({ input: child.stdout }).on('line', (line) => {
    const [kind, id] = line.split(' ');
    if (kind === 'event' && id.startsWith('f-probe')) paused.probed = true;
    else if (kind === 'event') paused.ids.push(id);
    else if (kind === 'error') paused.errors.push(line);
    else childLines.push(line);
  });
}

// Every client has every row committed so far (bounded).
async function caughtUp(what) {
  const n = expected.length;
  await until(`every client has the ${n} rows committed (${what})`, () => clients.every((c) => c.ids.length >= n), 90000);
  for (const c of clients) assert.deepEqual(c.errors, [], `${c.name}: no errors`);
}
const workerPid = () => cluster.sql(`SELECT pid FROM pg_stat_activity WHERE backend_type = 'rtsync server'`);

// --- two stream handlers in plpgsql ride through the same faults: an audit
// trail (a row per record) and a counter per title; their effects commit
// with their position, so each record must count exactly once
function createHandlers() {
  cluster.sql(`CREATE TABLE fault_audit (id text NOT NULL, seq text NOT NULL, event text NOT NULL);
    CREATE TABLE fault_counts (title text PRIMARY KEY, n bigint NOT NULL);
    CREATE FUNCTION fault_audit_fn(event jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO fault_audit
      SELECT r #>> '{dynamodb,Keys,id}', r #>> '{dynamodb,SequenceNumber}', r ->> 'eventName'
        FROM jsonb_array_elements(event -> 'Records') r;
      RETURN NULL;
    END $$;
    CREATE FUNCTION fault_count_fn(event jsonb) RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO fault_counts
      SELECT r #>> '{dynamodb,NewImage,title}', count(*)
        FROM jsonb_array_elements(event -> 'Records') r GROUP BY 1
      ON CONFLICT (title) DO UPDATE SET n = fault_counts.n + excluded.n;
    END $$;
    SELECT rtsync.create_handler('fault_audit', 'data_items', 'fault_audit_fn(jsonb)', starting_position => 'TRIM_HORIZON');
    SELECT rtsync.create_handler('fault_count', 'data_items', 'fault_count_fn(jsonb)', starting_position => 'TRIM_HORIZON',
      batch_size => 1000, filter_criteria => '{"Filters": [{"Pattern": {"eventName": ["INSERT"]}}]}')`);
}
const metric = (name) => Number(cluster.sql(`SELECT value FROM rtsync.stats WHERE name = '${name}'`));

before(async () => {
  cluster = await startCluster({ offset: 23 });
  wsUrl = `ws://127.0.0.1:${cluster.port}/graphql`;
  createHandlers();
  startClients();
  // the writer starts once every client receives: probe rows until then (bounded)
  await until('every client receives', () => {
    cluster.sql(`INSERT INTO data_items (id, title) VALUES ('f-probe-' || gen_random_uuid(), '${TITLE}')`);
    return clients.every((c) => c.probed);
  }, 30000);
  writer.done = write();
  await until('the writer has written', () => expected.length >= 20);
  await caughtUp('at the start');
});

after(async () => {
  writer.stop = true;
  resumeWriter();
  child?.kill('SIGCONT');
  child?.kill('SIGTERM');
  legacy?.close();
  amplifySub?.unsubscribe();
  await gwsClient?.dispose();
  for (const s of amplifySockets) s.terminate();
  cluster?.stop();
});

test('the worker gets SIGTERM', async () => {
  const pid = workerPid();
  process.kill(Number(pid), 'SIGTERM');
  await until('a new worker', () => { const p = workerPid(); return p !== '' && p !== pid; }, 30000);
  const n = expected.length;
  await until('the writer writes on', () => expected.length > n + 10, 30000);
  await caughtUp('after SIGTERM');
});

test('the worker gets SIGKILL: the postmaster restarts every process', async () => {
  const pid = workerPid();
  process.kill(Number(pid), 'SIGKILL');
  await until('a new worker', () => { try { const p = workerPid(); return p !== '' && p !== pid; } catch { return false; } }, 30000);
  const n = expected.length;
  await until('the writer writes again', () => expected.length > n + 10, 30000);
  await caughtUp('after SIGKILL');
});

test('the worker\'s walsender is terminated', async () => {
  assert.equal(cluster.sql(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_replication WHERE application_name = 'rtsync'`), '1');
  const n = expected.length;
  await until('the writer writes on', () => expected.length > n + 10, 30000);
  await caughtUp('after the walsender went');
});

test('the server restarts with -m immediate', async () => {
  execFileSync('bash', ['-c', `. scripts/lib.sh; cd /tmp && as_cluster_user_detached "$(pg_bindir)/pg_ctl" -D "$1/data" -l "$1/server.log" -m immediate -w restart >/dev/null`,
    'bash', cluster.dir], { cwd: repo, stdio: ['ignore', 'ignore', 'inherit'] });
  const n = expected.length;
  await until('the writer writes again', () => expected.length > n + 10, 60000);
  await caughtUp('after an immediate restart');
});

test('the clients\' TCP connections are cut', async () => {
  gwsSocket.terminate();
  legacy.client.terminate();
  for (const s of amplifySockets) if (s.readyState === WebSocket.OPEN) s.terminate();
  const n = expected.length;
  await until('the writer writes on', () => expected.length > n + 10, 30000);
  await caughtUp('after the cut');
});

test('a client paused past its queue bound is closed with 1013, then resumes', async () => {
  const closed = metric('rtsync_slow_clients_closed_total');
  childLines.items.length = 0; // its closes by the faults before
  await pauseWriter();
  child.kill('SIGSTOP');
  try {
    // bounded: 400 rows of 64 kB, more than socket buffers and rtsync.max_queue hold
    cluster.sql(`INSERT INTO data_items (id, title, content)
      SELECT 'f-' || lpad(${writer.next - 1}::text, 6, '0') || '-bulk-' || lpad(i::text, 3, '0'), '${TITLE}',
             repeat(md5(i::text), 2048) FROM generate_series(1, 400) i`);
    for (let i = 1; i <= 400; i++) expected.push(`f-${String(writer.next - 1).padStart(6, '0')}-bulk-${String(i).padStart(3, '0')}`);
    await until('the server closed the paused client', () => metric('rtsync_slow_clients_closed_total') > closed, 30000);
  } finally {
    child.kill('SIGCONT');
    resumeWriter();
  }
  let line;
  do line = await childLines.next(20000, 'the paused client closed'); while (!line.startsWith('closed'));
  assert.equal(line, 'closed 1013');
  const n = expected.length;
  await until('the writer writes on', () => expected.length > n + 10, 30000);
  await caughtUp('after the pause');
});

// A client far behind catches up in pages (100 records each, sent as its
// connection has room); the worker is stopped between two of them. The
// client reconnects with the position it last saw and goes on from there.
test('the worker restarts while a client is between catch-up pages: it goes on from its position, nothing lost or twice', async () => {
  const title = 'fault-pages';
  const n = 50000;
  const from = cluster.sql(`SELECT max(sequence_number) FROM rtsync.stream_record`);
  cluster.sql(`INSERT INTO data_items (id, title) SELECT 'fp-' || lpad(g::text, 6, '0'), '${title}' FROM generate_series(1, ${n}) g`);
  await until('the records are kept', () => Number(cluster.sql(`SELECT count(*) FROM rtsync.stream_record
    WHERE relid = 'data_items'::regclass AND sequence_number > '${from}'`)) >= n, 60000);
  const pid = workerPid();
  const c = { ids: [], last: from, connects: 0, killedAt: null };
  let resolveDone;
  const done = new Promise((resolve) => { resolveDone = resolve; });
  const client = resumingGraphqlWs(c, () => { c.connects++; });
  client.subscribe({ query: `subscription { onCreateDataItem(title: "${title}") { id } }` }, {
    next: (value) => {
      c.last = value.extensions.sequenceNumber;
      c.ids.push(value.data.onCreateDataItem.id);
      if (c.killedAt === null && c.ids.length === 5000) {
        c.killedAt = c.ids.length;
        process.kill(Number(pid), 'SIGTERM');
      }
      if (c.ids.length >= n) resolveDone();
    },
    error: () => {},
    complete: () => {},
  });
  try {
    await Promise.race([done, new Promise((_, reject) => setTimeout(() =>
      reject(new Error(`caught up ${c.ids.length} of ${n}`)), 90000).unref())]);
  } finally {
    await client.dispose();
  }
  assert.equal(c.killedAt, 5000, 'the worker was stopped mid catch-up');
  assert.notEqual(workerPid(), pid, 'a new worker served the rest');
  assert.ok(c.connects >= 2, 'the client reconnected');
  assert.deepEqual(c.ids, Array.from({ length: n }, (_, i) => `fp-${String(i + 1).padStart(6, '0')}`),
    'every record once, in order');
  await caughtUp('after the restart mid catch-up');
});

test('every client received every committed row exactly once, in commit order', async () => {
  writer.stop = true;
  await writer.done;
  await caughtUp('at the end');
  for (const c of clients) {
    const seen = new Set(c.ids);
    const lost = expected.filter((id) => !seen.has(id));
    assert.equal(lost.length, 0, `${c.name}: lost ${lost.slice(0, 5)}`);
    assert.equal(c.ids.length - seen.size, 0, `${c.name}: duplicated`);
    assert.deepEqual(c.ids, expected, `${c.name}: in commit order`);
  }
  assert.ok(expected.length > 300, `rows committed: ${expected.length}`);
});

test('the audit and counter handlers applied every committed row exactly once, in commit order', async () => {
  // updates, which the counter's filter leaves out (the probes: not in expected)
  cluster.sql(`UPDATE data_items SET content = 'touched' WHERE id LIKE 'f-probe-%'`);
  const last = cluster.sql(`SELECT max(sequence_number) FROM rtsync.stream_record WHERE relid = 'data_items'::regclass`);
  try {
    await until('both handlers are past the last kept record', () =>
      cluster.sql(`SELECT count(*) FROM rtsync.handlers WHERE position >= '${last}'`) === '2', 60000);
  } catch (e) {
    // what the handlers and the worker say, to tell a stuck driver from a failing step
    const state = cluster.sql(`SELECT string_agg(concat_ws(' ', name, state, position, errors, last_error), E'\n') FROM rtsync.handlers`);
    const log = cluster.log().split('\n').filter((l) => /handler|_handler_step/.test(l)).slice(-20).join('\n');
    throw new Error(`${e.message} (last kept ${last})\n${state}\n${log}`);
  }
  const audited = cluster.sql(`SELECT coalesce(string_agg(id, ' ' ORDER BY seq), '') FROM fault_audit
    WHERE id LIKE 'f-%' AND id NOT LIKE 'f-probe%'`).split(' ');
  const seen = new Set(audited);
  assert.equal(expected.filter((id) => !seen.has(id)).length, 0, 'the audit lost none');
  assert.equal(audited.length - seen.size, 0, 'the audit duplicated none');
  assert.deepEqual(audited, expected, 'the audit is in commit order');
  const inserts = Number(cluster.sql(`SELECT count(*) FROM data_items WHERE title = '${TITLE}'`));
  assert.equal(cluster.sql(`SELECT n FROM fault_counts WHERE title = '${TITLE}'`), String(inserts), 'the counter counted each insert once');
  assert.equal(cluster.sql(`SELECT string_agg(state || ' ' || errors, ',') FROM rtsync.handlers`), 'enabled 0,enabled 0');
  // their metrics show their rows' counts, once the worker has read the last step's answer
  const series = (name, handler) => cluster.sql(`SELECT value FROM rtsync.stats
    WHERE name = '${name}' AND labels = 'handler="${handler}"'`);
  await until('the handlers\' metrics show their last steps', () =>
    series('rtsync_handler_records_in_total', 'fault_audit') === cluster.sql('SELECT count(*) FROM fault_audit')
    && series('rtsync_handler_records_in_total', 'fault_count') === cluster.sql(`SELECT records_in FROM rtsync.handlers WHERE name = 'fault_count'`), 10000);
  assert.equal(series('rtsync_handler_invocations_total', 'fault_count'),
    cluster.sql(`SELECT invocations FROM rtsync.handlers WHERE name = 'fault_count'`));
  assert.ok(Number(series('rtsync_handler_records_filtered_total', 'fault_count')) > 0, 'the counter filtered out the updates');
  assert.ok(Number(series('rtsync_handler_duration_seconds_count', 'fault_audit')) > 0, 'the audit handler\'s steps were timed');
  assert.equal(series('rtsync_handler_concurrency', 'fault_audit'), '0');
});

test('a resume older than the table\'s retention is a TrimmedDataAccessException', async () => {
  cluster.sql(`CREATE TABLE short_lived (id int PRIMARY KEY);
    SET client_min_messages = warning;
    SELECT rtsync.publish('short_lived', type_name => 'ShortLived', retention => '1 second');
    INSERT INTO short_lived VALUES (1); INSERT INTO short_lived VALUES (2)`);
  await until('both records are kept', () => cluster.sql(`SELECT count(*) FROM rtsync.stream_record WHERE relid = 'short_lived'::regclass`) === '2');
  const first = cluster.sql(`SELECT min(sequence_number) FROM rtsync.stream_record WHERE relid = 'short_lived'::regclass`);
  // the record after the position ages past the retention
  await until('the second record is older than the retention', () =>
    cluster.sql(`SELECT bool_and(created_at < now() - interval '1 second') FROM rtsync.stream_record WHERE relid = 'short_lived'::regclass`) === 't');
  const inbox = new Inbox();
  const client = createClient({ url: wsUrl, webSocketImpl: WebSocket, lazy: false, retryAttempts: 0,
    connectionParams: { 'x-api-key': cluster.apiKey, after: first } });
  client.subscribe({ query: 'subscription { onCreateShortLived { id } }' },
    { next: (v) => inbox.push({ next: v }), error: (e) => inbox.push({ error: e }), complete: () => {} });
  const m = await inbox.next(10000, 'the refusal');
  assert.ok(m.error, JSON.stringify(m));
  assert.equal(m.error[0].errorType, 'TrimmedDataAccessException');
  await client.dispose();
});
