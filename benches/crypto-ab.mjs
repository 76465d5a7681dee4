// A/B of two versions of the crypto crate (crates/crypto) on its own, in Node's V8: seconds to build and
// run, where a worker build and an in-process run take minutes. Each version is built into one plain wasm32
// module (benches/crypto-ab, no wasm-bindgen) and the two are timed in alternating rounds on the same
// inputs.
//
//   node benches/crypto-ab.mjs [--a REV] [--b REV|worktree] [--op rs256|ps256|es256|es256-prepared]
//        [--bits N] [--rounds N] [--calls N]
//
// --a defaults to HEAD and --b to the working tree, so a run shows what an uncommitted change buys. Both
// builds must accept an honest signature and refuse it with one bit flipped, or the run stops. Prints the
// median µs per verification of each build and the median of the per-round differences B - A with its 95%
// interval. workerd runs the same wasm with explicit bounds checks (README "Why the same wasm can cost more
// under workerd"), so a step is kept on the worker's own A/B (benches/inprocess.mjs, the micro-benchmarks
// of benches/run.mjs), not on this one alone.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../tests/e2e/harness.mjs';
import { cliArg, median, medianInterval } from './load.mjs';

const A = cliArg('a', 'HEAD');
const B = cliArg('b', 'worktree');
const OP = cliArg('op', 'rs256');
const BITS = Number(cliArg('bits', 2048));
const ROUNDS = Number(cliArg('rounds', 21));
const CALLS = Number(cliArg('calls', OP === 'es256' ? 100 : 300));
const OPS = ['rs256', 'ps256', 'es256', 'es256-prepared'];
if (!OPS.includes(OP)) throw new Error(`crypto-ab: --op must be one of ${OPS.join(', ')}`);

const DIR = path.join(REPO_ROOT, 'target/crypto-ab');
const MANIFEST = path.join(REPO_ROOT, 'benches/crypto-ab/Cargo.toml');
const run = (cmd, args, options = {}) => execFileSync(cmd, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'], ...options });

/** The crate's sources at `rev` (or the working tree) in target/crypto-ab/<side>, renamed for that side. */
function sources(side, rev) {
  const out = path.join(DIR, side);
  fs.rmSync(out, { recursive: true, force: true });
  fs.mkdirSync(out, { recursive: true });
  if (rev === 'worktree') {
    for (const entry of ['Cargo.toml', 'src']) {
      fs.cpSync(path.join(REPO_ROOT, 'crates/crypto', entry), path.join(out, entry), { recursive: true });
    }
  } else {
    const tar = run('git', ['archive', rev, 'crates/crypto/Cargo.toml', 'crates/crypto/src'], { maxBuffer: 1 << 26 });
    run('tar', ['-x', '--strip-components=2', '-C', out], { input: tar, stdio: ['pipe', 'pipe', 'inherit'] });
  }
  const manifest = path.join(out, 'Cargo.toml');
  const text = fs.readFileSync(manifest, 'utf8');
  if (!text.includes('name = "edge-gateway-crypto"\n')) throw new Error(`crypto-ab: no package name in ${rev}'s crates/crypto/Cargo.toml`);
  fs.writeFileSync(manifest, text.replace('name = "edge-gateway-crypto"\n', `name = "edge-gateway-crypto-${side}"\n`));
}

/** Builds the module of one side; returns its bytes. */
function build(side) {
  // The gateway's lock file, so that the shared dependencies (sha2) are the versions the worker builds.
  fs.copyFileSync(path.join(REPO_ROOT, 'Cargo.lock'), path.join(REPO_ROOT, 'benches/crypto-ab/Cargo.lock'));
  const target = path.join(DIR, 'build');
  run('cargo', ['build', '--quiet', '--release', '--target', 'wasm32-unknown-unknown', '--manifest-path', MANIFEST, '--features', side], {
    env: { ...process.env, CARGO_TARGET_DIR: target },
  });
  return fs.readFileSync(path.join(target, 'wasm32-unknown-unknown/release/crypto_ab.wasm'));
}

/** An honest signature for the operation, and the same with one bit flipped. */
function inputs() {
  const message = Buffer.from('eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJ1c2VyIiwic2NvcGUiOiJyZWFkOm1lc3NhZ2VzIn0');
  if (OP.startsWith('es256')) {
    const { publicKey, privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = publicKey.export({ format: 'jwk' });
    const signature = crypto.sign('sha256', message, { key: privateKey, dsaEncoding: 'ieee-p1363' });
    return { key: Buffer.concat([Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')]), signature, message };
  }
  const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: BITS });
  const padding = OP === 'ps256' ? { padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } : {};
  const signature = crypto.sign('sha256', message, { key: privateKey, ...padding });
  return { key: Buffer.from(publicKey.export({ format: 'jwk' }).n, 'base64url'), signature, message };
}

/** The module's timed call: `calls` verifications, µs per call; it throws unless `expect` of them verified. */
function instantiate(bytes, { key, signature, message }) {
  const e = new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports;
  const write = (parts) => {
    const offset = e.input(); // first: its first call allocates the buffer, which may grow the memory
    const input = new Uint8Array(e.memory.buffer, offset, 16 * 1024);
    let at = 0;
    for (const part of parts) {
      input.set(part, at);
      at += part.length;
    }
  };
  const rsa = !OP.startsWith('es256');
  const verify = (calls) => rsa
    ? e.rsa_verify(key.length, message.length, OP === 'ps256' ? 1 : 0, calls)
    : e.p256_verify(message.length, OP === 'es256-prepared' ? 1 : 0, calls);
  const ok = (sig) => {
    write([key, sig, message]);
    return verify(1);
  };
  write([key]);
  if ((rsa ? e.rsa_key(key.length) : e.p256_key()) !== 1) throw new Error('crypto-ab: the key was refused');
  const flipped = Buffer.from(signature);
  flipped[flipped.length >> 1] ^= 0x10;
  if (ok(flipped) !== 0) throw new Error('crypto-ab: a signature with a bit flipped verified');
  if (ok(signature) !== 1) throw new Error('crypto-ab: an honest signature did not verify');
  return (calls) => {
    const start = process.hrtime.bigint();
    const verified = verify(calls);
    const us = Number(process.hrtime.bigint() - start) / 1000 / calls;
    if (verified !== calls) throw new Error(`crypto-ab: ${calls - verified} of ${calls} verifications failed`);
    return us;
  };
}

sources('a', A);
sources('b', B);
const data = inputs();
const timed = { a: instantiate(build('a'), data), b: instantiate(build('b'), data) };
// A first round for V8's optimising tier, then the rounds, the order alternating.
timed.a(CALLS);
timed.b(CALLS);
const times = { a: [], b: [] };
for (let round = 0; round < ROUNDS; round++) {
  for (const side of round % 2 ? ['b', 'a'] : ['a', 'b']) times[side].push(timed[side](CALLS));
}
const differences = times.b.map((b, i) => b - times.a[i]);
const [low, high] = medianInterval(differences);
const label = `${OP}${OP.startsWith('es256') ? '' : ` (${BITS} bits)`}`;
console.log(`${label}: A (${A}) ${median(times.a).toFixed(1)} µs, B (${B}) ${median(times.b).toFixed(1)} µs per verification; ` +
  `B - A median ${median(differences).toFixed(1)} µs, 95% interval ${low.toFixed(1)} to ${high.toFixed(1)} (${ROUNDS} rounds of ${CALLS})`);
