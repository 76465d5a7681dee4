#!/usr/bin/env node
// A local development OIDC issuer: discovery, JWKS and a token endpoint on loopback, so the gateway can be
// run and tested end to end without an Auth0 tenant. It is also a minimal OAuth authorization server
// (./dev-oauth.mjs: RFC 8414 metadata, dynamic client registration, authorization code with PKCE approved at
// once, resource indicators), so that an MCP client completes its own flow. Usable as a library (startIssuer)
// and as a CLI:
//
//   node tools/dev-issuer.mjs [--port 8788] [--host 127.0.0.1] [--audience https://api.example.local] [--key-dir .dev-issuer]
//   node tools/dev-issuer.mjs mint --issuer-url http://127.0.0.1:8788 [--sub ..] [--scope ".."] [--permissions a,b]
//                                  [--audience ..] [--expires-in N] [--cnf-jkt ..] [--claim name=value]... [--typ ..]
//
// Node built-ins only. Never use it outside development: it hands out tokens to anyone who asks.
import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { b64url, isMain, mergeDeleting, readBody } from './common.mjs';
import { authorizationServer } from './dev-oauth.mjs';
import { ecPrivateKey, rsaPrivateKey } from './keygen.mjs';

const SLOW_DELAY_MS = 10_000;
const MODES = new Set(['ok', 'down', 'garbage', 'slow']);
const ENDPOINTS = new Set(['discovery', 'jwks']);
const GARBAGE_VARIANTS = new Set(['not-json', 'no-keys', 'empty-keys', 'unusable-keys']);
const MAX_HISTORY = 10_000;

/** base64url without padding, of a Buffer or a UTF-8 string. */
export { b64url };

/** RFC 7638 thumbprint of an RSA public JWK (base64url SHA-256 of {"e","kty","n"}). */
export function rsaThumbprint(jwk) {
  const canonical = JSON.stringify({ e: jwk.e, kty: 'RSA', n: jwk.n });
  return crypto.createHash('sha256').update(canonical).digest('base64url');
}

/** Wraps an RSA private KeyObject as {privateKey, publicKey, publicJwk, kid}. */
function keyEntry(privateKey) {
  const publicKey = crypto.createPublicKey(privateKey);
  const { n, e } = publicKey.export({ format: 'jwk' });
  const kid = rsaThumbprint({ n, e });
  return { privateKey, publicKey, kid, publicJwk: { kty: 'RSA', use: 'sig', alg: 'RS256', kid, n, e } };
}

function generateRsaKey(modulusLength = 2048) {
  return keyEntry(rsaPrivateKey(modulusLength));
}

/**
 * Public JWKs that a gateway must refuse to verify RS256 access tokens with (README: Features, Keys): a
 * 1024-bit RSA key, an RSA key with e = 3, an EC P-256 key, an RSA key with use "enc" and one with alg
 * "RS512". Each has its own kid. Returns {keys, privateKeys: {kid: KeyObject}} so that a test can sign
 * tokens with them too. Generating the keys takes a few hundred milliseconds.
 */
export function unusableJwks() {
  const privateKeys = {};
  const keys = [];
  const add = (privateKey, extra) => {
    const jwk = crypto.createPublicKey(privateKey).export({ format: 'jwk' });
    const kid = `unusable-${extra.label}`;
    delete extra.label;
    privateKeys[kid] = privateKey;
    keys.push({ ...jwk, kid, ...extra });
  };
  const rsa = rsaPrivateKey;
  add(rsa(1024, 0x10001), { label: 'rsa-1024', use: 'sig', alg: 'RS256' });
  add(rsa(2048, 3), { label: 'rsa-e3', use: 'sig', alg: 'RS256' });
  add(ecPrivateKey('P-256'), { label: 'ec-p256', use: 'sig', alg: 'ES256' });
  add(rsa(2048, 0x10001), { label: 'rsa-use-enc', use: 'enc', alg: 'RS256' });
  add(rsa(2048, 0x10001), { label: 'rsa-alg-rs512', use: 'sig', alg: 'RS512' });
  return { keys, privateKeys };
}

function loadOrCreateKey(keyDir) {
  if (!keyDir) return generateRsaKey();
  const file = path.join(keyDir, 'signing-key.pem');
  if (fs.existsSync(file)) {
    return keyEntry(crypto.createPrivateKey(fs.readFileSync(file, 'utf8')));
  }
  const entry = generateRsaKey();
  saveKey(keyDir, entry);
  return entry;
}

function saveKey(keyDir, entry) {
  fs.mkdirSync(keyDir, { recursive: true, mode: 0o700 });
  const file = path.join(keyDir, 'signing-key.pem');
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, entry.privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
  fs.renameSync(tmp, file);
}

const SIGNERS = {
  RS256: { hash: 'sha256' },
  RS384: { hash: 'sha384' },
  RS512: { hash: 'sha512' },
  PS256: { hash: 'sha256', padding: crypto.constants.RSA_PKCS1_PSS_PADDING },
  PS384: { hash: 'sha384', padding: crypto.constants.RSA_PKCS1_PSS_PADDING },
  PS512: { hash: 'sha512', padding: crypto.constants.RSA_PKCS1_PSS_PADDING },
};

/**
 * Signs `signingInput` with `alg`: RS*, PS* (key: private KeyObject), HS256/384/512 (key: secret, any
 * Buffer/string/KeyObject), ES256 (key: P-256 private KeyObject, raw r||s), none (empty signature).
 */
function signWith(alg, key, signingInput) {
  if (alg === 'none') return '';
  if (/^HS(256|384|512)$/.test(alg)) {
    const secret = key && typeof key === 'object' && key.type === 'public'
      ? key.export({ format: 'pem', type: 'spki' })
      : key;
    return crypto.createHmac(`sha${alg.slice(2)}`, secret).update(signingInput).digest('base64url');
  }
  if (/^ES(256|384|512)$/.test(alg)) {
    const hash = { ES256: 'sha256', ES384: 'sha384', ES512: 'sha512' }[alg];
    return crypto.sign(hash, Buffer.from(signingInput), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
  }
  const s = SIGNERS[alg];
  if (!s) throw new Error(`signRaw: unsupported signing alg ${alg}`);
  const opts = s.padding ? { key, padding: s.padding, saltLength: crypto.constants.RSA_PSS_SALTLEN_DIGEST } : key;
  return crypto.sign(s.hash, Buffer.from(signingInput), opts).toString('base64url');
}

function segment(part) {
  return typeof part === 'string' ? b64url(part) : b64url(JSON.stringify(part));
}

/** Validates a /oauth/token body; returns mint() options or throws Error(message). */
function tokenRequestToMintOptions(body) {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new Error('body must be a JSON object');
  const o = {};
  const str = (k) => {
    if (body[k] === undefined) return undefined;
    if (typeof body[k] !== 'string' || body[k] === '') throw new Error(`${k} must be a non-empty string`);
    return body[k];
  };
  o.sub = str('sub');
  if (body.scope !== undefined) {
    if (typeof body.scope !== 'string') throw new Error('scope must be a string');
    o.scope = body.scope;
  }
  if (body.permissions !== undefined) {
    if (!Array.isArray(body.permissions) || !body.permissions.every((p) => typeof p === 'string')) {
      throw new Error('permissions must be an array of strings');
    }
    o.permissions = body.permissions;
  }
  if (body.audience !== undefined) {
    const a = body.audience;
    const ok = (typeof a === 'string' && a !== '') || (Array.isArray(a) && a.length > 0 && a.every((x) => typeof x === 'string'));
    if (!ok) throw new Error('audience must be a string or an array of strings');
    o.audience = a;
  }
  if (body.expires_in !== undefined) {
    if (!Number.isInteger(body.expires_in)) throw new Error('expires_in must be an integer');
    o.expiresIn = body.expires_in;
  }
  o.cnfJkt = str('cnf_jkt');
  if (body.claims !== undefined) {
    if (body.claims === null || typeof body.claims !== 'object' || Array.isArray(body.claims)) {
      throw new Error('claims must be a JSON object');
    }
    o.claims = body.claims;
  }
  if (body.typ !== undefined) o.header = { typ: str('typ') };
  if (body.alg !== undefined) {
    if (!/^(RS|PS)(256|384|512)$/.test(body.alg)) throw new Error('alg must be one of RS256-512, PS256-512');
    o.alg = body.alg;
  }
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
}

/**
 * Starts the issuer. Resolves once it listens.
 * @param {{host?: string, port?: number, audience?: string, keyDir?: string, maxAge?: number}} [opts]
 */
export async function startIssuer(opts = {}) {
  const {
    host = '127.0.0.1',
    port = 0,
    audience = 'https://api.example.local',
    keyDir = undefined,
    maxAge = 600,
    // The `alg` its JWKS states for its keys; null states none, so the key serves RS* and PS* tokens alike.
    jwkAlg = 'RS256',
  } = opts;

  let current = loadOrCreateKey(keyDir);
  let published = [current]; // issuer keys, newest last
  let extraJwks = [];
  let mode = 'ok';
  // setMode options: which endpoint the mode applies to (null: both), the garbage body, the slow delay.
  let modeOnly = null;
  let garbageBody = 'not json{{{';
  let slowDelayMs = SLOW_DELAY_MS;
  let unusableCache; // generated on first use of the 'unusable-keys' garbage variant
  const counts = { discovery: 0, jwks: 0 };
  const history = []; // [{what, at, mode}] of discovery and JWKS requests, oldest first
  const pendingTimers = new Set();

  let issuer; // set after listen (needs the port)
  let domain;

  const jsonHeaders = () => ({
    'Content-Type': 'application/json',
    'Cache-Control': `public, max-age=${maxAge}`,
  });

  function send(res, status, body, headers = { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' }) {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { ...headers, 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }

  /** Answers an IdP metadata endpoint (`what`: discovery or jwks) according to the current mode. */
  function serveMetadata(res, makeBody, what) {
    const m = modeOnly === null || modeOnly === what ? mode : 'ok';
    if (history.length >= MAX_HISTORY) history.shift();
    history.push({ what, at: Date.now(), mode: m });
    if (m === 'down') return send(res, 503, { error: 'temporarily_unavailable' });
    if (m === 'garbage') return send(res, 200, garbageBody, jsonHeaders());
    if (m === 'slow') {
      const t = setTimeout(() => {
        pendingTimers.delete(t);
        if (!res.destroyed) send(res, 200, makeBody(), jsonHeaders());
      }, slowDelayMs);
      pendingTimers.add(t);
      return undefined;
    }
    return send(res, 200, makeBody(), jsonHeaders());
  }

  function garbageFor(variant) {
    switch (variant) {
      case 'not-json':
        return 'not json{{{';
      case 'no-keys':
        return JSON.stringify({ hello: 'world', keys_here: false });
      case 'empty-keys':
        return JSON.stringify({ keys: [] });
      case 'unusable-keys':
        unusableCache ??= unusableJwks();
        return JSON.stringify({ keys: unusableCache.keys });
      default:
        throw new TypeError(`setMode: unknown garbage variant ${variant}`);
    }
  }

  const discoveryDoc = () => ({
    issuer,
    jwks_uri: `${issuer}.well-known/jwks.json`,
    token_endpoint: `${issuer}oauth/token`,
    id_token_signing_alg_values_supported: ['RS256'],
    dpop_signing_alg_values_supported: ['ES256'],
    // The authorization server's endpoints too, for clients that read OpenID discovery only.
    ...oauth.metadata(),
  });
  const withAlg = (jwk) => mergeDeleting(jwk, { alg: jwkAlg ?? undefined });
  const jwksDoc = () => ({ keys: [...published.map((k) => withAlg(k.publicJwk)), ...extraJwks.map((k) => ({ ...k }))] });

  function mint(o = {}) {
    const {
      sub = 'dev-user',
      scope,
      permissions,
      audience: aud = audience,
      expiresIn = 3600,
      cnfJkt,
      claims = {},
      header = {},
      key,
      alg = 'RS256',
    } = o;
    const now = Math.floor(Date.now() / 1000);
    let payload = { iss: issuer, sub, aud, iat: now, exp: now + expiresIn, azp: 'dev-client' };
    if (scope !== undefined) payload.scope = scope;
    if (permissions !== undefined) payload.permissions = permissions;
    if (cnfJkt !== undefined) payload.cnf = { jkt: cnfJkt };
    payload = mergeDeleting(payload, claims);
    const hdr = mergeDeleting({ alg, typ: 'JWT', kid: current.kid }, header);
    return signRaw(hdr, payload, { key: key ?? current.privateKey, alg });
  }

  /**
   * Signs arbitrary header/payload (objects, or raw strings used verbatim as the segment's bytes).
   * `alg` is the algorithm actually used to sign (default RS256), independent of what the header says.
   */
  function signRaw(header, payload, { key, alg = 'RS256' } = {}) {
    const signingInput = `${segment(header)}.${segment(payload)}`;
    const k = key ?? (/^HS/.test(alg) ? current.publicKey : current.privateKey);
    return `${signingInput}.${signWith(alg, k, signingInput)}`;
  }

  function newKey(modulusLength = 2048) {
    const e = generateRsaKey(modulusLength);
    return { privateKey: e.privateKey, publicKey: e.publicKey, publicJwk: e.publicJwk, kid: e.kid };
  }

  function rotate({ dropOld = false } = {}) {
    const next = generateRsaKey();
    published = dropOld ? [next] : [...published, next];
    current = next;
    if (keyDir) saveKey(keyDir, next);
    return next.kid;
  }

  const oauth = authorizationServer({ issuer: () => issuer, mint });

  async function handle(req, res) {
    const url = new URL(req.url, 'http://localhost');
    const p = url.pathname;
    if (await oauth.handle(req, res, url, send)) return undefined;
    if (p === '/.well-known/openid-configuration' && (req.method === 'GET' || req.method === 'HEAD')) {
      counts.discovery++;
      return serveMetadata(res, discoveryDoc, 'discovery');
    }
    if (p === '/.well-known/jwks.json' && (req.method === 'GET' || req.method === 'HEAD')) {
      counts.jwks++;
      return serveMetadata(res, jwksDoc, 'jwks');
    }
    if (p === '/oauth/token' && req.method === 'POST') {
      let body;
      try {
        const text = await readBody(req);
        body = text.trim() === '' ? {} : JSON.parse(text);
      } catch {
        return send(res, 400, { error: 'invalid_request', error_description: 'body must be JSON' });
      }
      let mo;
      try {
        mo = tokenRequestToMintOptions(body);
      } catch (err) {
        return send(res, 400, { error: 'invalid_request', error_description: err.message });
      }
      const expiresIn = mo.expiresIn ?? 3600;
      const out = {
        access_token: mint(mo),
        token_type: mo.cnfJkt ? 'DPoP' : 'Bearer',
        expires_in: expiresIn,
      };
      if (mo.scope !== undefined) out.scope = mo.scope;
      return send(res, 200, out);
    }
    if (p === '/_stats' && req.method === 'GET') return send(res, 200, { ...counts, mode });
    return send(res, 404, { error: 'not_found' });
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) send(res, 500, { error: 'server_error', error_description: String(err.message) });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5_000;

  const listen = (p) => new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(p, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  await listen(port);
  const actualPort = server.address().port;
  const hostPart = host.includes(':') ? `[${host}]` : host;
  domain = `http://${hostPart}:${actualPort}`;
  issuer = `${domain}/`;

  let closed = false;
  let listening = true;
  /** Stops listening and drops every connection; pending slow answers are dropped too. */
  async function stopListening() {
    if (!listening) return;
    listening = false;
    for (const t of pendingTimers) clearTimeout(t);
    pendingTimers.clear();
    const done = new Promise((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await done;
  }
  return {
    port: actualPort,
    domain,
    issuer,
    audience,
    get kid() {
      return current.kid;
    },
    /** The current signing key (private KeyObject) and its public JWK. */
    get signingKey() {
      return { privateKey: current.privateKey, publicKey: current.publicKey, publicJwk: { ...current.publicJwk }, kid: current.kid };
    },
    mint,
    signRaw,
    newKey,
    rotate,
    publishExtraKeys(jwks) {
      const list = Array.isArray(jwks) ? jwks : jwks?.keys;
      if (!Array.isArray(list)) throw new TypeError('publishExtraKeys: expected an array of JWKs or {keys:[...]}');
      extraJwks = [...extraJwks, ...list];
    },
    clearExtraKeys() {
      extraJwks = [];
    },
    jwks: jwksDoc,
    stats: () => ({ ...counts }),
    /** Discovery and JWKS requests since the last resetStats(), oldest first: [{what, at (ms), mode}]. */
    history: () => history.map((h) => ({ ...h })),
    resetStats() {
      counts.discovery = 0;
      counts.jwks = 0;
      history.length = 0;
    },
    /**
     * Sets how discovery and JWKS are answered: 'ok'; 'down' (503); 'garbage' (200 with a body that is
     * not a usable document); 'slow' (the right answer, after a delay). Options, all optional:
     * - only: 'discovery' | 'jwks': the mode applies to that endpoint only; the other one answers normally.
     * - variant (garbage): 'not-json' (default), 'no-keys' (JSON without "keys"), 'empty-keys'
     *   ({"keys":[]}), 'unusable-keys' (only keys the gateway must refuse, see unusableJwks()).
     * - body (garbage): the exact body to answer (a string verbatim, anything else JSON-encoded).
     * - delayMs (slow): the delay, default 10 s.
     * Every call resets the options it does not set to their defaults.
     */
    setMode(m, { only = null, variant, body, delayMs } = {}) {
      if (!MODES.has(m)) throw new TypeError(`setMode: unknown mode ${m}`);
      if (only !== null && !ENDPOINTS.has(only)) throw new TypeError(`setMode: only must be discovery or jwks, not ${only}`);
      if (variant !== undefined && !GARBAGE_VARIANTS.has(variant)) throw new TypeError(`setMode: unknown garbage variant ${variant}`);
      if (delayMs !== undefined && !(Number.isFinite(delayMs) && delayMs >= 0)) throw new TypeError('setMode: delayMs must be a number >= 0');
      garbageBody = body !== undefined
        ? (typeof body === 'string' ? body : JSON.stringify(body))
        : garbageFor(variant ?? 'not-json');
      slowDelayMs = delayMs ?? SLOW_DELAY_MS;
      modeOnly = only;
      mode = m;
    },
    get mode() {
      return mode;
    },
    /** The unusable keys served by setMode('garbage', {variant: 'unusable-keys'}): {keys, privateKeys}. */
    unusableKeys() {
      unusableCache ??= unusableJwks();
      return unusableCache;
    },
    /** True while the server accepts connections (between stop() and start() it refuses them). */
    get listening() {
      return listening;
    },
    /**
     * Stops the server entirely (connections are refused, open ones are cut), keeping the keys, mode and
     * counters, so that start() can bring the same issuer back on the same port.
     */
    async stop() {
      if (closed) throw new Error('stop: the issuer is closed');
      await stopListening();
    },
    /** Listens again on the same host and port after stop(). */
    async start() {
      if (closed) throw new Error('start: the issuer is closed');
      if (listening) return;
      await listen(actualPort);
      listening = true;
    },
    async close() {
      if (closed) return;
      closed = true;
      await stopListening();
    },
  };
}

// ---------------------------------------------------------------- CLI

function parseArgs(argv, spec) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h' || a === '--help') {
      out.help = true;
      continue;
    }
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m || !spec.includes(m[1])) throw new Error(`unknown argument: ${a}`);
    let v = m[2];
    if (v === undefined) {
      if (i + 1 >= argv.length) throw new Error(`missing value for --${m[1]}`);
      v = argv[++i];
    }
    // A repeated --claim collects every value.
    if (m[1] === 'claim') (out.claim ??= []).push(v);
    else out[m[1]] = v;
  }
  return out;
}

/** `--claim name=value`: the value as JSON when it parses (42, true, ["a","b"], {"k":1}), else a string. */
function parseClaim(arg) {
  const at = arg.indexOf('=');
  if (at <= 0) throw new Error(`--claim needs name=value, got ${arg}`);
  const raw = arg.slice(at + 1);
  let value;
  try {
    value = JSON.parse(raw);
  } catch {
    value = raw;
  }
  return [arg.slice(0, at), value];
}

const USAGE = `usage:
  node tools/dev-issuer.mjs [--port 8788] [--host 127.0.0.1] [--audience https://api.example.local] [--key-dir .dev-issuer] [--max-age 600] [--jwk-alg RS256|none]
  node tools/dev-issuer.mjs mint --issuer-url http://127.0.0.1:8788 [--sub dev-user] [--scope "read:messages"]
                                 [--permissions a,b] [--audience URL] [--expires-in 3600] [--cnf-jkt THUMBPRINT]
                                 [--claim name=value]... [--typ at+jwt] [--alg PS256]
    --claim sets any claim, the value read as JSON when it is JSON: --claim org_id=org_1
    --claim https://example.com/roles='["admin"]' --claim iat=1700000000 --claim client_id=cli
  As an authorization server (for MCP clients): metadata at /.well-known/oauth-authorization-server,
    registration at /oidc/register (public clients), /authorize (code + PKCE S256, approved at once for
    dev-user) and /oauth/token (form-encoded grants; a resource parameter becomes the token's aud).`;

async function cliServe(argv) {
  const a = parseArgs(argv, ['port', 'host', 'audience', 'key-dir', 'max-age', 'jwk-alg']);
  if (a.help) {
    console.log(USAGE);
    return;
  }
  const port = Number(a.port ?? 8788);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid --port ${a.port}`);
  const issuer = await startIssuer({
    host: a.host ?? '127.0.0.1',
    port,
    audience: a.audience ?? 'https://api.example.local',
    keyDir: path.resolve(a['key-dir'] ?? '.dev-issuer'),
    maxAge: a['max-age'] !== undefined ? Number(a['max-age']) : 600,
    jwkAlg: a['jwk-alg'] === 'none' ? null : (a['jwk-alg'] ?? 'RS256'),
  });
  console.log(`dev-issuer: issuer ${issuer.issuer} audience ${issuer.audience} kid ${issuer.kid}`);
  const stop = async (sig) => {
    await issuer.close();
    process.exit(sig === 'SIGINT' ? 130 : 0);
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

async function cliMint(argv) {
  const a = parseArgs(argv, ['issuer-url', 'sub', 'scope', 'permissions', 'audience', 'expires-in', 'cnf-jkt', 'claim', 'typ', 'alg']);
  if (a.help) {
    console.log(USAGE);
    return;
  }
  const base = (a['issuer-url'] ?? 'http://127.0.0.1:8788').replace(/\/+$/, '');
  const body = {};
  if (a.sub !== undefined) body.sub = a.sub;
  if (a.scope !== undefined) body.scope = a.scope;
  if (a.permissions !== undefined) body.permissions = a.permissions.split(',').map((s) => s.trim()).filter(Boolean);
  if (a.audience !== undefined) body.audience = a.audience;
  if (a['expires-in'] !== undefined) body.expires_in = Number(a['expires-in']);
  if (a['cnf-jkt'] !== undefined) body.cnf_jkt = a['cnf-jkt'];
  if (a.claim !== undefined) body.claims = Object.fromEntries(a.claim.map(parseClaim));
  if (a.typ !== undefined) body.typ = a.typ;
  if (a.alg !== undefined) body.alg = a.alg;
  const res = await fetch(`${base}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`token endpoint answered ${res.status}: ${text}`);
  process.stdout.write(`${JSON.parse(text).access_token}\n`);
}

if (isMain(import.meta.url)) {
  const [cmd, ...rest] = process.argv.slice(2);
  const run = cmd === 'mint' ? cliMint(rest) : cliServe(process.argv.slice(2));
  run.catch((err) => {
    console.error(`dev-issuer: ${err.message}`);
    process.exit(cmd === 'mint' ? 1 : 2);
  });
}
