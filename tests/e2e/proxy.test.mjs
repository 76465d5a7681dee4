// End-to-end tests of proxy mode, route rules, CORS and multiple issuers, under `wrangler dev`, against local
// development issuers and a recording origin (./origin.mjs). Written against the README sections Routes and
// Errors, its Features rows Proxy mode, CORS and Issuers, and the settings (README: Configuration) ROUTES, ORIGIN_URL, CLAIM_HEADERS, FORWARD_CREDENTIALS,
// ORIGIN_SHARED_SECRET(_HEADER), CORS_ALLOWED_*, AUTH0_ADDITIONAL_DOMAINS.
//
//   bash scripts/build.sh && node --test tests/e2e/proxy.test.mjs
//
// Requests go out through harness.request(), which sends the path byte for byte as written (never through the
// WHATWG URL parser, which would resolve `..`, `%2e%2e` and `\` before anything is sent).
//
// Gateways (started once, in parallel, stopped at the end):
// - main: proxy to origin1 + base path, ROUTES below, CLAIM_HEADERS, shared secret, CORS, issuers A and B
// - creds: proxy to origin2 (no base path), FORWARD_CREDENTIALS=true, a custom shared-secret header
// - serve: no ORIGIN_URL, the demo endpoints under custom ROUTES
// - bad-*: invalid ROUTES tables (every request 500 configuration_error)
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { startIssuer } from '../../tools/dev-issuer.mjs';
import { assertError, describeRes } from './contract.mjs';
import { buildWorker, headerValues, readResponse, request, startGateway } from './harness.mjs';
import { startOrigin } from './origin.mjs';
import { ecPrivateKey } from '../../tools/keygen.mjs';

const MiB = 1024 * 1024;
const AUDIENCE = 'https://api.proxy-tests.example';
const SECRET = `gw-secret-${crypto.randomBytes(12).toString('hex')}`;
const SECRET2 = `origin-key-${crypto.randomBytes(12).toString('hex')}`;
const APP = 'https://app.example.com';
const LOCAL_APP = 'http://localhost:3000';
const EVIL = 'https://evil.example.com';
const BASE = '/base/v1';
const LARGE_UPLOAD_BYTES = Number(process.env.PROXY_LARGE_UPLOAD_MIB ?? 50) * MiB;

/** The main gateway's route table; the numbers are the rules' positions, for the comments below. */
const ROUTES = [
  { path: '/api/public/*', auth: 'none' }, // 1
  { path: '/api/messages/*', methods: ['GET'], scopes: ['read:messages'] }, // 2
  { path: '/api/messages/*', methods: ['POST', 'PUT'], scopes: ['write:messages'] }, // 3
  { path: '/api/messages/*', scopes: ['admin'] }, // 4: every other method
  { path: '/api/messages/feed', methods: ['GET'], auth: 'none' }, // 5: exact beats prefix
  { path: '/api/*', auth: 'required' }, // 6
  { path: '/api/any', scopes: ['a:read', 'b:read'], match: 'any' }, // 7
  { path: '/api/all', scopes: ['a:read', 'b:read'], match: 'all' }, // 8
  { path: '/reports', methods: ['GET'], scopes: ['reports:read'] }, // 9: GET only, nothing else covers it
];

const CLAIM_HEADERS = {
  email: 'X-Auth-Email',
  org_id: 'X-Auth-Org',
  roles: 'X-Auth-Roles',
  name: 'X-Auth-Name',
  meta: 'X-Auth-Meta',
  absent: 'X-Auth-Absent',
};

/** Every header name the main gateway may set (lower case), for the spoofing checks. */
const MAIN_GATEWAY_HEADERS = [
  'x-auth-sub', 'x-auth-scopes', 'x-auth-issuer',
  ...Object.values(CLAIM_HEADERS).map((h) => h.toLowerCase()),
  'x-gateway-secret',
];

const SERVE_ROUTES = [
  { path: '/api/public', methods: ['GET'], scopes: ['read:public'] },
  { path: '/api/private', methods: ['GET'], auth: 'none' },
  { path: '/api/private-scoped', methods: ['GET'], scopes: ['read:messages', 'admin'], match: 'any' },
  { path: '/api/extra', auth: 'none' },
];

/** Invalid tables: [name, ROUTES value, what the description must contain]. */
const BAD_TABLES = [
  [
    'unknown key in rule 2',
    [{ path: '/api/public', auth: 'none' }, { path: '/a/*', auth: 'none', extra: 1 }],
    ['rule 2 (/a/*)', 'extra'],
  ],
  [
    'unknown method in rule 1',
    [{ path: '/x', methods: ['FETCH'], auth: 'none' }, { path: '/api/public', auth: 'none' }],
    ['rule 1 (/x)', 'FETCH'],
  ],
  [
    'empty scopes in rule 2',
    [{ path: '/api/public', auth: 'none' }, { path: '/y', scopes: [] }],
    ['rule 2 (/y)', 'scopes'],
  ],
  [
    'rules 1 and 3 with the same path and overlapping methods',
    [
      { path: '/a/*', methods: ['GET', 'POST'], auth: 'none' },
      { path: '/b', auth: 'none' },
      { path: '/a/*', methods: ['post'], scopes: ['x'] },
    ],
    ['rule 1 (/a/*)', 'rule 3 (/a/*)'],
  ],
];

let issuerA;
let issuerB;
let issuerC; // never configured: its tokens must be refused without a fetch
let origin1;
let origin2;
let setupMs;
const gw = {}; // name -> gateway
const started = [];
const sentSecrets = new Set();

before(async () => {
  const t0 = Date.now();
  [issuerA, issuerB, issuerC, origin1, origin2] = await Promise.all([
    startIssuer({ audience: AUDIENCE }),
    startIssuer({ audience: AUDIENCE }),
    startIssuer({ audience: AUDIENCE }),
    startOrigin(),
    startOrigin(),
  ]);
  sentSecrets.add(SECRET).add(SECRET2);
  await buildWorker();
  const base = { AUTH0_DOMAIN: issuerA.domain, AUTH0_AUDIENCE: AUDIENCE };
  // Generous start-up timeouts: wrangler rebuilds the worker on start when src/ changed since the last build.
  const launch = async (name, vars, readyPath = '/__ready') => {
    const g = await startGateway({ vars: { ...base, ...vars }, readyPath, readyTimeoutMs: 10 * 60_000 });
    started.push(g);
    gw[name] = g;
    return g;
  };
  // The first alone, so that a rebuild (if the sources changed since buildWorker) runs once.
  await launch('main', {
    AUTH0_ADDITIONAL_DOMAINS: issuerB.domain,
    ORIGIN_URL: `${origin1.url}${BASE}`,
    ROUTES: JSON.stringify(ROUTES),
    CLAIM_HEADERS: JSON.stringify(CLAIM_HEADERS),
    ORIGIN_SHARED_SECRET: SECRET,
    CORS_ALLOWED_ORIGINS: `${APP}, ${LOCAL_APP}`,
  });
  await Promise.all([
    launch('creds', {
      ORIGIN_URL: `${origin2.url}/`,
      ROUTES: JSON.stringify([{ path: '/api/public/*', auth: 'none' }, { path: '/api/*', auth: 'required' }]),
      FORWARD_CREDENTIALS: 'true',
      ORIGIN_SHARED_SECRET: SECRET2,
      ORIGIN_SHARED_SECRET_HEADER: 'X-Origin-Key',
    }),
    launch('serve', { ROUTES: JSON.stringify(SERVE_ROUTES) }, '/api/private'),
    ...BAD_TABLES.map(([, table], i) => launch(`bad${i}`, { ORIGIN_URL: origin1.url, ROUTES: JSON.stringify(table) }, '/api/public')),
  ]);
  origin1.reset();
  origin2.reset();
  setupMs = Date.now() - t0;
}, { timeout: 15 * 60_000 });

after(async () => {
  await Promise.all(started.map((g) => g.stop()));
  await Promise.all([origin1, origin2].map((o) => o?.close()));
  await Promise.all([issuerA, issuerB, issuerC].map((i) => i?.close()));
});

// ------------------------------------------------------------------ requests

/**
 * One request to `g` (harness.request: a fresh connection, the path exactly as written, `headers` an object
 * or [name, value] pairs, `body` or `chunks`). `token`: adds `Authorization: Bearer <token>`, remembered for
 * the log check.
 */
function send(g, path, { token, headers = {}, timeoutMs = 60_000, ...options } = {}) {
  const list = Array.isArray(headers) ? [...headers] : Object.entries(headers);
  if (token !== undefined) {
    sentSecrets.add(token);
    list.push(['Authorization', `Bearer ${token}`]);
  }
  return request(`${g.url}${path}`, { ...options, headers: list, timeoutMs });
}

/**
 * Values of a header as the origin received it, matching the name in any case and with `_` read as `-`
 * (the way CGI/WSGI servers read them).
 */
const atOrigin = (rec, name) =>
  rec.rawHeaders.filter(([n]) => n.toLowerCase().replace(/_/g, '-') === name).map(([, v]) => v);

/** A list header (Vary) as lower-case tokens. */
const tokens = (values) => values.flatMap((v) => v.split(',')).map((s) => s.trim().toLowerCase()).filter(Boolean);

/** Runs `fn` and checks that it reached `origin` not at all. */
async function notProxied(origin, fn) {
  const before = origin.started();
  const res = await fn();
  assert.equal(origin.started(), before, `the request reached the origin (${describeRes(res)}; origin saw ${origin.last()?.url})`);
  return res;
}

/** Runs `fn`, checks that exactly one request reached `origin`, and returns {res, rec}. */
async function proxied(origin, fn) {
  const before = origin.count();
  const res = await fn();
  assert.equal(origin.count(), before + 1, `expected the request to reach the origin once (${describeRes(res)})`);
  return { res, rec: origin.last() };
}

function assertOk(res, status = 200) {
  assert.equal(res.status, status, describeRes(res));
}

// ------------------------------------------------------------------ tokens and DPoP proofs

const tokenA = (o = {}) => issuerA.mint({ sub: 'auth0|alice', ...o });
const tokenB = (o = {}) => issuerB.mint({ sub: 'auth0|bob', ...o });

function dpopKey() {
  const privateKey = ecPrivateKey('P-256');
  const { kty, crv, x, y } = crypto.createPublicKey(privateKey).export({ format: 'jwk' });
  const jkt = crypto.createHash('sha256').update(JSON.stringify({ crv, kty, x, y })).digest('base64url');
  return { privateKey, jwk: { kty, crv, x, y }, jkt };
}

/** An RFC 9449 proof for `method url`, bound to `token`. */
function dpopProof(key, method, url, token) {
  const seg = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${seg({ typ: 'dpop+jwt', alg: 'ES256', jwk: key.jwk })}.${seg({
    jti: crypto.randomUUID(),
    htm: method,
    htu: url,
    iat: Math.floor(Date.now() / 1000),
    ath: crypto.createHash('sha256').update(token).digest('base64url'),
  })}`;
  const sig = crypto.sign('sha256', Buffer.from(input), { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
  const proof = `${input}.${sig.toString('base64url')}`;
  sentSecrets.add(proof);
  return proof;
}

// ------------------------------------------------------------------ route table (README: Routes)

test('set-up', (t) => {
  t.diagnostic(`issuers, origins, build and ${started.length} gateways ready in ${setupMs} ms (start-up of each: ${started.map((g) => g.startupMs).join(', ')} ms)`);
});

describe('route table end to end (main gateway)', () => {
  const cases = [
    // [name, method, path, token options or null, expected status, expected error or proxied path]
    ['GET under /api/messages/* with read:messages (rule 2)', 'GET', '/api/messages/1', { scope: 'read:messages' }, 200],
    ['GET under /api/messages/* with only write:messages', 'GET', '/api/messages/1', { scope: 'write:messages' }, 403, 'read:messages'],
    ['POST under /api/messages/* with write:messages (rule 3)', 'POST', '/api/messages/1', { scope: 'write:messages' }, 200],
    ['POST under /api/messages/* with only read:messages', 'POST', '/api/messages/1', { scope: 'read:messages' }, 403, 'write:messages'],
    ['PUT under /api/messages/* with write:messages (rule 3)', 'PUT', '/api/messages/1', { scope: 'write:messages' }, 200],
    ['PATCH under /api/messages/* with only write:messages: rule 4 wants admin', 'PATCH', '/api/messages/1', { scope: 'write:messages' }, 403, 'admin'],
    ['PROPFIND, a method the gateway does not name, under /api/messages/* with admin (rule 4)', 'PROPFIND', '/api/messages/1', { scope: 'admin' }, 200],
    ['DELETE under /api/messages/* (no method rule: rule 4) with admin', 'DELETE', '/api/messages/1', { scope: 'admin' }, 200],
    ['DELETE under /api/messages/* with read and write but no admin', 'DELETE', '/api/messages/1', { scope: 'read:messages write:messages' }, 403, 'admin'],
    ['the prefix itself (/api/messages) matches /api/messages/*', 'GET', '/api/messages', { scope: 'read:messages' }, 200],
    ['exact /api/messages/feed (GET, public) beats the prefix', 'GET', '/api/messages/feed', null, 200],
    ['POST /api/messages/feed: the exact GET rule does not apply, rule 3 does', 'POST', '/api/messages/feed', null, 401, 'unauthorized'],
    ['/api/messagesX is not under /api/messages/: rule 6 (any token)', 'GET', '/api/messagesX', {}, 200],
    ['/api/other without a token (rule 6)', 'GET', '/api/other', null, 401, 'unauthorized'],
    ['/api/other with a token without scopes (rule 6)', 'GET', '/api/other', {}, 200],
    ['match any: a:read alone', 'GET', '/api/any', { scope: 'a:read' }, 200],
    ['match any: b:read alone (via permissions)', 'GET', '/api/any', { permissions: ['b:read'] }, 200],
    ['match any: neither', 'GET', '/api/any', { scope: 'c:read' }, 403, 'a:read b:read'],
    ['match all: a:read alone', 'GET', '/api/all', { scope: 'a:read' }, 403, 'a:read b:read'],
    ['match all: both in scope', 'GET', '/api/all', { scope: 'b:read a:read' }, 200],
    ['match all: one in scope, one in permissions (union)', 'GET', '/api/all', { scope: 'a:read', permissions: ['b:read'] }, 200],
    ['match all: one in scp (array), one in permissions', 'GET', '/api/all', { claims: { scp: ['a:read'] }, permissions: ['b:read'] }, 200],
    ['permissions alone grant read:messages', 'GET', '/api/messages/2', { permissions: ['read:messages'] }, 200],
    ['scp as a string grants read:messages', 'GET', '/api/messages/3', { claims: { scp: 'read:messages' } }, 200],
    ['scp as an array grants read:messages', 'GET', '/api/messages/4', { claims: { scp: ['read:messages'] } }, 200],
    ['exact GET /reports with reports:read', 'GET', '/reports', { scope: 'reports:read' }, 200],
    ['POST /reports: no rule covers the method', 'POST', '/reports', { scope: 'reports:read' }, 404, 'not_found'],
    ['/reports/x: an exact rule does not cover paths below it', 'GET', '/reports/x', { scope: 'reports:read' }, 404, 'not_found'],
    ['GET /', 'GET', '/', {}, 404, 'not_found'],
    ['GET /apix (not under /api/)', 'GET', '/apix', {}, 404, 'not_found'],
    ['GET /other without a token', 'GET', '/other', null, 404, 'not_found'],
  ];
  for (const [name, method, path, tokenOpts, status, expected] of cases) {
    test(`${name}: ${status}`, async () => {
      const token = tokenOpts ? tokenA(tokenOpts) : undefined;
      const go = () => send(gw.main, path, { method, token });
      if (status === 200) {
        const { res, rec } = await proxied(origin1, go);
        assertOk(res);
        assert.equal(rec.method, method);
        assert.equal(rec.url, `${BASE}${path}`);
        return;
      }
      const res = await notProxied(origin1, go);
      if (status === 403) {
        assertError(res, 403, 'insufficient_scope');
        const www = res.headers['www-authenticate'] ?? '';
        assert.ok(www.includes(`error="insufficient_scope"`) && www.includes(`scope="${expected}"`), `challenge: ${www}`);
      } else {
        assertError(res, status, expected);
      }
    });
  }

  test('an unmatched path is refused before any token work (an unknown kid causes no JWKS fetch)', async () => {
    const k = issuerA.newKey();
    const token = tokenA({ key: k.privateKey, header: { kid: k.kid } });
    const before = issuerA.stats();
    for (const path of ['/nope', '/ap', '/api-v2/x', '/reports/']) {
      const res = await notProxied(origin1, () => send(gw.main, path, { token }));
      assertError(res, 404, 'not_found');
    }
    assert.deepEqual(issuerA.stats(), before, 'the gateway fetched discovery or JWKS for an unmatched path');
  });
});

// ------------------------------------------------------------------ path normalisation (README: Features, Routes)

describe('path normalisation and refusals (main gateway)', () => {
  const refused = [
    ['an encoded slash %2F', '/api/public/a%2Fb'],
    ['an encoded slash %2f used to climb', '/api/public/..%2fmessages%2f1'],
    ['an encoded backslash %5C', '/api/public/a%5Cb'],
    ['an encoded backslash %5c', '/api/public/a%5cb'],
    ['an empty segment //', '/api/public//x'],
    ['a leading //', '//api/public/x'],
    ['an encoded NUL %00', '/api/public/x%00'],
    ['an encoded LF %0a', '/api/public/x%0a'],
    ['an encoded DEL %7F', '/api/public/x%7F'],
    ['invalid percent-encoding %zz', '/api/public/%zz'],
    ['a truncated escape %', '/api/public/x%'],
    ['a truncated escape %4', '/api/public/x%4'],
    ['a truncated UTF-8 escape %C3%', '/api/public/%C3%'],
  ];
  for (const [name, path] of refused) {
    test(`${name} (${path}): 400 invalid_request, never proxied`, async () => {
      const res = await notProxied(origin1, () => send(gw.main, path, { token: tokenA({ scope: 'read:messages admin' }) }));
      assertError(res, 400, 'invalid_request');
    });
  }

  // workerd parses the request URL with the WHATWG URL parser before the Worker sees it, and that parser
  // resolves "double-dot" segments in all their spellings (.., .%2e, %2e., %2e%2e). What must hold is that such
  // a path never escapes a public prefix into a protected one and never reaches the origin unauthorised.
  const dotted = [
    ['raw ..', '/api/public/../messages/1'],
    ['%2e%2e', '/api/public/%2e%2e/messages/1'],
    ['%2E%2E', '/api/public/%2E%2E/messages/1'],
    ['.%2e', '/api/public/.%2e/messages/1'],
    ['%2e.', '/api/public/%2e./messages/1'],
    ['a trailing %2e%2e', '/api/public/x/%2e%2e/%2e%2e/messages'],
  ];
  for (const [name, path] of dotted) {
    test(`a ${name} segment (${path}) never leaves the public prefix unauthenticated: 400, or 401 on the resolved path`, async () => {
      const res = await notProxied(origin1, () => send(gw.main, path));
      assert.ok(res.status === 400 || res.status === 401, describeRes(res));
      assertError(res, res.status, res.status === 400 ? 'invalid_request' : 'unauthorized');
    });
  }

  test('a raw backslash never reaches the origin as a backslash', async () => {
    const before = origin1.started();
    const res = await send(gw.main, '/api/public/a\\b');
    if (res.status === 400) {
      assertError(res, 400, 'invalid_request');
      assert.equal(origin1.started(), before);
    } else {
      // The WHATWG URL parser in front of the Worker turns "\" into "/" for http URLs.
      assertOk(res);
      assert.equal(origin1.last().url, `${BASE}/api/public/a/b`);
    }
    for (const rec of origin1.requests()) assert.ok(!/\\|%5c/i.test(rec.url), `the origin saw ${rec.url}`);
  });

  test('the origin gets the normalised path: unreserved escapes decoded, other escapes upper-cased, no double decoding', async () => {
    const cases = [
      ['/api/public/%70ath/%7Euser/%41-%5f.x', '/api/public/path/~user/A-_.x'],
      ['/api/public/%c3%a9t%C3%A9', '/api/public/%C3%A9t%C3%A9'],
      ['/api/public/./x/%2e/y', '/api/public/x/y'],
      ['/api/public/a%20b', '/api/public/a%20b'],
      ['/api/public/%252e%252e/x', '/api/public/%252e%252e/x'],
      ['/api/public/%252F', '/api/public/%252F'],
      ['/api/public/dir/', '/api/public/dir/'],
      ['/api/public', '/api/public'],
      ['/api/%70ublic/x', '/api/public/x'],
    ];
    for (const [sent, expected] of cases) {
      const { res, rec } = await proxied(origin1, () => send(gw.main, sent));
      assertOk(res);
      assert.equal(rec.url, `${BASE}${expected}`, `sent ${sent}`);
    }
  });

  test('an encoded spelling of a protected path is still protected (/api/%6dessages/1)', async () => {
    const res = await notProxied(origin1, () => send(gw.main, '/api/%6dessages/1'));
    assertError(res, 401, 'unauthorized');
    const ok = await proxied(origin1, () => send(gw.main, '/api/%6Dessages/1', { token: tokenA({ scope: 'read:messages' }) }));
    assertOk(ok.res);
    assert.equal(ok.rec.url, `${BASE}/api/messages/1`);
  });
});

// ------------------------------------------------------------------ what reaches the origin (README: Features, Proxy mode)

describe('request forwarding (main gateway)', () => {
  test('query is passed as sent', async () => {
    const query = 'b=2&a=1&a=%2F&empty=&plus=a+b&enc=%E2%82%AC&flag';
    const { res, rec } = await proxied(origin1, () => send(gw.main, `/api/public/q?${query}`));
    assertOk(res);
    assert.equal(rec.url, `${BASE}/api/public/q?${query}`);
    const authed = await proxied(origin1, () => send(gw.main, `/api/messages/9?${query}`, { token: tokenA({ scope: 'read:messages' }) }));
    assertOk(authed.res);
    assert.equal(authed.rec.url, `${BASE}/api/messages/9?${query}`);
  });

  test('methods and small bodies arrive unchanged (POST, PUT, PATCH, DELETE)', async () => {
    const token = tokenA({ scope: 'write:messages admin' });
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      const body = JSON.stringify({ method, text: 'héllo', n: crypto.randomInt(1e9) });
      const { res, rec } = await proxied(origin1, () =>
        send(gw.main, `/api/messages/5?m=${method}`, { method, token, body, headers: { 'Content-Type': 'application/json' } }));
      assertOk(res);
      assert.equal(rec.method, method);
      assert.equal(rec.url, `${BASE}/api/messages/5?m=${method}`);
      assert.equal(rec.bytes, Buffer.byteLength(body));
      assert.equal(rec.sha256, crypto.createHash('sha256').update(body).digest('hex'));
      assert.equal(rec.headers['content-type'], 'application/json');
    }
  });

  test('an 8 MiB body arrives intact (size and SHA-256)', async (t) => {
    const body = crypto.randomBytes(8 * MiB);
    const sha = crypto.createHash('sha256').update(body).digest('hex');
    const t0 = Date.now();
    const { res, rec } = await proxied(origin1, () =>
      send(gw.main, '/api/upload/8m', { method: 'POST', token: tokenA(), body, headers: { 'Content-Type': 'application/octet-stream' } }));
    t.diagnostic(`8 MiB upload through the gateway: ${Date.now() - t0} ms`);
    assertOk(res);
    assert.equal(rec.bytes, body.length);
    assert.equal(rec.sha256, sha);
    assert.equal(res.json?.sha256, sha);
  });

  test('a chunked upload (no Content-Length) arrives intact', async () => {
    const pieces = Array.from({ length: 16 }, () => crypto.randomBytes(64 * 1024 + crypto.randomInt(1000)));
    const hash = crypto.createHash('sha256');
    for (const p of pieces) hash.update(p);
    const { res, rec } = await proxied(origin1, () =>
      send(gw.main, '/api/upload/chunked', { method: 'PUT', token: tokenA(), chunks: pieces, headers: { 'Transfer-Encoding': 'chunked' } }));
    assertOk(res);
    assert.equal(rec.method, 'PUT');
    assert.equal(rec.bytes, pieces.reduce((n, p) => n + p.length, 0));
    assert.equal(rec.sha256, hash.digest('hex'));
  });

  test(`a ${LARGE_UPLOAD_BYTES / MiB} MiB upload succeeds, and its first bytes reach the origin before the client has sent the rest (streaming)`, async (t) => {
    const tag = `upload-${crypto.randomUUID()}`;
    const token = tokenA();
    sentSecrets.add(token);
    const block = crypto.randomBytes(MiB);
    const hash = crypto.createHash('sha256');
    const probeAfter = 4 * MiB;
    const t0 = Date.now();
    const req = http.request({
      host: '127.0.0.1',
      port: gw.main.port,
      path: '/api/upload/large',
      method: 'POST',
      agent: false,
      headers: [
        'Host', `127.0.0.1:${gw.main.port}`,
        'Authorization', `Bearer ${token}`,
        'Content-Type', 'application/octet-stream',
        'Content-Length', String(LARGE_UPLOAD_BYTES),
        'X-Test-Tag', tag,
      ],
    });
    let failed;
    const response = new Promise((resolve, reject) => {
      req.on('response', (res) => readResponse(res).then(resolve, reject));
      req.on('error', (err) => {
        failed = err;
        reject(err);
      });
    });
    response.catch(() => {});
    let sent = 0;
    let i = 0;
    let sawFirstBytesEarly;
    let probeMs;
    while (sent < LARGE_UPLOAD_BYTES && !failed) {
      const n = Math.min(MiB, LARGE_UPLOAD_BYTES - sent);
      const chunk = Buffer.from(block.subarray(0, n));
      chunk.writeUInt32BE(i++, 0); // every MiB differs, so a reordered or repeated chunk changes the hash
      hash.update(chunk);
      sent += n;
      if (!req.write(chunk)) await Promise.race([once(req, 'drain'), response.catch(() => {})]);
      if (sawFirstBytesEarly === undefined && sent >= probeAfter) {
        // Hold the rest back until the origin reports bytes of this request: a gateway that buffered the
        // whole body first would never forward anything now.
        const p0 = Date.now();
        sawFirstBytesEarly = false;
        while (Date.now() - p0 < 15_000 && !failed) {
          if (origin1.inFlight(tag) > 0) {
            sawFirstBytesEarly = true;
            break;
          }
          await sleep(20);
        }
        probeMs = Date.now() - p0;
      }
    }
    req.end();
    const res = await response;
    const ms = Date.now() - t0;
    t.diagnostic(`${LARGE_UPLOAD_BYTES / MiB} MiB upload: ${ms} ms total (${(LARGE_UPLOAD_BYTES / MiB / (ms / 1000)).toFixed(1)} MiB/s); first bytes at the origin ${sawFirstBytesEarly ? `${probeMs} ms after the first ${probeAfter / MiB} MiB were sent` : 'NOT seen before the client finished'}`);
    assertOk(res);
    const rec = origin1.requests().find((r) => r.headers['x-test-tag'] === tag);
    assert.ok(rec, 'the origin has no record of the upload');
    assert.equal(rec.bytes, LARGE_UPLOAD_BYTES);
    assert.equal(rec.sha256, hash.digest('hex'));
    assert.equal(sawFirstBytesEarly, true, 'the origin saw no byte of the body while the client held back the rest: the body is buffered, not streamed');
  });

  test('identity headers: sub, granted scopes (scope ∪ scp ∪ permissions, no duplicates), issuer', async () => {
    const token = tokenA({
      sub: 'auth0|alice',
      scope: 'read:messages openid',
      permissions: ['write:messages', 'read:messages'],
      claims: { scp: ['extra:scope', 'openid'] },
    });
    const { res, rec } = await proxied(origin1, () => send(gw.main, '/api/messages/1', { token }));
    assertOk(res);
    assert.deepEqual(atOrigin(rec, 'x-auth-sub'), ['auth0|alice']);
    assert.deepEqual(atOrigin(rec, 'x-auth-issuer'), [issuerA.issuer]);
    const scopes = atOrigin(rec, 'x-auth-scopes');
    assert.equal(scopes.length, 1, `x-auth-scopes: ${JSON.stringify(scopes)}`);
    const list = scopes[0].split(' ');
    assert.deepEqual([...list].sort(), ['extra:scope', 'openid', 'read:messages', 'write:messages'], `x-auth-scopes: ${scopes[0]}`);
  });

  test('claim headers: strings as is, numbers, arrays and objects as compact JSON, unsafe bytes percent-encoded, absent claims absent', async () => {
    const token = tokenA({
      sub: 'auth0|zoë',
      scope: 'read:messages',
      claims: {
        email: 'alice@example.com',
        org_id: 42,
        roles: ['admin', 'editor'],
        name: 'Zoë 100%\r\nX-Evil: 1',
        meta: { tier: 'gold', n: 1 },
      },
    });
    const { res, rec } = await proxied(origin1, () => send(gw.main, '/api/messages/1', { token }));
    assertOk(res);
    assert.deepEqual(atOrigin(rec, 'x-auth-sub'), ['auth0|zo%C3%AB']);
    assert.deepEqual(atOrigin(rec, 'x-auth-email'), ['alice@example.com']);
    assert.deepEqual(atOrigin(rec, 'x-auth-org'), ['42']);
    assert.deepEqual(atOrigin(rec, 'x-auth-roles'), ['["admin","editor"]']);
    assert.deepEqual(atOrigin(rec, 'x-auth-name'), ['Zo%C3%AB 100%25%0D%0AX-Evil: 1']);
    const meta = atOrigin(rec, 'x-auth-meta');
    assert.equal(meta.length, 1, `x-auth-meta: ${JSON.stringify(meta)}`);
    assert.deepEqual(JSON.parse(meta[0]), { tier: 'gold', n: 1 }); // JSON; member order is not significant
    assert.deepEqual(atOrigin(rec, 'x-auth-absent'), []);
    assert.deepEqual(atOrigin(rec, 'x-evil'), []);
  });

  const SPOOFS = [
    ['X-Auth-Sub', 'admin'],
    ['x-auth-sub', 'root'],
    ['X_Auth_Sub', 'admin2'],
    ['x-auth_sub', 'admin3'],
    ['X-AUTH-SCOPES', 'admin:all'],
    ['x_auth_scopes', 'admin:all'],
    ['X-Auth-Issuer', 'https://evil.example/'],
    ['X_AUTH_ISSUER', 'https://evil.example/'],
    ['X-Auth-Email', 'ceo@corp.example'],
    ['x_auth_email', 'ceo@corp.example'],
    ['X-Auth-Org', '1'],
    ['X-Auth-Absent', 'spoofed'],
    ['x_auth_absent', 'spoofed'],
    ['X-Gateway-Secret', 'guess'],
    ['x_gateway_secret', 'guess'],
    ['X-GATEWAY-SECRET', 'guess2'],
  ];

  test('spoofed identity, claim and secret headers (any case, "_" for "-", repeated) never arrive; the real ones do, once', async () => {
    const token = tokenA({ sub: 'auth0|alice', scope: 'read:messages', claims: { email: 'alice@example.com', org_id: 7 } });
    const { res, rec } = await proxied(origin1, () =>
      send(gw.main, '/api/messages/1', { token, headers: [...SPOOFS, ['X-Innocent', 'kept']] }));
    assertOk(res);
    assert.deepEqual(atOrigin(rec, 'x-auth-sub'), ['auth0|alice']);
    assert.deepEqual(atOrigin(rec, 'x-auth-scopes'), ['read:messages']);
    assert.deepEqual(atOrigin(rec, 'x-auth-issuer'), [issuerA.issuer]);
    assert.deepEqual(atOrigin(rec, 'x-auth-email'), ['alice@example.com']);
    assert.deepEqual(atOrigin(rec, 'x-auth-org'), ['7']);
    assert.deepEqual(atOrigin(rec, 'x-auth-absent'), []);
    assert.deepEqual(atOrigin(rec, 'x-gateway-secret'), [SECRET]);
    assert.deepEqual(atOrigin(rec, 'x-innocent'), ['kept']);
    const spoofValues = new Set(SPOOFS.map(([, v]) => v));
    for (const [n, v] of rec.rawHeaders) assert.ok(!spoofValues.has(v), `a spoofed value arrived: ${n}: ${v}`);
  });

  test('on a public route spoofed copies are removed, no identity is added (even with a valid token), the secret is sent', async () => {
    const { res, rec } = await proxied(origin1, () =>
      send(gw.main, '/api/public/spoof', { token: tokenA({ scope: 'read:messages' }), headers: SPOOFS }));
    assertOk(res);
    for (const name of MAIN_GATEWAY_HEADERS.filter((h) => h !== 'x-gateway-secret')) {
      assert.deepEqual(atOrigin(rec, name), [], `${name} arrived on a public route`);
    }
    assert.deepEqual(atOrigin(rec, 'x-gateway-secret'), [SECRET]);
  });

  test('Authorization and DPoP are not forwarded by default (FORWARD_CREDENTIALS=false)', async () => {
    const bearer = await proxied(origin1, () => send(gw.main, '/api/messages/1', { token: tokenA({ scope: 'read:messages' }) }));
    assertOk(bearer.res);
    assert.deepEqual(atOrigin(bearer.rec, 'authorization'), []);
    assert.deepEqual(atOrigin(bearer.rec, 'dpop'), []);

    const key = dpopKey();
    const token = tokenA({ scope: 'read:messages', cnfJkt: key.jkt });
    const proof = dpopProof(key, 'GET', `${gw.main.url}/api/messages/1`, token);
    const dpop = await proxied(origin1, () =>
      send(gw.main, '/api/messages/1', { headers: { Authorization: `DPoP ${token}`, DPoP: proof } }));
    assertOk(dpop.res);
    assert.deepEqual(atOrigin(dpop.rec, 'authorization'), []);
    assert.deepEqual(atOrigin(dpop.rec, 'dpop'), []);
    assert.deepEqual(atOrigin(dpop.rec, 'x-auth-sub'), ['auth0|alice']);

    const pub = await proxied(origin1, () =>
      send(gw.main, '/api/public/creds', { headers: { Authorization: 'Bearer not-a-token-at-all', DPoP: 'not-a-proof' } }));
    assertOk(pub.res);
    assert.deepEqual(atOrigin(pub.rec, 'authorization'), []);
    assert.deepEqual(atOrigin(pub.rec, 'dpop'), []);
  });

  test('hop-by-hop headers are dropped (Keep-Alive, TE, Trailer, Proxy-*, Expect, Upgrade)', async () => {
    const chunked = await proxied(origin1, () => send(gw.main, '/api/public/hop', {
      method: 'POST',
      chunks: ['abc', 'def'],
      headers: [
        ['Transfer-Encoding', 'chunked'],
        ['Connection', 'keep-alive, X-Hop'],
        ['X-Hop', '1'],
        ['Keep-Alive', 'timeout=5'],
        ['TE', 'trailers'],
        ['Trailer', 'X-Foo'],
        ['Proxy-Authorization', 'Basic eDp5'],
        ['Proxy-Connection', 'keep-alive'],
        ['Expect', '100-continue'],
        ['X-End-To-End', 'kept'],
      ],
    }));
    assertOk(chunked.res);
    for (const name of ['keep-alive', 'te', 'trailer', 'proxy-authorization', 'proxy-connection', 'expect', 'upgrade']) {
      assert.deepEqual(atOrigin(chunked.rec, name), [], `${name} reached the origin`);
    }
    for (const v of atOrigin(chunked.rec, 'connection')) assert.ok(!/x-hop/i.test(v), `Connection: ${v}`);
    assert.deepEqual(atOrigin(chunked.rec, 'x-end-to-end'), ['kept']);
    assert.equal(chunked.rec.sha256, crypto.createHash('sha256').update('abcdef').digest('hex'));

    const upgrade = await proxied(origin1, () =>
      send(gw.main, '/api/public/hop', { headers: [['Connection', 'Upgrade'], ['Upgrade', 'h2c']] }));
    assertOk(upgrade.res);
    assert.deepEqual(atOrigin(upgrade.rec, 'upgrade'), []);
  });

  // workerd consumes the Connection header before the Worker runs (the Worker's request.headers has no
  // Connection, Keep-Alive or TE), so the gateway cannot know which other headers it listed.
  test('a header named in Connection is dropped too', { todo: 'workerd hides Connection from the Worker' }, async () => {
    const { rec } = await proxied(origin1, () => send(gw.main, '/api/public/hop', {
      headers: [['Connection', 'keep-alive, X-Hop-Listed'], ['X-Hop-Listed', '1']],
    }));
    assert.deepEqual(atOrigin(rec, 'x-hop-listed'), []);
  });
});

// ------------------------------------------------------------------ what comes back (README: Features, Proxy mode)

describe('origin responses pass through (main gateway)', () => {
  before(() => {
    origin1.respond(`${BASE}/api/public/created`, {
      status: 201,
      statusText: 'Made Here',
      headers: [
        ['Content-Type', 'text/plain; charset=utf-8'],
        ['X-Custom-Thing', 'hello'],
        ['Set-Cookie', 'a=1; Path=/; HttpOnly'],
        ['Set-Cookie', 'b=2; Path=/'],
        ['Vary', 'Accept-Encoding'],
        ['Cache-Control', 'max-age=60'],
      ],
      body: 'created!',
    });
    origin1.respond(`${BASE}/api/public/redirect`, { status: 302, headers: { Location: 'http://127.0.0.1:9/elsewhere' }, body: '' });
    origin1.respond(`${BASE}/api/public/broken`, { status: 500, headers: { 'Content-Type': 'application/json' }, body: '{"oops":true}' });
    origin1.respond(`${BASE}/api/public/missing`, { status: 404, headers: { 'Content-Type': 'text/html' }, body: '<h1>origin 404</h1>' });
    origin1.respond(`${BASE}/api/public/refuse`, { beforeBody: true, status: 413, headers: { 'Content-Type': 'text/plain' }, body: 'too big' });
    origin1.respond(`${BASE}/api/public/big`, () => ({ status: 200, headers: { 'Content-Type': 'application/octet-stream' }, body: BIG }));
  });
  const BIG = crypto.randomBytes(5 * MiB);

  function assertCreated(res) {
    assert.equal(res.status, 201, describeRes(res));
    assert.equal(res.statusText, 'Made Here', 'the status text passes too');
    assert.equal(res.text, 'created!');
    assert.deepEqual(headerValues(res, 'x-custom-thing'), ['hello']);
    assert.deepEqual(headerValues(res, 'set-cookie'), ['a=1; Path=/; HttpOnly', 'b=2; Path=/']);
    assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(res.headers['cache-control'], 'max-age=60');
  }

  test('201 with custom headers, two Set-Cookie and a body', async () => {
    const { res } = await proxied(origin1, () => send(gw.main, '/api/public/created'));
    assertCreated(res);
    assert.deepEqual(tokens(headerValues(res, 'vary')), ['accept-encoding']);
  });

  test('201 to an allowed CORS origin: the same, plus CORS headers, Vary merged with the origin\'s', async () => {
    const { res } = await proxied(origin1, () => send(gw.main, '/api/public/created', { headers: { Origin: APP } }));
    assertCreated(res);
    const vary = tokens(headerValues(res, 'vary'));
    assert.ok(vary.includes('accept-encoding') && vary.includes('origin'), `Vary: ${headerValues(res, 'vary')}`);
    assert.deepEqual(headerValues(res, 'access-control-allow-origin'), [APP]);
  });

  test('a 302 is passed back, not followed', async () => {
    const { res } = await proxied(origin1, () => send(gw.main, '/api/public/redirect'));
    assert.equal(res.status, 302, describeRes(res));
    assert.equal(res.headers.location, 'http://127.0.0.1:9/elsewhere');
  });

  test('origin errors (500, 404) are passed back as they are, not replaced by gateway errors', async () => {
    const broken = await proxied(origin1, () => send(gw.main, '/api/public/broken'));
    assert.equal(broken.res.status, 500);
    assert.equal(broken.res.text, '{"oops":true}');
    const missing = await proxied(origin1, () => send(gw.main, '/api/public/missing'));
    assert.equal(missing.res.status, 404);
    assert.equal(missing.res.text, '<h1>origin 404</h1>');
    assert.equal(missing.res.headers['content-type'], 'text/html');
  });

  test('an origin that answers 413 before reading an 8 MiB upload: passed back, and the next request is not stalled', async () => {
    const { res, rec } = await proxied(origin1, () =>
      send(gw.main, '/api/public/refuse', { method: 'POST', body: crypto.randomBytes(8 * MiB), timeoutMs: 20_000 }));
    assert.equal(res.status, 413, describeRes(res));
    assert.equal(res.text, 'too big');
    assert.equal(rec.bytes, -1);
    const next = await proxied(origin1, () => send(gw.main, '/api/public/after-413', { timeoutMs: 10_000 }));
    assertOk(next.res);
  });

  test('a 5 MiB response body comes back intact', async () => {
    const { res } = await proxied(origin1, () => send(gw.main, '/api/public/big'));
    assertOk(res);
    assert.equal(res.body.length, BIG.length);
    assert.ok(res.body.equals(BIG), 'the response body differs');
  });
});

// ------------------------------------------------------------------ rejected requests (README: Errors)

describe('rejected requests never reach the origin (main gateway)', () => {
  test('401, 403, 404, 400 and preflights: the origin request count does not move', async () => {
    const before = origin1.started();
    const expired = tokenA({ claims: { exp: Math.floor(Date.now() / 1000) - 60 } });
    const cases = [
      [401, 'unauthorized', () => send(gw.main, '/api/other')],
      [401, 'unauthorized', () => send(gw.main, '/api/other', { headers: { Authorization: 'Basic dXNlcjpwYXNz' } })],
      [400, 'invalid_request', () => send(gw.main, '/api/other', { headers: { Authorization: 'Bearer a b' } })],
      [401, 'invalid_token', () => send(gw.main, '/api/other', { token: 'not-a-jwt-at-all-0123456789' })],
      [401, 'invalid_token', () => send(gw.main, '/api/other', { token: expired })],
      [401, 'invalid_token', () => send(gw.main, '/api/other', { token: tokenA({ audience: 'https://other.example' }) })],
      [400, 'invalid_request', () => send(gw.main, '/api/other', { token: tokenA(), headers: { DPoP: 'x.y.z' } })],
      [403, 'insufficient_scope', () => send(gw.main, '/api/messages/1', { token: tokenA({ scope: 'write:messages' }) })],
      [403, 'insufficient_scope', () => send(gw.main, '/api/messages/1', { method: 'POST', token: tokenA(), body: 'x'.repeat(64 * 1024) })],
      [401, 'unauthorized', () => send(gw.main, '/api/upload/x', { method: 'POST', body: crypto.randomBytes(MiB) })],
      [404, 'not_found', () => send(gw.main, '/nope', { method: 'PUT', token: tokenA(), body: 'data' })],
      [400, 'invalid_request', () => send(gw.main, '/api/public/%2F', { method: 'POST', body: 'data' })],
    ];
    for (const [status, code, go] of cases) {
      const res = await notProxied(origin1, go);
      assertError(res, status, code);
    }
    assert.equal(origin1.started(), before);
  });
});

// ------------------------------------------------------------------ CORS

describe('CORS (main gateway)', () => {
  const preflight = (path, origin, method, extra = {}) => send(gw.main, path, {
    method: 'OPTIONS',
    headers: { Origin: origin, 'Access-Control-Request-Method': method, ...extra },
  });

  const accessControl = (res) => res.rawHeaders.filter(([n]) => /^access-control-/i.test(n));

  for (const origin of [APP, LOCAL_APP]) {
    test(`preflight from ${origin} for a covered path and method: 204 without a token, never proxied`, async () => {
      const res = await notProxied(origin1, () =>
        preflight('/api/messages/1', origin, 'GET', { 'Access-Control-Request-Headers': 'authorization, dpop' }));
      assert.equal(res.status, 204, describeRes(res));
      assert.deepEqual(headerValues(res, 'access-control-allow-origin'), [origin]);
      assert.equal(res.headers['access-control-allow-methods'], 'GET, HEAD, POST, PUT, PATCH, DELETE');
      assert.equal(res.headers['access-control-allow-headers'], 'Authorization, DPoP, Content-Type');
      assert.equal(res.headers['access-control-max-age'], '600');
      assert.ok(tokens(headerValues(res, 'vary')).includes('origin'), `Vary: ${headerValues(res, 'vary')}`);
      assert.equal(res.body.length, 0);
    });
  }

  test('preflight for a public path and for a DELETE under the admin rule: 204 too (the preflight needs no token)', async () => {
    for (const [path, method] of [['/api/public/x', 'POST'], ['/api/messages/1', 'DELETE'], ['/reports', 'GET']]) {
      const res = await notProxied(origin1, () => preflight(path, APP, method));
      assert.equal(res.status, 204, `${method} ${path}: ${describeRes(res)}`);
    }
  });

  test('preflight for a method no rule covers, or a path no rule covers: 404, never proxied', async () => {
    for (const [path, method] of [['/reports', 'DELETE'], ['/nowhere', 'GET'], ['/apix', 'POST']]) {
      const res = await notProxied(origin1, () => preflight(path, APP, method));
      assertError(res, 404, 'not_found');
      assert.deepEqual(headerValues(res, 'access-control-allow-origin'), [APP], 'errors to allowed origins carry ACAO');
    }
  });

  test('preflight with a bad path from an allowed origin: 400, never proxied', async () => {
    const res = await notProxied(origin1, () => preflight('/api/public/a%2Fb', APP, 'GET'));
    assertError(res, 400, 'invalid_request');
  });

  test('preflight from a disallowed origin is an ordinary OPTIONS request: routes and auth apply, no CORS headers', async () => {
    // OPTIONS /api/messages/1 falls under rule 4 (every method, scope admin): a token is required.
    const res = await notProxied(origin1, () => preflight('/api/messages/1', EVIL, 'GET'));
    assertError(res, 401, 'unauthorized');
    assert.deepEqual(accessControl(res), []);
    // OPTIONS /reports: no rule covers OPTIONS there.
    const res2 = await notProxied(origin1, () => preflight('/reports', EVIL, 'GET'));
    assertError(res2, 404, 'not_found');
    assert.deepEqual(accessControl(res2), []);
    // A near miss of an allowed origin is not allowed.
    const res3 = await notProxied(origin1, () => preflight('/api/messages/1', `${APP}.evil.com`, 'GET'));
    assert.notEqual(res3.status, 204);
    assert.deepEqual(accessControl(res3), []);
    // A disallowed preflight to a public path is proxied like any OPTIONS request, still without CORS headers.
    const { res: res4, rec } = await proxied(origin1, () => preflight('/api/public/x', EVIL, 'GET'));
    assertOk(res4);
    assert.equal(rec.method, 'OPTIONS');
    assert.deepEqual(accessControl(res4), []);
  });

  test('actual responses to allowed origins carry the CORS headers (success and errors); others get none', async () => {
    const token = tokenA({ scope: 'read:messages' });
    const ok = await proxied(origin1, () => send(gw.main, '/api/messages/1', { token, headers: { Origin: APP } }));
    assertOk(ok.res);
    assert.deepEqual(headerValues(ok.res, 'access-control-allow-origin'), [APP]);
    assert.equal(ok.res.headers['access-control-expose-headers'], 'WWW-Authenticate, DPoP-Nonce');
    assert.ok(tokens(headerValues(ok.res, 'vary')).includes('origin'));
    assert.equal(ok.rec.headers.origin, APP, 'the Origin header itself is forwarded');

    const errors = [
      [401, 'unauthorized', (h) => send(gw.main, '/api/other', { headers: h })],
      [403, 'insufficient_scope', (h) => send(gw.main, '/api/messages/1', { token: tokenA({ scope: 'x' }), headers: h })],
      [404, 'not_found', (h) => send(gw.main, '/nope', { headers: h })],
      [400, 'invalid_request', (h) => send(gw.main, '/api/public/%00', { headers: h })],
    ];
    for (const [status, code, go] of errors) {
      const res = await notProxied(origin1, () => go({ Origin: LOCAL_APP }));
      assertError(res, status, code);
      assert.deepEqual(headerValues(res, 'access-control-allow-origin'), [LOCAL_APP], `${status}: ACAO`);
      assert.equal(res.headers['access-control-expose-headers'], 'WWW-Authenticate, DPoP-Nonce', `${status}: expose`);
      assert.ok(tokens(headerValues(res, 'vary')).includes('origin'), `${status}: Vary`);
      for (const headers of [{ Origin: EVIL }, {}]) {
        const other = await notProxied(origin1, () => go(headers));
        assertError(other, status, code);
        assert.deepEqual(accessControl(other), [], `${status} with ${JSON.stringify(headers)}`);
      }
    }
    for (const headers of [{ Origin: EVIL }, {}]) {
      const { res } = await proxied(origin1, () => send(gw.main, '/api/messages/1', { token, headers }));
      assertOk(res);
      assert.deepEqual(accessControl(res), []);
    }
  });
});

// ------------------------------------------------------------------ issuers

describe('multiple issuers (main gateway: AUTH0_DOMAIN = A, AUTH0_ADDITIONAL_DOMAINS = B)', () => {
  test('tokens from both issuers are accepted; x-auth-issuer names the one that signed', async () => {
    for (const [mint, iss, sub] of [[tokenA, issuerA.issuer, 'auth0|alice'], [tokenB, issuerB.issuer, 'auth0|bob']]) {
      const { res, rec } = await proxied(origin1, () => send(gw.main, '/api/messages/1', { token: mint({ scope: 'read:messages' }) }));
      assertOk(res);
      assert.deepEqual(atOrigin(rec, 'x-auth-issuer'), [iss]);
      assert.deepEqual(atOrigin(rec, 'x-auth-sub'), [sub]);
    }
    assert.ok(issuerB.stats().jwks >= 1, 'issuer B\'s keys were never fetched');
  });

  test('a token from an unknown third issuer: 401 invalid_token, and no issuer is asked for anything', async () => {
    const before = [issuerA.stats(), issuerB.stats(), issuerC.stats()];
    const token = issuerC.mint({ sub: 'auth0|mallory', scope: 'read:messages' });
    const res = await notProxied(origin1, () => send(gw.main, '/api/messages/1', { token }));
    assertError(res, 401, 'invalid_token');
    await sleep(200);
    assert.deepEqual([issuerA.stats(), issuerB.stats(), issuerC.stats()], before, 'a discovery or JWKS fetch happened');
    assert.deepEqual(issuerC.stats(), { discovery: 0, jwks: 0 }, 'the unknown issuer was contacted');
  });

  test('a token claiming one accepted issuer but signed with the other\'s key is refused', async () => {
    for (const token of [
      issuerA.mint({ scope: 'read:messages', claims: { iss: issuerB.issuer } }),
      issuerB.mint({ scope: 'read:messages', claims: { iss: issuerA.issuer } }),
    ]) {
      const res = await notProxied(origin1, () => send(gw.main, '/api/messages/1', { token }));
      assertError(res, 401, 'invalid_token');
    }
  });
});

// ------------------------------------------------------------------ FORWARD_CREDENTIALS=true, custom secret header, 502

describe('creds gateway: FORWARD_CREDENTIALS=true, ORIGIN_SHARED_SECRET_HEADER, origin down', () => {
  test('Authorization (Bearer) reaches the origin verbatim; ORIGIN_URL without base path, trailing / ignored', async () => {
    const token = tokenA({ scope: 'read:messages' });
    const { res, rec } = await proxied(origin2, () => send(gw.creds, '/api/x?y=1', { token }));
    assertOk(res);
    assert.equal(rec.url, '/api/x?y=1');
    assert.deepEqual(atOrigin(rec, 'authorization'), [`Bearer ${token}`]);
    assert.deepEqual(atOrigin(rec, 'x-auth-sub'), ['auth0|alice']);
  });

  test('Authorization: DPoP and the DPoP proof reach the origin verbatim', async () => {
    const key = dpopKey();
    const token = tokenA({ scope: 'read:messages', cnfJkt: key.jkt });
    const proof = dpopProof(key, 'POST', `${gw.creds.url}/api/dpop`, token);
    const { res, rec } = await proxied(origin2, () =>
      send(gw.creds, '/api/dpop', { method: 'POST', body: '{}', headers: { Authorization: `DPoP ${token}`, DPoP: proof } }));
    assertOk(res);
    assert.deepEqual(atOrigin(rec, 'authorization'), [`DPoP ${token}`]);
    assert.deepEqual(atOrigin(rec, 'dpop'), [proof]);
  });

  test('on a public route too', async () => {
    const { res, rec } = await proxied(origin2, () =>
      send(gw.creds, '/api/public/p', { headers: { Authorization: 'Bearer opaque-thing', DPoP: 'opaque-proof' } }));
    assertOk(res);
    assert.deepEqual(atOrigin(rec, 'authorization'), ['Bearer opaque-thing']);
    assert.deepEqual(atOrigin(rec, 'dpop'), ['opaque-proof']);
  });

  test('the shared secret goes in the configured header; client copies of it are removed', async () => {
    const { res, rec } = await proxied(origin2, () => send(gw.creds, '/api/public/s', {
      headers: [['X-Origin-Key', 'guess'], ['x_origin_key', 'guess'], ['X-ORIGIN-KEY', 'guess2']],
    }));
    assertOk(res);
    assert.deepEqual(atOrigin(rec, 'x-origin-key'), [SECRET2]);
    assert.deepEqual(atOrigin(rec, 'x-gateway-secret'), []);
  });

  test('origin down: 502 bad_gateway JSON (GET, authenticated GET, small POST); back up: 200 again', async () => {
    await origin2.stop();
    try {
      for (const [path, token] of [['/api/public/down', undefined], ['/api/down', tokenA()]]) {
        const res = await send(gw.creds, path, { token });
        const d = assertError(res, 502, 'bad_gateway');
        assert.ok(d.error_description.length > 0);
      }
      const post = await send(gw.creds, '/api/down', { method: 'POST', token: tokenA(), body: crypto.randomBytes(16 * 1024) });
      assertError(post, 502, 'bad_gateway');
    } finally {
      await origin2.start();
    }
    for (let i = 0; i < 3; i++) {
      const { res } = await proxied(origin2, () => send(gw.creds, '/api/public/up', { timeoutMs: 10_000 }));
      assertOk(res);
    }
  });

  // Under `wrangler dev`, when fetch() to the origin fails while it holds the client's body stream (about
  // 256 KiB or more), the gateway's next request stalls until its client gives up. A six-line JavaScript
  // Worker doing `try { return await fetch(url, {method, body: request.body}) } catch { return 502 }` does
  // the same, so this is the local runtime (wrangler's proxy worker in front of workerd), not the gateway's
  // code; kept as a todo to notice when it changes. An origin that answers 413 without reading the body does
  // not cause it (tested above).
  test('a 502 on a request with a large body (1 MiB) does not stall the next request', { todo: 'wrangler dev / workerd: next request stalls after a failed streaming fetch' }, async () => {
    await origin2.stop();
    try {
      const post = await send(gw.creds, '/api/down', { method: 'POST', token: tokenA(), body: crypto.randomBytes(MiB) });
      assertError(post, 502, 'bad_gateway');
    } finally {
      await origin2.start();
    }
    const t0 = Date.now();
    let failure;
    try {
      const res = await send(gw.creds, '/api/public/after-502', { timeoutMs: 10_000 });
      assertOk(res);
    } catch (err) {
      failure = err;
    }
    // Whatever happened, leave the gateway usable for what follows.
    await send(gw.creds, '/api/public/settle', { timeoutMs: 10_000 }).catch(() => {});
    if (failure) throw new Error(`the first request after the 502 failed after ${Date.now() - t0} ms: ${failure.message}`);
  });
});

// ------------------------------------------------------------------ invalid ROUTES

describe('invalid ROUTES: every request 500 configuration_error naming ROUTES and the rule', () => {
  BAD_TABLES.forEach(([name, , expected], i) => {
    test(name, async () => {
      const g = gw[`bad${i}`];
      const requests = [
        () => send(g, '/api/public'),
        () => send(g, '/a/x', { method: 'POST', body: 'x', token: tokenA() }),
        () => send(g, '/nope'),
        () => send(g, '/x', { method: 'OPTIONS', headers: { Origin: APP, 'Access-Control-Request-Method': 'GET' } }),
      ];
      for (const go of requests) {
        const res = await notProxied(origin1, go);
        const d = assertError(res, 500, 'configuration_error');
        assert.ok(d.error_description.startsWith('ROUTES '), `description: ${d.error_description}`);
        for (const piece of expected) assert.ok(d.error_description.includes(piece), `description lacks ${JSON.stringify(piece)}: ${d.error_description}`);
      }
    });
  });
});

// ------------------------------------------------------------------ serve mode with custom ROUTES

describe('serve mode (no ORIGIN_URL) with custom ROUTES', () => {
  test('/api/public now requires read:public', async () => {
    assertError(await send(gw.serve, '/api/public'), 401, 'unauthorized');
    const weak = await send(gw.serve, '/api/public', { token: tokenA({ scope: 'read:messages' }) });
    assertError(weak, 403, 'insufficient_scope');
    assert.ok((weak.headers['www-authenticate'] ?? '').includes('scope="read:public"'), weak.headers['www-authenticate']);
    const ok = await send(gw.serve, '/api/public', { token: tokenA({ sub: 'auth0|pub', scope: 'read:public' }) });
    assertOk(ok);
    assert.equal(typeof ok.json?.message, 'string');
    assert.equal(ok.json.user_id, 'auth0|pub');
    const encoded = await send(gw.serve, '/api/%70ublic');
    assertError(encoded, 401, 'unauthorized');
  });

  test('/api/private is now public: 200 without user_id', async () => {
    const res = await send(gw.serve, '/api/private');
    assertOk(res);
    assert.equal(typeof res.json?.message, 'string');
    assert.equal(res.json.user_id, undefined);
  });

  test('/api/private-scoped with match any: admin alone suffices, neither is 403', async () => {
    const ok = await send(gw.serve, '/api/private-scoped', { token: tokenA({ sub: 'auth0|adm', permissions: ['admin'] }) });
    assertOk(ok);
    assert.equal(ok.json?.user_id, 'auth0|adm');
    assertError(await send(gw.serve, '/api/private-scoped', { token: tokenA({ scope: 'other' }) }), 403, 'insufficient_scope');
  });

  test('a rule without a demo endpoint, and a method no rule covers: 404 not_found', async () => {
    assertError(await send(gw.serve, '/api/extra'), 404, 'not_found');
    assertError(await send(gw.serve, '/api/private', { method: 'POST', body: '{}' }), 404, 'not_found');
    assertError(await send(gw.serve, '/api/other'), 404, 'not_found');
  });
});

// ------------------------------------------------------------------ logs

describe('logs', () => {
  test('proxied requests are logged with the origin status; no token, proof or shared secret in any line', async () => {
    await sleep(300);
    const json = gw.main.jsonLogs();
    assert.ok(json.some((l) => l.decision === 'allow' && l.origin_status === 201), 'no "allow" line with origin_status 201');
    assert.ok(gw.creds.jsonLogs().some((l) => l.decision === 'bad_gateway'), 'no bad_gateway line');
    for (const g of started) {
      const lines = g.logs();
      for (const secret of sentSecrets) {
        const pieces = [secret];
        const segs = secret.split('.');
        if (segs.length === 3) pieces.push(...segs.slice(1).filter((s) => s.length >= 16));
        for (const piece of pieces) {
          const hit = lines.find((l) => l.includes(piece));
          assert.equal(hit, undefined, `a log line contains a secret: ${hit?.slice(0, 200)}`);
        }
      }
    }
  });
});
