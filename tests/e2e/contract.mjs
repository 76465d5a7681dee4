// The checks every end-to-end test applies to the gateway's answers (README: Errors): the shape of an error
// response, its WWW-Authenticate challenge, and that no response echoes what the client sent. Node built-ins
// only.
import assert from 'node:assert/strict';

/** The `algs` parameter of every DPoP challenge (README: DPoP, Proofs). */
export const ALGS = 'algs="ES256"';

export const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A one-line summary of a response for assertion messages. */
export function describeRes(res) {
  const h = res.headers ?? {};
  return `status ${res.status}, body ${String(res.text).slice(0, 300)}, www-authenticate ${JSON.stringify(h['www-authenticate'])}, dpop-nonce ${JSON.stringify(h['dpop-nonce'])}, retry-after ${JSON.stringify(h['retry-after'])}`;
}

/** All values of a response header (any case), from rawHeaders. */
const values = (res, name) => res.rawHeaders.filter(([k]) => k.toLowerCase() === name).map(([, v]) => v);

/**
 * Substrings of a secret that must never appear in a response: the whole value; for an Authorization value,
 * what follows the scheme; every word of 8 characters or more (split on white space and dots, and again on
 * commas too); every 16-character window, which catches a truncated echo ("token eyJhbGciOi... is invalid").
 * A bare scheme name ("Bearer") is no secret: the challenge names it anyway.
 */
export function secretPieces(secret) {
  const pieces = new Set();
  if (typeof secret !== 'string' || !secret || /^(bearer|dpop|basic)$/i.test(secret.trim())) return pieces;
  pieces.add(secret);
  const m = /^(bearer|dpop|basic)\s+([\s\S]*)$/i.exec(secret);
  const rest = m ? m[2] : secret;
  if (rest.length >= 6) pieces.add(rest);
  for (const value of new Set([secret, rest])) {
    for (const sep of [/[\s.]+/, /[\s.,]+/]) for (const word of value.split(sep)) if (word.length >= 8) pieces.add(word);
    for (let i = 0; i + 16 <= value.length; i += 4) pieces.add(value.slice(i, i + 16));
  }
  return pieces;
}

/**
 * Exactly one WWW-Authenticate header, equal to `expected` (a string) or matching it (a RegExp); `null`: no
 * WWW-Authenticate header at all. Returns the header value.
 */
export function assertChallenge(res, expected, note = '') {
  const www = values(res, 'www-authenticate');
  if (expected === null) {
    assert.deepEqual(www, [], `no WWW-Authenticate expected (the client is not to blame): ${describeRes(res)}${note}`);
    return undefined;
  }
  assert.equal(www.length, 1, `expected exactly one WWW-Authenticate header; got ${JSON.stringify(www)} (${describeRes(res)})${note}`);
  if (expected instanceof RegExp) assert.match(www[0], expected, `challenge shape (${describeRes(res)})${note}`);
  else assert.equal(www[0], expected, `challenge (${describeRes(res)})${note}`);
  return www[0];
}

/**
 * The challenge of an error with an error code (README: Errors), as a RegExp for assertChallenge:
 * - Bearer scheme, DPOP_MODE=allowed: `Bearer realm="api", error="<code>", error_description="...", DPoP algs="ES256"`;
 * - DPoP scheme (or Bearer under DPOP_MODE=required): `DPoP error="<code>", error_description="...", algs="ES256"`;
 * - DPOP_MODE=disabled: `Bearer realm="api", error="<code>", error_description="..."`.
 */
export function errorChallenge(code, { scheme = 'Bearer', mode = 'allowed' } = {}) {
  const error = `error="${escapeRe(code)}", error_description="[^"\\r\\n]*"`;
  if (mode === 'disabled') return new RegExp(`^Bearer realm="api", ${error}$`);
  if (scheme === 'DPoP' || mode === 'required') return new RegExp(`^DPoP ${error}, ${escapeRe(ALGS)}$`);
  return new RegExp(`^Bearer realm="api", ${error}, DPoP ${escapeRe(ALGS)}$`);
}

/**
 * Checks an error response against README: Errors and returns its `detail`:
 * - the status, and a JSON body `{"detail":{"error","error_description"}}` and nothing else, with
 *   Content-Type application/json and Cache-Control: no-store;
 * - `error` is the given code; `error_description` a string without CR, LF or `"`;
 * - no piece (secretPieces) of any of `secrets` (tokens, proofs, Authorization or DPoP values, configured
 *   secrets) in the description, the body or any response header (WWW-Authenticate included);
 * - `challenge`: a string or RegExp the one WWW-Authenticate header must equal or match (assertChallenge),
 *   null for none; when not given, the statuses whose row in README: Errors has no challenge (404, 500,
 *   502, 503) must carry none, and the others are not checked here;
 * - a 503 carries Retry-After in whole seconds.
 * `note` is appended to every failure message.
 *
 * @param {{secrets?: Array<string|undefined>, challenge?: string|RegExp|null, note?: string}} [options]
 */
export function assertError(res, status, error, { secrets = [], challenge, note = '' } = {}) {
  const ctx = `${describeRes(res)}${note}`;
  assert.equal(res.status, status, `expected ${status} ${error}; got ${ctx}`);
  assert.ok(res.json && typeof res.json === 'object' && !Array.isArray(res.json), `body is not a JSON object: ${ctx}`);
  assert.deepEqual(Object.keys(res.json), ['detail'], `body must be {"detail":{...}}: ${ctx}`);
  const d = res.json.detail;
  assert.ok(d && typeof d === 'object' && !Array.isArray(d), `detail is not an object: ${ctx}`);
  assert.equal(d.error, error, `wrong error code: ${ctx}`);
  assert.equal(typeof d.error_description, 'string', `error_description is not a string: ${ctx}`);
  assert.ok(!/[\r\n"]/.test(d.error_description), `error_description contains CR, LF or a quote: ${ctx}`);
  assert.match(res.headers['content-type'] ?? '', /^application\/json\b/i, `content-type: ${ctx}`);
  assert.match(res.headers['cache-control'] ?? '', /(^|,)\s*no-store\s*(,|$)/i, `Cache-Control must be no-store: ${ctx}`);

  const pieces = new Set(secrets.flatMap((s) => [...secretPieces(s)]));
  const texts = [['error_description', d.error_description], ['the body', res.text], ...res.rawHeaders.map(([n, v]) => [`the ${n} header`, v])];
  for (const [what, text] of texts) {
    for (const piece of pieces) {
      assert.ok(!text.includes(piece), `${what} echoes part of a credential or secret: ${JSON.stringify(piece.slice(0, 40))}${note}`);
    }
  }

  if (challenge !== undefined) assertChallenge(res, challenge, note);
  else if ([404, 500, 502, 503].includes(status)) assertChallenge(res, null, note);
  if (status === 503) assert.match(res.headers['retry-after'] ?? '', /^\d+$/, `503 without a Retry-After in seconds: ${ctx}`);
  return d;
}
