// The benchmark's paths with each worker under workerd alone, as in production there is no `wrangler dev`
// around it (README "Performance"):
//
//   node benches/bare.mjs [--build DIR] [--b DIR] [--rounds N] [--requests N] [--paths public,same,new,dpop]
//
// The gateway (a build directory of scripts/build.sh, with its default settings and the benchmark's
// routes), the jose reference and the constant Worker each run in their own workerd process
// (benches/direct.mjs): no dev proxy in front, no Miniflare entry Worker and dev middleware in the same
// process, which under `wrangler dev` cost about 200 µs of each public request's CPU. Rounds run every
// worker and path in an order that rotates from round to round, as benches/run.mjs does. Prints, per path,
// the median CPU µs per request of each worker's process and its median over its own floor, and the median
// of the per-round differences gateway − reference with its 95% interval. `--b DIR`: another build takes the
// reference's place, for an A/B of two builds that sees what wrangler's dev environment hides.
import path from 'node:path';
import { startIssuer } from '../tools/dev-issuer.mjs';
import { REPO_ROOT } from '../tests/e2e/harness.mjs';
import { buildModules, referenceModules, startDirect } from './direct.mjs';
import { batch, benchPaths, benchRoutes, cliArg, closeAgent, CONCURRENCY, median, medianInterval, targetRows } from './load.mjs';

const BUILD = path.resolve(REPO_ROOT, cliArg('build', 'build'));
const B = cliArg('b', '');
const ROUNDS = Number(cliArg('rounds', 21));
const REQUESTS = Number(cliArg('requests', 1000));
const WARMUP = 3000;
const PATHS = cliArg('paths', 'public,same,new,dpop').split(',');
const DIR = path.join(REPO_ROOT, 'target/bare');
// One DPoP key may have a quarter of the replay cache's 100,000 proofs in flight (README "DPoP"): the DPoP
// path gets fewer requests per batch, so that the whole run stays under that.
const count = (name, n) => (name === 'dpop' ? Math.min(n, Math.floor(20_000 / (ROUNDS + 3))) : n);

const issuer = await startIssuer();
const vars = { AUTH0_DOMAIN: issuer.domain, AUTH0_AUDIENCE: issuer.audience, REQUEST_LOGS: 'off', ROUTES: benchRoutes() };
const modules = {
  gateway: buildModules(BUILD),
  reference: B ? buildModules(path.resolve(REPO_ROOT, B)) : referenceModules(DIR),
  constant: [{ name: 'index.js', kind: 'esModule', file: path.join(REPO_ROOT, 'benches/constant/index.js') }],
};
const made = benchPaths(issuer, Object.keys(modules), ROUNDS * REQUESTS + WARMUP);
const workers = [];
for (const [name, mods] of Object.entries(modules)) {
  workers.push({ ...(await startDirect({ dir: path.join(DIR, name), modules: mods, vars })), name });
}
const samples = new Map();
const run = async (worker, name, n, offset) => {
  const [p, headers] = made[name](worker);
  return batch(worker, p, (i) => headers(i + offset), count(name, n));
};
try {
  for (const worker of workers) for (const name of PATHS) await run(worker, name, WARMUP, ROUNDS * REQUESTS);
  for (let round = 0; round < ROUNDS; round++) {
    const rotate = (xs) => xs.map((_, i) => xs[(i + round) % xs.length]);
    for (const worker of rotate(workers)) {
      for (const name of rotate(PATHS)) {
        const key = `${worker.name}/${name}`;
        if (!samples.has(key)) samples.set(key, []);
        samples.get(key).push((await run(worker, name, REQUESTS, round * REQUESTS)).worker);
      }
    }
    console.error(`round ${round + 1}/${ROUNDS} done`);
  }
} finally {
  for (const worker of workers) await worker.stop();
  await issuer.close();
  closeAgent();
}
const fmt = (x) => x.toFixed(1);
const interval = (xs) => {
  const [lo, hi] = medianInterval(xs);
  return `${fmt(median(xs))} (${fmt(lo)}…${fmt(hi)})`;
};
console.log(`Each worker under workerd alone; ${ROUNDS} rounds of ${REQUESTS} requests per path and worker (DPoP: ${count('dpop', REQUESTS)}) after ${WARMUP} of warm-up (DPoP: ${count('dpop', WARMUP)}), ${CONCURRENCY} in flight. µs of CPU per request of the worker's process, median of the rounds; over floor: the median of the per-round differences from the worker's own public route.\n`);
const other = B ? `B (${B})` : 'reference';
console.log(`| path | gateway | ${other} | constant | gateway over floor | ${other} over floor | gateway − ${other} (95% interval) |`);
console.log('|---|---|---|---|---|---|---|');
// The gateway's cost minus the other worker's, round by round.
const perRound = (name) => samples.get(`gateway/${name}`).map((x, i) => x - samples.get(`reference/${name}`)[i]);
for (const name of PATHS) {
  const runs = (w) => samples.get(`${w}/${name}`);
  const over = (w) => runs(w).map((x, i) => x - samples.get(`${w}/public`)[i]);
  const overCell = (w) => (name === 'public' || !samples.has(`${w}/public`) ? '—' : interval(over(w)));
  console.log(`| ${name} | ${fmt(median(runs('gateway')))} | ${fmt(median(runs('reference')))} | ${fmt(median(runs('constant')))} | ${overCell('gateway')} | ${overCell('reference')} | ${interval(perRound(name))} |`);
}
// Against the reference, the same verdicts as bench.sh gives under `wrangler dev` (README "Performance"),
// on these figures: the paths as production runs them.
if (!B && PATHS.includes('public')) {
  const over = (name) => median(samples.get(`gateway/${name}`).map((x, i) => x - samples.get('gateway/public')[i]));
  const medianOf = (w, name) => median(samples.get(`${w}/${name}`));
  console.log('\n| target, each worker under workerd alone | measured | this run |\n|---|---|---|');
  const rows = targetRows(PATHS.map((name) => ({ key: name, gateway: medianOf('gateway', name), reference: medianOf('reference', name), over: over(name), perRound: perRound(name) })));
  console.log(rows.join('\n'));
}
