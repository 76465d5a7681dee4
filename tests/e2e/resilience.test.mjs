// Resilience of the key handling, end to end: `wrangler dev` against the local development issuer, which
// this file stops, rotates, slows down and makes answer garbage. Written against README: Features, Keys
// (issuer, discovery, keys), README: Errors (error responses) and README: Logs, with the key settings of
// README: Configuration.
//
//   bash scripts/build.sh && node --test --test-concurrency=1 tests/e2e/resilience.test.mjs
//
// Every scenario has its own issuer and its own gateway (cold isolate, fresh Cache API directory), with small
// JWKS_COOLDOWN_SECONDS / CACHE_MAX_TTL_SECONDS / FETCH_TIMEOUT_MS values so that the file runs in about two
// minutes. The gateway's clock for the cache is whole seconds (`now_secs()`), so a cooldown of C seconds can
// let two fetches happen as little as C - 1 s apart; the bounds below say so where it matters.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { startIssuer } from '../../tools/dev-issuer.mjs';
import { ALGS, assertError, describeRes, errorChallenge } from './contract.mjs';
import { buildWorker, request, startGateway } from './harness.mjs';

// tools/dpop-client.mjs is written in parallel; the DPoP parts of the log test run when it is there.
let dpop = null;
try {
  const mod = await import('../../tools/dpop-client.mjs');
  if (typeof mod.generateDpopKey === 'function' && typeof mod.makeProof === 'function') dpop = mod;
} catch {
  dpop = null;
}

const REQUIRED_SCOPE = 'read:messages';
const HOOK_TIMEOUT = 10 * 60_000; // the first before() may build the worker

// ------------------------------------------------------------------ gateways, requests, log bookkeeping

/** Every gateway this file starts: {name, gw, url, sent, snapshot}. The log test (section 7) reads them all. */
const launched = [];
/** Every credential piece this file sent (tokens, their payload and signature segments, DPoP proofs, secrets). */
const secrets = new Map(); // piece -> label

function rememberJws(jws, label) {
  if (typeof jws !== 'string' || jws.length < 16) return;
  secrets.set(jws, label);
  const segs = jws.split('.');
  if (segs.length === 3) {
    if (segs[1].length >= 16) secrets.set(segs[1], `${label} payload segment`);
    if (segs[2].length >= 16) secrets.set(segs[2], `${label} signature segment`);
  }
}

async function launch(name, issuer, vars = {}) {
  const gw = await startGateway({
    vars: { AUTH0_DOMAIN: issuer.domain, AUTH0_AUDIENCE: issuer.audience, ...vars },
  });
  const g = { name, gw, url: gw.url, sent: 0, snapshot: null };
  launched.push(g);
  return g;
}

/**
 * One request to gateway `g` over a fresh connection. `token` is sent as `<scheme> <token>`; `dpopProof`
 * as the DPoP header. Counts the request (one log line is expected per request); the result has `ms`.
 */
async function call(g, path, { token, scheme = 'Bearer', dpopProof, method = 'GET', timeoutMs = 20_000 } = {}) {
  const headers = {};
  if (token !== undefined) {
    rememberJws(token, 'access token');
    headers.Authorization = `${scheme} ${token}`;
  }
  if (dpopProof !== undefined) {
    rememberJws(dpopProof, 'DPoP proof');
    headers.DPoP = dpopProof;
  }
  g.sent++;
  try {
    return await request(`${g.url}${path}`, { method, headers, timeoutMs });
  } catch (err) {
    err.message += reloadNote(g);
    throw err;
  }
}

/** The worker's JSON log lines of `g` that answer this file's requests (the harness's readiness probes
 * are GET /api/public, which this file never calls). */
function decisionLines(g) {
  const json = g.snapshot ? g.snapshot.json : g.gw.jsonLogs();
  return json.filter((l) => 'decision' in l && l.route !== '/api/public');
}

/** Wrangler's own access lines ("[wrangler:info] GET /api/private 401 Unauthorized (3ms)") for this file's
 * requests (not the readiness probes on /api/public). Printed once the response is over. */
function accessLines(g) {
  const lines = g.snapshot ? g.snapshot.lines : g.gw.logs();
  return lines.filter((l) => /^\[wrangler:info\] [A-Z]+ \/\S*/.test(l) && !/ \/api\/public /.test(l));
}

/** Waits until `g` has printed one log line per request sent (log lines can trail the responses). */
async function settleLogs(g, timeoutMs = 5_000) {
  const until = Date.now() + timeoutMs;
  while (decisionLines(g).length < g.sent && Date.now() < until) await sleep(50);
  return decisionLines(g);
}

/** As settleLogs, and also waits for wrangler's access lines (when it prints them at all). */
async function settleAllLogs(g, timeoutMs = 5_000) {
  const until = Date.now() + timeoutMs;
  await settleLogs(g, timeoutMs);
  while (accessLines(g).length > 0 && accessLines(g).length < g.sent && Date.now() < until) await sleep(50);
}

/** The log line of the last request sent to `g` (for sequential requests). */
async function lastLine(g) {
  const lines = await settleLogs(g);
  return lines[g.sent - 1];
}

/** Wrangler output lines showing that the worker was rebuilt or reloaded after it was ready (someone
 * edited src/ during the run): the isolate then starts cold, which can explain an odd result. */
function reloadNote(g) {
  const lines = g.snapshot ? g.snapshot.lines : g.gw.logs();
  const ready = lines.findIndex((l) => /Ready on/.test(l));
  const reloads = ready < 0 ? [] : lines.slice(ready + 1).filter((l) => /restarting build|Reloading local server|Detected changes/i.test(l));
  return reloads.length ? ` [NOTE: the worker was reloaded during the run: ${reloads[0].trim()}]` : '';
}

async function finish(g) {
  if (!g || g.snapshot) return;
  await settleAllLogs(g);
  g.snapshot = { lines: g.gw.logs(), json: g.gw.jsonLogs() };
  await g.gw.stop();
}

async function pool(items, concurrency, fn) {
  const results = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i], i);
    }
  });
  await Promise.all(workers);
  return results;
}

const randomKid = () => crypto.randomBytes(12).toString('base64url');

// ------------------------------------------------------------------ response checks (README: Errors)

function assertOk(res, sub, note = '') {
  assert.equal(res.status, 200, `expected 200; got ${describeRes(res)}${note}`);
  assert.equal(res.json?.user_id, sub, `user_id: ${res.text}`);
}

/** 401 invalid_token with the Bearer error challenge of DPOP_MODE=allowed (every gateway of this file). */
function assertInvalidToken(res, note = '') {
  assertError(res, 401, 'invalid_token', { challenge: errorChallenge('invalid_token'), note });
}

/** 503 temporarily_unavailable: JSON body per README: Errors, Retry-After (whole seconds, 1..maxRetryAfter),
 * and no WWW-Authenticate (the client is not to blame). */
function assertUnavailable(res, maxRetryAfter, note = '') {
  const ctx = `${describeRes(res)}${note}`;
  assert.notEqual(res.status, 401, `a 401 blames the client for the IdP's failure: ${ctx}`);
  assert.ok(res.status < 500 || res.status === 503, `must be 503, never ${res.status}: ${ctx}`);
  // With Retry-After in whole seconds and no WWW-Authenticate (the client is not to blame).
  assertError(res, 503, 'temporarily_unavailable', { challenge: null, note });
  const ra = res.headers['retry-after'];
  assert.ok(Number(ra) >= 1 && Number(ra) <= maxRetryAfter, `Retry-After ${ra} not in [1, ${maxRetryAfter}]: ${ctx}`);
  return Number(ra);
}

/** The IdP fetches that a log line reports as failed. */
const failedIdpFetches = (line) => (line?.key_fetches ?? []).filter((f) => f.from === 'idp' && f.ok === false);

// ------------------------------------------------------------------ 1 + 2. cold start, kid flood

describe('1-2. cold isolate under concurrency, then a flood of unknown kids', () => {
  const C = 2; // JWKS_COOLDOWN_SECONDS
  let issuer;
  let g;

  before(async () => {
    issuer = await startIssuer();
    await buildWorker();
    g = await launch('cold-concurrency+kid-flood', issuer, {
      JWKS_COOLDOWN_SECONDS: String(C),
      CACHE_MAX_TTL_SECONDS: '60',
      FETCH_TIMEOUT_MS: '3000',
    });
  }, { timeout: HOOK_TIMEOUT });

  after(async () => {
    await finish(g);
    await issuer?.close();
  });

  test('1. 20 simultaneous valid requests to a cold gateway all get 200', async () => {
    issuer.resetStats();
    // Every IdP answer takes 300 ms (well under FETCH_TIMEOUT_MS), so all 20 requests arrive while the first
    // key fetch is still under way.
    issuer.setMode('slow', { delayMs: 300 });
    const tokens = Array.from({ length: 20 }, (_, i) => issuer.mint({ sub: `cold-${i}`, scope: i % 2 ? REQUIRED_SCOPE : undefined }));
    let results;
    try {
      results = await Promise.all(tokens.map((token, i) => call(g, i % 2 ? '/api/private-scoped' : '/api/private', { token })));
    } finally {
      issuer.setMode('ok');
    }
    const st = issuer.stats();
    console.log(`# cold start: 20 concurrent requests, latency max ${Math.max(...results.map((r) => r.ms)).toFixed(0)} ms; IdP fetches: discovery ${st.discovery}, jwks ${st.jwks}`);
    results.forEach((res, i) => assertOk(res, `cold-${i}`, reloadNote(g)));
    assert.ok(st.jwks >= 1, 'the JWKS was never fetched');
  });

  test('2. kid flood: 200 unknown kids get 401 invalid_token and JWKS refetches stay bounded by the cooldown', async () => {
    assertOk(await call(g, '/api/private', { token: issuer.mint({ sub: 'before-flood' }) }), 'before-flood');
    const keys = [issuer.newKey(), issuer.newKey(), issuer.newKey()];
    const tokens = Array.from({ length: 200 }, (_, i) => issuer.mint({
      sub: `flood-${i}`,
      key: keys[i % keys.length].privateKey,
      header: { kid: randomKid() },
    }));
    await settleLogs(g);
    const mark = g.sent;
    issuer.resetStats();
    // 8 in flight with a short pause each: the flood spans about two cooldowns, so periodic refetches show.
    const t0 = performance.now();
    let tLast = t0;
    const results = await pool(tokens, 8, async (token) => {
      const res = await call(g, '/api/private', { token });
      tLast = performance.now();
      await sleep(150);
      return res;
    });
    const elapsed = (tLast - t0) / 1000;
    const st = issuer.stats();
    const jwksTimes = issuer.history().filter((h) => h.what === 'jwks').map((h) => h.at);
    // Strictly elapsed/C + 1; the gateway's whole-second clock allows one more second (file header).
    const bound = Math.floor((elapsed + 1) / C) + 1;
    console.log(`# kid flood: 200 requests in ${elapsed.toFixed(2)} s, JWKS fetches ${st.jwks} (bound ${bound}, cooldown ${C} s), discovery fetches ${st.discovery}`);

    const statuses = {};
    for (const r of results) statuses[r.status] = (statuses[r.status] ?? 0) + 1;
    assert.deepEqual(statuses, { 401: 200 }, `every unknown kid must get 401${reloadNote(g)}`);
    for (const r of results) assertInvalidToken(r);
    assert.ok(st.jwks >= 1, 'an unknown kid must trigger one JWKS refetch');
    assert.ok(st.jwks <= bound, `${st.jwks} JWKS fetches in ${elapsed.toFixed(2)} s exceed ${bound} (cooldown ${C} s)${reloadNote(g)}`);
    for (let i = 1; i < jwksTimes.length; i++) {
      const gap = jwksTimes[i] - jwksTimes[i - 1];
      assert.ok(gap >= (C - 1) * 1000, `two JWKS fetches ${gap} ms apart, inside the ${C} s cooldown`);
    }

    // The log lines report the same fetches.
    const lines = (await settleLogs(g)).slice(mark);
    assert.equal(lines.length, 200, 'one log line per flood request');
    const logged = lines.flatMap((l) => l.key_fetches ?? []).filter((f) => f.what === 'jwks' && f.from === 'idp');
    assert.equal(logged.length, st.jwks, 'the logs report each JWKS fetch to the IdP');
    assert.ok(lines.every((l) => l.decision === 'invalid_token'), 'every flood line decides invalid_token');

    // The good keys survived the flood.
    issuer.resetStats();
    assertOk(await call(g, '/api/private', { token: issuer.mint({ sub: 'after-flood' }) }), 'after-flood');
  });
});

// ------------------------------------------------------------------ 3. rotation

describe('3. key rotation', () => {
  const C = 1;
  const TTL = 4;
  let issuer;
  let g;

  before(async () => {
    issuer = await startIssuer();
    await buildWorker();
    g = await launch('rotation', issuer, {
      JWKS_COOLDOWN_SECONDS: String(C),
      CACHE_MAX_TTL_SECONDS: String(TTL),
      FETCH_TIMEOUT_MS: '2000',
    });
  }, { timeout: HOOK_TIMEOUT });

  after(async () => {
    await finish(g);
    await issuer?.close();
  });

  test('a new key works after exactly one refetch; old keys work while published and fail once dropped', async () => {
    const oldToken = issuer.mint({ sub: 'old' });
    const warmAt = Date.now();
    assertOk(await call(g, '/api/private', { token: oldToken }), 'old', reloadNote(g));

    issuer.rotate();
    const midToken = issuer.mint({ sub: 'mid' });
    issuer.resetStats();
    const res = await call(g, '/api/private', { token: midToken });
    assertOk(res, 'mid', reloadNote(g));
    assert.equal(issuer.stats().jwks, 1, `a token signed by the new key must cost exactly one JWKS refetch (stats ${JSON.stringify(issuer.stats())})`);
    const line = await lastLine(g);
    assert.equal(line?.keys, 'idp', `log line: ${JSON.stringify(line)}`);

    for (let i = 0; i < 5; i++) assertOk(await call(g, '/api/private', { token: midToken }), 'mid');
    assertOk(await call(g, '/api/private', { token: oldToken }), 'old');
    assert.equal(issuer.stats().jwks, 1, 'both keys are cached: no further fetch');
    // The cached set was fresh throughout (the assertions above assume no TTL expiry in between).
    assert.ok(Date.now() - warmAt < (TTL - 1) * 1000, 'the steps above took longer than the cache TTL; the exact-count check is void');

    issuer.rotate({ dropOld: true });
    const newToken = issuer.mint({ sub: 'new' });
    // Past the TTL and the cooldown, with no request in between: the next request refreshes the set.
    await sleep((TTL + C) * 1000 + 300);
    issuer.resetStats();
    assertInvalidToken(await call(g, '/api/private', { token: oldToken }), reloadNote(g));
    assertInvalidToken(await call(g, '/api/private', { token: midToken }));
    assertOk(await call(g, '/api/private', { token: newToken }), 'new');
    assert.ok(issuer.stats().jwks >= 1, 'the expired set was refreshed');
  });
});

// ------------------------------------------------------------------ 4. IdP outage with warm keys

describe('4. IdP outage with warm keys: stale-if-error, no replacement by garbage, recovery', () => {
  const C = 1;
  const TTL = 2;
  const TIMEOUT_MS = 1000;
  let issuer;
  let g;
  let original; // the key every "known" token is signed with; never dropped

  before(async () => {
    issuer = await startIssuer();
    original = issuer.signingKey;
    await buildWorker();
    g = await launch('outage-warm', issuer, {
      JWKS_COOLDOWN_SECONDS: String(C),
      CACHE_MAX_TTL_SECONDS: String(TTL),
      FETCH_TIMEOUT_MS: String(TIMEOUT_MS),
    });
  }, { timeout: HOOK_TIMEOUT });

  after(async () => {
    await finish(g);
    await issuer?.close();
  });

  const known = () => issuer.mint({ sub: 'known', key: original.privateKey, header: { kid: original.kid } });

  const outages = [
    { name: "setMode('down') (503 from the IdP)", apply: () => issuer.setMode('down'), reachable: true },
    { name: 'the IdP server stopped (connection refused)', apply: () => issuer.stop(), reachable: false },
    { name: "setMode('garbage') (not JSON)", apply: () => issuer.setMode('garbage'), reachable: true },
    {
      name: 'a JWKS with only unusable keys (RSA 1024, e=3, EC, use=enc, alg RS512)',
      apply: () => issuer.setMode('garbage', { only: 'jwks', variant: 'unusable-keys' }),
      reachable: true,
    },
    {
      name: `setMode('slow') beyond FETCH_TIMEOUT_MS=${TIMEOUT_MS}`,
      apply: () => issuer.setMode('slow', { delayMs: 5_000 }),
      reachable: true,
    },
  ];

  for (const o of outages) {
    test(`known keys keep verifying while ${o.name}; then a rotated key is picked up`, async () => {
      assertOk(await call(g, '/api/private', { token: known() }), 'known', reloadNote(g));
      await settleLogs(g);
      const mark = g.sent;
      issuer.resetStats();
      await o.apply();
      try {
        // Past the TTL and the cooldown: every request below may (and some must) try the IdP, and fail.
        await sleep((TTL + C) * 1000 + 300);
        for (let i = 0; i < 3; i++) {
          const res = await call(g, '/api/private', { token: known() });
          assertOk(res, 'known', `, request ${i + 1} while ${o.name}${reloadNote(g)}`);
          assert.ok(res.ms < 2 * TIMEOUT_MS + 1_500, `a stale-served request took ${res.ms.toFixed(0)} ms (FETCH_TIMEOUT_MS ${TIMEOUT_MS})`);
          await sleep(C * 1000 + 100);
        }
        const burst = await Promise.all(Array.from({ length: 8 }, () => call(g, '/api/private', { token: known() })));
        burst.forEach((res) => assertOk(res, 'known', reloadNote(g)));

        const lines = (await settleLogs(g)).slice(mark);
        const failed = lines.flatMap(failedIdpFetches);
        assert.ok(failed.length >= 1, `the gateway never tried the IdP during the outage (log lines: ${JSON.stringify(lines.slice(0, 3))})`);
        const okIdp = lines.flatMap((l) => l.key_fetches ?? []).filter((f) => f.from === 'idp' && f.ok && f.what === 'jwks');
        assert.equal(okIdp.length, 0, `a JWKS fetch was logged as ok during the outage: ${JSON.stringify(okIdp)}`);
        if (o.reachable) assert.ok(issuer.stats().discovery + issuer.stats().jwks >= 1, 'the IdP saw no attempt');
        if (o.name.includes('slow')) {
          const slowest = Math.max(...lines.map((l) => l.ms ?? 0));
          console.log(`# slow IdP: slowest request inside the gateway ${slowest} ms (FETCH_TIMEOUT_MS ${TIMEOUT_MS})`);
        }
        console.log(`# outage "${o.name}": ${failed.length} failed IdP fetches logged (${[...new Set(failed.map((f) => f.error))].join('; ')}), every known-key request 200`);
      } finally {
        issuer.setMode('ok');
        await issuer.start();
      }

      // The good keys were never replaced: the same token still verifies right after the IdP returns. It may
      // start a background refresh (README: Key lifecycle), which can pick up the rotation below itself.
      const jwksFetched = (l) => (l.key_fetches ?? []).some((f) => f.from === 'idp' && f.what === 'jwks' && f.ok);
      const refreshesBefore = g.gw.jsonLogs().filter((l) => l.refresh && jwksFetched(l)).length;
      assertOk(await call(g, '/api/private', { token: known() }), 'known', reloadNote(g));

      // Recovery: once the cooldown has passed, a key rotated at the IdP is fetched and accepted.
      issuer.rotate();
      const rotated = issuer.mint({ sub: 'rotated' });
      await sleep(C * 1000 + 100);
      const before = g.sent;
      const res = await call(g, '/api/private', { token: rotated });
      assertOk(res, 'rotated', `: the rotated key was not picked up after the IdP returned${reloadNote(g)}`);
      const lines = (await settleLogs(g)).slice(before);
      const refreshed = g.gw.jsonLogs().filter((l) => l.refresh && jwksFetched(l)).length > refreshesBefore;
      assert.ok(lines.some(jwksFetched) || refreshed, 'no successful JWKS fetch logged on recovery');
      assertOk(await call(g, '/api/private', { token: known() }), 'known');
    });
  }
});

// ------------------------------------------------------------------ 5. cold isolate, IdP down

describe('5. cold isolate while the IdP is down', () => {
  const C = 2;
  let issuer;
  let g;

  before(async () => {
    issuer = await startIssuer();
    issuer.setMode('down');
    await buildWorker();
    g = await launch('cold-down', issuer, {
      JWKS_COOLDOWN_SECONDS: String(C),
      CACHE_MAX_TTL_SECONDS: '60',
      FETCH_TIMEOUT_MS: '1000',
    });
  }, { timeout: HOOK_TIMEOUT });

  after(async () => {
    await finish(g);
    await issuer?.close();
  });

  test('503 temporarily_unavailable with Retry-After, no refetch inside the cooldown, 200 once the IdP is back', async () => {
    issuer.resetStats();
    const token = issuer.mint({ sub: 'cold-down' });
    const r1 = await call(g, '/api/private', { token });
    assertUnavailable(r1, C, reloadNote(g));
    const s1 = issuer.stats();
    assert.ok(s1.discovery + s1.jwks >= 1, 'the gateway did not try the IdP');
    assert.ok(failedIdpFetches(await lastLine(g)).length >= 1, 'the log line reports no failed IdP fetch');
    const failedAt = Date.now();

    // Inside the cooldown: 503 again, from memory, without a fetch.
    const r2 = await call(g, '/api/private-scoped', { token: issuer.mint({ sub: 'cold-down', scope: REQUIRED_SCOPE }) });
    const inside = Date.now() - failedAt < (C - 1) * 1000;
    assertUnavailable(r2, C);
    assert.deepEqual(issuer.stats(), s1, 'a second request inside the cooldown fetched again');
    assert.equal((await lastLine(g))?.key_fetches, undefined, 'the second request logged a fetch');
    assert.ok(inside, 'the second request came too late to test the cooldown');

    if (dpop) {
      // The DPoP scheme gets the same 503 (the proof is fine; the keys are missing).
      const key = dpop.generateDpopKey();
      const bound = issuer.mint({ sub: 'cold-down', cnfJkt: key.jkt });
      const proof = dpop.makeProof({ key, htm: 'GET', htu: `${g.url}/api/private`, accessToken: bound });
      assertUnavailable(await call(g, '/api/private', { token: bound, scheme: 'DPoP', dpopProof: proof }), C);
      assert.deepEqual(issuer.stats(), s1, 'the DPoP request inside the cooldown fetched again');
    }

    // No credentials need no keys: still 401 unauthorized.
    const r0 = await call(g, '/api/private');
    assertError(r0, 401, 'unauthorized', { challenge: `Bearer realm="api", DPoP ${ALGS}` });

    issuer.setMode('ok');
    const retryAfter = Number(r2.headers['retry-after']);
    await sleep(retryAfter * 1000 + 150);
    assertOk(await call(g, '/api/private', { token }), 'cold-down', `: not recovered ${retryAfter} s (Retry-After) after the IdP came back${reloadNote(g)}`);
  });
});

// ------------------------------------------------------------------ 6. garbage on a cold gateway

describe('6. cold isolate, IdP answers garbage or fails: 503, never 401 or 500', () => {
  const C = 1;
  const TIMEOUT_MS = 1000;
  let issuer;
  let g;
  let unusable;
  let lastAttemptAt = 0;

  before(async () => {
    issuer = await startIssuer();
    unusable = issuer.unusableKeys();
    await buildWorker();
    g = await launch('cold-garbage', issuer, {
      JWKS_COOLDOWN_SECONDS: String(C),
      CACHE_MAX_TTL_SECONDS: '60',
      FETCH_TIMEOUT_MS: String(TIMEOUT_MS),
    });
  }, { timeout: HOOK_TIMEOUT });

  after(async () => {
    await finish(g);
    await issuer?.close();
  });

  const signedByUnusable = (kid) => issuer.mint({ sub: 'weak', key: unusable.privateKeys[kid], header: { kid } });
  const discoveryOf = () => ({ issuer: issuer.issuer, jwks_uri: `${issuer.issuer}.well-known/jwks.json` });

  // [name, apply, endpoint that must have been asked (null: the server is stopped), token factory]
  // The variants that fail at discovery come first: once a good discovery document is cached (after the
  // first JWKS-only variant), the gateway no longer asks for it.
  const variants = [
    ['discovery and JWKS are not JSON', () => issuer.setMode('garbage'), 'discovery'],
    ['discovery is JSON without jwks_uri', () => issuer.setMode('garbage', { only: 'discovery', variant: 'no-keys' }), 'discovery'],
    ['discovery names another issuer', () => issuer.setMode('garbage', { only: 'discovery', body: { ...discoveryOf(), issuer: 'https://evil.example/' } }), 'discovery'],
    ['the IdP answers 503', () => issuer.setMode('down'), 'discovery'],
    ['the IdP server is stopped', () => issuer.stop(), null],
    [`the IdP is slower than FETCH_TIMEOUT_MS=${TIMEOUT_MS}`, () => issuer.setMode('slow', { delayMs: 5_000 }), 'discovery'],
    ['JWKS is not JSON', () => issuer.setMode('garbage', { only: 'jwks' }), 'jwks'],
    ['JWKS is JSON without "keys"', () => issuer.setMode('garbage', { only: 'jwks', variant: 'no-keys' }), 'jwks'],
    ['JWKS is {"keys": []}', () => issuer.setMode('garbage', { only: 'jwks', variant: 'empty-keys' }), 'jwks'],
    ['JWKS "keys" is an object', () => issuer.setMode('garbage', { only: 'jwks', body: { keys: { kty: 'RSA' } } }), 'jwks'],
    ['JWKS is a JSON array', () => issuer.setMode('garbage', { only: 'jwks', body: '[]' }), 'jwks'],
    ['JWKS is JSON null', () => issuer.setMode('garbage', { only: 'jwks', body: 'null' }), 'jwks'],
    ['JWKS with only unusable keys, token by the issuer key', () => issuer.setMode('garbage', { only: 'jwks', variant: 'unusable-keys' }), 'jwks'],
    ['JWKS with only unusable keys, token signed by the 1024-bit RSA key', () => issuer.setMode('garbage', { only: 'jwks', variant: 'unusable-keys' }), 'jwks', () => signedByUnusable('unusable-rsa-1024')],
    ['JWKS with only unusable keys, token signed by the e=3 RSA key', () => issuer.setMode('garbage', { only: 'jwks', variant: 'unusable-keys' }), 'jwks', () => signedByUnusable('unusable-rsa-e3')],
    ['JWKS with only unusable keys, token signed by the use=enc key', () => issuer.setMode('garbage', { only: 'jwks', variant: 'unusable-keys' }), 'jwks', () => signedByUnusable('unusable-rsa-use-enc')],
    ['JWKS with only unusable keys, token signed by the alg=RS512 key', () => issuer.setMode('garbage', { only: 'jwks', variant: 'unusable-keys' }), 'jwks', () => signedByUnusable('unusable-rsa-alg-rs512')],
    ['JWKS answers 503', () => issuer.setMode('down', { only: 'jwks' }), 'jwks'],
    [`JWKS is slower than FETCH_TIMEOUT_MS=${TIMEOUT_MS}`, () => issuer.setMode('slow', { only: 'jwks', delayMs: 5_000 }), 'jwks'],
  ];

  for (const [name, apply, endpoint, makeToken] of variants) {
    test(`${name}: 503`, async () => {
      // Each variant gets its own fetch: wait out the cooldown of the previous failure.
      const wait = lastAttemptAt + C * 1000 + 100 - Date.now();
      if (wait > 0) await sleep(wait);
      issuer.resetStats();
      await apply();
      let res;
      try {
        const token = makeToken ? makeToken() : issuer.mint({ sub: 'cold' });
        res = await call(g, '/api/private', { token });
      } finally {
        lastAttemptAt = Date.now();
        issuer.setMode('ok');
        await issuer.start();
      }
      assertUnavailable(res, C, reloadNote(g));
      assert.ok(res.ms < 2 * TIMEOUT_MS + 1_500, `took ${res.ms.toFixed(0)} ms`);
      const line = await lastLine(g);
      assert.ok(failedIdpFetches(line).length >= 1, `the log line reports no failed IdP fetch, so this variant was not tried: ${JSON.stringify(line)}`);
      if (endpoint) {
        const asked = issuer.history().filter((h) => h.what === endpoint && h.mode !== 'ok');
        assert.ok(asked.length >= 1, `the gateway did not ask the ${endpoint} endpoint while it failed (history ${JSON.stringify(issuer.history())})`);
      }
    });
  }

  test('once the IdP answers good documents again: 200', async () => {
    const wait = lastAttemptAt + C * 1000 + 100 - Date.now();
    if (wait > 0) await sleep(wait);
    assertOk(await call(g, '/api/private', { token: issuer.mint({ sub: 'back' }) }), 'back', reloadNote(g));
    // The weak keys stay refused even next to a good one.
    assertInvalidToken(await call(g, '/api/private', { token: signedByUnusable('unusable-rsa-1024') }));
  });
});

// ------------------------------------------------------------------ 7. logs

describe('7. logs: one JSON line per request, never a token, proof, signature or secret', () => {
  const nonceSecret = crypto.randomBytes(30).toString('base64url').slice(0, 40);
  let issuer;
  let g;

  before(async () => {
    assert.equal(nonceSecret.length, 40);
    secrets.set(nonceSecret, 'DPOP_NONCE_SECRET');
    issuer = await startIssuer();
    await buildWorker();
    g = await launch('dpop-nonce', issuer, { DPOP_NONCE_SECRET: nonceSecret });
  }, { timeout: HOOK_TIMEOUT });

  after(async () => {
    await finish(g);
    await issuer?.close();
  });

  test('Bearer and DPoP traffic (with server nonces) on a gateway with DPOP_NONCE_SECRET set', async (t) => {
    assertOk(await call(g, '/api/private', { token: issuer.mint({ sub: 'bearer' }) }), 'bearer', reloadNote(g));
    assertInvalidToken(await call(g, '/api/private', { token: issuer.mint({ sub: 'x', claims: { exp: Math.floor(Date.now() / 1000) - 60 } }) }));
    if (!dpop) {
      t.skip('tools/dpop-client.mjs is not available: no DPoP traffic');
      return;
    }
    const key = dpop.generateDpopKey();
    const token = issuer.mint({ sub: 'dpop-user', scope: REQUIRED_SCOPE, cnfJkt: key.jkt });
    const path = '/api/private-scoped';
    const proofFor = (nonce) => dpop.makeProof({ key, htm: 'GET', htu: `${g.url}${path}`, accessToken: token, nonce });

    // RFC 9449 section 8: no nonce yet, so the gateway asks for one.
    const first = await call(g, path, { token, scheme: 'DPoP', dpopProof: proofFor(undefined) });
    assertError(first, 401, 'use_dpop_nonce', { secrets: [token], challenge: errorChallenge('use_dpop_nonce', { scheme: 'DPoP' }) });
    let nonce = first.headers['dpop-nonce'];
    assert.ok(nonce, 'no DPoP-Nonce header on the use_dpop_nonce answer');

    const used = proofFor(nonce);
    const ok = await call(g, path, { token, scheme: 'DPoP', dpopProof: used });
    assert.equal(ok.status, 200, describeRes(ok));
    assert.equal(ok.json?.user_id, 'dpop-user');
    nonce = ok.headers['dpop-nonce'] ?? nonce;

    for (let i = 0; i < 3; i++) {
      const res = await call(g, path, { token, scheme: 'DPoP', dpopProof: proofFor(nonce) });
      assert.equal(res.status, 200, describeRes(res));
      nonce = res.headers['dpop-nonce'] ?? nonce;
    }
    // A replayed proof and a made-up nonce fail.
    const replay = await call(g, path, { token, scheme: 'DPoP', dpopProof: used });
    assertError(replay, 401, 'invalid_dpop_proof', { secrets: [token, used], challenge: errorChallenge('invalid_dpop_proof', { scheme: 'DPoP' }) });
    const wrong = await call(g, path, { token, scheme: 'DPoP', dpopProof: proofFor('bm90LWEtbm9uY2U') });
    assertError(wrong, 401, 'use_dpop_nonce', { secrets: [token], challenge: errorChallenge('use_dpop_nonce', { scheme: 'DPoP' }) });
  });

  test('across every gateway of this file: exactly one JSON log line with a decision per request, and no secret in any line', async () => {
    await finish(g);
    assert.ok(launched.length >= 1, 'no gateway was started');
    assert.ok(secrets.size > 0, 'nothing was sent');
    let total = 0;
    for (const gw of launched) {
      if (!gw.snapshot) await finish(gw);
      const { lines, json } = gw.snapshot;
      const decisions = decisionLines(gw);
      total += gw.sent;

      // The worker prints JSON objects only as its per-request line (each has a decision) and the line of
      // a background key refresh (README: Logs).
      const undecided = json.filter((l) => !('decision' in l) && !('refresh' in l));
      assert.deepEqual(undecided, [], `[${gw.name}] JSON log lines without a decision field`);
      assert.equal(decisions.length, gw.sent, `[${gw.name}] ${gw.sent} requests but ${decisions.length} JSON log lines with a decision${reloadNote(gw)}`);
      for (const l of decisions) {
        assert.equal(typeof l.decision, 'string', `[${gw.name}] decision: ${JSON.stringify(l)}`);
        assert.equal(typeof l.method, 'string', `[${gw.name}] method: ${JSON.stringify(l)}`);
        assert.equal(typeof l.ms, 'number', `[${gw.name}] ms: ${JSON.stringify(l)}`);
      }
      // Wrangler's own access lines ("[wrangler:info] GET /api/private 401 Unauthorized (3ms)"), when
      // printed, count the requests independently.
      const access = accessLines(gw);
      if (access.length) assert.equal(access.length, gw.sent, `[${gw.name}] wrangler saw ${access.length} requests, this file sent ${gw.sent}`);

      for (const line of lines) {
        assert.ok(!/\b(Bearer|DPoP)\s+eyJ/.test(line), `[${gw.name}] a log line carries an Authorization value: ${line.slice(0, 200)}`);
        for (const [piece, label] of secrets) {
          assert.ok(!line.includes(piece), `[${gw.name}] a log line contains a ${label}: ${line.slice(0, 200)}`);
        }
      }
    }
    console.log(`# logs: ${launched.length} gateways, ${total} requests, ${secrets.size} secret pieces checked against every output line`);
  });
});
