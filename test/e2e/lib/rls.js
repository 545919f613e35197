// Helpers for the row-level security tests (rls_differential, rls_clients):
// a seeded PRNG, psql scripts on a test file's own cluster, the PostgREST /
// Supabase way claims reach SQL, and bounded polling.
import { execFileSync } from 'node:child_process';
import os from 'node:os';

// A small seeded PRNG (mulberry32): the same seed, the same workload.
export function prng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)), // lo..hi inclusive
    pick: (list) => list[Math.floor(next() * list.length)],
    chance: (p) => next() < p,
  };
}

// libpq's environment for a cluster from lib/cluster.js.
export function clusterEnv(cluster) {
  return {
    ...process.env, PGHOST: cluster.dir, PGPORT: String(cluster.pgPort), PGDATABASE: 'postgres',
    PGUSER: process.getuid?.() === 0 ? 'postgres' : os.userInfo().username,
  };
}

// Runs a whole SQL script in one psql process (statements autocommit one by
// one, each its own transaction) and returns the unaligned output's lines.
export function psqlScript(cluster, script) {
  const out = execFileSync('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-f', '-'],
    { input: script, encoding: 'utf8', env: clusterEnv(cluster), maxBuffer: 64 * 1024 * 1024 });
  return out.split('\n').filter((l) => l !== '');
}

// A SQL string literal.
export const lit = (value) => (value === null || value === undefined ? 'NULL' : `'${String(value).replace(/'/g, "''")}'`);

// The settings a request with these claims runs with, as rtsync sets them
// (PostgREST style): request.jwt.claims (the JSON) and
// request.jwt.claim.<name> for each scalar claim.
export function claimSettings(claims) {
  const settings = { 'request.jwt.claims': JSON.stringify(claims) };
  for (const [name, value] of Object.entries(claims)) {
    if (value === null || typeof value === 'object') continue;
    settings[`request.jwt.claim.${name}`] = String(value);
  }
  return settings;
}

// Supabase's auth.uid(), for policies and for the roles that run them.
export function authUidSql(roles) {
  return `CREATE SCHEMA auth;
    CREATE FUNCTION auth.uid() RETURNS text LANGUAGE sql STABLE
      AS $$ SELECT nullif(current_setting('request.jwt.claim.sub', true), '') $$;
    GRANT USAGE ON SCHEMA auth TO ${roles.join(', ')};
    GRANT EXECUTE ON FUNCTION auth.uid() TO ${roles.join(', ')};`;
}

// Retries check until it returns something truthy; bounded.
export async function until(what, check, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// POST a GraphQL request to a cluster, signed with a token (Bearer) or an API key.
export async function post(cluster, query, { token, apiKey, variables } = {}) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (apiKey) headers['x-api-key'] = apiKey;
  const res = await fetch(`http://127.0.0.1:${cluster.port}/graphql`, {
    method: 'POST', headers, body: JSON.stringify({ query, variables }), signal: AbortSignal.timeout(10000),
  });
  const text = await res.text();
  let body = text;
  try { body = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, body };
}
