// The benchmark: `bash scripts/bench.sh` (or `node benches/run.mjs [--rounds N] [--requests N] [--micro-only]`
// once set up).
//
// In one run it
//   1. builds the release worker and reports the wasm size, raw and gzipped;
//   2. micro-benchmarks the wasm32 build in Node/V8 and inside workerd (benches/micro-worker, the same
//      calls of benches/operations.mjs): a new RS256 or PS256 token, a token seen before, a DPoP proof, a
//      JWKS parse, a JSON-RPC match;
//   3. runs the gateway and the jose/WebCrypto reference worker (benches/reference) under `wrangler dev`
//      side by side and reports, for each, the CPU time per request of the workerd process that runs it,
//      read from /proc before and after each fixed batch (benches/load.mjs): a public route (the floor),
//      the public route sent a Bearer token it does not read (what carrying a token costs), Bearer with
//      the same token, Bearer with a new token each time, DPoP with a fresh proof each time; and the ratio
//      gateway / reference of the cost over the floor. The same requests go to a constant Worker
//      (benches/constant) that reads none of them. Then come the costs of features: a guarded JSON-RPC
//      call, and the operations bindings (over HTTP on two workers, and in one process with
//      benches/inprocess.mjs); then the same paths with each worker under workerd alone, as in production,
//      without wrangler's dev environment in its process (benches/bare.mjs);
//   4. prints the tables (Markdown, for the README), with p50/p99 latency next to CPU, and draws the CPU per
//      request of every path for the gateway, the reference and the constant Worker as an SVG bar chart
//      (benches/chart.svg, or --chart FILE).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import inspector from 'node:inspector/promises';
import zlib from 'node:zlib';
import { createRequire } from 'node:module';
import { startIssuer } from '../tools/dev-issuer.mjs';
import { generateDpopKey, makeProof } from '../tools/dpop-client.mjs';
import { REPO_ROOT, startGateway } from '../tests/e2e/harness.mjs';
import {
  batch, benchPaths, benchRoutes, cliArg, closeAgent, CONCURRENCY, cpuNs, median, medianInterval, PATH_LABELS, quantile, targetRows,
  workerdProcesses,
} from './load.mjs';
import { operations } from './operations.mjs';
import { inProcess } from './inprocess.mjs';
import { barChart } from './chart.mjs';
import { enableRelaxedSimd } from '../tools/relaxed-simd.mjs';

const arg = (name, fallback) => Number(cliArg(name, fallback));
const REQUESTS = arg('requests', 300);
const MICRO = arg('micro', 300);
const ROUNDS = arg('rounds', 21);
const FLOOR = PATH_LABELS.public;
const SAME = PATH_LABELS.same;
// The paths of the costs of features, on the gateway only (benches/load.mjs benchRoutes).
const GUARDED = 'JSON-RPC call, guarded route';
const UNGUARDED = 'JSON-RPC call, unguarded route';
// Where the chart of the workerd runs is written (README "Performance" shows it).
const CHART = path.resolve(cliArg('chart', path.join(REPO_ROOT, 'benches/chart.svg')));
const WARMUP = 300;
const PROFILE_TOP = 4;
// --micro-only: the size and the micro-benchmarks, without the workerd runs (a quick check while working).
const MICRO_ONLY = process.argv.includes('--micro-only');
// worker-build's wasm-opt feature list (scripts/build.sh), so the bench module is optimised alike.
const WASM_FEATURES = ['mutable-globals', 'sign-ext', 'nontrapping-float-to-int', 'bulk-memory', 'multivalue', 'reference-types', 'exception-handling', 'simd', 'relaxed-simd'].map((f) => `--enable-${f}`);

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
  const web = path.join(targetDir, 'web');
  sh(t.WASM_BINDGEN_BIN, ['--target', 'nodejs', '--out-dir', out, wasm]);
  // The same module for benches/micro-worker, as an ES module a Worker imports.
  sh(t.WASM_BINDGEN_BIN, ['--target', 'web', '--out-dir', web, wasm]);
  // The same optimisation worker-build applies to the worker; -g keeps the function names for the profile.
  for (const bg of [path.join(out, 'auth0_edge_gateway_bg.wasm'), path.join(web, 'auth0_edge_gateway_bg.wasm')]) {
    sh(t.WASM_OPT_BIN, ['-O', '-g', ...WASM_FEATURES, bg, '-o', bg]);
  }
  return createRequire(import.meta.url)(path.join(out, 'auth0_edge_gateway.js'));
}

function time(n, fn) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    if (!fn(i)) throw new Error(`benchmark call ${i} failed`);
  }
  return Number(process.hrtime.bigint() - start) / 1000 / n;
}

/**
 * Runs `fn` n times under V8's sampling profiler and returns the functions with the largest share of the
 * samples (self time), the Rust hash suffixes dropped.
 */
async function profile(n, fn) {
  const session = new inspector.Session();
  session.connect();
  try {
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 20 });
    await session.post('Profiler.start');
    // Samples come less often than asked on a busy machine: a longer run gives enough of them.
    for (let round = 0; round < 5; round++) time(n, fn);
    const { profile: p } = await session.post('Profiler.stop');
    const byId = new Map(p.nodes.map((node) => [node.id, node]));
    const self = new Map();
    let total = 0;
    p.samples.forEach((id, i) => {
      // The first delta is the profiler's own start-up.
      const dt = i === 0 ? 0 : (p.timeDeltas[i] ?? 0);
      const name = (byId.get(id).callFrame.functionName || '(anonymous)').replace(/::h[0-9a-f]{16}$/, '');
      self.set(name, (self.get(name) ?? 0) + dt);
      total += dt;
    });
    return [...self]
      .sort((a, b) => b[1] - a[1])
      .slice(0, PROFILE_TOP)
      .map(([name, us]) => [name, (100 * us) / total]);
  } finally {
    session.disconnect();
  }
}

/** The micro-benchmarks' data, as JSON (it is also posted to benches/micro-worker). */
function microData(issuer) {
  const key = generateDpopKey();
  const bound = issuer.mint({ cnfJkt: key.jkt });
  const url = 'https://api.example.com/api/private';
  return {
    micro: MICRO,
    // The key without its `alg`, so that it verifies RS256 and PS256 tokens alike.
    jwks: JSON.stringify({ keys: issuer.jwks().keys.map(({ alg, ...key }) => key) }),
    domain: issuer.domain,
    audience: issuer.audience,
    tokens: Array.from({ length: MICRO }, (_, i) => issuer.mint({ sub: `user-${i}`, scope: 'read:messages' })),
    psTokens: Array.from({ length: MICRO }, (_, i) => issuer.mint({ sub: `user-${i}`, scope: 'read:messages', alg: 'PS256' })),
    orgToken: issuer.mint({ sub: 'user-org', claims: { org_id: 'org_1', 'https://example.com/roles': ['ops', 'admin'] } }),
    bound,
    url,
    proofs: Array.from({ length: MICRO }, () => makeProof({ key, htm: 'GET', htu: url, accessToken: bound })),
    // An MCP tools/call as the SDK client sends it, with a few arguments.
    rpcBody: JSON.stringify({
      jsonrpc: '2.0', id: 42, method: 'tools/call',
      params: { name: 'delete_repo', arguments: { owner: 'acme', repo: 'widgets', confirm: true, reasons: ['cleanup', 'archived'] }, _meta: { progressToken: 42 } },
    }),
  };
}

async function micro(mod, data) {
  if (!mod.bench_load(data.jwks, data.domain, data.audience)) throw new Error('bench_load failed');
  const operationsByName = operations(mod, data, () => Math.floor(Date.now() / 1000));
  const times = {};
  const profiles = {};
  // A whole round first (V8 compiles hot wasm functions with its optimising tier in the background,
  // which takes a while for large ones), then the median of seven rounds.
  // Rounds go through every operation in turn, so that drift on a busy machine hits all of them alike.
  const entries = Object.entries(operationsByName);
  for (const [, [n, fn]] of entries) time(n, fn);
  const samples = Object.fromEntries(entries.map(([name]) => [name, []]));
  for (let round = 0; round < 7; round++) {
    for (const [name, [n, fn]] of entries) samples[name].push(time(n, fn));
  }
  for (const [name] of entries) times[name] = median(samples[name]);
  for (const [name, [n, fn]] of entries) profiles[name] = await profile(n, fn);
  return { times, profiles };
}

/**
 * The same operations inside workerd, under `wrangler dev` (benches/micro-worker): a request runs one
 * operation's calls, and the CPU of the worker's workerd process, less that of a request making no call,
 * divided by the calls is the µs per call. A warm-up round first, then the median of seven rounds.
 */
async function microInWorkerd(data) {
  log('starting the micro-benchmark worker under wrangler dev');
  const worker = await startGateway({ readyPath: '/', readyTimeoutMs: 600_000, extraArgs: ['--config', 'benches/micro-worker/wrangler.toml'] });
  try {
    const { worker: pids } = workerdProcesses(worker.pid);
    const post = async (body) => {
      const response = await fetch(worker.url, { method: 'POST', body: JSON.stringify(body) });
      const text = await response.text();
      if (!response.ok) throw new Error(`micro-worker: ${text}`);
    };
    const cost = async (name) => {
      const before = cpuNs(pids);
      await post({ name });
      return (cpuNs(pids) - before) / 1000;
    };
    await post({ load: data });
    const names = [...Object.keys(operations({}, data, () => 0)), 'none'];
    const samples = Object.fromEntries(names.map((name) => [name, []]));
    for (let round = 0; round < 8; round++) {
      for (const name of names) {
        const us = await cost(name);
        if (round > 0) samples[name].push(us);
      }
    }
    const base = median(samples.none);
    const calls = Object.fromEntries(Object.entries(operations({}, data, () => 0)).map(([name, [n]]) => [name, n]));
    return Object.fromEntries(names.filter((n) => n !== 'none').map((name) => [name, (median(samples[name]) - base) / calls[name]]));
  } finally {
    await worker.stop();
  }
}

// ---- 3. CPU per request under workerd (benches/load.mjs) ------------------------------------
const quartiles = (xs) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return [sorted[Math.floor((sorted.length - 1) / 4)], sorted[Math.ceil((3 * (sorted.length - 1)) / 4)]];
};

/**
 * Runs every path on every worker in rounds. A round sends one batch per worker and path, workers and
 * paths in a rotating order, so that drift on the machine hits all alike; a path's cost over the floor is
 * taken within each round (its batch minus the same worker's floor batch of that round) and the median of
 * the rounds is reported, with the interquartile range as the spread.
 */
async function macro(issuer) {
  const vars = { AUTH0_DOMAIN: issuer.domain, AUTH0_AUDIENCE: issuer.audience };
  log('starting the gateway and the reference worker under wrangler dev');
  // Like for like: the reference writes no log line, so neither does the gateway measured against it;
  // a second gateway with the default REQUEST_LOGS=all shows what the log line costs.
  const quiet = { ...vars, REQUEST_LOGS: 'off' };
  const gateway = { name: 'gateway', ...(await startGateway({ vars: { ...quiet, ROUTES: benchRoutes() }, readyTimeoutMs: 600_000 })) };
  const reference = {
    name: 'reference',
    ...(await startGateway({ vars, readyTimeoutMs: 600_000, extraArgs: ['--config', 'benches/reference/wrangler.toml'] })),
  };
  const logging = { name: 'logging', ...(await startGateway({ vars, readyTimeoutMs: 600_000 })) };
  // The runtime's own cost of each path's requests: a Worker that reads none of them (benches/constant).
  const constant = {
    name: 'constant',
    ...(await startGateway({ readyPath: '/', readyTimeoutMs: 600_000, extraArgs: ['--config', 'benches/constant/wrangler.toml'] })),
  };
  // The same build with the rate limiter on /api/private and a metrics point per request.
  const bindings = {
    name: 'bindings',
    ...(await startGateway({
      vars: { ...quiet, ROUTES: benchRoutes({ rateLimited: '/api/private' }) },
      readyTimeoutMs: 600_000,
      extraArgs: ['--config', 'benches/bindings/wrangler.toml'],
    })),
  };
  try {
    const perWorker = ROUNDS * REQUESTS + WARMUP;
    const minted = ['gateway', 'reference', 'constant'];
    log(`minting ${minted.length * perWorker} tokens`);
    const made = benchPaths(issuer, minted, perWorker);
    const paths = Object.fromEntries(Object.entries(PATH_LABELS).map(([key, name]) => [name, made[key]]));
    const keyOf = Object.fromEntries(Object.entries(PATH_LABELS).map(([key, name]) => [name, key]));
    const requests = { ...paths, [GUARDED]: made.mcp, [UNGUARDED]: made.mcpOpen };
    const plan = [
      [gateway, [...Object.keys(paths), GUARDED, UNGUARDED]],
      [reference, Object.keys(paths)],
      [constant, Object.keys(paths)],
      [logging, [FLOOR]],
      [bindings, [SAME]],
    ];
    const samples = new Map(plan.flatMap(([t, names]) => names.map((n) => [`${t.name}/${n}`, []])));
    // Warm-up: JIT, keys fetched, caches filled; new tokens start after the ones the rounds use.
    for (const [target, names] of plan) {
      for (const name of names) {
        const [p, headers, request] = requests[name](target);
        await batch(target, p, (i) => headers(i + ROUNDS * REQUESTS), WARMUP, request);
      }
    }
    for (let round = 0; round < ROUNDS; round++) {
      const rotate = (xs) => xs.map((_, i) => xs[(i + round) % xs.length]);
      for (const [target, names] of rotate(plan)) {
        for (const name of rotate(names)) {
          const [p, headers, request] = requests[name](target);
          samples.get(`${target.name}/${name}`).push(await batch(target, p, (i) => headers(i + round * REQUESTS), REQUESTS, request));
        }
      }
      log(`round ${round + 1}/${ROUNDS} done`);
    }
    const summary = (target, name) => {
      const runs = samples.get(`${target.name}/${name}`);
      const floors = samples.get(`${target.name}/${FLOOR}`);
      const over = runs.map((r, i) => r.worker - floors[i].worker);
      const latencies = runs.flatMap((r) => r.latencies);
      return {
        worker: median(runs.map((r) => r.worker)),
        workerSpread: quartiles(runs.map((r) => r.worker)),
        proxy: median(runs.map((r) => r.proxy)),
        over: median(over),
        spread: quartiles(over),
        p50: quantile(latencies, 0.5),
        p99: quantile(latencies, 0.99),
      };
    };
    // B - A per round, its median and the median's 95% interval.
    const difference = (a, b) => {
      const [runsA, runsB] = [samples.get(a), samples.get(b)];
      const d = runsB.map((r, i) => r.worker - runsA[i].worker);
      return { median: median(d), interval: medianInterval(d) };
    };
    return {
      paths: Object.keys(paths).map((name) => ({
        name,
        key: keyOf[name],
        gateway: summary(gateway, name),
        reference: summary(reference, name),
        constant: summary(constant, name),
        perRound: samples.get(`gateway/${name}`).map((r, i) => r.worker - samples.get(`reference/${name}`)[i].worker),
      })),
      logging: summary(logging, FLOOR),
      features: {
        jsonrpc: difference(`gateway/${UNGUARDED}`, `gateway/${GUARDED}`),
        bindings: difference(`gateway/${SAME}`, `bindings/${SAME}`),
      },
    };
  } finally {
    for (const worker of [gateway, reference, logging, bindings, constant]) await worker.stop();
  }
}

// ---- 3b. the cost of the operations bindings, in process (benches/inprocess.mjs) -------------------
// Two gateways under `wrangler dev` differ by a few tens of µs per request even with one configuration
// (README "Performance"), more than the bindings' budget: the build is also measured twice in one
// process, one copy without the bindings and one with them.
const BINDINGS_ROUNDS = 100;
const LIMITED = '/api/private-scoped:token';
const UNLIMITED = '/api/private:token';
function bindingsCost() {
  log('measuring the operations bindings in process');
  return inProcess({ a: path.join(REPO_ROOT, 'build'), b: path.join(REPO_ROOT, 'build'), bindings: true, paths: [LIMITED, UNLIMITED], rounds: BINDINGS_ROUNDS, log });
}

// ---- 3c. the same paths under workerd alone (benches/bare.mjs) ---------------------------------------
// Under `wrangler dev` the worker's process also runs Miniflare's entry Worker and dev middleware, about
// 200 µs of a public request's CPU (README "Performance"); production has neither.
function bare() {
  log('measuring the paths under workerd alone');
  return execFileSync(process.execPath, [path.join(REPO_ROOT, 'benches/bare.mjs'), '--rounds', '21', '--requests', '1000'], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
}

// ---- 4. report -----------------------------------------------------------------------------------
// The performance targets (README "Performance", "What the runs show"), judged on this run's figures under
// `wrangler dev`, and the wasm within its gzipped size. One run meets a target or not; the README counts runs.
const SIZE_BUDGET_KIB = 200;

function targetsTable(paths, size) {
  const rows = ['| target | measured | this run |', '|---|---|---|'];
  rows.push(...targetRows(paths.map(({ key, gateway: g, reference: r, perRound }) => ({ key, gateway: g.worker, reference: r.worker, over: g.over, perRound }))));
  const kib = size.gzip / 1024;
  rows.push(`| wasm at most ${SIZE_BUDGET_KIB} KiB gzipped | ${kib.toFixed(1)} KiB | ${kib <= SIZE_BUDGET_KIB ? 'met' : 'missed'} |`);
  return rows;
}

const fmt = (n) => (Math.round(n) === 0 ? 0 : n).toFixed(0); // never "-0"
const spread = ([low, high]) => `${fmt(low)}…${fmt(high)}`;

const t = tools();
const size = buildAndSize();
const issuer = await startIssuer();
try {
  enableRelaxedSimd();
  const mod = buildBenchModule(t);
  const data = microData(issuer);
  const microResults = await micro(mod, data);
  const inWorkerd = await microInWorkerd(data);
  const macroResults = MICRO_ONLY ? null : await macro(issuer);
  const bindingsInProcess = MICRO_ONLY ? null : await bindingsCost();
  const bareResults = MICRO_ONLY ? null : bare();
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const lines = [];
  lines.push(`Measured ${new Date().toISOString().slice(0, 10)} on ${cpu} (${os.cpus().length} cores), Node ${process.version}, wrangler dev (workerd). CPU of the workerd process that runs the worker; ${ROUNDS} rounds of ${REQUESTS} requests per path and worker after ${WARMUP} warm-up requests, ${CONCURRENCY} in flight; medians of the rounds, spread = interquartile range of the rounds.`);
  lines.push('');
  lines.push(`Release wasm: ${(size.raw / 1024).toFixed(0)} KiB raw, ${(size.gzip / 1024).toFixed(0)} KiB gzipped.`);
  lines.push('');
  lines.push('| wasm32 | µs per operation in V8 (Node) | in workerd | where the time goes (V8 CPU profile in Node, self time) |');
  lines.push('|---|---|---|---|');
  for (const [name, us] of Object.entries(microResults.times)) {
    const top = microResults.profiles[name].map(([f, share]) => `${f.replace(/\|/g, '\\|')} ${share.toFixed(0)}%`).join('; ');
    lines.push(`| ${name} | ${us.toFixed(1)} | ${inWorkerd[name].toFixed(1)} | ${top} |`);
  }
  if (MICRO_ONLY) {
    console.log(lines.join('\n'));
    process.exit(0);
  }
  const floor = macroResults.paths.find((p) => p.name === FLOOR);
  lines.push('');
  lines.push('| path | gateway µs/request | reference (jose) µs/request | gateway over floor (spread) | reference over floor (spread) | ratio over floor | constant Worker µs/request; over its floor (spread) | latency p50 / p99 ms, gateway | reference |');
  lines.push('|---|---|---|---|---|---|---|---|---|');
  const ms = (x) => x.toFixed(2);
  for (const { name, gateway: g, reference: r, constant: c } of macroResults.paths) {
    const cells = name === FLOOR
      ? ['—', '—', '—', fmt(c.worker)]
      : [`${fmt(g.over)} (${spread(g.spread)})`, `${fmt(r.over)} (${spread(r.spread)})`, (g.over / r.over).toFixed(2), `${fmt(c.worker)}; ${fmt(c.over)} (${spread(c.spread)})`];
    const latency = [`${ms(g.p50)} / ${ms(g.p99)}`, `${ms(r.p50)} / ${ms(r.p99)}`];
    lines.push(`| ${name} | ${fmt(g.worker)} | ${fmt(r.worker)} | ${cells.join(' | ')} | ${latency.join(' | ')} |`);
  }
  lines.push('');
  lines.push(...targetsTable(macroResults.paths, size));
  const bar = ({ worker, workerSpread: [low, high] }) => ({ value: worker, low, high });
  fs.writeFileSync(CHART, barChart({
    title: `CPU per request under wrangler dev (workerd), ${new Date().toISOString().slice(0, 10)}, ${cpu}`,
    unit: 'µs of CPU per request',
    series: [
      { name: 'gateway (Rust/wasm)', color: '#f38020' },
      { name: 'reference (jose, WebCrypto)', color: '#4a6fa5' },
      { name: 'constant Worker (reads nothing)', color: '#9a9a9a' },
    ],
    groups: macroResults.paths.map(({ name, gateway: g, reference: r, constant: c }) => ({ label: name, bars: [bar(g), bar(r), bar(c)] })),
  }));
  lines.push('');
  lines.push(`![CPU per request, gateway, reference and constant Worker](${path.relative(REPO_ROOT, CHART)}) (bars: medians of the rounds; whiskers: interquartile range; latency: as the load generator on the same machine saw it, ${CONCURRENCY} in flight, wrangler's dev proxy included; the constant Worker answers every request alike without reading it, so its cost over its floor is what the runtime spends on the larger requests themselves)`);
  lines.push('');
  lines.push(`The gateway rows are with REQUEST_LOGS=off, as the reference logs nothing; with the default REQUEST_LOGS=all the floor is ${fmt(macroResults.logging.worker)} µs/request, so the JSON log line costs about ${fmt(macroResults.logging.worker - floor.gateway.worker)} µs under wrangler dev. Not counted above: wrangler's dev proxy, a second workerd process that forwards each request under \`wrangler dev\` only, spent a median ${fmt(floor.gateway.proxy)} µs per gateway request and ${fmt(floor.reference.proxy)} µs per reference request on the floor path.`);
  const { jsonrpc, bindings } = macroResults.features;
  const cost = ({ median: m, interval: [low, high] }) => `${fmt(m)} µs (${fmt(low)}…${fmt(high)})`;
  lines.push('');
  lines.push('| cost of a feature, gateway (median of the per-round differences, 95% interval) | µs/request |');
  lines.push('|---|---|');
  lines.push(`| a guarded JSON-RPC call (body read, parsed, matched) over the same call on an unguarded route, one worker | ${cost(jsonrpc)} |`);
  lines.push(`| both optional bindings (rate limit counted, a metrics point) over none, token seen before, two workers | ${cost(bindings)} |`);
  const precise = ({ median: m, interval: [low, high] }) => `${m.toFixed(1)} µs (${low.toFixed(1)}…${high.toFixed(1)})`;
  lines.push(`| both optional bindings over none, token seen before on a rate-limited route, in process (one workerd, the build twice, ${BINDINGS_ROUNDS} rounds) | ${precise(bindingsInProcess[LIMITED].difference)} |`);
  lines.push(`| the metrics binding alone (a route not rate limited), in process | ${precise(bindingsInProcess[UNLIMITED].difference)} |`);
  lines.push('');
  lines.push(bareResults);
  console.log(lines.join('\n'));
} finally {
  await issuer.close();
  closeAgent();
}
