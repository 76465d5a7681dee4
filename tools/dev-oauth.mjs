// The development issuer's minimal OAuth 2.1 authorization server, so that a real MCP client completes its
// whole flow locally (README: MCP servers, Try it locally): RFC 8414 metadata, dynamic client registration
// (RFC 7591, public clients only), the authorization code grant with PKCE S256 approved at once for a fixed
// development user, refresh tokens (rotated) for clients that register the grant, and resource indicators
// (RFC 8707: the access token's `aud` is the requested resource). Node built-ins only; never outside
// development: it approves every request.
import crypto from 'node:crypto';
import { readBody } from './common.mjs';

const CODE_TTL_MS = 60_000;
const MAX_ENTRIES = 10_000; // clients, codes and refresh tokens each; the oldest goes first
const GRANTS = new Set(['authorization_code', 'refresh_token']);
// RFC 7636 section 4.1: 43 to 128 characters of [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~".
const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;
const CHALLENGE = /^[A-Za-z0-9\-_]{43}$/;

/** An OAuth error answered as JSON (RFC 6749 section 5.2, RFC 7591 section 3.2.2). */
class OAuthError extends Error {
  constructor(status, error, description) {
    super(description);
    this.status = status;
    this.error = error;
  }
}

/** A Map that forgets its oldest entry beyond MAX_ENTRIES, so that a loop of registrations cannot grow it forever. */
function boundedSet(map, key, value) {
  if (map.size >= MAX_ENTRIES) map.delete(map.keys().next().value);
  map.set(key, value);
}

const randomToken = () => crypto.randomBytes(32).toString('base64url');

/** An absolute URL without a fragment (RFC 6749 section 3.1.2; RFC 8707 section 2 for a resource). */
function absoluteUrl(value) {
  if (typeof value !== 'string' || value === '' || value.includes('#')) return false;
  try {
    return new URL(value).protocol !== '';
  } catch {
    return false;
  }
}

/** The only value of a parameter that must appear at most once (RFC 6749 section 3.1), or undefined. */
function single(params, name) {
  const all = params.getAll(name);
  if (all.length > 1) throw new OAuthError(400, 'invalid_request', `${name} appears more than once`);
  return all.length === 1 && all[0] !== '' ? all[0] : undefined;
}

/** RFC 8707 section 2: one absolute resource URL without a fragment, or none. */
function resourceParam(params) {
  const all = params.getAll('resource');
  if (all.length > 1) throw new OAuthError(400, 'invalid_target', 'this development issuer accepts one resource per request');
  if (all.length === 0) return undefined;
  if (!absoluteUrl(all[0])) throw new OAuthError(400, 'invalid_target', 'resource must be an absolute URL without a fragment');
  return all[0];
}

/** Validates an RFC 7591 registration request; returns the registered client or throws. */
function registration(body) {
  const bad = (d) => new OAuthError(400, 'invalid_client_metadata', d);
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw bad('the body must be a JSON object');
  const uris = body.redirect_uris;
  if (!Array.isArray(uris) || uris.length === 0 || !uris.every(absoluteUrl)) {
    throw new OAuthError(400, 'invalid_redirect_uri', 'redirect_uris must be a non-empty array of absolute URLs without fragments');
  }
  const method = body.token_endpoint_auth_method ?? 'none';
  if (method !== 'none') throw bad('only public clients (token_endpoint_auth_method "none") can register here');
  const grantTypes = body.grant_types ?? ['authorization_code'];
  if (!Array.isArray(grantTypes) || !grantTypes.includes('authorization_code') || !grantTypes.every((g) => GRANTS.has(g))) {
    throw bad('grant_types must include authorization_code and may add refresh_token');
  }
  const responseTypes = body.response_types ?? ['code'];
  if (!Array.isArray(responseTypes) || responseTypes.length !== 1 || responseTypes[0] !== 'code') {
    throw bad('response_types must be ["code"]');
  }
  for (const k of ['client_name', 'scope']) {
    if (body[k] !== undefined && typeof body[k] !== 'string') throw bad(`${k} must be a string`);
  }
  const client = {
    client_id: `dev-${randomToken().slice(0, 22)}`,
    client_id_issued_at: Math.floor(Date.now() / 1000),
    redirect_uris: [...uris],
    token_endpoint_auth_method: 'none',
    grant_types: [...grantTypes],
    response_types: ['code'],
  };
  if (body.client_name !== undefined) client.client_name = body.client_name;
  if (body.scope !== undefined) client.scope = body.scope;
  return client;
}

/**
 * The authorization server of the development issuer at `issuer()` (its URL, with the trailing slash).
 * `mint(options)` signs an access token (dev-issuer's mint); `sub` is the user every request is approved for.
 * Returns {metadata(), handle(req, res, url, send)}: handle answers the requests it owns and returns true,
 * false for any other; send(res, status, body, headers?) is the issuer's JSON answer.
 */
export function authorizationServer({ issuer, mint, sub = 'dev-user', expiresIn = 3600 }) {
  const clients = new Map();
  const codes = new Map();
  const refreshTokens = new Map();
  const base = () => issuer().replace(/\/$/, '');

  const metadata = () => ({
    issuer: issuer(),
    authorization_endpoint: `${base()}/authorize`,
    token_endpoint: `${base()}/oauth/token`,
    registration_endpoint: `${base()}/oidc/register`,
    jwks_uri: `${issuer()}.well-known/jwks.json`,
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: [...GRANTS],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: ['none'],
    authorization_response_iss_parameter_supported: true,
  });

  // 401 at the token endpoint (RFC 6749 section 5.2); 400 at the authorization endpoint, shown to the user.
  function client(clientId, status = 401) {
    const c = clientId === undefined ? undefined : clients.get(clientId);
    if (!c) throw new OAuthError(status, 'invalid_client', 'unknown client_id');
    return c;
  }

  /**
   * RFC 6749 section 4.1.1 and 4.1.2.1: errors about the client or its redirect URI are answered here (never
   * redirected to an unchecked URI); the others go back to the client's redirect URI with `error`.
   */
  function authorize(url, res, send) {
    const p = url.searchParams;
    let c;
    let redirectUri;
    try {
      c = client(single(p, 'client_id'), 400);
      redirectUri = single(p, 'redirect_uri');
      if (redirectUri === undefined) {
        if (c.redirect_uris.length !== 1) throw new OAuthError(400, 'invalid_request', 'redirect_uri is required');
        [redirectUri] = c.redirect_uris;
      } else if (!c.redirect_uris.includes(redirectUri)) {
        throw new OAuthError(400, 'invalid_request', 'redirect_uri is not registered for this client');
      }
    } catch (err) {
      return sendError(res, send, err);
    }
    const back = new URL(redirectUri);
    let state;
    try {
      state = single(p, 'state');
      if (single(p, 'response_type') !== 'code') throw new OAuthError(400, 'unsupported_response_type', 'response_type must be code');
      const challenge = single(p, 'code_challenge');
      if (challenge === undefined) throw new OAuthError(400, 'invalid_request', 'code_challenge is required (PKCE)');
      if (single(p, 'code_challenge_method') !== 'S256') throw new OAuthError(400, 'invalid_request', 'code_challenge_method must be S256');
      if (!CHALLENGE.test(challenge)) throw new OAuthError(400, 'invalid_request', 'code_challenge is not a base64url SHA-256 digest');
      const code = randomToken();
      boundedSet(codes, code, {
        clientId: c.client_id,
        redirectUri,
        redirectUriGiven: p.has('redirect_uri'),
        challenge,
        scope: single(p, 'scope') ?? c.scope,
        resource: resourceParam(p),
        expiresAt: Date.now() + CODE_TTL_MS,
      });
      back.searchParams.set('code', code);
    } catch (err) {
      if (!(err instanceof OAuthError)) throw err;
      back.searchParams.set('error', err.error);
      back.searchParams.set('error_description', err.message);
    }
    if (state !== undefined) back.searchParams.set('state', state);
    back.searchParams.set('iss', issuer()); // RFC 9207
    res.writeHead(302, { Location: back.href, 'Cache-Control': 'no-store' });
    res.end();
    return undefined;
  }

  /** Signs the access token (and a rotated refresh token when the client registered the grant). */
  function tokens(c, { scope, resource }) {
    const claims = { client_id: c.client_id, azp: c.client_id };
    const out = {
      access_token: mint({ sub, scope, audience: resource, expiresIn, claims }),
      token_type: 'Bearer',
      expires_in: expiresIn,
    };
    if (scope !== undefined) out.scope = scope;
    if (c.grant_types.includes('refresh_token')) {
      const rt = randomToken();
      boundedSet(refreshTokens, rt, { clientId: c.client_id, scope, resource });
      out.refresh_token = rt;
    }
    return out;
  }

  /** RFC 6749 section 4.1.3 with RFC 7636 section 4.6, and section 6; RFC 8707 section 2.2. */
  function token(params) {
    if (params.has('client_secret')) throw new OAuthError(401, 'invalid_client', 'public clients have no secret');
    const c = client(single(params, 'client_id'));
    const grant = single(params, 'grant_type');
    if (!GRANTS.has(grant)) throw new OAuthError(400, 'unsupported_grant_type', 'grant_type must be authorization_code or refresh_token');
    if (!c.grant_types.includes(grant)) throw new OAuthError(400, 'unauthorized_client', `the client did not register ${grant}`);
    const resource = resourceParam(params);
    if (grant === 'authorization_code') {
      const code = single(params, 'code');
      const entry = code === undefined ? undefined : codes.get(code);
      // A code is spent by its first exchange attempt, good or bad (RFC 6749 section 10.5).
      if (entry?.clientId === c.client_id) codes.delete(code);
      if (!entry || entry.clientId !== c.client_id || entry.expiresAt < Date.now()) {
        throw new OAuthError(400, 'invalid_grant', 'unknown, expired or spent authorization code');
      }
      const redirectUri = single(params, 'redirect_uri');
      if ((redirectUri !== undefined || entry.redirectUriGiven) && redirectUri !== entry.redirectUri) {
        throw new OAuthError(400, 'invalid_grant', 'redirect_uri differs from the authorization request');
      }
      const verifier = single(params, 'code_verifier');
      if (verifier === undefined || !VERIFIER.test(verifier)) throw new OAuthError(400, 'invalid_grant', 'code_verifier is missing or malformed');
      const digest = crypto.createHash('sha256').update(verifier).digest('base64url');
      if (digest !== entry.challenge) throw new OAuthError(400, 'invalid_grant', 'code_verifier does not match the code_challenge');
      if (resource !== undefined && entry.resource !== undefined && resource !== entry.resource) {
        throw new OAuthError(400, 'invalid_target', 'resource differs from the authorization request');
      }
      return tokens(c, { scope: entry.scope, resource: resource ?? entry.resource });
    }
    const rt = single(params, 'refresh_token');
    const entry = rt === undefined ? undefined : refreshTokens.get(rt);
    if (!entry || entry.clientId !== c.client_id) throw new OAuthError(400, 'invalid_grant', 'unknown or spent refresh token');
    refreshTokens.delete(rt);
    if (resource !== undefined && entry.resource !== undefined && resource !== entry.resource) {
      throw new OAuthError(400, 'invalid_target', 'resource differs from the original grant');
    }
    // RFC 6749 section 6: a refresh may narrow the scope, never widen it.
    let { scope } = entry;
    const asked = single(params, 'scope');
    if (asked !== undefined) {
      const granted = new Set((scope ?? '').split(' ').filter(Boolean));
      if (!asked.split(' ').filter(Boolean).every((s) => granted.has(s))) {
        throw new OAuthError(400, 'invalid_scope', 'a refresh cannot add scopes');
      }
      scope = asked;
    }
    return tokens(c, { scope, resource: resource ?? entry.resource });
  }

  function sendError(res, send, err) {
    if (!(err instanceof OAuthError)) throw err;
    const headers = { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' };
    if (err.status === 401) headers['WWW-Authenticate'] = 'Basic realm="dev-issuer"';
    return send(res, err.status, { error: err.error, error_description: err.message }, headers);
  }

  async function handle(req, res, url, send) {
    const p = url.pathname;
    const get = req.method === 'GET' || req.method === 'HEAD';
    if (p === '/.well-known/oauth-authorization-server' && get) {
      send(res, 200, metadata(), { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', 'Access-Control-Allow-Origin': '*' });
      return true;
    }
    if (p === '/authorize' && get) {
      authorize(url, res, send);
      return true;
    }
    if (p === '/oidc/register' && req.method === 'POST') {
      try {
        let body;
        try {
          body = JSON.parse(await readBody(req));
        } catch {
          throw new OAuthError(400, 'invalid_client_metadata', 'the body must be JSON');
        }
        const c = registration(body);
        boundedSet(clients, c.client_id, c);
        send(res, 201, c);
      } catch (err) {
        sendError(res, send, err);
      }
      return true;
    }
    const form = /^application\/x-www-form-urlencoded\b/i.test(req.headers['content-type'] ?? '');
    if (p === '/oauth/token' && req.method === 'POST' && form) {
      try {
        send(res, 200, token(new URLSearchParams(await readBody(req))));
      } catch (err) {
        sendError(res, send, err);
      }
      return true;
    }
    return false;
  }

  return { metadata, handle };
}
