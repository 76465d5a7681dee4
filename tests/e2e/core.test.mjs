// End-to-end tests of the gateway under `wrangler dev` against the local development issuer.
// Written against the README (Configuration; Features: Keys, Access tokens, Serve mode; Errors; Routes; Logs),
// DPOP_MODE=allowed (the default).
//
//   bash scripts/setup.sh && node --test tests/e2e/
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startIssuer } from '../../tools/dev-issuer.mjs';
import { ALGS, assertChallenge, assertError, errorChallenge, escapeRe } from './contract.mjs';
import { buildWorker, request, startGateway } from './harness.mjs';

const REQUIRED_SCOPE = 'read:messages';
const DPOP_CHALLENGE = `DPoP ${ALGS}`;

let issuer;
let gw;
/** Every credential this file sends (tokens and raw Authorization values), for the no-echo checks. */
const sent = new Set();
let requestCount = 0;

before(async () => {
  issuer = await startIssuer();
  await buildWorker();
  gw = await startGateway({ vars: { AUTH0_DOMAIN: issuer.domain, AUTH0_AUDIENCE: issuer.audience } });
}, { timeout: 30 * 60_000 });

after(async () => {
  await gw?.stop();
  await issuer?.close();
});

// ------------------------------------------------------------------ helpers

const now = () => Math.floor(Date.now() / 1000);

function b64json(part) {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

/** GET `path` with the given Authorization value (undefined: no header at all). */
async function call(path, authorization, { method = 'GET', headers = {} } = {}) {
  const h = { ...headers };
  if (authorization !== undefined) {
    h.Authorization = authorization;
    sent.add(authorization);
  }
  requestCount++;
  return request(`${gw.url}${path}`, { method, headers: h });
}

const bearer = (token) => {
  sent.add(token);
  return `Bearer ${token}`;
};

/** 401 invalid_token for `token` sent as Bearer, with the Bearer error challenge of DPOP_MODE=allowed. */
async function assertInvalidToken(token) {
  const res = await call('/api/private', bearer(token));
  assertError(res, 401, 'invalid_token', { secrets: [token], challenge: errorChallenge('invalid_token') });
  return res;
}

async function assertOk(path, token, sub = 'dev-user') {
  const res = await call(path, bearer(token));
  assert.equal(res.status, 200, `expected 200 on ${path}; got ${res.status} ${res.text.slice(0, 300)} www-authenticate=${res.headers['www-authenticate']}`);
  assert.equal(typeof res.json?.message, 'string', `no message: ${res.text}`);
  assert.equal(res.json.user_id, sub);
  return res;
}

/** Header/payload of a well-formed token from this issuer, for hand-built variants. */
function parts(opts = {}) {
  const [h, p] = issuer.mint(opts).split('.');
  return { header: b64json(h), payload: b64json(p) };
}

// ------------------------------------------------------------------ demo endpoints (README: Features, Serve mode)

describe('demo endpoints', () => {
  test('GET /api/public without a token answers 200 with a message', async () => {
    const res = await call('/api/public');
    assert.equal(res.status, 200, res.text);
    assert.equal(typeof res.json?.message, 'string', res.text);
    assert.equal(res.json.user_id, undefined);
  });

  test('a public route never reads credentials: any Authorization or DPoP header, even malformed, is ignored', async () => {
    for (const [authorization, headers] of [
      ['Bearer not-a-token', {}],
      ['Basic x', {}],
      ['DPoP a.b.c', { DPoP: 'garbage' }],
      [bearer(issuer.mint({ exp: now() - 3600 })), {}],
    ]) {
      const res = await call('/api/public', authorization, { headers });
      assert.equal(res.status, 200, `${authorization}: ${res.text}`);
      assert.equal(res.json.user_id, undefined);
      assert.equal(res.headers['www-authenticate'], undefined);
    }
  });

  test('every JSON answer carries exactly its own headers, whatever answers came before (README "What each step bought")', async () => {
    const expected = { 'content-type': 'application/json', 'cache-control': 'no-store' };
    // Answers made from the shared JSON headers, between errors that add their own (WWW-Authenticate) and
    // others: none of those may carry over.
    for (const round of [1, 2]) {
      const ok = await call('/api/public');
      const refused = await call('/api/private', 'Bearer nope');
      const allowed = await call('/api/private', bearer(issuer.mint()));
      for (const [name, res, status] of [['public', ok, 200], ['refused', refused, 401], ['allowed', allowed, 200]]) {
        assert.equal(res.status, status, `${name} ${round}: ${res.text}`);
        for (const [header, value] of Object.entries(expected)) {
          assert.equal(res.headers[header], value, `${name} ${round}: ${header}`);
        }
      }
      for (const res of [ok, allowed]) {
        assert.equal(res.headers['www-authenticate'], undefined, `round ${round}`);
        assert.equal(res.headers['content-length'], String(Buffer.byteLength(res.text)));
      }
      assert.match(refused.headers['www-authenticate'] ?? '', /invalid_token/);
    }
  });

  test('/api/private with a valid token: 200, message and user_id = sub', async () => {
    await assertOk('/api/private', issuer.mint({ sub: 'auth0|alice' }), 'auth0|alice');
  });

  test('/api/private-scoped with scope read:messages: 200', async () => {
    await assertOk('/api/private-scoped', issuer.mint({ sub: 'bob', scope: `openid ${REQUIRED_SCOPE} profile` }), 'bob');
  });

  test('/api/private-scoped with permissions [read:messages] and no scope: 200 (scope ∪ permissions)', async () => {
    await assertOk('/api/private-scoped', issuer.mint({ sub: 'carol', permissions: [REQUIRED_SCOPE] }), 'carol');
  });

  test('/api/private-scoped with only write:messages: 403 insufficient_scope', async () => {
    const token = issuer.mint({ scope: 'write:messages', permissions: ['delete:messages'] });
    const res = await call('/api/private-scoped', bearer(token));
    assertError(res, 403, 'insufficient_scope', { secrets: [token] });
    const www = assertChallenge(res, new RegExp(`^Bearer realm="api", error="insufficient_scope"(, [a-z_]+="[^"\\r\\n]*")*(, ${escapeRe(DPOP_CHALLENGE)})?$`));
    assert.ok(www.startsWith('Bearer realm="api", error="insufficient_scope"'), `challenge: ${www}`);
    assert.ok(www.includes(`scope="${REQUIRED_SCOPE}"`), `challenge lacks scope="${REQUIRED_SCOPE}": ${www}`);
  });

  test('a token with no scope at all on /api/private-scoped: 403 insufficient_scope', async () => {
    const token = issuer.mint();
    const res = await call('/api/private-scoped', bearer(token));
    assertError(res, 403, 'insufficient_scope', { secrets: [token] });
  });

  test('aud as an array containing the audience: 200', async () => {
    await assertOk('/api/private', issuer.mint({ audience: ['https://other.example', issuer.audience] }));
  });

  test('typ at+jwt (RFC 9068) and no typ at all: 200', async () => {
    await assertOk('/api/private', issuer.mint({ header: { typ: 'at+jwt' } }));
    await assertOk('/api/private', issuer.mint({ header: { typ: undefined } }));
  });

  test('the auth scheme is case-insensitive (RFC 7235): "bearer" works', async () => {
    const token = issuer.mint();
    sent.add(token);
    const res = await call('/api/private', `bearer ${token}`);
    assert.equal(res.status, 200, res.text);
  });
});

// ------------------------------------------------------------------ no credentials (README: Errors)

describe('missing or unsupported credentials: 401 unauthorized', () => {
  const cases = [
    ['no Authorization header', undefined],
    ['an empty Authorization header', ''],
    ['an unsupported scheme (Basic abc)', 'Basic abc'],
  ];
  for (const [name, value] of cases) {
    test(name, async () => {
      const res = await call('/api/private', value);
      assertError(res, 401, 'unauthorized', { secrets: [value], challenge: `Bearer realm="api", ${DPOP_CHALLENGE}` });
    });
  }
});

describe('malformed Authorization header: 400 invalid_request', () => {
  const cases = [
    ['"Bearer" with no token', 'Bearer'],
    ['"Bearer a b" (two tokens)', 'Bearer a b'],
  ];
  for (const [name, value] of cases) {
    test(name, async () => {
      const res = await call('/api/private', value);
      assertError(res, 400, 'invalid_request', { secrets: [value], challenge: errorChallenge('invalid_request') });
    });
  }
});

// ------------------------------------------------------------------ bad tokens (README: Features, Access tokens; README: Errors)

describe('bad tokens: 401 invalid_token', () => {
  test('a garbage string', async () => {
    await assertInvalidToken('this-is-definitely-not-a-jwt-0123456789');
  });

  test('expired', async () => {
    await assertInvalidToken(issuer.mint({ claims: { iat: now() - 7200, exp: now() - 60 } }));
  });

  test('wrong audience', async () => {
    await assertInvalidToken(issuer.mint({ audience: 'https://other-api.example' }));
  });

  test('wrong issuer', async () => {
    await assertInvalidToken(issuer.mint({ claims: { iss: 'https://evil.example/' } }));
  });

  test('issuer without its trailing slash (exact comparison)', async () => {
    await assertInvalidToken(issuer.mint({ claims: { iss: issuer.domain } }));
  });

  test('alg none (empty signature)', async () => {
    const { header, payload } = parts();
    await assertInvalidToken(issuer.signRaw({ ...header, alg: 'none' }, payload, { alg: 'none' }));
  });

  test('alg HS256 signed with HMAC over the public key', async () => {
    const { header, payload } = parts();
    const pem = issuer.signingKey.publicKey.export({ format: 'pem', type: 'spki' });
    await assertInvalidToken(issuer.signRaw({ ...header, alg: 'HS256' }, payload, { alg: 'HS256', key: pem }));
  });

  test('alg RS384 (a valid RS384 signature by the right key)', async () => {
    const { header, payload } = parts();
    await assertInvalidToken(issuer.signRaw({ ...header, alg: 'RS384' }, payload, { alg: 'RS384' }));
  });

  test('a crit header', async () => {
    await assertInvalidToken(issuer.mint({ header: { crit: ['exp'], exp: now() + 60 } }));
  });

  test('typ JOSE+XYZ', async () => {
    await assertInvalidToken(issuer.mint({ header: { typ: 'JOSE+XYZ' } }));
  });

  test('no kid', async () => {
    await assertInvalidToken(issuer.mint({ header: { kid: undefined } }));
  });

  test('an unknown kid (signed by a key the issuer never published)', async () => {
    const k = issuer.newKey();
    await assertInvalidToken(issuer.mint({ key: k.privateKey, header: { kid: k.kid } }));
  });

  test('the published kid but signed by another key', async () => {
    const k = issuer.newKey();
    await assertInvalidToken(issuer.mint({ key: k.privateKey }));
  });

  test('tampered payload (the signature of another payload)', async () => {
    const [h, , s] = issuer.mint({ sub: 'alice' }).split('.');
    const [, p2] = issuer.mint({ sub: 'admin', scope: REQUIRED_SCOPE }).split('.');
    await assertInvalidToken(`${h}.${p2}.${s}`);
  });

  test('base64 padding "=" added to a segment', async () => {
    const token = issuer.mint();
    const segs = token.split('.');
    const padded = (s) => s + '='.repeat((4 - (s.length % 4)) % 4 || 1);
    // Trailing "=" is valid token68 / b64token syntax (RFC 6750 section 2.1), so this one reaches token
    // validation, which is strict about padding (README: Features, Access tokens): 401 invalid_token.
    await assertInvalidToken([segs[0], segs[1], padded(segs[2])].join('.'));
  });

  test('base64 padding "=" inside the token (header or payload segment)', async () => {
    // One credential with odd characters is still a token to validate: README: Errors makes every failure
    // of it (a bad, expired or unverifiable token) 401 invalid_token, padding included.
    const segs = issuer.mint().split('.');
    const padded = (s) => s + '='.repeat((4 - (s.length % 4)) % 4 || 1);
    for (const token of [[padded(segs[0]), segs[1], segs[2]], [segs[0], padded(segs[1]), segs[2]]].map((t) => t.join('.'))) {
      await assertInvalidToken(token);
    }
    await assertInvalidToken(segs.join('.').replace(/-/g, '+').replace(/_/g, '/') + '"');
  });

  test('not exactly three parts', async () => {
    const token = issuer.mint();
    await assertInvalidToken(`${token}.${token.split('.')[2]}`);
    await assertInvalidToken(token.split('.').slice(0, 2).join('.'));
  });

  test('exp as a string', async () => {
    await assertInvalidToken(issuer.mint({ claims: { exp: String(now() + 3600) } }));
  });

  test('no exp', async () => {
    await assertInvalidToken(issuer.mint({ claims: { exp: undefined } }));
  });

  test('nbf in the future', async () => {
    await assertInvalidToken(issuer.mint({ claims: { nbf: now() + 3600 } }));
  });

  test('iat as a string', async () => {
    await assertInvalidToken(issuer.mint({ claims: { iat: String(now()) } }));
  });

  test('a token over 16 KiB (claims padded) is refused, with no echo', async () => {
    const token = issuer.mint({ claims: { pad: 'p'.repeat(17 * 1024) } });
    assert.ok(token.length > 16 * 1024);
    await assertInvalidToken(token);
  });

  test('a DPoP-bound token (cnf.jkt) presented as Bearer: downgrade refused', async () => {
    const jkt = issuer.newKey().kid; // any RFC 7638 thumbprint will do
    await assertInvalidToken(issuer.mint({ cnfJkt: jkt }));
  });
});

// ------------------------------------------------------------------ routing (README: Routes)

describe('unmatched routes: 404 not_found', () => {
  test('POST /api/public (no rule for the method)', async () => {
    const res = await call('/api/public', undefined, { method: 'POST' });
    assertError(res, 404, 'not_found');
  });

  test('GET /nope', async () => {
    const res = await call('/nope');
    assertError(res, 404, 'not_found');
  });

  test('GET /nope with a valid token still 404 (routing before token work)', async () => {
    const token = issuer.mint();
    const res = await call('/nope', bearer(token));
    assertError(res, 404, 'not_found', { secrets: [token] });
  });
});

// ------------------------------------------------------------------ key caching (README: Features, Keys)

describe('key caching', () => {
  test('steady state makes no discovery or JWKS fetches', async () => {
    const warm = issuer.mint({ sub: 'warm-up', scope: REQUIRED_SCOPE });
    for (let i = 0; i < 3; i++) await assertOk('/api/private-scoped', warm, 'warm-up');
    const before = issuer.stats();
    const same = issuer.mint({ sub: 'same', scope: REQUIRED_SCOPE });
    for (let i = 0; i < 10; i++) await assertOk('/api/private', same, 'same');
    for (let i = 0; i < 10; i++) await assertOk('/api/private-scoped', issuer.mint({ sub: `user-${i}`, scope: REQUIRED_SCOPE }), `user-${i}`);
    assert.deepEqual(issuer.stats(), before, 'the gateway fetched discovery or JWKS again in steady state');
  });
});

// ------------------------------------------------------------------ logs (README: Logs)

describe('logs', () => {
  test('one JSON line per request and never a token', async () => {
    // console.log lines can trail the responses a little.
    let lines = gw.logs();
    for (let i = 0; i < 20 && gw.jsonLogs().length < requestCount; i++) {
      await sleep(100);
      lines = gw.logs();
    }
    for (const credential of sent) {
      const pieces = new Set(credential.length >= 8 ? [credential] : []);
      const token = credential.replace(/^\S+\s+/, '');
      const segs = token.split('.');
      if (segs.length === 3) {
        if (segs[1].length >= 16) pieces.add(segs[1]);
        if (segs[2].length >= 16) pieces.add(segs[2]);
      }
      if (token.length >= 16) pieces.add(token);
      for (const piece of pieces) {
        const hit = lines.find((l) => l.includes(piece));
        assert.equal(hit, undefined, `a log line contains a sent credential: ${hit?.slice(0, 200)}`);
      }
    }
    const json = gw.jsonLogs();
    assert.ok(
      json.length >= requestCount,
      `expected at least one JSON log line per request (${requestCount} requests), got ${json.length}. Sample of output:\n${lines.slice(-15).join('\n')}`,
    );
  });
});
