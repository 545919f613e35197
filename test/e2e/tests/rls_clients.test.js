// Row-level security with stock clients signed in by tokens: graphql-ws
// with Authorization in connectionParams, Apollo's legacy
// subscriptions-transport-ws, and AWS Amplify v6 in oidc mode with a custom
// token provider returning a locally signed token. On one table whose
// policy is Supabase's `owner = auth.uid()`, each user sees only their own
// rows while the others, on the same table, see only theirs.
//
// Tokens are HS256, signed here (lib/tokens.js). On a cluster of this
// file's own (JWT settings).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { SubscriptionClient } from 'subscriptions-transport-ws';
import { Amplify } from 'aws-amplify';
import { generateClient } from 'aws-amplify/api';
import { Hub } from 'aws-amplify/utils';
import { transportClient, collect, Inbox } from '../lib/env.js';
import { startCluster } from '../lib/cluster.js';
import { sign, decode, now } from '../lib/tokens.js';
import { authUidSql, until, post } from '../lib/rls.js';

globalThis.WebSocket = WebSocket; // Node 20 has no global WebSocket

const SECRET = 'the rls clients HMAC secret, well over 32 bytes long';
const token = (sub) => sign({ alg: 'HS256', key: SECRET, claims: { sub, role: 'app_user', iat: now(), exp: now() + 3600 } });
const FIELDS = 'id owner title';

let cluster;
const tokens = {};
const inboxes = {};	// user -> Inbox of onCreateTodo rows (unfiltered)
let bobClient;
let carolClient;
let amplifySub;
let rows = 0;

// ---------------------------------------------------------------- helpers

// Apollo's legacy client with a barrier: a stop for an unknown id is
// answered with complete, after everything sent before it.
function legacyClient(connectionParams) {
  const client = new SubscriptionClient(`ws://127.0.0.1:${cluster.port}/graphql`,
    { reconnect: false, connectionParams }, WebSocket);
  const probes = new Map();
  let n = 0;
  const connected = new Promise((resolve) => client.onConnected(resolve));
  client.sync = async () => {
    await connected;
    const id = `probe-${++n}`;
    const done = new Promise((resolve) => probes.set(id, resolve));
    client.client.on('message', (data) => {
      const m = JSON.parse(data.toString());
      if (m.type === 'complete' && probes.has(m.id)) { probes.get(m.id)(); probes.delete(m.id); }
    });
    client.client.send(JSON.stringify({ id, type: 'stop' }));
    await done;
  };
  return client;
}

// An Amplify v6 JWT (what decodeJWT gives): the token and its payload.
const amplifyJwt = (t) => ({ toString: () => t, payload: decode(t).claims });

function amplifyAcked() {
  return new Promise((resolve) => {
    const stop = Hub.listen('api', ({ payload }) => {
      if (payload.event === 'Subscription ack') { stop(); resolve(); }
    });
  });
}

// Inserts rows from psql (any SQL writer): [owner, title] pairs, each its
// own transaction. Returns their ids.
function insert(pairs) {
  const ids = pairs.map(() => `r${++rows}`);
  cluster.sql(pairs.map(([owner, title], i) =>
    `INSERT INTO todos (id, owner, title) VALUES ('${ids[i]}', '${owner}', '${title}');`).join('\n'));
  return ids;
}

// The rows a user's inbox gets up to (and without) their sentinel row,
// inserted after everything else: nothing before it can still be coming.
async function rowsUntilSentinel(user, sentinel) {
  const got = [];
  for (;;) {
    const m = await inboxes[user].next(10000, `${user}'s sentinel ${sentinel}`);
    assert.ifError(m.error);
    const row = m.next?.data?.onCreateTodo ?? m.data?.onCreateTodo;
    assert.ok(row, JSON.stringify(m));
    if (row.id === sentinel) return got;
    got.push(row);
  }
}

// One sentinel per user, then each user's rows up to it.
async function drain(users = ['alice', 'bob', 'carol']) {
  const sentinels = insert(users.map((u) => [u, 'sentinel']));
  const out = {};
  for (const [i, u] of users.entries()) out[u] = await rowsUntilSentinel(u, sentinels[i]);
  return out;
}

// ------------------------------------------------------------------ setup

before(async () => {
  cluster = await startCluster({
    offset: 12,
    settings: () => [
      `rtsync.jwt_secret = '${SECRET}'`,
      `rtsync.jwt_authenticator = 'rc_authenticator'`,
    ],
  });
  cluster.sql(`CREATE ROLE rc_authenticator NOINHERIT; CREATE ROLE app_user; GRANT app_user TO rc_authenticator;
    ${authUidSql(['app_user'])}
    CREATE TABLE todos (id text PRIMARY KEY, owner text NOT NULL DEFAULT auth.uid(), title text);
    ALTER TABLE todos ENABLE ROW LEVEL SECURITY;
    CREATE POLICY own_todos ON todos USING (owner = auth.uid()) WITH CHECK (owner = auth.uid());
    GRANT SELECT, INSERT ON todos TO app_user;
    SET client_min_messages = warning;
    SELECT rtsync.publish('todos', type_name => 'Todo');`);
  for (const u of ['alice', 'bob', 'carol', 'dave']) tokens[u] = token(u);
  await until('listTodos is served', async () =>
    (await post(cluster, '{ listTodos { items { id } } }', { token: tokens.alice })).body?.data?.listTodos);

  // alice: Amplify v6, oidc, a custom token provider
  Amplify.configure(
    { API: { GraphQL: { endpoint: `http://127.0.0.1:${cluster.port}/graphql`, region: 'us-east-1', defaultAuthMode: 'oidc' } } },
    { Auth: { tokenProvider: { getTokens: async () => ({ accessToken: amplifyJwt(tokens.alice), idToken: amplifyJwt(tokens.alice) }) } } },
  );
  inboxes.alice = new Inbox();
  const acked = amplifyAcked();
  amplifySub = generateClient({ endpoint: `ws://127.0.0.1:${cluster.port}/graphql`, authMode: 'oidc' })
    .graphql({ query: `subscription { onCreateTodo { ${FIELDS} } }` })
    .subscribe({ next: (v) => inboxes.alice.push(v), error: (error) => inboxes.alice.push({ error }) });

  // bob: graphql-ws, Authorization in connectionParams
  bobClient = transportClient({ url: `ws://127.0.0.1:${cluster.port}/graphql`, connectionParams: { Authorization: `Bearer ${tokens.bob}` } });
  inboxes.bob = collect(bobClient, { query: `subscription { onCreateTodo { ${FIELDS} } }` });

  // carol: Apollo's subscriptions-transport-ws
  carolClient = legacyClient({ Authorization: `Bearer ${tokens.carol}` });
  inboxes.carol = new Inbox();
  carolClient.request({ query: `subscription { onCreateTodo { ${FIELDS} } }` }).subscribe({
    next: (v) => inboxes.carol.push({ next: v }),
    error: (error) => inboxes.carol.push({ error }),
  });

  await Promise.all([acked, bobClient.sync(), carolClient.sync()]);
});

after(async () => {
  // Amplify closes its socket a second after the last unsubscribe; stopping
  // the server first would leave it retrying
  const disconnected = new Promise((resolve) => {
    const stop = Hub.listen('api', ({ payload }) => {
      if (payload.event === 'ConnectionStateChange' && payload.data?.connectionState === 'Disconnected') { stop(); resolve(); }
    });
    setTimeout(resolve, 5000).unref();
  });
  amplifySub?.unsubscribe();
  await disconnected;
  carolClient?.close();
  await bobClient?.dispose();
  cluster?.stop();
});

// ------------------------------------------------------------------ tests

// Rows of four owners arrive interleaved; each client gets exactly its own.
test('each stock client sees only its own user\'s rows', async () => {
  const owners = ['alice', 'bob', 'carol', 'dave'];
  const pairs = [];
  for (let i = 0; i < 24; i++) pairs.push([owners[(i * 7) % 4], `todo ${i}`]);
  const ids = insert(pairs);
  const got = await drain();
  for (const u of ['alice', 'bob', 'carol']) {
    const mine = ids.map((id, i) => ({ id, owner: pairs[i][0], title: pairs[i][1] })).filter((r) => r.owner === u);
    assert.deepEqual(got[u], mine, `${u} gets their ${mine.length} rows, in order, and nobody else's`);
  }
});

// Asking for someone else's rows by argument gets nothing: the policy wins.
test('graphql-ws: bob subscribing to owner "alice" gets none of alice\'s rows', async () => {
  const spy = collect(bobClient, { query: `subscription { onCreateTodo(owner: "alice") { ${FIELDS} } }` });
  await bobClient.sync();
  insert([['alice', 'for alice only'], ['alice', 'also hers']]);
  const got = await drain();
  assert.equal(got.alice.length, 2, 'alice gets hers');
  assert.deepEqual(got.bob, []);
  assert.equal(spy.size, 0, 'the filtered subscription got nothing');
  spy.unsubscribe();
});

// A row created over HTTP with a token belongs to its user (owner defaults
// to auth.uid()); only that user is told of it.
test('a mutation over HTTP: alice (Amplify, oidc) and bob (Bearer) each create a todo; only the creator hears of it', async () => {
  const api = generateClient({ authMode: 'oidc' });
  const a = await api.graphql({ query: `mutation { createTodo(input: { id: "m-alice", title: "by amplify" }) { ${FIELDS} } }` });
  assert.deepEqual(a.data.createTodo, { id: 'm-alice', owner: 'alice', title: 'by amplify' });
  const b = await post(cluster, `mutation { createTodo(input: { id: "m-bob", title: "by fetch" }) { ${FIELDS} } }`, { token: tokens.bob });
  assert.equal(b.status, 200, JSON.stringify(b.body));
  assert.deepEqual(b.body.data.createTodo, { id: 'm-bob', owner: 'bob', title: 'by fetch' });
  // bob cannot create a row for alice: the policy's WITH CHECK refuses it
  const forged = await post(cluster, `mutation { createTodo(input: { id: "m-forged", owner: "alice", title: "x" }) { id } }`, { token: tokens.bob });
  assert.ok(forged.body.errors?.length, JSON.stringify(forged.body));
  const got = await drain();
  assert.deepEqual(got.alice, [{ id: 'm-alice', owner: 'alice', title: 'by amplify' }]);
  assert.deepEqual(got.bob, [{ id: 'm-bob', owner: 'bob', title: 'by fetch' }]);
  assert.deepEqual(got.carol, []);
});

// Queries with the same tokens list the same rows the subscriptions got.
test('listTodos with each token lists only that user\'s rows', async () => {
  for (const u of ['alice', 'bob', 'carol', 'dave']) {
    const r = await post(cluster, '{ listTodos { items { owner } } }', { token: tokens[u] });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const owners = new Set(r.body.data.listTodos.items.map((i) => i.owner));
    assert.deepEqual([...owners], [u]);
  }
});

test('a signed-in user resuming after a position catches up on their own rows only', async () => {
  // dave's position: the record of a row of his, once kept
  const [mark] = insert([['dave', 'mark']]);
  const position = () => cluster.sql(`SELECT sequence_number FROM rtsync.stream_record
    WHERE relid = 'todos'::regclass AND record LIKE '%"${mark}"%'`);
  await until('dave\'s row is kept', () => position() !== '');
  const after = position();
  // while dave is away: his rows and the others'
  const away = insert([['alice', 'a'], ['dave', 'd1'], ['bob', 'b'], ['dave', 'd2']]);
  const dave = transportClient({ url: `ws://127.0.0.1:${cluster.port}/graphql`,
    connectionParams: { Authorization: `Bearer ${tokens.dave}`, after } });
  const inbox = collect(dave, { query: `subscription { onCreateTodo { ${FIELDS} } }` });
  const got = [];
  for (let i = 0; i < 2; i++) {
    const m = await inbox.next(10000, `dave's missed row ${i + 1}`);
    assert.ifError(m.error);
    got.push(m.next.data.onCreateTodo.id);
  }
  assert.deepEqual(got, [away[1], away[3]]);
  // then live: again only his
  const live = insert([['carol', 'c'], ['dave', 'd3']]);
  const m = await inbox.next(10000, 'dave\'s live row');
  assert.equal(m.next.data.onCreateTodo.id, live[1]);
  await dave.sync();
  assert.equal(inbox.size, 0, "none of the other users' rows, nothing twice");
  await dave.dispose();
  // the others' subscriptions got theirs as usual
  await drain();
});
