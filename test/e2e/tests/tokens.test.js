// Token sign-in (JWT): every algorithm rtsync verifies, every check that
// refuses a token, where tokens travel (HTTP Authorization, graphql-ws
// connectionParams, legacy and AppSync connection_init, AppSync headers and
// per-start tokens), claims reaching SQL for row-level security, sessions
// that end when their token expires, and JWKS key rotation on reload.
//
// Keys are made here with openssl and tokens signed with node's crypto
// (lib/tokens.js); nothing leaves the machine. On a cluster of this file's
// own: its rtsync.jwt_* settings change and are reloaded.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { transportClient, collect, rawSocket, Inbox, messageWithoutPosition } from '../lib/env.js';
import { startCluster } from '../lib/cluster.js';
import { generateKey, publicJwk, octJwk, jwks, sign, b64url, now } from '../lib/tokens.js';

const ISS = 'https://issuer.rtsync.test';
const AUD = 'rtsync-e2e';
const SECRET = 'the e2e HMAC secret, comfortably over 32 bytes long';
const UNAUTHORIZED = (message) => ({ errors: [{ errorType: 'UnauthorizedException', message }] });

let cluster;
let keys;
let jwksPath;
let baseJwks;

// ---------------------------------------------------------------- helpers

// Retries check until it returns something truthy; bounded.
async function until(what, check, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// The claims of a good token; over: claims to change (undefined drops one).
const claims = (over = {}) => ({ iss: ISS, aud: AUD, sub: 'alice', role: 'app_user', iat: now(), exp: now() + 600, ...over });
// An HS256 token signed with rtsync.jwt_secret.
const hs = (over = {}, opts = {}) => sign({ alg: 'HS256', key: SECRET, claims: claims(over), ...opts });
// A token signed with a key of the JWKS file.
const rs = (over = {}, opts = {}) => sign({ alg: 'RS256', key: keys.rsa1, kid: 'rsa-1', claims: claims(over), ...opts });

const httpUrl = () => `http://127.0.0.1:${cluster.port}/graphql`;
const wsUrl = () => `ws://127.0.0.1:${cluster.port}/graphql`;
const realtimeUrl = () => `ws://127.0.0.1:${cluster.port}/graphql/realtime`;

// POST /graphql with the token in Authorization (Bearer unless bare).
async function post(query, { token, bare = false, headers = {}, variables } = {}) {
  const h = { 'content-type': 'application/json', ...headers };
  if (token !== undefined) h.authorization = bare ? token : `Bearer ${token}`;
  const res = await fetch(httpUrl(), {
    method: 'POST', headers: h, body: JSON.stringify({ query, variables }), signal: AbortSignal.timeout(5000),
  });
  const text = await res.text();
  let body = text;
  try { body = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, body };
}

// A query every token role may run (SELECT on data_items).
const PROBE = '{ listDataItems(limit: 1) { items { id } } }';

const isAccepted = async (token, opts) => (await post(PROBE, { token, ...opts })).status === 200;

async function accepts(token, opts) {
  const r = await post(PROBE, { token, ...opts });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.errors, undefined, JSON.stringify(r.body));
  assert.ok(Array.isArray(r.body.data.listDataItems.items));
}

// Waits for the server log to say, after offset from, why it refused a token.
async function logSays(from, text) {
  await until(`the server log says "${text}"`, () => cluster.log().slice(from).includes(text), 5000);
}

// The client sees only 401 "invalid token" (or "token expired"); the log
// says which check failed (reason: its text, or null when nothing is logged).
async function refuses(token, reason, { expired = false, ...opts } = {}) {
  const from = cluster.log().length;
  const r = await post(PROBE, { token, ...opts });
  assert.equal(r.status, 401, JSON.stringify(r.body));
  assert.deepEqual(r.body, UNAUTHORIZED(expired ? 'token expired' : 'invalid token'));
  if (reason) await logSays(from, `LOG:  rtsync refused a token: ${reason}`);
}

// ALTER SYSTEM statements, reload, and wait until check says they apply.
async function reconfigure(statements, what, check) {
  for (const s of statements) cluster.sql(s);
  cluster.sql('SELECT pg_reload_conf()');
  await until(what, check);
}

// Writes the JWKS file whole (rename: the server never reads half of it).
function writeJwks(text) {
  const tmp = `${jwksPath}.tmp`;
  writeFileSync(tmp, text, { mode: 0o644 });
  renameSync(tmp, jwksPath);
}

// psql that may fail: { ok, out } with stderr in out.
function trySql(query) {
  const env = {
    ...process.env, PGHOST: cluster.dir, PGPORT: String(cluster.pgPort), PGDATABASE: 'postgres',
    PGUSER: process.getuid?.() === 0 ? 'postgres' : os.userInfo().username,
  };
  try {
    return { ok: true, out: execFileSync('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-c', query],
      { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'] }) };
  } catch (e) {
    return { ok: false, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

// A graphql-ws client signed in with connectionParams.
const tokenClient = (connectionParams, on) => transportClient({ url: wsUrl(), connectionParams, on });

// connection_init over a raw socket of a dialect: 'graphql-transport-ws'
// (graphql-ws) or 'graphql-ws' (legacy subscriptions-transport-ws).
async function initRaw(protocol, payload) {
  const ws = await rawSocket(protocol, wsUrl());
  ws.sendJson({ type: 'connection_init', payload });
  return ws;
}

// An AppSync real-time socket with the token in the header= query or the
// header- subprotocol; connection_init sent.
async function appsync(token, how = 'query') {
  const header = b64url({ host: `127.0.0.1:${cluster.port}`, Authorization: token });
  const ws = how === 'query'
    ? await rawSocket('graphql-ws', `${realtimeUrl()}?header=${header}&payload=e30=`)
    : await rawSocket(['graphql-ws', `header-${header}`], realtimeUrl());
  ws.sendJson({ type: 'connection_init' });
  return ws;
}

function appsyncStart(ws, id, query, token) {
  ws.sendJson({
    id, type: 'start',
    payload: {
      data: JSON.stringify({ query }),
      extensions: { authorization: { host: `127.0.0.1:${cluster.port}`, ...(token ? { Authorization: token } : {}) } },
    },
  });
}

// ------------------------------------------------------------------ setup

before(async () => {
  keys = {
    rsa1: generateKey('rsa', 2048),
    rsa2: generateKey('rsa', 2048),
    rsaPs: generateKey('rsa', 2048),
    rsaShort: generateKey('rsa', 1024),
    ec256: generateKey('ec', 'P-256'),
    ec384: generateKey('ec', 'P-384'),
    ec521: generateKey('ec', 'P-521'),
    ed: generateKey('ed25519'),
    enc: generateKey('ec', 'P-256'),
    rotA: generateKey('ec', 'P-256'),
    rotB: generateKey('ec', 'P-256'),
  };
  // asymmetric keys only: an HS256 token can match no key of this file
  baseJwks = [
    publicJwk(keys.rsa1, { kid: 'rsa-1' }),
    publicJwk(keys.rsa2, { kid: 'rsa-2', use: 'sig' }),
    publicJwk(keys.rsaPs, { kid: 'rsa-ps', alg: 'PS256' }),
    publicJwk(keys.rsaShort, { kid: 'rsa-short' }),
    publicJwk(keys.ec256, { kid: 'ec-256' }),
    publicJwk(keys.ec384, { kid: 'ec-384' }),
    publicJwk(keys.ec521, { kid: 'ec-521' }),
    publicJwk(keys.ed, { kid: 'ed-1' }),
    publicJwk(keys.enc, { kid: 'enc-1', use: 'enc' }),
  ];
  cluster = await startCluster({
    offset: 7,
    settings: (dir) => [
      `rtsync.jwt_secret = '${SECRET}'`,
      `rtsync.jwt_jwks_file = '${path.join(dir, 'jwks.json')}'`,
      `rtsync.jwt_issuer = '${ISS}'`,
      `rtsync.jwt_audience = '${AUD}'`,
      `rtsync.jwt_authenticator = 'tok_authenticator'`,
    ],
    prepare: (dir) => {
      jwksPath = path.join(dir, 'jwks.json');
      writeJwks(jwks(baseJwks));
    },
  });
  cluster.sql(`CREATE ROLE tok_authenticator NOINHERIT;
    CREATE ROLE app_user; CREATE ROLE app_admin BYPASSRLS; CREATE ROLE app_super SUPERUSER; CREATE ROLE outsider;
    GRANT app_user, app_admin, app_super TO tok_authenticator;
    GRANT SELECT, INSERT ON data_items TO app_user, app_admin, app_super, outsider`);
  // row-level security by the token's claims, PostgREST style
  cluster.sql(`CREATE TABLE tok_notes (id int PRIMARY KEY,
      owner text NOT NULL DEFAULT current_setting('request.jwt.claim.sub', true), body text);
    ALTER TABLE tok_notes ENABLE ROW LEVEL SECURITY;
    CREATE POLICY by_sub ON tok_notes USING (owner = current_setting('request.jwt.claim.sub', true));
    GRANT SELECT, INSERT ON tok_notes TO app_user;
    INSERT INTO tok_notes VALUES (1, 'alice', 'alice 1'), (2, 'alice', 'alice 2'), (3, 'bob', 'bob 1');
    CREATE TABLE tok_tenant_notes (id int PRIMARY KEY, tenant text NOT NULL, body text);
    ALTER TABLE tok_tenant_notes ENABLE ROW LEVEL SECURITY;
    CREATE POLICY by_tenant ON tok_tenant_notes
      USING (tenant = current_setting('request.jwt.claims', true)::jsonb ->> 'tenant');
    GRANT SELECT ON tok_tenant_notes TO app_user;
    INSERT INTO tok_tenant_notes VALUES (1, 'acme', 'acme 1'), (2, 'globex', 'globex 1'), (3, 'acme', 'acme 2')`);
  cluster.sql(`SET client_min_messages = warning;
    SELECT rtsync.publish('tok_notes', type_name => 'TokNote');
    SELECT rtsync.publish('tok_tenant_notes', type_name => 'TokTenantNote')`);
});

after(() => cluster?.stop());

// ------------------------------------------------------- accepted over HTTP

// A user signed in with any supported algorithm gets their query answered.
const algorithms = [
  ['HS256', SECRET], ['HS384', SECRET], ['HS512', SECRET],
  ['RS256', 'rsa1', 'rsa-1'], ['RS384', 'rsa1', 'rsa-1'], ['RS512', 'rsa1', 'rsa-1'],
  ['PS256', 'rsa1', 'rsa-1'], ['PS384', 'rsa1', 'rsa-1'], ['PS512', 'rsa1', 'rsa-1'],
  ['ES256', 'ec256', 'ec-256'], ['ES384', 'ec384', 'ec-384'], ['ES512', 'ec521', 'ec-521'],
  ['EdDSA', 'ed', 'ed-1'],
];
for (const [alg, key, kid] of algorithms) {
  test(`a ${alg} token is accepted over HTTP`, async () => {
    await accepts(sign({ alg, key: kid ? keys[key] : key, kid, claims: claims() }));
  });
}

// Any of the spellings clients send works.
test('Authorization carries the token as "Bearer <jwt>", "bearer <jwt>" or bare', async () => {
  const t = hs();
  await accepts(t);
  await accepts(`bearer ${t}`, { bare: true });
  await accepts(t, { bare: true });
});

// A request with both is judged by its token; API keys go on working.
test('Authorization wins over x-api-key; an API key alone still works', async () => {
  // a bad token with a good key: the token decides
  await refuses('not-a-token', null, { headers: { 'x-api-key': cluster.apiKey } });
  // a good token with a bad key
  await accepts(hs(), { headers: { 'x-api-key': 'da2-not-a-key' } });
  const r = await post(PROBE, { headers: { 'x-api-key': cluster.apiKey } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.ok(r.body.data.listDataItems);
});

// A token naming a kid is checked against that key only.
test('the kid picks the key among two RSA keys of the JWKS', async () => {
  await accepts(sign({ alg: 'RS256', key: keys.rsa2, kid: 'rsa-2', claims: claims() }));
  await accepts(sign({ alg: 'RS256', key: keys.rsa1, kid: 'rsa-1', claims: claims() }));
  // signed by rsa-2 but naming rsa-1: only rsa-1 is tried
  await refuses(sign({ alg: 'RS256', key: keys.rsa2, kid: 'rsa-1', claims: claims() }), 'the signature does not verify');
  // a kid no key has
  await refuses(sign({ alg: 'RS256', key: keys.rsa2, kid: 'rsa-9', claims: claims() }),
    "no configured key has the token's kid and algorithm");
});

// A token without a kid is accepted when any key fitting its alg verifies it.
test('without a kid every key that fits the algorithm is tried', async () => {
  await accepts(sign({ alg: 'RS256', key: keys.rsa2, claims: claims() }));
  await accepts(sign({ alg: 'ES384', key: keys.ec384, claims: claims() }));
  await accepts(sign({ alg: 'EdDSA', key: keys.ed, claims: claims() }));
});

// The JWKS file's own restrictions hold; keys it cannot use are logged and skipped.
test("a JWK's alg restricts its key; keys for encryption and short RSA keys are skipped", async () => {
  await accepts(sign({ alg: 'PS256', key: keys.rsaPs, kid: 'rsa-ps', claims: claims() }));
  await refuses(sign({ alg: 'RS256', key: keys.rsaPs, kid: 'rsa-ps', claims: claims() }),
    "no configured key has the token's kid and algorithm");
  await refuses(sign({ alg: 'ES256', key: keys.enc, kid: 'enc-1', claims: claims() }),
    "no configured key has the token's kid and algorithm");
  await refuses(sign({ alg: 'RS256', key: keys.rsaShort, kid: 'rsa-short', claims: claims() }),
    "no configured key has the token's kid and algorithm");
  // an ES256 token naming the P-384 key: the curve does not fit
  await refuses(sign({ alg: 'ES256', key: keys.ec256, kid: 'ec-384', claims: claims() }),
    "no configured key has the token's kid and algorithm");
  const log = cluster.log();
  assert.match(log, /LOG: {2}rtsync skips key 3 of the JWKS file: the RSA key is shorter than 2048 bits/);
  assert.match(log, /LOG: {2}rtsync skips key 8 of the JWKS file: its "use" is not "sig"/);
});

// Clock skew within rtsync.jwt_leeway is forgiven.
test('a token expired 5 s ago is accepted within the default 30 s leeway', async () => {
  await accepts(hs({ exp: now() - 5 }));
  await accepts(hs({ nbf: now() + 5, iat: now() + 5 }));
});

// -------------------------------------------------------- refused over HTTP

// An unsigned token never signs anyone in.
test('an unsigned token (alg none) is refused, however it is spelled', async () => {
  const reason = 'the algorithm (alg) is missing, none, or not supported';
  await refuses(sign({ alg: 'none', claims: claims() }), reason);
  await refuses(sign({ alg: 'None', signAs: null, claims: claims() }), reason);
  // "none" with a signature after all
  await refuses(sign({ alg: 'none', key: SECRET, signAs: 'HS256', claims: claims() }), reason);
  // no alg at all
  await refuses(sign({ alg: undefined, key: SECRET, signAs: 'HS256', claims: claims() }), reason);
});

// Only the listed algorithms, spelled exactly, are understood.
test('an unknown algorithm is refused', async () => {
  const reason = 'the algorithm (alg) is missing, none, or not supported';
  await refuses(sign({ alg: 'HS1024', key: SECRET, signAs: 'HS512', claims: claims() }), reason);
  await refuses(sign({ alg: 'hs256', key: SECRET, signAs: 'HS256', claims: claims() }), reason);
  await refuses(sign({ alg: 'ES256K', key: keys.ec256, signAs: 'ES256', claims: claims() }), reason);
});

// Changing a signed token's claims (say, its sub) invalidates it.
test('a tampered payload fails the signature (HS256, RS256, ES256, EdDSA)', async () => {
  for (const [alg, key] of [['HS256', SECRET], ['RS256', keys.rsa1], ['ES256', keys.ec256], ['EdDSA', keys.ed]]) {
    const [h, , s] = sign({ alg, key, claims: claims() }).split('.');
    const forged = `${h}.${b64url(claims({ sub: 'bob' }))}.${s}`;
    await refuses(forged, 'the signature does not verify');
  }
  // a signature of the right length by another HMAC secret
  await refuses(sign({ alg: 'HS256', key: `${SECRET}!`, claims: claims() }), 'the signature does not verify');
  // an empty signature
  const [h, p] = hs().split('.');
  await refuses(`${h}.${p}.`, 'the signature is not base64url');
});

// The RS256-to-HS256 confusion attack: an attacker knows the public key.
test('alg confusion: an HS256 token "signed" with the RSA public key is refused', async () => {
  const forged = (kid) => sign({ alg: 'HS256', key: keys.rsa1.publicPem, kid, claims: claims() });
  const jwk = JSON.stringify(publicJwk(keys.rsa1, { kid: 'rsa-1' }));
  // with rtsync.jwt_secret set, HS256 is checked against the secret only
  await refuses(forged(), 'the signature does not verify');
  // with only the JWKS file's asymmetric keys, no key is made for HS256
  await reconfigure([`ALTER SYSTEM SET rtsync.jwt_secret = ''`], 'HS256 tokens are refused', async () => !(await isAccepted(hs())));
  try {
    await refuses(forged(), "no configured key is made for the token's algorithm");
    await refuses(forged('rsa-1'), "no configured key has the token's kid and algorithm");
    await refuses(sign({ alg: 'HS256', key: jwk, kid: 'rsa-1', claims: claims() }), "no configured key has the token's kid and algorithm");
    await refuses(sign({ alg: 'HS256', key: keys.rsa1.publicKey.export({ format: 'der', type: 'pkcs1' }), claims: claims() }),
      "no configured key is made for the token's algorithm");
    await accepts(rs());
  } finally {
    await reconfigure([`ALTER SYSTEM RESET rtsync.jwt_secret`], 'HS256 tokens are accepted again', () => isAccepted(hs()));
  }
});

// A token that demands extensions rtsync does not understand is refused.
test('a crit header is refused, even when signed', async () => {
  await refuses(hs({}, { header: { crit: ['exp'] } }), 'the header has crit extensions, which are not understood');
  await refuses(rs({}, { header: { crit: [] } }), 'the header has crit extensions, which are not understood');
});

// Well signed but malformed: refused, not guessed at.
test('malformed headers and claims are refused', async () => {
  await refuses(hs({}, { kid: 7 }), 'the key id (kid) is not a string');
  const signedArray = sign({ alg: 'HS256', key: SECRET, claims: [1, 2] });
  await refuses(signedArray, 'the claims are not a base64url JSON object');
  for (const over of [{ exp: 'tomorrow' }, { nbf: true }, { iat: [1] }, { exp: null }])
    await refuses(hs(over), 'exp, nbf or iat is not a number');
});

// The client learns the token expired (so it can refresh); the rest is "invalid token".
test('an expired token gets "token expired"; nbf and iat in the future are refused', async () => {
  await refuses(hs({ exp: now() - 120 }), 'the token has expired (exp)', { expired: true });
  await refuses(rs({ exp: now() - 31 - 5 }), 'the token has expired (exp)', { expired: true });
  await refuses(hs({ nbf: now() + 120 }), 'the token is not valid yet (nbf)');
  await refuses(hs({ iat: now() + 120 }), 'the token was issued in the future (iat)');
  // fractional NumericDates are numbers too
  await accepts(hs({ exp: now() + 600.5, nbf: now() - 0.5 }));
});

// Tokens from another issuer are refused.
test('the issuer must be rtsync.jwt_issuer', async () => {
  const reason = 'the issuer (iss) is not rtsync.jwt_issuer';
  await refuses(hs({ iss: 'https://evil.test' }), reason);
  await refuses(hs({ iss: undefined }), reason);
  await refuses(hs({ iss: [ISS] }), reason);
  await refuses(hs({ iss: `${ISS}/` }), reason);
});

// Tokens for another application are refused; Cognito's shapes are accepted.
test('the audience must be rtsync.jwt_audience: aud, an element of aud, or client_id', async () => {
  const reason = 'neither aud nor client_id is rtsync.jwt_audience';
  await refuses(hs({ aud: 'someone-else' }), reason);
  await refuses(hs({ aud: undefined }), reason);
  await refuses(hs({ aud: ['a', 'b'] }), reason);
  await refuses(hs({ aud: `${AUD}x` }), reason);
  await accepts(hs({ aud: ['other', AUD] }));
  // a Cognito access token: client_id, no aud
  await accepts(hs({ aud: undefined, client_id: AUD }));
  await refuses(hs({ aud: undefined, client_id: 'other-app' }), reason);
});

// No token ever runs as a superuser.
test('a superuser role is refused, even through the authenticator', async () => {
  const from = cluster.log().length;
  await refuses(hs({ role: 'app_super' }), 'the role is a superuser');
  assert.match(cluster.log().slice(from), /DETAIL: {2}The token names role "app_super"\./);
});

// A role that skips row-level security needs the operator's opt-in.
test('a BYPASSRLS role is refused unless rtsync.jwt_allow_bypassrls is on', async () => {
  const admin = hs({ role: 'app_admin' });
  await refuses(admin, 'the role has BYPASSRLS and rtsync.jwt_allow_bypassrls is off');
  await reconfigure([`ALTER SYSTEM SET rtsync.jwt_allow_bypassrls = on`], 'app_admin is accepted', () => isAccepted(admin));
  await accepts(admin);
  // superusers stay refused
  await refuses(hs({ role: 'app_super' }), 'the role is a superuser');
  await reconfigure([`ALTER SYSTEM RESET rtsync.jwt_allow_bypassrls`], 'app_admin is refused again', async () => !(await isAccepted(admin)));
});

// A token may only become a role the authenticator was granted.
test('a role not granted to rtsync.jwt_authenticator is refused', async () => {
  // the role may have been granted a moment ago: the server reloads its
  // roles before it refuses (that refusal is logged at DEBUG1 only)
  await refuses(hs({ role: 'outsider' }), null);
  await refuses(hs({ role: 'postgres' }), null);
  await refuses(hs({ role: 'no_such_role' }), null);
  await refuses(hs({ role: 'tok_authenticator' }), null);
  await refuses(hs({ role: 'x'.repeat(100) }), 'the role name is too long');
  // granted now: accepted on the next request, no restart
  cluster.sql(`GRANT outsider TO tok_authenticator`);
  try {
    await until('outsider is accepted', () => isAccepted(hs({ role: 'outsider' })));
  } finally {
    cluster.sql(`REVOKE outsider FROM tok_authenticator`);
  }
  await until('outsider is refused again', async () => !(await isAccepted(hs({ role: 'outsider' }))));
});

// Without an authenticator role, token sign-in is off.
test('with rtsync.jwt_authenticator empty every token is refused', async () => {
  const good = hs();
  await reconfigure([`ALTER SYSTEM SET rtsync.jwt_authenticator = ''`], 'tokens are refused', async () => !(await isAccepted(good)));
  try {
    await refuses(good, null);
    await refuses(rs(), null);
    // API keys are not affected
    assert.equal((await post(PROBE, { headers: { 'x-api-key': cluster.apiKey } })).status, 200);
  } finally {
    await reconfigure([`ALTER SYSTEM RESET rtsync.jwt_authenticator`], 'tokens are accepted again', () => isAccepted(good));
  }
});

// A token without a role claim gets the default role, when there is one.
test('a token without a role is refused, or takes rtsync.jwt_default_role', async () => {
  const anonymous = hs({ role: undefined });
  await refuses(anonymous, 'the token names no role (rtsync.jwt_role_claim) and rtsync.jwt_default_role is empty');
  await refuses(hs({ role: '' }), 'the token names no role (rtsync.jwt_role_claim) and rtsync.jwt_default_role is empty');
  await refuses(hs({ role: 42 }), 'the token names no role (rtsync.jwt_role_claim) and rtsync.jwt_default_role is empty');
  await reconfigure([`ALTER SYSTEM SET rtsync.jwt_default_role = 'app_user'`], 'the default role applies', () => isAccepted(anonymous));
  await accepts(anonymous);
  // a role claim still wins over the default
  await refuses(hs({ role: 'app_super' }), 'the role is a superuser');
  await reconfigure([`ALTER SYSTEM RESET rtsync.jwt_default_role`], 'the default role is gone', async () => !(await isAccepted(anonymous)));
});

// The role claim's path is configurable (Cognito groups, nested, URL-named claims).
test('rtsync.jwt_role_claim: the role from cognito:groups[0], a nested claim, a quoted name', async () => {
  // role says app_admin (BYPASSRLS: refused); only the configured path gives app_user
  const cognito = hs({ role: 'app_admin', 'cognito:groups': ['app_user', 'app_super'] });
  const nested = hs({ role: 'app_admin', app: { role: 'app_user' } });
  const quoted = hs({ role: 'app_admin', 'https://rtsync.test/claims': { role: 'app_user' } });
  const set = (p) => `ALTER SYSTEM SET rtsync.jwt_role_claim = '${p}'`;
  try {
    await reconfigure([set('cognito:groups[0]')], 'the role comes from cognito:groups[0]', () => isAccepted(cognito));
    await refuses(hs({ 'cognito:groups': ['app_super', 'app_user'] }), 'the role is a superuser');
    await refuses(hs({ 'cognito:groups': [] }), 'the token names no role (rtsync.jwt_role_claim) and rtsync.jwt_default_role is empty');
    await reconfigure([set('app.role')], 'the role comes from app.role', () => isAccepted(nested));
    await refuses(cognito, 'the token names no role (rtsync.jwt_role_claim) and rtsync.jwt_default_role is empty');
    await reconfigure([set('"https://rtsync.test/claims".role')], 'the role comes from a quoted claim', () => isAccepted(quoted));
    // an empty path is refused by the setting's check
    const r = trySql(`ALTER SYSTEM SET rtsync.jwt_role_claim = ''`);
    assert.equal(r.ok, false);
    assert.match(r.out, /invalid value for parameter "rtsync.jwt_role_claim"/);
  } finally {
    await reconfigure([`ALTER SYSTEM RESET rtsync.jwt_role_claim`], 'the role comes from role again', () => isAccepted(hs()));
  }
});

// A guessable secret cannot be configured.
test('an HMAC secret under 32 bytes is refused by ALTER SYSTEM', () => {
  const r = trySql(`ALTER SYSTEM SET rtsync.jwt_secret = 'only thirty-one bytes long, see'`);
  assert.equal(r.ok, false);
  assert.match(r.out, /invalid value for parameter "rtsync\.jwt_secret"/);
  assert.match(r.out, /at least 32 bytes; this one has 31/);
  // 32 bytes is enough (and left unset: the file's secret stays)
  const ok = trySql(`ALTER SYSTEM SET rtsync.jwt_secret = '${'s'.repeat(32)}'`);
  assert.equal(ok.ok, true, ok.out);
  cluster.sql(`ALTER SYSTEM RESET rtsync.jwt_secret`);
});

// Junk in Authorization gets 401 (or 431 when over the header limit), never a crash.
test('garbage tokens get 401 and the worker stays up', async () => {
  const shape = 'it is not a compact JWS (three dot-separated parts)';
  await refuses('nodotsatall', shape);
  await refuses('two.parts', shape);
  await refuses(`${hs()}.extra`, shape);
  await refuses('a!b.c$d.e%f', 'the header is not base64url JSON');
  await refuses(`${b64url('not json')}.${b64url(claims())}.${b64url('x')}`, 'the header is not base64url JSON');
  await refuses('..', 'the header is not base64url JSON');
  await refuses('Bearer', null, { bare: true });
  // 7 kB: still a header line the HTTP parser takes
  await refuses(`${'a'.repeat(7000)}.b.c`, 'the header is not base64url JSON');
  // 20 kB is over the HTTP server's 8 kB header line: 431 before any token check
  const big = await post(PROBE, { token: `${'a'.repeat(10000)}.${'b'.repeat(10000)}.c` });
  assert.equal(big.status, 431, JSON.stringify(big.body));
  const health = await fetch(`http://127.0.0.1:${cluster.port}/healthz`, { signal: AbortSignal.timeout(5000) });
  assert.equal(health.status, 200);
  await accepts(hs());
});

// ------------------------------------------------------ claims reach SQL

// A user sees their own rows of a table whose policy reads the token's claims.
test('row-level security by request.jwt.claim.sub: each user lists only their rows', async () => {
  const list = (token) => post('{ listTokNotes { items { id owner body } } }', { token });
  // the worker has the published table once it answers for it
  await until('listTokNotes is served', async () => (await list(hs())).body?.data?.listTokNotes);
  const alice = await list(hs({ sub: 'alice' }));
  assert.equal(alice.status, 200);
  assert.deepEqual(alice.body.data.listTokNotes.items.map((n) => n.id).sort(), [1, 2]);
  assert.ok(alice.body.data.listTokNotes.items.every((n) => n.owner === 'alice'));
  const bob = await list(hs({ sub: 'bob' }));
  assert.deepEqual(bob.body.data.listTokNotes.items, [{ id: 3, owner: 'bob', body: 'bob 1' }]);
  const nobody = await list(hs({ sub: undefined }));
  assert.deepEqual(nobody.body.data.listTokNotes.items, []);
  // one pool connection after another user's: nothing leaks between jobs
  const again = await list(hs({ sub: 'bob' }));
  assert.deepEqual(again.body.data.listTokNotes.items.map((n) => n.id), [3]);
});

// A policy reading the whole claims object sees the token's tenant.
test('row-level security by request.jwt.claims ->> tenant', async () => {
  const list = async (tenant) => {
    const r = await post('{ listTokTenantNotes { items { id } } }', { token: hs({ tenant }) });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.data.listTokTenantNotes.items.map((n) => n.id).sort();
  };
  await until('listTokTenantNotes is served', async () => (await post('{ listTokTenantNotes { items { id } } }', { token: hs() })).body?.data?.listTokTenantNotes);
  assert.deepEqual(await list('acme'), [1, 3]);
  assert.deepEqual(await list('globex'), [2]);
  assert.deepEqual(await list('initech'), []);
});

// A row created over HTTP belongs to the token's user.
test('a mutation runs with the claims: a column default reads request.jwt.claim.sub', async () => {
  const r = await post('mutation { createTokNote(input: { id: 10, body: "new" }) { id owner body } }', { token: hs({ sub: 'carol' }) });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(r.body.data.createTokNote, { id: 10, owner: 'carol', body: 'new' });
  assert.equal(cluster.sql(`SELECT owner FROM tok_notes WHERE id = 10`), 'carol');
  // the policy checks the new row too: carol cannot write as alice
  const w = await post('mutation { createTokNote(input: { id: 11, owner: "alice", body: "x" }) { id } }', { token: hs({ sub: 'carol' }) });
  assert.ok(w.body.errors?.length, JSON.stringify(w.body));
  assert.equal(cluster.sql(`SELECT count(*) FROM tok_notes WHERE id = 11`), '0');
});

// A query sent over a token-signed WebSocket runs with that token's claims.
test('a query over graphql-ws runs with the connection token\'s claims', async () => {
  const client = tokenClient({ Authorization: `Bearer ${hs({ sub: 'bob' })}` });
  try {
    const inbox = collect(client, { query: '{ listTokNotes { items { id owner } } }' });
    const { next } = await inbox.next(5000, 'the query result');
    assert.deepEqual(next.data, { listTokNotes: { items: [{ id: 3, owner: 'bob' }] } });
  } finally {
    await client.dispose();
  }
});

// ------------------------------------------------------------- WebSocket

// graphql-ws clients sign in with their token and get their events.
test('graphql-ws: a token in connectionParams signs in; a subscription gets an insert', async () => {
  for (const params of [
    { Authorization: `Bearer ${rs()}` },
    { headers: { authorization: hs() } },
    { authorization: `Bearer ${sign({ alg: 'EdDSA', key: keys.ed, kid: 'ed-1', claims: claims() })}` },
  ]) {
    const client = tokenClient(params);
    try {
      const title = `tok-ws-${Object.keys(params)[0]}`;
      const inbox = collect(client, { query: `subscription { onCreateDataItem(title: "${title}") { id title } }` });
      await client.sync();
      cluster.sql(`INSERT INTO data_items (id, title) VALUES ('${title}', '${title}')`);
      assert.deepEqual((await inbox.next(5000, 'the insert')).next.data, { onCreateDataItem: { id: title, title } });
    } finally {
      await client.dispose();
    }
  }
});

// graphql-ws clients learn of a refused token from the close code.
test('graphql-ws: a bad token closes with 4403 "invalid token", an expired one with 4401', async () => {
  let from = cluster.log().length;
  const bad = await initRaw('graphql-transport-ws', { Authorization: `Bearer ${hs({ iss: 'nope' })}` });
  assert.deepEqual(await bad.closed, { code: 4403, reason: 'invalid token' });
  await logSays(from, 'rtsync refused a token: the issuer (iss) is not rtsync.jwt_issuer');

  const expired = await initRaw('graphql-transport-ws', { headers: { Authorization: hs({ exp: now() - 120 }) } });
  assert.deepEqual(await expired.closed, { code: 4401, reason: 'token expired' });

  // 20 kB: over the token limit, refused without harm
  from = cluster.log().length;
  const big = await initRaw('graphql-transport-ws', { Authorization: `${'a'.repeat(10000)}.${'b'.repeat(10000)}.c` });
  assert.deepEqual(await big.closed, { code: 4403, reason: 'invalid token' });
  await logSays(from, 'rtsync refused a token: the token is longer than 16 kB');

  // an unsigned one
  const none = await initRaw('graphql-transport-ws', { Authorization: sign({ alg: 'none', claims: claims() }) });
  assert.deepEqual(await none.closed, { code: 4403, reason: 'invalid token' });
  await accepts(hs());
});

// Apollo's old client signs in with a token too.
test('legacy subscriptions-transport-ws: a token in connection_init signs in, a bad one gets connection_error', async () => {
  const ws = await initRaw('graphql-ws', { Authorization: `Bearer ${hs()}` });
  try {
    assert.equal((await ws.inbox.next()).type, 'connection_ack');
    ws.sendJson({ id: '1', type: 'start', payload: { query: 'subscription { onCreateDataItem(title: "tok-legacy") { id } }' } });
    // a stop for an unknown id is answered after the start: the start is registered
    ws.sendJson({ id: 'probe', type: 'stop' });
    for (;;) {
      const m = await ws.nextIgnoringKa(5000, 'the probe');
      if (m.type === 'complete' && m.id === 'probe') break;
    }
    cluster.sql(`INSERT INTO data_items (id, title) VALUES ('tok-legacy', 'tok-legacy')`);
    assert.deepEqual(messageWithoutPosition(await ws.nextIgnoringKa(5000, 'the insert')),
      { type: 'data', id: '1', payload: { data: { onCreateDataItem: { id: 'tok-legacy' } } } });
  } finally {
    ws.close();
  }
  const bad = await initRaw('graphql-ws', { Authorization: `Bearer ${hs()}x` });
  const m = await bad.inbox.next();
  assert.equal(m.type, 'connection_error', JSON.stringify(m));
  assert.equal(JSON.stringify(m.payload).includes('invalid token'), true, JSON.stringify(m));
  assert.equal((await bad.closed).code, 4403);
});

// A client that puts the token in the upgrade request's own Authorization
// header (a server-side client, a proxy) signs in with it too.
test('a token in the WebSocket upgrade\'s Authorization header signs in; a bad one is refused', async () => {
  const ws = await rawSocket('graphql-transport-ws', wsUrl(), { Authorization: `Bearer ${hs()}` });
  try {
    ws.sendJson({ type: 'connection_init', payload: {} });
    assert.equal((await ws.inbox.next()).type, 'connection_ack');
  } finally {
    ws.close();
  }
  const bad = await rawSocket('graphql-transport-ws', wsUrl(), { Authorization: `Bearer ${hs()}x` });
  bad.sendJson({ type: 'connection_init', payload: {} });
  assert.deepEqual(await bad.closed, { code: 4403, reason: 'invalid token' });
});

// Amplify-style clients sign in with the token in AppSync's header.
test('AppSync: a token in the header (query or subprotocol) signs in, and starts are served', async () => {
  for (const how of ['query', 'subprotocol']) {
    const token = sign({ alg: 'ES256', key: keys.ec256, kid: 'ec-256', claims: claims() });
    const ws = await appsync(token, how);
    try {
      assert.deepEqual(await ws.inbox.next(), { type: 'connection_ack', payload: { connectionTimeoutMs: 300000 } });
      const title = `tok-aps-${how}`;
      appsyncStart(ws, 's', `subscription { onCreateDataItem(title: "${title}") { id } }`, token);
      assert.deepEqual(await ws.nextIgnoringKa(5000, 'start_ack'), { type: 'start_ack', id: 's' });
      cluster.sql(`INSERT INTO data_items (id, title) VALUES ('${title}', '${title}')`);
      assert.deepEqual(messageWithoutPosition(await ws.nextIgnoringKa(5000, 'the insert')),
        { type: 'data', id: 's', payload: { data: { onCreateDataItem: { id: title } } } });
    } finally {
      ws.close();
    }
  }
  // a bad token in the header: connection_error, then closed
  const bad = await appsync(hs({ aud: 'other' }));
  const m = await bad.inbox.next();
  assert.equal(m.type, 'connection_error', JSON.stringify(m));
  assert.equal(m.payload.errors[0].errorType, 'UnauthorizedException');
  assert.equal(m.payload.errors[0].message, 'invalid token');
  await bad.closed;
});

// Amplify sends a token with every start: a bad one refuses that start only.
test("AppSync: a start with a bad or another user's token is refused; the connection stays up", async () => {
  const token = hs();
  const ws = await appsync(token);
  try {
    assert.equal((await ws.inbox.next()).type, 'connection_ack');
    const query = 'subscription { onCreateDataItem(title: "tok-aps-start") { id } }';
    const from = cluster.log().length;
    appsyncStart(ws, 'bad', query, `${token}x`);
    let m = await ws.nextIgnoringKa(5000, 'the refusal');
    assert.equal(m.type, 'error', JSON.stringify(m));
    assert.equal(m.id, 'bad');
    assert.deepEqual(m.payload.errors[0], { errorType: 'UnauthorizedException', message: 'invalid token' });
    await logSays(from, 'rtsync refused a token: the signature does not verify');

    appsyncStart(ws, 'old', query, hs({ exp: now() - 120 }));
    m = await ws.nextIgnoringKa(5000, 'the refusal');
    assert.equal(m.type, 'error', JSON.stringify(m));
    assert.equal(m.payload.errors[0].errorType, 'UnauthorizedException');
    assert.equal(m.payload.errors[0].message, 'token expired');

    appsyncStart(ws, 'bob', query, hs({ sub: 'bob' }));
    m = await ws.nextIgnoringKa(5000, 'the refusal');
    assert.equal(m.type, 'error', JSON.stringify(m));
    assert.equal(m.payload.errors[0].errorType, 'UnauthorizedException');
    await logSays(from, "rtsync refused a start: its token names another user than the connection's");

    // the same user with a fresh token (another algorithm) is served
    appsyncStart(ws, 'good', query, rs());
    assert.deepEqual(await ws.nextIgnoringKa(5000, 'start_ack'), { type: 'start_ack', id: 'good' });
    cluster.sql(`INSERT INTO data_items (id, title) VALUES ('tok-aps-start', 'tok-aps-start')`);
    assert.deepEqual(messageWithoutPosition(await ws.nextIgnoringKa(5000, 'the insert')),
      { type: 'data', id: 'good', payload: { data: { onCreateDataItem: { id: 'tok-aps-start' } } } });
  } finally {
    ws.close();
  }
});

// A user whose token expires is signed out: the connection closes with
// 4401 "token expired" (AppSync and legacy clients get connection_error first).
test('live connections close when their token expires (leeway 0)', async () => {
  const stale = hs({ exp: now() - 5 });
  await reconfigure([`ALTER SYSTEM SET rtsync.jwt_leeway = 0`], 'the leeway is 0', async () => !(await isAccepted(stale)));
  try {
    await refuses(stale, 'the token has expired (exp)', { expired: true });
    const exp = now() + 3;
    const token = hs({ exp });
    const started = Date.now();

    const closes = new Inbox();
    const client = tokenClient({ Authorization: `Bearer ${token}` }, { closed: (e) => closes.push({ code: e.code, reason: e.reason, at: Date.now() }) });
    const inbox = collect(client, { query: 'subscription { onCreateDataItem(title: "tok-expiry") { id } }' });
    await client.sync();

    const aps = await appsync(token);
    assert.equal((await aps.inbox.next()).type, 'connection_ack');
    const legacy = await initRaw('graphql-ws', { Authorization: token });
    assert.equal((await legacy.inbox.next()).type, 'connection_ack');

    const closed = await closes.next(10000, 'the graphql-ws connection to close');
    assert.equal(closed.code, 4401);
    assert.equal(closed.reason, 'token expired');
    assert.ok(closed.at >= exp * 1000, `closed ${exp * 1000 - closed.at} ms before exp`);
    assert.ok(closed.at - started <= 10000);
    assert.equal(inbox.size, 0);
    await client.dispose();

    const m = await aps.nextIgnoringKa(10000, 'the AppSync connection_error');
    assert.equal(m.type, 'connection_error', JSON.stringify(m));
    assert.equal(m.payload.errors[0].errorType, 'UnauthorizedException');
    assert.equal(m.payload.errors[0].message, 'token expired');
    assert.equal((await aps.closed).code, 4401);

    const l = await legacy.nextIgnoringKa(10000, 'the legacy connection_error');
    assert.equal(l.type, 'connection_error', JSON.stringify(l));
    assert.equal(JSON.stringify(l.payload).includes('token expired'), true, JSON.stringify(l));
    assert.equal((await legacy.closed).code, 4401);
  } finally {
    await reconfigure([`ALTER SYSTEM RESET rtsync.jwt_leeway`], 'the leeway is 30 s again', () => isAccepted(hs({ exp: now() - 5 })));
  }
});

// ------------------------------------------------------------ key rotation

// Keys rotate with a rewritten JWKS file and pg_reload_conf(), no restart.
test('JWKS rotation on reload: a new key is accepted, a removed one refused, a broken file keeps the keys', async () => {
  const tokA = sign({ alg: 'ES256', key: keys.rotA, kid: 'rot-a', claims: claims() });
  const tokB = sign({ alg: 'ES256', key: keys.rotB, kid: 'rot-b', claims: claims() });
  const tokBNoKid = sign({ alg: 'ES256', key: keys.rotB, claims: claims() });
  const octSecret = 'a JWKS symmetric key of more than 32 bytes';
  const tokOct = sign({ alg: 'HS384', key: octSecret, kid: 'oct-1', claims: claims() });
  const reloadWith = (list, what, check, statements = []) => {
    writeJwks(jwks([...baseJwks, ...list]));
    return reconfigure(statements, what, check);
  };
  try {
    await reloadWith([publicJwk(keys.rotA, { kid: 'rot-a' })], 'key A is in use', () => isAccepted(tokA));
    await refuses(tokB, "no configured key has the token's kid and algorithm");

    await reloadWith([publicJwk(keys.rotA, { kid: 'rot-a' }), publicJwk(keys.rotB, { kid: 'rot-b' }), octJwk(octSecret, { kid: 'oct-1' })],
      'key B is in use', () => isAccepted(tokB));
    await accepts(tokA);
    await accepts(tokBNoKid);
    await accepts(tokOct);

    await reloadWith([publicJwk(keys.rotB, { kid: 'rot-b' })], 'key A is gone', async () => !(await isAccepted(tokA)));
    await refuses(tokA, "no configured key has the token's kid and algorithm");
    await accepts(tokB);
    // the untouched keys work throughout
    await accepts(rs());

    // a broken file: WARNING, and the previous keys stay
    const from = cluster.log().length;
    writeJwks('{"keys": [');
    cluster.sql('SELECT pg_reload_conf()');
    await logSays(from, `WARNING:  rtsync cannot use the JWKS file "${jwksPath}": it is not a JSON object`);
    await accepts(tokB);
    await accepts(rs());

    // a file that cannot be opened: WARNING, and the keys stay too
    const missing = path.join(cluster.dir, 'no-such-jwks.json');
    const before = cluster.log().length;
    cluster.sql(`ALTER SYSTEM SET rtsync.jwt_jwks_file = '${missing}'`);
    cluster.sql('SELECT pg_reload_conf()');
    await logSays(before, `WARNING:  rtsync could not open the JWKS file "${missing}"`);
    await accepts(tokB);
  } finally {
    await reloadWith([], 'the base keys are back', async () => !(await isAccepted(tokB)),
      [`ALTER SYSTEM RESET rtsync.jwt_jwks_file`]);
  }
  await accepts(rs());
});
