// Role changes, which fire no event trigger, reach the server: GRANT and
// REVOKE of a group role, ALTER ROLE NOINHERIT / NOBYPASSRLS / NOSUPERUSER,
// DROP ROLE, and role changes run in another database than the one rtsync
// serves. On each protocol (graphql-transport-ws through graphql-ws, legacy
// graphql-ws through subscriptions-transport-ws, AppSync real-time on the
// wire) a live subscription that lost access ends with the error, a new one
// is refused, a bystander keeps receiving, and once access is given back a
// new subscription receives again.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import WebSocket from 'ws';
import { SubscriptionClient } from 'subscriptions-transport-ws';
import { sql, apiKey, port, wsUrl, Inbox, rawSocket, transportClient, streamBarrier, closeBarrier, within } from '../lib/env.js';

const GROUP = 'rtsync_e2e_rc_group';	// has SELECT on data_items
const MEMBER = 'rtsync_e2e_rc_member';	// inherits it from GROUP
const BYPASS = 'rtsync_e2e_rc_bypass';	// SELECT on the RLS table, BYPASSRLS
const SUPER = 'rtsync_e2e_rc_super';	// no grants at all, SUPERUSER
const ROLES = [MEMBER, BYPASS, SUPER, GROUP];
const SECRET = 'rtsync_e2e_rc_secrets';
const OTHER_DB = 'rtsync_e2e_rc_other';	// without the extension

// SQL in the other database: the role catalogs are shared, the stream is not
function otherSql(query) {
  return execFileSync('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-d', OTHER_DB, '-c', query],
    { encoding: 'utf8' }).trim();
}

// SQL without the notices of IF EXISTS
function quietSql(query) {
  execFileSync('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-c', query],
    { encoding: 'utf8', env: { ...process.env, PGOPTIONS: '-c client_min_messages=warning' } });
}

const roleList = ROLES.map((r) => `'${r}'`).join(', ');
function cleanUp() {
  sql(`SELECT rtsync.revoke_api_key(key_id) FROM rtsync.api_key WHERE role IN (${roleList}) AND revoked_at IS NULL`);
  sql(`DELETE FROM rtsync.api_key WHERE role IN (${roleList})`);
  sql(`SELECT rtsync.unpublish(relid) FROM rtsync.published_table WHERE relid = to_regclass('${SECRET}')`);
  quietSql(`DROP TABLE IF EXISTS ${SECRET}`);
  sql(`DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${GROUP}') THEN
         REVOKE ALL ON data_items FROM ${GROUP}; END IF; END $$`);
  for (const r of ROLES) quietSql(`DROP ROLE IF EXISTS ${r}`);
  quietSql(`DROP DATABASE IF EXISTS ${OTHER_DB}`);
  sql(`DELETE FROM data_items WHERE id LIKE 'rc-%'`);
}

// Every test starts from here, whatever the one before it left.
async function baseline() {
  sql(`DO $$ BEGIN
         IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${MEMBER}') THEN CREATE ROLE ${MEMBER}; END IF;
         IF NOT EXISTS (SELECT FROM pg_auth_members m
                        WHERE m.member = '${MEMBER}'::regrole AND m.roleid = '${GROUP}'::regrole) THEN
           GRANT ${GROUP} TO ${MEMBER};
         END IF;
         ALTER ROLE ${MEMBER} INHERIT;
         ALTER ROLE ${BYPASS} BYPASSRLS;
         ALTER ROLE ${SUPER} SUPERUSER;
       END $$`);
  await streamBarrier();
}

const keys = {};
before(async () => {
  cleanUp();
  sql(`CREATE DATABASE ${OTHER_DB}`);
  sql(`CREATE ROLE ${GROUP}`);
  sql(`GRANT SELECT ON data_items TO ${GROUP}`);
  sql(`CREATE ROLE ${MEMBER} IN ROLE ${GROUP}`);
  sql(`CREATE ROLE ${BYPASS} BYPASSRLS`);
  sql(`CREATE ROLE ${SUPER} SUPERUSER`);
  sql(`CREATE TABLE ${SECRET} (id text PRIMARY KEY, title text, note text)`);
  sql(`ALTER TABLE ${SECRET} ENABLE ROW LEVEL SECURITY`);
  sql(`CREATE POLICY public_only ON ${SECRET} USING (note = 'public')`);
  sql(`GRANT SELECT ON ${SECRET} TO ${BYPASS}`);
  sql(`SET client_min_messages = warning; SELECT rtsync.publish('${SECRET}', type_name => 'RcSecret')`);
  for (const r of [MEMBER, BYPASS, SUPER]) keys[r] = sql(`SELECT rtsync.create_api_key('role changes', role => '${r}')`);
  await streamBarrier();
});

after(async () => {
  await closeBarrier();
  cleanUp();
});

// --- the three protocols, behind one shape: open(key) gives a session whose
// subscribe(query) returns an Inbox of { data } | { error } | { complete },
// and whose sync() returns once everything subscribed before is live or
// refused.

const transport = {
  name: 'graphql-transport-ws',
  async open(key) {
    const client = transportClient({ connectionParams: { 'x-api-key': key } });
    return {
      subscribe(query) {
        const inbox = new Inbox();
        client.subscribe({ query }, {
          next: (v) => inbox.push({ data: v.data }),
          error: (e) => inbox.push({ error: Array.isArray(e) ? e[0].message : String(e.message ?? e) }),
          complete: () => inbox.push({ complete: true }),
        });
        return inbox;
      },
      sync: () => client.sync(),
      close: () => client.dispose(),
    };
  },
};

const legacy = {
  name: 'legacy graphql-ws',
  async open(key) {
    const client = new SubscriptionClient(wsUrl, { reconnect: false, connectionParams: { 'x-api-key': key } }, WebSocket);
    await new Promise((resolve, reject) => {
      client.onConnected(resolve);
      client.onError(reject);
    });
    // barrier: a stop for an unknown id is answered with complete, after
    // everything sent before it
    const probes = new Map();
    let n = 0;
    client.client.on('message', (data) => {
      const m = JSON.parse(data.toString());
      if (m.type === 'complete' && probes.has(m.id)) { probes.get(m.id)(); probes.delete(m.id); }
    });
    return {
      subscribe(query) {
        const inbox = new Inbox();
        client.request({ query }).subscribe({
          next: (v) => inbox.push({ data: v.data }),
          error: (e) => inbox.push({ error: e.message }),
          complete: () => inbox.push({ complete: true }),
        });
        return inbox;
      },
      async sync() {
        const id = `probe-${++n}`;
        const done = new Promise((resolve) => probes.set(id, resolve));
        client.client.send(JSON.stringify({ id, type: 'stop' }));
        await within(done, 5000, 'the probe\'s complete');
      },
      close: () => client.close(),
    };
  },
};

const realtimeUrl = `ws://127.0.0.1:${port}/graphql/realtime`;
const b64url = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');
const appsync = {
  name: 'AppSync real-time',
  async open(key) {
    const auth = { host: `127.0.0.1:${port}`, 'x-api-key': key };
    const ws = await rawSocket(['graphql-ws', `header-${b64url(auth)}`], realtimeUrl);
    ws.sendJson({ type: 'connection_init' });
    assert.equal((await ws.nextIgnoringKa()).type, 'connection_ack');
    // every message for a subscription goes to its inbox; start_ack or
    // error settles the start
    const inboxes = new Map();
    const pending = new Map();
    let n = 0;
    ws.on('message', (raw) => {
      const m = JSON.parse(raw.toString());
      const inbox = inboxes.get(m.id);
      if (!inbox) return;
      if (m.type === 'start_ack' || m.type === 'error') { pending.get(m.id)?.(); pending.delete(m.id); }
      if (m.type === 'data') inbox.push({ data: m.payload.data });
      else if (m.type === 'error') inbox.push({ error: m.payload.errors[0].message, errorType: m.payload.errors[0].errorType });
      else if (m.type === 'complete') inbox.push({ complete: true });
    });
    const settled = [];
    return {
      subscribe(query) {
        const id = `rc-${++n}`;
        const inbox = new Inbox();
        inboxes.set(id, inbox);
        settled.push(new Promise((resolve) => pending.set(id, resolve)));
        ws.sendJson({
          id, type: 'start',
          payload: { data: JSON.stringify({ query, variables: {} }), extensions: { authorization: auth } },
        });
        return inbox;
      },
      async sync() {
        const waiting = settled.splice(0);
        await within(Promise.all(waiting), 5000, 'start_ack');
      },
      close: () => ws.close(),
    };
  },
};

// --- the changes: each takes access away and gives it back; "stream" ones
// run in the served database and reach the server in stream order, the
// others in a database of their own.

const items = {
  query: (tag) => `subscription { onCreateDataItem(title: "${tag}") { id title } }`,
  insert: (tag, n) => sql(`INSERT INTO data_items (id, title) VALUES ('${tag}-${n}', '${tag}')`),
  row: (tag, n) => ({ onCreateDataItem: { id: `${tag}-${n}`, title: tag } }),
};
// rows the policy hides: only roles that bypass row-level security get them
const secrets = {
  query: (tag) => `subscription { onCreateRcSecret(title: "${tag}") { id note } }`,
  insert: (tag, n) => sql(`INSERT INTO ${SECRET} (id, title, note) VALUES ('${tag}-${n}', '${tag}', 'hidden')`),
  row: (tag, n) => ({ onCreateRcSecret: { id: `${tag}-${n}`, note: 'hidden' } }),
};
const noSelect = /has no SELECT privilege/;

const changes = [
  {
    id: 'revoke', name: `REVOKE of the group the key's role inherits SELECT from`,
    role: MEMBER, table: items, error: noSelect, stream: true,
    lose: () => sql(`REVOKE ${GROUP} FROM ${MEMBER}`),
    regain: () => sql(`GRANT ${GROUP} TO ${MEMBER}`),
  },
  {
    id: 'noinherit', name: `ALTER ROLE NOINHERIT of the key's role`,
    role: MEMBER, table: items, error: noSelect, stream: true,
    lose: () => sql(`ALTER ROLE ${MEMBER} NOINHERIT`),
    regain: () => sql(`ALTER ROLE ${MEMBER} INHERIT`),
  },
  {
    id: 'drop', name: `DROP ROLE of the key's role (and CREATE ROLE ... IN ROLE again)`,
    role: MEMBER, table: items, error: noSelect, stream: true,
    lose: () => sql(`DROP ROLE ${MEMBER}`),
    regain: () => sql(`CREATE ROLE ${MEMBER} IN ROLE ${GROUP}`),
  },
  {
    id: 'elsewhere', name: 'REVOKE of the group role, run in another database',
    role: MEMBER, table: items, error: noSelect, stream: false,
    lose: () => otherSql(`REVOKE ${GROUP} FROM ${MEMBER}`),
    regain: () => otherSql(`GRANT ${GROUP} TO ${MEMBER}`),
  },
  {
    id: 'nosuper', name: 'ALTER ROLE NOSUPERUSER, run in another database, on a table with row-level security',
    role: SUPER, table: secrets, error: noSelect, stream: false,
    lose: () => otherSql(`ALTER ROLE ${SUPER} NOSUPERUSER`),
    regain: () => otherSql(`ALTER ROLE ${SUPER} SUPERUSER`),
  },
];

for (const protocol of [transport, legacy, appsync]) {
  for (const change of changes) {
    test(`${change.name}: ${protocol.name}`, async () => {
      const { table } = change;
      const tag = `rc-${change.id}-${protocol.name.split(' ')[0]}`;
      const subject = await protocol.open(keys[change.role]);
      const bystander = await protocol.open(apiKey);
      try {
        const live = subject.subscribe(table.query(tag));
        const watching = bystander.subscribe(table.query(tag));
        await subject.sync();
        await bystander.sync();
        table.insert(tag, 1);
        assert.deepEqual(await live.next(5000, 'the first row'), { data: table.row(tag, 1) });
        assert.deepEqual(await watching.next(5000, 'the first row (bystander)'), { data: table.row(tag, 1) });

        // the live subscription ends with the protocol's error
        change.lose();
        const ended = await live.next(5000, 'the subscription to end');
        assert.match(ended.error ?? JSON.stringify(ended), change.error);
        if (protocol === appsync) assert.equal(ended.errorType, 'SubscriptionEnded');

        // a new one is refused
        const refused = subject.subscribe(table.query(tag));
        const answer = await refused.next(5000, 'the refusal');
        assert.match(answer.error ?? JSON.stringify(answer), change.error);
        if (protocol === appsync) assert.equal(answer.errorType, 'Unauthorized');

        // the bystander keeps receiving; the ended subscription gets nothing
        table.insert(tag, 2);
        assert.deepEqual(await watching.next(5000, 'the second row (bystander)'), { data: table.row(tag, 2) });
        assert.ok(!live.items.some((m) => m.data), 'no row after the subscription ended');

        // access given back: a new subscription receives again (a change
        // in another database is in effect for client messages sent after
        // its commit; one in this database once the stream has passed it)
        change.regain();
        if (change.stream) await streamBarrier();
        const again = subject.subscribe(table.query(tag));
        await subject.sync();
        table.insert(tag, 3);
        assert.deepEqual(await again.next(5000, 'the third row'), { data: table.row(tag, 3) });
        assert.deepEqual(await watching.next(5000, 'the third row (bystander)'), { data: table.row(tag, 3) });
        assert.ok(!live.items.some((m) => m.data), 'no row after the subscription ended');
      } finally {
        await subject.close();
        await bystander.close();
        await baseline();
      }
    });
  }
}

// ALTER ROLE NOBYPASSRLS does not end a subscription: from the change on,
// in stream order, it gets only the rows the table's policy lets it see,
// and everything again once BYPASSRLS is back.
for (const protocol of [transport, legacy, appsync]) {
  test(`ALTER ROLE NOBYPASSRLS, on a table with row-level security, filters what follows: ${protocol.name}`, async () => {
    const tag = `rc-nobypass-${protocol.name.split(' ')[0]}`;
    const note = (n, what) => sql(`INSERT INTO ${SECRET} (id, title, note) VALUES ('${tag}-${n}', '${tag}', '${what}')`);
    const row = (n, what) => ({ data: { onCreateRcSecret: { id: `${tag}-${n}`, note: what } } });
    const subject = await protocol.open(keys[BYPASS]);
    try {
      const live = subject.subscribe(secrets.query(tag));
      await subject.sync();
      note(1, 'hidden');
      assert.deepEqual(await live.next(5000, 'the hidden row, while bypassing'), row(1, 'hidden'));

      sql(`ALTER ROLE ${BYPASS} NOBYPASSRLS`);
      note(2, 'hidden');
      note(3, 'public');
      assert.deepEqual(await live.next(5000, 'the public row'), row(3, 'public'));

      sql(`ALTER ROLE ${BYPASS} BYPASSRLS`);
      note(4, 'hidden');
      assert.deepEqual(await live.next(5000, 'the hidden row again'), row(4, 'hidden'));
      assert.equal(live.size, 0);
    } finally {
      await subject.close();
      await baseline();
    }
  });
}

// A table's owner reads it and is exempt from its policies, unless the
// table forces row-level security; REASSIGN OWNED (a role command, through
// the hook) takes both away.
const OWNER = 'rtsync_e2e_rc_owner';
const OWNED = 'rtsync_e2e_rc_owned';
test('the owner of a table with row-level security: FORCE ROW LEVEL SECURITY withholds its rows, REASSIGN OWNED ends its subscriptions', async () => {
  quietSql(`DROP TABLE IF EXISTS ${OWNED}`);
  quietSql(`DROP ROLE IF EXISTS ${OWNER}`);
  sql(`CREATE ROLE ${OWNER}`);
  sql(`CREATE TABLE ${OWNED} (id text PRIMARY KEY, title text)`);
  sql(`ALTER TABLE ${OWNED} OWNER TO ${OWNER}`);
  sql(`ALTER TABLE ${OWNED} ENABLE ROW LEVEL SECURITY`);
  sql(`SET client_min_messages = warning; SELECT rtsync.publish('${OWNED}', type_name => 'RcOwned')`);
  const key = sql(`SELECT rtsync.create_api_key('owner', role => '${OWNER}')`);
  await streamBarrier();
  const session = await transport.open(key);
  const query = `subscription { onCreateRcOwned { id } }`;
  try {
    const live = session.subscribe(query);
    await session.sync();
    sql(`INSERT INTO ${OWNED} VALUES ('rc-owned-1', 'x')`);
    assert.deepEqual(await live.next(5000, 'the first row'), { data: { onCreateRcOwned: { id: 'rc-owned-1' } } });

    // forced, the policies apply to the owner too: none, so nothing passes
    sql(`ALTER TABLE ${OWNED} FORCE ROW LEVEL SECURITY`);
    sql(`INSERT INTO ${OWNED} VALUES ('rc-owned-hidden', 'x')`);
    sql(`ALTER TABLE ${OWNED} NO FORCE ROW LEVEL SECURITY`);
    sql(`INSERT INTO ${OWNED} VALUES ('rc-owned-2', 'x')`);
    assert.deepEqual(await live.next(5000, 'the second row'), { data: { onCreateRcOwned: { id: 'rc-owned-2' } } });
    assert.equal(live.size, 0);

    sql(`REASSIGN OWNED BY ${OWNER} TO CURRENT_USER`);
    assert.match((await live.next(5000, 'the subscription to end')).error, noSelect);
    assert.match((await session.subscribe(query).next(5000, 'the refusal')).error, noSelect);
  } finally {
    await session.close();
    sql(`SELECT rtsync.revoke_api_key('${key}')`);
    sql(`DELETE FROM rtsync.api_key WHERE role = '${OWNER}'`);
    sql(`SELECT rtsync.unpublish('${OWNED}')`);
    sql(`DROP TABLE ${OWNED}`);
    sql(`DROP ROLE ${OWNER}`);
  }
});
