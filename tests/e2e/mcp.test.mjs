// End-to-end tests of an MCP server behind the gateway (README: MCP servers) with real parts: the demo MCP
// server written with the official TypeScript SDK as the origin, the SDK's client through the gateway (tools
// listed, an allowed tool called, a guarded tool refused before the origin and granted with its scope,
// progress streamed over SSE), RFC 9728 discovery by the SDK and by oauth4webapi, and the SDK client's own
// OAuth flow (discovery, dynamic registration, authorization code with PKCE, resource indicator, step-up on
// insufficient_scope) against the development issuer acting as the authorization server. Hostile requests
// (bodies, headers, audiences, Origin) are tested with raw HTTP in ./resources.test.mjs.
//
//   bash scripts/build.sh && node --test tests/e2e/mcp.test.mjs
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { discoverOAuthProtectedResourceMetadata, discoverOAuthServerInfo, UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import * as oauth from 'oauth4webapi';
import { startIssuer } from '../../tools/dev-issuer.mjs';
import { startMcpDemoServer } from '../../tools/mcp-demo-server.mjs';
import { assertError, describeRes, escapeRe } from './contract.mjs';
import { buildWorker, freePort, request, startGateway } from './harness.mjs';

const USE = 'mcp:use';
const DELETE = 'notes:delete';
const INITIALIZE = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
};

let issuer;
let mcp;
let gateway;
let resource; // the gateway's URL of the MCP endpoint: the resource, and what the clients connect to
let metadataUrl;

before(async () => {
  [issuer, mcp] = await Promise.all([startIssuer(), startMcpDemoServer()]);
  await buildWorker();
  // The resource names the gateway's own URL, known only once its port is chosen.
  const port = await freePort();
  resource = `http://127.0.0.1:${port}/mcp`;
  metadataUrl = `http://127.0.0.1:${port}/.well-known/oauth-protected-resource/mcp`;
  gateway = await startGateway({
    port,
    readyPath: '/health',
    readyTimeoutMs: 10 * 60_000,
    vars: {
      AUTH0_DOMAIN: issuer.domain,
      AUTH0_AUDIENCE: issuer.audience,
      ORIGIN_URL: mcp.origin,
      RESOURCES: JSON.stringify([{ resource, resource_name: 'Gateway demo MCP server' }]),
      ROUTES: JSON.stringify([
        { path: '/health', auth: 'none' },
        {
          path: '/mcp',
          auth: 'required',
          resource,
          scopes: [USE],
          jsonrpc: [{ method: 'tools/call', name: 'delete_note', scopes: [DELETE] }],
        },
      ]),
    },
  });
}, { timeout: 30 * 60_000 });

after(async () => {
  await gateway?.stop();
  await Promise.all([issuer?.close(), mcp?.close()]);
});

/** An access token for the resource (RFC 8707 audience) with these scopes. */
const tokenFor = (scope, opts = {}) => issuer.mint({ audience: resource, scope, ...opts });

/** An SDK client connected through the gateway with a fixed token (no OAuth provider). */
async function connect(token) {
  const client = new Client({ name: 'e2e', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(resource), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
  await client.connect(transport);
  return client;
}

const text = (result) => result.content.map((c) => c.text).join('');

/** A raw JSON-RPC POST to the MCP endpoint through the gateway. */
function post(message, headers = {}) {
  return request(resource, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', ...headers },
    body: JSON.stringify(message),
  });
}

/** The challenge of a resource's route: the Bearer scheme with its resource_metadata parameter. */
const resourceChallenge = () => new RegExp(`^Bearer .*resource_metadata="${escapeRe(metadataUrl)}"`);

describe('discovery (RFC 9728)', () => {
  test('the metadata document names the resource, the issuer and the scopes, readable cross-origin', async () => {
    const res = await request(metadataUrl);
    assert.equal(res.status, 200, describeRes(res));
    assert.match(res.headers['content-type'] ?? '', /^application\/json\b/);
    assert.equal(res.headers['access-control-allow-origin'], '*');
    assert.equal(res.json.resource, resource);
    assert.deepEqual(res.json.authorization_servers, [issuer.issuer]);
    assert.deepEqual([...res.json.scopes_supported].sort(), [USE, DELETE].sort());
    assert.deepEqual(res.json.bearer_methods_supported, ['header']);
    assert.equal(res.json.resource_name, 'Gateway demo MCP server');
  });

  test("the MCP SDK's discovery accepts it and finds the authorization server", async () => {
    const md = await discoverOAuthProtectedResourceMetadata(resource);
    assert.equal(md.resource, resource);
    const info = await discoverOAuthServerInfo(resource);
    assert.equal(info.authorizationServerUrl, issuer.issuer);
    assert.equal(info.authorizationServerMetadata.issuer, issuer.issuer);
    assert.equal(info.authorizationServerMetadata.registration_endpoint, `${issuer.domain}/oidc/register`);
  });

  test("oauth4webapi's RFC 9728 checks accept it, and refuse it for another resource", async () => {
    const options = { [oauth.allowInsecureRequests]: true };
    const md = await oauth.processResourceDiscoveryResponse(
      new URL(resource),
      await oauth.resourceDiscoveryRequest(new URL(resource), options),
    );
    assert.equal(md.resource, resource);
    assert.deepEqual(md.authorization_servers, [issuer.issuer]);
    // RFC 9728 section 3.3: a document whose resource is not the one asked for must be rejected.
    const other = new URL(resource.replace(/\/mcp$/, '/elsewhere'));
    const res = await fetch(metadataUrl);
    await assert.rejects(oauth.processResourceDiscoveryResponse(other, res), /resource/);
  });

  test('a request without a token is answered 401 with resource_metadata and the route scope, not forwarded', async () => {
    const seen = mcp.requests.length;
    const res = await post(INITIALIZE);
    assertError(res, 401, 'unauthorized', { challenge: resourceChallenge() });
    assert.match(res.headers['www-authenticate'], new RegExp(`scope="${USE}"`));
    assert.equal(mcp.requests.length, seen, 'a refused request reached the MCP server');
  });
});

describe('the MCP SDK client through the gateway', () => {
  test('lists the tools and calls an allowed one', async () => {
    const client = await connect(tokenFor(USE));
    try {
      const { tools } = await client.listTools();
      assert.deepEqual(tools.map((t) => t.name).sort(), ['countdown', 'delete_note', 'echo', 'get_time']);
      assert.equal(text(await client.callTool({ name: 'echo', arguments: { text: 'hello' } })), 'hello');
      const last = mcp.requests.at(-1);
      assert.equal(last.headers.authorization, undefined, 'the client token must not reach the MCP server');
    } finally {
      await client.close();
    }
  });

  test('the guarded tool is refused with 403 insufficient_scope, never reaching the MCP server', async () => {
    const token = tokenFor(USE);
    const client = await connect(token);
    try {
      const seen = mcp.messages.length;
      await assert.rejects(
        client.callTool({ name: 'delete_note', arguments: { id: '1' } }),
        (err) => err instanceof StreamableHTTPError && err.code === 403,
      );
      const res = await post({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'delete_note', arguments: { id: '1' } } }, {
        Authorization: `Bearer ${token}`,
      });
      assertError(res, 403, 'insufficient_scope', { secrets: [token], challenge: resourceChallenge() });
      // Every scope the call needs, not only the missing one (clients ask for exactly that set on step-up).
      const scope = /scope="([^"]*)"/.exec(res.headers['www-authenticate'])?.[1];
      assert.deepEqual(scope?.split(' ').sort(), [USE, DELETE].sort(), describeRes(res));
      assert.equal(mcp.messages.length, seen, 'a refused call reached the MCP server');
      assert.ok(!mcp.calls.some((c) => c.name === 'delete_note'));
    } finally {
      await client.close();
    }
  });

  test('the guarded tool runs with its scope', async () => {
    const client = await connect(tokenFor(`${USE} ${DELETE}`));
    try {
      assert.equal(text(await client.callTool({ name: 'delete_note', arguments: { id: '2' } })), 'deleted 2');
      assert.deepEqual(mcp.calls.at(-1), { name: 'delete_note', args: { id: '2' } });
    } finally {
      await client.close();
    }
  });

  test('progress notifications stream through over SSE', async () => {
    const client = await connect(tokenFor(USE));
    try {
      const progress = [];
      const result = await client.callTool({ name: 'countdown', arguments: { from: 3 } }, undefined, {
        onprogress: (p) => progress.push(p.message),
      });
      assert.equal(text(result), 'liftoff');
      assert.deepEqual(progress, ['3', '2', '1']);
    } finally {
      await client.close();
    }
    const res = await post(
      { jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'countdown', arguments: { from: 2 }, _meta: { progressToken: 'p' } } },
      { Authorization: `Bearer ${tokenFor(USE)}` },
    );
    assert.equal(res.status, 200, describeRes(res));
    assert.match(res.headers['content-type'] ?? '', /^text\/event-stream\b/);
    const events = res.text.split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)));
    assert.deepEqual(events.map((e) => e.method ?? 'result'), ['notifications/progress', 'notifications/progress', 'result']);
  });
});

/**
 * An OAuthClientProvider for a client with no browser: the authorization request is sent in-process and its
 * redirect (the dev issuer approves at once) is read for the code, kept for finishAuth.
 */
class InProcessProvider {
  constructor({ grantTypes = ['authorization_code'] } = {}) {
    this.redirectUrl = 'http://127.0.0.1:1/callback';
    this.clientMetadata = {
      client_name: 'e2e MCP client',
      redirect_uris: [this.redirectUrl],
      grant_types: grantTypes,
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
    this.authorizations = []; // the authorization URLs visited
    this.code = undefined;
    this.stateValue = undefined;
  }

  state() {
    this.stateValue = `s-${Math.random().toString(36).slice(2)}`;
    return this.stateValue;
  }

  clientInformation() {
    return this.client;
  }

  saveClientInformation(info) {
    this.client = info;
  }

  tokens() {
    return this.saved;
  }

  saveTokens(tokens) {
    this.saved = tokens;
  }

  saveCodeVerifier(v) {
    this.verifier = v;
  }

  codeVerifier() {
    return this.verifier;
  }

  async redirectToAuthorization(url) {
    this.authorizations.push(url);
    const res = await fetch(url, { redirect: 'manual' });
    assert.equal(res.status, 302, `the authorization request was not approved: ${res.status} ${await res.text()}`);
    const back = new URL(res.headers.get('location'));
    assert.equal(`${back.origin}${back.pathname}`, this.redirectUrl);
    assert.equal(back.searchParams.get('state'), this.stateValue);
    assert.equal(back.searchParams.get('iss'), issuer.issuer);
    this.code = back.searchParams.get('code');
    assert.ok(this.code, `no code in the redirect: ${back.search}`);
  }
}

const claimsOf = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));

describe("the MCP SDK client's own OAuth flow against the development issuer", () => {
  test('discovery, registration, code with PKCE and resource, then tool calls; step-up for the guarded tool', async () => {
    const provider = new InProcessProvider();
    const first = new StreamableHTTPClientTransport(new URL(resource), { authProvider: provider });
    await assert.rejects(new Client({ name: 'oauth-e2e', version: '1' }).connect(first), UnauthorizedError);
    const asked = provider.authorizations[0];
    assert.equal(asked.searchParams.get('resource'), resource);
    assert.equal(asked.searchParams.get('scope'), USE, 'the scope of the 401 challenge');
    assert.equal(asked.searchParams.get('code_challenge_method'), 'S256');
    await first.finishAuth(provider.code);
    const claims = claimsOf(provider.saved.access_token);
    assert.equal(claims.aud, resource);
    assert.equal(claims.scope, USE);
    assert.equal(claims.client_id, provider.client.client_id);

    const client = new Client({ name: 'oauth-e2e', version: '1' });
    const transport = new StreamableHTTPClientTransport(new URL(resource), { authProvider: provider });
    await client.connect(transport);
    try {
      assert.equal(text(await client.callTool({ name: 'echo', arguments: { text: 'via oauth' } })), 'via oauth');
      // 403 insufficient_scope: the SDK asks for every scope named in the challenge (a new authorization).
      await assert.rejects(client.callTool({ name: 'delete_note', arguments: { id: '1' } }), UnauthorizedError);
      assert.equal(provider.authorizations.length, 2);
      assert.deepEqual(provider.authorizations[1].searchParams.get('scope').split(' ').sort(), [USE, DELETE].sort());
      await transport.finishAuth(provider.code);
      assert.equal(text(await client.callTool({ name: 'delete_note', arguments: { id: '1' } })), 'deleted 1');
    } finally {
      await client.close();
    }
  });
});

describe('the development authorization server refuses what it must', () => {
  const register = (body) => fetch(`${issuer.domain}/oidc/register`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  const tokenRequest = (params) => fetch(`${issuer.domain}/oauth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params),
  });
  const redirectUri = 'http://127.0.0.1:1/cb';

  /** Registers a client and runs /authorize; returns {clientId, res, code, verifier}. */
  async function authorized(extra = {}, grantTypes = ['authorization_code']) {
    const client = await (await register({ redirect_uris: [redirectUri], grant_types: grantTypes })).json();
    const verifier = oauth.generateRandomCodeVerifier();
    const url = new URL(`${issuer.domain}/authorize`);
    const params = {
      response_type: 'code',
      client_id: client.client_id,
      redirect_uri: redirectUri,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      scope: USE,
      resource,
      ...extra,
    };
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    const res = await fetch(url, { redirect: 'manual' });
    return { clientId: client.client_id, res, verifier, code: res.status === 302 ? new URL(res.headers.get('location')).searchParams.get('code') : null };
  }

  test('registration: only public clients with absolute redirect URIs', async () => {
    let res = await register({ redirect_uris: [redirectUri], token_endpoint_auth_method: 'client_secret_basic' });
    assert.equal(res.status, 400);
    assert.equal((await res.json()).error, 'invalid_client_metadata');
    res = await register({ redirect_uris: ['/relative'] });
    assert.equal((await res.json()).error, 'invalid_redirect_uri');
  });

  test('authorize: an unknown client or an unregistered redirect URI is answered, never redirected', async () => {
    const unknown = await authorized({ client_id: 'nobody' });
    assert.equal(unknown.res.status, 400);
    assert.equal((await unknown.res.json()).error, 'invalid_client');
    const elsewhere = await authorized({ redirect_uri: 'https://attacker.example/cb' });
    assert.equal(elsewhere.res.status, 400);
    assert.equal(elsewhere.res.headers.get('location'), null);
    const plain = await authorized({ code_challenge_method: 'plain' });
    assert.equal(new URL(plain.res.headers.get('location')).searchParams.get('error'), 'invalid_request');
  });

  test('token: a wrong verifier spends the code; the right one gets a token for the resource once', async () => {
    const bad = await authorized();
    const wrong = await tokenRequest({
      grant_type: 'authorization_code', client_id: bad.clientId, code: bad.code, redirect_uri: redirectUri,
      code_verifier: oauth.generateRandomCodeVerifier(),
    });
    assert.equal((await wrong.json()).error, 'invalid_grant');
    const replay = await tokenRequest({
      grant_type: 'authorization_code', client_id: bad.clientId, code: bad.code, redirect_uri: redirectUri, code_verifier: bad.verifier,
    });
    assert.equal((await replay.json()).error, 'invalid_grant', 'a code survived a failed exchange');

    const good = await authorized();
    const exchange = {
      grant_type: 'authorization_code', client_id: good.clientId, code: good.code, redirect_uri: redirectUri, code_verifier: good.verifier,
    };
    const other = await tokenRequest({ ...exchange, client_id: 'nobody' });
    assert.equal(other.status, 401);
    const mismatch = await tokenRequest({ ...exchange, redirect_uri: `${redirectUri}2` });
    assert.equal((await mismatch.json()).error, 'invalid_grant');
    // The redirect URI mismatch spent the code too.
    const fresh = await authorized();
    const ok = await tokenRequest({ ...exchange, client_id: fresh.clientId, code: fresh.code, code_verifier: fresh.verifier });
    assert.equal(ok.status, 200);
    const body = await ok.json();
    assert.equal(claimsOf(body.access_token).aud, resource);
    assert.equal(body.refresh_token, undefined, 'no refresh token for a client that did not register the grant');
    const again = await tokenRequest({ ...exchange, client_id: fresh.clientId, code: fresh.code, code_verifier: fresh.verifier });
    assert.equal((await again.json()).error, 'invalid_grant');
  });

  test('refresh: rotated, same resource, never a wider scope', async () => {
    const grant = await authorized({}, ['authorization_code', 'refresh_token']);
    const first = await (await tokenRequest({
      grant_type: 'authorization_code', client_id: grant.clientId, code: grant.code, redirect_uri: redirectUri, code_verifier: grant.verifier,
    })).json();
    assert.ok(first.refresh_token);
    const wider = await tokenRequest({ grant_type: 'refresh_token', client_id: grant.clientId, refresh_token: first.refresh_token, scope: `${USE} ${DELETE}` });
    assert.equal((await wider.json()).error, 'invalid_scope');
    const fresh = await (await authorized({}, ['authorization_code', 'refresh_token']));
    const second = await (await tokenRequest({
      grant_type: 'authorization_code', client_id: fresh.clientId, code: fresh.code, redirect_uri: redirectUri, code_verifier: fresh.verifier,
    })).json();
    const refresh = { grant_type: 'refresh_token', client_id: fresh.clientId, refresh_token: second.refresh_token };
    const renewed = await (await tokenRequest(refresh)).json();
    assert.equal(claimsOf(renewed.access_token).aud, resource);
    assert.equal(renewed.scope, USE);
    assert.notEqual(renewed.refresh_token, second.refresh_token);
    assert.equal((await (await tokenRequest(refresh)).json()).error, 'invalid_grant', 'a spent refresh token was accepted again');
  });
});
