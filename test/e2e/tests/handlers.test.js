// Stream handlers driven by the worker (bgworker/stream/handlers.c): a
// handler whose function is stuck holds only its own connection, while a
// subscriber and another handler go on; a failing handler retries on its
// own, shows it, and applies each record once when it recovers; a handler
// dropped and recreated under the same name starts afresh, from LATEST; a
// handler with a parallelization factor runs its lanes side by side, each
// key's records in order; a tumbling window's final call comes when the
// window ends, with no record to bring it.
// The options themselves are tested by the regress test handlers.sql.
// On a cluster of this file's own (rtsync.handler_connections = 2).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { createClient } from 'graphql-ws';
import { startCluster } from '../lib/cluster.js';
import { until } from '../lib/rls.js';
import { Inbox, holdLock } from '../lib/env.js';

let cluster;
let client;
const events = new Inbox();

before(async () => {
  cluster = await startCluster({ offset: 27 });
  cluster.sql(`CREATE TABLE audit (handler text NOT NULL, id text NOT NULL, event text NOT NULL);
    CREATE TABLE failing (on_purpose boolean NOT NULL);
    INSERT INTO failing VALUES (false);
    CREATE FUNCTION audit_quick(event jsonb) RETURNS void LANGUAGE sql AS $$
      INSERT INTO audit SELECT 'quick', r #>> '{dynamodb,Keys,id}', r ->> 'eventName'
        FROM jsonb_array_elements(event -> 'Records') r $$;
    -- waits for an advisory lock the test holds: a function that is stuck
    CREATE FUNCTION audit_stuck(event jsonb) RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_advisory_xact_lock(4242);
      INSERT INTO audit SELECT 'stuck', r #>> '{dynamodb,Keys,id}', r ->> 'eventName'
        FROM jsonb_array_elements(event -> 'Records') r;
    END $$;
    CREATE FUNCTION audit_flaky(event jsonb) RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO audit SELECT 'flaky', r #>> '{dynamodb,Keys,id}', r ->> 'eventName'
        FROM jsonb_array_elements(event -> 'Records') r;
      IF (SELECT on_purpose FROM failing) THEN
        RAISE EXCEPTION 'failing on purpose';
      END IF;
    END $$;`);
  client = createClient({
    url: `ws://127.0.0.1:${cluster.port}/graphql`, webSocketImpl: WebSocket, lazy: false, retryAttempts: 0,
    connectionParams: { 'x-api-key': cluster.apiKey },
  });
  client.subscribe({ query: 'subscription { onCreateDataItem { id } }' }, {
    next: (v) => events.push(v.data.onCreateDataItem.id), error: (e) => events.push(e), complete: () => {},
  });
  // subscribed once a row inserted now reaches it (bounded)
  await until('the subscriber receives', async () => {
    cluster.sql(`INSERT INTO data_items (id, title) VALUES ('probe-' || gen_random_uuid(), 'probe')`);
    try { return (await events.next(200, 'a probe')).startsWith?.('probe-'); } catch { return false; }
  });
});
after(async () => {
  await client?.dispose();
  cluster?.stop();
});

const audited = (handler) => cluster.sql(`SELECT coalesce(string_agg(id, ' ' ORDER BY id), '') FROM audit
  WHERE handler = '${handler}' AND id NOT LIKE 'probe-%'`);
const series = (name, handler) => cluster.sql(`SELECT value FROM rtsync.stats
  WHERE name = '${name}' AND labels = 'handler="${handler}"'`);
const handlerRow = (name, cols) => cluster.sql(`SELECT ${cols} FROM rtsync.handlers WHERE name = '${name}'`);
async function nextEvent(id) {
  for (;;) {
    const got = await events.next(5000, `the event of ${id}`);
    if (got === id) return;
    if (typeof got !== 'string') throw got;
  }
}

test('a stuck handler holds only its own connection: the subscriber and another handler go on', async () => {
  const lock = await holdLock('SELECT pg_advisory_lock(4242)', cluster.env);
  try {
    cluster.sql(`SELECT rtsync.create_handler('stuck', 'data_items', 'audit_stuck(jsonb)');
      SELECT rtsync.create_handler('quick', 'data_items', 'audit_quick(jsonb)')`);
    await until('both handlers are driven', () => series('rtsync_handler_concurrency', 'quick') !== '');
    cluster.sql(`INSERT INTO data_items (id, title) VALUES ('a1', 'one')`);
    await until('the stuck handler is in its step', () => series('rtsync_handler_concurrency', 'stuck') === '1');
    await nextEvent('a1');
    await until('the quick handler audited a1', () => audited('quick') === 'a1');
    cluster.sql(`INSERT INTO data_items (id, title) VALUES ('a2', 'two')`);
    await nextEvent('a2');
    await until('the quick handler audited a2', () => audited('quick') === 'a1 a2');
    assert.equal(audited('stuck'), '', 'the stuck handler committed nothing');
    assert.equal(series('rtsync_handler_concurrency', 'stuck'), '1', 'it is still in its step');
  } finally {
    await lock.release();
  }
  await until('the stuck handler caught up', () => audited('stuck') === 'a1 a2');
  await until('its step ended', () => series('rtsync_handler_concurrency', 'stuck') === '0');
  assert.equal(handlerRow('stuck', "state || ' ' || errors"), 'enabled 0');
  cluster.sql(`SELECT rtsync.drop_handler('stuck')`);
});

test('a failing handler retries on its own and, recovered, applies each record once', async () => {
  cluster.sql(`UPDATE failing SET on_purpose = true;
    SELECT rtsync.create_handler('flaky', 'data_items', 'audit_flaky(jsonb)')`);
  await until('the flaky handler is driven', () => series('rtsync_handler_concurrency', 'flaky') !== '');
  cluster.sql(`INSERT INTO data_items (id, title) VALUES ('b1', 'one')`);
  await until('the flaky handler failed twice', () => Number(series('rtsync_handler_errors_total', 'flaky')) >= 2);
  assert.equal(handlerRow('flaky', "state || ' ' || last_error"), 'retrying failing on purpose');
  assert.equal(audited('flaky'), '', 'a failed call leaves nothing');
  // the other handler is not held up by it
  cluster.sql(`INSERT INTO data_items (id, title) VALUES ('b2', 'two')`);
  await until('the quick handler audited b1 and b2', () => audited('quick') === 'a1 a2 b1 b2');
  cluster.sql('UPDATE failing SET on_purpose = false');
  await until('the flaky handler recovered', () => audited('flaky') === 'b1 b2', 15000);
  assert.equal(handlerRow('flaky', "state || ' ' || attempts"), 'enabled 0');
  cluster.sql(`SELECT rtsync.drop_handler('flaky')`);
});

test('a handler dropped and recreated under its name starts afresh', async () => {
  const invoked = Number(series('rtsync_handler_invocations_total', 'quick'));
  assert.ok(invoked >= 2, `quick was invoked ${invoked} times`);
  cluster.sql(`SELECT rtsync.drop_handler('quick')`);
  await until('its metrics are gone', () => series('rtsync_handler_invocations_total', 'quick') === '');
  cluster.sql(`INSERT INTO data_items (id, title) VALUES ('c1', 'while dropped')`);
  await nextEvent('c1');
  cluster.sql(`SELECT rtsync.create_handler('quick', 'data_items', 'audit_quick(jsonb)')`);
  await until('the new handler is driven', () => series('rtsync_handler_concurrency', 'quick') !== '');
  cluster.sql(`INSERT INTO data_items (id, title) VALUES ('c2', 'after')`);
  await until('the new handler audited c2', () => audited('quick').endsWith('c2'));
  assert.equal(audited('quick'), 'a1 a2 b1 b2 c2', 'c1 came while no handler was there: LATEST starts after it');
  assert.equal(series('rtsync_handler_invocations_total', 'quick'), handlerRow('quick', 'invocations'));
  assert.ok(Number(handlerRow('quick', 'invocations')) < invoked + 1, 'its counts start again');
});

test('a parallelization factor of 4: lanes side by side, every record once, each key in order', async () => {
  cluster.sql(`CREATE TABLE lanes_audit (ord bigserial, id text, seq text, content text);
    CREATE FUNCTION audit_lanes(event jsonb) RETURNS void LANGUAGE sql AS $$
      INSERT INTO lanes_audit (id, seq, content)
      SELECT r #>> '{dynamodb,Keys,id}', r #>> '{dynamodb,SequenceNumber}', r #>> '{dynamodb,NewImage,content}'
        FROM jsonb_array_elements(event -> 'Records') r $$;
    SELECT rtsync.create_handler('lanes', 'data_items', 'audit_lanes(jsonb)', parallelization_factor => 4, batch_size => 5)`);
  await until('its lanes are driven', () => series('rtsync_handler_concurrency', 'lanes') !== '');
  // 40 keys, each written 5 times, in 5 transactions
  cluster.sql(`INSERT INTO data_items (id, title, content) SELECT 'p' || lpad(g::text, 2, '0'), 'lane', '0' FROM generate_series(1, 40) g;
    UPDATE data_items SET content = '1' WHERE title = 'lane';
    UPDATE data_items SET content = '2' WHERE title = 'lane';
    UPDATE data_items SET content = '3' WHERE title = 'lane';
    UPDATE data_items SET content = '4' WHERE title = 'lane'`);
  await until('the lanes audited all 200 records', () => cluster.sql('SELECT count(*) FROM lanes_audit') === '200', 30000);
  assert.equal(cluster.sql('SELECT count(DISTINCT seq) FROM lanes_audit'), '200', 'each record once');
  assert.equal(cluster.sql(`SELECT count(*) FROM (SELECT id, string_agg(content, '' ORDER BY ord) AS c FROM lanes_audit GROUP BY id) k
    WHERE c <> '01234'`), '0', 'each key in order');
  assert.equal(cluster.sql(`SELECT count(*) FROM rtsync.handler WHERE name = 'lanes' AND records_in > 0`), '4', 'every lane had work');
  // one handler in the metrics, its lanes summed
  await until('its metrics count every lane', () => series('rtsync_handler_records_in_total', 'lanes') === '200');
  assert.equal(handlerRow('lanes', "state || ' ' || parallelization_factor || ' ' || records_in"), 'enabled 4 200');
  cluster.sql(`SELECT rtsync.drop_handler('lanes')`);
});

test('a tumbling window of 2 s: its state summed, its final call on time', async () => {
  cluster.sql(`CREATE TABLE window_sums (window_start timestamptz, total int, calls int);
    CREATE FUNCTION sum_window(event jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
    DECLARE st jsonb := coalesce(event -> 'state', '{}');
    BEGIN
      IF (event ->> 'isFinalInvokeForWindow')::boolean THEN
        INSERT INTO window_sums VALUES ((event #>> '{window,start}')::timestamptz, (st ->> 'total')::int, (st ->> 'calls')::int);
        RETURN NULL;
      END IF;
      RETURN jsonb_build_object('state', jsonb_build_object(
        'total', coalesce((st ->> 'total')::int, 0) + jsonb_array_length(event -> 'Records'),
        'calls', coalesce((st ->> 'calls')::int, 0) + 1));
    END $$;
    SELECT rtsync.create_handler('windows', 'data_items', 'sum_window(jsonb)', tumbling_window => '2 s')`);
  await until('the handler is driven', () => series('rtsync_handler_concurrency', 'windows') !== '');
  // three transactions, then nothing: only the clock ends their window
  for (let i = 1; i <= 3; i++) cluster.sql(`INSERT INTO data_items (id, title) VALUES ('w${i}', 'window')`);
  // the rows may straddle two windows: their final calls count each row once
  await until('the final calls counted the 3 rows', () => cluster.sql('SELECT sum(total) FROM window_sums') === '3', 10000);
  assert.ok(Number(cluster.sql('SELECT min(calls) FROM window_sums')) >= 1);
  await until('every window closed', () => cluster.sql(`SELECT count(*) FROM rtsync.handler WHERE name = 'windows' AND window_start IS NULL`) === '1', 10000);
  assert.equal(cluster.sql(`SELECT count(*) FROM window_sums WHERE extract(epoch FROM window_start)::bigint % 2 <> 0`), '0', 'windows are aligned');
  cluster.sql(`SELECT rtsync.drop_handler('windows')`);
});
