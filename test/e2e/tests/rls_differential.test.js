// Row-level security on delivery, differentially: for tables with every
// kind of policy (owner by sub, tenant by claim, membership through a
// subquery on another table, TO role lists, permissive + restrictive,
// a policy calling a function, FORCE ROW LEVEL SECURITY on the owner, and a
// policy that errors) and seeded random rows and users, each user receives a
// change exactly when `SELECT EXISTS (SELECT 1 FROM tbl WHERE id = ...)`,
// run as that user's role with that user's claims, says they may see the
// row as the change shows it: right after the INSERT or UPDATE (NewImage),
// right before the DELETE (OldImage).
//
// The seed is printed; RTSYNC_RLS_SEED=<n> replays a run, RTSYNC_RLS_STEPS=<n>
// changes the number of statements, RTSYNC_RLS_DUMP=<file> writes the users,
// statements, oracle verdicts and events received as JSON. On a cluster of
// this file's own (JWT settings, a small query pool).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { transportClient, workerPid } from '../lib/env.js';
import { startCluster } from '../lib/cluster.js';
import { sign, now } from '../lib/tokens.js';
import { prng, psqlScript, lit, claimSettings, authUidSql, until, post } from '../lib/rls.js';

const SECRET = 'the rls differential HMAC secret, well over 32 bytes';
const SEED = Number(process.env.RTSYNC_RLS_SEED ?? 1507);
const STEPS = Number(process.env.RTSYNC_RLS_STEPS ?? 560);
const rnd = prng(SEED);

const ROLES = ['app_user', 'app_admin', 'auditor'];
const OWNER = 'rd_owner';
const SUBS = ['ann', 'ben', 'cat', 'dan', 'eve', 'fay'];
const TENANTS = ['acme', 'globex', 'initech'];
const SUB_CLAIM = "current_setting('request.jwt.claim.sub', true)";
const TENANT_CLAIM = "(current_setting('request.jwt.claims', true)::jsonb ->> 'tenant')";

// One table per policy set; every table has the same columns.
const TABLES = [
  { name: 'rd_own', type: 'RdOwn', what: 'owner by sub',
    sql: `CREATE POLICY own ON rd_own USING (owner = ${SUB_CLAIM});` },
  { name: 'rd_tenant', type: 'RdTenant', what: 'tenant by claim',
    sql: `CREATE POLICY tenant ON rd_tenant USING (tenant = ${TENANT_CLAIM});` },
  { name: 'rd_team', type: 'RdTeam', what: 'membership through a subquery',
    sql: `CREATE POLICY member ON rd_team USING (EXISTS (SELECT 1 FROM rd_members m
            WHERE m.team = rd_team.team AND m.sub = ${SUB_CLAIM}));` },
  // auditor is a member of app_user: policies TO app_user apply to it too
  { name: 'rd_roles', type: 'RdRoles', what: 'TO role lists',
    sql: `CREATE POLICY admins ON rd_roles TO app_admin USING (true);
          CREATE POLICY users ON rd_roles TO app_user USING (level <= 2);
          CREATE POLICY auditors ON rd_roles TO auditor, ${OWNER} USING (owner = ${SUB_CLAIM} OR team = 1);` },
  { name: 'rd_mixed', type: 'RdMixed', what: 'permissive + restrictive',
    sql: `CREATE POLICY mine ON rd_mixed USING (owner = ${SUB_CLAIM});
          CREATE POLICY high ON rd_mixed TO app_admin, auditor USING (level >= 4);
          CREATE POLICY same_tenant ON rd_mixed AS RESTRICTIVE USING (tenant = ${TENANT_CLAIM});
          CREATE POLICY users_not_zero ON rd_mixed AS RESTRICTIVE TO app_user USING (level > 0);` },
  { name: 'rd_func', type: 'RdFunc', what: 'a policy calling a function',
    sql: `CREATE FUNCTION rd_visible(o text, lvl int) RETURNS boolean LANGUAGE plpgsql STABLE AS $$
          BEGIN
            RETURN o = auth.uid()
              OR lvl <= coalesce((current_setting('request.jwt.claims', true)::jsonb ->> 'clearance')::int, -1);
          END $$;
          CREATE POLICY fn ON rd_func USING (rd_visible(owner, level));` },
  { name: 'rd_forced', type: 'RdForced', what: 'FORCE ROW LEVEL SECURITY on the owner',
    sql: `ALTER TABLE rd_forced FORCE ROW LEVEL SECURITY;
          CREATE POLICY owner_high ON rd_forced TO ${OWNER} USING (level >= 3);
          CREATE POLICY own_not_team4 ON rd_forced USING (owner = auth.uid() AND team <> 4);` },
  // level 3 divides by zero: that change is denied to whoever the policy applies to
  { name: 'rd_err', type: 'RdErr', what: 'a policy that errors (level 3)',
    sql: `CREATE POLICY errs ON rd_err USING (1 / (level - 3) > 0);` },
];
const COLUMNS = 'id int PRIMARY KEY, owner text, tenant text, team int NOT NULL, level int NOT NULL, note text NOT NULL';
const FIELDS = 'id owner tenant team level note';
const EVENTS = [['create', 'onCreate'], ['update', 'onUpdate'], ['delete', 'onDelete']];

let cluster;
let pidBefore;
const users = [];	// { name, role, claims, params, client, events: [], sentinel }
const run = { steps: [], errors: [] };	// filled in by before()

// ------------------------------------------------------------- the users

// 11 random users (some without a sub, a tenant or a clearance claim), one more with the first one's very claims (so one group
// has two members), and the tables' owner signed in with an API key.
function makeUsers(ownerKey) {
  const iat = now();
  for (let i = 0; i < 11; i++) {
    // user4 has no sub, user7 no tenant, user5 no clearance; others at random
    const claims = { role: ROLES[i % 3] };
    if (i !== 4 && !rnd.chance(0.1)) claims.sub = rnd.pick(SUBS);
    if (i !== 7 && !rnd.chance(0.1)) claims.tenant = rnd.pick(TENANTS);
    if (i !== 5 && !rnd.chance(0.2)) claims.clearance = rnd.int(0, 5);
    Object.assign(claims, { iat, exp: iat + 3600 });
    users.push({ name: `user${i}`, role: claims.role, claims });
  }
  users.push({ name: 'user11', role: users[0].role, claims: { ...users[0].claims } });
  for (const u of users) {
    u.params = { Authorization: `Bearer ${sign({ alg: 'HS256', key: SECRET, claims: u.claims })}` };
  }
  // API-key requests run with {"role": <the key's role>} as their claims
  users.push({ name: 'owner (API key)', role: OWNER, claims: { role: OWNER }, params: { 'x-api-key': ownerKey } });
}

// ------------------------------------------------------------ the oracle

// rd_oracle(tbl, id): for each user in order, '1' when SELECT EXISTS finds
// the row as that user's role with that user's claims, '0' when it does
// not, 'E' when it errors. Each user's role and settings are undone (the
// subtransaction is rolled back) before the next user's.
const ORACLE_SQL = `
  CREATE TABLE rd_oracle_users (n int PRIMARY KEY, role text NOT NULL, settings jsonb NOT NULL);
  CREATE FUNCTION rd_oracle(tbl regclass, row_id int) RETURNS text LANGUAGE plpgsql AS $$
  DECLARE
    us jsonb;
    u jsonb;
    s record;
    seen boolean;
    r text := '';
  BEGIN
    SELECT jsonb_agg(jsonb_build_object('role', role, 'settings', settings) ORDER BY n) INTO us FROM rd_oracle_users;
    FOR u IN SELECT value FROM jsonb_array_elements(us) LOOP
      BEGIN
        -- the row is found by its primary key, so the policy judges that row only
        PERFORM set_config('enable_seqscan', 'off', true);
        PERFORM set_config('role', u->>'role', true);
        FOR s IN SELECT key, value FROM jsonb_each_text(u->'settings') LOOP
          PERFORM set_config(s.key, s.value, true);
        END LOOP;
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s WHERE id = $1)', tbl) INTO seen USING row_id;
        r := r || CASE WHEN seen THEN '1' ELSE '0' END;
        RAISE EXCEPTION 'rd_oracle_undo';
      EXCEPTION WHEN OTHERS THEN
        IF SQLERRM <> 'rd_oracle_undo' THEN r := r || 'E'; END IF;
      END;
    END LOOP;
    RETURN r;
  END $$;`;

// ---------------------------------------------------------- the workload

// A random row (notes are unique: n<step>, so every event names its step).
function randomRow(id, step) {
  return {
    id,
    owner: rnd.chance(0.1) ? null : rnd.pick([...SUBS, 'zed']),
    tenant: rnd.chance(0.05) ? null : rnd.pick(TENANTS),
    team: rnd.int(1, 4),
    level: rnd.int(0, 5),
    note: `n${step}`,
  };
}

// STEPS statements over the tables: inserts, updates of 1 to 3 of owner,
// tenant, team and level (visibility flips both ways), deletes. Each step's
// script prints "S|step|oracle bits|row as JSON".
function workload() {
  const live = new Map(TABLES.map((t) => [t.name, new Map()]));
  let nextId = 1;
  const steps = [];
  const script = [];
  for (let n = 0; n < STEPS; n++) {
    const t = rnd.pick(TABLES);
    const rows = live.get(t.name);
    const r = rnd.next();
    const op = rows.size < 3 || r < 0.4 ? 'create' : r < 0.8 ? 'update' : 'delete';
    const check = (id) => `SELECT 'S', ${n}, rd_oracle('${t.name}', ${id}), row_to_json(x) FROM ${t.name} x WHERE id = ${id};`;
    let id;
    if (op === 'create') {
      id = nextId++;
      const row = randomRow(id, n);
      rows.set(id, row);
      script.push(`INSERT INTO ${t.name} VALUES (${id}, ${lit(row.owner)}, ${lit(row.tenant)}, ${row.team}, ${row.level}, ${lit(row.note)});`, check(id));
    } else {
      id = rnd.pick([...rows.keys()]);
      if (op === 'update') {
        const row = rows.get(id);
        const fresh = randomRow(id, n);
        const sets = [`note = ${lit(fresh.note)}`];
        row.note = fresh.note;
        const cols = ['owner', 'tenant', 'team', 'level'];
        for (let k = rnd.int(1, 3); k > 0; k--) {
          const c = cols.splice(rnd.int(0, cols.length - 1), 1)[0];
          row[c] = fresh[c];
          sets.push(`${c} = ${typeof fresh[c] === 'number' ? fresh[c] : lit(fresh[c])}`);
        }
        script.push(`UPDATE ${t.name} SET ${sets.join(', ')} WHERE id = ${id};`, check(id));
      } else {
        rows.delete(id);
        script.push(check(id), `DELETE FROM ${t.name} WHERE id = ${id};`);
      }
    }
    steps.push({ n, table: t, op, id });
  }
  return { steps, script: script.join('\n') };
}

// ----------------------------------------------------------------- setup

before(async () => {
  console.log(`rls differential: seed ${SEED} (RTSYNC_RLS_SEED), ${STEPS} statements (RTSYNC_RLS_STEPS)`);
  cluster = await startCluster({
    offset: 11,
    settings: () => [
      `rtsync.jwt_secret = '${SECRET}'`,
      `rtsync.jwt_authenticator = 'rd_authenticator'`,
      'log_min_messages = log',
      // a small pool: a change's groups are judged several to a job (one
      // transaction), so no group may inherit another's settings
      'rtsync.pool_size = 2',
    ],
  });
  const grantees = [...ROLES, OWNER];
  cluster.sql(`CREATE ROLE rd_authenticator NOINHERIT;
    CREATE ROLE app_user; CREATE ROLE app_admin; CREATE ROLE auditor; CREATE ROLE ${OWNER};
    GRANT app_user TO auditor;
    GRANT app_user, app_admin, auditor TO rd_authenticator;
    ${authUidSql(grantees)}
    CREATE TABLE rd_members (team int, sub text, PRIMARY KEY (team, sub));
    GRANT SELECT ON rd_members TO ${grantees.join(', ')};
    CREATE TABLE rd_open (id int PRIMARY KEY, note text);
    ALTER TABLE rd_open OWNER TO ${OWNER};
    GRANT SELECT ON rd_open TO ${ROLES.join(', ')};`);
  // each sub belongs to one or two of the four teams
  const members = [];
  for (const sub of SUBS) {
    const teams = new Set([rnd.int(1, 4), rnd.int(1, 4)].slice(0, rnd.int(1, 2)));
    for (const team of teams) members.push(`(${team}, ${lit(sub)})`);
  }
  cluster.sql(`INSERT INTO rd_members VALUES ${members.join(', ')}`);
  for (const t of TABLES) {
    cluster.sql(`CREATE TABLE ${t.name} (${COLUMNS});
      ALTER TABLE ${t.name} OWNER TO ${OWNER};
      ALTER TABLE ${t.name} ENABLE ROW LEVEL SECURITY;
      GRANT SELECT ON ${t.name} TO ${ROLES.join(', ')};
      ${t.sql}`);
  }
  cluster.sql(`SET client_min_messages = warning;
    ${[...TABLES, { name: 'rd_open', type: 'RdOpen' }].map((t) => `SELECT rtsync.publish('${t.name}', type_name => '${t.type}');`).join('\n')}`);
  const ownerKey = cluster.sql(`SELECT rtsync.create_api_key('rls owner', role => '${OWNER}')`);
  makeUsers(ownerKey);
  cluster.sql(ORACLE_SQL);
  cluster.sql(`INSERT INTO rd_oracle_users VALUES ${users.map((u, i) =>
    `(${i}, ${lit(u.role)}, ${lit(JSON.stringify(claimSettings(u.claims)))})`).join(', ')}`);
  // the worker serves the published tables once it answers for the last one
  await until('the published tables are served', async () =>
    (await post(cluster, '{ listRdOpens { items { id } } }', { apiKey: cluster.apiKey })).body?.data?.listRdOpens)
    .catch((e) => { throw new Error(`${e.message}\n${cluster.log().split('\n').filter((l) => /rtsync/.test(l)).slice(-15).join('\n')}`); });
  pidBefore = workerPid((q) => cluster.sql(q));

  // every user: one connection, every event of every table, and rd_open's
  // inserts (no row-level security: everyone sees them) for the final barrier
  for (const u of users) {
    u.events = [];
    u.opens = new Set();
    u.closed = null;
    u.client = transportClient({
      url: `ws://127.0.0.1:${cluster.port}/graphql`,
      connectionParams: u.params,
      on: { closed: (e) => { u.closed = `${e?.code} ${e?.reason}`; } },
    });
    for (const t of TABLES) {
      for (const [event, prefix] of EVENTS) {
        const field = `${prefix}${t.type}`;
        u.client.subscribe({ query: `subscription { ${field} { ${FIELDS} } }` }, {
          next: (v) => u.events.push({ table: t.name, event, value: v, field }),
          error: (e) => run.errors.push(`${u.name} ${field}: ${JSON.stringify(e)}`),
          complete: () => {},
        });
      }
    }
    u.sentinel = new Promise((resolve) => {
      u.client.subscribe({ query: 'subscription { onCreateRdOpen { id } }' }, {
        next: (v) => {
          const id = v.data?.onCreateRdOpen?.id;
          u.opens.add(id);
          u.onOpen?.();
          if (id === 1) { u.sentinelDone = true; resolve(); }
        },
        error: (e) => run.errors.push(`${u.name} onCreateRdOpen: ${JSON.stringify(e)}`),
        complete: () => {},
      });
    });
  }
  await Promise.all(users.map((u) => u.client.sync()));
  assert.deepEqual(run.errors, [], 'every subscription is accepted');

  // the statements, each followed (or, for a delete, preceded) by the oracle
  const { steps, script } = workload();
  const started = Date.now();
  const lines = psqlScript(cluster, script);
  run.sqlMs = Date.now() - started;
  assert.equal(lines.length, steps.length, 'one oracle line per statement');
  for (const line of lines) {
    const [tag, n, bits, ...json] = line.split('|');
    assert.equal(tag, 'S', line);
    const step = steps[Number(n)];
    step.bits = bits;
    step.image = JSON.parse(json.join('|'));
    assert.equal(bits.length, users.length, line);
  }
  run.steps = steps;

  // the barrier: everything before it has reached every client
  cluster.sql(`INSERT INTO rd_open VALUES (1, 'sentinel')`);
  await Promise.race([
    Promise.all(users.map((u) => u.sentinel)),
    new Promise((_, reject) => setTimeout(() => reject(new Error(
      `timed out waiting for the sentinel; not there: ${users.filter((u) => !u.sentinelDone).map((u) => u.name)}`)), 60000).unref()),
  ]);
  run.deliveredMs = Date.now() - started;
  if (process.env.RTSYNC_RLS_DUMP) {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(process.env.RTSYNC_RLS_DUMP, JSON.stringify({ users: users.map((u) => ({ name: u.name, claims: u.claims, events: u.events })),
      steps: run.steps.map((s) => ({ ...s, table: s.table.name })) }));
  }
});

after(async () => {
  for (const u of users) await u.client?.dispose();
  cluster?.stop();
});

// ------------------------------------------------------------ the verdict

// The steps each user received, from their events: an insert's or update's
// event names its step by its note (n<step>), a delete's by its table and id.
// Returns { got: Map(step -> count), problems: [...] } for one kind of event.
function received(u, kind) {
  const byNote = new Map(run.steps.filter((s) => s.op !== 'delete').map((s) => [`n${s.n}`, s]));
  const deleteOf = new Map(run.steps.filter((s) => s.op === 'delete').map((s) => [`${s.table.name}:${s.id}`, s]));
  const got = new Map();
  const problems = [];
  let last = -1;
  for (const e of u.events.filter((ev) => ev.event === kind)) {
    const row = e.value?.data?.[e.field];
    const step = kind === 'delete' ? deleteOf.get(`${e.table}:${row?.id}`) : byNote.get(row?.note);
    if (!row || !step || step.op !== kind || step.table.name !== e.table) {
      problems.push(`${u.name}: an event no statement explains: ${e.field} ${JSON.stringify(e.value)}`);
      continue;
    }
    if (JSON.stringify(row) !== JSON.stringify(step.image)) {
      problems.push(`${u.name}: ${e.field} of step ${step.n} shows ${JSON.stringify(row)}, the statement left ${JSON.stringify(step.image)}`);
    }
    if (step.n < last) problems.push(`${u.name}: ${e.field} of step ${step.n} after step ${last} (out of order)`);
    last = Math.max(last, step.n);
    got.set(step.n, (got.get(step.n) ?? 0) + 1);
  }
  return { got, problems };
}

// Each user's deliveries of one kind of event against the oracle.
// Returns { decisions, mismatches: [...] }.
function judge(kind) {
  const steps = run.steps.filter((s) => s.op === kind);
  const mismatches = [];
  let decisions = 0;
  users.forEach((u, i) => {
    const { got, problems } = received(u, kind);
    mismatches.push(...problems);
    for (const s of steps) {
      decisions++;
      const expected = s.bits[i] === '1';
      const count = got.get(s.n) ?? 0;
      if (count !== (expected ? 1 : 0)) {
        mismatches.push(`${u.name} (${JSON.stringify(u.claims)}): step ${s.n} ${kind} ${s.table.name} ` +
          `${JSON.stringify(s.image)}: oracle ${s.bits[i]}, delivered ${count} time(s)`);
      }
    }
  });
  return { decisions, mismatches };
}

function report(kind) {
  const { decisions, mismatches } = judge(kind);
  const shown = kind === 'create' ? 'created' : kind === 'update' ? 'updated' : 'deleted';
  const visible = run.steps.filter((s) => s.op === kind).reduce((a, s) => a + [...s.bits].filter((b) => b === '1').length, 0);
  console.log(`differential, ${shown} rows: ${decisions} decisions (${visible} delivered by the oracle), ${mismatches.length} mismatches`);
  return mismatches;
}

// Nobody's connection closed or had a subscription refused along the way.
test('every user stays connected with every subscription accepted', () => {
  assert.deepEqual(run.errors, []);
  assert.deepEqual(users.filter((u) => u.closed).map((u) => `${u.name}: ${u.closed}`), []);
  const perTable = TABLES.map((t) => {
    const s = run.steps.filter((x) => x.table === t);
    const ones = s.reduce((a, x) => a + [...x.bits].filter((b) => b === '1').length, 0);
    return `${t.name} (${t.what}): ${s.length} statements, ${s.length * users.length} decisions, ${ones} visible`;
  });
  console.log(`differential: ${run.steps.length} statements x ${users.length} users = ${run.steps.length * users.length} decisions; ` +
    `SQL ${run.sqlMs} ms, all delivered after ${run.deliveredMs} ms\n  ${perTable.join('\n  ')}`);
});

// A user gets onCreate exactly for the new rows their role and claims can SELECT.
test('created rows: delivery equals SELECT EXISTS as the role with the claims', () => {
  const mismatches = report('create');
  assert.deepEqual(mismatches.slice(0, 20), [], `${mismatches.length} mismatches`);
});

// A user gets onUpdate exactly when the row as updated is visible to them
// (a row that moves out of their sight sends nothing; one that moves in does).
test('updated rows: delivery equals SELECT EXISTS on the new image', () => {
  const mismatches = report('update');
  assert.deepEqual(mismatches.slice(0, 20), [], `${mismatches.length} mismatches`);
});

// A user gets onDelete exactly when they could see the row just before it went.
test('deleted rows: delivery equals SELECT EXISTS on the old image', () => {
  const mismatches = report('delete');
  assert.deepEqual(mismatches.slice(0, 20), [], `${mismatches.length} mismatches`);
});

// The users of one role whose groups needed the same changes judged were
// judged in shared statements (rtsync._judge_claims), and the comparison
// above covered them: fewer statements ran than group checks.
test('groups of one role share their statements', () => {
  const stat = (name) => Number(cluster.sql(`SELECT value FROM rtsync.stats WHERE name = '${name}'`));
  const checks = stat('rtsync_rls_checks_total');
  const statements = stat('rtsync_rls_statements_total');
  console.log(`row security: ${checks} group checks in ${statements} statements`);
  assert.ok(statements > 0 && statements < checks, `${statements} statements for ${checks} checks`);
});

// Every kind of outcome occurred, so the comparison means something.
test('the workload covers every table and both outcomes for every user', () => {
  for (const t of TABLES) {
    for (const [kind] of EVENTS) {
      assert.ok(run.steps.some((s) => s.table === t && s.op === kind), `${t.name} has a ${kind}`);
    }
  }
  users.forEach((u, i) => {
    assert.ok(run.steps.some((s) => s.bits[i] === '1'), `${u.name} sees something`);
    assert.ok(run.steps.some((s) => s.bits[i] === '0'), `${u.name} misses something`);
  });
});

// A policy that errors for some rows (division by zero at level 3) denies
// those changes to the users it applies to; the owner (exempt), other rows
// and other tables are unaffected, and the worker stays up.
test('a policy that errors denies only those changes; the worker stays up', async () => {
  const errs = run.steps.filter((s) => s.table.name === 'rd_err');
  const erring = errs.filter((s) => s.bits.includes('E'));
  const fine = errs.filter((s) => !s.bits.includes('E'));
  console.log(`policy errors: ${erring.length} of ${errs.length} rd_err statements error for the token users ` +
    `(${erring.length * (users.length - 1)} decisions: not delivered)`);
  assert.ok(erring.length > 0, 'some rd_err rows are at level 3');
  assert.ok(fine.some((s) => s.bits.slice(0, -1).includes('1')), 'some rd_err rows are visible to token users');
  const owner = users.length - 1;
  assert.ok(erring.every((s) => s.bits[owner] === '1'), 'the owner is exempt');
  assert.ok(erring.every((s) => /^E+1$/.test(s.bits)), 'the policy errors for every token user');
  // the oracle errs exactly on the level-3 images: nothing else in the table matters
  assert.deepEqual(errs.filter((s) => s.bits.includes('E') !== (s.image.level === 3)).map((s) => s.n), []);
  // none of those changes reached a token user
  for (const u of users.slice(0, -1)) {
    for (const [kind] of EVENTS) {
      const { got } = received(u, kind);
      assert.deepEqual(erring.filter((s) => s.op === kind && got.has(s.n)).map((s) => s.n), [],
        `${u.name} gets no ${kind} the policy errors on`);
    }
  }
  assert.equal(workerPid((q) => cluster.sql(q)), pidBefore, 'the same worker serves on');
  const lines = cluster.log().split('\n').filter((l) => /division by zero|rtsync.*polic/i.test(l));
  console.log(`server log lines about the policy errors (${lines.length}):\n  ${[...new Set(lines.map((l) => l.replace(/^\S+ \S+ \S+ \[\d+\] /, '')))].slice(0, 5).join('\n  ')}`);
  // and it delivered on: the sentinel, inserted after every erring change, reached everyone
  assert.ok(users.every((u) => u.sentinelDone));
});

// Every user has received rd_open's row id (inserted after what is awaited).
function openRowReached(id) {
  return Promise.race([
    Promise.all(users.map((u) => new Promise((resolve) => {
      u.onOpen = () => { if (u.opens.has(id)) resolve(); };
      u.onOpen();
    }))),
    new Promise((_, reject) => setTimeout(() => reject(new Error(
      `timed out waiting for rd_open ${id}; not there: ${users.filter((u) => !u.opens.has(id)).map((u) => u.name)}`)), 30000).unref()),
  ]);
}

// One transaction's rows are judged together, in one statement per group:
// when the policy errors on one of them, the group's other rows are judged
// again one by one (on a pool connection whose failed transaction must be
// rolled back first, or every one of them is refused: a bug once seen).
test('a policy error on one row of a batch denies only that row', async () => {
  const levels = [4, 3, 4, 3, 4, 2, 4];
  const base = 100000;
  cluster.sql(`INSERT INTO rd_err VALUES ${levels.map((level, i) =>
    `(${base + i}, 'ann', 'acme', 1, ${level}, 'batch ${i}')`).join(', ')};`);
  cluster.sql(`INSERT INTO rd_open VALUES (2, 'after the batch')`);
  await openRowReached(2);
  const visible = levels.flatMap((level, i) => (level === 4 ? [base + i] : []));
  for (const u of users.slice(0, -1)) {
    const got = u.events.filter((e) => e.field === 'onCreateRdErr' && e.value?.data?.onCreateRdErr?.id >= base)
      .map((e) => e.value.data.onCreateRdErr.id);
    assert.deepEqual(got, visible, `${u.name} gets the batch's level-4 rows, in order`);
  }
  const owner = users[users.length - 1];
  assert.deepEqual(owner.events.filter((e) => e.field === 'onCreateRdErr' && e.value?.data?.onCreateRdErr?.id >= base)
    .map((e) => e.value.data.onCreateRdErr.id), levels.map((_, i) => base + i), 'the owner gets every row');
  assert.doesNotMatch(cluster.log(), /could not judge a change.*current transaction is aborted/);
});
