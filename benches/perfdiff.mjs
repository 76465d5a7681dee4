// Where a path's CPU goes in each worker's workerd process, symbol by symbol, over HTTP:
//
//   node benches/perfdiff.mjs [--a <build dir>] [--b reference|<build dir>] [--path public|same|new|dpop]
//        [--requests N] [--rounds N] [--top N] [--wrangler]
//
// Starts A and B under workerd alone (benches/direct.mjs) with V8's `--perf-basic-prof`, so that `perf`
// names the code V8 generates (a build made with GATEWAY_KEEP_WASM_NAMES=1 names its wasm functions too).
// Rounds alternate A and B; in each, `perf record` samples one worker's process while N requests of the
// path run. Prints each side's µs per request by kind of code (V8's generated code, workerd's own
// functions, the kernel, the rest) and the symbols whose µs per request differ most between the sides.
// `--wrangler`: each side under `wrangler dev` instead, A and B being wrangler.toml files (A by default the
// repository's, B `reference`); there V8 takes no flags, so its generated code is counted but not named.
import { spawn, execFileSync } from 'node:child_process';
import path from 'node:path';
import { startIssuer } from '../tools/dev-issuer.mjs';
import { REPO_ROOT, startGateway } from '../tests/e2e/harness.mjs';
import { buildModules, referenceModules, startDirect } from './direct.mjs';
import { batch, benchPaths, benchRoutes, cliArg, closeAgent, workerdProcesses } from './load.mjs';

const WRANGLER = process.argv.includes('--wrangler');
const A = cliArg('a', WRANGLER ? 'wrangler.toml' : 'build');
const B = cliArg('b', 'reference');
const PATH = cliArg('path', 'public');
const REQUESTS = Number(cliArg('requests', 4000));
const ROUNDS = Number(cliArg('rounds', 3));
const TOP = Number(cliArg('top', 25));
const FREQ = 10_000;
const DIR = path.join(REPO_ROOT, 'target/perfdiff');

const issuer = await startIssuer();
const vars = { AUTH0_DOMAIN: issuer.domain, AUTH0_AUDIENCE: issuer.audience, REQUEST_LOGS: 'off', ROUTES: benchRoutes() };
const start = async (name, build) => {
  if (WRANGLER) {
    // `build` is the gateway's wrangler.toml (its [build] rebuilds build/) or `reference`.
    const config = build === 'reference' ? 'benches/reference/wrangler.toml' : build;
    const w = await startGateway({ vars, readyTimeoutMs: 600_000, extraArgs: ['--config', config] });
    const processes = workerdProcesses(w.pid);
    // `perf` samples the process that runs the worker, not wrangler's.
    return { ...w, name, processes, pid: processes.worker[0] };
  }
  const dir = path.join(DIR, name);
  const modules = build === 'reference' ? referenceModules(DIR) : buildModules(path.resolve(REPO_ROOT, build));
  return startDirect({ dir, modules, vars, flags: ['--perf-basic-prof'] }).then((w) => ({ ...w, name }));
};
const sides = [await start('A', A), await start('B', B)];
const total = (ROUNDS + 1) * REQUESTS;
const paths = benchPaths(issuer, PATH === 'new' ? ['A', 'B'] : [], total);

/** µs per request of each symbol sampled in `data`, with its kind of code. */
function symbolCosts(data) {
  const report = execFileSync('perf', ['report', '-i', data, '--stdio', '--sort', 'dso,sym', '-F', 'sample,dso,sym', '-t', '\t', '--percent-limit', '0'], {
    encoding: 'utf8',
    maxBuffer: 1 << 28,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return report.split('\n').flatMap((line) => {
    const m = line.match(/^\s*(\d+)\s*\t([^\t]*)\t\[(.)\]\s+(.*)$/);
    if (!m) return [];
    const [, samples, dsoField, mark, symbol] = m;
    const dso = dsoField.trim();
    const kind = dso.startsWith('[JIT]') ? 'V8 generated code' : mark === 'k' ? 'kernel' : dso === 'workerd' ? 'workerd' : dso;
    const name = `${kind === 'V8 generated code' ? 'jit' : dso}: ${symbol.trim().slice(0, 110)}`;
    return [{ name, kind, us: (Number(samples) * (1e6 / FREQ)) / REQUESTS }];
  });
}

// µs per request by symbol, summed over the rounds.
const bySymbol = sides.map(() => new Map());
const byKind = sides.map(() => new Map());
const measured = sides.map(() => 0);
try {
  for (const side of sides) {
    const [p, headers, request] = paths[PATH](side);
    await batch(side, p, (i) => headers(i + ROUNDS * REQUESTS), REQUESTS, request);
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const [s, side] of sides.entries()) {
      const [p, headers, request] = paths[PATH](side);
      const data = path.join(DIR, `${side.name}-${round}.data`);
      const perf = spawn('perf', ['record', '-q', '-e', 'cpu-clock', '-F', String(FREQ), '-p', String(side.pid), '-o', data], { stdio: 'inherit' });
      await new Promise((r) => setTimeout(r, 300));
      const result = await batch(side, p, (i) => headers(i + round * REQUESTS), REQUESTS, request);
      perf.kill('SIGINT');
      await new Promise((r) => perf.on('exit', r));
      measured[s] += result.worker;
      for (const { name, kind, us } of symbolCosts(data)) {
        bySymbol[s].set(name, (bySymbol[s].get(name) ?? 0) + us);
        byKind[s].set(kind, (byKind[s].get(kind) ?? 0) + us);
      }
    }
    console.error(`round ${round + 1}/${ROUNDS} done`);
  }
} finally {
  for (const side of sides) await side.stop();
  await issuer.close();
  closeAgent();
}
const per = (x) => (x / ROUNDS).toFixed(2);
console.log(`path ${PATH}, ${ROUNDS} rounds of ${REQUESTS} requests; A = ${A}, B = ${B}`);
console.log(`CPU of the process per request (schedstat): A ${per(measured[0])} µs, B ${per(measured[1])} µs`);
console.log('\n| kind | A µs | B µs |\n|---|---|---|');
const kinds = new Set([...byKind[0].keys(), ...byKind[1].keys()]);
for (const k of [...kinds].sort((x, y) => (byKind[0].get(y) ?? 0) - (byKind[0].get(x) ?? 0))) {
  console.log(`| ${k} | ${per(byKind[0].get(k) ?? 0)} | ${per(byKind[1].get(k) ?? 0)} |`);
}
const names = new Set([...bySymbol[0].keys(), ...bySymbol[1].keys()]);
const diffs = [...names].map((n) => [n, (bySymbol[0].get(n) ?? 0) - (bySymbol[1].get(n) ?? 0)]);
diffs.sort((x, y) => Math.abs(y[1]) - Math.abs(x[1]));
console.log('\n| symbol | A µs | B µs | A − B |\n|---|---|---|---|');
for (const [n, d] of diffs.slice(0, TOP)) {
  console.log(`| ${n.replace(/\|/g, '\\|')} | ${per(bySymbol[0].get(n) ?? 0)} | ${per(bySymbol[1].get(n) ?? 0)} | ${per(d)} |`);
}
