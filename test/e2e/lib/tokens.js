// A small JSON Web Token signer for the tests of token sign-in: keys made
// here with the openssl command-line tool (no network, no token library),
// their public halves as JSON Web Keys, and compact JWS signed with node's
// crypto for every algorithm rtsync verifies (HS*, RS*, PS*, ES*, EdDSA).
// Also unsigned and malformed tokens, for the tests of refusals.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';

// base64url of a string, a Buffer, or an object's JSON
export function b64url(value) {
  if (Buffer.isBuffer(value)) return value.toString('base64url');
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
}

// The time as a JWT NumericDate (whole seconds).
export const now = () => Math.floor(Date.now() / 1000);

const genpkeyArgs = {
  rsa: (bits = 2048) => ['-algorithm', 'RSA', '-pkeyopt', `rsa_keygen_bits:${bits}`],
  ec: (curve = 'P-256') => ['-algorithm', 'EC', '-pkeyopt', `ec_paramgen_curve:${curve}`],
  ed25519: () => ['-algorithm', 'ed25519'],
};

// A new private key from `openssl genpkey`: generateKey('rsa', 2048),
// generateKey('ec', 'P-384'), generateKey('ed25519'). Returns
// { privateKey, publicKey (KeyObjects), pem (the private PEM), publicPem }.
export function generateKey(type, param) {
  const args = genpkeyArgs[type];
  if (!args) throw new Error(`unknown key type ${type}`);
  const pem = execFileSync('openssl', ['genpkey', ...args(param)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const privateKey = crypto.createPrivateKey(pem);
  const publicKey = crypto.createPublicKey(privateKey);
  return { privateKey, publicKey, pem, publicPem: publicKey.export({ format: 'pem', type: 'spki' }) };
}

// The public JWK of a key from generateKey, with more members (kid, alg, use).
export function publicJwk(key, extra = {}) {
  return { ...key.publicKey.export({ format: 'jwk' }), ...extra };
}

// A symmetric JWK (kty oct) of an HMAC secret.
export function octJwk(secret, extra = {}) {
  return { kty: 'oct', k: b64url(Buffer.from(secret)), ...extra };
}

// A JWKS file's text: {"keys": [...]}
export function jwks(keys) {
  return JSON.stringify({ keys }, null, 2);
}

const hashes = { 256: 'sha256', 384: 'sha384', 512: 'sha512' };

// The JWS signature of input (a string) with alg. key: a key from
// generateKey, or for HS* the secret (string or Buffer).
export function signature(alg, input, key) {
  const family = alg.slice(0, 2);
  const hash = hashes[alg.slice(2)];
  const data = Buffer.from(input);
  if (alg === 'EdDSA') return crypto.sign(null, data, key.privateKey);
  if (!hash) throw new Error(`cannot sign with ${alg}`);
  switch (family) {
    case 'HS':
      return crypto.createHmac(hash, key).update(data).digest();
    case 'RS':
      return crypto.sign(hash, data, key.privateKey);
    case 'PS':
      return crypto.sign(hash, data, {
        key: key.privateKey,
        padding: crypto.constants.RSA_PKCS1_PSS_PADDING,
        saltLength: crypto.constants.RSA_PSS_SALTLEN_DIGEST,
      });
    case 'ES':
      // JWS wants the raw r || s, not DER
      return crypto.sign(hash, data, { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
    default:
      throw new Error(`cannot sign with ${alg}`);
  }
}

// A compact JWS: sign({ alg, key, kid, claims, header }). header: members
// merged into { alg, typ: 'JWT', kid } (a member set to undefined is left
// out). alg 'none' (or signAs: null) gives an unsigned token, "h.p.".
// signAs: the algorithm to sign with when it differs from the header's.
export function sign({ alg, key, kid, claims = {}, header = {}, signAs = alg }) {
  const head = { alg, typ: 'JWT', ...(kid !== undefined ? { kid } : {}), ...header };
  const input = `${b64url(head)}.${b64url(claims)}`;
  if (signAs === null || signAs === 'none') return `${input}.`;
  return `${input}.${b64url(signature(signAs, input, key))}`;
}

// The parts of a compact JWS, decoded (for tampering in tests).
export function decode(token) {
  const [h, p, s] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString()),
    claims: JSON.parse(Buffer.from(p, 'base64url').toString()),
    signature: s,
  };
}
