// Watching the server from outside, from SQL alone: the worker is in
// pg_stat_activity; rtsync.stats tells a stopped worker (not streaming, its
// heartbeat ageing, its slot's lag growing in bytes) from a healthy one,
// idle or not; pg_terminate_backend restarts it and clients come back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { sql, transportClient, collect, Inbox, port, workerPid } from '../lib/env.js';

before(() => sql(`DELETE FROM data_items WHERE id LIKE 'mon-%'`));
after(() => sql(`DELETE FROM data_items WHERE id LIKE 'mon-%'`));

const serverLog = path.join(process.env.PGHOST, 'server.log');
const onCreate = { query: 'subscription { onCreateDataItem(title: "mon") { id } }' };


// rtsync.stats' unlabelled series as { name: value } (null for NULL).
function stats() {
  const out = {};
  for (const row of sql(`SELECT name, value FROM rtsync.stats WHERE labels IS NULL`).split('\n')) {
    const [name, value] = row.split('|');
    out[name] = value === '' ? null : Number(value);
  }
  return out;
}

// Reads rtsync.stats until check(stats) holds: a bounded number of reads,
// 100 ms apart (where the test must let time pass, e.g. for a heartbeat to
// age, it waits on the view's own figures, never on a fixed sleep).
async function until(what, check, attempts = 100) {
  let s;
  for (let i = 0; i < attempts; i++) {
    s = stats();
    if (check(s)) return s;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`rtsync.stats did not show ${what} after ${attempts} reads: ${JSON.stringify(s)}`);
}

function insert(id) {
  sql(`INSERT INTO data_items (id, title) VALUES ('${id}', 'mon')`);
  return sql(`SELECT pg_current_wal_lsn()`);
}

// true once the slot has confirmed everything up to lsn: its lag (read in
// the view) is no more than the WAL written since lsn
function confirmedPast(lsn) {
  return sql(`SELECT value <= pg_wal_lsn_diff(pg_current_wal_lsn(), '${lsn}')
                FROM rtsync.stats WHERE name = 'rtsync_replication_slot_lag_bytes'`) === 't';
}

async function ids(inbox, n, what) {
  const got = [];
  while (got.length < n) got.push((await inbox.next(10000, what)).next.data.onCreateDataItem.id);
  return got;
}

const healthy = (s) => s.rtsync_replication_streaming === 1 && s.rtsync_replication_slot_active === 1 &&
  s.rtsync_server_heartbeat_age_seconds !== null && s.rtsync_server_heartbeat_age_seconds < 1.5;

test('the worker is in pg_stat_activity, holds no transaction or xmin, and lets DROP DATABASE through', () => {
  const row = sql(`SELECT application_name, datname IS NULL, backend_xid IS NULL, backend_xmin IS NULL,
                          xact_start IS NULL
                     FROM pg_stat_activity WHERE backend_type = 'rtsync server'`);
  assert.equal(row, 'rtsync server|t|t|t|t');
  // DROP DATABASE waits until every process in the proc array has absorbed
  // a ProcSignal barrier: the worker's loop must (bounded by the timeout)
  const env = { ...process.env, PGOPTIONS: '-c statement_timeout=10s' };
  const psql = (q) => execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', q], { env, encoding: 'utf8' });
  psql('CREATE DATABASE rtsync_monitor_tmp');
  psql('DROP DATABASE rtsync_monitor_tmp');
  // and other signals meant for backends reach it
  assert.equal(sql(`SELECT pg_log_backend_memory_contexts(${workerPid()})`), 't');
  // only a superuser may end it: pg_signal_backend is not enough
  sql(`DROP ROLE IF EXISTS rtsync_monitor_signaler; CREATE ROLE rtsync_monitor_signaler IN ROLE pg_signal_backend`);
  try {
    assert.throws(() => sql(`SET ROLE rtsync_monitor_signaler; SELECT pg_terminate_backend(${workerPid()})`),
      /must be a superuser to terminate superuser process/);
  } finally {
    sql(`DROP ROLE rtsync_monitor_signaler`);
  }
});

test('an idle worker\'s heartbeat stays fresh although its keep-alive timer is 10 s', async () => {
  await until('a healthy worker', healthy);
  // 30 reads over 3 s or more, with nothing to do: every one sees a heartbeat under 1.5 s old
  for (let i = 0; i < 30; i++) {
    const age = stats().rtsync_server_heartbeat_age_seconds;
    assert.ok(age !== null && age < 1.5, `heartbeat ${age} s old on read ${i}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
});

test('a stopped worker: not streaming, heartbeat stale, slot lag growing; it recovers on SIGCONT', async () => {
  const client = transportClient();
  const inbox = collect(client, onCreate);
  await client.sync();
  const start = await until('a healthy worker', healthy);
  const logFrom = statSync(serverLog).size;
  const pid = workerPid();
  process.kill(pid, 'SIGSTOP');
  let first;
  let last;
  try {
    first = insert('mon-1');
    const stopped = await until('the stopped worker as not streaming',
      (s) => s.rtsync_replication_streaming === 0, 100);
    assert.ok(stopped.rtsync_server_heartbeat_age_seconds > 3, 'the heartbeat is stale');
    assert.ok(stopped.rtsync_server_heartbeat_seconds <= start.rtsync_server_heartbeat_seconds + 1,
      'the heartbeat stood still');
    assert.equal(stopped.rtsync_replication_slot_active, 1, 'the walsender is still attached');
    assert.ok(stopped.rtsync_replication_slot_lag_bytes > 0, 'the slot has not confirmed mon-1');
    assert.ok(!confirmedPast(first));
    last = insert('mon-2');
    const later = stats();
    assert.ok(later.rtsync_replication_slot_lag_bytes > stopped.rtsync_replication_slot_lag_bytes,
      `the lag grows: ${stopped.rtsync_replication_slot_lag_bytes} then ${later.rtsync_replication_slot_lag_bytes} bytes`);
    assert.ok(later.rtsync_server_heartbeat_age_seconds > stopped.rtsync_server_heartbeat_age_seconds);
    assert.equal(later.rtsync_replication_streaming, 0);
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  try {
    assert.deepEqual(await ids(inbox, 2, 'the rows committed while the worker was stopped'), ['mon-1', 'mon-2']);
    await until('the worker healthy again', healthy);
    for (let i = 0; i < 50 && !confirmedPast(last); i++) await new Promise((resolve) => setTimeout(resolve, 100));
    assert.ok(confirmedPast(last), 'the slot confirmed everything committed while the worker was stopped');
    assert.equal(workerPid(), pid, 'the same worker');
    // the log measured the lag against the server's WAL as it was when the
    // worker got to mon-1, not as the message's header said: mon-1 was behind
    // by mon-2 at least
    const behind = Number(sql(`SELECT pg_wal_lsn_diff('${last}', '${first}')`));
    const log = readFileSync(serverLog, 'utf8').slice(logFrom);
    const m = /rtsync replication lag: ([\d.]+) s behind the commit, (\d+) bytes behind/.exec(log);
    assert.ok(m, `a lag line in the log:\n${log}`);
    assert.ok(Number(m[1]) > 3, `${m[1]} s behind`);
    assert.ok(behind > 0 && Number(m[2]) >= behind, `${m[2]} bytes behind, at least ${behind}`);
  } finally {
    await client.dispose();
  }
});

test('pg_terminate_backend restarts the worker; a graphql-ws client reconnects and receives', async () => {
  const connected = new Inbox();
  const client = transportClient({
    retryAttempts: 10,
    on: { connected: (socket, payload, wasRetry) => connected.push(wasRetry) },
  });
  const inbox = collect(client, onCreate);
  assert.equal(await connected.next(), false);
  await client.sync();
  try {
    const before = await until('a healthy worker', healthy);
    const pid = workerPid();
    assert.equal(sql(`SELECT pg_terminate_backend(${pid})`), 't');
    assert.equal(await connected.next(15000, 'a reconnect'), true);
    const restarted = await until('the new worker healthy', healthy);
    const now = workerPid();
    assert.ok(now && now !== pid, `a new worker: ${pid} then ${now}`);
    assert.ok(restarted.rtsync_server_start_time_seconds > before.rtsync_server_start_time_seconds);
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    assert.equal(health.status, 200);
    await client.sync();
    insert('mon-3');
    assert.deepEqual(await ids(inbox, 1, 'a row after the restart'), ['mon-3']);
  } finally {
    await client.dispose();
  }
});
