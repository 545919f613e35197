// The planner's limits (rtsync.max_query_depth, _aliases, _nodes, _tokens,
// and the nesting of fragment spreads): each refused with a GraphQL
// validation error naming it, over HTTP and the WebSocket protocols; and
// hostile documents (100,000 aliases, 40 levels of doubling fragment
// spreads) answered at once with an error while a bystander keeps
// receiving changes from the same worker process.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  sql, httpUrl, apiKey, port, transportClient, collect, rawSocket, workerPid,
} from '../lib/env.js';

before(() => sql(`DELETE FROM data_items WHERE id LIKE 'plim-%'`));
after(() => sql(`DELETE FROM data_items WHERE id LIKE 'plim-%'`));


async function post(query) {
  const res = await fetch(httpUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': apiKey },
    body: JSON.stringify({ query }),
  });
  assert.equal(res.status, 200);
  return res.json();
}

// --- the documents -------------------------------------------------------

const aliases = (n, root = 'query { getDataItem(id: "plim-none")') =>
  `${root} { ${Array.from({ length: n }, (_, i) => `a${i}: id`).join(' ')} } }`;
// fragment Fi { ...Fi+1 ...Fi+1 }: 2^levels fields once expanded
const doubling = (levels, root = 'query { getDataItem(id: "plim-none")') =>
  `${root} { ...F0 } }\n${Array.from({ length: levels }, (_, i) =>
    `fragment F${i} on DataItem { ...F${i + 1} ...F${i + 1} }`).join('\n')}\nfragment F${levels} on DataItem { id }`;
// fields nested through introspection, which has types that nest
const deep = (pairs) => `{ __schema { types { ${'fields { type { '.repeat(pairs)}name${' } }'.repeat(pairs)} } } }`;
const tokens = (n) => `{ ${'__typename '.repeat(n)}}`;
// fragment Fi { ...Fi+1 }: no field deeper, but spreads nested 130 deep
const chain = (n) => `query { getDataItem(id: "plim-none") { ...F0 } }\n${Array.from({ length: n }, (_, i) =>
  `fragment F${i} on DataItem { ...F${i + 1} }`).join('\n')}\nfragment F${n} on DataItem { id }`;

const limits = [
  { name: 'rtsync.max_query_depth', query: deep(16), message: /is 35 levels of fields deep, more than the 32 that rtsync\.max_query_depth allows/ },
  { name: 'rtsync.max_query_aliases', query: aliases(1001), message: /has 1001 aliases, more than the 1000 that rtsync\.max_query_aliases allows/ },
  { name: 'rtsync.max_query_nodes', query: doubling(20), message: /has \d+ fields and fragments once its fragments are expanded, more than the 10000 that rtsync\.max_query_nodes allows/ },
  { name: 'rtsync.max_query_tokens', query: tokens(15001), message: /Document contains more than 15000 tokens\. Parsing aborted \(rtsync\.max_query_tokens\)/ },
  { name: 'fragment nesting', query: chain(130), message: /Document is nested too deeply: at most 128 levels of fields and fragment spreads/ },
];

// The same limits on subscriptions, for the WebSocket protocols.
const subscriptionLimits = [
  { name: 'rtsync.max_query_depth', query: `subscription ${deep(16)}`, message: limits[0].message },
  { name: 'rtsync.max_query_aliases', query: aliases(1001, 'subscription { onCreateDataItem'), message: limits[1].message },
  { name: 'rtsync.max_query_nodes', query: doubling(20, 'subscription { onCreateDataItem'), message: limits[2].message },
  { name: 'rtsync.max_query_tokens', query: `subscription ${tokens(15001)}`, message: limits[3].message },
];

// --- each limit, each protocol -------------------------------------------

for (const { name, query, message } of limits) {
  test(`HTTP: ${name} refused with a ValidationError naming it`, async () => {
    const body = await post(query);
    assert.equal(body.data, null);
    assert.equal(body.errors.length, 1, JSON.stringify(body.errors));
    assert.equal(body.errors[0].errorType, 'ValidationError');
    assert.match(body.errors[0].message, message);
  });
}

test('HTTP: stock documents stay within the limits (getIntrospectionQuery, every option)', async () => {
  const { getIntrospectionQuery } = await import('graphql');
  const body = await post(getIntrospectionQuery({
    descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true,
    schemaDescription: true, inputValueDeprecation: true,
  }));
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  assert.ok(body.data.__schema.types.some((t) => t.name === 'DataItem'));
  // 1000 aliases and 10 levels of doubling spreads are fine
  assert.deepEqual((await post(aliases(1000))).data, { getDataItem: null });
  assert.deepEqual((await post(doubling(10))).data, { getDataItem: null });
});

test('graphql-transport-ws: each limit refused, on subscriptions and on queries', async () => {
  const client = transportClient();
  try {
    for (const { name, query, message } of [...subscriptionLimits, ...limits.slice(0, 3)]) {
      const inbox = collect(client, { query });
      const { error } = await inbox.next(5000, `the error for ${name}`);
      assert.ok(Array.isArray(error), `${name}: ${JSON.stringify(error)}`);
      assert.match(error[0].message, message, name);
    }
  } finally {
    await client.dispose();
  }
});

test('legacy graphql-ws: a limit refused with an error message', async () => {
  const ws = await rawSocket('graphql-ws');
  try {
    ws.sendJson({ type: 'connection_init', payload: { 'x-api-key': apiKey } });
    assert.equal((await ws.nextIgnoringKa()).type, 'connection_ack');
    ws.sendJson({ id: 'l1', type: 'start', payload: { query: subscriptionLimits[2].query } });
    const m = await ws.nextIgnoringKa(5000, 'the error');
    assert.equal(m.type, 'error');
    assert.equal(m.id, 'l1');
    assert.match(m.payload[0].message, subscriptionLimits[2].message);
  } finally {
    ws.close();
  }
});

test('AppSync real-time: limits refused with errorType ValidationError', async () => {
  const realtimeUrl = `ws://127.0.0.1:${port}/graphql/realtime`;
  const header = Buffer.from(JSON.stringify({ host: `127.0.0.1:${port}`, 'x-api-key': apiKey })).toString('base64url');
  const ws = await rawSocket(['graphql-ws', `header-${header}`], realtimeUrl);
  try {
    ws.sendJson({ type: 'connection_init' });
    assert.equal((await ws.nextIgnoringKa()).type, 'connection_ack');
    for (const [i, { name, query, message }] of subscriptionLimits.slice(1, 3).entries()) {
      ws.sendJson({
        id: `a${i}`, type: 'start',
        payload: {
          data: JSON.stringify({ query, variables: {} }),
          extensions: { authorization: { 'x-api-key': apiKey, host: `127.0.0.1:${port}` } },
        },
      });
      const m = await ws.nextIgnoringKa(5000, `the error for ${name}`);
      assert.equal(m.type, 'error', name);
      assert.equal(m.id, `a${i}`);
      assert.equal(m.payload.errors[0].errorType, 'ValidationError');
      assert.match(m.payload.errors[0].message, message);
    }
  } finally {
    ws.close();
  }
});

// --- hostile documents beside a bystander --------------------------------

test('100,000 aliases and 40 levels of doubling spreads: prompt errors, the bystander keeps receiving, same worker', async () => {
  const pid = workerPid();
  const bystander = transportClient();
  const hostile = transportClient();
  const events = collect(bystander, { query: `subscription { onCreateDataItem(title: "plim-bystander") { id } }` });
  await bystander.sync();
  try {
    const attacks = [
      ['HTTP, 100,000 aliases', () => post(aliases(100000)), /more than 15000 tokens|aliases, more than/],
      ['HTTP, 40 doubling levels', () => post(doubling(40)), /rtsync\.max_query_nodes/],
      ['graphql-transport-ws, 40 doubling levels', async () => {
        const { error } = await collect(hostile, { query: doubling(40, 'subscription { onCreateDataItem') }).next(5000, 'the error');
        return { errors: error };
      }, /rtsync\.max_query_nodes/],
    ];
    let n = 0;
    for (let round = 0; round < 3; round++) {
      for (const [what, send, message] of attacks) {
        const started = Date.now();
        const answered = send();
        // a change committed while the hostile document is being answered
        const id = `plim-${++n}`;
        const committed = Date.now();
        sql(`INSERT INTO data_items (id, title) VALUES ('${id}', 'plim-bystander')`);
        const body = await answered;
        const took = Date.now() - started;
        assert.match(body.errors[0].message, message, what);
        assert.ok(took < 3000, `${what}: answered in ${took} ms`);
        const { next } = await events.next(5000, `the bystander's row ${id}`);
        assert.equal(next.data.onCreateDataItem.id, id);
        const latency = Date.now() - committed;
        assert.ok(latency < 2000, `${what}: the bystander waited ${latency} ms`);
      }
    }
    assert.equal(workerPid(), pid, 'the worker is the same process');
  } finally {
    await hostile.dispose();
    await bystander.dispose();
  }
});
