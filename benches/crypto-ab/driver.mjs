// The calls of one crypto-ab module (benches/crypto-ab/lib.rs), shared by benches/crypto-ab.mjs in Node and
// by the Worker it writes for `--workerd`, so that both runtimes run the same inputs the same way. Plain
// Uint8Arrays only: the Worker has no Node APIs.

/**
 * Instantiates `module` (a WebAssembly.Module) for `op` on `inputs` ({key, signature, message}); checks that
 * it accepts the honest signature and refuses it with one bit flipped, or throws. Returns `verify(calls)`,
 * the number of `calls` verifications of the honest signature that verified.
 */
export function prepare(module, { key, signature, message }, op) {
  const e = new WebAssembly.Instance(module, {}).exports;
  const write = (parts) => {
    const offset = e.input(); // first: its first call allocates the buffer, which may grow the memory
    const input = new Uint8Array(e.memory.buffer, offset, 16 * 1024);
    let at = 0;
    for (const part of parts) {
      input.set(part, at);
      at += part.length;
    }
  };
  const rsa = !op.startsWith('es256');
  const verify = (calls) => rsa
    ? e.rsa_verify(key.length, message.length, { rs256: 0, ps256: 1, rs512: 2 }[op], calls)
    : e.p256_verify(message.length, op === 'es256-prepared' ? 1 : 0, calls);
  const ok = (sig) => {
    write([key, sig, message]);
    return verify(1);
  };
  write([key]);
  if ((rsa ? e.rsa_key(key.length) : e.p256_key()) !== 1) throw new Error('crypto-ab: the key was refused');
  const flipped = Uint8Array.from(signature);
  flipped[flipped.length >> 1] ^= 0x10;
  if (ok(flipped) !== 0) throw new Error('crypto-ab: a signature with a bit flipped verified');
  if (ok(signature) !== 1) throw new Error('crypto-ab: an honest signature did not verify');
  return verify;
}
