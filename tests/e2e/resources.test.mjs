// End-to-end tests of protected resources and JSON-RPC rules (README: MCP servers) with raw HTTP, under
// `wrangler dev`, against the local development issuer and a recording origin: the RFC 9728 metadata
// document, the challenges that point to it, the resource audience (RFC 8707), the Origin check, and the body
// rules (size, Mcp-Method agreement, batches, the union of scopes), with nothing forwarded on a refusal and
// the very bytes forwarded on an allowed call. The MCP SDK's own client runs in ./mcp.test.mjs.
//
//   bash scripts/build.sh && node --test tests/e2e/resources.test.mjs
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startIssuer } from '../../tools/dev-issuer.mjs';
import { ALGS, assertError, describeRes } from './contract.mjs';
import { buildWorker, request, startGateway } from './harness.mjs';
import { startOrigin } from './origin.mjs';

const RESOURCE = 'https://mcp.resources-tests.example/mcp';
const METADATA_PATH = '/.well-known/oauth-protected-resource/mcp';
const METADATA_URL = `https://mcp.resources-tests.example${METADATA_PATH}`;
const APP = 'https://app.example.com';
const MiB = 1024 * 1024;
const RESOURCES = [{ resource: RESOURCE, resource_name: 'Test MCP server' }];
const ROUTES = [
  { path: '/public', auth: 'none' },
  {
    path: '/mcp',
    scopes: ['mcp:use'],
    resource: RESOURCE,
    jsonrpc: [{ method: 'tools/call', name: 'delete_*', scopes: ['repo:admin'] }],
  },
];

let issuer;
let origin;
let gw;

before(async () => {
  [issuer, origin] = await Promise.all([startIssuer(), startOrigin()]);
  await buildWorker();
  gw = await startGateway({
    readyPath: '/public',
    readyTimeoutMs: 10 * 60_000,
    vars: {
      AUTH0_DOMAIN: issuer.domain,
      AUTH0_AUDIENCE: issuer.audience,
      ORIGIN_URL: origin.url,
      CORS_ALLOWED_ORIGINS: APP,
      RESOURCES: JSON.stringify(RESOURCES),
      ROUTES: JSON.stringify(ROUTES),
    },
  });
}, { timeout: 30 * 60_000 });

after(async () => {
  await gw?.stop();
  await Promise.all([issuer?.close(), origin?.close()]);
});

const mint = (scope, audience = RESOURCE) => issuer.mint({ scope, audience });
const rpc = (method, params, id = 1) => ({ jsonrpc: '2.0', id, method, ...(params ? { params } : {}) });
const tool = (name, id = 1) => rpc('tools/call', { name, arguments: { repo: 'r' } }, id);

/** POSTs a body to /mcp; `headers` are added to the bearer token's. */
function post(token, body, headers = {}) {
  const text = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  const auth = token === undefined ? {} : { Authorization: `Bearer ${token}` };
  return request(`${gw.url}/mcp`, {
    method: 'POST',
    headers: { ...auth, 'Content-Type': 'application/json', ...headers },
    body: text,
  });
}

/** Sends a request that must be refused and never reach the origin; returns the response. */
async function refusedPost(token, body, headers) {
  const before = origin.started();
  const res = await post(token, body, headers);
  assert.equal(origin.started(), before, `a refused request reached the origin: ${describeRes(res)}`);
  return res;
}

const meta = `resource_metadata="${METADATA_URL}"`;

describe('protected resource metadata (RFC 9728)', () => {
  test('GET and HEAD answer the document, readable cross-origin; other methods 405', async () => {
    const started = origin.started();
    const res = await request(`${gw.url}${METADATA_PATH}`, { headers: { Origin: 'https://anywhere.example' } });
    assert.equal(res.status, 200, describeRes(res));
    assert.match(res.headers['content-type'], /^application\/json/);
    assert.equal(res.headers['access-control-allow-origin'], '*');
    assert.deepEqual(res.json, {
      resource: RESOURCE,
      authorization_servers: [issuer.issuer],
      scopes_supported: ['mcp:use', 'repo:admin'],
      bearer_methods_supported: ['header'],
      resource_name: 'Test MCP server',
      dpop_signing_alg_values_supported: ['ES256'],
    });
    const head = await request(`${gw.url}${METADATA_PATH}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    for (const method of ['POST', 'DELETE']) {
      const res405 = await request(`${gw.url}${METADATA_PATH}`, { method, body: '{}' });
      assertError(res405, 405, 'method_not_allowed', { challenge: null });
      assert.equal(res405.headers.allow, 'GET, HEAD');
    }
    // The resource URL's path decides the well-known path: the root one is not this resource's.
    assertError(await request(`${gw.url}/.well-known/oauth-protected-resource`), 404, 'not_found');
    assert.equal(origin.started(), started, 'the gateway answers these itself');
  });
});

describe('challenges, audience and Origin on the resource route', () => {
  test('401 without a token names the metadata and the route scope in each challenge', async () => {
    const res = await refusedPost(undefined, tool('search'));
    const both = `${meta}, scope="mcp:use"`;
    assertError(res, 401, 'unauthorized', { challenge: `Bearer realm="api", ${both}, DPoP ${ALGS}, ${both}` });
  });

  test('a token for another audience is 401 invalid_token, with the metadata', async () => {
    const token = issuer.mint({ scope: 'mcp:use' }); // AUTH0_AUDIENCE, not the resource
    const res = await refusedPost(token, tool('search'));
    const description = 'aud: does not contain the configured audience';
    const both = `${meta}, scope="mcp:use"`;
    assertError(res, 401, 'invalid_token', {
      secrets: [token],
      challenge: `Bearer realm="api", error="invalid_token", error_description="${description}", ${both}, DPoP ${ALGS}, ${both}`,
    });
  });

  test('a foreign Origin is 403 forbidden_origin before token work; an allowed one passes', async () => {
    const good = mint('mcp:use');
    for (const foreign of ['https://evil.example', 'null']) {
      const res = await refusedPost('not-even-a-token', tool('search'), { Origin: foreign });
      assertError(res, 403, 'forbidden_origin', { challenge: null });
    }
    const res = await post(good, tool('search'), { Origin: APP });
    assert.equal(res.status, 200, describeRes(res));
    assert.equal(res.headers['access-control-allow-origin'], APP);
  });
});

describe('JSON-RPC rules', () => {
  test('an allowed call is forwarded byte for byte, and a GET needs only the route scope', async () => {
    const token = mint('mcp:use');
    // Odd spacing and an escaped name: the origin must get exactly these bytes.
    const body = ' {"jsonrpc":"2.0", "id":7,"method":"tools/call","params":{"name":"sea\\u0072ch","arguments":{"q":"é"}}}\n';
    const before = origin.count();
    const res = await post(token, body, { 'Mcp-Method': 'tools/call', 'Mcp-Name': 'search' });
    assert.equal(res.status, 200, describeRes(res));
    assert.equal(origin.count(), before + 1);
    const rec = origin.last();
    assert.equal(rec.sha256, crypto.createHash('sha256').update(body).digest('hex'));
    assert.equal(rec.bytes, Buffer.byteLength(body));
    assert.equal(rec.headers.authorization, undefined, 'the token stays at the gateway');
    const get = await request(`${gw.url}/mcp`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(get.status, 200, describeRes(get));
  });

  test('a body without Content-Length is read in pieces, matched and forwarded whole', async () => {
    const body = JSON.stringify([tool('search', 1), tool('delete_repo', 2)]);
    const pieces = [body.slice(0, 9), body.slice(9, 40), body.slice(40)];
    const chunked = (token) => request(`${gw.url}/mcp`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' },
      chunks: pieces,
    });
    const user = mint('mcp:use');
    const started = origin.started();
    assertError(await chunked(user), 403, 'insufficient_scope', {
      secrets: [user],
      challenge: `Bearer realm="api", error="insufficient_scope", scope="mcp:use repo:admin", ${meta}`,
    });
    assert.equal(origin.started(), started, 'the guarded call in the second piece reached the origin');
    const res = await chunked(mint('mcp:use repo:admin'));
    assert.equal(res.status, 200, describeRes(res));
    const rec = origin.last();
    assert.equal(rec.sha256, crypto.createHash('sha256').update(body).digest('hex'));
    assert.equal(rec.bytes, Buffer.byteLength(body));
  });

  test('a body of exactly 1 MiB is read and forwarded, with or without Content-Length; one byte more is 413', async () => {
    const admin = mint('mcp:use repo:admin');
    const sized = (bytes) => {
      const empty = JSON.stringify(rpc('tools/list', { pad: '' }));
      return JSON.stringify(rpc('tools/list', { pad: 'x'.repeat(bytes - empty.length) }));
    };
    const [exact, over] = [sized(MiB), sized(MiB + 1)];
    assert.equal(Buffer.byteLength(exact), MiB);
    const framed = await post(admin, exact);
    assert.equal(framed.status, 200, describeRes(framed));
    assert.equal(origin.last().bytes, MiB);
    const pieces = [exact.slice(0, MiB / 2), exact.slice(MiB / 2)];
    const chunked = await request(`${gw.url}/mcp`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${admin}`, 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' },
      chunks: pieces,
    });
    assert.equal(chunked.status, 200, describeRes(chunked));
    assert.equal(origin.last().sha256, crypto.createHash('sha256').update(exact).digest('hex'));
    assertError(await refusedPost(admin, over), 413, 'payload_too_large', { challenge: null });
  });

  test('a guarded tool needs its scope, also hidden in a batch; 403 names every needed scope', async () => {
    const user = mint('mcp:use');
    const admin = mint('mcp:use repo:admin');
    const batch = [rpc('tools/list', undefined, 1), tool('search', 2), tool('delete_repo', 3)];
    for (const body of [tool('delete_repo'), batch]) {
      const res = await refusedPost(user, body);
      assertError(res, 403, 'insufficient_scope', {
        secrets: [user],
        challenge: `Bearer realm="api", error="insufficient_scope", scope="mcp:use repo:admin", ${meta}`,
      });
    }
    const before = origin.count();
    for (const body of [tool('delete_repo'), batch]) {
      const res = await post(admin, body);
      assert.equal(res.status, 200, describeRes(res));
    }
    assert.equal(origin.count(), before + 2);
  });

  test('hostile bodies and lying headers are 400 or 413, never forwarded', async () => {
    const admin = mint('mcp:use repo:admin');
    const cases = [
      [tool('delete_repo'), { 'Mcp-Method': 'tools/list' }, 'Mcp-Method or Mcp-Name does not match the body'],
      [tool('delete_repo'), { 'Mcp-Method': 'tools/call', 'Mcp-Name': 'search' }, 'Mcp-Method or Mcp-Name does not match the body'],
      [[tool('search')], { 'Mcp-Method': 'tools/call' }, 'Mcp-Method and Mcp-Name cannot be sent with a batch'],
      ['{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","name":"delete_repo"}}', {}, 'body: an object repeats a member name'],
      ['{"jsonrpc":"2.0","id":1,"method":"tools/call"', {}, 'body: not valid JSON'],
      [[], {}, 'body: not a JSON-RPC message or a non-empty batch of them'],
      [`{"jsonrpc":"2.0","method":"m","params":{"a":${'['.repeat(64)}${']'.repeat(64)}}}`, {}, 'body: nested too deeply'],
    ];
    for (const [body, headers, description] of cases) {
      const res = await refusedPost(admin, body, headers);
      const detail = assertError(res, 400, 'invalid_request', { challenge: null, note: ` (${description})` });
      assert.equal(detail.error_description, description);
    }
    const padded = JSON.stringify(rpc('tools/list', { pad: 'x'.repeat(MiB) }));
    assertError(await refusedPost(admin, padded), 413, 'payload_too_large', { challenge: null });
    // Without a Content-Length, the read stops at the limit.
    const before = origin.started();
    const chunked = await request(`${gw.url}/mcp`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${admin}`, 'Transfer-Encoding': 'chunked' },
      chunks: Array.from({ length: 5 }, () => ' '.repeat(MiB / 4)),
    });
    assertError(chunked, 413, 'payload_too_large', { challenge: null });
    assert.equal(origin.started(), before);
  });
});
