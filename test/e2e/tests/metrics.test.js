// Health and metrics: GET /metrics is valid Prometheus text format (0.0.4)
// without an API key, its counters and gauges follow what clients do, and
// the view rtsync.stats shows the same figures.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { sql, transportClient, collect, apiKey, httpUrl, port } from '../lib/env.js';

const base = `http://127.0.0.1:${port}`;

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"';
const HELP_LINE = new RegExp(`^# HELP (${NAME}) (.*)$`);
const TYPE_LINE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);
const SAMPLE_LINE = new RegExp(`^(${NAME})(?:\\{((?:${LABEL})(?:,${LABEL})*,?)?\\})? (\\S+)(?: -?\\d+)?$`);
const VALUE = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]Inf|NaN)$/;

// The family a sample belongs to: a histogram's series carry a suffix.
function familyOf(name, families) {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    const family = name.endsWith(suffix) ? name.slice(0, -suffix.length) : null;
    if (family && families.get(family)?.type === 'histogram') return family;
  }
  return name;
}

// Parses the text strictly: every line is a HELP, a TYPE or a sample; every
// sample's family has HELP and TYPE before it, and a family's lines are
// together. Returns { families, samples: Map('name{labels}' -> number) }.
function parseExposition(text) {
  assert.ok(text.endsWith('\n'), 'the text ends with a newline');
  const families = new Map();
  const samples = new Map();
  const histograms = new Map();  // family -> [{ le, value }]
  let current = null;
  for (const line of text.slice(0, -1).split('\n')) {
    let m;
    if ((m = HELP_LINE.exec(line)) || (m = TYPE_LINE.exec(line))) {
      const [, name, what] = m;
      const f = families.get(name) ?? {};
      const key = line.startsWith('# HELP') ? 'help' : 'type';
      assert.equal(f[key], undefined, `one ${key.toUpperCase()} line for ${name}`);
      assert.ok(!f.sampled, `${key.toUpperCase()} of ${name} comes before its samples`);
      f[key] = what;
      families.set(name, f);
      current = name;
    } else if ((m = SAMPLE_LINE.exec(line))) {
      const [, name, labels, value] = m;
      const family = familyOf(name, families);
      assert.equal(family, current, `sample ${name} follows its family's HELP and TYPE`);
      const f = families.get(family);
      assert.ok(f.help && f.type, `${family} has HELP and TYPE`);
      f.sampled = true;
      assert.match(value, VALUE, `a valid value in ${JSON.stringify(line)}`);
      const key = labels ? `${name}{${labels}}` : name;
      assert.ok(!samples.has(key), `one sample ${key}`);
      samples.set(key, Number(value.replace('Inf', 'Infinity')));
      if (f.type === 'histogram' && name.endsWith('_bucket')) {
        const le = /le="([^"]*)"/.exec(labels)?.[1];
        assert.ok(le !== undefined, `${key} has an le label`);
        histograms.set(family, [...(histograms.get(family) ?? []), { le, value: Number(value) }]);
      }
    } else {
      assert.fail(`not Prometheus text format: ${JSON.stringify(line)}`);
    }
  }
  for (const [family, buckets] of histograms) {
    let previous = { le: -Infinity, value: 0 };
    for (const b of buckets) {
      const le = b.le === '+Inf' ? Infinity : Number(b.le);
      assert.ok(le > previous.le, `${family}: le bounds increase`);
      assert.ok(b.value >= previous.value, `${family}: buckets are cumulative`);
      previous = { le, value: b.value };
    }
    assert.equal(buckets.at(-1).le, '+Inf', `${family} ends with le="+Inf"`);
    assert.equal(buckets.at(-1).value, samples.get(`${family}_count`), `${family}: +Inf equals _count`);
    assert.ok(samples.has(`${family}_sum`), `${family} has _sum`);
  }
  return { families, samples };
}

async function scrape() {
  const res = await fetch(`${base}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  return parseExposition(await res.text()).samples;
}

// rtsync.stats as a Map('name{labels}' -> number), like scrape().
function stats() {
  const rows = sql(`SELECT name, coalesce(labels, ''), kind, value FROM rtsync.stats`);
  const out = new Map();
  for (const row of rows.split('\n')) {
    const [name, labels, kind, value] = row.split('|');
    out.set(labels ? `${name}{${labels}}` : name, { kind, value: Number(value) });
  }
  return out;
}

// Scrapes until check(samples) holds; bounded.
async function until(check, what, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await scrape();
    if (check(s)) return s;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function post(body, key = apiKey) {
  const res = await fetch(httpUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { 'x-api-key': key } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

const EXPECTED = {
  'rtsync_connections{kind="websocket"}': 'gauge',
  'rtsync_connections{kind="http"}': 'gauge',
  rtsync_websocket_connections_total: 'counter',
  rtsync_subscriptions: 'gauge',
  rtsync_subscriptions_accepted_total: 'counter',
  rtsync_subscriptions_refused_total: 'counter',
  rtsync_keys_refused_total: 'counter',
  rtsync_events_delivered_total: 'counter',
  rtsync_messages_sent_total: 'counter',
  'rtsync_bytes_sent_total{kind="websocket"}': 'counter',
  'rtsync_bytes_sent_total{kind="http"}': 'counter',
  rtsync_slow_clients_closed_total: 'counter',
  'rtsync_http_requests_total{code="2xx"}': 'counter',
  'rtsync_http_requests_total{code="4xx"}': 'counter',
  'rtsync_http_requests_total{code="5xx"}': 'counter',
  rtsync_stream_records_total: 'counter',
  rtsync_stream_transactions_total: 'counter',
  rtsync_replication_streaming: 'gauge',
  rtsync_replication_lag_bytes: 'gauge',
  rtsync_replication_lag_seconds: 'gauge',
  rtsync_server_start_time_seconds: 'gauge',
  rtsync_server_heartbeat_seconds: 'gauge',
  'rtsync_http_request_duration_seconds_bucket{le="0.001"}': 'histogram',
  'rtsync_http_request_duration_seconds_bucket{le="10"}': 'histogram',
  'rtsync_http_request_duration_seconds_bucket{le="+Inf"}': 'histogram',
  rtsync_http_request_duration_seconds_sum: 'histogram',
  rtsync_http_request_duration_seconds_count: 'histogram',
};

after(() => {
  sql(`DELETE FROM data_items WHERE title = 'met-item'`);
});

test('GET /metrics and /healthz answer without an API key; /metrics is valid Prometheus text', async () => {
  const health = await fetch(`${base}/healthz`);
  assert.equal(health.status, 200);
  assert.equal(await health.text(), 'ok\n');
  const res = await fetch(`${base}/metrics`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  const { families, samples } = parseExposition(await res.text());
  for (const name of families.keys()) assert.match(name, /^rtsync_/);
  for (const [key, type] of Object.entries(EXPECTED)) {
    assert.ok(samples.has(key), `${key} is shown`);
    assert.equal(families.get(familyOf(key.replace(/\{.*/, ''), families)).type, type, `${key} is a ${type}`);
  }
  assert.equal(samples.get('rtsync_replication_streaming'), 1);
  assert.ok(samples.get('rtsync_server_start_time_seconds') > 1.7e9);
  // the loop that answers this very request has just turned
  assert.ok(Math.abs(samples.get('rtsync_server_heartbeat_seconds') - Date.now() / 1000) < 5);
  // this very request's connection is open while it is answered
  assert.ok(samples.get('rtsync_connections{kind="http"}') >= 1);
});

test('the figures follow a subscription, an INSERT, a mutation and a 401; rtsync.stats agrees', async () => {
  const before = await scrape();
  const delta = (now, key) => now.get(key) - before.get(key);

  const client = transportClient();
  const inboxes = [
    collect(client, { query: 'subscription { onCreateDataItem(title: "met-item") { id title } }' }),
    collect(client, { query: 'subscription { onCreateDataItem(filter: { title: { eq: "met-item" } }) { id } }' }),
  ];
  const refused = collect(client, { query: 'subscription { onCreateNothing { id } }' });
  assert.ok((await refused.next()).error, 'an invalid subscription is refused');
  await client.sync();

  const connected = await scrape();
  assert.ok(connected.get('rtsync_connections{kind="websocket"}') >= 1);
  assert.ok(connected.get('rtsync_subscriptions') >= 2);
  assert.ok(delta(connected, 'rtsync_websocket_connections_total') >= 1);
  assert.ok(delta(connected, 'rtsync_subscriptions_accepted_total') >= 2);
  assert.ok(delta(connected, 'rtsync_subscriptions_refused_total') >= 1);

  // one row by SQL, one by a GraphQL mutation: each reaches both subscriptions
  sql(`INSERT INTO data_items (id, title) VALUES ('met-sql', 'met-item')`);
  const created = await post({
    query: 'mutation M($input: CreateDataItemInput!) { createDataItem(input: $input) { id } }',
    variables: { input: { title: 'met-item' } },
  });
  assert.equal(created.status, 200, JSON.stringify(created.body));
  for (const inbox of inboxes) {
    const ids = new Set();
    while (ids.size < 2) {
      const { next } = await inbox.next(5000, 'a met-item event');
      ids.add(next.data.onCreateDataItem.id);
    }
    assert.deepEqual(ids, new Set(['met-sql', created.body.data.createDataItem.id]));
  }
  const unauthorized = await post({ query: '{ __typename }' }, null);
  assert.equal(unauthorized.status, 401);

  const now = await scrape();
  assert.ok(delta(now, 'rtsync_events_delivered_total') >= 4);
  assert.ok(delta(now, 'rtsync_messages_sent_total') >= 4);
  assert.ok(delta(now, 'rtsync_bytes_sent_total{kind="websocket"}') > 0);
  assert.ok(delta(now, 'rtsync_stream_records_total') >= 2);
  assert.ok(delta(now, 'rtsync_stream_transactions_total') >= 2);
  assert.ok(delta(now, 'rtsync_http_requests_total{code="2xx"}') >= 1);
  assert.ok(delta(now, 'rtsync_http_requests_total{code="4xx"}') >= 1);
  assert.ok(delta(now, 'rtsync_keys_refused_total') >= 1);
  assert.ok(delta(now, 'rtsync_http_request_duration_seconds_count') >= 2);
  assert.ok(delta(now, 'rtsync_bytes_sent_total{kind="http"}') > 0);
  assert.ok(now.get('rtsync_replication_lag_bytes') >= 0);
  assert.ok(now.get('rtsync_replication_lag_seconds') >= 0);

  // SQL between two scrapes: counters in between, the same series and kinds,
  // then the rows only the view has (monitor.test.js tests their values)
  const first = await scrape();
  const view = stats();
  const second = await scrape();
  const viewOnly = ['rtsync_server_heartbeat_age_seconds', 'rtsync_replication_slot_active',
    'rtsync_replication_slot_lag_bytes'];
  assert.deepEqual([...view.keys()].slice(-viewOnly.length), viewOnly);
  assert.deepEqual([...view.keys()].slice(0, -viewOnly.length).sort(), [...first.keys()].sort());
  for (const [key, { kind, value }] of view) {
    if (kind === 'gauge') continue;
    assert.ok(first.has(key), `${key} is in /metrics`);
    assert.ok(first.get(key) <= value && value <= second.get(key),
      `${key}: ${first.get(key)} <= ${value} (rtsync.stats) <= ${second.get(key)}`);
  }
  for (const [key, type] of Object.entries(EXPECTED))
    assert.equal(view.get(key).kind, type, `${key} is a ${type} in rtsync.stats`);
  assert.equal(view.get('rtsync_replication_streaming').value, 1);
  assert.equal(view.get('rtsync_server_start_time_seconds').value, first.get('rtsync_server_start_time_seconds'));
  assert.ok(view.get('rtsync_subscriptions').value >= 2);

  // the gauges go down when the client leaves
  await client.dispose();
  await until((s) => s.get('rtsync_subscriptions') <= connected.get('rtsync_subscriptions') - 2 &&
    s.get('rtsync_connections{kind="websocket"}') <= connected.get('rtsync_connections{kind="websocket"}') - 1,
  'the subscriptions and the connection to be gone');
});
