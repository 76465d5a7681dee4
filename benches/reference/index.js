// Reference worker for the benchmark: the same checks as the gateway for the benchmarked paths, written
// the usual way with jose (WebCrypto, native code). Discovery and JWKS are fetched once per isolate, as
// createRemoteJWKSet caches them; tokens are verified on every request (jose has no verified-token cache).
import { calculateJwkThumbprint, createRemoteJWKSet, EmbeddedJWK, jwtVerify } from 'jose';

let jwks;
let issuer;
const seenJti = new Map();

function json(status, body, headers = {}) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers },
  });
}

function deny(status, error, description) {
  return json(status, { detail: { error, error_description: description } });
}

async function keys(env) {
  if (!jwks) {
    issuer = `${env.AUTH0_DOMAIN.replace(/\/+$/, '')}/`;
    const discovery = await (await fetch(`${issuer}.well-known/openid-configuration`)).json();
    if (discovery.issuer !== issuer) throw new Error('issuer mismatch');
    jwks = createRemoteJWKSet(new URL(discovery.jwks_uri));
  }
  return jwks;
}

const b64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

async function verifyProof(request, proof, token) {
  const { payload, protectedHeader } = await jwtVerify(proof, EmbeddedJWK, {
    typ: 'dpop+jwt',
    algorithms: ['ES256'],
    maxTokenAge: 300,
    clockTolerance: 30,
  });
  const url = new URL(request.url);
  if (payload.htm !== request.method) throw new Error('htm');
  if (payload.htu.split(/[?#]/)[0] !== `${url.origin}${url.pathname}`) throw new Error('htu');
  if (typeof payload.jti !== 'string' || !payload.jti) throw new Error('jti');
  const ath = b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(token)));
  if (payload.ath !== ath) throw new Error('ath');
  const jkt = await calculateJwkThumbprint(protectedHeader.jwk, 'sha256');
  const key = `${jkt}:${payload.jti}`;
  if (seenJti.has(key)) throw new Error('replay');
  seenJti.set(key, payload.iat + 300);
  return jkt;
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === '/api/public') {
      return json(200, { message: "Hello from a public endpoint! You don't need to be authenticated to see this." });
    }
    if (url.pathname !== '/api/private' || request.method !== 'GET') return deny(404, 'not_found', 'no route');
    const header = request.headers.get('authorization') ?? '';
    const [scheme, token, extra] = header.split(' ');
    if (!token || extra !== undefined) return deny(401, 'unauthorized', 'no access token was sent');
    try {
      const { payload } = await jwtVerify(token, await keys(env), {
        issuer,
        audience: env.AUTH0_AUDIENCE,
        algorithms: ['RS256'],
        typ: undefined,
      });
      if (scheme.toLowerCase() === 'dpop') {
        const proof = request.headers.get('dpop');
        if (!proof || proof.includes(',')) return deny(401, 'invalid_dpop_proof', 'one DPoP proof');
        let jkt;
        try {
          jkt = await verifyProof(request, proof, token);
        } catch {
          return deny(401, 'invalid_dpop_proof', 'bad proof');
        }
        if (payload.cnf?.jkt !== jkt) return deny(401, 'invalid_token', 'cnf mismatch');
      } else if (scheme.toLowerCase() !== 'bearer' || payload.cnf?.jkt) {
        return deny(401, 'invalid_token', 'scheme');
      }
      return json(200, {
        message: 'Hello from a private endpoint! You need to be authenticated to see this.',
        user_id: payload.sub,
      });
    } catch {
      return deny(401, 'invalid_token', 'invalid token');
    }
  },
};
