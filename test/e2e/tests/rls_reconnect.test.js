// Row-level security judged in batches, while the replication connection is
// killed again and again: 20 users under a policy that reads a membership
// table (judged in SQL, changes read ahead and judged together) each get
// exactly the rows their team may see, in order, none twice, none missing.
// On a cluster of this file's own: its walsender is terminated mid-stream.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import os from 'node:os';
import { transportClient } from '../lib/env.js';
import { startCluster } from '../lib/cluster.js';
import { sign, now } from '../lib/tokens.js';

const SECRET = 'the reconnect test HMAC secret, over 32 bytes long';
const USERS = Array.from({ length: 20 }, (_, i) => `u${i}`);
const CHANGES = 2000;
let cluster;

before(async () => {
  cluster = await startCluster({
    offset: 13,
    settings: () => [`rtsync.jwt_secret = '${SECRET}'`, "rtsync.jwt_authenticator = 'rr_authenticator'"],
  });
  cluster.sql(`CREATE ROLE rr_authenticator NOLOGIN; CREATE ROLE rr_user NOLOGIN; GRANT rr_user TO rr_authenticator;
    CREATE TABLE rr_members (team int, sub text);
    INSERT INTO rr_members SELECT i / 10, 'u' || i FROM generate_series(0, 19) i;
    CREATE TABLE rr_items (id int PRIMARY KEY, team int);
    ALTER TABLE rr_items ENABLE ROW LEVEL SECURITY;
    CREATE POLICY team_members ON rr_items USING (EXISTS (SELECT 1 FROM rr_members m
      WHERE m.team = rr_items.team AND m.sub = current_setting('request.jwt.claim.sub', true)));
    GRANT SELECT ON rr_items, rr_members TO rr_user;
    SET client_min_messages = warning;
    SELECT rtsync.publish('rr_items', type_name => 'RrItem')`);
});
after(() => cluster?.stop());

test('every user gets exactly its team\'s rows, in order, while the replication connection is killed', async () => {
  const got = new Map(USERS.map((u) => [u, []]));
  const clients = USERS.map((u) => {
    const c = transportClient({
      url: `ws://127.0.0.1:${cluster.port}/graphql`,
      connectionParams: { Authorization: `Bearer ${sign({ alg: 'HS256', key: SECRET, claims: { sub: u, role: 'rr_user', exp: now() + 600 } })}` },
    });
    c.subscribe({ query: 'subscription { onCreateRrItem { id } }' },
      { next: (v) => got.get(u).push(v.data.onCreateRrItem.id), error: (e) => got.get(u).push({ error: String(e?.message ?? e) }), complete: () => {} });
    return c;
  });
  try {
    await Promise.all(clients.map((c) => c.sync()));
    // one psql, one transaction per -c, as fast as it goes
    const args = ['-X', '-q'];
    for (let i = 1; i <= CHANGES; i++) args.push('-c', `INSERT INTO rr_items VALUES (${i}, ${i % 2})`);
    const writer = spawn('psql', args, {
      stdio: 'ignore',
      env: { ...process.env, PGHOST: cluster.dir, PGPORT: String(cluster.pgPort), PGDATABASE: 'postgres',
        PGUSER: process.getuid?.() === 0 ? 'postgres' : os.userInfo().username },
    });
    const written = new Promise((resolve) => writer.on('exit', resolve));
    let killed = 0;
    for (let k = 0; k < 5; k++) {
      await new Promise((r) => setTimeout(r, 100));
      killed += Number(cluster.sql(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE backend_type = 'walsender'`));
    }
    assert.equal(await written, 0, 'the writer committed every row');
    // each user waits (bounded) until it has as many rows as its team may see
    const expected = (u) => {
      const team = Number(u.slice(1)) < 10 ? 0 : 1;
      return Array.from({ length: CHANGES }, (_, k) => k + 1).filter((id) => id % 2 === team);
    };
    for (let i = 0; i < 600; i++) {
      if (USERS.every((u) => got.get(u).length >= expected(u).length)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    for (const u of USERS) assert.deepEqual(got.get(u), expected(u), `user ${u}`);
    console.log(`rls reconnect: ${killed} walsender(s) terminated during ${CHANGES} changes`);
  } finally {
    await Promise.all(clients.map((c) => c.dispose()));
  }
});
