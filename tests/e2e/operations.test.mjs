// End-to-end tests of the operations bindings (README: Operations, Rate limits, Metrics, Proxy mode) under
// `wrangler dev`, whose local runtime simulates Rate Limiting bindings (fixed windows per key, in memory),
// accepts Analytics Engine writes without keeping them (so data points are checked natively, see
// src/gateway/metrics.rs), and runs a second Worker bound as ORIGIN_SERVICE in the same process
// (`--config gateway.toml --config origin.toml`).
//
//   bash scripts/build.sh && node --test tests/e2e/operations.test.mjs
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startIssuer } from '../../tools/dev-issuer.mjs';
import { assertError, describeRes } from './contract.mjs';
import { buildWorker, REPO_ROOT, request, startGateway, wranglerToml } from './harness.mjs';
import { startOrigin } from './origin.mjs';

const LIMIT = 3;
const PERIOD = 60;
const RATE_LIMITER = ['[[ratelimits]]', 'name = "RATE_LIMITER"', 'namespace_id = "1001"', `simple = { limit = ${LIMIT}, period = ${PERIOD} }`];
const METRICS = ['[[analytics_engine_datasets]]', 'binding = "METRICS"', 'dataset = "gateway_ops_test"'];
const ORIGIN_WORKER = 'gateway-ops-origin';
const ORIGIN_SERVICE = ['[[services]]', 'binding = "ORIGIN_SERVICE"', `service = "${ORIGIN_WORKER}"`];
// The origin Worker standing in for the Analytics Engine dataset (tests/e2e/origin-worker.mjs).
const METRICS_RECORDER = ['[[services]]', 'binding = "METRICS"', `service = "${ORIGIN_WORKER}"`];
const ROUTES = [
  { path: '/public', auth: 'none' },
  { path: '/limited/*', auth: 'required', rate_limit: true },
  { path: '/scoped', scopes: ['write:things'], rate_limit: true },
  { path: '/free/*', auth: 'required' },
];

let issuer;
let origin;
let limited;
let service;
const misconfigured = {};

before(async () => {
  [issuer, origin] = await Promise.all([startIssuer(), startOrigin()]);
  await buildWorker();
  const base = { AUTH0_DOMAIN: issuer.domain, AUTH0_AUDIENCE: issuer.audience };
  const launch = (name, vars, sections, extra = []) =>
    startGateway({
      readyPath: '/public',
      readyTimeoutMs: 10 * 60_000,
      extraArgs: ['--config', wranglerToml({ ...base, ...vars }, { name, sections }), ...extra],
    });
  const originToml = wranglerToml({}, { name: ORIGIN_WORKER, main: path.join(REPO_ROOT, 'tests', 'e2e', 'origin-worker.mjs') });
  [limited, service, misconfigured.limiter, misconfigured.origin] = await Promise.all([
    launch('gateway-ops-limited', { ORIGIN_URL: origin.url, ROUTES }, [...RATE_LIMITER, '', ...METRICS]),
    launch(
      'gateway-ops-service',
      { ROUTES: [{ path: '/public', auth: 'none' }, { path: '/echo/*', auth: 'required' }], CLAIM_HEADERS: { org_id: 'X-Auth-Org' } },
      [...ORIGIN_SERVICE, '', ...METRICS_RECORDER],
      ['--config', originToml],
    ),
    launch('gateway-ops-no-limiter', { ORIGIN_URL: origin.url, ROUTES }, METRICS),
    launch('gateway-ops-two-origins', { ORIGIN_URL: origin.url }, ORIGIN_SERVICE),
  ]);
}, { timeout: 30 * 60_000 });

after(async () => {
  await Promise.all([limited, service, ...Object.values(misconfigured)].map((g) => g?.stop()));
  await Promise.all([issuer?.close(), origin?.close()]);
});

const call = (gw, p, token, options = {}) =>
  request(`${gw.url}${p}`, { ...options, headers: { ...(options.headers ?? {}), ...(token ? { Authorization: `Bearer ${token}` } : {}) } });

/** The local limiter counts in fixed windows of PERIOD seconds: start a burst well inside one. */
async function freshWindowAhead() {
  const left = PERIOD * 1000 - (Date.now() % (PERIOD * 1000));
  if (left < 15_000) await sleep(left + 250);
}

/** A request that must be proxied to the recording origin. */
async function proxied(p, token) {
  const before = origin.count();
  const res = await call(limited, p, token);
  assert.equal(res.status, 200, describeRes(res));
  assert.equal(origin.count(), before + 1, `expected the request to reach the origin (${describeRes(res)})`);
}

/** A request that must be refused with this status and error, never reaching the origin. */
async function refused(p, token, status, error) {
  const before = origin.started();
  const res = await call(limited, p, token);
  assertError(res, status, error, { secrets: [token] });
  assert.equal(origin.started(), before, `a refused request reached the origin: ${describeRes(res)}`);
  return res;
}

describe('rate limits per verified identity', () => {
  test('over its limit a subject gets 429 with Retry-After; refused tokens cost nothing; others are unaffected', async () => {
    await freshWindowAhead();
    const run = crypto.randomUUID();
    const alice = issuer.mint({ sub: `auth0|alice-${run}` });
    // Refused requests of the same subject consume none of its budget.
    for (let i = 0; i < LIMIT + 1; i++) {
      await refused('/limited/x', issuer.mint({ sub: `auth0|alice-${run}`, expiresIn: -60 }), 401, 'invalid_token');
      await refused('/scoped', alice, 403, 'insufficient_scope');
    }
    for (let i = 0; i < LIMIT; i++) await proxied('/limited/x', alice);
    const res = await refused('/limited/y', alice, 429, 'rate_limited');
    assert.equal(res.headers['retry-after'], String(PERIOD), describeRes(res));
    assert.equal(res.headers['www-authenticate'], undefined, 'a rate limit is not an authentication challenge');
    // The budget is the subject's, whatever token it uses; another subject, and a route without limits,
    // are unaffected.
    await refused('/limited/x', issuer.mint({ sub: `auth0|alice-${run}`, expiresIn: 600 }), 429, 'rate_limited');
    await proxied('/limited/x', issuer.mint({ sub: `auth0|bob-${run}` }));
    await proxied('/free/x', alice);
    await limited.waitForLog((line) => line.includes('"decision":"rate_limited"'));
  });

  test('a token without sub is counted by its client_id', async () => {
    await freshWindowAhead();
    const client = `m2m-${crypto.randomUUID()}`;
    const token = issuer.mint({ claims: { sub: undefined, client_id: client } });
    for (let i = 0; i < LIMIT; i++) await proxied('/limited/m2m', token);
    await refused('/limited/m2m', token, 429, 'rate_limited');
    await proxied('/limited/m2m', issuer.mint({ claims: { sub: undefined, client_id: `${client}-other` } }));
  });
});

describe('ORIGIN_SERVICE', () => {
  test('the origin Worker gets the request as ORIGIN_URL would: method, path, query, streamed body, identity headers', async () => {
    const token = issuer.mint({ sub: 'auth0|svc', claims: { org_id: 'org_9' } });
    const body = crypto.randomBytes(256 * 1024);
    const res = await call(service, '/echo/a?b=1&c', token, {
      method: 'POST',
      body,
      headers: { 'X-Auth-Sub': 'spoofed', x_auth_org: 'spoofed', 'Content-Type': 'application/octet-stream' },
    });
    assert.equal(res.status, 200, describeRes(res));
    const seen = res.json;
    assert.equal(seen.method, 'POST');
    assert.equal(seen.url, `${service.url}/echo/a?b=1&c`);
    assert.equal(seen.bytes, body.length);
    assert.equal(seen.sha256, crypto.createHash('sha256').update(body).digest('hex'));
    assert.equal(seen.headers['x-auth-sub'], 'auth0|svc');
    assert.equal(seen.headers['x-auth-org'], 'org_9');
    assert.equal(seen.headers.x_auth_org, undefined, 'a client copy of an identity header must be removed');
    assert.equal(seen.headers.authorization, undefined, 'credentials are not forwarded by default');
  });

  test('a refused request never reaches the origin Worker', async () => {
    const token = issuer.mint({ sub: 'auth0|svc' });
    const first = (await call(service, '/echo/1', token)).json.seq;
    assertError(await call(service, '/echo/2', issuer.mint({ expiresIn: -60 })), 401, 'invalid_token');
    assertError(await call(service, '/echo/3'), 401, 'unauthorized');
    const next = (await call(service, '/echo/4', token)).json.seq;
    assert.equal(next, first + 1, 'the origin Worker saw a refused request');
  });
});

describe('METRICS', () => {
  /** The data points the recorder receives, read until `done(points)` (the reads write points too). */
  async function pointsUntil(done, reader) {
    let points = [];
    for (let tries = 0; tries < 50; tries++) {
      if (tries) await sleep(100);
      points = points.concat((await call(service, '/echo/metrics-points', reader)).json);
      if (done(points)) break;
    }
    return points;
  }
  const has = (route, decision) => (points) => points.some((p) => p.blobs[0] === route && p.blobs[1] === decision);

  test('each request writes one data point: route, decision, reason, issuer, key source, scheme, method; never a credential', async () => {
    const token = issuer.mint({ sub: 'auth0|metrics' });
    const reader = issuer.mint({ sub: 'auth0|reader' });
    await pointsUntil(() => true, reader); // empties the recorder of earlier tests' points
    const expired = issuer.mint({ sub: 'auth0|metrics', expiresIn: -60 });
    assert.equal((await call(service, '/public')).status, 200);
    assert.equal((await call(service, '/echo/m', token)).status, 200);
    assertError(await call(service, '/echo/m', expired), 401, 'invalid_token');
    const points = await pointsUntil((ps) => has('/public', 'allow')(ps) && has('/echo/*', 'invalid_token')(ps), reader);
    const of = (route, decision) => points.filter((p) => p.blobs[0] === route && p.blobs[1] === decision);
    const [open] = of('/public', 'allow');
    assert.deepEqual(open?.indexes, ['/public'], JSON.stringify(points));
    assert.deepEqual(open.blobs, ['/public', 'allow', '', '', '', '', 'GET', '']);
    assert.deepEqual(open.doubles.slice(1), [200, 0, 0], 'a public route is proxied too: the origin status, no key fetch');
    const allowed = of('/echo/*', 'allow');
    assert.ok(allowed.length >= 1, JSON.stringify(points));
    const forwarded = allowed.find((p) => p.doubles[1] === 200);
    assert.deepEqual(forwarded.indexes, ['/echo/*']);
    assert.deepEqual(forwarded.blobs.slice(0, 3), ['/echo/*', 'allow', '']);
    assert.equal(forwarded.blobs[3], issuer.issuer);
    assert.match(forwarded.blobs[4], /^(memory|refreshed)$/);
    assert.deepEqual(forwarded.blobs.slice(5), ['bearer', 'GET', ''], 'the sub is left out by default');
    const [refused] = of('/echo/*', 'invalid_token');
    assert.ok(refused, JSON.stringify(points));
    assert.notEqual(refused.blobs[2], '', 'a refusal carries its reason');
    for (const p of points) {
      assert.equal(p.blobs.length, 8);
      assert.equal(p.doubles.length, 4);
      assert.ok(p.doubles[0] >= 0);
      for (const blob of p.blobs) {
        for (const secret of [token, expired, reader].flatMap((t) => t.split('.'))) assert.ok(!blob.includes(secret), blob);
        assert.ok(!blob.includes('auth0|'), `a sub in ${blob}`);
      }
    }
  });
});

describe('configuration', () => {
  test('a route asking for rate_limit without the RATE_LIMITER binding is a configuration error', async () => {
    const detail = assertError(await call(misconfigured.limiter, '/public'), 500, 'configuration_error');
    assert.equal(
      detail.error_description,
      "RATE_LIMITER is not bound, and route /limited/* asks for 'rate_limit' (declare it under [[ratelimits]] in wrangler.toml)",
    );
  });

  test('ORIGIN_URL and ORIGIN_SERVICE together are a configuration error', async () => {
    const detail = assertError(await call(misconfigured.origin, '/api/public'), 500, 'configuration_error');
    assert.equal(detail.error_description, 'ORIGIN_SERVICE is bound and ORIGIN_URL is set: the origin is one or the other');
  });
});
