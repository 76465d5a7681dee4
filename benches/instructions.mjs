// Instructions per request, counted by valgrind's callgrind in each worker's workerd process (README "Where
// the floor goes"):
//
//   node benches/instructions.mjs [--build DIR] [--b DIR] [--paths public,same,new,dpop] [--runs N]
//     [--warmup N] [--requests N] [--v8-flags FLAG,FLAG] [--label NAME]
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
// percent (README "Counted in instructions"). A count leaves out cache misses and mispredicted branches.
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

/** The instruction counts of dump `k` of process `pid`, written into `dir`: main thread, all threads. */
function dumped(dir, pid, k) {
  const threads = fs.readdirSync(dir).filter((f) => f.startsWith(`cg.${pid}.${k}-`));
  const totals = Object.fromEntries(
    threads.map((f) => [f.split('-').pop(), Number(/^totals: (\d+)/m.exec(fs.readFileSync(path.join(dir, f), 'utf8'))?.[1] ?? 0)]),
  );
  if (!('01' in totals)) throw new Error(`instructions: no count of the main thread in ${dir} (dump ${k} of ${pid})`);
  return { main: totals['01'], all: Object.values(totals).reduce((a, b) => a + b, 0) };
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
        '--smc-check=all-non-file', ...(process.env.CGEXTRA ? process.env.CGEXTRA.split(' ') : []), `--callgrind-out-file=${dir}/cg.%p`, '--log-file=valgrind.log'],
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
      counts[p] = { main: main / n, all: all / n };
    }
  } finally {
    await worker.stop();
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
