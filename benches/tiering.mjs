// Does V8 tier the gateway's wasm up under workerd, and would a module running only optimised code cost
// less? (README "Where the floor goes")
//
//   node benches/tiering.mjs [--paths public,same,new] [--rounds N] [--calls N] [--other "V8 FLAGS"]
//        [--perf SECONDS]
//
// Runs the release build (build/, scripts/build.sh) directly under workerd, without wrangler or its dev
// proxy, in two processes at once: one with V8's default dynamic tiering (each wasm function compiled by
// the baseline compiler, Liftoff, on its first call, and by the optimising one, TurboFan, once it has run
// enough), one with `--no-wasm-dynamic-tiering` (every function compiled by TurboFan) or the V8 flags given
// with `--other` (`--wasm-tiering-budget=N`: each function tiered up after N units of work instead of
// V8's default). Both log their
// compiled code with `--perf-basic-prof`, which names each wasm function's tier. A wrapper Worker in each
// process calls the gateway's fetch handler `--calls` times per request it receives, on /api/public with no
// token (`public`) or on /api/private with a Bearer token (`same`: one token, `new`: a new one per call,
// from the local issuer). Rounds alternate the two processes; each prints the CPU per call of each (all its
// threads, the background compilers included) and how many of the gateway's wasm functions each process
// has compiled by each tier so far. At the end: per path, the median of the per-round differences
// (other − default) with its 95% interval, over the second half of the rounds.
//
// `--perf SECONDS` (needs Linux `perf`): after the rounds, samples the default process with `perf record -e
// cpu-clock` while each path runs for that long, and prints where its CPU went: the gateway's wasm, the
// worker's JavaScript (wasm-bindgen's glue, entry.js, the wrapper), the runtime (workerd and V8), the
// kernel; then the wasm functions with the most samples. Build with GATEWAY_KEEP_WASM_NAMES=1 for their
// names. The sampling slows what it samples, so only the shares are worth reading.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startIssuer } from '../tools/dev-issuer.mjs';
import { REPO_ROOT } from '../tests/e2e/harness.mjs';
import { buildModules, startDirect } from './direct.mjs';
import { LOOP_PATHS as PATH_NAMES, cliArg, cpuNs, loopPaths, median, medianInterval } from './load.mjs';

const ROUNDS = Number(cliArg('rounds', 20));
const CALLS = Number(cliArg('calls', 1000));
const PERF_SECONDS = Number(cliArg('perf', 0));
const OTHER = String(cliArg('other', '--no-wasm-dynamic-tiering')).split(' ').filter(Boolean);
const PATHS = loopPaths('tiering', 'public');
const BUILD = path.join(REPO_ROOT, 'build');
const DIR = path.join(REPO_ROOT, 'target/tiering');

const WRAPPER = `import gateway from "./gw/index.js";
export default {
  async fetch(request, env, ctx) {
    if (request.method !== 'POST') return new Response('ready');
    let ok = 0;
    for (const token of await request.json()) {
      const headers = token === null ? {} : { authorization: 'Bearer ' + token };
      const url = token === null ? 'http://localhost/api/public' : 'http://localhost/api/private';
      const response = await gateway.fetch(new Request(url, { headers }), env, ctx);
      await response.arrayBuffer();
      if (response.status === 200) ok++;
    }
    return Response.json({ ok });
  },
};
`;

/** Starts workerd with the wrapper, the build and the V8 flags. */
async function start(name, issuer, flags) {
  fs.mkdirSync(DIR, { recursive: true });
  const wrapper = path.join(DIR, 'wrapper.js');
  fs.writeFileSync(wrapper, WRAPPER);
  const proc = await startDirect({
    dir: path.join(DIR, name),
    modules: [{ name: 'wrapper.js', kind: 'esModule', file: wrapper }, ...buildModules(BUILD, 'gw/')],
    vars: { AUTH0_DOMAIN: issuer.domain, AUTH0_AUDIENCE: issuer.audience, REQUEST_LOGS: 'off' },
    flags: ['--perf-basic-prof', ...flags],
  });
  return { name, ...proc };
}

/** The gateway's wasm functions compiled so far, by tier, from the process's perf map. */
function tiers(proc) {
  const compiled = { liftoff: new Set(), turbofan: new Set() };
  for (const [, fn, tier] of fs.readFileSync(proc.map, 'utf8').matchAll(/wasm-function\[(\d+)\]\S*-(liftoff|turbofan)/g)) {
    compiled[tier].add(fn);
  }
  return { liftoff: compiled.liftoff.size, turbofan: compiled.turbofan.size };
}

/** Samples `proc` with perf while `run` repeats for PERF_SECONDS; prints the shares of its CPU. */
async function profile(proc, pathName, run) {
  const data = path.join(DIR, `perf-${pathName}.data`);
  const perf = spawn('perf', ['record', '-q', '-e', 'cpu-clock', '-F', '10000', '-p', String(proc.pid), '-o', data], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 300));
  const started = Date.now();
  while (Date.now() - started < PERF_SECONDS * 1000) await run();
  perf.kill('SIGINT');
  await new Promise((r) => perf.on('exit', r));
  const report = execFileSync('perf', ['report', '-i', data, '--sort', 'dso,sym', '--stdio', '-n'], { encoding: 'utf8', maxBuffer: 1 << 28 });
  const shares = { wasm: 0, 'the worker\'s JavaScript': 0, runtime: 0, kernel: 0 };
  const wasm = new Map();
  let total = 0;
  for (const line of report.split('\n')) {
    const m = line.match(/^\s*[\d.]+%\s+(\d+)\s+(\S+(?: tid \d+)?)\s+\[.\]\s+(.*)$/);
    if (!m) continue;
    const [n, dso, sym] = [Number(m[1]), m[2], m[3].trim()];
    total += n;
    const fn = sym.match(/^JS:(.*)-\d+-(?:liftoff|turbofan)$/);
    if (fn) {
      shares.wasm += n;
      wasm.set(fn[1], (wasm.get(fn[1]) ?? 0) + n);
    } else if (dso.startsWith('[JIT]')) shares['the worker\'s JavaScript'] += n;
    else if (dso.startsWith('[kernel')) shares.kernel += n;
    else shares.runtime += n;
  }
  const pct = (n) => `${((100 * n) / total).toFixed(1)}%`;
  console.log(`${PATH_NAMES[pathName]}, profiled: ${Object.entries(shares).map(([k, n]) => `${k} ${pct(n)}`).join(', ')}`);
  const top = [...wasm].sort((a, b) => b[1] - a[1]).slice(0, 8);
  console.log(`  wasm functions: ${top.map(([name, n]) => `${name} ${pct(n)}`).join('; ')}`);
}

const issuer = await startIssuer();
const procs = [];
try {
  procs.push(await start('default', issuer, []));
  procs.push(await start('other', issuer, OTHER));
  const same = issuer.mint({ sub: 'tiering-same' });
  let minted = 0;
  const tokens = (pathName) =>
    Array.from({ length: CALLS }, () => {
      if (pathName === 'public') return null;
      return pathName === 'same' ? same : issuer.mint({ sub: `tiering-${minted++}` });
    });
  // µs of CPU per call; every call must be answered 200.
  const cost = async (proc, pathName) => {
    const body = JSON.stringify(tokens(pathName));
    const before = cpuNs([proc.pid]);
    const { ok } = await (await fetch(proc.url, { method: 'POST', body })).json();
    if (ok !== CALLS) throw new Error(`tiering: ${proc.name} ${pathName}: ${ok} of ${CALLS} answered 200`);
    return (cpuNs([proc.pid]) - before) / 1000 / CALLS;
  };
  const runs = Object.fromEntries(PATHS.map((p) => [p, { default: [], other: [] }]));
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 ? [...procs].reverse() : procs;
    const line = [];
    for (const pathName of PATHS) {
      for (const proc of order) runs[pathName][proc.name].push(await cost(proc, pathName));
      line.push(`${pathName} ${runs[pathName].default.at(-1).toFixed(1)} / ${runs[pathName].other.at(-1).toFixed(1)}`);
    }
    const compiled = procs.map((proc) => {
      const { liftoff, turbofan } = tiers(proc);
      return `${liftoff} / ${turbofan}`;
    });
    console.log(
      `round ${round + 1}, ${(round + 1) * CALLS} calls per path: µs per call, default / ${OTHER.join(' ')}: ${line.join('; ')}; wasm functions compiled by Liftoff / by TurboFan: ${compiled.join(', ')}`,
    );
  }
  const half = Math.floor(ROUNDS / 2);
  for (const pathName of PATHS) {
    const { default: base, other } = runs[pathName];
    const diffs = other.slice(half).map((x, i) => x - base[half + i]);
    const [low, high] = medianInterval(diffs);
    const us = (x) => x.toFixed(1);
    console.log(
      `${PATH_NAMES[pathName]}, rounds ${half + 1}-${ROUNDS}: default ${us(median(base.slice(half)))} µs per call, ${OTHER.join(' ')} ${us(median(other.slice(half)))}; the second − default ${us(median(diffs))} (${us(low)}…${us(high)})`,
    );
  }
  if (PERF_SECONDS > 0) {
    for (const pathName of PATHS) await profile(procs[0], pathName, () => cost(procs[0], pathName));
  }
} finally {
  for (const proc of procs) {
    await proc.stop();
    fs.rmSync(proc.map, { force: true });
  }
  await issuer.close();
}
