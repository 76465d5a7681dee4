// Helpers shared by the development tools (dev-issuer, dpop-client, mcp-demo-server). Node built-ins only.
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Unpadded base64url (RFC 7515 section 2). */
export function b64url(data) {
  return Buffer.from(data).toString('base64url');
}

/** True when the module at `moduleUrl` (its import.meta.url) is the script node was started with. */
export function isMain(moduleUrl) {
  if (!process.argv[1]) return false;
  try {
    return fs.realpathSync(process.argv[1]) === fs.realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return false;
  }
}

/** Shallow merge where an explicit `undefined` value deletes the member (for hostile test inputs). */
export function mergeDeleting(base, extra) {
  const out = { ...base };
  for (const [k, v] of Object.entries(extra ?? {})) {
    if (v === undefined) delete out[k];
    else out[k] = v;
  }
  return out;
}

/** The body of a node:http request as UTF-8; rejects (and drops the connection) past `maxBytes`. */
export function readBody(req, maxBytes = 1024 * 1024) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > maxBytes) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
