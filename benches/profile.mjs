// Where a path's time goes inside workerd: a CPU profile of the worker under `wrangler dev`.
//
//   node benches/profile.mjs [--path public|publicBearer|same|new|dpop] [--worker gateway|reference]
//        [--requests N] [--top N] [--out FILE]
//
// It builds the worker with its wasm function names kept (GATEWAY_KEEP_WASM_NAMES=1 scripts/build.sh),
// starts it (or the jose reference of benches/reference) with a local issuer and REQUEST_LOGS=off, sends
// 1000 requests of the path to warm it up, then records V8's sampling profiler through the worker's
// inspector (the port `wrangler dev --inspector-port` serves) while it sends N more. It prints the
// functions with the most self time, and the time of the samples summed by where the code lives: the
// gateway's wasm, the crossings between JavaScript and wasm, the bundle's JavaScript (the glue and
// entry.js, wrangler's dev middleware), the runtime's built-ins (`Response`, `Headers.get`,
// `TextDecoder`...), garbage collection, and the rest of the isolate's thread ("(program)"). Idle time is
// left out. The profiler's interrupts slow everything they sample, so the shares mean more than the µs,
// and a small JavaScript function's share needs an A/B before anyone acts on it (README "Where the floor
// goes"). The profile is written to FILE (default target/profile/<worker>-<path>.cpuprofile), which
// Chrome DevTools opens. The next ordinary build strips the names again.
import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { startIssuer } from '../tools/dev-issuer.mjs';
import { REPO_ROOT, startGateway } from '../tests/e2e/harness.mjs';
import { batch, benchPaths, cliArg, closeAgent } from './load.mjs';

const PATH = cliArg('path', 'public');
const WORKER = cliArg('worker', 'gateway');
const REQUESTS = Number(cliArg('requests', 3000));
const TOP = Number(cliArg('top', 25));
const WARMUP = 1000;
const OUT = path.resolve(cliArg('out', path.join(REPO_ROOT, `target/profile/${WORKER}-${PATH}.cpuprofile`)));

/** A Chrome DevTools protocol session on the worker's inspector. */
async function inspect(port) {
  const targets = await (await fetch(`http://127.0.0.1:${port}/json`)).json();
  const target = targets.find((t) => t.webSocketDebuggerUrl);
  if (!target) throw new Error(`profile: no inspector target on port ${port}`);
  const socket = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  let id = 0;
  const pending = new Map();
  socket.on('message', (data) => {
    const message = JSON.parse(data);
    const settle = pending.get(message.id);
    if (!settle) return;
    pending.delete(message.id);
    settle(message);
  });
  const call = (method, params = {}) =>
    new Promise((resolve, reject) => {
      pending.set(++id, (m) => (m.error ? reject(new Error(`${method}: ${m.error.message}`)) : resolve(m.result)));
      socket.send(JSON.stringify({ id, method, params }));
    });
  return { call, close: () => socket.close() };
}

/** Where a sampled function lives. */
function place({ functionName, url }) {
  if (['(idle)', '(program)', '(garbage collector)', '(root)'].includes(functionName)) return functionName;
  if (/^(js-to-wasm|wasm-to-js)/.test(functionName)) return 'crossings between JavaScript and wasm';
  if (url.includes('.wasm')) return 'gateway wasm';
  if (url) return 'bundle JavaScript';
  return 'runtime built-ins';
}

/** An anonymous JavaScript function named by the start of its source line (the bundle is minified). */
async function namer(inspector, profile) {
  const sources = new Map();
  for (const { callFrame: f } of profile.nodes) {
    if (f.functionName || !f.url || f.url.includes('.wasm') || sources.has(f.scriptId)) continue;
    const { scriptSource } = await inspector.call('Debugger.getScriptSource', { scriptId: f.scriptId }).catch(() => ({}));
    sources.set(f.scriptId, scriptSource?.split('\n') ?? []);
  }
  return (f) => {
    if (f.url.includes('.wasm')) return f.functionName.replace(/::h[0-9a-f]{16}$/, '');
    if (!f.url) return f.functionName || '(anonymous built-in)';
    const at = `${path.basename(f.url)}:${f.lineNumber + 1}`;
    if (f.functionName) return `${f.functionName} (${at})`;
    // What precedes a minified function's parameters is the property it is stored under.
    const line = sources.get(f.scriptId)?.[f.lineNumber] ?? '';
    const text = line.slice(Math.max(0, f.columnNumber - 70), f.columnNumber + 10).trim();
    return `(anonymous ${at}${text ? ` ${JSON.stringify(text)}` : ''})`;
  };
}

/** Self time per function and per place, idle left out, in µs per request. */
function summarise(profile, requests, nameOf) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const byFunction = new Map();
  const byPlace = new Map();
  profile.samples.forEach((id, i) => {
    const frame = nodes.get(id).callFrame;
    const where = place(frame);
    if (where === '(idle)' || where === '(root)') return;
    const dt = i === 0 ? 0 : profile.timeDeltas[i];
    const key = `${nameOf(frame)} [${where}]`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + dt);
    byPlace.set(where, (byPlace.get(where) ?? 0) + dt);
  });
  const total = [...byPlace.values()].reduce((a, b) => a + b, 0);
  const rows = (map, n) =>
    [...map].sort((a, b) => b[1] - a[1]).slice(0, n).map(([name, us]) => ({ name, perRequest: us / requests, share: us / total }));
  return { total: total / requests, places: rows(byPlace, Infinity), functions: rows(byFunction, TOP) };
}

process.env.GATEWAY_KEEP_WASM_NAMES = '1';
const issuer = await startIssuer();
const gateway = await startGateway({
  vars: { AUTH0_DOMAIN: issuer.domain, AUTH0_AUDIENCE: issuer.audience, REQUEST_LOGS: 'off' },
  readyTimeoutMs: 600_000,
  extraArgs: WORKER === 'reference' ? ['--config', 'benches/reference/wrangler.toml'] : [],
});
const target = { name: WORKER, ...gateway };
try {
  const paths = benchPaths(issuer, [WORKER], WARMUP + REQUESTS);
  if (!paths[PATH]) throw new Error(`profile: unknown --path ${PATH} (one of ${Object.keys(paths).join(', ')})`);
  const [pathname, headers, request] = paths[PATH](target);
  await batch(target, pathname, headers, WARMUP, request);
  const inspector = await inspect(gateway.inspectorPort);
  await inspector.call('Profiler.enable');
  await inspector.call('Profiler.setSamplingInterval', { interval: 25 });
  await inspector.call('Profiler.start');
  await batch(target, pathname, (i) => headers(WARMUP + i), REQUESTS, request);
  const { profile } = await inspector.call('Profiler.stop');
  // Only now: with the debugger on, V8 runs wasm in its unoptimised debugging tier.
  await inspector.call('Debugger.enable');
  const nameOf = await namer(inspector, profile);
  inspector.close();
  fs.mkdirSync(path.dirname(OUT), { recursive: true });
  fs.writeFileSync(OUT, JSON.stringify(profile));
  const { total, places, functions } = summarise(profile, REQUESTS, nameOf);
  const line = (r) => `| ${r.name} | ${r.perRequest.toFixed(1)} | ${(100 * r.share).toFixed(1)}% |`;
  console.log(`CPU profile of the ${WORKER}, ${PATH} (${pathname}), ${REQUESTS} requests after ${WARMUP}: ${total.toFixed(0)} µs sampled per request, idle left out (${OUT})\n`);
  console.log('| where | µs per request, sampled | share |\n|---|---|---|');
  for (const r of places) console.log(line(r));
  console.log('\n| function (self time) | µs per request, sampled | share |\n|---|---|---|');
  for (const r of functions) console.log(line(r));
} finally {
  closeAgent();
  await gateway.stop();
  await issuer.close();
}
