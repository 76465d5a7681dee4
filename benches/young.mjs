// What a young isolate costs: A/B of two worker builds over their first requests (README "What each step
// bought"):
//
//   node benches/young.mjs --a <build dir A> --b <build dir B | reference> [--trials N] [--batches 250,1000]
//        [--path public | same | new | dpop] [--direct]
//
// Each trial starts each build afresh under `wrangler dev` (the order alternating from trial to trial), with
// the repository's wrangler.toml (its bindings, without the [build] step) beside a copy of the build, waits
// for its first answer (a 404 on an unmatched path), then sends one path the batches in turn (`public`, the
// default; `same`, one Bearer token, verified on the first request and found in the cache after; `new`, a
// token never seen before on each request; `dpop`, a token bound to a DPoP key with a fresh proof on each
// request) and reads the CPU per request of its workerd process for each (`reference`: the jose worker of
// benches/reference). That CPU includes what V8 does in the background for the isolate: compiling the
// wasm functions that run often again in its optimising tier.
// Prints per batch every trial's µs per request for A and B and the median of the per-trial differences
// B - A with its 95% interval. The later batches show where the isolate settles.
//
// `--direct`: each build runs directly under workerd instead (benches/direct.mjs: no wrangler, no dev
// proxy, no Miniflare behind the Cache API, which then stores nothing; the reference bundled by esbuild),
// with the repository's default settings rather than its wrangler.toml, and no request before the first
// batch, so that the first request is also the one that makes the isolate (`--batches 1,1,8,240` shows it
// alone). Each batch is then also given on the thread that runs the isolate alone: the CPU a Workers bill
// counts, without V8's compiling in the background.
import fs from 'node:fs';
import path from 'node:path';
import { startIssuer } from '../tools/dev-issuer.mjs';
import { REPO_ROOT, startGateway } from '../tests/e2e/harness.mjs';
import { buildModules, referenceModules, startDirect, threadCpuNs } from './direct.mjs';
import { batch, benchPaths, cliArg, closeAgent, median, medianInterval } from './load.mjs';

const TRIALS = Number(cliArg('trials', 8));
const BATCHES = cliArg('batches', '250,1000').split(',').map(Number);
const PATH = cliArg('path', 'public');
if (!['public', 'same', 'new', 'dpop'].includes(PATH)) throw new Error(`young: --path is public, same, new or dpop, not ${PATH}`);
const DIR = path.join(REPO_ROOT, 'target/young');
const DIRECT = process.argv.includes('--direct');

/** A copy of `build` under target/young/<name>, with the repository's wrangler.toml minus its [build] step. */
function config(name, build) {
  if (build === 'reference') return path.join(REPO_ROOT, 'benches/reference/wrangler.toml');
  const dir = path.join(DIR, name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  if (!fs.existsSync(path.join(build, 'index.js'))) throw new Error(`young: no ${build}/index.js; build first (bash scripts/build.sh)`);
  fs.cpSync(path.resolve(build), path.join(dir, 'build'), { recursive: true });
  const toml = fs
    .readFileSync(path.join(REPO_ROOT, 'wrangler.toml'), 'utf8')
    .replace(/^\[build\]\n(?:(?!\[).*\n)*/m, '')
    .replace(/^name = .*$/m, `name = "young-${name}"`);
  fs.writeFileSync(path.join(dir, 'wrangler.toml'), toml);
  return path.join(dir, 'wrangler.toml');
}

const builds = DIRECT
  ? { A: cliArg('a', 'build'), B: cliArg('b', 'build') }
  : { A: config('a', cliArg('a', 'build')), B: config('b', cliArg('b', 'build')) };

/** A build under `wrangler dev`, or with --direct under workerd alone. */
async function start(name) {
  if (!DIRECT) {
    return startGateway({ vars, readyPath: '/young-unmatched', readyTimeoutMs: 600_000, extraArgs: ['--config', builds[name]] });
  }
  const build = builds[name];
  const modules = build === 'reference' ? referenceModules(DIR) : buildModules(build);
  return startDirect({ dir: path.join(DIR, name.toLowerCase()), modules, vars });
}

const issuer = await startIssuer();
const vars = { AUTH0_DOMAIN: issuer.domain, AUTH0_AUDIENCE: issuer.audience, REQUEST_LOGS: 'off' };
const costs = { A: BATCHES.map(() => []), B: BATCHES.map(() => []) };
// --direct: the same on the isolate's thread.
const isolateCosts = { A: BATCHES.map(() => []), B: BATCHES.map(() => []) };
// The same tokens serve every trial: each starts with an empty cache.
const paths = benchPaths(issuer, PATH === 'new' ? ['A', 'B'] : [], BATCHES.reduce((a, b) => a + b, 0));
try {
  for (let trial = 0; trial < TRIALS; trial++) {
    for (const name of trial % 2 ? ['B', 'A'] : ['A', 'B']) {
      const worker = { name, ...(await start(name)) };
      try {
        const [pathname, headers] = paths[PATH](worker);
        let sent = 0;
        const threads = DIRECT ? [threadCpuNs(worker.pid)] : [];
        for (const [i, n] of BATCHES.entries()) {
          const from = sent;
          costs[name][i].push((await batch(worker, pathname, (j) => headers(from + j), n)).worker);
          if (DIRECT) threads.push(threadCpuNs(worker.pid));
          sent += n;
        }
        if (DIRECT) {
          // The isolate's thread is the one that worked most over the trial.
          const spent = (t) => threads.at(-1)[t] - (threads[0][t] ?? 0);
          const main = Object.keys(threads.at(-1)).sort((x, y) => spent(y) - spent(x))[0];
          BATCHES.forEach((n, i) => isolateCosts[name][i].push((threads[i + 1][main] - (threads[i][main] ?? 0)) / 1000 / n));
        }
      } finally {
        await worker.stop();
      }
    }
  }
  const report = (label, table) => {
    for (const [i, n] of BATCHES.entries()) {
      const differences = table.B[i].map((b, t) => b - table.A[i][t]);
      const [low, high] = medianInterval(differences);
      const list = (xs) => xs.map((x) => x.toFixed(0)).join(' ');
      console.log(`${label}batch ${i + 1} (${n} requests): A ${list(table.A[i])} | B ${list(table.B[i])} µs per request; B - A median ${median(differences).toFixed(0)} µs, 95% interval ${low.toFixed(0)} to ${high.toFixed(0)}`);
    }
  };
  report('', costs);
  if (DIRECT) report('isolate thread, ', isolateCosts);
} finally {
  closeAgent();
  await issuer.close();
}
