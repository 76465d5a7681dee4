// Instructions per request, counted by valgrind's callgrind in each worker's workerd process (README "Where
// the floor goes"):
//
//   node benches/instructions.mjs [--build DIR] [--b DIR] [--paths public,same,new,dpop] [--runs N]
//     [--warmup N] [--requests N] [--v8-flags FLAG,FLAG] [--cache-sim] [--by-function N] [--label NAME]
//
// CPU time cannot tell two workers apart by less than a few microseconds per request; a count of executed
// instructions can. Each worker (the gateway's build directory; the jose reference and the constant Worker,
// or `--b`, another build) runs under workerd alone (benches/direct.mjs), inside `valgrind --tool=callgrind`
// with instrumentation off; valgrind translates V8's generated code as it appears
// (`--smc-check=all-non-file`). Every path is warmed up first; then each path's requests run with
// instrumentation on, and the count is dumped per thread. Reported, per request: the instructions of
// workerd's main thread, which runs the requests (the median of the runs, their range), those of all
// threads, and the difference of the gateway's main thread from the other worker's, run by run. Each run
// starts fresh processes. The dumps stay in target/instructions/NAME (`--label`, default `last`), for
// callgrind_annotate.
//
// Counts repeat only with `--v8-flags --single-threaded`, which makes V8 compile and collect garbage on the
// main thread. Otherwise its optimising compiles and its collectors run on other threads, paced by the
// clock, under a valgrind that slows the process about fifty times and runs one thread at a time: which
// functions are optimised, and how much collecting falls in a count, change from run to run, by tens of
// percent (README "Counted in instructions"). A count leaves out cache misses and mispredicted branches:
// `--cache-sim` adds callgrind's simulation of them (the machine's first-level caches, a simple branch
// predictor) and a table of the main thread's misses per request. They tell where time goes beyond the
// count, not what the processor does, and they move with where V8 places the code from process to process.
//
// `--by-function N` lists, for each worker and path of the last run, the N functions of V8's generated code
// (wasm functions in their tier, the glue, wrappers) that cost the most per request: callgrind records each
// instruction's address (`--dump-instr=yes`), and V8 names its code in /tmp/perf-PID.map
// (`--perf-basic-prof`, which this adds). wasm functions have names only in a build that keeps them
// (`GATEWAY_KEEP_WASM_NAMES=1 bash scripts/build.sh`); TurboFan's code is named when it is compiled on the
// main thread, so use it with `--v8-flags --single-threaded`.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startIssuer } from '../tools/dev-issuer.mjs';
import { REPO_ROOT } from '../tests/e2e/harness.mjs';
import { buildModules, referenceModules, startDirect } from './direct.mjs';
import { batch, benchPaths, benchRoutes, cliArg, closeAgent, median, PATH_LABELS } from './load.mjs';

const BUILD = path.resolve(REPO_ROOT, cliArg('build', 'build'));
const B = cliArg('b', '');
const PATHS = cliArg('paths', 'public').split(',');
const RUNS = Number(cliArg('runs', 3));
const WARMUP = Number(cliArg('warmup', 20000));
const REQUESTS = Number(cliArg('requests', 30000));
const FLAGS = cliArg('v8-flags', '').split(',').filter(Boolean);
const CACHE_SIM = process.argv.includes('--cache-sim');
const BY_FUNCTION = Number(cliArg('by-function', 0));
if (BY_FUNCTION) FLAGS.push('--perf-basic-prof');
const DIR = path.join(REPO_ROOT, 'target/instructions', cliArg('label', 'last'));

if (PATHS.some((p) => !PATH_LABELS[p])) {
  console.error(`instructions: --paths takes a list of ${Object.keys(PATH_LABELS).join(', ')}`);
  process.exit(2);
}
try {
  execFileSync('valgrind', ['--version']);
} catch {
  console.error('instructions: needs valgrind (Debian package valgrind) on the PATH');
  process.exit(2);
}

// A new token and a DPoP proof are made per request: fewer of them, so that minting stays quick and a DPoP
// key's proofs stay within the replay cache's share for one key (README "DPoP").
const count = (name, n) => (name === 'new' || name === 'dpop' ? Math.min(n, 3000) : n);

const issuer = await startIssuer();
const vars = { AUTH0_DOMAIN: issuer.domain, AUTH0_AUDIENCE: issuer.audience, REQUEST_LOGS: 'off', ROUTES: benchRoutes() };
const other = B ? 'B' : 'reference';
const modules = {
  gateway: buildModules(BUILD),
  [other]: B ? buildModules(path.resolve(REPO_ROOT, B)) : referenceModules(DIR),
};
// Beside the reference, the constant Worker: what the runtime spends on a request that no handler reads.
if (!B) modules.constant = [{ name: 'index.js', kind: 'esModule', file: path.join(REPO_ROOT, 'benches/constant/index.js') }];
// Requests of one run of one worker on a path; new tokens are minted for the new-token path only.
const perRun = Math.max(...PATHS.map((p) => count(p, WARMUP) + count(p, REQUESTS)));
const made = benchPaths(issuer, Object.keys(modules), PATHS.includes('new') ? RUNS * perRun : 0);

/** The events of a callgrind dump file, by name: `Ir`, and with `--cache-sim` the simulated misses. */
function events(file) {
  const text = fs.readFileSync(file, 'utf8');
  const names = /^events: (.+)$/m.exec(text)?.[1].split(' ') ?? [];
  const totals = /^totals: (.+)$/m.exec(text)?.[1].split(' ').map(Number) ?? [];
  return Object.fromEntries(names.map((name, i) => [name, totals[i] ?? 0]));
}

/** The counts of dump `k` of process `pid`, written into `dir`: main thread's events, all threads' instructions. */
function dumped(dir, pid, k) {
  const threads = Object.fromEntries(
    fs.readdirSync(dir).filter((f) => f.startsWith(`cg.${pid}.${k}-`)).map((f) => [f.split('-').pop(), events(path.join(dir, f))]),
  );
  if (!('01' in threads)) throw new Error(`instructions: no count of the main thread in ${dir} (dump ${k} of ${pid})`);
  return { main: threads['01'], all: Object.values(threads).reduce((a, t) => a + (t.Ir ?? 0), 0) };
}

/**
 * The costs of V8's generated code in a dump made with `--dump-instr=yes --dump-line=no`, by the function of
 * V8's perf map that holds each instruction. Only code outside any loaded file counts (callgrind's object
 * `???`): V8's builtins are in workerd's binary, which callgrind names itself.
 */
function generatedCode(file, mapFile) {
  const map = fs.readFileSync(mapFile, 'utf8').trim().split('\n').map((line) => {
    const [start, size, ...name] = line.split(' ');
    return { start: parseInt(start, 16), end: parseInt(start, 16) + parseInt(size, 16), name: name.join(' ') };
  }).sort((a, b) => a.start - b.start);
  const find = (address) => {
    let [lo, hi] = [0, map.length - 1];
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (map[mid].start <= address) lo = mid + 1;
      else hi = mid - 1;
    }
    return hi >= 0 && address < map[hi].end ? map[hi].name : undefined;
  };
  const objects = new Map();
  const functions = new Map();
  const costs = new Map();
  let names = [];
  let generated = false;
  let fn = '';
  let address = 0;
  let skip = false;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (line.startsWith('events: ')) names = line.slice(8).split(' ');
    // Names are compressed: `(id) name` the first time, in whichever line it comes, `(id)` after.
    const ob = /^(c?)ob=\((\d+)\)(?: (.*))?$/.exec(line);
    if (ob) {
      if (ob[3] !== undefined) objects.set(ob[2], ob[3]);
      if (!ob[1]) generated = objects.get(ob[2]) === '???';
      continue;
    }
    const named = /^(c?)fn=\((\d+)\)(?: (.*))?$/.exec(line);
    if (named) {
      if (named[3] !== undefined) functions.set(named[2], named[3]);
      if (!named[1]) fn = functions.get(named[2]) ?? '';
      continue;
    }
    if (line.startsWith('calls=')) {
      skip = true; // the next line is the call's inclusive cost
      continue;
    }
    const position = /^(0x[0-9a-f]+|[+-](?:0x[0-9a-f]+|\d+)|\*)(?: |$)/.exec(line);
    if (!position) continue;
    const p = position[1];
    if (p.startsWith('0x')) address = parseInt(p, 16);
    else if (p !== '*') address += Number(p[0] === '+' ? 1 : -1) * Number(p.slice(1));
    if (skip) {
      skip = false;
      continue;
    }
    if (!generated) continue;
    // Outside V8's map, code that callgrind names from symbols is native (the allocator, mapped apart
    // from workerd's file); code it knows only by address is generated code V8 did not name.
    const mapped = find(address);
    if (mapped === undefined && !fn.startsWith('0x')) continue;
    const name = (mapped ?? 'generated code V8 did not name').replace(/::h[0-9a-f]{16}/, '');
    const values = line.split(' ').slice(1).map(Number);
    const entry = costs.get(name) ?? Object.fromEntries(names.map((n) => [n, 0]));
    values.forEach((v, i) => (entry[names[i]] += v));
    costs.set(name, entry);
  }
  return costs;
}

/** One run of one worker: every path warmed up, then each counted. Instructions per request, by path. */
async function runWorker(name, run) {
  const dir = path.join(DIR, `${name}-${run}`);
  const worker = {
    ...(await startDirect({
      dir,
      modules: modules[name],
      vars,
      flags: FLAGS,
      wrapper: ['valgrind', '--tool=callgrind', '--instr-atstart=no', '--separate-threads=yes',
        '--smc-check=all-non-file', ...(CACHE_SIM ? ['--cache-sim=yes', '--branch-sim=yes'] : []),
        ...(BY_FUNCTION ? ['--dump-instr=yes', '--dump-line=no'] : []),
        `--callgrind-out-file=${dir}/cg.%p`, '--log-file=valgrind.log'],
    })),
    name,
  };
  const control = (...args) => execFileSync('callgrind_control', [...args, String(worker.pid)], { stdio: 'ignore' });
  const send = (p, n, offset) => {
    const [pathname, headers, request] = made[p](worker);
    return batch(worker, pathname, (i) => headers(i + offset), n, request);
  };
  const counts = {};
  try {
    for (const p of PATHS) await send(p, count(p, WARMUP), run * perRun);
    let k = 0;
    for (const p of PATHS) {
      control('-z');
      control('-i', 'on');
      await send(p, count(p, REQUESTS), run * perRun + count(p, WARMUP));
      control('-d');
      control('-i', 'off');
      const { main, all } = dumped(dir, worker.pid, ++k);
      const n = count(p, REQUESTS);
      counts[p] = {
        main: main.Ir / n,
        all: all / n,
        i1: (main.I1mr ?? 0) / n,
        d1: ((main.D1mr ?? 0) + (main.D1mw ?? 0)) / n,
        branches: ((main.Bcm ?? 0) + (main.Bim ?? 0)) / n,
      };
      if (BY_FUNCTION) {
        const file = fs.readdirSync(dir).find((f) => f.startsWith(`cg.${worker.pid}.${k}-01`));
        counts[p].functions = generatedCode(path.join(dir, file), `/tmp/perf-${worker.pid}.map`);
      }
    }
  } finally {
    await worker.stop();
    if (BY_FUNCTION) fs.rmSync(`/tmp/perf-${worker.pid}.map`, { force: true });
  }
  return counts;
}

const results = Object.fromEntries(Object.keys(modules).map((w) => [w, []]));
try {
  for (let run = 0; run < RUNS; run++) {
    const names = Object.keys(modules);
    for (const name of names.map((_, i) => names[(i + run) % names.length])) {
      results[name].push(await runWorker(name, run));
    }
    console.error(`run ${run + 1}/${RUNS} done`);
  }
} finally {
  await issuer.close();
  closeAgent();
}

const k = (x) => `${(x / 1000).toFixed(1)}k`;
const spread = (xs) => `${k(median(xs))} (${k(Math.min(...xs))}…${k(Math.max(...xs))})`;
const signedK = (x) => (x > 0 ? '+' : '') + k(x);
console.log(`Instructions per request under workerd alone, counted by callgrind; ${RUNS} runs, each in fresh processes, of ${REQUESTS} requests per path (new token and DPoP: ${count('new', REQUESTS)}) after ${WARMUP} of warm-up per path (${count('new', WARMUP)})${FLAGS.length ? `; V8 flags ${FLAGS.join(' ')}` : ''}. Median of the runs (lowest…highest); main thread: workerd's thread that runs the requests.\n`);
console.log(`| path | worker | main thread | all threads | gateway − ${other}, main thread, per run |`);
console.log('|---|---|---|---|---|');
for (const p of PATHS) {
  for (const name of Object.keys(modules)) {
    const of = (field) => results[name].map((r) => r[p][field]);
    const diffs = results.gateway.map((r, i) => r[p].main - results[other][i][p].main);
    const diff = name === 'gateway' ? diffs.map(signedK).join(', ') : '';
    console.log(`| ${PATH_LABELS[p]} | ${name} | ${spread(of('main'))} | ${spread(of('all'))} | ${diff} |`);
  }
}
if (CACHE_SIM) {
  const one = (xs) => median(xs).toFixed(0);
  console.log(`\nSimulated by callgrind, main thread, per request (median of the runs): first-level cache misses and mispredicted branches.\n`);
  console.log('| path | worker | instruction cache misses | data cache misses | mispredicted branches |');
  console.log('|---|---|---|---|---|');
  for (const p of PATHS) {
    for (const name of Object.keys(modules)) {
      const of = (field) => one(results[name].map((r) => r[p][field]));
      console.log(`| ${PATH_LABELS[p]} | ${name} | ${of('i1')} | ${of('d1')} | ${of('branches')} |`);
    }
  }
}
if (BY_FUNCTION) {
  const shown = CACHE_SIM ? ['Ir', 'I1mr', 'Bcm'] : ['Ir'];
  const label = { Ir: 'instructions', I1mr: 'instruction cache misses', Bcm: 'mispredicted branches' };
  for (const p of PATHS) {
    for (const name of Object.keys(modules)) {
      const { functions } = results[name].at(-1)[p];
      const n = count(p, REQUESTS);
      const total = (e) => [...functions.values()].reduce((a, f) => a + f[e], 0) / n;
      console.log(`\n${PATH_LABELS[p]}, ${name}, last run: V8's generated code per request, ${shown.map((e) => `${total(e).toFixed(0)} ${label[e]}`).join(', ')}; the ${BY_FUNCTION} costliest functions:\n`);
      console.log(`| function | ${shown.map((e) => label[e]).join(' | ')} |`);
      console.log(`|---|${shown.map(() => '---|').join('')}`);
      for (const [fn, c] of [...functions].sort((a, b) => b[1].Ir - a[1].Ir).slice(0, BY_FUNCTION)) {
        console.log(`| ${fn.replaceAll('|', '\\|')} | ${shown.map((e) => (c[e] / n).toFixed(0)).join(' | ')} |`);
      }
    }
  }
}
