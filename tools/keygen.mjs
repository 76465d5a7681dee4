// Fresh private keys for the test tools, made without Node's key-generation jobs.
//
// Node 20 can deadlock when the garbage collector destroys a key-generation job (`generateKeyPairSync`,
// `generateKeyPair`) while a JWK of that job's key is being exported: the job's destructor waits on the
// key's lock, which the export holds. The e2e suite hung on it once. Every key here is imported from its
// parts instead, so no such job exists for it.
import crypto from 'node:crypto';

const b64 = (bytes) => Buffer.from(bytes).toString('base64url');

/** Big-endian bytes of a non-negative BigInt, at least one byte. */
function bigBytes(value) {
  let hex = value.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  return Buffer.from(hex, 'hex');
}

/** x⁻¹ mod m, for gcd(x, m) = 1 (extended Euclid). */
function modInverse(x, m) {
  let [r0, r1] = [x % m, m];
  let [s0, s1] = [1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  if (r0 !== 1n) throw new RangeError('modInverse: not invertible');
  return ((s0 % m) + m) % m;
}

function gcd(a, b) {
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

/** A prime p of `bits` bits with gcd(e, p − 1) = 1, so that e is a valid public exponent. */
function rsaPrime(bits, e) {
  for (;;) {
    const p = crypto.generatePrimeSync(bits, { bigint: true });
    if (gcd(e, p - 1n) === 1n) return p;
  }
}

/** An RSA private KeyObject with a modulus of exactly `modulusLength` bits and public exponent `publicExponent`. */
export function rsaPrivateKey(modulusLength = 2048, publicExponent = 0x10001) {
  const e = BigInt(publicExponent);
  for (;;) {
    const p = rsaPrime(modulusLength / 2, e);
    const q = rsaPrime(modulusLength / 2, e);
    const n = p * q;
    if (p === q || n.toString(2).length !== modulusLength) continue;
    const lambda = ((p - 1n) * (q - 1n)) / gcd(p - 1n, q - 1n);
    const d = modInverse(e, lambda);
    const jwk = {
      kty: 'RSA',
      n: b64(bigBytes(n)),
      e: b64(bigBytes(e)),
      d: b64(bigBytes(d)),
      p: b64(bigBytes(p)),
      q: b64(bigBytes(q)),
      dp: b64(bigBytes(d % (p - 1n))),
      dq: b64(bigBytes(d % (q - 1n))),
      qi: b64(bigBytes(modInverse(q, p))),
    };
    return crypto.createPrivateKey({ key: jwk, format: 'jwk' });
  }
}

const EC_CURVES = {
  'P-256': { ecdh: 'prime256v1', size: 32 },
  'P-384': { ecdh: 'secp384r1', size: 48 },
  'P-521': { ecdh: 'secp521r1', size: 66 },
};

/** An EC private KeyObject on `crv` ("P-256", "P-384" or "P-521"), its scalar made by ECDH. */
export function ecPrivateKey(crv = 'P-256') {
  const curve = EC_CURVES[crv];
  if (!curve) throw new TypeError(`ecPrivateKey: unsupported curve ${crv}`);
  const ecdh = crypto.createECDH(curve.ecdh);
  const point = ecdh.generateKeys(); // 0x04 || x || y
  const d = ecdh.getPrivateKey();
  const jwk = {
    kty: 'EC',
    crv,
    x: b64(point.subarray(1, 1 + curve.size)),
    y: b64(point.subarray(1 + curve.size)),
    d: b64(Buffer.concat([Buffer.alloc(curve.size - d.length), d])),
  };
  return crypto.createPrivateKey({ key: jwk, format: 'jwk' });
}

// PKCS #8 prefix of an Ed25519 private key (RFC 8410 §7): the 32-byte seed follows.
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** An Ed25519 private KeyObject from a random 32-byte seed. */
export function ed25519PrivateKey() {
  const der = Buffer.concat([ED25519_PKCS8_PREFIX, crypto.randomBytes(32)]);
  return crypto.createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
}
