// In-process A/B of two worker builds, for effects of a few µs that the HTTP runs of benches/compare.mjs
// cannot resolve (README "Performance"):
//
//   node benches/inprocess.mjs --a <build dir A> --b <build dir B | reference> [--paths P,P...] [--rounds N]
//        [--calls N] [--pad N] [--bindings] [--proxy]
//
// One wrapper Worker imports both builds (a `build/` directory of scripts/build.sh, or `reference`, the
// jose worker of benches/reference; the same directory twice is imported as two copies) and, per request it
// receives, calls one of them `--calls` times with a fresh `Request` and reads each response; `none`
// answers a constant `Response` the same way. The CPU of the wrapper's workerd process per call is the
// cost, so both builds run in the same process, isolate and machine state, alternating round by round. A
// path is `/api/public`, `/api/private:token` with a Bearer token, `/api/private:new` with a token never
// seen before on each call (`--pad N` adds to each a claim `pad` of N characters, so that the
// verified-token cache fills its byte budget before its count), `/api/private:dpop` with a token bound to a
// DPoP key and a fresh proof on each call, or `/api/private-scoped:token`, the same route with the rate
// limit counted (the local `RATE_LIMITER` simulator), or `/api/private:refused` with a Bearer value that is
// not a token, answered 401. The reference answers all but the rate-limited one. `--bindings`:
// A runs with neither `RATE_LIMITER` nor `METRICS` (and no route rate limited), B with both, which is the
// cost of the operations bindings (README "Operations"). `--proxy`: both builds run in proxy mode, bound to
// an origin inside the wrapper (`ORIGIN_SERVICE`, answering a small JSON body), for two builds rather than
// the reference, which only serves the demo endpoints. Prints per path the median µs per call of A, B and
// none, and the median of the per-round differences B - A with its 95% interval. What it leaves out: the
// runtime's own handling of each HTTP request (the same for both builds) and the cost of a handler
// returning a pending promise to the runtime.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { startIssuer } from '../tools/dev-issuer.mjs';
import { REPO_ROOT, startGateway } from '../tests/e2e/harness.mjs';
import { benchPaths, benchRoutes, cliArg, cpuNs, median, medianInterval, workerdProcesses, writeWrapperWorker } from './load.mjs';

const REFERENCE = path.join(REPO_ROOT, 'benches/reference/index.js');
const DIR = path.join(REPO_ROOT, 'target/inprocess');
const RATE_LIMITED = '/api/private-scoped';
// The name the new tokens of benchPaths are minted for.
const WRAPPER = 'inprocess';

/** The entry module of a build directory or of `reference`; `copy`: import it from a copy of its directory. */
function entry(build, copy) {
  if (build === 'reference') return REFERENCE;
  const file = path.resolve(build, 'index.js');
  if (!fs.existsSync(file)) throw new Error(`inprocess: no ${file}; build first (bash scripts/build.sh)`);
  if (!copy) return file;
  const twin = path.join(DIR, 'b');
  fs.rmSync(twin, { recursive: true, force: true });
  fs.cpSync(path.resolve(build), twin, { recursive: true });
  return path.join(twin, 'index.js');
}

// The wrapper Worker, written under target/ (static imports: wrangler bundles both builds into it).
function writeWrapper(a, b, bindings, proxy) {
  return writeWrapperWorker(DIR, 'gateway-inprocess', `import a from ${JSON.stringify(a)};
import b from ${JSON.stringify(b)};

const targets = { a, b, none: { fetch: () => new Response('x') } };

// --bindings: A's environment has no operations binding and no rate-limited route.
function bare(env) {
  const { RATE_LIMITER, METRICS, ...rest } = env;
  return { ...rest, ROUTES: ${JSON.stringify(benchRoutes())} };
}

// --proxy: both builds forward to an origin in the wrapper, bound as ORIGIN_SERVICE.
const origin = {
  fetch: async () => new Response('{"from":"origin"}', { headers: { 'content-type': 'application/json', 'cache-control': 'no-store' } }),
};
const proxied = (env) => (${proxy} ? { ...env, ORIGIN_SERVICE: origin } : env);

let envs;
export default {
  async fetch(request, env, ctx) {
    if (request.method !== 'POST') return new Response('ready');
    envs ??= { a: proxied(${bindings} ? bare(env) : env), b: proxied(env), none: env };
    const { target, calls, path, headers, headersEach } = await request.json();
    const statuses = {};
    for (let i = 0; i < calls; i++) {
      const init = { headers: headersEach ? headersEach[i] : headers };
      const response = await targets[target].fetch(new Request('http://localhost' + path, init), envs[target], ctx);
      await response.arrayBuffer();
      statuses[response.status] = (statuses[response.status] ?? 0) + 1;
    }
    return Response.json(statuses);
  },
};
`, `
[[ratelimits]]
name = "RATE_LIMITER"
namespace_id = "4242"
simple = { limit = 100000000, period = 60 }

[[analytics_engine_datasets]]
binding = "METRICS"
dataset = "auth0_edge_gateway"
`);
}

/**
 * Runs the A/B; returns, per path, the median µs per call of `a`, `b` and `none`, and the median of the
 * per-round differences B - A with its 95% interval.
 */
export async function inProcess({ a, b, paths, rounds = 30, calls = 1000, pad = 0, bindings = false, proxy = false, log = () => {} }) {
  const config = writeWrapper(entry(a, false), entry(b, path.resolve(a) === path.resolve(b)), bindings, proxy);
  const issuer = await startIssuer();
  const worker = await startGateway({
    readyPath: '/',
    readyTimeoutMs: 600_000,
    extraArgs: ['--config', config],
    // `:dpop` sends every proof with one key, and a key may hold a quarter of the replay store: the largest
    // store lets a run send 250,000 proofs per build (about 240 rounds of 1000 calls) before it answers 503.
    vars: {
      AUTH0_DOMAIN: issuer.domain,
      AUTH0_AUDIENCE: issuer.audience,
      REQUEST_LOGS: 'off',
      ROUTES: benchRoutes({ rateLimited: RATE_LIMITED }),
      DPOP_REPLAY_CACHE_SIZE: '1000000',
    },
  });
  // The requests of benches/load.mjs. `:new` and `:dpop` send headers of their own on each call (a token
  // never seen, a fresh proof), the same ones to each target, which keeps caches of its own.
  const made = benchPaths(issuer, paths.some((p) => p.endsWith(':new')) ? [WRAPPER] : [], (rounds + 1) * calls, { pad });
  const sameHeaders = made.same()[1]();
  const headersOf = { new: made.new({ name: WRAPPER })[1], dpop: made.dpop({ url: 'http://localhost' })[1] };
  const sent = { new: { a: 0, b: 0, none: 0 }, dpop: { a: 0, b: 0, none: 0 } };
  try {
    const { worker: pids } = workerdProcesses(worker.pid);
    // µs of CPU per call of `target` on `pathAndToken`; every call must be answered 200 (401 when refused, but by the constant `Response`).
    const cost = async (target, pathAndToken) => {
      const [pathname, credentials] = pathAndToken.split(':');
      const headers = credentials === 'refused' ? { authorization: 'Bearer not-a-token' } : credentials ? sameHeaders : {};
      const first = sent[credentials]?.[target];
      const headersEach = first === undefined ? undefined : Array.from({ length: calls }, (_, i) => headersOf[credentials](first + i));
      if (headersEach) sent[credentials][target] += calls;
      const before = cpuNs(pids);
      const response = await fetch(worker.url, { method: 'POST', body: JSON.stringify({ target, calls, path: pathname, headers, headersEach }) });
      const statuses = await response.json();
      const expected = credentials === 'refused' && target !== 'none' ? '401' : '200';
      if (statuses[expected] !== calls) throw new Error(`inprocess: ${target} ${pathAndToken} answered ${JSON.stringify(statuses)}`);
      return (cpuNs(pids) - before) / 1000 / calls;
    };
    const results = {};
    for (const p of paths) {
      for (const target of ['a', 'b', 'none']) await cost(target, p); // warm-up
      const runs = { a: [], b: [], none: [] };
      for (let round = 0; round < rounds; round++) {
        for (const target of round % 2 ? ['a', 'b', 'none'] : ['b', 'a', 'none']) runs[target].push(await cost(target, p));
      }
      const differences = runs.b.map((x, i) => x - runs.a[i]);
      results[p] = {
        a: median(runs.a),
        b: median(runs.b),
        none: median(runs.none),
        difference: { median: median(differences), interval: medianInterval(differences) },
      };
      log(`${p} done`);
    }
    return results;
  } finally {
    await worker.stop();
    await issuer.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const results = await inProcess({
    a: cliArg('a', 'build'),
    b: cliArg('b', 'reference'),
    paths: cliArg('paths', '/api/public,/api/private:token').split(','),
    rounds: Number(cliArg('rounds', 30)),
    calls: Number(cliArg('calls', 1000)),
    pad: Number(cliArg('pad', 0)),
    bindings: process.argv.includes('--bindings'),
    proxy: process.argv.includes('--proxy'),
  });
  const us = (x) => x.toFixed(1);
  for (const [p, { a, b, none, difference: d }] of Object.entries(results)) {
    console.log(
      `${p}: A ${us(a)} µs, B ${us(b)} µs, none ${us(none)} µs per call; B - A median ${us(d.median)} µs, 95% interval ${us(d.interval[0])} to ${us(d.interval[1])}`,
    );
  }
}
