// Load test, end to end: `wrangler dev` against the local development issuer, 5,000+ mixed requests with 32
// in flight over keep-alive connections. Asserts that every answer has its expected status and error code,
// that none is 5xx, that the whole run stays within its time budget, that the worker printed one log line per
// request with no credential in it, and that the memory of the workerd processes stays bounded.
//
//   bash scripts/build.sh && node --test --test-concurrency=1 tests/e2e/load.test.mjs
//
// Memory bound. `wrangler dev` spawns two workerd processes: wrangler's own proxy (it listens on the
// gateway's port, `--socket-addr=entry=127.0.0.1:<port>`, and forwards requests and console output) and the
// runtime that runs the worker (`entry=127.0.0.1:0`, `--inspector-addr`). The resident set (VmRSS) of the
// worker's runtime may grow by at most RSS_GROWTH_LIMIT_MIB between the end of the warm-up and the end of the
// run: the worker keeps bounded state only (parsed keys, the DPoP replay cache capped by
// DPOP_REPLAY_CACHE_SIZE, nonces), so what grows is V8 heap sizing, decelerating; 64 MiB would be a leak of
// 13 KiB per request. The proxy's RSS is printed but not bounded: it is not the gateway's code, and it grows
// by hundreds of MiB even for a trivial JavaScript worker that prints one console.log line per request
// (measured: 59 -> 363 MiB over 12,000 requests; the worker's runtime 63 -> 126 MiB in that control).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { startIssuer } from '../../tools/dev-issuer.mjs';
import { assertError } from './contract.mjs';
import { buildWorker, request, startGateway } from './harness.mjs';

let dpop = null;
try {
  const mod = await import('../../tools/dpop-client.mjs');
  if (typeof mod.generateDpopKey === 'function' && typeof mod.makeProof === 'function') dpop = mod;
} catch {
  dpop = null;
}

// LOAD_REQUESTS=N runs N measured requests instead (a longer run shows the memory trend); the time limit
// scales with it.
const TOTAL = Number(process.env.LOAD_REQUESTS ?? 5_000); // measured requests, after the warm-up
const WARMUP = 1_000;
const IN_FLIGHT = 32;
const TIME_LIMIT_MS = Math.max(120_000, Math.ceil((TOTAL / 5_000) * 120_000));
const RSS_GROWTH_LIMIT_MIB = 64;
const REQUIRED_SCOPE = 'read:messages';

let issuer;
let gw;

before(async () => {
  issuer = await startIssuer();
  await buildWorker();
  gw = await startGateway({ vars: { AUTH0_DOMAIN: issuer.domain, AUTH0_AUDIENCE: issuer.audience } });
}, { timeout: 10 * 60_000 });

after(async () => {
  agent.destroy();
  await gw?.stop();
  await issuer?.close();
});

// ------------------------------------------------------------------ workerd memory

/** Child PIDs of `pid`, from /proc/<pid>/task/<tid>/children, else by scanning /proc/<n>/stat. */
function childrenOf(pid) {
  const out = new Set();
  try {
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
      const text = fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      for (const c of text.split(/\s+/).filter(Boolean)) out.add(Number(c));
    }
    return [...out];
  } catch {
    // No children files (kernel without CONFIG_PROC_CHILDREN): fall through to the scan.
  }
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.add(Number(name));
    } catch {
      // the process is gone
    }
  }
  return [...out];
}

function descendants(pid) {
  const seen = [];
  const queue = [pid];
  while (queue.length) {
    const p = queue.shift();
    for (const c of childrenOf(p)) {
      if (!seen.includes(c)) {
        seen.push(c);
        queue.push(c);
      }
    }
  }
  return seen;
}

/**
 * The workerd processes under wrangler's pid: {pid: {role, kib}}, role `proxy` for wrangler's proxy (it
 * listens on the gateway's port) and `worker` for the runtime that runs the gateway.
 */
function workerdRss(rootPid, gatewayPort) {
  const out = {};
  for (const pid of descendants(rootPid)) {
    try {
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (!/(^|\/)workerd$/.test(argv[0])) continue;
      const role = argv.includes(`--socket-addr=entry=127.0.0.1:${gatewayPort}`) ? 'proxy' : 'worker';
      const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) out[pid] = { role, kib: Number(m[1]) };
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** Summed VmRSS (KiB) of the processes with `role` (all of them when none has it). */
function roleKiB(rss, role) {
  const all = Object.values(rss);
  const some = all.filter((p) => p.role === role);
  return (some.length ? some : all).reduce((a, p) => a + p.kib, 0);
}
const mib = (kib) => (kib / 1024).toFixed(1);

// ------------------------------------------------------------------ the request mix

const agent = new http.Agent({ keepAlive: true, maxSockets: IN_FLIGHT });

/** One GET over the keep-alive pool (harness.request); the result has `ms`. */
const send = (path, headers) => request(`${gw.url}${path}`, { headers, agent, timeoutMs: 30_000 });

/** Credential pieces sent (JWS payload and signature segments), to check that no log line carries one. */
const sentSegments = new Set();
function remember(jws) {
  const segs = jws.split('.');
  if (segs.length === 3) {
    for (const s of segs.slice(1)) if (s.length >= 16) sentSegments.add(s);
  }
}

function buildMix() {
  const now = Math.floor(Date.now() / 1000);
  const valid = Array.from({ length: 6 }, (_, i) => issuer.mint({ sub: `load-${i}`, scope: i % 2 ? REQUIRED_SCOPE : 'openid profile' }));
  const scoped = Array.from({ length: 3 }, (_, i) => issuer.mint({ sub: `scoped-${i}`, permissions: [REQUIRED_SCOPE] }));
  const noScope = Array.from({ length: 2 }, (_, i) => issuer.mint({ sub: `noscope-${i}`, scope: 'write:messages' }));
  const expired = Array.from({ length: 2 }, (_, i) => issuer.mint({ sub: `expired-${i}`, claims: { iat: now - 7200, exp: now - 60 - i } }));
  const [h, , s] = issuer.mint({ sub: 'alice' }).split('.');
  const [, p2] = issuer.mint({ sub: 'admin', scope: REQUIRED_SCOPE }).split('.');
  const garbage = ['this-is-not-a-jwt-0123456789abcdef', `${h}.${p2}.${s}`, 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.'];
  const stranger = issuer.newKey();
  const unknownKid = Array.from({ length: 50 }, (_, i) => issuer.mint({ sub: `unknown-${i}`, key: stranger.privateKey, header: { kid: crypto.randomBytes(12).toString('base64url') } }));
  for (const t of [...valid, ...scoped, ...noScope, ...expired, ...garbage, ...unknownKid]) remember(t);

  const pick = (list) => list[Math.floor(Math.random() * list.length)];
  const bearer = (t) => ({ Authorization: `Bearer ${t}` });
  const kinds = [
    { name: 'bearer ok', weight: 20, status: 200, make: () => ({ path: '/api/private', headers: bearer(pick(valid)) }) },
    { name: 'bearer scoped ok', weight: 10, status: 200, make: () => ({ path: '/api/private-scoped', headers: bearer(pick(scoped)) }) },
    { name: 'bearer missing scope', weight: 8, status: 403, error: 'insufficient_scope', make: () => ({ path: '/api/private-scoped', headers: bearer(pick(noScope)) }) },
    { name: 'expired token', weight: 6, status: 401, error: 'invalid_token', make: () => ({ path: '/api/private', headers: bearer(pick(expired)) }) },
    { name: 'garbage token', weight: 6, status: 401, error: 'invalid_token', make: () => ({ path: '/api/private', headers: bearer(pick(garbage)) }) },
    { name: 'unknown kid', weight: 6, status: 401, error: 'invalid_token', make: () => ({ path: '/api/private', headers: bearer(pick(unknownKid)) }) },
    { name: 'no token', weight: 6, status: 401, error: 'unauthorized', make: () => ({ path: '/api/private', headers: {} }) },
    { name: 'unknown path', weight: 6, status: 404, error: 'not_found', make: () => ({ path: `/nope/${Math.floor(Math.random() * 100)}`, headers: bearer(pick(valid)) }) },
  ];

  if (dpop) {
    const keys = Array.from({ length: 4 }, () => dpop.generateDpopKey());
    const tokens = keys.map((k, i) => issuer.mint({ sub: `dpop-${i}`, scope: REQUIRED_SCOPE, cnfJkt: k.jkt }));
    tokens.forEach(remember);
    const used = []; // proofs already accepted once, to replay
    const fresh = (path) => {
      const i = Math.floor(Math.random() * keys.length);
      const proof = dpop.makeProof({ key: keys[i], htm: 'GET', htu: `${gw.url}${path}`, accessToken: tokens[i] });
      remember(proof);
      return { i, proof, headers: { Authorization: `DPoP ${tokens[i]}`, DPoP: proof } };
    };
    kinds.push({
      name: 'dpop ok',
      weight: 16,
      status: 200,
      make: () => {
        const path = Math.random() < 0.5 ? '/api/private' : '/api/private-scoped';
        const f = fresh(path);
        return { path, headers: f.headers, onOk: () => used.length < 200 && used.push({ path, headers: f.headers }) };
      },
    });
    kinds.push({
      name: 'dpop replayed proof',
      weight: 6,
      status: 401,
      error: 'invalid_dpop_proof',
      make: () => (used.length ? pick(used) : null), // none accepted yet: another kind is drawn
    });
  }
  const totalWeight = kinds.reduce((a, k) => a + k.weight, 0);
  return function draw() {
    for (;;) {
      let r = Math.random() * totalWeight;
      const kind = kinds.find((k) => (r -= k.weight) < 0) ?? kinds[0];
      const req = kind.make();
      if (req) return { kind, req };
    }
  };
}

/** Runs `n` requests, `IN_FLIGHT` at a time; returns per-request records and the failures. `onEach(done)`
 * is called after each answer. */
async function run(n, draw, onEach = () => {}) {
  const records = [];
  const failures = [];
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      const { kind, req } = draw();
      let res;
      try {
        res = await send(req.path, req.headers);
      } catch (err) {
        failures.push(`${kind.name}: ${err.message}`);
        records.push({ kind: kind.name, status: 0, ms: NaN });
        continue;
      }
      records.push({ kind: kind.name, status: res.status, ms: res.ms });
      onEach(records.length);
      const code = res.json?.detail?.error;
      let problem;
      if (res.status !== kind.status || (kind.error && code !== kind.error)) {
        problem = `expected ${kind.status} ${kind.error ?? ''}, got ${res.status} ${res.text.slice(0, 200)}`;
      } else if (kind.error) {
        try {
          assertError(res, kind.status, kind.error); // the whole error contract, under load too
        } catch (err) {
          problem = err.message.split('\n')[0];
        }
      } else if (res.status === 200) {
        req.onOk?.();
      }
      if (problem) {
        if (failures.length < 20) failures.push(`${kind.name}: ${problem}`);
        else failures.push('...');
      }
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  return { records, failures };
}

function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

// ------------------------------------------------------------------ the test

test(`load: ${TOTAL} mixed requests, ${IN_FLIGHT} in flight, expected statuses, no 5xx, bounded time and memory`, { timeout: TIME_LIMIT_MS + 60_000 }, async () => {
  const draw = buildMix();
  const rss = () => workerdRss(gw.pid, gw.port);
  const rssAtStart = rss();
  assert.ok(Object.keys(rssAtStart).length >= 1, `no workerd process found under wrangler (pid ${gw.pid})`);
  const roles = Object.values(rssAtStart).map((p) => p.role).sort().join(', ');
  if (roles !== 'proxy, worker') console.log(`# workerd processes: ${roles} (expected one proxy and one worker; bounding the sum)`);

  const started = performance.now();
  const warm = await run(WARMUP, draw);
  assert.deepEqual(warm.failures, [], 'warm-up requests with an unexpected answer');
  await sleep(500);
  const rssBefore = rss();

  const peak = { worker: roleKiB(rssBefore, 'worker'), proxy: roleKiB(rssBefore, 'proxy') };
  const sampler = setInterval(() => {
    const now = rss();
    peak.worker = Math.max(peak.worker, roleKiB(now, 'worker'));
    peak.proxy = Math.max(peak.proxy, roleKiB(now, 'proxy'));
  }, 250);
  const t0 = performance.now();
  let main;
  const trend = []; // the worker's RSS (MiB) every 1,000 answers
  try {
    main = await run(TOTAL, draw, (done) => {
      if (done % 1_000 === 0) trend.push(mib(roleKiB(rss(), 'worker')));
    });
  } finally {
    clearInterval(sampler);
  }
  const elapsedMs = performance.now() - t0;
  await sleep(500);
  const rssAfter = rss();
  const totalMs = performance.now() - started;
  // Someone editing src/ during the run makes wrangler rebuild and reload the worker, holding requests meanwhile.
  const ready = gw.logs().findIndex((l) => /Ready on/.test(l));
  const reloads = gw.logs().slice(ready + 1).filter((l) => /restarting build|Reloading local server|Detected changes/i.test(l));
  const note = reloads.length ? ` [NOTE: wrangler rebuilt/reloaded the worker ${reloads.length} time(s) during the run: ${reloads[0].trim()}]` : '';

  // ---- report
  const lat = main.records.map((r) => r.ms).filter(Number.isFinite).sort((a, b) => a - b);
  const byKind = {};
  for (const r of main.records) {
    const k = (byKind[r.kind] ??= { n: 0, statuses: {}, ms: [] });
    k.n++;
    k.statuses[r.status] = (k.statuses[r.status] ?? 0) + 1;
    if (Number.isFinite(r.ms)) k.ms.push(r.ms);
  }
  const fmt = (v) => v.toFixed(1);
  console.log(`# load: ${main.records.length} requests (+${WARMUP} warm-up), ${IN_FLIGHT} in flight, ${(elapsedMs / 1000).toFixed(2)} s, ${fmt(main.records.length / (elapsedMs / 1000))} req/s`);
  console.log(`# latency ms: p50 ${fmt(percentile(lat, 50))}, p90 ${fmt(percentile(lat, 90))}, p99 ${fmt(percentile(lat, 99))}, max ${fmt(lat[lat.length - 1])}`);
  for (const [name, k] of Object.entries(byKind)) {
    const s = k.ms.sort((a, b) => a - b);
    console.log(`#   ${name.padEnd(20)} n=${String(k.n).padStart(4)} statuses ${JSON.stringify(k.statuses)} p50 ${fmt(percentile(s, 50))} p99 ${fmt(percentile(s, 99))} ms`);
  }
  for (const role of ['worker', 'proxy']) {
    const b = roleKiB(rssBefore, role);
    const a = roleKiB(rssAfter, role);
    console.log(`# workerd RSS, ${role === 'worker' ? "the worker's runtime (bounded)" : "wrangler's proxy (not bounded)"} (MiB): at start ${mib(roleKiB(rssAtStart, role))}, after warm-up ${mib(b)}, peak ${mib(peak[role])}, at end ${mib(a)}, growth ${mib(a - b)}${role === 'worker' ? ` (limit ${RSS_GROWTH_LIMIT_MIB})` : ''}`);
  }
  console.log(`# the worker's RSS every 1,000 requests (MiB): ${trend.join(' ')}`);
  if (!dpop) console.log('# tools/dpop-client.mjs not available: no DPoP requests in the mix');
  if (note) console.log(`#${note}`);

  // ---- assertions
  assert.ok(elapsedMs < TIME_LIMIT_MS, `the run took ${(elapsedMs / 1000).toFixed(1)} s, over ${TIME_LIMIT_MS / 1000} s${note}`);
  const fivexx = main.records.filter((r) => r.status >= 500);
  assert.equal(fivexx.length, 0, `${fivexx.length} answers were 5xx: ${JSON.stringify(fivexx.slice(0, 5))}${note}`);
  assert.deepEqual(main.failures, [], `requests with an unexpected answer${note}`);
  assert.equal(main.records.length, TOTAL);
  assert.ok(TOTAL >= 5_000, 'at least 5,000 measured requests');
  for (const k of ['bearer ok', 'bearer missing scope', 'unknown kid', 'no token', 'unknown path', ...(dpop ? ['dpop ok', 'dpop replayed proof'] : [])]) {
    assert.ok(byKind[k]?.n > 0, `the mix sent no "${k}" request`);
  }
  assert.deepEqual(Object.keys(rssAfter).sort(), Object.keys(rssBefore).sort(), `the set of workerd processes changed during the run (a restart?)${note}`);
  const growth = roleKiB(rssAfter, 'worker') - roleKiB(rssBefore, 'worker');
  assert.ok(growth < RSS_GROWTH_LIMIT_MIB * 1024, `the worker's workerd RSS grew by ${mib(growth)} MiB (limit ${RSS_GROWTH_LIMIT_MIB} MiB)${note}`);

  // ---- logs: one JSON line per request, and no credential in any line
  const expected = WARMUP + TOTAL;
  const decisions = () => gw.jsonLogs().filter((l) => 'decision' in l && l.route !== '/api/public');
  const until = Date.now() + 10_000;
  while (decisions().length < expected && Date.now() < until) await sleep(100);
  assert.equal(decisions().length, expected, `${expected} requests but ${decisions().length} JSON log lines with a decision${note}`);
  for (const line of gw.logs()) {
    for (const run of line.match(/[A-Za-z0-9_-]{16,}/g) ?? []) {
      assert.ok(!sentSegments.has(run), `a log line contains a token or proof segment: ${line.slice(0, 200)}`);
    }
  }
  console.log(`# total including warm-up and log checks: ${(totalMs / 1000).toFixed(1)} s`);
});
