// Helpers shared by the development tools (dev-issuer, dpop-client). Node built-ins only.
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
