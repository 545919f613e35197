// Subscribers judged together: under a policy that SQL must judge (it reads
// another table), the subscribers of one role whose tokens agree on the
// claims the policy reads are judged once per change, together, whatever
// else their tokens say. 13 users in 3 tenants (and one without a tenant):
// a policy reading only the `tenant` claim costs 4 checks per change, one
// reading `sub` costs 13, and every user gets exactly the rows it may see.
// On a cluster of this file's own (JWT settings).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { transportClient } from '../lib/env.js';
import { startCluster } from '../lib/cluster.js';
import { sign, now } from '../lib/tokens.js';
import { until } from '../lib/rls.js';

const SECRET = 'the cohorts test HMAC secret, well over 32 bytes';
const TENANTS = ['a', 'b', 'c'];
const USERS = Array.from({ length: 13 }, (_, i) => ({ sub: `u${i}`, tenant: i < 12 ? TENANTS[i % 3] : undefined }));
let cluster;

before(async () => {
  cluster = await startCluster({
    offset: 17,
    settings: () => [`rtsync.jwt_secret = '${SECRET}'`, "rtsync.jwt_authenticator = 'co_authenticator'"],
  });
  cluster.sql(`CREATE ROLE co_authenticator NOLOGIN; CREATE ROLE co_user NOLOGIN; GRANT co_user TO co_authenticator;
    CREATE TABLE co_tenants (name text PRIMARY KEY);
    INSERT INTO co_tenants VALUES ('a'), ('b'), ('c');
    CREATE TABLE co_members (sub text);
    INSERT INTO co_members SELECT 'u' || i FROM generate_series(0, 12, 2) i;
    CREATE TABLE co_by_tenant (id int PRIMARY KEY, tenant text);
    CREATE TABLE co_by_sub (id int PRIMARY KEY);
    ALTER TABLE co_by_tenant ENABLE ROW LEVEL SECURITY;
    ALTER TABLE co_by_sub ENABLE ROW LEVEL SECURITY;
    CREATE POLICY tenant_rows ON co_by_tenant USING (EXISTS (SELECT FROM co_tenants t
      WHERE t.name = co_by_tenant.tenant AND t.name = current_setting('request.jwt.claims', true)::jsonb ->> 'tenant'));
    CREATE POLICY member_rows ON co_by_sub USING (EXISTS (SELECT FROM co_members m
      WHERE m.sub = current_setting('request.jwt.claim.sub', true)));
    GRANT SELECT ON co_by_tenant, co_by_sub, co_tenants, co_members TO co_user;
    SET client_min_messages = warning;
    SELECT rtsync.publish('co_by_tenant', type_name => 'CoByTenant');
    SELECT rtsync.publish('co_by_sub', type_name => 'CoBySub')`);
});
after(() => cluster?.stop());

const checks = () => Number(cluster.sql(`SELECT value FROM rtsync.stats WHERE name = 'rtsync_rls_checks_total'`));

test('what the policies read is told from the catalog', () => {
  assert.equal(cluster.sql(`SELECT rtsync._claims_read('co_by_tenant')`), '{tenant}');
  assert.equal(cluster.sql(`SELECT rtsync._claims_read('co_by_sub')`), '{sub}');
});

test('alike subscribers are judged once per change, together, and each gets exactly its rows', async () => {
  const got = new Map(USERS.map((u) => [u.sub, { tenant: [], sub: [] }]));
  const clients = USERS.map((u) => {
    const claims = { sub: u.sub, role: 'co_user', iat: now(), exp: now() + 600, jti: `j-${u.sub}` };
    if (u.tenant) claims.tenant = u.tenant;
    const c = transportClient({
      url: `ws://127.0.0.1:${cluster.port}/graphql`,
      connectionParams: { Authorization: `Bearer ${sign({ alg: 'HS256', key: SECRET, claims })}` },
    });
    const sink = (list, field) => ({
      next: (v) => list.push(v.data[field].id),
      error: (e) => list.push({ error: String(e?.message ?? e) }),
      complete: () => {},
    });
    c.subscribe({ query: 'subscription { onCreateCoByTenant { id } }' }, sink(got.get(u.sub).tenant, 'onCreateCoByTenant'));
    c.subscribe({ query: 'subscription { onCreateCoBySub { id } }' }, sink(got.get(u.sub).sub, 'onCreateCoBySub'));
    return c;
  });
  try {
    await Promise.all(clients.map((c) => c.sync()));
    // one change at a time, each delivered before the next: one per batch
    const delivered = (table, id) => () => USERS.some((u) => got.get(u.sub)[table].includes(id));
    const perChange = { tenant: [], sub: [] };
    for (let i = 1; i <= 9; i++) {
      let before = checks();
      cluster.sql(`INSERT INTO co_by_tenant VALUES (${i}, '${TENANTS[i % 3]}')`);
      await until(`row ${i} of co_by_tenant is delivered`, delivered('tenant', i));
      perChange.tenant.push(checks() - before);
      before = checks();
      cluster.sql(`INSERT INTO co_by_sub VALUES (${i})`);
      await until(`row ${i} of co_by_sub is delivered`, delivered('sub', i));
      perChange.sub.push(checks() - before);
    }
    // 3 tenants and the user without one; one check per user
    assert.deepEqual(perChange.tenant, Array(9).fill(4));
    assert.deepEqual(perChange.sub, Array(9).fill(13));
    await Promise.all(clients.map((c) => c.sync()));
    for (const u of USERS) {
      const mine = Array.from({ length: 9 }, (_, k) => k + 1);
      assert.deepEqual(got.get(u.sub).tenant, mine.filter((id) => TENANTS[id % 3] === u.tenant), `${u.sub}'s tenant rows`);
      assert.deepEqual(got.get(u.sub).sub, Number(u.sub.slice(1)) % 2 === 0 ? mine : [], `${u.sub}'s member rows`);
    }
  } finally {
    await Promise.all(clients.map((c) => c.dispose()));
  }
});
