// A/B of two versions of the crypto crate (crates/crypto) on its own: seconds to build and run, where a
// worker build and an in-process run take minutes. Each version is built into one plain wasm32 module
// (benches/crypto-ab, no wasm-bindgen) and the two are timed in alternating rounds on the same inputs, in
// Node's V8 or, with --workerd, in one Worker under `wrangler dev` (timed by the CPU of its workerd process).
//
//   node benches/crypto-ab.mjs [--a REV] [--b REV|worktree] [--op rs256|ps256|rs512|es256|es256-prepared]
//        [--bits N] [--rounds N] [--calls N] [--runs N] [--workerd]
//
// --a defaults to HEAD and --b to the working tree, so a run shows what an uncommitted change buys. Both
// builds must accept an honest signature and refuse it with one bit flipped, or the run stops. Prints, per
// run, the median µs per verification of each build and the median of the per-round differences B - A
// with its 95% interval; with --runs N, N runs on fresh instances (and a fresh workerd), the first
// instantiated first in turn, and the median of their differences. One run's interval understates how
// far the next run can land (README "Measuring small differences"): decide on several. workerd runs the
// same wasm with another V8 and explicit bounds checks (README "Why the same wasm can cost more under
// workerd than in Node"), so Node's figure alone can mislead: --workerd measures where the gateway runs.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT, startGateway } from '../tests/e2e/harness.mjs';
import { cliArg, cpuNs, median, medianInterval, workerdProcesses, writeWrapperWorker } from './load.mjs';
import { prepare } from './crypto-ab/driver.mjs';
import { enableRelaxedSimd } from '../tools/relaxed-simd.mjs';

const A = cliArg('a', 'HEAD');
const B = cliArg('b', 'worktree');
const OP = cliArg('op', 'rs256');
const BITS = Number(cliArg('bits', 2048));
const ROUNDS = Number(cliArg('rounds', 21));
const CALLS = Number(cliArg('calls', OP === 'es256' ? 100 : 300));
const RUNS = Number(cliArg('runs', 1));
const WORKERD = process.argv.includes('--workerd');
const OPS = ['rs256', 'ps256', 'rs512', 'es256', 'es256-prepared'];
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
    // -m: the files take the time of extraction, not the commit's, or cargo would keep the last build of
    // this side when `rev` is older than it.
    run('tar', ['-x', '-m', '--strip-components=2', '-C', out], { input: tar, stdio: ['pipe', 'pipe', 'inherit'] });
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

/** An honest signature for the operation, its key and its message (`prepare` also tries it with a bit flipped). */
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
  // RS512 signs a message of a token's usual length, so that SHA-512's share is a token's.
  const signed = OP === 'rs512' ? Buffer.concat(Array(8).fill(message)) : message;
  const signature = crypto.sign(OP === 'rs512' ? 'sha512' : 'sha256', signed, { key: privateKey, ...padding });
  return { key: Buffer.from(publicKey.export({ format: 'jwk' }).n, 'base64url'), signature, message: signed };
}

/** The module's timed call in Node: `calls` verifications, µs per call; it throws unless all verified. */
function timedInNode(bytes, data) {
  enableRelaxedSimd();
  const verify = prepare(new WebAssembly.Module(bytes), data, OP);
  return async (calls) => {
    const start = process.hrtime.bigint();
    const verified = verify(calls);
    const us = Number(process.hrtime.bigint() - start) / 1000 / calls;
    if (verified !== calls) throw new Error(`crypto-ab: ${calls - verified} of ${calls} verifications failed`);
    return us;
  };
}

/**
 * Both modules in one Worker under `wrangler dev` (target/crypto-ab/worker), each call timed by the CPU of
 * its workerd process, as the micro-benchmarks of benches/run.mjs are, instantiated in `order`; returns the
 * timed calls and a stop.
 */
async function timedInWorkerd(modules, data, order) {
  const dir = path.join(DIR, 'worker');
  fs.mkdirSync(dir, { recursive: true });
  for (const [side, bytes] of Object.entries(modules)) fs.writeFileSync(path.join(dir, `${side}.wasm`), bytes);
  const encoded = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Array.from(v)]));
  const config = writeWrapperWorker(dir, 'crypto-ab', `import a from './a.wasm';
import b from './b.wasm';
import { prepare } from ${JSON.stringify(path.join(REPO_ROOT, 'benches/crypto-ab/driver.mjs'))};

const data = Object.fromEntries(Object.entries(${JSON.stringify(encoded)}).map(([k, v]) => [k, Uint8Array.from(v)]));
const modules = { a, b };
const verify = {};
for (const side of ${JSON.stringify(order)}) verify[side] = prepare(modules[side], data, ${JSON.stringify(OP)});

export default {
  async fetch(request) {
    if (request.method !== 'POST') return new Response('ready');
    const { side, calls } = await request.json();
    return Response.json(verify[side](calls));
  },
};
`);
  const worker = await startGateway({ readyPath: '/', readyTimeoutMs: 300_000, extraArgs: ['--config', config] });
  const { worker: pids } = workerdProcesses(worker.pid);
  const timed = (side) => async (calls) => {
    const before = cpuNs(pids);
    const response = await fetch(worker.url, { method: 'POST', body: JSON.stringify({ side, calls }) });
    const verified = await response.json();
    const us = (cpuNs(pids) - before) / 1000 / calls;
    if (verified !== calls) throw new Error(`crypto-ab: ${side} verified ${JSON.stringify(verified)} of ${calls}`);
    return us;
  };
  return { timed: { a: timed('a'), b: timed('b') }, stop: () => worker.stop() };
}

/** One run: fresh instances (and a fresh workerd), instantiated in `order`, timed in alternating rounds. */
async function oneRun(modules, data, order) {
  let timed = {};
  let stop = () => {};
  if (WORKERD) ({ timed, stop } = await timedInWorkerd(modules, data, order));
  else for (const side of order) timed[side] = timedInNode(modules[side], data);
  const times = { a: [], b: [] };
  try {
    // A first round for V8's optimising tier, then the rounds, the order alternating.
    await timed.a(CALLS);
    await timed.b(CALLS);
    for (let round = 0; round < ROUNDS; round++) {
      for (const side of round % 2 ? ['b', 'a'] : ['a', 'b']) times[side].push(await timed[side](CALLS));
    }
  } finally {
    await stop();
  }
  const differences = times.b.map((b, i) => b - times.a[i]);
  return { a: median(times.a), b: median(times.b), difference: median(differences), interval: medianInterval(differences) };
}

sources('a', A);
sources('b', B);
const data = inputs();
const modules = { a: build('a'), b: build('b') };
const label = `${OP}${OP.startsWith('es256') ? '' : ` (${BITS} bits)`}${WORKERD ? ', in workerd' : ''}`;
const us = (x) => x.toFixed(1);
const differences = [];
for (let run = 0; run < RUNS; run++) {
  const { a, b, difference, interval: [low, high] } = await oneRun(modules, data, run % 2 ? ['b', 'a'] : ['a', 'b']);
  differences.push(difference);
  console.log(`${label}: A (${A}) ${us(a)} µs, B (${B}) ${us(b)} µs per verification; B - A median ${us(difference)} µs, ` +
    `95% interval ${us(low)} to ${us(high)} (${ROUNDS} rounds of ${CALLS})`);
}
if (RUNS > 1) {
  const sorted = [...differences].sort((x, y) => x - y);
  console.log(`${label}: B - A over ${RUNS} runs: median ${us(median(differences))} µs, from ${us(sorted[0])} to ${us(sorted.at(-1))}`);
}
