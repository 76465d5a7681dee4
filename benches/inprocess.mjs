// In-process A/B of two worker builds, for effects of a few µs that the HTTP runs of benches/compare.mjs
// cannot resolve (README "Performance"):
//
//   node benches/inprocess.mjs --a <build dir A> --b <build dir B | reference> [--paths P,P...] [--rounds N]
//
// One wrapper Worker imports both builds (a `build/` directory of scripts/build.sh, or `reference`, the
// jose worker of benches/reference) and, per request it receives, calls one of them `--calls` times with
// a fresh `Request` and reads each response; `none` answers a constant `Response` the same way. The CPU of
// the wrapper's workerd process per call is the cost, so both builds run in the same process, isolate
// and machine state, alternating round by round. A path is `/api/public`, `/api/private:token` with a
// Bearer token, or `/api/private-scoped:token`, the same with the rate limit counted (the local
// `RATE_LIMITER` simulator). The reference answers the first two only. Prints per path
// the median µs per call of A, B and none, and the median of the per-round differences B - A with its
// 95% interval. What it leaves out: the runtime's own handling of each HTTP request (the same for both
// builds) and the cost of a handler returning a pending promise to the runtime.
import fs from 'node:fs';
import path from 'node:path';
import { startIssuer } from '../tools/dev-issuer.mjs';
import { REPO_ROOT, startGateway } from '../tests/e2e/harness.mjs';
import { benchRoutes, cliArg, cpuNs, median, medianInterval, workerdProcesses } from './load.mjs';

const REFERENCE = path.join(REPO_ROOT, 'benches/reference/index.js');
const entry = (build) => (build === 'reference' ? REFERENCE : path.resolve(build, 'index.js'));
const [A, B] = [cliArg('a', 'build'), cliArg('b', 'reference')].map(entry);
const PATHS = cliArg('paths', '/api/public,/api/private:token').split(',');
const ROUNDS = Number(cliArg('rounds', 30));
const CALLS = Number(cliArg('calls', 1000));
for (const file of [A, B]) {
  if (!fs.existsSync(file)) {
    console.error(`inprocess: no ${file}; build first (bash scripts/build.sh)`);
    process.exit(2);
  }
}

// The wrapper Worker, written under target/ (static imports: wrangler bundles both builds into it).
const dir = path.join(REPO_ROOT, 'target/inprocess');
fs.mkdirSync(dir, { recursive: true });
fs.writeFileSync(path.join(dir, 'index.js'), `import a from ${JSON.stringify(A)};
import b from ${JSON.stringify(B)};

const targets = { a, b, none: { fetch: () => new Response('x') } };

export default {
  async fetch(request, env, ctx) {
    if (request.method !== 'POST') return new Response('ready');
    const { target, calls, path, headers } = await request.json();
    const statuses = {};
    for (let i = 0; i < calls; i++) {
      const response = await targets[target].fetch(new Request('http://localhost' + path, { headers }), env, ctx);
      await response.arrayBuffer();
      statuses[response.status] = (statuses[response.status] ?? 0) + 1;
    }
    return Response.json(statuses);
  },
};
`);
fs.writeFileSync(path.join(dir, 'wrangler.toml'), `name = "gateway-inprocess"
main = "index.js"
compatibility_date = "2026-04-20"

[[rules]]
type = "CompiledWasm"
globs = ["**/*.wasm"]

[[ratelimits]]
name = "RATE_LIMITER"
namespace_id = "4242"
simple = { limit = 100000000, period = 60 }
`);

const issuer = await startIssuer();
const worker = await startGateway({
  readyPath: '/',
  readyTimeoutMs: 600_000,
  extraArgs: ['--config', path.join(dir, 'wrangler.toml')],
  vars: { AUTH0_DOMAIN: issuer.domain, AUTH0_AUDIENCE: issuer.audience, REQUEST_LOGS: 'off', ROUTES: benchRoutes({ rateLimited: '/api/private-scoped' }) },
});
const token = issuer.mint({ scope: 'read:messages' });
try {
  const { worker: pids } = workerdProcesses(worker.pid);
  // µs of CPU per call of `target` on `pathAndToken`; every call must be answered 200.
  const cost = async (target, pathAndToken) => {
    const [pathname, withToken] = pathAndToken.split(':');
    const headers = withToken ? { authorization: `Bearer ${token}` } : {};
    const before = cpuNs(pids);
    const response = await fetch(worker.url, { method: 'POST', body: JSON.stringify({ target, calls: CALLS, path: pathname, headers }) });
    const statuses = await response.json();
    if (statuses['200'] !== CALLS) throw new Error(`inprocess: ${target} ${pathAndToken} answered ${JSON.stringify(statuses)}`);
    return (cpuNs(pids) - before) / 1000 / CALLS;
  };
  for (const p of PATHS) {
    for (const target of ['a', 'b', 'none']) await cost(target, p); // warm-up
    const runs = { a: [], b: [], none: [] };
    for (let round = 0; round < ROUNDS; round++) {
      for (const target of round % 2 ? ['a', 'b', 'none'] : ['b', 'a', 'none']) runs[target].push(await cost(target, p));
    }
    const differences = runs.b.map((b, i) => b - runs.a[i]);
    const [low, high] = medianInterval(differences);
    const us = (x) => x.toFixed(1);
    console.log(
      `${p}: A ${us(median(runs.a))} µs, B ${us(median(runs.b))} µs, none ${us(median(runs.none))} µs per call; B - A median ${us(median(differences))} µs, 95% interval ${us(low)} to ${us(high)}`,
    );
  }
} finally {
  await worker.stop();
  await issuer.close();
}
