// What a young isolate costs: A/B of two worker builds over their first requests (README "What each step
// bought"):
//
//   node benches/young.mjs --a <build dir A> --b <build dir B | reference> [--trials N] [--batches 250,1000]
//        [--path public | same | new | dpop]
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
import fs from 'node:fs';
import path from 'node:path';
import { startIssuer } from '../tools/dev-issuer.mjs';
import { REPO_ROOT, startGateway } from '../tests/e2e/harness.mjs';
import { batch, benchPaths, cliArg, closeAgent, median, medianInterval } from './load.mjs';

const TRIALS = Number(cliArg('trials', 8));
const BATCHES = cliArg('batches', '250,1000').split(',').map(Number);
const PATH = cliArg('path', 'public');
if (!['public', 'same', 'new', 'dpop'].includes(PATH)) throw new Error(`young: --path is public, same, new or dpop, not ${PATH}`);
const DIR = path.join(REPO_ROOT, 'target/young');

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

const builds = { A: config('a', cliArg('a', 'build')), B: config('b', cliArg('b', 'build')) };
const issuer = await startIssuer();
const vars = { AUTH0_DOMAIN: issuer.domain, AUTH0_AUDIENCE: issuer.audience, REQUEST_LOGS: 'off' };
const costs = { A: BATCHES.map(() => []), B: BATCHES.map(() => []) };
// The same tokens serve every trial: each starts with an empty cache.
const paths = benchPaths(issuer, PATH === 'new' ? ['A', 'B'] : [], BATCHES.reduce((a, b) => a + b, 0));
try {
  for (let trial = 0; trial < TRIALS; trial++) {
    for (const name of trial % 2 ? ['B', 'A'] : ['A', 'B']) {
      const worker = { name, ...(await startGateway({ vars, readyPath: '/young-unmatched', readyTimeoutMs: 600_000, extraArgs: ['--config', builds[name]] })) };
      try {
        const [pathname, headers] = paths[PATH](worker);
        let sent = 0;
        for (const [i, n] of BATCHES.entries()) {
          const from = sent;
          costs[name][i].push((await batch(worker, pathname, (j) => headers(from + j), n)).worker);
          sent += n;
        }
      } finally {
        await worker.stop();
      }
    }
  }
  for (const [i, n] of BATCHES.entries()) {
    const differences = costs.B[i].map((b, t) => b - costs.A[i][t]);
    const [low, high] = medianInterval(differences);
    const list = (xs) => xs.map((x) => x.toFixed(0)).join(' ');
    console.log(`batch ${i + 1} (${n} requests): A ${list(costs.A[i])} | B ${list(costs.B[i])} µs per request; B - A median ${median(differences).toFixed(0)} µs, 95% interval ${low.toFixed(0)} to ${high.toFixed(0)}`);
  }
} finally {
  closeAgent();
  await issuer.close();
}
