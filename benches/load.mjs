// Load for the benchmarks: a fixed batch of requests against a worker under `wrangler dev`, and the CPU
// time workerd spent on it, read from /proc/<pid>/task/*/schedstat (nanoseconds).
//
// `wrangler dev` runs two workerd processes: one runs the worker (it is started with the worker's
// `--inspector-addr`), the other runs wrangler's dev proxy, which takes each request on the public port
// and forwards it. The proxy exists only under `wrangler dev`, costs more than most workers and is the
// noisiest part of the measurement, so the two are counted apart; what a request costs the worker is the
// first.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { generateDpopKey, makeProof } from '../tools/dpop-client.mjs';

/** The value after `--name` on the command line, or `fallback`. */
export const cliArg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};

/** The paths of the tools that call a worker in a loop: the public route, one token, a new token per call. */
export const LOOP_PATHS = { public: 'public route', same: 'token seen before', new: 'new token' };

/** `--paths` of such a tool (`fallback` when not given), checked against LOOP_PATHS; exits with a message. */
export function loopPaths(tool, fallback) {
  const paths = String(cliArg('paths', fallback)).split(',');
  if (paths.some((p) => !LOOP_PATHS[p])) {
    console.error(`${tool}: --paths takes a list of ${Object.keys(LOOP_PATHS).join(', ')}`);
    process.exit(2);
  }
  return paths;
}

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * A 95% confidence interval of the median of xs (distribution-free, from the order statistics: the count
 * of values below the median is binomial(n, 1/2)). For per-round differences B - A, a change is believed
 * when the interval excludes zero.
 */
export function medianInterval(xs) {
  const sorted = [...xs].sort((x, y) => x - y);
  const n = sorted.length;
  const k = Math.max(0, Math.floor(n / 2 - 0.98 * Math.sqrt(n)));
  return [sorted[k], sorted[Math.min(n - 1, n - 1 - k)]];
}

const DEMO_ROUTES = [
  { path: '/api/public', auth: 'none' },
  { path: '/api/private', methods: ['GET'], auth: 'required' },
  { path: '/api/private-scoped', methods: ['GET'], scopes: ['read:messages'] },
];

/**
 * `ROUTES` of the benchmarked gateways: the demo routes, and `/mcp` with a JSON-RPC rule (README "MCP
 * servers") beside `/mcp-open`, the same route without one, so that the cost of reading and matching the
 * body is the difference of two paths on one worker. `rateLimited`: the demo route that opts into the rate
 * limit, if any.
 */
export function benchRoutes({ rateLimited } = {}) {
  const routes = DEMO_ROUTES.map((r) => (r.path === rateLimited ? { ...r, rate_limit: true } : r));
  routes.push(
    { path: '/mcp', scopes: ['mcp:use'], jsonrpc: [{ method: 'tools/call', name: 'delete_*', scopes: ['repo:admin'] }] },
    { path: '/mcp-open', scopes: ['mcp:use'] },
  );
  return JSON.stringify(routes);
}

/** The q-quantile (0…1) of xs, nearest rank. */
export const quantile = (xs, q) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
};

/** A guarded MCP tool call (README "MCP servers"), 120-odd bytes as clients send them. */
const TOOLS_CALL = JSON.stringify({
  jsonrpc: '2.0',
  id: 7,
  method: 'tools/call',
  params: { name: 'delete_repo', arguments: { repo: 'octo/hello-world', confirm: true } },
});

/**
 * The benchmarked paths, each a function of the worker (`{ name, url }`) that returns the request path,
 * the headers of request i and, for other than a GET answered 200, the request's method, body and
 * expected status: the public route, the public route sent a Bearer token (which it does not read),
 * Bearer with one token, Bearer with a new token per request
 * (`tokensPerWorker` minted for each of `workerNames`, each with a claim `pad` of `pad` characters when
 * `pad` is given), DPoP with a fresh proof per request, and `mcp`, a
 * POST of a tools/call to `/mcp` with one token (answered 404 by the demo endpoints once authorised, as
 * no demo endpoint is there: what it measures is the gateway's work, body included), and `mcpOpen`, the
 * same POST to `/mcp-open` (see `benchRoutes`).
 */
export function benchPaths(issuer, workerNames, tokensPerWorker, { pad = 0 } = {}) {
  const sameToken = issuer.mint({ scope: 'read:messages' });
  const claims = pad ? { pad: 'x'.repeat(pad) } : {};
  const fresh = Object.fromEntries(
    workerNames.map((w) => [w, Array.from({ length: tokensPerWorker }, (_, i) => issuer.mint({ sub: `${w}-${i}`, claims }))]),
  );
  const key = generateDpopKey();
  const bound = issuer.mint({ cnfJkt: key.jkt });
  const mcpToken = issuer.mint({ scope: 'mcp:use repo:admin' });
  const mcpCall = (pathname) => [
    pathname,
    () => ({ authorization: `Bearer ${mcpToken}`, 'content-type': 'application/json' }),
    { method: 'POST', body: TOOLS_CALL, status: 404 },
  ];
  return {
    public: () => ['/api/public', () => ({})],
    publicBearer: () => ['/api/public', () => ({ authorization: `Bearer ${sameToken}` })],
    mcp: () => mcpCall('/mcp'),
    mcpOpen: () => mcpCall('/mcp-open'),
    same: () => ['/api/private', () => ({ authorization: `Bearer ${sameToken}` })],
    new: (w) => ['/api/private', (i) => ({ authorization: `Bearer ${fresh[w.name][i]}` })],
    dpop: (w) => [
      '/api/private',
      () => ({
        authorization: `DPoP ${bound}`,
        dpop: makeProof({ key, htm: 'GET', htu: `${w.url}/api/private`, accessToken: bound }),
      }),
    ],
  };
}

/** The benchmark's paths as its tables name them. */
export const PATH_LABELS = {
  public: 'public route (floor)',
  publicBearer: 'public route, a token sent',
  same: 'Bearer, same token',
  new: 'Bearer, new token',
  dpop: 'DPoP, fresh proof',
};

/** The performance targets' budgets over the floor, µs per request (README "Performance"). */
export const OVER_FLOOR_BUDGET = { same: 20, new: 60, dpop: 150 };

/**
 * The verdict rows of a run on the performance targets (README "Performance"): each authorised path at or
 * below the reference in CPU per request and within its budget over the floor, the floor at or below the
 * reference's. `paths`: per path, its key in `PATH_LABELS`, the gateway's and the reference's µs per request
 * (medians of the rounds, which the verdicts compare), the gateway's µs over its floor, and `perRound`, the
 * gateway's cost minus the reference's in each round: its median and 95% interval show how far one run
 * decides the comparison.
 */
export function targetRows(paths) {
  const verdict = (met) => (met ? 'met' : 'missed');
  const rows = [];
  for (const { key, gateway, reference, over, perRound } of paths) {
    if (key !== 'public' && !(key in OVER_FLOOR_BUDGET)) continue;
    const label = PATH_LABELS[key];
    const [low, high] = medianInterval(perRound);
    const rounds = `per round ${signed(median(perRound))} (${signed(low)}…${signed(high)})`;
    rows.push(`| ${label}: at or below the reference | ${gateway.toFixed(1)} / ${reference.toFixed(1)} µs; ${rounds} | ${verdict(gateway <= reference)} |`);
    if (key in OVER_FLOOR_BUDGET) {
      const budget = OVER_FLOOR_BUDGET[key];
      rows.push(`| ${label}: at most ${budget} µs over the floor | ${over.toFixed(1)} µs | ${verdict(over <= budget)} |`);
    }
  }
  return rows;
}

const signed = (x) => (x > 0 ? '+' : '') + x.toFixed(1);

/** Requests in flight during a batch. */
export const CONCURRENCY = 4;

function descendants(pid) {
  const children = new Map();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(entry));
    } catch {
      // The process ended meanwhile.
    }
  }
  const out = [];
  const walk = (p) => (children.get(p) ?? []).forEach((c) => (out.push(c), walk(c)));
  walk(pid);
  return out;
}

/** The workerd processes started under the given process. */
export function workerdPids(rootPid) {
  return descendants(rootPid).filter((p) => {
    try {
      return fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'workerd';
    } catch {
      return false;
    }
  });
}

/** CPU nanoseconds consumed so far by every thread of the given processes. */
export function cpuNs(pids) {
  let total = 0;
  for (const pid of pids) {
    for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
      total += Number(fs.readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    }
  }
  return total;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });

/**
 * Sends one request; its status. wrangler's dev proxy closes a kept-alive connection after about 5 s idle,
 * and a socket reused at that moment fails with ECONNRESET before the request reaches the worker (Node's
 * documented keep-alive race; seen between the rounds of a bench.sh run, where each worker's sockets wait
 * while the others run). Such a request is sent again, on another socket.
 */
function send(url, headers, request = {}, retries = CONCURRENCY) {
  const { method = 'GET', body } = request;
  return new Promise((resolve, reject) => {
    const req = http.request(url, { agent, headers, method }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', (error) => {
      if (req.reusedSocket && error.code === 'ECONNRESET' && retries > 0) {
        resolve(send(url, headers, request, retries - 1));
      } else {
        reject(error);
      }
    });
    req.end(body);
  });
}

/** The workerd processes of a `wrangler dev` instance: the worker's and wrangler's dev proxy. */
export function workerdProcesses(rootPid) {
  const pids = workerdPids(rootPid);
  const runsWorker = (pid) => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--inspector-addr');
  const worker = pids.filter(runsWorker);
  if (worker.length !== 1) throw new Error(`expected one workerd running the worker, found ${worker.length}`);
  return { worker, proxy: pids.filter((p) => !runsWorker(p)) };
}

/**
 * Sends the batch (request i gets headers(i); `request`: method, body and the status expected, GET and 200
 * by default) and returns the CPU µs per request of the worker's workerd process and of wrangler's proxy
 * process, and each request's latency in ms as the client saw it.
 */
export async function batch(target, pathname, headers, n, request = {}) {
  target.processes ??= workerdProcesses(target.pid);
  const { worker, proxy } = target.processes;
  const before = { worker: cpuNs(worker), proxy: cpuNs(proxy) };
  let next = 0;
  const latencies = [];
  const client = async () => {
    while (next < n) {
      const i = next++;
      const start = performance.now();
      const status = await send(target.url + pathname, headers(i), request);
      latencies.push(performance.now() - start);
      if (status !== (request.status ?? 200)) throw new Error(`${target.name}: request ${i} to ${pathname} answered ${status}`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, client));
  return {
    worker: (cpuNs(worker) - before.worker) / 1000 / n,
    proxy: (cpuNs(proxy) - before.proxy) / 1000 / n,
    latencies,
  };
}

/**
 * Writes a wrapper Worker for the in-process tools (benches/inprocess.mjs, benches/coldcache.mjs) into
 * `dir`: `index.js` from `source`, and a wrangler.toml that loads wasm modules, with `bindings` (TOML)
 * appended. Returns the wrangler.toml's path.
 */
export function writeWrapperWorker(dir, name, source, bindings = '') {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'index.js'), source);
  const toml = path.join(dir, 'wrangler.toml');
  fs.writeFileSync(toml, `name = "${name}"
main = "index.js"
compatibility_date = "2026-04-20"

[[rules]]
type = "CompiledWasm"
globs = ["**/*.wasm"]
${bindings}`);
  return toml;
}

/** Closes the kept-alive connections, so that the process can exit. */
export function closeAgent() {
  agent.destroy();
}
