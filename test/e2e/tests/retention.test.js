// The kept stream (bgworker/stream/retention.c): records of tables published
// with a retention are written to rtsync.stream_record byte for byte as the
// plugin emits them, once each even when the worker is killed mid-stream,
// the slot is confirmed only past what is kept, a full buffer makes
// replication wait (nothing dropped), partitions past every retention are
// dropped on schedule, gaps are recorded, get_records reads it back, and
// pg_dump carries it into another database. On a cluster of this file's own.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { startCluster } from '../lib/cluster.js';
import { until } from '../lib/rls.js';
import { transportClient, collect, holdLock } from '../lib/env.js';

let cluster;

before(async () => {
  cluster = await startCluster({
    offset: 19,
    settings: () => ['rtsync.retention_trim_interval = 200ms', 'rtsync.retention_buffer = 1MB'],
  });
  cluster.sql(`CREATE TABLE kept (id int PRIMARY KEY, body text);
    CREATE TABLE unkept (id int PRIMARY KEY);
    SET client_min_messages = warning;
    SELECT rtsync.publish('kept', type_name => 'Kept', retention => '2 hours');
    SELECT rtsync.publish('unkept', type_name => 'Unkept', retention => '0')`);
  cluster.sql(`SELECT 'x' FROM pg_create_logical_replication_slot('retention_compare', 'rtsync')`);
});
after(() => cluster?.stop());

const kept = (where = '') => cluster.sql(`SELECT count(*) FROM rtsync.stream_record WHERE relid = 'kept'::regclass ${where}`);
const metric = (name) => Number(cluster.sql(`SELECT value FROM rtsync.stats WHERE name = '${name}'`));

test('records are kept byte for byte as the plugin emits them, in stream order; retention 0 keeps none', async () => {
  cluster.sql(`INSERT INTO kept VALUES (1, 'one'), (2, 'two ünïcode "quoted" \\ back');
    UPDATE kept SET body = 'uno' WHERE id = 1; DELETE FROM kept WHERE id = 2;
    INSERT INTO unkept VALUES (1)`);
  await until('4 records are kept', () => kept() === '4');
  const emitted = cluster.sql(`SELECT data FROM pg_logical_slot_peek_changes('retention_compare', NULL, NULL, 'tables', 'public.kept')`)
    .split('\n');
  const stored = cluster.sql(`SELECT record FROM rtsync.stream_record WHERE relid = 'kept'::regclass ORDER BY sequence_number`)
    .split('\n');
  assert.equal(emitted.length, 4);
  assert.deepEqual(stored, emitted);
  assert.equal(cluster.sql(`SELECT count(*) FROM rtsync.stream_record WHERE relid = 'unkept'::regclass`), '0');
});

test('get_records pages through what the worker kept, in stream order, byte for byte as the plugin emits it', async () => {
  const from = cluster.sql(`SELECT max(sequence_number) FROM rtsync.stream_record WHERE relid = 'kept'::regclass`);
  cluster.sql(`INSERT INTO kept SELECT g, 'page ' || g FROM generate_series(20000, 21199) g`);
  cluster.sql(`INSERT INTO kept SELECT g, 'page ' || g FROM generate_series(21200, 22499) g`);
  await until('2,500 more records are kept', () => kept(`AND sequence_number > '${from}'`) === '2500');
  // a reader's loop: each page's NextShardIterator, until an empty page
  const read = [];
  const pages = [];
  let iterator = cluster.sql(`SELECT rtsync.get_shard_iterator('kept', 'AFTER_SEQUENCE_NUMBER', '${from}')`);
  for (let call = 0; call < 10; call++) {
    const [next, ...records] = cluster.sql(`SELECT (page ->> 'NextShardIterator')
        || coalesce((SELECT string_agg(E'\\n' || r::text, '' ORDER BY o)
                       FROM json_array_elements(page -> 'Records') WITH ORDINALITY x(r, o)), '')
      FROM (SELECT rtsync.get_records('${iterator}') AS page) p`).split('\n');
    pages.push(records.length);
    if (records.length === 0) break;
    read.push(...records);
    iterator = next;
  }
  assert.deepEqual(pages, [1000, 1000, 500, 0]);
  const emitted = cluster.sql(`SELECT data FROM pg_logical_slot_peek_changes('retention_compare', NULL, NULL, 'tables', 'public.kept')`)
    .split('\n').filter((line) => JSON.parse(line).dynamodb.SequenceNumber > from);
  assert.equal(emitted.length, 2500);
  assert.deepEqual(read, emitted);
  // a role that may not SELECT the table reads nothing of it
  cluster.sql(`CREATE ROLE stream_stranger`);
  assert.throws(() => cluster.sql(`SET ROLE stream_stranger; SELECT rtsync.get_shard_iterator('kept', 'TRIM_HORIZON')`),
    /AccessDeniedException/);
});

test('pg_dump and pg_restore carry the kept stream into another database: the same records, read under the tables\' new oids', () => {
  const dump = path.join(cluster.dir, 'stream.dump');
  const run = (cmd, args) => execFileSync(cmd, args, { env: cluster.env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const stream = (db) => run('psql', ['-X', '-At', '-d', db, '-c',
    `SELECT count(*) || ' ' || md5(string_agg(sequence_number || record, ',' ORDER BY sequence_number))
       FROM rtsync.stream_record WHERE relid = 'kept'::regclass`]).trim();
  const oid = (db) => run('psql', ['-X', '-At', '-d', db, '-c', `SELECT 'kept'::regclass::oid`]).trim();
  run('pg_dump', ['-Fc', '-f', dump, 'postgres']);
  cluster.sql('CREATE DATABASE restored');
  try {
    run('pg_restore', ['--exit-on-error', '-d', 'restored', dump]);
    assert.notEqual(oid('restored'), oid('postgres'));
    assert.ok(Number(stream('postgres').split(' ')[0]) >= 2504);
    assert.equal(stream('restored'), stream('postgres'));
    assert.equal(run('psql', ['-X', '-At', '-d', 'restored', '-c',
      `SELECT string_agg(relid::text || ' ' || retention, ',') FROM rtsync.stream_retention WHERE relid = 'kept'::regclass`]).trim(),
    'kept 02:00:00');
  } finally {
    cluster.sql('DROP DATABASE restored');
  }
});

test('every event carries its SequenceNumber in extensions.sequenceNumber: a stock graphql-ws client hands it to the app', async () => {
  const client = transportClient({
    url: `ws://127.0.0.1:${cluster.port}/graphql`,
    connectionParams: { 'x-api-key': cluster.apiKey },
  });
  try {
    const inbox = collect(client, { query: 'subscription { onCreateKept { id } }' });
    await client.sync();
    cluster.sql(`INSERT INTO kept SELECT g, 'positions' FROM generate_series(7001, 7003) g;
      INSERT INTO kept VALUES (7004, 'positions')`);
    const events = [];
    for (let i = 0; i < 4; i++) events.push((await inbox.next(5000, `event ${i + 1}`)).next);
    assert.deepEqual(events.map((e) => e.data.onCreateKept.id), [7001, 7002, 7003, 7004]);
    // the same positions the stream keeps for those rows, in stream order
    await until('the records are kept', () => Number(kept(`AND record::jsonb #>> '{dynamodb,Keys,id}' BETWEEN '7001' AND '7004'`)) === 4);
    const keptPositions = cluster.sql(`SELECT string_agg(sequence_number, ',' ORDER BY sequence_number) FROM rtsync.stream_record
      WHERE relid = 'kept'::regclass AND (record::jsonb #>> '{dynamodb,Keys,id}')::int BETWEEN 7001 AND 7004`);
    assert.equal(events.map((e) => e.extensions.sequenceNumber).join(','), keptPositions);
    assert.deepEqual(Object.keys(events[0]), ['data', 'extensions']);
  } finally {
    await client.dispose();
  }
});

test('a worker killed mid-stream keeps every record exactly once, and the slot waits for them', async () => {
  const before = Number(kept());
  cluster.sql(`INSERT INTO kept SELECT g, 'bulk' FROM generate_series(100, 5099) g`);
  // SIGKILL: the postmaster restarts every process, as after a crash
  cluster.sql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'rtsync server'`);
  const pid = cluster.sql(`SELECT pid FROM pg_stat_activity WHERE backend_type = 'rtsync server'`);
  if (pid) process.kill(Number(pid), 'SIGKILL');
  await until('the records are kept after the restart', () => {
    try { return Number(kept()) >= before + 5000; } catch { return false; }
  }, 30000);
  assert.equal(kept(`AND record LIKE '%"bulk"%'`), '5000');
  assert.equal(cluster.sql(`SELECT count(DISTINCT sequence_number) = count(*) FROM rtsync.stream_record`), 't');
  // once nothing waits to be kept, the slot is confirmed past the last kept commit
  const lsn = (s) => { const [hi, lo] = s.split('/'); return BigInt(`0x${hi}`) * 2n ** 32n + BigInt(`0x${lo}`); };
  const lastCommit = BigInt(cluster.sql(`SELECT max(sequence_number) FROM rtsync.stream_record`).slice(0, 20));
  await until('the slot is confirmed past the kept records', () =>
    lsn(cluster.sql(`SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'rtsync'`)) >= lastCommit);
});

test('records streamed while the restarted worker is still loading its schema are kept, not dropped', async () => {
  const before = Number(kept());
  // the worker's first load of its schema and keys waits for this lock
  // the last test's worker may still be between its exit and its restart
  await until('a worker runs', () => {
    try { return cluster.sql(`SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'rtsync server'`) === '1'; } catch { return false; }
  }, 30000);
  const lock = await holdLock('LOCK TABLE rtsync.api_key IN ACCESS EXCLUSIVE MODE', cluster.env);
  try {
    const old = cluster.sql(`SELECT pid FROM pg_stat_activity WHERE backend_type = 'rtsync server'`);
    cluster.sql(`SELECT pg_terminate_backend(${old})`);
    await until('the restarted worker waits for its schema', () => cluster.sql(`SELECT count(*) FROM pg_stat_activity
      WHERE application_name = 'rtsync' AND wait_event_type = 'Lock'`) !== '0', 30000);
    cluster.sql(`INSERT INTO kept SELECT g, 'while loading' FROM generate_series(90001, 90020) g`);
    const end = cluster.sql('SELECT pg_current_wal_lsn()');
    // the walsender has sent them to the worker
    await until('the records are sent', () => cluster.sql(`SELECT count(*) FROM pg_stat_replication r
      JOIN pg_replication_slots s ON s.active_pid = r.pid WHERE s.slot_name = 'rtsync' AND r.sent_lsn >= '${end}'`) === '1', 30000);
  } finally {
    await lock.release();
  }
  await until('they are kept once the schema is loaded', () => Number(kept(`AND record LIKE '%"while loading"%'`)) === 20, 30000);
  assert.equal(Number(kept()), before + 20);
});

test('a full buffer makes replication wait: nothing is dropped', async () => {
  const waits = metric('rtsync_retention_waits_total');
  const before = Number(kept());
  // ~6 MB of records in one transaction, six times the 1 MB buffer
  cluster.sql(`INSERT INTO kept SELECT g, repeat('x', 2000) FROM generate_series(10000, 12999) g`);
  await until('the large transaction is kept', () => Number(kept()) >= before + 3000, 30000);
  assert.equal(kept(`AND sequence_number IS NOT NULL AND length(record) > 2000`), '3000');
  assert.ok(metric('rtsync_retention_waits_total') > waits, 'replication waited for the writes');
  await until('nothing is pending', () => metric('rtsync_retention_pending_records') === 0);
});

test('partitions past every retention are dropped on schedule; gaps are recorded', async () => {
  // a partition three hours old (the worker writes through the same function,
  // in stream order: a record at or before the kept position would be skipped)
  const past = cluster.sql(`SELECT rtsync._stream_end()`);
  cluster.sql(`SELECT rtsync._retain(ARRAY['kept'::regclass::oid], ARRAY['${past}'],
    ARRAY[now() - interval '3 hours'], ARRAY['{}'])`);
  const old = cluster.sql(`SELECT count(*) FROM pg_inherits WHERE inhparent = 'rtsync.stream_chunk'::regclass`);
  assert.ok(Number(old) >= 2);
  // data_items keeps records 24 hours: make it 1 hour, and the 3-hour-old partition goes
  cluster.sql(`SET client_min_messages = warning; SELECT rtsync.publish('data_items', retention => '1 hour')`);
  await until('the old partition is dropped', () =>
    cluster.sql(`SELECT count(*) FROM rtsync.stream_record WHERE sequence_number = '${past}'`) === '0');
  assert.ok(metric('rtsync_retention_partitions_dropped_total') >= 1);
  // a trimmed partition leaves a gap at its last record: nothing before it can be read
  assert.equal(cluster.sql(`SELECT string_agg(sequence_number || ' ' || reason, ',') FROM rtsync.stream_gap WHERE relid IS NULL`),
    `${past} records past their retention were trimmed`);
  assert.ok(Number(kept()) > 0, 'the current partition stays');

  // publishing again after unpublishing records a gap for the table
  const gaps = () => cluster.sql(`SELECT count(*) FROM rtsync.stream_gap WHERE relid = 'kept'::regclass`);
  const first = gaps();
  cluster.sql(`SET client_min_messages = warning; SELECT rtsync.unpublish('kept');
    SELECT rtsync.publish('kept', type_name => 'Kept', retention => '2 hours')`);
  assert.equal(Number(gaps()), Number(first) + 1);

  // a slot made again (it was lost) is a gap in every table's stream
  const slotGaps = () => cluster.sql(`SELECT count(*) FROM rtsync.stream_gap WHERE relid IS NULL AND reason ~ 'slot'`);
  assert.equal(slotGaps(), '0');
  await until('the slot is dropped while the worker restarts', () => {
    try {
      cluster.sql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type IN ('rtsync server', 'walsender')`);
      cluster.sql(`SELECT pg_drop_replication_slot('rtsync')`);
      return true;
    } catch { return false; }
  });
  await until('the gap is recorded', () => slotGaps() === '1', 30000);
});
