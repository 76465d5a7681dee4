// End-to-end tests of DPoP (RFC 9449) at the gateway under `wrangler dev`, against the local development
// issuer, with proofs made by tools/dpop-client.mjs. Written against the README sections DPoP, Errors and
// Logs and the DPoP settings of README: Configuration: DPOP_MODE, DPOP_IAT_OFFSET_SECONDS, DPOP_IAT_LEEWAY_SECONDS,
// DPOP_NONCE_SECRET, TRUST_PROXY, DPOP_REPLAY_STORE.
//
//   bash scripts/build.sh && node --test tests/e2e/dpop.test.mjs
//
// One issuer; one gateway per configuration (started in parallel on first use, stopped at the end):
// allowed (the default), required (with a narrower iat window), disabled, nonce, trust proxy, durable-object
// replay store, and a separate gateway with a small isolate replay store for the flood. DPOP_FLOOD_COUNT
// (default 2000) sets the number of proofs of the flood, DPOP_FLOOD_CACHE_SIZE (default 1000) the
// DPOP_REPLAY_CACHE_SIZE of that gateway. The nonce gateway uses DPOP_NONCE_LIFETIME_SECONDS=10 so that a
// stale nonce can be tested in seconds.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startIssuer } from '../../tools/dev-issuer.mjs';
import {
  athOf,
  decodeJws,
  generateDpopKey,
  jktOf,
  makeProof,
  verifyProofSignature,
} from '../../tools/dpop-client.mjs';
import { ALGS, assertChallenge, assertError, describeRes, errorChallenge } from './contract.mjs';
import { REPO_ROOT, buildWorker, headerValues, request, startGateway } from './harness.mjs';

const REQUIRED_SCOPE = 'read:messages';
const FLOOD_COUNT = Number(process.env.DPOP_FLOOD_COUNT ?? 2000);
const FLOOD_CACHE_SIZE = Number(process.env.DPOP_FLOOD_CACHE_SIZE ?? 1000);
const NONCE_LIFETIME = 10;
const NONCE_SECRET = crypto.randomBytes(30).toString('base64url'); // 40 characters
assert.equal(NONCE_SECRET.length, 40);

const now = () => Math.floor(Date.now() / 1000);

// P-256 field prime and group order, for hand-made hostile keys and signatures.
const P256_P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const toBig = (buf) => BigInt(`0x${Buffer.from(buf).toString('hex') || '0'}`);
const to32 = (big) => Buffer.from(big.toString(16).padStart(64, '0'), 'hex');

/** The same proof with its ECDSA signature (r, s) replaced by (r, n - s): also valid, a different string. */
function malleate(proof) {
  const [h, p, sig] = proof.split('.');
  const raw = Buffer.from(sig, 'base64url');
  const r = raw.subarray(0, 32);
  const sHigh = P256_N - toBig(raw.subarray(32));
  return `${h}.${p}.${Buffer.concat([r, to32(sHigh)]).toString('base64url')}`;
}

// ------------------------------------------------------------------ gateways (started once, in parallel)

let issuer;
const gateways = {}; // name -> Promise<gateway>
const started = []; // gateways to stop
let setupPromise;

const CONFIGS = {
  allowed: {},
  required: { DPOP_MODE: 'required', DPOP_IAT_OFFSET_SECONDS: '60', DPOP_IAT_LEEWAY_SECONDS: '5' },
  disabled: { DPOP_MODE: 'disabled' },
  nonce: { DPOP_NONCE_SECRET: NONCE_SECRET, DPOP_NONCE_LIFETIME_SECONDS: String(NONCE_LIFETIME) },
  proxy: { TRUST_PROXY: 'true' },
  // DPOP_REPLAY_CACHE_SIZE bounds the isolate store only: a tiny value shows the Durable Object is what is used.
  durable: { DPOP_REPLAY_STORE: 'durable-object', DPOP_REPLAY_CACHE_SIZE: '10' },
  // Proofs expire after two seconds (DPOP_IAT_OFFSET_SECONDS + 1), so the object's alarm fires within the test.
  durableShort: { DPOP_REPLAY_STORE: 'durable-object', DPOP_IAT_OFFSET_SECONDS: '1' },
  flood: { DPOP_REPLAY_CACHE_SIZE: String(FLOOD_CACHE_SIZE) },
};

async function launch(vars) {
  const gw = await startGateway({ vars: { AUTH0_DOMAIN: issuer.domain, AUTH0_AUDIENCE: issuer.audience, ...vars } });
  gw.nonceSecret = vars.DPOP_NONCE_SECRET !== undefined;
  started.push(gw);
  return gw;
}

/**
 * Runs `bash scripts/build.sh` once more before gateways are started late in the file: if the sources changed
 * meanwhile, one build runs here instead of one per `wrangler dev` at the same time.
 */
function rebuild() {
  return new Promise((resolve, reject) => {
    execFile('bash', ['scripts/build.sh'], { cwd: REPO_ROOT, timeout: 20 * 60_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`bash scripts/build.sh failed:\n${stdout}${stderr}`));
      else resolve();
    });
  });
}

/** Starts the issuer, builds the worker and starts every gateway (the first alone, so that any rebuild runs once). */
function setup() {
  setupPromise ??= (async () => {
    issuer = await startIssuer();
    await buildWorker();
    const [first, ...rest] = Object.keys(CONFIGS);
    gateways[first] = launch(CONFIGS[first]);
    gateways[first].catch(() => {});
    await gateways[first].catch(() => {});
    for (const name of rest) {
      gateways[name] = launch(CONFIGS[name]);
      gateways[name].catch(() => {}); // reported by the describe that needs it
    }
  })();
  return setupPromise;
}

/** Resolves the named gateway (starting everything on first use). */
async function gateway(name) {
  await setup();
  return gateways[name];
}

after(async () => {
  await Promise.all(Object.values(gateways).map((p) => p.catch(() => {})));
  await Promise.all(started.map((g) => g.stop()));
  await issuer?.close();
});

// ------------------------------------------------------------------ requests and secrets

/** Every token and proof sent (except the bulk of the flood), for the log checks. */
const sentSecrets = new Set();
/** Responses with a DPoP-Nonce header from a gateway without DPOP_NONCE_SECRET (there must be none). */
const strayNonces = [];
let responsesWithoutNonceSecret = 0;

/**
 * Sends `method path` to `gw` with exactly the given Authorization and DPoP values (undefined: no header;
 * an array of DPoP values: one header line each).
 */
async function send(gw, p, { auth, dpop, method = 'GET', headers = {}, track = true } = {}) {
  const h = { ...headers };
  if (auth !== undefined) h.Authorization = auth;
  if (dpop !== undefined) h.DPoP = dpop;
  if (track) {
    const cred = auth?.replace(/^\S+\s+/, '');
    if (cred) sentSecrets.add(cred);
    for (const d of [dpop].flat()) if (d) sentSecrets.add(d);
  }
  const res = await request(`${gw.url}${p}`, { method, headers: h });
  if (!gw.nonceSecret) {
    responsesWithoutNonceSecret++;
    if (res.headers['dpop-nonce'] !== undefined) strayNonces.push(`${method} ${p} -> ${res.status}`);
  }
  return res;
}

/** A fresh P-256 key and a token bound to it. */
function boundPair({ scope, sub = 'dpop-user', claims, expiresIn } = {}) {
  const key = generateDpopKey();
  const token = issuer.mint({ sub, scope, cnfJkt: key.jkt, claims, expiresIn });
  return { key, token };
}

/**
 * `method path` with `Authorization: DPoP <token>` and a proof (made from `proofOpts` for the request's URL,
 * or the given `proof`). Resolves {res, proof}.
 */
async function dpopCall(gw, p, { key, token, proof, proofOpts = {}, method = 'GET', headers, scheme = 'DPoP' } = {}) {
  const pr = proof ?? makeProof({ key, htm: method, htu: `${gw.url}${p}`, accessToken: token, ...proofOpts });
  const res = await send(gw, p, { auth: `${scheme} ${token}`, dpop: pr, method, headers });
  return { res, proof: pr };
}

// ------------------------------------------------------------------ assertions

/** 401 invalid_dpop_proof with the DPoP challenge. */
function assertBadProof(res, secrets = []) {
  assertError(res, 401, 'invalid_dpop_proof', { secrets, challenge: errorChallenge('invalid_dpop_proof', { scheme: 'DPoP' }) });
}

/** 401 invalid_token with the DPoP challenge. */
function assertDpopInvalidToken(res, secrets = []) {
  assertError(res, 401, 'invalid_token', { secrets, challenge: errorChallenge('invalid_token', { scheme: 'DPoP' }) });
}

function assertOk(res, sub = 'dpop-user') {
  assert.equal(res.status, 200, `expected 200; got ${describeRes(res)}`);
  assert.equal(typeof res.json?.message, 'string', `no message: ${res.text}`);
  assert.equal(res.json.user_id, sub, `user_id: ${res.text}`);
}

/** Runs `fn` over `items` with at most `n` in flight; resolves the results in order. */
async function pool(items, n, fn) {
  const out = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

function runNode(args, { timeoutMs = 30_000 } = {}) {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: REPO_ROOT, timeout: timeoutMs }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

// ================================================================== the tool itself (no gateway)

describe('tools/dpop-client.mjs (self-checks, no gateway)', () => {
  test('jktOf matches the RFC 7638 section 3.1 example and the RFC 9449 examples', () => {
    const rsa = {
      kty: 'RSA',
      n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
      e: 'AQAB',
      alg: 'RS256',
      kid: '2011-04-29',
    };
    assert.equal(jktOf(rsa), 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
    // RFC 9449 section 4.1 (proof jwk) and 6.1 (the token's cnf.jkt for that key).
    const ec = { kty: 'EC', x: 'l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs', y: '9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA', crv: 'P-256' };
    assert.equal(jktOf(ec), '0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I');
    // RFC 9449 section 7.1: ath of the example access token.
    assert.equal(athOf('Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU'), 'fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo');
  });

  test('generateDpopKey: public P-256 JWK without private members, jkt by the RFC 7638 recipe', () => {
    const k = generateDpopKey();
    assert.deepEqual(Object.keys(k.publicJwk).sort(), ['crv', 'kty', 'x', 'y']);
    assert.equal(k.publicJwk.kty, 'EC');
    assert.equal(k.publicJwk.crv, 'P-256');
    assert.equal(k.privateKey.type, 'private');
    // Independent: the canonical string written out by hand.
    const canonical = `{"crv":"P-256","kty":"EC","x":"${k.publicJwk.x}","y":"${k.publicJwk.y}"}`;
    assert.equal(k.jkt, crypto.createHash('sha256').update(canonical).digest('base64url'));
    assert.equal(jktOf({ y: k.publicJwk.y, x: k.publicJwk.x, kid: 'k', crv: 'P-256', use: 'sig', kty: 'EC' }), k.jkt);
    assert.match(k.jkt, /^[A-Za-z0-9_-]{43}$/);
  });

  test('makeProof: header, claims and a JOSE r||s ES256 signature that node:crypto verifies', () => {
    const k = generateDpopKey();
    const token = 'header.payload.signature';
    const before = now();
    const proof = makeProof({ key: k, htm: 'GET', htu: 'https://api.example/x', accessToken: token, nonce: 'n-1' });
    const segs = proof.split('.');
    assert.equal(segs.length, 3);
    for (const s of segs) assert.match(s, /^[A-Za-z0-9_-]+$/, 'base64url without padding');
    const { header, payload } = decodeJws(proof);
    assert.deepEqual(header, { typ: 'dpop+jwt', alg: 'ES256', jwk: k.publicJwk });
    assert.deepEqual(Object.keys(payload).sort(), ['ath', 'htm', 'htu', 'iat', 'jti', 'nonce']);
    assert.equal(payload.htm, 'GET');
    assert.equal(payload.htu, 'https://api.example/x');
    assert.equal(payload.nonce, 'n-1');
    assert.equal(payload.ath, crypto.createHash('sha256').update(token, 'ascii').digest('base64url'));
    assert.ok(payload.iat >= before && payload.iat <= now());
    assert.ok(typeof payload.jti === 'string' && payload.jti.length >= 16);
    const sig = Buffer.from(segs[2], 'base64url');
    assert.equal(sig.length, 64, 'ES256 JOSE signature is 64 bytes');
    const pub = crypto.createPublicKey({ key: header.jwk, format: 'jwk' });
    assert.ok(crypto.verify('sha256', Buffer.from(`${segs[0]}.${segs[1]}`), { key: pub, dsaEncoding: 'ieee-p1363' }, sig));
    assert.ok(verifyProofSignature(proof));
    // Two proofs never share a jti.
    assert.notEqual(decodeJws(makeProof({ key: k, htm: 'GET', htu: 'https://a/' })).payload.jti, payload.jti);
  });

  test('makeProof: no ath without a token, overrides delete members, hostile options', () => {
    const k = generateDpopKey();
    const other = generateDpopKey();
    const plain = decodeJws(makeProof({ key: k, htm: 'POST', htu: 'https://a/b' })).payload;
    assert.deepEqual(Object.keys(plain).sort(), ['htm', 'htu', 'iat', 'jti']);
    const o = decodeJws(makeProof({ key: k, htm: 'GET', htu: 'https://a/', jti: 'fixed', iat: 5, header: { typ: undefined, kid: 'x' }, claims: { htm: undefined, extra: 1 } }));
    assert.deepEqual(o.header, { alg: 'ES256', jwk: k.publicJwk, kid: 'x' });
    assert.deepEqual(o.payload, { jti: 'fixed', htu: 'https://a/', iat: 5, extra: 1 });

    const forged = makeProof({ key: k, signingKey: other, htm: 'GET', htu: 'https://a/' });
    assert.equal(decodeJws(forged).header.jwk.x, k.publicJwk.x, 'the header still shows the claimed key');
    assert.equal(verifyProofSignature(forged), false);

    const der = makeProof({ key: k, htm: 'GET', htu: 'https://a/', dsaEncoding: 'der' });
    const [h, p, s] = der.split('.');
    const derSig = Buffer.from(s, 'base64url');
    assert.equal(derSig[0], 0x30, 'DER SEQUENCE');
    assert.ok(crypto.verify('sha256', Buffer.from(`${h}.${p}`), { key: k.publicKey, dsaEncoding: 'der' }, derSig));
    assert.equal(verifyProofSignature(der), false);

    const raw = makeProof({ key: k, rawHeader: '{"typ":"dpop+jwt","typ":"dpop+jwt"}', rawPayload: '{}', signature: Buffer.alloc(64) });
    const [rh, rp, rs] = raw.split('.');
    assert.equal(Buffer.from(rh, 'base64url').toString(), '{"typ":"dpop+jwt","typ":"dpop+jwt"}');
    assert.equal(Buffer.from(rp, 'base64url').toString(), '{}');
    assert.equal(rs, 'A'.repeat(86));

    const rsa = generateDpopKey({ alg: 'RS256' });
    const rsaProof = makeProof({ key: rsa, htm: 'GET', htu: 'https://a/' });
    assert.equal(decodeJws(rsaProof).header.alg, 'RS256');
    assert.equal(decodeJws(rsaProof).header.jwk.kty, 'RSA');
    const none = makeProof({ key: k, alg: 'none', htm: 'GET', htu: 'https://a/' });
    assert.ok(none.endsWith('.'));

    // The malleated twin of a proof is a valid signature too (node:crypto accepts high-S), and a different string.
    const proof = makeProof({ key: k, htm: 'GET', htu: 'https://a/' });
    const twin = malleate(proof);
    assert.notEqual(twin, proof);
    assert.ok(verifyProofSignature(twin));
  });
});

// ================================================================== DPOP_MODE=allowed (default)

describe('DPOP_MODE=allowed (default): valid DPoP requests', () => {
  let gw;
  before(async () => {
    gw = await gateway('allowed');
  }, { timeout: 30 * 60_000 });

  test('GET /api/private with a bound token and a fresh proof: 200, user_id = sub', async () => {
    const { key, token } = boundPair({ sub: 'auth0|dpop-alice' });
    const { res } = await dpopCall(gw, '/api/private', { key, token });
    assertOk(res, 'auth0|dpop-alice');
  });

  test('GET /api/private-scoped with scope read:messages: 200; with permissions [read:messages]: 200', async () => {
    let pair = boundPair({ scope: `openid ${REQUIRED_SCOPE}` });
    assertOk((await dpopCall(gw, '/api/private-scoped', pair)).res);
    const key = generateDpopKey();
    const token = issuer.mint({ sub: 'dpop-user', cnfJkt: key.jkt, permissions: [REQUIRED_SCOPE] });
    pair = { key, token };
    assertOk((await dpopCall(gw, '/api/private-scoped', pair)).res);
  });

  test('GET /api/public with DPoP credentials: 200 (no auth on the route)', async () => {
    const { key, token } = boundPair();
    const { res } = await dpopCall(gw, '/api/public', { key, token });
    assert.equal(res.status, 200, describeRes(res));
  });

  test('missing scope on the DPoP scheme: 403 insufficient_scope, DPoP challenge with scope', async () => {
    const { key, token } = boundPair({ scope: 'write:messages' });
    const { res, proof } = await dpopCall(gw, '/api/private-scoped', { key, token });
    assertError(res, 403, 'insufficient_scope', { secrets: [token, proof], challenge: `DPoP error="insufficient_scope", scope="${REQUIRED_SCOPE}", ${ALGS}` });
  });

  test('the scheme name is case-insensitive: "dpop" and "DPOP" work', async () => {
    for (const scheme of ['dpop', 'DPOP']) {
      const { key, token } = boundPair();
      const { res } = await dpopCall(gw, '/api/private', { key, token, scheme });
      assertOk(res);
    }
  });

  test('several requests with one key, each with a new proof: all 200 (no false replay)', async () => {
    const { key, token } = boundPair();
    for (let i = 0; i < 5; i++) assertOk((await dpopCall(gw, '/api/private', { key, token })).res);
  });

  test('htu normalisation: upper-case scheme and host, a query, a fragment, on either side: 200', async () => {
    const { key, token } = boundPair();
    const port = new URL(gw.url).port;
    const variants = [
      `HTTP://127.0.0.1:${port}/api/private`,
      `http://127.0.0.1:${port}/api/private?x=1&y=2`,
      `http://127.0.0.1:${port}/api/private#frag`,
      `http://127.0.0.1:${port}/api/private?q#f`,
    ];
    for (const htu of variants) {
      const { res } = await dpopCall(gw, '/api/private', { key, token, proofOpts: { htu } });
      assertOk(res);
    }
    // The request has a query, the proof's htu has none.
    const htu = `${gw.url}/api/private`;
    const { res } = await dpopCall(gw, '/api/private?page=2&sort=asc', { key, token, proofOpts: { htu } });
    assertOk(res);
  });

  test('iat at the edges of the default window (now-280, now+20): 200', async () => {
    const { key, token } = boundPair();
    for (const iat of [now() - 280, now() + 20]) {
      const { res } = await dpopCall(gw, '/api/private', { key, token, proofOpts: { iat } });
      assertOk(res);
    }
  });

  test('iat with a fractional part (a JWT NumericDate may have one): 200', async () => {
    const { key, token } = boundPair();
    const { res } = await dpopCall(gw, '/api/private', { key, token, proofOpts: { iat: Date.now() / 1000 - 1.5 } });
    assertOk(res);
  });

  test('a jwk with extra public members (kid, alg, use) and in another member order: 200', async () => {
    const { key, token } = boundPair();
    const { x, y } = key.publicJwk;
    for (const jwk of [
      { ...key.publicJwk, kid: 'my-key', alg: 'ES256', use: 'sig' },
      { y, x, crv: 'P-256', kty: 'EC' },
    ]) {
      const { res } = await dpopCall(gw, '/api/private', { key, token, proofOpts: { header: { jwk } } });
      assertOk(res);
    }
  });

  test('a nonce claim without DPOP_NONCE_SECRET is ignored, and no DPoP-Nonce header is sent', async () => {
    const { key, token } = boundPair();
    const { res } = await dpopCall(gw, '/api/private', { key, token, proofOpts: { nonce: 'whatever-the-client-says' } });
    assertOk(res);
    assert.equal(res.headers['dpop-nonce'], undefined);
    const { res: bad } = await dpopCall(gw, '/api/private', { key, token, proofOpts: { htm: 'POST' } });
    assertBadProof(bad);
    assert.equal(bad.headers['dpop-nonce'], undefined, 'no DPoP-Nonce on errors either');
  });
});

// ------------------------------------------------------------------ hostile proofs

/**
 * Hostile cases. Each `make(ctx)` gets {gw, htu, key, token} (a fresh key and a token bound to it, for
 * GET /api/private) and returns the request: {dpop, token?} (token defaults to ctx.token).
 */
const HOSTILE = [
  // --- the DPoP header itself
  ['no DPoP header', () => ({ dpop: undefined })],
  ['an empty DPoP header', () => ({ dpop: '' })],
  ['two proofs in one header, comma-joined', (c) => ({ dpop: `${proofFor(c)},${proofFor(c)}` })],
  ['two proofs in one header, ", "-joined', (c) => ({ dpop: `${proofFor(c)}, ${proofFor(c)}` })],
  ['two DPoP header lines', (c) => ({ dpop: [proofFor(c), proofFor(c)] })],
  ['two DPoP header lines, the same proof twice', (c) => {
    const p = proofFor(c);
    return { dpop: [p, p] };
  }],
  ['not a JWS', () => ({ dpop: 'not-a-proof-at-all' })],
  ['two parts', (c) => ({ dpop: proofFor(c).split('.').slice(0, 2).join('.') })],
  ['four parts', (c) => ({ dpop: `${proofFor(c)}.${proofFor(c).split('.')[2]}` })],
  ['a header that is not JSON', (c) => ({ dpop: proofFor(c, { rawHeader: 'not json' }) })],
  ['a payload that is not JSON', (c) => ({ dpop: proofFor(c, { rawPayload: 'not json' }) })],
  ['a payload that is a JSON array', (c) => ({ dpop: proofFor(c, { rawPayload: '[1,2]' }) })],
  ['a compact JWE-looking value (five parts)', (c) => ({ dpop: `${proofFor(c)}.e30.e30` })],
  ['an oversized proof (a 40 KiB claim)', (c) => ({ dpop: proofFor(c, { claims: { pad: 'p'.repeat(40 * 1024) } }) })],

  // --- typ
  ['typ missing', (c) => ({ dpop: proofFor(c, { header: { typ: undefined } }) })],
  ['typ JWT', (c) => ({ dpop: proofFor(c, { header: { typ: 'JWT' } }) })],
  ['typ DPOP+JWT (case)', (c) => ({ dpop: proofFor(c, { header: { typ: 'DPOP+JWT' } }) })],
  ['typ application/dpop+jwt', (c) => ({ dpop: proofFor(c, { header: { typ: 'application/dpop+jwt' } }) })],

  // --- alg
  ['alg RS256 (a valid RSA proof, token bound to the RSA key)', (c) => {
    const rsa = generateDpopKey({ alg: 'RS256' });
    return { dpop: proofFor({ ...c, key: rsa }), token: rebind(c, rsa) };
  }],
  ['alg ES384 (a valid P-384 proof, token bound to it)', (c) => {
    const p384 = generateDpopKey({ alg: 'ES384' });
    return { dpop: proofFor({ ...c, key: p384 }), token: rebind(c, p384) };
  }],
  ['alg EdDSA (a valid Ed25519 proof, token bound to it)', (c) => {
    const ed = generateDpopKey({ alg: 'EdDSA' });
    return { dpop: proofFor({ ...c, key: ed }), token: rebind(c, ed) };
  }],
  ['alg none, empty signature', (c) => ({ dpop: proofFor(c, { alg: 'none' }) })],
  ['alg none, with a valid ES256 signature', (c) => ({ dpop: proofFor(c, { alg: 'none', signAlg: 'ES256' }) })],
  ['alg HS256 (HMAC)', (c) => ({ dpop: proofFor(c, { alg: 'HS256' }) })],
  ['alg HS256, HMAC keyed with the jwk x coordinate', (c) => ({ dpop: proofFor(c, { alg: 'HS256', hmacSecret: c.key.publicJwk.x }) })],
  ['alg missing (valid ES256 signature)', (c) => ({ dpop: proofFor(c, { header: { alg: undefined }, signAlg: 'ES256' }) })],
  ['alg es256 (case)', (c) => ({ dpop: proofFor(c, { header: { alg: 'es256' }, signAlg: 'ES256' }) })],

  // --- jwk
  ['no jwk', (c) => ({ dpop: proofFor(c, { header: { jwk: undefined } }) })],
  ['a jwk with the private member d', (c) => {
    const d = c.key.privateKey.export({ format: 'jwk' }).d;
    return { dpop: proofFor(c, { header: { jwk: { ...c.key.publicJwk, d } } }) };
  }],
  ['a jwk that is a JSON string', (c) => ({ dpop: proofFor(c, { header: { jwk: JSON.stringify(c.key.publicJwk) } }) })],
  ['a jwk without y', (c) => {
    const { y, ...jwk } = c.key.publicJwk;
    return { dpop: proofFor(c, { header: { jwk } }) };
  }],
  ['a jwk with kty RSA under alg ES256 (signed by the EC key)', (c) => {
    const rsa = generateDpopKey({ alg: 'RS256' });
    return { dpop: proofFor(c, { header: { jwk: rsa.publicJwk } }), token: rebind(c, rsa) };
  }],
  ['a jwk with crv P-384 under alg ES256 (SHA-256 signature by that key)', (c) => {
    const p384 = generateDpopKey({ alg: 'ES384' });
    return { dpop: proofFor({ ...c, key: p384 }, { alg: 'ES256' }), token: rebind(c, p384) };
  }],
  ['a symmetric jwk (kty oct)', (c) => {
    const jwk = { kty: 'oct', k: crypto.randomBytes(32).toString('base64url') };
    return { dpop: proofFor(c, { header: { jwk } }), token: issuer.mint({ sub: 'dpop-user', cnfJkt: crypto.createHash('sha256').update(`{"k":"${jwk.k}","kty":"oct"}`).digest('base64url') }) };
  }],
  ['a jwk with x = y = 0 (token bound to it)', (c) => {
    const zero = Buffer.alloc(32).toString('base64url');
    const jwk = { kty: 'EC', crv: 'P-256', x: zero, y: zero };
    return { dpop: proofFor(c, { header: { jwk } }), token: issuer.mint({ sub: 'dpop-user', cnfJkt: jktOf(jwk) }) };
  }],
  ['a jwk with the negated point (x, p - y), signed by the real key (token bound to it)', (c) => {
    const y = to32(P256_P - toBig(Buffer.from(c.key.publicJwk.y, 'base64url'))).toString('base64url');
    const jwk = { ...c.key.publicJwk, y };
    return { dpop: proofFor(c, { header: { jwk } }), token: issuer.mint({ sub: 'dpop-user', cnfJkt: jktOf(jwk) }) };
  }],
  ['a jwk with a 33-byte x (leading zero byte; token bound to it)', (c) => {
    const x = Buffer.concat([Buffer.alloc(1), Buffer.from(c.key.publicJwk.x, 'base64url')]).toString('base64url');
    const jwk = { ...c.key.publicJwk, x };
    return { dpop: proofFor(c, { header: { jwk } }), token: issuer.mint({ sub: 'dpop-user', cnfJkt: jktOf(jwk) }) };
  }],
  ['a jwk with y + p (a non-canonical coordinate over 32 bytes; token bound to it)', (c) => {
    const y = Buffer.from((toBig(Buffer.from(c.key.publicJwk.y, 'base64url')) + P256_P).toString(16).padStart(66, '0'), 'hex').toString('base64url');
    const jwk = { ...c.key.publicJwk, y };
    return { dpop: proofFor(c, { header: { jwk } }), token: issuer.mint({ sub: 'dpop-user', cnfJkt: jktOf(jwk) }) };
  }],
  ['a jwk whose point is not on the curve (token bound to it)', (c) => {
    const y = Buffer.from(c.key.publicJwk.y, 'base64url');
    y[31] ^= 0x01;
    const jwk = { ...c.key.publicJwk, y: y.toString('base64url') };
    return { dpop: proofFor(c, { header: { jwk } }), token: issuer.mint({ sub: 'dpop-user', cnfJkt: jktOf(jwk) }) };
  }],

  // --- signature
  ['signed by another key than the jwk', (c) => ({ dpop: proofFor(c, { signingKey: generateDpopKey() }) })],
  ['a DER-encoded ECDSA signature', (c) => ({ dpop: proofFor(c, { dsaEncoding: 'der' }) })],
  ['r = s = 0', (c) => ({ dpop: proofFor(c, { signature: Buffer.alloc(64) }) })],
  ['r = s = 2^256 - 1 (above the group order)', (c) => ({ dpop: proofFor(c, { signature: Buffer.alloc(64, 0xff) }) })],
  ['an empty signature', (c) => ({ dpop: proofFor(c, { signature: '' }) })],
  ['a valid r with s = 0', (c) => {
    const [h, p, sig] = proofFor(c).split('.');
    return { dpop: `${h}.${p}.${Buffer.concat([Buffer.from(sig, 'base64url').subarray(0, 32), Buffer.alloc(32)]).toString('base64url')}` };
  }],
  ['r = 0 with a valid s', (c) => {
    const [h, p, sig] = proofFor(c).split('.');
    return { dpop: `${h}.${p}.${Buffer.concat([Buffer.alloc(32), Buffer.from(sig, 'base64url').subarray(32)]).toString('base64url')}` };
  }],
  ['s = n (the group order) with a valid r', (c) => {
    const [h, p, sig] = proofFor(c).split('.');
    return { dpop: `${h}.${p}.${Buffer.concat([Buffer.from(sig, 'base64url').subarray(0, 32), to32(P256_N)]).toString('base64url')}` };
  }],
  ['a truncated signature (63 bytes)', (c) => {
    const [h, p, s] = proofFor(c).split('.');
    return { dpop: `${h}.${p}.${Buffer.from(s, 'base64url').subarray(0, 63).toString('base64url')}` };
  }],
  ['a valid signature of another payload', (c) => {
    const [h, p] = proofFor(c).split('.');
    const [, , s] = proofFor(c).split('.');
    return { dpop: `${h}.${p}.${s}` };
  }],
  ['a tampered payload (htm changed after signing)', (c) => {
    const [h, , s] = proofFor(c, { htm: 'POST' }).split('.');
    const p = Buffer.from(JSON.stringify({ ...decodeJws(proofFor(c)).payload })).toString('base64url');
    return { dpop: `${h}.${p}.${s}` };
  }],

  // --- jti
  ['no jti', (c) => ({ dpop: proofFor(c, { claims: { jti: undefined } }) })],
  ['an empty jti', (c) => ({ dpop: proofFor(c, { claims: { jti: '' } }) })],
  ['a numeric jti', (c) => ({ dpop: proofFor(c, { claims: { jti: 12345 } }) })],
  ['a null jti', (c) => ({ dpop: proofFor(c, { claims: { jti: null } }) })],

  // --- htm
  ['htm "get" for GET (case-sensitive)', (c) => ({ dpop: proofFor(c, { htm: 'get' }) })],
  ['htm POST for GET', (c) => ({ dpop: proofFor(c, { htm: 'POST' }) })],
  ['no htm', (c) => ({ dpop: proofFor(c, { claims: { htm: undefined } }) })],
  ['htm as an array', (c) => ({ dpop: proofFor(c, { claims: { htm: ['GET'] } }) })],

  // --- htu
  ['htu of another path', (c) => ({ dpop: proofFor(c, { htu: `${c.gw.url}/api/public` }) })],
  ['htu with another path case (/API/private)', (c) => ({ dpop: proofFor(c, { htu: `${c.gw.url}/API/private` }) })],
  ['htu with a trailing slash', (c) => ({ dpop: proofFor(c, { htu: `${c.gw.url}/api/private/` }) })],
  ['htu with https instead of http', (c) => ({ dpop: proofFor(c, { htu: c.htu.replace(/^http:/, 'https:') }) })],
  ['htu with another port', (c) => {
    const u = new URL(c.htu);
    u.port = String(Number(u.port) === 65535 ? 1 : Number(u.port) + 1);
    return { dpop: proofFor(c, { htu: u.href }) };
  }],
  ['htu with another host (localhost for 127.0.0.1)', (c) => ({ dpop: proofFor(c, { htu: c.htu.replace('127.0.0.1', 'localhost') }) })],
  ['htu relative (/api/private)', (c) => ({ dpop: proofFor(c, { htu: '/api/private' }) })],
  ['htu not a URL', (c) => ({ dpop: proofFor(c, { htu: 'not a url' }) })],
  ['no htu', (c) => ({ dpop: proofFor(c, { claims: { htu: undefined } }) })],
  ['htu as a number', (c) => ({ dpop: proofFor(c, { claims: { htu: 42 } }) })],

  // --- iat
  ['iat 320 s old', (c) => ({ dpop: proofFor(c, { iat: now() - 320 }) })],
  ['iat an hour old', (c) => ({ dpop: proofFor(c, { iat: now() - 3600 }) })],
  ['iat 45 s in the future', (c) => ({ dpop: proofFor(c, { iat: now() + 45 }) })],
  ['iat a day in the future', (c) => ({ dpop: proofFor(c, { iat: now() + 86400 }) })],
  ['no iat', (c) => ({ dpop: proofFor(c, { claims: { iat: undefined } }) })],
  ['iat as a string', (c) => ({ dpop: proofFor(c, { claims: { iat: String(now()) } }) })],

  // --- ath
  ['no ath', (c) => ({ dpop: proofFor(c, { accessToken: undefined }) })],
  ['ath of another token', (c) => ({ dpop: proofFor(c, { accessToken: issuer.mint({ cnfJkt: c.key.jkt }) }) })],
  ['ath with base64 padding', (c) => ({ dpop: proofFor(c, { claims: { ath: `${athOf(c.token)}=` } }) })],
  ['ath in standard base64', (c) => ({ dpop: proofFor(c, { claims: { ath: crypto.createHash('sha256').update(c.token).digest('base64') } }) })],
  ['ath in hex', (c) => ({ dpop: proofFor(c, { claims: { ath: crypto.createHash('sha256').update(c.token).digest('hex') } }) })],
  ['ath over "DPoP <token>"', (c) => ({ dpop: proofFor(c, { claims: { ath: athOf(`DPoP ${c.token}`) } }) })],

  // --- duplicate JSON members
  ['a duplicate typ in the header (same value)', (c) => ({ dpop: proofFor(c, { rawHeader: rawHeader(c, '"typ":"dpop+jwt","typ":"dpop+jwt"') }) })],
  ['a duplicate alg in the header (none, then ES256)', (c) => ({ dpop: proofFor(c, { rawHeader: rawHeader(c, '"typ":"dpop+jwt","alg":"none"'), signAlg: 'ES256' }) })],
  ['a duplicate alg in the header (ES256, then none)', (c) => ({ dpop: proofFor(c, { rawHeader: rawHeader(c, '"typ":"dpop+jwt","alg":"ES256","alg":"none"', { alg: false }), signAlg: 'ES256' }) })],
  ['a duplicate jwk in the header (another key first)', (c) => {
    const other = JSON.stringify(generateDpopKey().publicJwk);
    return { dpop: proofFor(c, { rawHeader: rawHeader(c, `"typ":"dpop+jwt","jwk":${other}`) }) };
  }],
  ['a duplicate x in the jwk (same value)', (c) => ({ dpop: proofFor(c, { rawHeader: rawHeader(c, '"typ":"dpop+jwt"', { jwk: jwkWithDuplicate(c, 'x', c.key.publicJwk.x) }) }) })],
  ['a duplicate x in the jwk (another value first)', (c) => ({ dpop: proofFor(c, { rawHeader: rawHeader(c, '"typ":"dpop+jwt"', { jwk: jwkWithDuplicate(c, 'x', generateDpopKey().publicJwk.x) }) }) })],
  ['a duplicate crv in the jwk (P-384 first)', (c) => ({ dpop: proofFor(c, { rawHeader: rawHeader(c, '"typ":"dpop+jwt"', { jwk: jwkWithDuplicate(c, 'crv', 'P-384') }) }) })],
  ['a duplicate kty in the jwk (RSA first)', (c) => ({ dpop: proofFor(c, { rawHeader: rawHeader(c, '"typ":"dpop+jwt"', { jwk: jwkWithDuplicate(c, 'kty', 'RSA') }) }) })],
];

/** A proof for ctx's request (GET ctx.htu, ath of ctx.token) with option overrides. */
function proofFor(c, opts = {}) {
  return makeProof({ key: c.key, htm: 'GET', htu: c.htu, accessToken: c.token, ...opts });
}

/** A token like ctx.token but bound to `key`. */
function rebind(c, key) {
  return issuer.mint({ sub: 'dpop-user', cnfJkt: key.jkt });
}

/**
 * Raw proof-header JSON: `prefix` members first, then alg (unless alg:false) and jwk (raw JSON text or the key's).
 * E.g. rawHeader(c, '"typ":"dpop+jwt","typ":"dpop+jwt"') has a duplicate typ.
 */
function rawHeader(c, prefix, { alg = true, jwk } = {}) {
  const members = [prefix];
  if (alg) members.push('"alg":"ES256"');
  members.push(`"jwk":${jwk ?? JSON.stringify(c.key.publicJwk)}`);
  return `{${members.join(',')}}`;
}

/** The key's jwk as JSON text with `member` appearing twice: first with `firstValue`, then the real value. */
function jwkWithDuplicate(c, member, firstValue) {
  const jwk = c.key.publicJwk;
  const rest = Object.entries(jwk).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`);
  return `{${JSON.stringify(member)}:${JSON.stringify(firstValue)},${rest.join(',')}}`;
}

describe('DPOP_MODE=allowed: hostile proofs answer 401 invalid_dpop_proof with the DPoP challenge', () => {
  let gw;
  before(async () => {
    gw = await gateway('allowed');
  }, { timeout: 30 * 60_000 });

  for (const [name, make] of HOSTILE) {
    test(name, async (t) => {
      const key = generateDpopKey();
      const token = issuer.mint({ sub: 'dpop-user', cnfJkt: key.jkt });
      const ctx = { gw, htu: `${gw.url}/api/private`, key, token };
      const req = make(ctx);
      const tok = req.token ?? token;
      const res = await send(gw, '/api/private', { auth: `DPoP ${tok}`, dpop: req.dpop });
      assertBadProof(res, [tok, ...[req.dpop].flat()]);
      t.diagnostic(res.json.detail.error_description);
    });
  }

  // From a key's second verified proof on, the isolate verifies its proofs with the key prepared (README
  // "DPoP"). The same hostile proofs by such a key are refused alike, and its next valid proof passes.
  describe('by a key whose proofs verified before (prepared)', () => {
    let key;
    let token;
    test('two valid proofs, the second with the key prepared', async () => {
      key = generateDpopKey();
      token = issuer.mint({ sub: 'dpop-user', cnfJkt: key.jkt });
      for (let i = 0; i < 2; i++) {
        const { res } = await dpopCall(gw, '/api/private', { key, token });
        assert.equal(res.status, 200, res.text);
      }
    });
    for (const [name, make] of HOSTILE) {
      test(name, async () => {
        const ctx = { gw, htu: `${gw.url}/api/private`, key, token };
        const req = make(ctx);
        const tok = req.token ?? token;
        const res = await send(gw, '/api/private', { auth: `DPoP ${tok}`, dpop: req.dpop });
        assertBadProof(res, [tok, ...[req.dpop].flat()]);
        const next = await dpopCall(gw, '/api/private', { key, token });
        assert.equal(next.res.status, 200, next.res.text);
      });
    }
  });
});

describe('DPOP_MODE=allowed: token problems on the DPoP scheme answer 401 invalid_token with the DPoP challenge', () => {
  let gw;
  before(async () => {
    gw = await gateway('allowed');
  }, { timeout: 30 * 60_000 });

  test('cnf.jkt of another key (a valid proof by this key)', async () => {
    const key = generateDpopKey();
    const token = issuer.mint({ sub: 'dpop-user', cnfJkt: generateDpopKey().jkt });
    const { res, proof } = await dpopCall(gw, '/api/private', { key, token });
    assertDpopInvalidToken(res, [token, proof]);
  });

  test('a token without cnf on the DPoP scheme', async () => {
    const key = generateDpopKey();
    const token = issuer.mint({ sub: 'dpop-user' });
    const { res, proof } = await dpopCall(gw, '/api/private', { key, token });
    assertDpopInvalidToken(res, [token, proof]);
  });

  test('a token whose cnf has no jkt (cnf: {"x5t#S256": ...})', async () => {
    const key = generateDpopKey();
    const token = issuer.mint({ sub: 'dpop-user', claims: { cnf: { 'x5t#S256': key.jkt } } });
    const { res, proof } = await dpopCall(gw, '/api/private', { key, token });
    assertDpopInvalidToken(res, [token, proof]);
  });

  test('an expired bound token with a valid proof', async () => {
    const key = generateDpopKey();
    const token = issuer.mint({ sub: 'dpop-user', cnfJkt: key.jkt, claims: { iat: now() - 7200, exp: now() - 60 } });
    const { res, proof } = await dpopCall(gw, '/api/private', { key, token });
    assertDpopInvalidToken(res, [token, proof]);
  });

  test('a garbage token with a valid proof (ath matching it)', async () => {
    const key = generateDpopKey();
    const token = 'this-is-definitely-not-a-jwt-0123456789';
    const { res, proof } = await dpopCall(gw, '/api/private', { key, token });
    assertDpopInvalidToken(res, [token, proof]);
  });

  test('a bound token signed by a key the issuer never published', async () => {
    const key = generateDpopKey();
    const k = issuer.newKey();
    const token = issuer.mint({ sub: 'dpop-user', cnfJkt: key.jkt, key: k.privateKey, header: { kid: k.kid } });
    const { res, proof } = await dpopCall(gw, '/api/private', { key, token });
    assertDpopInvalidToken(res, [token, proof]);
  });
});

describe('DPOP_MODE=allowed: Bearer and DPoP mixed', () => {
  let gw;
  before(async () => {
    gw = await gateway('allowed');
  }, { timeout: 30 * 60_000 });

  test('a bound token (cnf.jkt) presented as Bearer: 401 invalid_token, Bearer challenge (downgrade refused)', async () => {
    const { token } = boundPair();
    const res = await send(gw, '/api/private', { auth: `Bearer ${token}` });
    assertError(res, 401, 'invalid_token', { secrets: [token], challenge: errorChallenge('invalid_token') });
  });

  test('a bound token as Bearer even with a valid proof: 401 invalid_token', async () => {
    const { key, token } = boundPair();
    const { res, proof } = await dpopCall(gw, '/api/private', { key, token, scheme: 'Bearer' });
    assert.ok([400, 401].includes(res.status), describeRes(res));
    assertError(res, res.status, res.status === 401 ? 'invalid_token' : 'invalid_request', { secrets: [token, proof] });
  });

  test('a Bearer request carrying a DPoP header: 400 invalid_request', async () => {
    const key = generateDpopKey();
    const token = issuer.mint({ sub: 'dpop-user' });
    const proof = makeProof({ key, htm: 'GET', htu: `${gw.url}/api/private`, accessToken: token });
    const res = await send(gw, '/api/private', { auth: `Bearer ${token}`, dpop: proof });
    assertError(res, 400, 'invalid_request', { secrets: [token, proof], challenge: errorChallenge('invalid_request') });
  });

  test('a plain Bearer token still works: 200, no DPoP-Nonce', async () => {
    const token = issuer.mint({ sub: 'bearer-user' });
    const res = await send(gw, '/api/private', { auth: `Bearer ${token}` });
    assertOk(res, 'bearer-user');
    assert.equal(res.headers['dpop-nonce'], undefined);
  });

  test('no credentials: 401 unauthorized with both challenges', async () => {
    const res = await send(gw, '/api/private');
    assertError(res, 401, 'unauthorized', { challenge: `Bearer realm="api", DPoP ${ALGS}` });
  });

  test('"DPoP" with no token: 400 invalid_request', async () => {
    const key = generateDpopKey();
    const proof = makeProof({ key, htm: 'GET', htu: `${gw.url}/api/private` });
    const res = await send(gw, '/api/private', { auth: 'DPoP', dpop: proof });
    assertError(res, 400, 'invalid_request', { secrets: [proof] });
  });
});

describe('DPOP_MODE=allowed: replay (isolate store)', () => {
  let gw;
  before(async () => {
    gw = await gateway('allowed');
  }, { timeout: 30 * 60_000 });

  test('the same proof twice: 200, then 401 invalid_dpop_proof', async () => {
    const { key, token } = boundPair();
    const { res: first, proof } = await dpopCall(gw, '/api/private', { key, token });
    assertOk(first);
    const { res: second } = await dpopCall(gw, '/api/private', { token, proof });
    assertBadProof(second, [token, proof]);
    const { res: third } = await dpopCall(gw, '/api/private', { token, proof });
    assertBadProof(third, [token, proof]);
  });

  test('the accepted proof with its signature malleated to (r, n - s): still refused', async () => {
    const { key, token } = boundPair();
    const { res: first, proof } = await dpopCall(gw, '/api/private', { key, token });
    assertOk(first);
    const twin = malleate(proof);
    assert.notEqual(twin, proof);
    const { res } = await dpopCall(gw, '/api/private', { token, proof: twin });
    assertBadProof(res, [token, proof, twin]);
  });

  test('the same jti in a new proof by the same key (another iat): 401', async () => {
    const { key, token } = boundPair();
    const jti = crypto.randomUUID();
    assertOk((await dpopCall(gw, '/api/private', { key, token, proofOpts: { jti, iat: now() - 5 } })).res);
    const { res, proof } = await dpopCall(gw, '/api/private', { key, token, proofOpts: { jti } });
    assertBadProof(res, [token, proof]);
  });

  test('the same jti from another key is not a replay (the key is the thumbprint + jti): 200', async () => {
    const jti = crypto.randomUUID();
    for (let i = 0; i < 2; i++) {
      const { key, token } = boundPair();
      assertOk((await dpopCall(gw, '/api/private', { key, token, proofOpts: { jti } })).res);
    }
  });

  test('a replay on another route with the same proof is still refused', async () => {
    const { key, token } = boundPair({ scope: REQUIRED_SCOPE });
    const { res: first, proof } = await dpopCall(gw, '/api/private', { key, token });
    assertOk(first);
    const { res } = await dpopCall(gw, '/api/private-scoped', { token, proof });
    assertBadProof(res, [token, proof]);
  });

  test('two concurrent requests with the same proof: exactly one 200', async () => {
    const { key, token } = boundPair();
    const proof = makeProof({ key, htm: 'GET', htu: `${gw.url}/api/private`, accessToken: token });
    const results = await Promise.all([0, 1].map(() => dpopCall(gw, '/api/private', { token, proof })));
    const statuses = results.map((r) => r.res.status).sort();
    assert.deepEqual(statuses, [200, 401], `statuses ${statuses}`);
    assertBadProof(results.find((r) => r.res.status === 401).res, [token, proof]);
  });
});

// ================================================================== DPOP_MODE=required (iat window 60 s back, 5 s ahead)

describe('DPOP_MODE=required (DPOP_IAT_OFFSET_SECONDS=60, DPOP_IAT_LEEWAY_SECONDS=5)', () => {
  let gw;
  before(async () => {
    gw = await gateway('required');
  }, { timeout: 30 * 60_000 });

  test('a valid DPoP request: 200 (private and private-scoped)', async () => {
    const { key, token } = boundPair({ scope: REQUIRED_SCOPE });
    assertOk((await dpopCall(gw, '/api/private', { key, token })).res);
    assertOk((await dpopCall(gw, '/api/private-scoped', { key, token })).res);
  });

  test('a Bearer request (valid unbound token): 401 unauthorized, exactly DPoP algs="ES256"', async () => {
    const token = issuer.mint({ sub: 'bearer-user' });
    const res = await send(gw, '/api/private', { auth: `Bearer ${token}` });
    assertError(res, 401, 'unauthorized', { secrets: [token], challenge: `DPoP ${ALGS}` });
  });

  test('a Bearer request with a bound token: 401 unauthorized, exactly DPoP algs="ES256"', async () => {
    const { token } = boundPair();
    const res = await send(gw, '/api/private', { auth: `Bearer ${token}` });
    assertError(res, 401, 'unauthorized', { secrets: [token], challenge: `DPoP ${ALGS}` });
  });

  test('no credentials: 401 unauthorized, exactly DPoP algs="ES256"', async () => {
    const res = await send(gw, '/api/private');
    assertError(res, 401, 'unauthorized', { challenge: `DPoP ${ALGS}` });
  });

  test('an unsupported scheme (Basic): 401 unauthorized, exactly DPoP algs="ES256"', async () => {
    const res = await send(gw, '/api/private', { auth: 'Basic dXNlcjpwYXNz' });
    assertError(res, 401, 'unauthorized', { secrets: ['dXNlcjpwYXNz'], challenge: `DPoP ${ALGS}` });
  });

  test('no DPoP header: 401 invalid_dpop_proof', async () => {
    const { token } = boundPair();
    const res = await send(gw, '/api/private', { auth: `DPoP ${token}` });
    assertBadProof(res, [token]);
  });

  test('missing scope: 403 insufficient_scope with the DPoP challenge', async () => {
    const { key, token } = boundPair({ scope: 'write:messages' });
    const { res, proof } = await dpopCall(gw, '/api/private-scoped', { key, token });
    assertError(res, 403, 'insufficient_scope', { secrets: [token, proof], challenge: `DPoP error="insufficient_scope", scope="${REQUIRED_SCOPE}", ${ALGS}` });
  });

  test('an expired token: 401 invalid_token with the DPoP challenge', async () => {
    const key = generateDpopKey();
    const token = issuer.mint({ sub: 'dpop-user', cnfJkt: key.jkt, claims: { iat: now() - 7200, exp: now() - 60 } });
    const { res, proof } = await dpopCall(gw, '/api/private', { key, token });
    assertDpopInvalidToken(res, [token, proof]);
  });

  test('a replayed proof: 401 invalid_dpop_proof', async () => {
    const { key, token } = boundPair();
    const { res, proof } = await dpopCall(gw, '/api/private', { key, token });
    assertOk(res);
    assertBadProof((await dpopCall(gw, '/api/private', { token, proof })).res, [token, proof]);
  });

  test('the configured iat window: now-40 and now+2 pass; now-90 and now+15 fail', async () => {
    const { key, token } = boundPair();
    for (const iat of [now() - 40, now() + 2]) {
      assertOk((await dpopCall(gw, '/api/private', { key, token, proofOpts: { iat } })).res);
    }
    for (const iat of [now() - 90, now() + 15]) {
      const { res, proof } = await dpopCall(gw, '/api/private', { key, token, proofOpts: { iat } });
      assertBadProof(res, [token, proof]);
    }
  });
});

// ================================================================== DPOP_MODE=disabled

describe('DPOP_MODE=disabled', () => {
  let gw;
  before(async () => {
    gw = await gateway('disabled');
  }, { timeout: 30 * 60_000 });

  test('a DPoP-scheme request (valid proof): 401 unauthorized, exactly Bearer realm="api"', async () => {
    const { key, token } = boundPair();
    const { res, proof } = await dpopCall(gw, '/api/private', { key, token });
    assertError(res, 401, 'unauthorized', { secrets: [token, proof], challenge: 'Bearer realm="api"' });
  });

  test('a bound token (cnf.jkt) as Bearer: 200', async () => {
    const { token } = boundPair();
    assertOk(await send(gw, '/api/private', { auth: `Bearer ${token}` }));
  });

  test('a bound token as Bearer with a stray DPoP header (valid proof): 200, the header is ignored', async () => {
    const { key, token } = boundPair();
    const { res } = await dpopCall(gw, '/api/private', { key, token, scheme: 'Bearer' });
    assertOk(res);
  });

  test('an unbound Bearer token with a garbage DPoP header: 200', async () => {
    const token = issuer.mint({ sub: 'dpop-user' });
    assertOk(await send(gw, '/api/private', { auth: `Bearer ${token}`, dpop: 'garbage' }));
  });

  test('no credentials: 401 unauthorized, exactly Bearer realm="api"', async () => {
    const res = await send(gw, '/api/private');
    assertError(res, 401, 'unauthorized', { challenge: 'Bearer realm="api"' });
  });

  test('an expired Bearer token: 401 invalid_token, Bearer challenge only', async () => {
    const token = issuer.mint({ sub: 'dpop-user', claims: { iat: now() - 7200, exp: now() - 60 } });
    const res = await send(gw, '/api/private', { auth: `Bearer ${token}` });
    assertError(res, 401, 'invalid_token', { secrets: [token], challenge: errorChallenge('invalid_token', { mode: 'disabled' }) });
  });

  test('missing scope: 403 with the Bearer challenge only', async () => {
    const token = issuer.mint({ sub: 'dpop-user', scope: 'write:messages' });
    const res = await send(gw, '/api/private-scoped', { auth: `Bearer ${token}` });
    assertError(res, 403, 'insufficient_scope', { secrets: [token] });
    const www = assertChallenge(res, /^Bearer realm="api", error="insufficient_scope"/);
    assert.ok(!/DPoP/.test(www), www);
    assert.ok(www.includes(`scope="${REQUIRED_SCOPE}"`), www);
  });
});

// ================================================================== server nonces (DPOP_NONCE_SECRET)

/** A nonce obtained early (and when), for the stale-nonce test near the end of the file. */
let earlyNonce;

function assertNonceChallenge(res, secrets) {
  assertError(res, 401, 'use_dpop_nonce', { secrets, challenge: errorChallenge('use_dpop_nonce', { scheme: 'DPoP' }) });
  const nonces = headerValues(res, 'dpop-nonce');
  assert.equal(nonces.length, 1, `exactly one DPoP-Nonce header: ${describeRes(res)}`);
  assert.match(nonces[0], /^[\x21\x23-\x5B\x5D-\x7E]+$/, 'the nonce is NQCHAR (RFC 9449 section 8)');
  assert.ok(!nonces[0].includes(NONCE_SECRET), 'the nonce does not contain the secret');
  return nonces[0];
}

describe(`server nonces (DPOP_NONCE_SECRET set, DPOP_NONCE_LIFETIME_SECONDS=${NONCE_LIFETIME})`, () => {
  let gw;
  before(async () => {
    gw = await gateway('nonce');
    const { key, token } = boundPair();
    const res = await send(gw, '/api/private', { auth: `DPoP ${token}`, dpop: makeProof({ key, htm: 'GET', htu: `${gw.url}/api/private`, accessToken: token }) });
    earlyNonce = { value: res.headers['dpop-nonce'], at: Date.now() };
  }, { timeout: 30 * 60_000 });

  test('a proof without nonce: 401 use_dpop_nonce with a DPoP-Nonce; retried with it: 200 with a DPoP-Nonce', async () => {
    const { key, token } = boundPair();
    const { res, proof } = await dpopCall(gw, '/api/private', { key, token });
    const nonce = assertNonceChallenge(res, [token, proof]);
    const { res: ok } = await dpopCall(gw, '/api/private', { key, token, proofOpts: { nonce } });
    assertOk(ok);
    assert.ok(ok.headers['dpop-nonce'], `a successful response carries DPoP-Nonce: ${describeRes(ok)}`);
  });

  test('the nonce from a 200 works for the next request', async () => {
    const { key, token } = boundPair();
    const nonce = assertNonceChallenge((await dpopCall(gw, '/api/private', { key, token })).res, [token]);
    const { res: ok } = await dpopCall(gw, '/api/private', { key, token, proofOpts: { nonce } });
    assertOk(ok);
    const next = ok.headers['dpop-nonce'];
    assertOk((await dpopCall(gw, '/api/private', { key, token, proofOpts: { nonce: next } })).res);
  });

  test('a made-up nonce: 401 use_dpop_nonce', async () => {
    const { key, token } = boundPair();
    const { res, proof } = await dpopCall(gw, '/api/private', { key, token, proofOpts: { nonce: 'made-up-nonce-1234567890' } });
    assertNonceChallenge(res, [token, proof]);
  });

  test('a tampered nonce (one character changed): 401 use_dpop_nonce', async () => {
    const { key, token } = boundPair();
    const nonce = assertNonceChallenge((await dpopCall(gw, '/api/private', { key, token })).res, [token]);
    const i = Math.floor(nonce.length / 2);
    const tampered = nonce.slice(0, i) + (nonce[i] === 'A' ? 'B' : 'A') + nonce.slice(i + 1);
    const { res, proof } = await dpopCall(gw, '/api/private', { key, token, proofOpts: { nonce: tampered } });
    assertNonceChallenge(res, [token, proof]);
  });

  test('a nonce that is not a string: 401 (use_dpop_nonce or invalid_dpop_proof)', async () => {
    const { key, token } = boundPair();
    const { res, proof } = await dpopCall(gw, '/api/private', { key, token, proofOpts: { claims: { nonce: 12345 } } });
    assert.equal(res.status, 401, describeRes(res));
    assert.ok(['use_dpop_nonce', 'invalid_dpop_proof'].includes(res.json?.detail?.error), describeRes(res));
    assertError(res, 401, res.json.detail.error, { secrets: [token, proof] });
  });

  test('a nonce round trip through tools/dpop-client.mjs call (issuer token endpoint, retry with the nonce)', async () => {
    const keyFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'dpop-cli-')), 'key.pem');
    const r = await runNode(['tools/dpop-client.mjs', 'call', `${gw.url}/api/private-scoped`, '--issuer-url', issuer.domain, '--scope', REQUIRED_SCOPE, '--key-file', keyFile]);
    assert.equal(r.code, 0, `exit ${r.code}\nstdout ${r.stdout}\nstderr ${r.stderr}`);
    assert.match(r.stdout, /^HTTP 200\b/);
    assert.match(r.stdout, /^dpop-nonce: \S+$/m);
    assert.match(r.stderr, /nonce/i);
    fs.rmSync(path.dirname(keyFile), { recursive: true, force: true });
  });

  test('Bearer requests are not affected by nonces: 200', async () => {
    const token = issuer.mint({ sub: 'bearer-user' });
    assertOk(await send(gw, '/api/private', { auth: `Bearer ${token}` }), 'bearer-user');
  });
});

// ================================================================== TRUST_PROXY

describe('TRUST_PROXY=true: htu is checked against the forwarded URL', () => {
  let gw;
  let plain;
  before(async () => {
    gw = await gateway('proxy');
    plain = await gateway('allowed');
  }, { timeout: 30 * 60_000 });

  const PUBLIC = 'https://api.example.com/api/private';
  const FWD = { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'api.example.com' };

  test('the public htu with X-Forwarded-Proto/Host: 200', async () => {
    const { key, token } = boundPair();
    assertOk((await dpopCall(gw, '/api/private', { key, token, headers: FWD, proofOpts: { htu: PUBLIC } })).res);
  });

  test('the same request on a gateway without TRUST_PROXY: 401 invalid_dpop_proof (htu mismatch)', async () => {
    const { key, token } = boundPair();
    const { res, proof } = await dpopCall(plain, '/api/private', { key, token, headers: FWD, proofOpts: { htu: PUBLIC } });
    assertBadProof(res, [token, proof]);
  });

  test('without TRUST_PROXY the forwarded headers are ignored: the gateway URL as htu, 200', async () => {
    const { key, token } = boundPair();
    assertOk((await dpopCall(plain, '/api/private', { key, token, headers: FWD })).res);
  });

  test('with forwarded headers, the internal URL as htu: 401 invalid_dpop_proof', async () => {
    const { key, token } = boundPair();
    const { res, proof } = await dpopCall(gw, '/api/private', { key, token, headers: FWD });
    assertBadProof(res, [token, proof]);
  });

  test('no forwarded headers: the request URL is used, 200', async () => {
    const { key, token } = boundPair();
    assertOk((await dpopCall(gw, '/api/private', { key, token })).res);
  });

  test('default port and case normalisation: X-Forwarded-Host with :443 or upper case, htu with :443: 200', async () => {
    const cases = [
      [{ 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'api.example.com:443' }, PUBLIC],
      [{ 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'API.Example.COM' }, PUBLIC],
      [FWD, 'https://api.example.com:443/api/private'],
      [{ 'X-Forwarded-Proto': 'http', 'X-Forwarded-Host': 'api.example.com:80' }, 'http://api.example.com/api/private'],
    ];
    for (const [headers, htu] of cases) {
      const { key, token } = boundPair();
      const { res } = await dpopCall(gw, '/api/private', { key, token, headers, proofOpts: { htu } });
      assert.equal(res.status, 200, `${JSON.stringify(headers)} htu ${htu}: ${describeRes(res)}`);
    }
  });

  test('a non-default forwarded port is significant: 401 when htu omits it', async () => {
    const { key, token } = boundPair();
    const headers = { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'api.example.com:8443' };
    const { res, proof } = await dpopCall(gw, '/api/private', { key, token, headers, proofOpts: { htu: PUBLIC } });
    assertBadProof(res, [token, proof]);
    const { key: k2, token: t2 } = boundPair();
    assertOk((await dpopCall(gw, '/api/private', { key: k2, token: t2, headers, proofOpts: { htu: 'https://api.example.com:8443/api/private' } })).res);
  });

  test('a list in X-Forwarded-Host: the first value is used', async () => {
    const { key, token } = boundPair();
    const headers = { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'api.example.com, internal.example' };
    assertOk((await dpopCall(gw, '/api/private', { key, token, headers, proofOpts: { htu: PUBLIC } })).res);
  });

  test('a list in X-Forwarded-Proto: the first value is used', async () => {
    const { key, token } = boundPair();
    const headers = { 'X-Forwarded-Proto': 'https, http', 'X-Forwarded-Host': 'api.example.com' };
    assertOk((await dpopCall(gw, '/api/private', { key, token, headers, proofOpts: { htu: PUBLIC } })).res);
  });

  test('X-Forwarded-Proto other than http/https is never taken: an ftp:// htu is refused', async () => {
    const { key, token } = boundPair();
    const headers = { 'X-Forwarded-Proto': 'ftp', 'X-Forwarded-Host': 'api.example.com' };
    const { res } = await dpopCall(gw, '/api/private', { key, token, headers, proofOpts: { htu: 'ftp://api.example.com/api/private' } });
    assert.notEqual(res.status, 200, describeRes(res));
    assert.ok([400, 401].includes(res.status), describeRes(res));
  });
});

// ================================================================== DPOP_REPLAY_STORE=durable-object

describe('DPOP_REPLAY_STORE=durable-object (DPOP_REPLAY_CACHE_SIZE=10, which bounds the isolate store only)', () => {
  let gw;
  before(async () => {
    gw = await gateway('durable');
  }, { timeout: 30 * 60_000 });

  test('a valid proof: 200; the same proof again: 401 invalid_dpop_proof', async () => {
    const { key, token } = boundPair();
    const { res, proof } = await dpopCall(gw, '/api/private', { key, token });
    assertOk(res);
    assertBadProof((await dpopCall(gw, '/api/private', { token, proof })).res, [token, proof]);
  });

  test('two concurrent requests with the same proof: exactly one 200 and one 401', async () => {
    const { key, token } = boundPair();
    const proof = makeProof({ key, htm: 'GET', htu: `${gw.url}/api/private`, accessToken: token });
    const results = await Promise.all([0, 1].map(() => dpopCall(gw, '/api/private', { token, proof })));
    const statuses = results.map((r) => r.res.status).sort();
    assert.deepEqual(statuses, [200, 401], `statuses ${statuses}`);
    assertBadProof(results.find((r) => r.res.status === 401).res, [token, proof]);
  });

  test('eight concurrent requests with the same proof: exactly one 200', async () => {
    const { key, token } = boundPair();
    const proof = makeProof({ key, htm: 'GET', htu: `${gw.url}/api/private`, accessToken: token });
    const results = await Promise.all(Array.from({ length: 8 }, () => dpopCall(gw, '/api/private', { token, proof })));
    const statuses = results.map((r) => r.res.status);
    assert.equal(statuses.filter((s) => s === 200).length, 1, `statuses ${statuses}`);
    for (const r of results) if (r.res.status !== 200) assertBadProof(r.res, [token, proof]);
  });

  test('the Durable Object is what records proofs: 15 keys x 2 proofs all 200 (an isolate store of 10 would refuse)', async () => {
    for (let i = 0; i < 15; i++) {
      const { key, token } = boundPair();
      for (let j = 0; j < 2; j++) assertOk((await dpopCall(gw, '/api/private', { key, token })).res);
    }
  });

  test('concurrent distinct proofs of one key: all 200', async () => {
    const { key, token } = boundPair();
    const results = await Promise.all(Array.from({ length: 8 }, () => dpopCall(gw, '/api/private', { key, token })));
    for (const r of results) assertOk(r.res);
  });

  test('the same jti in a new proof: 401; the same jti from another key: 200', async () => {
    const { key, token } = boundPair();
    const jti = crypto.randomUUID();
    assertOk((await dpopCall(gw, '/api/private', { key, token, proofOpts: { jti, iat: now() - 5 } })).res);
    assertBadProof((await dpopCall(gw, '/api/private', { key, token, proofOpts: { jti } })).res, [token]);
    const other = boundPair();
    assertOk((await dpopCall(gw, '/api/private', { ...other, proofOpts: { jti } })).res);
  });
});

describe('DPOP_REPLAY_STORE=durable-object: the alarm that sweeps expired proofs (DPOP_IAT_OFFSET_SECONDS=1)', () => {
  let gw;
  before(async () => {
    gw = await gateway('durableShort');
  }, { timeout: 30 * 60_000 });

  test('the alarm runs without an error, finds the later proof still live, and the object keeps answering', async () => {
    const { key, token } = boundPair();
    // The first record sets the object's alarm at its expiry; the second, a second later, is still live when
    // that alarm runs, so the alarm reads the earliest expiry left and sets itself again.
    assertOk((await dpopCall(gw, '/api/private', { key, token })).res);
    await sleep(1100);
    assertOk((await dpopCall(gw, '/api/private', { key, token })).res);
    await sleep(4000);
    // workerd reports a failed alarm on its own output; the gateway's JSON log lines are not reports.
    const errors = gw.logs().filter((line) => !line.trim().startsWith('{') && /alarm|uncaught|exception/i.test(line));
    assert.deepEqual(errors, [], 'the Durable Object logged an error');
    assertOk((await dpopCall(gw, '/api/private', { key, token })).res);
  });
});

// ================================================================== replay store under a flood

describe(`isolate replay store (DPOP_REPLAY_CACHE_SIZE=${FLOOD_CACHE_SIZE}) under a flood of ${FLOOD_COUNT} distinct proofs`, () => {
  let gw;
  let early; // {token, proofs}: accepted before any flood
  before(async () => {
    gw = await gateway('flood');
  }, { timeout: 30 * 60_000 });

  /** Sends `proof` with `token`; checks the answer is 200, 401 invalid_dpop_proof or 503 temporarily_unavailable. */
  async function floodOne(token, proof) {
    const res = await send(gw, '/api/private', { auth: `DPoP ${token}`, dpop: proof, track: false });
    if (res.status === 401) assertBadProof(res, [token, proof]);
    else if (res.status === 503) assertError(res, 503, 'temporarily_unavailable', { secrets: [token, proof] }); // with Retry-After
    else assert.equal(res.status, 200, `unexpected answer in the flood: ${describeRes(res)}`);
    return res.status;
  }

  test('proofs accepted before the flood', async () => {
    const { key, token } = boundPair();
    const proofs = [];
    for (let i = 0; i < 10; i++) {
      const { res, proof } = await dpopCall(gw, '/api/private', { key, token });
      assertOk(res);
      proofs.push(proof);
    }
    early = { token, proofs };
  });

  test('one key flooding on its own: throttled at most, and other keys still get in', { timeout: 60_000 }, async (t) => {
    const { key, token } = boundPair();
    const htu = `${gw.url}/api/private`;
    const n = Math.min(FLOOD_COUNT, Math.ceil(FLOOD_CACHE_SIZE / 5));
    const statuses = await pool(Array.from({ length: n }, (_, i) => i), 8, () => floodOne(token, makeProof({ key, htm: 'GET', htu, accessToken: token })));
    const c = (s) => statuses.filter((x) => x === s).length;
    t.diagnostic(`one key, ${n} proofs: ${c(200)} x 200, ${c(503)} x 503, first 503 at #${statuses.indexOf(503)}`);
    assert.equal(c(401), 0, 'distinct valid proofs are not replays');
    if (c(503) > 0) {
      const other = boundPair();
      assertOk((await dpopCall(gw, '/api/private', other)).res);
    }
  });

  test('the store fills up: new proofs get 503, replays are never accepted, no live entry is evicted', { timeout: 120_000 }, async (t) => {
    assert.ok(early, 'the early proofs were not accepted');
    const htu = `${gw.url}/api/private`;
    // Many keys, so that a per-key share (if any) does not stop the flood before the store is full.
    const perKey = 40;
    const clients = Array.from({ length: Math.ceil(FLOOD_COUNT / perKey) }, () => boundPair());
    const counts = { 200: 0, 401: 0, 503: 0 };
    const accepted = [];
    let first503;
    const startedAt = Date.now();
    await pool(Array.from({ length: FLOOD_COUNT }, (_, i) => i), 16, async (i) => {
      const { key, token } = clients[i % clients.length];
      const proof = makeProof({ key, htm: 'GET', htu, accessToken: token });
      if (i % 200 === 0) sentSecrets.add(proof);
      const status = await floodOne(token, proof);
      counts[status]++;
      if (status === 200 && accepted.length < 50) accepted.push({ token, proof });
      if (status === 503) first503 ??= i;
    });
    t.diagnostic(`flood: ${JSON.stringify(counts)} in ${Date.now() - startedAt} ms; first 503 at #${first503 ?? '-'}`);
    assert.equal(counts[401], 0, 'distinct valid proofs are not replays');
    if (FLOOD_COUNT + 10 > FLOOD_CACHE_SIZE) {
      assert.ok(counts[503] > 0, `${FLOOD_COUNT} proofs into a store of ${FLOOD_CACHE_SIZE}: expected some 503`);
      assert.ok(counts[200] <= FLOOD_CACHE_SIZE, `more proofs accepted (${counts[200]}) than the store holds`);
      // Still full of live entries: a new proof from a new key is refused, not let in by evicting one.
      const fresh = boundPair();
      const { res, proof } = await dpopCall(gw, '/api/private', fresh);
      assertError(res, 503, 'temporarily_unavailable', { secrets: [fresh.token, proof] });
    }

    // Replays of early and flood proofs: never accepted.
    const replays = [...early.proofs.map((proof) => ({ token: early.token, proof })), ...accepted];
    const replayStatuses = [];
    for (const { token, proof } of replays) {
      const { res } = await dpopCall(gw, '/api/private', { token, proof });
      assert.notEqual(res.status, 200, `a replay was accepted after the flood: ${describeRes(res)}`);
      if (res.status === 401) assertBadProof(res, [token, proof]);
      else assertError(res, 503, 'temporarily_unavailable', { secrets: [token, proof] });
      replayStatuses.push(res.status);
    }
    t.diagnostic(`replays: ${replayStatuses.filter((x) => x === 401).length} x 401, ${replayStatuses.filter((x) => x === 503).length} x 503`);
  });
});

// ================================================================== configuration errors

describe('DPoP configuration errors: 500 configuration_error naming the setting', () => {
  const BAD = [
    ['DPOP_MODE', 'sometimes'],
    ['DPOP_NONCE_SECRET', 'x'.repeat(31)],
    ['DPOP_REPLAY_STORE', 'redis'],
    ['TRUST_PROXY', 'yes'],
    ['DPOP_IAT_OFFSET_SECONDS', 'five minutes'],
    ['DPOP_IAT_LEEWAY_SECONDS', '-1'],
  ];
  const gws = new Map();
  before(async () => {
    await setup();
    await rebuild();
    const settled = await Promise.allSettled(BAD.map(([k, v]) => launch({ [k]: v })));
    settled.forEach((s, i) => gws.set(BAD[i][0], s));
  }, { timeout: 30 * 60_000 });
  after(async () => {
    await Promise.all([...gws.values()].filter((s) => s.status === 'fulfilled').map((s) => s.value.stop()));
  });

  for (const [name, value] of BAD) {
    test(`${name}=${JSON.stringify(value.length > 20 ? `${value.slice(0, 4)}... (${value.length} chars)` : value)}`, async () => {
      const s = gws.get(name);
      if (s.status === 'rejected') throw s.reason;
      const res = await send(s.value, '/api/private');
      const d = assertError(res, 500, 'configuration_error', { secrets: name === 'DPOP_NONCE_SECRET' ? [value] : [] });
      assert.ok(d.error_description.includes(name), `the description names ${name}: ${d.error_description}`);
      if (name === 'DPOP_NONCE_SECRET') {
        await sleep(200);
        const hit = s.value.logs().find((l) => l.includes(value));
        assert.equal(hit, undefined, `the secret appears in the logs: ${hit}`);
      }
    });
  }
});

// ================================================================== tools/dpop-client.mjs CLI against a gateway

describe('tools/dpop-client.mjs CLI', () => {
  let gw;
  let dir;
  before(async () => {
    gw = await gateway('allowed');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dpop-cli-'));
  }, { timeout: 30 * 60_000 });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('keygen creates the key file (0600) once, then prints the same jkt', async () => {
    const keyFile = path.join(dir, 'sub', 'key.pem');
    const a = await runNode(['tools/dpop-client.mjs', 'keygen', '--key-file', keyFile]);
    assert.equal(a.code, 0, a.stderr);
    const jkt = a.stdout.trim();
    assert.match(jkt, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(fs.statSync(keyFile).mode & 0o777, 0o600);
    const b = await runNode(['tools/dpop-client.mjs', 'keygen', '--key-file', keyFile]);
    assert.equal(b.stdout.trim(), jkt);
    const pub = crypto.createPublicKey(fs.readFileSync(keyFile, 'utf8')).export({ format: 'jwk' });
    assert.equal(jktOf(pub), jkt);
  });

  test('token + proof composed by hand (as with curl): 200', async () => {
    const keyFile = path.join(dir, 'key2.pem');
    const t = await runNode(['tools/dpop-client.mjs', 'token', '--issuer-url', issuer.domain, '--scope', REQUIRED_SCOPE, '--key-file', keyFile]);
    assert.equal(t.code, 0, t.stderr);
    const token = t.stdout.trim();
    const jkt = (await runNode(['tools/dpop-client.mjs', 'keygen', '--key-file', keyFile])).stdout.trim();
    assert.equal(decodeJws(token).payload.cnf.jkt, jkt);
    const url = `${gw.url}/api/private-scoped`;
    const p = await runNode(['tools/dpop-client.mjs', 'proof', 'GET', url, '--token', token, '--key-file', keyFile]);
    assert.equal(p.code, 0, p.stderr);
    const proof = p.stdout.trim();
    assert.ok(verifyProofSignature(proof));
    const claims = decodeJws(proof).payload;
    assert.equal(claims.htm, 'GET');
    assert.equal(claims.htu, url);
    assert.equal(claims.ath, athOf(token));
    assertOk(await send(gw, '/api/private-scoped', { auth: `DPoP ${token}`, dpop: proof }), 'dev-user');
  });

  test('call: 200 and the body; a 403 exits 1 and shows the challenge', async () => {
    const keyFile = path.join(dir, 'key3.pem');
    const ok = await runNode(['tools/dpop-client.mjs', 'call', `${gw.url}/api/private-scoped`, '--issuer-url', issuer.domain, '--scope', REQUIRED_SCOPE, '--key-file', keyFile]);
    assert.equal(ok.code, 0, `${ok.stdout}\n${ok.stderr}`);
    assert.match(ok.stdout, /^HTTP 200\b/);
    assert.match(ok.stdout, /"user_id": "dev-user"/);
    const denied = await runNode(['tools/dpop-client.mjs', 'call', `${gw.url}/api/private-scoped`, '--issuer-url', issuer.domain, '--key-file', keyFile]);
    assert.equal(denied.code, 1, `${denied.stdout}\n${denied.stderr}`);
    assert.match(denied.stdout, /^HTTP 403\b/);
    assert.match(denied.stdout, /^www-authenticate: DPoP error="insufficient_scope"/m);
  });

  test('usage errors exit 2', async () => {
    const r = await runNode(['tools/dpop-client.mjs', 'frobnicate']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown command/);
    const p = await runNode(['tools/dpop-client.mjs', 'proof', 'GET', 'not-a-url', '--key-file', path.join(dir, 'k.pem')]);
    assert.equal(p.code, 2);
  });
});

// ================================================================== a stale nonce (run late, so that little waiting is left)

describe('server nonces: a nonce older than two lifetimes is refused', () => {
  test('401 use_dpop_nonce with a fresh DPoP-Nonce; retried with it: 200', { timeout: 60_000 }, async () => {
    const gw = await gateway('nonce');
    assert.ok(earlyNonce?.value, 'the nonce gateway gave no nonce at the start');
    const wait = earlyNonce.at + (2 * NONCE_LIFETIME + 1) * 1000 - Date.now();
    if (wait > 0) await sleep(wait);
    const { key, token } = boundPair();
    const { res, proof } = await dpopCall(gw, '/api/private', { key, token, proofOpts: { nonce: earlyNonce.value } });
    const fresh = assertNonceChallenge(res, [token, proof]);
    assert.notEqual(fresh, earlyNonce.value);
    assertOk((await dpopCall(gw, '/api/private', { key, token, proofOpts: { nonce: fresh } })).res);
  });
});

// ================================================================== no nonces without a secret

describe('without DPOP_NONCE_SECRET no response carries DPoP-Nonce', () => {
  test('every response of every gateway without the secret, in this file', () => {
    assert.ok(responsesWithoutNonceSecret > 100, `only ${responsesWithoutNonceSecret} responses seen`);
    assert.deepEqual(strayNonces, []);
  });
});

// ================================================================== logs (README: Logs)

describe('logs never contain a token, a proof or the nonce secret', () => {
  test('every gateway started by this file', async (t) => {
    await setup();
    await sleep(300); // console.log lines can trail the responses a little
    const pieces = new Set([NONCE_SECRET]);
    for (const s of sentSecrets) {
      if (s.length >= 16) pieces.add(s);
      for (const part of s.split(/[\s.,]+/)) if (part.length >= 24) pieces.add(part);
    }
    // Only the payload and signature parts of a proof are secret-ish; its header (the public jwk) could be logged
    // as a thumbprint but never verbatim either, so keep every part.
    let checked = 0;
    t.diagnostic(`${sentSecrets.size} tokens and proofs, ${pieces.size} pieces, ${started.length} gateways`);
    for (const gw of started) {
      const text = gw.logs().join('\n');
      for (const piece of pieces) {
        const at = text.indexOf(piece);
        assert.equal(at, -1, `a log line of ${gw.url} contains a token or proof: ...${text.slice(Math.max(0, at - 80), at + 40)}...`);
      }
      checked++;
    }
    assert.ok(checked >= 1);
  });
});
