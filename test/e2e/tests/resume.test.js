// Resuming subscriptions from the kept stream (bgworker/stream/catchup.c):
// a client that was away gets every change committed meanwhile, exactly
// once and in order, then the live stream, through what stock clients
// re-send on reconnect (connectionParams, the after argument). Positions
// past the trim horizon or malformed are refused with the documented
// errorType.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { sql, apiKey, transportClient, collect, Inbox, holdLock } from '../lib/env.js';
import { until } from '../lib/rls.js';

before(() => sql(`DELETE FROM data_items WHERE id LIKE 'res-%'`));
after(() => sql(`DELETE FROM data_items WHERE id LIKE 'res-%'`));

const onCreate = (title, args = '') =>
  ({ query: `subscription { onCreateDataItem(title: "${title}"${args}) { id title } }` });
const insert = (title, ...ids) =>
  sql(`INSERT INTO data_items (id, title) VALUES ${ids.map((id) => `('${id}', '${title}')`).join(', ')}`);

// Receives n events from an inbox: their ids and positions.
async function receive(inbox, n, what) {
  const got = [];
  for (let i = 0; i < n; i++) {
    const m = await inbox.next(10000, `${what} (${i + 1} of ${n})`);
    assert.ifError(m.error);
    got.push({ id: m.next.data.onCreateDataItem.id, seq: m.next.extensions.sequenceNumber });
  }
  return got;
}

// A first connection sees one event and goes; returns its position.
async function seenOnce(title, id) {
  const client = transportClient();
  const inbox = collect(client, onCreate(title));
  await client.sync();
  insert(title, id);
  const [first] = await receive(inbox, 1, 'the first event');
  await client.dispose();
  return first.seq;
}

test('connectionParams.after: what committed while away comes first, in order, once; then the live stream', async () => {
  const seq = await seenOnce('res-a', 'res-a0');
  insert('res-a', 'res-a1', 'res-a2');
  insert('res-other', 'res-x1');
  insert('res-a', 'res-a3');
  const client = transportClient({ connectionParams: { 'x-api-key': apiKey, after: seq } });
  const inbox = collect(client, onCreate('res-a'));
  const caught = await receive(inbox, 3, 'the missed events');
  assert.deepEqual(caught.map((e) => e.id), ['res-a1', 'res-a2', 'res-a3']);
  insert('res-a', 'res-a4');
  const [live] = await receive(inbox, 1, 'the live event');
  assert.equal(live.id, 'res-a4');
  const seqs = [seq, ...caught.map((e) => e.seq), live.seq];
  assert.deepEqual([...seqs].sort(), seqs, 'positions grow in stream order');
  await client.sync();
  assert.equal(inbox.size, 0, 'nothing twice');
  await client.dispose();
});

test('the after argument resumes a subscription the same way', async () => {
  const seq = await seenOnce('res-b', 'res-b0');
  insert('res-b', 'res-b1');
  const client = transportClient();
  const inbox = collect(client, onCreate('res-b', `, after: "${seq}"`));
  assert.deepEqual((await receive(inbox, 1, 'the missed event')).map((e) => e.id), ['res-b1']);
  insert('res-b', 'res-b2');
  assert.deepEqual((await receive(inbox, 1, 'the live event')).map((e) => e.id), ['res-b2']);
  await client.dispose();
});

test('changes committed while the catch-up runs are delivered once, at the seam', async () => {
  const seq = await seenOnce('res-c', 'res-c0');
  // enough kept records that the catch-up reads several pages
  sql(`INSERT INTO data_items (id, title) SELECT 'res-c' || g, 'res-c' FROM generate_series(1, 2500) g`);
  const client = transportClient({ connectionParams: { 'x-api-key': apiKey, after: seq } });
  const inbox = collect(client, onCreate('res-c'));
  const ids = [];
  const first = await receive(inbox, 1, 'the first missed event');
  ids.push(first[0].id);
  // while the rest is caught up, more commit
  for (let i = 0; i < 20; i++) insert('res-c', `res-c-live${i}`);
  for (const e of await receive(inbox, 2519, 'the rest')) ids.push(e.id);
  const expected = [...Array.from({ length: 2500 }, (_, i) => `res-c${i + 1}`),
    ...Array.from({ length: 20 }, (_, i) => `res-c-live${i}`)];
  assert.deepEqual(ids, expected);
  await client.sync();
  assert.equal(inbox.size, 0, 'nothing twice');
  await client.dispose();
});

test('a stock graphql-ws client that reconnects on its own resumes with connectionParams as a function', async () => {
  let last = null;
  let reconnect;
  const away = new Promise((resolve) => { reconnect = resolve; });
  const connected = new Inbox();
  const client = transportClient({
    retryAttempts: 3,
    // the documented lines: keep the last position, hand it over on every attempt
    connectionParams: () => ({ 'x-api-key': apiKey, ...(last ? { after: last } : {}) }),
    on: { connected: (socket) => connected.push(socket) },
    client: { retryWait: () => away, shouldRetry: () => true },
  });
  const inbox = new Inbox();
  client.subscribe(onCreate('res-d'), {
    next: (value) => { last = value.extensions.sequenceNumber; inbox.push({ next: value }); },
    error: (error) => inbox.push({ error }),
    complete: () => inbox.push({ complete: true }),
  });
  const socket = await connected.next();
  await client.sync();
  insert('res-d', 'res-d1');
  assert.deepEqual((await receive(inbox, 1, 'the first event')).map((e) => e.id), ['res-d1']);
  socket.terminate(); // the network goes
  insert('res-d', 'res-d2', 'res-d3');
  reconnect();
  await connected.next(10000, 'the reconnect');
  assert.deepEqual((await receive(inbox, 2, 'the missed events')).map((e) => e.id), ['res-d2', 'res-d3']);
  insert('res-d', 'res-d4');
  assert.deepEqual((await receive(inbox, 1, 'the live event')).map((e) => e.id), ['res-d4']);
  await client.dispose();
});

test('a malformed or future position is a ValidationException', async () => {
  for (const after of ['12', '9'.repeat(30)]) {
    const client = transportClient({ connectionParams: { 'x-api-key': apiKey, after } });
    const inbox = collect(client, onCreate('res-e'));
    const m = await inbox.next(5000, 'the refusal');
    assert.ok(m.error, `refused: ${after}`);
    assert.equal(m.error[0].errorType, 'ValidationException');
    await client.dispose();
  }
  const client = transportClient();
  const inbox = collect(client, onCreate('res-e', ', after: "x"'));
  const m = await inbox.next(5000, 'the refusal');
  assert.match(m.error[0].message, /Argument "after" must be a SequenceNumber/);
  await client.dispose();
});

test('a position before a gap is a TrimmedDataAccessException: the client must refetch', async () => {
  const seq = await seenOnce('res-f', 'res-f0');
  sql(`SELECT rtsync._stream_gap('data_items'::regclass, pg_current_wal_insert_lsn(), 'resume test')`);
  insert('res-f', 'res-f1');
  const client = transportClient({ connectionParams: { 'x-api-key': apiKey, after: seq } });
  const inbox = collect(client, onCreate('res-f'));
  const m = await inbox.next(5000, 'the refusal');
  assert.ok(m.error);
  assert.equal(m.error[0].errorType, 'TrimmedDataAccessException');
  await client.dispose();
});

test('one connection stays in stream order while one of its subscriptions catches up and another is live', async () => {
  const seq = await seenOnce('res-g', 'res-g0');
  const client = transportClient();
  // every event of the connection, both subscriptions, in the order it arrives
  const arrived = new Inbox();
  const sink = { next: (value) => arrived.push(value), error: (error) => arrived.push({ error }), complete: () => {} };
  client.subscribe(onCreate('res-h'), sink);
  await client.sync();
  // retention is held up: the catch-up cannot reach its seam until released
  const lock = await holdLock('LOCK TABLE rtsync.stream_kept IN EXCLUSIVE MODE');
  let released = false;
  try {
    sql(`INSERT INTO data_items (id, title) SELECT 'res-g' || g, 'res-g' FROM generate_series(1, 20) g`);
    client.subscribe(onCreate('res-g', `, after: "${seq}"`), sink);
    await client.sync(); // accepted: its catch-up waits for those 20 to be kept
    // live changes for the other subscription, dispatched while it waits
    const stat = () => Number(sql(`SELECT value FROM rtsync.stats WHERE name = 'rtsync_stream_transactions_total'`));
    const before = stat();
    for (let i = 0; i < 10; i++) insert('res-h', `res-h${i}`);
    await until('the worker has read the live changes', () => stat() >= before + 10);
    assert.equal(arrived.size, 0, 'the live changes wait for the catch-up');
    await lock.release();
    released = true;
  } finally {
    if (!released) await lock.release();
  }
  const events = [];
  for (let i = 0; i < 30; i++) {
    const e = await arrived.next(10000, `event ${i + 1} of 30`);
    assert.ifError(e.error);
    events.push({ id: e.data.onCreateDataItem.id, seq: e.extensions.sequenceNumber });
  }
  assert.deepEqual(events.map((e) => e.id), [
    ...Array.from({ length: 20 }, (_, i) => `res-g${i + 1}`),
    ...Array.from({ length: 10 }, (_, i) => `res-h${i}`)], 'the connection receives everything in stream order');
  await client.sync();
  assert.equal(arrived.size, 0, 'nothing twice');
  await client.dispose();
});

// While a catch-up waits (retention held up, so it cannot reach its seam),
// the connection's live events are held to go out in order; past
// rtsync.max_queue (4 MB) the connection is closed as too slow, 1013, as a
// slow reader is, and nothing is lost: resuming from the last position it
// saw gives every record once, in order.
test('live events held past rtsync.max_queue during a catch-up close with 1013; resuming gets them all once', async () => {
  const seq = await seenOnce('res-i', 'res-i0');
  const ids = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => `res-i${String(from + i).padStart(5, '0')}`);
  const insertRange = (from, to, size) => sql(`INSERT INTO data_items (id, title, content)
    SELECT 'res-i' || lpad(g::text, 5, '0'), 'res-i', repeat('x', ${size}) FROM generate_series(${from}, ${to}) g`);
  const rows = 2500; // ~2 kB each: 5 MB of live events to hold
  const lock = await holdLock('LOCK TABLE rtsync.stream_kept IN EXCLUSIVE MODE');
  let released = false;
  try {
    insertRange(1, 5, 1);
    let closed = null;
    let onClosed;
    const wasClosed = new Promise((resolve) => { onClosed = resolve; });
    const client = transportClient({
      on: { closed: (e) => { closed = e?.code; onClosed(); } },
      client: { onNonLazyError: () => {} }, // the close is expected: not printed
    });
    let received = 0;
    client.subscribe({ query: `subscription { onCreateDataItem(title: "res-i", after: "${seq}") { id title content } }` },
      { next: () => { received++; }, error: () => {}, complete: () => {} });
    await client.sync(); // accepted: its catch-up waits for those 5 to be kept
    insertRange(6, 5 + rows, 2000);
    await Promise.race([wasClosed, new Promise((_, reject) =>
      setTimeout(() => reject(new Error('the connection was not closed')), 30000).unref())]);
    assert.equal(closed, 1013, 'closed as too slow');
    assert.equal(received, 0, 'the live events were held for the catch-up, not sent');
    await client.dispose();
    await lock.release();
    released = true;
  } finally {
    if (!released) await lock.release();
  }
  const client = transportClient({ connectionParams: { 'x-api-key': apiKey, after: seq } });
  const inbox = collect(client, onCreate('res-i'));
  const got = await receive(inbox, rows + 5, 'the records after the position');
  assert.deepEqual(got.map((e) => e.id), ids(1, rows + 5));
  await client.sync();
  assert.equal(inbox.size, 0, 'nothing twice');
  await client.dispose();
});
