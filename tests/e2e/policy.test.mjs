// End-to-end tests of per-route policy (README: Policy, Configuration): optional authentication, an audience
// per route (also for tokens from the verified-token cache), claim rules, TOKEN_ALGORITHMS (PS256),
// TOKEN_PROFILE=rfc9068 and MAX_TOKEN_AGE_SECONDS, and the JSON settings written either as strings or as native TOML values under
// [vars] of a real wrangler.toml. Proxy mode, against the local development issuer and a recording origin.
//
//   bash scripts/build.sh && node --test tests/e2e/policy.test.mjs
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startIssuer } from '../../tools/dev-issuer.mjs';
import { ALGS, assertError, describeRes } from './contract.mjs';
import { buildWorker, request, startGateway, wranglerToml } from './harness.mjs';
import { startOrigin } from './origin.mjs';

const AUDIENCE_B = 'https://api-b.policy-tests.example';
const ROLES = 'https://example.com/roles';
const ROUTES = [
  { path: '/public', auth: 'none' },
  { path: '/open', auth: 'optional' },
  { path: '/a/*', auth: 'required' },
  { path: '/b/*', auth: 'required', audience: [AUDIENCE_B, 'https://other.example'] },
  {
    path: '/org',
    auth: 'required',
    claims: [
      { claim: 'org_id', equals: 'org_1' },
      { claim: ROLES, includes: ['admin'] },
      { claim: 'sub', not_prefix: 'anon@' },
    ],
  },
];
const CLAIM_HEADERS = { org_id: 'X-Auth-Org' };

let issuer;
let origin;
/** The gateways whose behaviour must be the same: JSON settings as strings, and as [vars] tables. */
const gateways = {};
let strict;
const sent = new Set();

/** A wrangler.toml for the built worker with these [vars]. */
const policyToml = (vars) => wranglerToml(vars, { name: 'auth0-edge-gateway-policy-test' });

before(async () => {
  // The JWKS states no alg for the issuer's key, as it serves RS256 and PS256 tokens alike.
  [issuer, origin] = await Promise.all([startIssuer({ jwkAlg: null }), startOrigin()]);
  await buildWorker();
  const base = { AUTH0_DOMAIN: issuer.domain, AUTH0_AUDIENCE: issuer.audience, ORIGIN_URL: origin.url };
  const launch = (opts) => startGateway({ readyPath: '/public', readyTimeoutMs: 10 * 60_000, ...opts });
  [gateways.strings, gateways.tables, strict] = await Promise.all([
    launch({ vars: { ...base, ROUTES: JSON.stringify(ROUTES), CLAIM_HEADERS: JSON.stringify(CLAIM_HEADERS) } }),
    launch({ extraArgs: ['--config', policyToml({ ...base, ROUTES, CLAIM_HEADERS })] }),
    launch({
      vars: {
        ...base,
        ROUTES: JSON.stringify([{ path: '/public', auth: 'none' }, { path: '/a/*', auth: 'required' }]),
        TOKEN_PROFILE: 'rfc9068',
        MAX_TOKEN_AGE_SECONDS: '60',
        TOKEN_ALGORITHMS: 'PS256, RS256',
      },
    }),
  ]);
}, { timeout: 30 * 60_000 });

after(async () => {
  await Promise.all([...Object.values(gateways), strict].map((g) => g?.stop()));
  await Promise.all([issuer?.close(), origin?.close()]);
});

const now = () => Math.floor(Date.now() / 1000);

function mint(opts = {}) {
  const token = issuer.mint(opts);
  sent.add(token);
  return token;
}

function call(gw, p, token) {
  return callWith(gw, p, token === undefined ? undefined : `Bearer ${token}`);
}

/** A request with this `Authorization` value as it is (none when undefined). */
function callWith(gw, p, authorization) {
  const headers = authorization === undefined ? {} : { Authorization: authorization };
  return request(`${gw.url}${p}`, { headers });
}

/** Sends a request that must be refused with 401 invalid_token and this description, never proxied. */
async function refused(gw, p, token, description) {
  const before = origin.started();
  const res = await call(gw, p, token);
  const detail = assertError(res, 401, 'invalid_token', { secrets: [token] });
  assert.equal(detail.error_description, description, describeRes(res));
  assert.equal(origin.started(), before, `a refused request reached the origin: ${describeRes(res)}`);
}

/** Sends a request that must be proxied; returns what the origin received. */
async function proxied(gw, p, token) {
  const before = origin.count();
  const res = await call(gw, p, token);
  assert.equal(res.status, 200, describeRes(res));
  assert.equal(origin.count(), before + 1, `expected the request to reach the origin once (${describeRes(res)})`);
  return origin.last();
}

const header = (rec, name) => rec.headers[name];

for (const form of ['strings', 'tables']) {
  describe(`per-route policy, JSON settings as ${form}`, () => {
    test('optional authentication: anonymous without credentials, checked when sent', async () => {
      const gw = gateways[form];
      const anonymous = await proxied(gw, '/open');
      assert.equal(header(anonymous, 'x-auth-sub'), undefined, 'an anonymous request carries no identity');
      const rec = await proxied(gw, '/open', mint({ sub: 'auth0|opt' }));
      assert.equal(header(rec, 'x-auth-sub'), 'auth0|opt');
      await refused(gw, '/open', mint({ expiresIn: -10 }), 'exp: the token has expired');
    });

    test('optional authentication: only spaces and tabs make a blank Authorization', async () => {
      const gw = gateways[form];
      const proxiedBefore = origin.count();
      const blank = await callWith(gw, '/open', ' \t ');
      assert.equal(blank.status, 200, describeRes(blank));
      assert.equal(origin.count(), proxiedBefore + 1, 'a blank Authorization goes through anonymously');
      assert.equal(header(origin.last(), 'x-auth-sub'), undefined);
      // A no-break space is not blank: credentials in no supported scheme, on this route as on any other.
      // node:http writes header values as Latin-1, so these two characters are the UTF-8 bytes C2 A0, which
      // the runtime reads as U+00A0.
      const started = origin.started();
      const noBreak = await callWith(gw, '/open', '\u00c2\u00a0');
      assertError(noBreak, 401, 'unauthorized', { challenge: `Bearer realm="api", DPoP ${ALGS}` });
      assert.equal(origin.started(), started, 'a refused request reached the origin');
    });

    test('an audience per route: a token for API A is refused on API B and accepted on its own', async () => {
      const gw = gateways[form];
      const forA = mint();
      const forB = mint({ audience: ['https://unrelated.example', AUDIENCE_B] });
      // Verified and cached on its own route first: the stricter route still refuses it.
      await proxied(gw, '/a/x', forA);
      await proxied(gw, '/a/x', forA);
      await refused(gw, '/b/x', forA, 'aud: does not contain the configured audience');
      await proxied(gw, '/b/x', forB);
      await refused(gw, '/a/x', forB, 'aud: does not contain the configured audience');
    });

    test('claim rules name the claim that failed', async () => {
      const gw = gateways[form];
      const good = { org_id: 'org_1', [ROLES]: ['ops', 'admin'] };
      const rec = await proxied(gw, '/org', mint({ claims: good }));
      assert.equal(header(rec, 'x-auth-org'), 'org_1');
      await refused(gw, '/org', mint({ claims: { ...good, org_id: 'org_2' } }), "Unexpected 'org_id' value");
      await refused(gw, '/org', mint({ claims: { ...good, [ROLES]: undefined } }), `Missing '${ROLES}' claim`);
      await refused(gw, '/org', mint({ claims: { ...good, [ROLES]: ['ops'] } }), `Unexpected '${ROLES}' value`);
      await refused(gw, '/org', mint({ sub: 'anon@8c1f', claims: good }), "Unexpected 'sub' value");
    });
  });
}

describe('token profile and age', () => {
  const rfc9068 = (claims = {}, header = { typ: 'at+jwt' }) =>
    mint({ header, claims: { client_id: 'client-1', jti: `j-${Math.random()}`, ...claims } });

  test('TOKEN_PROFILE=rfc9068 asks for typ at+jwt and sub, client_id, iat, jti', async () => {
    await proxied(strict, '/a/x', rfc9068());
    await refused(strict, '/a/x', rfc9068({}, { typ: 'JWT' }), 'typ: must be at+jwt (TOKEN_PROFILE=rfc9068)');
    await refused(strict, '/a/x', rfc9068({ client_id: undefined }), 'client_id: missing');
    await refused(strict, '/a/x', rfc9068({ jti: undefined }), 'jti: missing');
  });

  test('TOKEN_ALGORITHMS: PS256 accepted where configured, other algorithms refused', async () => {
    await proxied(strict, '/a/x', rfc9068({}, { typ: 'at+jwt' }));
    const ps256 = mint({ alg: 'PS256', header: { typ: 'at+jwt' }, claims: { client_id: 'c', jti: 'ps-1' } });
    await proxied(strict, '/a/x', ps256);
    const rs512 = mint({ alg: 'RS512', header: { typ: 'at+jwt' }, claims: { client_id: 'c', jti: 'rs-1' } });
    await refused(strict, '/a/x', rs512, 'alg: not an accepted algorithm (TOKEN_ALGORITHMS)');
    // The default (RS256 only) refuses a PS256 token.
    await refused(gateways.strings, '/a/x', mint({ alg: 'PS256' }), 'alg: not an accepted algorithm (TOKEN_ALGORITHMS)');
  });

  test('MAX_TOKEN_AGE_SECONDS refuses older tokens', async () => {
    await proxied(strict, '/a/x', rfc9068({ iat: now() - 30 }));
    await refused(strict, '/a/x', rfc9068({ iat: now() - 120 }), 'iat: the token is older than MAX_TOKEN_AGE_SECONDS');
  });
});

describe('configuration', () => {
  test('a bad [vars] table is a configuration error naming the setting, on every request', async () => {
    const bad = await startGateway({
      readyPath: '/public',
      extraArgs: [
        '--config',
        policyToml({ AUTH0_DOMAIN: issuer.domain, ORIGIN_URL: origin.url, ROUTES: [{ path: '/x', auth: 'optional', scopes: ['a'] }] }),
      ],
    });
    try {
      for (const p of ['/public', '/x']) {
        const res = await call(bad, p);
        const detail = assertError(res, 500, 'configuration_error');
        assert.match(detail.error_description, /^ROUTES rule 1 \(\/x\): auth 'optional' cannot require scopes/);
      }
    } finally {
      await bad.stop();
    }
  });
});
