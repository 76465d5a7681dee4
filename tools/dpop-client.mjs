#!/usr/bin/env node
// A DPoP (RFC 9449) client for local development and the end-to-end tests: makes P-256 keys, their RFC 7638
// thumbprints and DPoP proofs, gets DPoP-bound tokens from the development issuer (tools/dev-issuer.mjs), and
// calls the gateway with them. Usable as a library and as a CLI:
//
//   node tools/dpop-client.mjs call <url> [--method GET] [--issuer-url http://127.0.0.1:8788] [--scope "read:messages"]
//   node tools/dpop-client.mjs keygen [--new]          prints the key's thumbprint (jkt)
//   node tools/dpop-client.mjs token [--scope ..]      prints a DPoP-bound access token for the key
//   node tools/dpop-client.mjs proof <METHOD> <URL> [--token T] [--nonce N]   prints a DPoP proof
//
// Every command takes --key-file (default .dev-issuer/dpop-key.pem; created on first use, mode 0600).
// Node built-ins only. For development and tests: the key file is a private key kept in clear.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { b64url, isMain, mergeDeleting } from './common.mjs';
import { ecPrivateKey, ed25519PrivateKey, rsaPrivateKey } from './keygen.mjs';

export const DEFAULT_KEY_FILE = path.join('.dev-issuer', 'dpop-key.pem');
export const DEFAULT_ISSUER_URL = 'http://127.0.0.1:8788';

// ---------------------------------------------------------------- encoding and thumbprints

/** base64url without padding, of a Buffer, a Uint8Array or a UTF-8 string. */
export { b64url };

/**
 * RFC 7638 JWK thumbprint: base64url(SHA-256(the required members, in lexicographic order, no whitespace)).
 * EC: {"crv","kty","x","y"}; RSA: {"e","kty","n"}; OKP: {"crv","kty","x"}. Other members are ignored.
 */
export function jktOf(publicJwk) {
  if (!publicJwk || typeof publicJwk !== 'object') throw new TypeError('jktOf: expected a JWK object');
  const required = { EC: ['crv', 'kty', 'x', 'y'], RSA: ['e', 'kty', 'n'], OKP: ['crv', 'kty', 'x'] }[publicJwk.kty];
  if (!required) throw new TypeError(`jktOf: unsupported kty ${JSON.stringify(publicJwk.kty)}`);
  const canonical = {};
  for (const k of required) {
    if (typeof publicJwk[k] !== 'string') throw new TypeError(`jktOf: member ${k} is missing or not a string`);
    canonical[k] = publicJwk[k];
  }
  // JSON.stringify keeps insertion order, which is the lexicographic order above.
  return crypto.createHash('sha256').update(JSON.stringify(canonical), 'utf8').digest('base64url');
}

/** The `ath` claim for an access token: base64url(SHA-256(ASCII bytes of the token)). */
export function athOf(accessToken) {
  return crypto.createHash('sha256').update(String(accessToken), 'utf8').digest('base64url');
}

/** The public JWK of a key, with only the members that identify it (no kid/alg/use, never a private member). */
function publicJwkOf(keyObject) {
  const pub = keyObject.type === 'private' ? crypto.createPublicKey(keyObject) : keyObject;
  const jwk = pub.export({ format: 'jwk' });
  if (jwk.kty === 'EC') return { kty: 'EC', crv: jwk.crv, x: jwk.x, y: jwk.y };
  if (jwk.kty === 'RSA') return { kty: 'RSA', n: jwk.n, e: jwk.e };
  if (jwk.kty === 'OKP') return { kty: 'OKP', crv: jwk.crv, x: jwk.x };
  throw new TypeError(`unsupported key type ${jwk.kty}`);
}

/** Wraps a private KeyObject (or PEM text) as a DPoP key: {privateKey, publicKey, publicJwk, jkt, alg}. */
export function dpopKeyFromPrivate(privateKey) {
  const pk = typeof privateKey === 'string' || Buffer.isBuffer(privateKey) ? crypto.createPrivateKey(privateKey) : privateKey;
  if (!pk || pk.type !== 'private') throw new TypeError('dpopKeyFromPrivate: expected a private key');
  const publicJwk = publicJwkOf(pk);
  const alg = publicJwk.kty === 'RSA'
    ? 'RS256'
    : { 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512', Ed25519: 'EdDSA' }[publicJwk.crv];
  return { privateKey: pk, publicKey: crypto.createPublicKey(pk), publicJwk, jkt: jktOf(publicJwk), alg };
}

/**
 * A fresh DPoP key. Default: EC P-256 (ES256), the only algorithm the gateway accepts.
 * `{alg: 'ES384'}` (P-384), `{alg: 'RS256'}` (RSA 2048) and `{alg: 'EdDSA'}` exist for negative tests.
 * @returns {{privateKey: crypto.KeyObject, publicKey: crypto.KeyObject, publicJwk: object, jkt: string, alg: string}}
 */
export function generateDpopKey({ alg = 'ES256' } = {}) {
  const crv = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' }[alg];
  if (crv) return dpopKeyFromPrivate(ecPrivateKey(crv));
  if (/^(RS|PS)(256|384|512)$/.test(alg)) return dpopKeyFromPrivate(rsaPrivateKey(2048));
  if (alg === 'EdDSA') return dpopKeyFromPrivate(ed25519PrivateKey());
  throw new TypeError(`generateDpopKey: unsupported alg ${alg}`);
}

// ---------------------------------------------------------------- proofs

const HASH_OF = { 256: 'sha256', 384: 'sha384', 512: 'sha512' };

/** Signs `input` (string) with JWS `alg`; returns the signature bytes. */
function signJws(alg, key, input, { dsaEncoding = 'ieee-p1363', hmacSecret = 'dpop-test-secret' } = {}) {
  const data = Buffer.from(input, 'utf8');
  if (alg === 'none') return Buffer.alloc(0);
  let m = /^ES(256|384|512)$/.exec(alg);
  if (m) return crypto.sign(HASH_OF[m[1]], data, { key, dsaEncoding });
  m = /^RS(256|384|512)$/.exec(alg);
  if (m) return crypto.sign(HASH_OF[m[1]], data, key);
  m = /^PS(256|384|512)$/.exec(alg);
  if (m) {
    return crypto.sign(HASH_OF[m[1]], data, {
      key,
      padding: crypto.constants.RSA_PKCS1_PSS_PADDING,
      saltLength: crypto.constants.RSA_PSS_SALTLEN_DIGEST,
    });
  }
  m = /^HS(256|384|512)$/.exec(alg);
  if (m) return crypto.createHmac(HASH_OF[m[1]], hmacSecret).update(data).digest();
  if (alg === 'EdDSA') return crypto.sign(null, data, key);
  throw new TypeError(`makeProof: cannot sign with alg ${alg}`);
}

/**
 * Makes a DPoP proof (compact JWS).
 *
 * Header `{typ: 'dpop+jwt', alg, jwk: key.publicJwk}`, claims `{jti, htm, htu, iat}` plus `ath` (when
 * `accessToken` is given) and `nonce` (when given). `header` and `claims` are merged over those; a member set
 * to `undefined` is deleted.
 *
 * Options for hostile proofs (tests):
 * - `alg`: the header's alg and the algorithm used to sign (default: the key's, ES256 for generateDpopKey()).
 *   `signAlg` signs with another algorithm than the header names.
 * - `signingKey`: a private KeyObject (or a DPoP key) to sign with instead of `key` (the header still shows
 *   `key.publicJwk`): a proof whose signature does not verify.
 * - `dsaEncoding: 'der'`: an ASN.1 DER ECDSA signature instead of JOSE r||s.
 * - `hmacSecret`: the secret for HS* algs.
 * - `rawHeader` / `rawPayload`: strings used verbatim as the JSON of the segment (duplicate members, odd
 *   spacing); they replace `header` / `claims` entirely.
 * - `signature`: a Buffer, or a base64url string, used as the signature segment instead of a real one.
 *
 * @returns {string} the compact proof `header.payload.signature`
 */
export function makeProof({
  key,
  htm,
  htu,
  accessToken,
  nonce,
  iat,
  jti,
  header = {},
  claims = {},
  alg,
  signAlg,
  signingKey,
  dsaEncoding = 'ieee-p1363',
  hmacSecret,
  rawHeader,
  rawPayload,
  signature,
} = {}) {
  if (!key || !key.privateKey || !key.publicJwk) throw new TypeError('makeProof: key must come from generateDpopKey() or loadOrCreateKey()');
  const headerAlg = alg ?? key.alg ?? 'ES256';
  const hdr = mergeDeleting({ typ: 'dpop+jwt', alg: headerAlg, jwk: { ...key.publicJwk } }, header);
  let payload = {
    jti: jti ?? crypto.randomUUID(),
    htm,
    htu,
    iat: iat ?? Math.floor(Date.now() / 1000),
  };
  if (accessToken !== undefined) payload.ath = athOf(accessToken);
  if (nonce !== undefined) payload.nonce = nonce;
  payload = mergeDeleting(payload, claims);
  for (const k of Object.keys(payload)) if (payload[k] === undefined) delete payload[k];

  const h = b64url(rawHeader ?? JSON.stringify(hdr));
  const p = b64url(rawPayload ?? JSON.stringify(payload));
  const input = `${h}.${p}`;
  let sig;
  if (signature !== undefined) {
    sig = typeof signature === 'string' ? signature : b64url(signature);
  } else {
    const sk = signingKey?.privateKey ?? signingKey ?? key.privateKey;
    sig = b64url(signJws(signAlg ?? headerAlg, sk, input, { dsaEncoding, hmacSecret }));
  }
  return `${input}.${sig}`;
}

/** Decodes a compact JWS's header and payload (no verification). */
export function decodeJws(jws) {
  const [h, p] = String(jws).split('.');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString('utf8')),
    payload: JSON.parse(Buffer.from(p, 'base64url').toString('utf8')),
  };
}

/**
 * Verifies an ES256 proof against the jwk in its own header (for self-checks; not a full RFC 9449
 * verifier). Returns true when the JOSE r||s signature verifies.
 */
export function verifyProofSignature(proof) {
  const [h, p, s] = String(proof).split('.');
  const { jwk } = JSON.parse(Buffer.from(h, 'base64url').toString('utf8'));
  const publicKey = crypto.createPublicKey({ key: jwk, format: 'jwk' });
  return crypto.verify('sha256', Buffer.from(`${h}.${p}`), { key: publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(s, 'base64url'));
}

// ---------------------------------------------------------------- key files, tokens, calls

/** Loads the PEM private key in `file`, or generates an EC P-256 key and saves it there (mode 0600). */
export function loadOrCreateKey(file = DEFAULT_KEY_FILE, { fresh = false } = {}) {
  if (!fresh && fs.existsSync(file)) {
    const key = dpopKeyFromPrivate(fs.readFileSync(file, 'utf8'));
    if (key.alg !== 'ES256') throw new Error(`${file}: not an EC P-256 key`);
    return { ...key, created: false, file };
  }
  const key = generateDpopKey();
  const dir = path.dirname(path.resolve(file));
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, key.privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
  fs.renameSync(tmp, file);
  return { ...key, created: true, file };
}

/**
 * Asks the development issuer for a token bound to `jkt` (POST {issuer}/oauth/token with {cnf_jkt, scope, ...}).
 * Resolves {access_token, token_type, expires_in, scope?}.
 */
export async function fetchDpopToken(issuerUrl, { jkt, scope, sub, audience, expiresIn } = {}) {
  const base = String(issuerUrl ?? DEFAULT_ISSUER_URL).replace(/\/+$/, '');
  const body = { cnf_jkt: jkt };
  if (scope !== undefined) body.scope = scope;
  if (sub !== undefined) body.sub = sub;
  if (audience !== undefined) body.audience = audience;
  if (expiresIn !== undefined) body.expires_in = expiresIn;
  let res;
  try {
    res = await fetch(`${base}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  } catch (err) {
    throw new Error(`cannot reach the issuer at ${base} (${causeOf(err)}); is it running? (node tools/dev-issuer.mjs)`);
  }
  const text = await res.text();
  if (!res.ok) throw new Error(`the issuer's token endpoint answered ${res.status}: ${text}`);
  const json = JSON.parse(text);
  if (typeof json.access_token !== 'string') throw new Error(`the issuer's token endpoint answered no access_token: ${text}`);
  return json;
}

/**
 * Calls `url` with `Authorization: DPoP <token>` and a fresh proof. On a 401 carrying a `DPoP-Nonce` header
 * (error `use_dpop_nonce`), retries once with a new proof that carries the nonce (RFC 9449 section 8).
 * Resolves {status, statusText, headers (a Headers), body (text), attempts, nonce}.
 */
export async function callWithDpop(url, { key, token, method = 'GET', headers = {}, body, nonce } = {}) {
  const send = async (n) => {
    const proof = makeProof({ key, htm: method, htu: url, accessToken: token, nonce: n });
    return fetch(url, {
      method,
      headers: { ...headers, Authorization: `DPoP ${token}`, DPoP: proof },
      body,
      redirect: 'manual',
    });
  };
  let attempts = 1;
  let res = await send(nonce);
  let usedNonce = nonce;
  const serverNonce = res.headers.get('dpop-nonce');
  if (res.status === 401 && serverNonce && isNonceChallenge(res.headers.get('www-authenticate'))) {
    await res.arrayBuffer(); // drain the first answer
    attempts = 2;
    usedNonce = serverNonce;
    res = await send(serverNonce);
  }
  return {
    status: res.status,
    statusText: res.statusText,
    headers: res.headers,
    body: await res.text(),
    attempts,
    nonce: res.headers.get('dpop-nonce') ?? usedNonce,
  };
}

/** The most useful words about a failed fetch: the system error code, else the cause's message. */
function causeOf(err) {
  const c = err?.cause;
  return c?.code ?? c?.errors?.[0]?.code ?? c?.message ?? err?.message ?? String(err);
}

function isNonceChallenge(www) {
  // A 401 with DPoP-Nonce is a nonce challenge by RFC 9449 section 8; tolerate a missing WWW-Authenticate.
  return www == null || /\berror="use_dpop_nonce"/.test(www);
}

// ---------------------------------------------------------------- CLI

const USAGE = `DPoP (RFC 9449) client for the gateway and the development issuer.

usage:
  node tools/dpop-client.mjs call <url> [--method GET] [--issuer-url ${DEFAULT_ISSUER_URL}] [--scope "read:messages"]
                                        [--token T] [--header "Name: value"]... [--data BODY] [--verbose]
      Gets a DPoP-bound token from the issuer (unless --token), sends <url> with "Authorization: DPoP <token>"
      and a fresh proof, retries once with the server's nonce if asked to (401 use_dpop_nonce + DPoP-Nonce),
      and prints the status, the WWW-Authenticate and DPoP-Nonce headers and the body.
      Exit status: 0 for a 2xx answer, 1 otherwise.
  node tools/dpop-client.mjs keygen [--new]
      Prints the key's RFC 7638 thumbprint (jkt); creates the key if missing (--new: replace it).
  node tools/dpop-client.mjs token [--issuer-url URL] [--scope "read:messages"] [--sub dev-user] [--expires-in 3600]
      Prints an access token bound to the key (cnf.jkt).
  node tools/dpop-client.mjs proof <METHOD> <URL> [--token T] [--nonce N]
      Prints a DPoP proof for METHOD and URL (with ath when --token is given).

  Every command takes --key-file FILE (default ${DEFAULT_KEY_FILE}, created on first use, mode 0600).

example (shell, with the issuer on :8788 and the gateway on :8787):
  TOKEN=$(node tools/dpop-client.mjs token --scope "read:messages")
  curl -i -H "Authorization: DPoP $TOKEN" \\
       -H "DPoP: $(node tools/dpop-client.mjs proof GET http://127.0.0.1:8787/api/private-scoped --token "$TOKEN")" \\
       http://127.0.0.1:8787/api/private-scoped`;

class UsageError extends Error {}

/** Parses `--name value`, `--name=value` and boolean flags; repeated `multi` options collect into arrays. */
function parseArgs(argv, { options = [], flags = [], multi = [] } = {}) {
  const out = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h' || a === '--help') {
      out.help = true;
      continue;
    }
    if (a === '--') {
      out._.push(...argv.slice(i + 1));
      break;
    }
    const m = /^--([a-z][a-z-]*)(?:=([\s\S]*))?$/.exec(a);
    if (!m) {
      if (a.startsWith('--')) throw new UsageError(`unknown argument: ${a}`);
      out._.push(a);
      continue;
    }
    const name = m[1];
    if (flags.includes(name)) {
      if (m[2] !== undefined) throw new UsageError(`--${name} takes no value`);
      out[name] = true;
      continue;
    }
    if (!options.includes(name) && !multi.includes(name)) throw new UsageError(`unknown option: --${name}`);
    let v = m[2];
    if (v === undefined) {
      if (i + 1 >= argv.length) throw new UsageError(`missing value for --${name}`);
      v = argv[++i];
    }
    if (multi.includes(name)) (out[name] ??= []).push(v);
    else out[name] = v;
  }
  return out;
}

function keyFileOf(a) {
  return a['key-file'] ?? DEFAULT_KEY_FILE;
}

function loadKeyForCli(a, { fresh = false } = {}) {
  const key = loadOrCreateKey(keyFileOf(a), { fresh });
  if (key.created) process.stderr.write(`dpop-client: new EC P-256 key saved to ${key.file} (jkt ${key.jkt})\n`);
  return key;
}

function checkUrl(u) {
  let parsed;
  try {
    parsed = new URL(u);
  } catch {
    throw new UsageError(`not an absolute URL: ${u}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new UsageError(`not an http(s) URL: ${u}`);
  return u;
}

async function cliKeygen(argv) {
  const a = parseArgs(argv, { options: ['key-file'], flags: ['new'] });
  if (a.help) return console.log(USAGE);
  if (a._.length) throw new UsageError(`keygen takes no arguments (got ${a._.join(' ')})`);
  const key = loadKeyForCli(a, { fresh: Boolean(a.new) });
  if (!key.created) process.stderr.write(`dpop-client: using the key in ${key.file}\n`);
  process.stdout.write(`${key.jkt}\n`);
  return 0;
}

function tokenOptions(a) {
  const o = { scope: a.scope, sub: a.sub, audience: a.audience };
  if (a['expires-in'] !== undefined) {
    const n = Number(a['expires-in']);
    if (!Number.isInteger(n)) throw new UsageError(`--expires-in must be an integer (got ${a['expires-in']})`);
    o.expiresIn = n;
  }
  return o;
}

async function cliToken(argv) {
  const a = parseArgs(argv, { options: ['key-file', 'issuer-url', 'scope', 'sub', 'audience', 'expires-in'] });
  if (a.help) return console.log(USAGE);
  if (a._.length) throw new UsageError(`token takes no arguments (got ${a._.join(' ')})`);
  const key = loadKeyForCli(a);
  const t = await fetchDpopToken(a['issuer-url'] ?? DEFAULT_ISSUER_URL, { jkt: key.jkt, ...tokenOptions(a) });
  process.stdout.write(`${t.access_token}\n`);
  return 0;
}

async function cliProof(argv) {
  const a = parseArgs(argv, { options: ['key-file', 'token', 'nonce'] });
  if (a.help) return console.log(USAGE);
  if (a._.length !== 2) throw new UsageError('usage: proof <METHOD> <URL> [--token T] [--nonce N]');
  const [method, url] = a._;
  if (!/^[A-Za-z]+$/.test(method)) throw new UsageError(`not an HTTP method: ${method}`);
  checkUrl(url);
  const key = loadKeyForCli(a);
  // htm is case-sensitive (RFC 9449 section 4.3): send the method as typed, as curl -X does.
  process.stdout.write(`${makeProof({ key, htm: method, htu: url, accessToken: a.token, nonce: a.nonce })}\n`);
  return 0;
}

async function cliCall(argv) {
  const a = parseArgs(argv, {
    options: ['key-file', 'issuer-url', 'scope', 'sub', 'audience', 'expires-in', 'method', 'token', 'data'],
    flags: ['verbose'],
    multi: ['header'],
  });
  if (a.help) return console.log(USAGE);
  if (a._.length !== 1) throw new UsageError('usage: call <url> [--method GET] [--issuer-url URL] [--scope ".."]');
  const url = checkUrl(a._[0]);
  const method = a.method ?? 'GET';
  if (!/^[A-Za-z]+$/.test(method)) throw new UsageError(`not an HTTP method: ${method}`);
  const headers = {};
  for (const h of a.header ?? []) {
    const i = h.indexOf(':');
    if (i <= 0) throw new UsageError(`--header must look like "Name: value" (got ${h})`);
    headers[h.slice(0, i).trim()] = h.slice(i + 1).trim();
  }
  const key = loadKeyForCli(a);
  let token = a.token;
  if (token === undefined) {
    token = (await fetchDpopToken(a['issuer-url'] ?? DEFAULT_ISSUER_URL, { jkt: key.jkt, ...tokenOptions(a) })).access_token;
  }
  const log = (line) => process.stderr.write(`${line}\n`);
  if (a.verbose) log(`> ${method} ${url}  (DPoP key jkt ${key.jkt})`);
  let res;
  try {
    res = await callWithDpop(url, { key, token, method, headers, body: a.data });
  } catch (err) {
    throw new Error(`cannot reach ${url} (${causeOf(err)}); is the gateway running?`);
  }
  if (res.attempts > 1) log('dpop-client: the server asked for a DPoP nonce (401 use_dpop_nonce); retried with it');
  const out = [`HTTP ${res.status} ${res.statusText}`.trimEnd()];
  const shown = a.verbose ? [...res.headers.keys()] : ['www-authenticate', 'dpop-nonce', 'retry-after', 'content-type'];
  for (const name of shown) {
    const v = res.headers.get(name);
    if (v !== null) out.push(`${name}: ${v}`);
  }
  out.push('');
  let body = res.body;
  try {
    body = JSON.stringify(JSON.parse(res.body), null, 2);
  } catch {
    // not JSON: print as is
  }
  out.push(body);
  process.stdout.write(`${out.join('\n')}\n`);
  return res.status >= 200 && res.status < 300 ? 0 : 1;
}

if (isMain(import.meta.url)) {
  const [cmd, ...rest] = process.argv.slice(2);
  const commands = { call: cliCall, keygen: cliKeygen, token: cliToken, proof: cliProof };
  let run;
  if (cmd === undefined || cmd === '-h' || cmd === '--help' || cmd === 'help') {
    console.log(USAGE);
    run = Promise.resolve(cmd === undefined ? 2 : 0);
  } else if (!commands[cmd]) {
    run = Promise.reject(new UsageError(`unknown command: ${cmd} (commands: call, keygen, token, proof)`));
  } else {
    run = commands[cmd](rest);
  }
  run.then(
    (code) => {
      process.exitCode = code ?? 0;
    },
    (err) => {
      console.error(`dpop-client: ${err.message}`);
      if (err instanceof UsageError) console.error('(node tools/dpop-client.mjs --help for usage)');
      process.exitCode = err instanceof UsageError ? 2 : 1;
    },
  );
}
