// The benchmark: `bash scripts/bench.sh` (or `node benches/run.mjs [--requests N]` once set up).
//
// In one run it
//   1. builds the release worker and reports the wasm size, raw and gzipped;
//   2. micro-benchmarks the wasm32 build in Node/V8: a new RS256 token, a token seen before, a DPoP
//      proof, a JWKS parse;
//   3. runs the gateway and the jose/WebCrypto reference worker (benches/reference) under `wrangler dev`
//      side by side and reports, for each, the CPU time of its workerd process per request, read from
//      /proc/<pid>/task/*/schedstat (nanoseconds) before and after a fixed batch: a public route (the
//      floor), Bearer with the same token, Bearer with a new token each time, DPoP with a fresh proof
//      each time; and the ratio gateway / reference of the cost over the floor;
//   4. prints the tables (Markdown, for the README).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { createRequire } from 'node:module';
import { startIssuer } from '../tools/dev-issuer.mjs';
import { generateDpopKey, makeProof } from '../tools/dpop-client.mjs';
import { REPO_ROOT, startGateway } from '../tests/e2e/harness.mjs';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const REQUESTS = arg('requests', 2000);
const MICRO = arg('micro', 300);
const CONCURRENCY = 4;
const ROUNDS = 5;
const WARMUP = 300;

const log = (...a) => console.error('bench:', ...a);
const sh = (cmd, args, env = {}) =>
  execFileSync(cmd, args, { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] }).toString();

function tools() {
  const env = {};
  for (const line of fs.readFileSync(path.join(REPO_ROOT, 'target/tools.env'), 'utf8').split('\n')) {
    const m = line.match(/^export (\w+)="(.*)"$/);
    if (m) env[m[1]] = m[2];
  }
  return env;
}

// ---- 1. release build and size -------------------------------------------------------------------
function buildAndSize() {
  log('building the release worker');
  sh('bash', ['scripts/build.sh']);
  const wasm = fs.readFileSync(path.join(REPO_ROOT, 'build/index_bg.wasm'));
  return { raw: wasm.length, gzip: zlib.gzipSync(wasm, { level: 9 }).length };
}

// ---- 2. micro-benchmarks in V8 -------------------------------------------------------------------
function buildBenchModule(t) {
  log('building the bench module (wasm32, release, --features bench)');
  const targetDir = path.join(REPO_ROOT, 'target/bench');
  sh('cargo', ['build', '--quiet', '--release', '--target', 'wasm32-unknown-unknown', '--lib', '--features', 'bench'], {
    CARGO_TARGET_DIR: targetDir,
  });
  const out = path.join(targetDir, 'pkg');
  const wasm = path.join(targetDir, 'wasm32-unknown-unknown/release/auth0_edge_gateway.wasm');
  sh(t.WASM_BINDGEN_BIN, ['--target', 'nodejs', '--out-dir', out, wasm]);
  // The same optimisation worker-build applies to the worker.
  const bg = path.join(out, 'auth0_edge_gateway_bg.wasm');
  sh(t.WASM_OPT_BIN, ['-O', bg, '-o', bg]);
  return createRequire(import.meta.url)(path.join(out, 'auth0_edge_gateway.js'));
}

function time(n, fn) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    if (!fn(i)) throw new Error(`benchmark call ${i} failed`);
  }
  return Number(process.hrtime.bigint() - start) / 1000 / n;
}

function micro(mod, issuer) {
  const jwks = JSON.stringify(issuer.jwks());
  const now = () => Math.floor(Date.now() / 1000);
  const tokens = Array.from({ length: MICRO }, (_, i) => issuer.mint({ sub: `user-${i}`, scope: 'read:messages' }));
  if (!mod.bench_load(jwks, issuer.domain, issuer.audience)) throw new Error('bench_load failed');
  const key = generateDpopKey();
  const bound = issuer.mint({ cnfJkt: key.jkt });
  const url = 'https://api.example.com/api/private';
  const proofs = Array.from({ length: MICRO }, () => makeProof({ key, htm: 'GET', htu: url, accessToken: bound }));
  // Warm-up (JIT, lazy tables), then measure.
  time(20, (i) => mod.bench_verify_token(tokens[i], now()));
  time(20, (i) => mod.bench_verify_proof(proofs[i], 'GET', url, bound, now()));
  mod.bench_verify_cached(tokens[0], now());
  return {
    'verify a new RS256 token': time(MICRO, (i) => mod.bench_verify_token(tokens[i], now())),
    'a token seen before (cache)': time(MICRO * 20, () => mod.bench_verify_cached(tokens[0], now())),
    'verify a DPoP proof (ES256)': time(MICRO, (i) => mod.bench_verify_proof(proofs[i], 'GET', url, bound, now())),
    'parse a JWKS (1 RSA key)': time(MICRO, () => mod.bench_parse_jwks(jwks) === 1),
  };
}

// ---- 3. CPU per request under workerd ------------------------------------------------------------
function descendants(pid) {
  const children = new Map();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(entry));
    } catch {
      // The process ended meanwhile.
    }
  }
  const out = [];
  const walk = (p) => (children.get(p) ?? []).forEach((c) => (out.push(c), walk(c)));
  walk(pid);
  return out;
}

function workerdPids(rootPid) {
  return descendants(rootPid).filter((p) => {
    try {
      return fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'workerd';
    } catch {
      return false;
    }
  });
}

/** CPU nanoseconds consumed so far by every thread of the given processes. */
function cpuNs(pids) {
  let total = 0;
  for (const pid of pids) {
    for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
      total += Number(fs.readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    }
  }
  return total;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });

function get(url, headers) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
  });
}

/** Sends the batch (request i gets headers(i)) and returns CPU µs per request in the workerd processes. */
async function batch(target, pathname, headers, n) {
  const pids = workerdPids(target.pid);
  const before = cpuNs(pids);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const status = await get(target.url + pathname, headers(i));
      if (status !== 200) throw new Error(`${target.name}: request ${i} to ${pathname} answered ${status}`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return (cpuNs(pids) - before) / 1000 / n;
}

async function macro(issuer) {
  const vars = { AUTH0_DOMAIN: issuer.domain, AUTH0_AUDIENCE: issuer.audience };
  log('starting the gateway and the reference worker under wrangler dev');
  // Like for like: the reference writes no log line, so neither does the gateway measured against it;
  // a second gateway with the default REQUEST_LOGS=all shows what the log line costs.
  const gateway = { name: 'gateway', ...(await startGateway({ vars: { ...vars, REQUEST_LOGS: 'off' }, readyTimeoutMs: 600_000 })) };
  const reference = {
    name: 'reference',
    ...(await startGateway({ vars, readyTimeoutMs: 600_000, extraArgs: ['--config', 'benches/reference/wrangler.toml'] })),
  };
  const logging = { name: 'gateway, REQUEST_LOGS=all', ...(await startGateway({ vars, readyTimeoutMs: 600_000 })) };
  try {
    const sameToken = issuer.mint({ scope: 'read:messages' });
    const key = generateDpopKey();
    const bound = issuer.mint({ cnfJkt: key.jkt });
    log(`minting ${2 * (ROUNDS * REQUESTS + WARMUP)} tokens`);
    const fresh = { gateway: [], reference: [] };
    for (const t of ['gateway', 'reference']) {
      for (let i = 0; i < ROUNDS * REQUESTS + WARMUP; i++) fresh[t].push(issuer.mint({ sub: `${t}-${i}` }));
    }
    const scenarios = {
      'public route (floor)': () => ({ path: '/api/public', headers: () => ({}) }),
      'Bearer, same token': () => ({ path: '/api/private', headers: () => ({ authorization: `Bearer ${sameToken}` }) }),
      'Bearer, new token': (t) => ({ path: '/api/private', headers: (i) => ({ authorization: `Bearer ${fresh[t.name][i]}` }) }),
      'DPoP, fresh proof': (t) => ({
        path: '/api/private',
        headers: () => ({
          authorization: `DPoP ${bound}`,
          dpop: makeProof({ key, htm: 'GET', htu: `${t.url}/api/private`, accessToken: bound }),
        }),
      }),
    };
    const results = {};
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    for (const [name, make] of Object.entries(scenarios)) {
      const targets = name.includes('floor') ? [gateway, reference, logging] : [gateway, reference];
      const rounds = Object.fromEntries(targets.map((t) => [t.name, []]));
      for (const target of targets) {
        // Warm-up: JIT, keys fetched, caches filled; new tokens start after the ones the rounds use.
        const { path: p, headers } = make(target);
        const offset = name === 'Bearer, new token' ? ROUNDS * REQUESTS : 0;
        await batch(target, p, (i) => headers(i + offset), WARMUP);
      }
      // Rounds alternate between the workers, so that drift on the machine hits both alike.
      for (let round = 0; round < ROUNDS; round++) {
        for (const target of targets) {
          const { path: p, headers } = make(target);
          rounds[target.name].push(await batch(target, p, (i) => headers(i + round * REQUESTS), REQUESTS));
        }
      }
      results[name] = Object.fromEntries(targets.map((t) => [t.name, median(rounds[t.name])]));
      log(`${name}: ${targets.map((t) => `${t.name} ${rounds[t.name].map((x) => x.toFixed(0)).join('/')} µs`).join('; ')}`);
    }
    return results;
  } finally {
    await gateway.stop();
    await reference.stop();
    await logging.stop();
  }
}

// ---- 4. report -----------------------------------------------------------------------------------
const fmt = (n) => n.toFixed(0);

const t = tools();
const size = buildAndSize();
const issuer = await startIssuer();
try {
  const mod = buildBenchModule(t);
  const microResults = micro(mod, issuer);
  const macroResults = await macro(issuer);
  const floor = macroResults['public route (floor)'];
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const lines = [];
  lines.push(`Measured ${new Date().toISOString().slice(0, 10)} on ${cpu} (${os.cpus().length} cores), Node ${process.version}, wrangler dev (workerd); median of ${ROUNDS} alternating rounds of ${REQUESTS} requests per path after ${WARMUP} warm-up requests, ${CONCURRENCY} in flight.`);
  lines.push('');
  lines.push(`Release wasm: ${(size.raw / 1024).toFixed(0)} KiB raw, ${(size.gzip / 1024).toFixed(0)} KiB gzipped.`);
  lines.push('');
  lines.push('| wasm32 in V8 (Node) | µs per operation |');
  lines.push('|---|---|');
  for (const [name, us] of Object.entries(microResults)) lines.push(`| ${name} | ${us.toFixed(1)} |`);
  lines.push('');
  lines.push('| path | gateway CPU µs/request | reference (jose) CPU µs/request | gateway over floor | reference over floor | ratio (over floor) |');
  lines.push('|---|---|---|---|---|---|');
  for (const [name, r] of Object.entries(macroResults)) {
    const g = r.gateway - floor.gateway;
    const ref = r.reference - floor.reference;
    const isFloor = name.includes('floor');
    lines.push(
      `| ${name} | ${fmt(r.gateway)} | ${fmt(r.reference)} | ${isFloor ? '—' : fmt(g)} | ${isFloor ? '—' : fmt(ref)} | ${isFloor ? '—' : (g / ref).toFixed(2)} |`,
    );
  }
  lines.push('');
  lines.push(`The gateway rows are with REQUEST_LOGS=off, as the reference logs nothing. With the default REQUEST_LOGS=all the floor is ${fmt(floor['gateway, REQUEST_LOGS=all'])} µs/request: the JSON log line costs ${fmt(floor['gateway, REQUEST_LOGS=all'] - floor.gateway)} µs under wrangler dev.`);
  console.log(lines.join('\n'));
} finally {
  await issuer.close();
  agent.destroy();
}
