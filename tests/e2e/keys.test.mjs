// Keys that never make a request wait (README: Key lifecycle), end to end under `wrangler dev` against the local
// development issuer, which this file slows down, stops, rotates and makes answer garbage:
//
//   bash scripts/build.sh && node --test --test-concurrency=1 tests/e2e/keys.test.mjs
//
// 1. 32 concurrent first requests on a cold gateway share one discovery and one JWKS fetch (single flight).
// 2. Steady traffic with a short max-age and an IdP answering in 1.5 s: no request waits for the IdP, and the
//    IdP sees the background refreshes; an outage, garbage and a rotation during them change nothing.
// 3. The scheduled handler (`--test-scheduled`, GET /__scheduled) fetches every issuer's keys into KEYS_KV; a
//    new gateway with that KV, no Cache API entries and the IdP down serves valid tokens from KV.
// 4. The keys a gateway fetched are in the Cache API: a new gateway on the same persisted state, with the IdP
//    down, serves valid tokens from there.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startIssuer } from '../../tools/dev-issuer.mjs';
import { describeRes } from './contract.mjs';
import { buildWorker, request, startGateway, wranglerToml } from './harness.mjs';

const HOOK_TIMEOUT = 10 * 60_000; // the first before() may build the worker
const IDP_DELAY_MS = 1_500;

/** GET /api/private with a fresh token of `issuer` (signed by `key` when given); asserts 200. */
async function call(gw, issuer, sub, key) {
  const token = key ? issuer.mint({ sub, key: key.privateKey, header: { kid: key.kid } }) : issuer.mint({ sub });
  const res = await request(`${gw.url}/api/private`, { headers: { Authorization: `Bearer ${token}` }, timeoutMs: 20_000 });
  assert.equal(res.status, 200, `${sub}: ${describeRes(res)}`);
  return res;
}

/** The request log lines of `gw` (not the readiness probes on /api/public) and its refresh lines. */
const requestLines = (gw) => gw.jsonLogs().filter((l) => 'decision' in l && l.route !== '/api/public');
const refreshLines = (gw, kind) => gw.jsonLogs().filter((l) => l.refresh === kind);

/** Waits until every background refresh `gw` started has printed its line (each takes up to two IdP fetches). */
async function settleRefreshes(gw) {
  const started = () => requestLines(gw).filter((l) => l.background_refresh).length;
  const until = Date.now() + 2 * IDP_DELAY_MS + 3_000;
  while (refreshLines(gw, 'background').length < started() && Date.now() < until) await sleep(50);
  return refreshLines(gw, 'background');
}

/** Waits until `gw` has printed `n` request log lines (they can trail the responses). */
async function settle(gw, n) {
  const until = Date.now() + 5_000;
  while (requestLines(gw).length < n && Date.now() < until) await sleep(50);
  return requestLines(gw);
}

/**
 * One request every `gapMs` for `seconds`, each with a fresh token (by `key` when given): every one must be
 * answered 200 well before the IdP could have answered. Returns the responses, each with its `sentAt`.
 */
async function steadyTraffic(gw, issuer, label, seconds, { gapMs = 150, key } = {}) {
  const results = [];
  const until = Date.now() + seconds * 1000;
  for (let i = 0; Date.now() < until; i++) {
    const sentAt = Date.now();
    results.push({ sentAt, ...(await call(gw, issuer, `${label}-${i}`, key)) });
    await sleep(gapMs);
  }
  const slowest = Math.max(...results.map((r) => r.ms));
  console.log(`# ${label}: ${results.length} requests in ${seconds} s, slowest ${slowest.toFixed(0)} ms`);
  assert.ok(slowest < IDP_DELAY_MS - 300, `a request took ${slowest.toFixed(0)} ms: it waited for the IdP (${IDP_DELAY_MS} ms)`);
  return results;
}

describe('single flight and refresh ahead', () => {
  let issuer;
  let gw;

  before(async () => {
    // Fresh for 8 s: refreshed ahead from 6 s on (KEYS_REFRESH_AHEAD_PERCENT, default 25).
    issuer = await startIssuer({ maxAge: 8 });
    await buildWorker();
    gw = await startGateway({
      vars: { AUTH0_DOMAIN: issuer.domain, AUTH0_AUDIENCE: issuer.audience, JWKS_COOLDOWN_SECONDS: '1', FETCH_TIMEOUT_MS: '3000' },
    });
  }, { timeout: HOOK_TIMEOUT });

  after(async () => {
    await gw?.stop();
    await issuer?.close();
  });

  test('32 concurrent first requests on a cold gateway: one discovery fetch and one JWKS fetch', async () => {
    issuer.setMode('slow', { delayMs: IDP_DELAY_MS });
    const results = await Promise.all(Array.from({ length: 32 }, (_, i) => call(gw, issuer, `cold-${i}`)));
    assert.deepEqual(issuer.stats(), { discovery: 1, jwks: 1 });
    const lines = await settle(gw, 32);
    const fetched = lines.filter((l) => l.keys === 'idp');
    const waited = lines.filter((l) => l.keys_waited_ms > 0);
    console.log(`# cold: 32 requests, slowest ${Math.max(...results.map((r) => r.ms)).toFixed(0)} ms; ${waited.length} waited for the one fetch`);
    assert.equal(fetched.length, 1, `one request fetched: ${JSON.stringify(fetched)}`);
    assert.equal(waited.length, 31, 'the others waited for it');
    assert.ok(waited.every((l) => l.keys === 'memory' && !l.key_fetches), 'a waiting request fetched');
  });

  test('steady traffic never waits for a slow IdP, which sees the background refreshes', async () => {
    const mark = requestLines(gw).length;
    issuer.resetStats();
    const results = await steadyTraffic(gw, issuer, 'steady', 30);
    const lines = (await settle(gw, mark)).slice(mark);
    const fetches = issuer.history();
    // Latency of the requests sent while the IdP was answering a refresh, against the others.
    const during = (r) => fetches.some((h) => r.sentAt >= h.at && r.sentAt < h.at + IDP_DELAY_MS);
    const median = (list) => list.map((r) => r.ms).sort((a, b) => a - b)[Math.floor(list.length / 2)]?.toFixed(0);
    const busy = results.filter(during);
    console.log(`# steady: IdP fetches ${JSON.stringify(issuer.stats())}; median ${median(results.filter((r) => !during(r)))} ms, ` +
      `${median(busy)} ms for the ${busy.length} requests sent during a refresh`);
    assert.ok(fetches.filter((h) => h.what === 'jwks').length >= 2, `background refreshes: ${JSON.stringify(fetches)}`);
    assert.deepEqual(lines.filter((l) => l.key_fetches), [], 'no request read keys itself');
    assert.ok(lines.filter((l) => l.background_refresh).length >= 2, 'the requests that started a refresh say so');
    const refreshes = await settleRefreshes(gw);
    assert.ok(refreshes.filter((l) => l.ok && l.keys === 'idp').length >= 2, `refresh lines: ${JSON.stringify(refreshes)}`);
  });

  test('an outage, garbage and a rotation during background refreshes change nothing for clients', async () => {
    const before = (await settleRefreshes(gw)).length;
    issuer.setMode('down');
    await steadyTraffic(gw, issuer, 'outage', 9);
    issuer.setMode('garbage', { only: 'jwks', variant: 'empty-keys' });
    await steadyTraffic(gw, issuer, 'garbage', 4);
    const failed = (await settleRefreshes(gw)).slice(before);
    assert.ok(failed.length >= 2 && failed.every((l) => !l.ok), `refreshes during the outage: ${JSON.stringify(failed)}`);

    // The old key stays published next to the new one; tokens of both keep working.
    issuer.setMode('slow', { delayMs: IDP_DELAY_MS });
    const old = issuer.signingKey;
    issuer.rotate();
    const mark = requestLines(gw).length;
    await steadyTraffic(gw, issuer, 'rotation', 8, { key: old });
    const picked = (await settleRefreshes(gw)).slice(before + failed.length);
    assert.ok(picked.some((l) => l.ok), 'no background refresh succeeded after the outage');
    // The new key came with a background refresh: its first token needs no fetch.
    await call(gw, issuer, 'new-key');
    const lines = (await settle(gw, requestLines(gw).length)).slice(mark);
    assert.deepEqual(lines.filter((l) => l.key_fetches), [], 'a request read keys itself');
  });
});

describe('scheduled refresh and KEYS_KV', () => {
  let issuers;
  let persistTo;
  let gw;

  /** A wrangler.toml for the built worker with a KEYS_KV namespace (vars go on the command line). */
  const kvConfig = (dir) => wranglerToml({}, { dir, sections: ['[[kv_namespaces]]', 'binding = "KEYS_KV"', 'id = "keys-kv-test"'] });

  const launch = (config) => startGateway({
    vars: {
      AUTH0_DOMAIN: issuers[0].domain,
      AUTH0_ADDITIONAL_DOMAINS: issuers[1].domain,
      AUTH0_AUDIENCE: issuers[0].audience,
    },
    extraArgs: ['--config', config, '--test-scheduled'],
    persistTo,
  });

  before(async () => {
    issuers = await Promise.all([startIssuer(), startIssuer()]);
    persistTo = fs.mkdtempSync(path.join(os.tmpdir(), 'gateway-keys-kv-'));
    await buildWorker();
  }, { timeout: HOOK_TIMEOUT });

  after(async () => {
    await gw?.stop();
    await Promise.all((issuers ?? []).map((i) => i.close()));
    if (persistTo) fs.rmSync(persistTo, { recursive: true, force: true });
  });

  test('GET /__scheduled fetches every issuer\'s keys; a restart with the IdP down serves from KV', async () => {
    const config = kvConfig(persistTo);
    gw = await launch(config);
    const res = await request(`${gw.url}/__scheduled`);
    assert.equal(res.status, 200, describeRes(res));
    const until = Date.now() + 10_000;
    while (refreshLines(gw, 'scheduled').length < 2 && Date.now() < until) await sleep(100);
    const lines = refreshLines(gw, 'scheduled');
    assert.deepEqual(lines.map((l) => [l.issuer, l.ok, l.keys]).sort(), issuers.map((i) => [i.issuer, true, 'idp']).sort());
    for (const issuer of issuers) assert.deepEqual(issuer.stats(), { discovery: 1, jwks: 1 });
    await gw.stop();
    gw = null;

    // A cold data centre during an IdP outage: no Cache API entries, the IdP unreachable, KV warm.
    const cacheDirs = fs.readdirSync(path.join(persistTo, 'v3')).filter((d) => d.includes('cache'));
    console.log(`# persisted: ${fs.readdirSync(path.join(persistTo, 'v3')).join(', ')}; removed ${cacheDirs.join(', ')}`);
    for (const d of cacheDirs) fs.rmSync(path.join(persistTo, 'v3', d), { recursive: true, force: true });
    await Promise.all(issuers.map((i) => i.stop()));
    gw = await launch(config);
    for (const [n, issuer] of issuers.entries()) await call(gw, issuer, `from-kv-${n}`);
    const served = await settle(gw, 2);
    assert.deepEqual(served.map((l) => l.keys), ['kv', 'kv'], JSON.stringify(served));
    assert.ok(served.every((l) => l.key_fetches.every((f) => f.from !== 'idp')), 'KV was read after the IdP');
  });
});

describe('the Cache API', () => {
  let issuer;
  let persistTo;
  let gw;

  before(async () => {
    issuer = await startIssuer();
    persistTo = fs.mkdtempSync(path.join(os.tmpdir(), 'gateway-keys-cache-'));
    await buildWorker();
  }, { timeout: HOOK_TIMEOUT });

  after(async () => {
    await gw?.stop();
    await issuer?.close();
    if (persistTo) fs.rmSync(persistTo, { recursive: true, force: true });
  });

  const launch = () => startGateway({
    vars: { AUTH0_DOMAIN: issuer.domain, AUTH0_AUDIENCE: issuer.audience },
    extraArgs: ['--config', wranglerToml({})],
    persistTo,
  });

  /** One request with a new token; where its log line says the keys came from, and its reads as [what, from, ok]. */
  async function keysOf(sub) {
    await call(gw, issuer, sub);
    const [line] = await settle(gw, 1);
    assert.ok(line, `${sub}: no log line`);
    return { keys: line.keys, reads: line.key_fetches.map((f) => [f.what, f.from, f.ok]) };
  }

  test('a new gateway with the IdP down serves tokens from the keys the last one put in the Cache API', async () => {
    gw = await launch();
    assert.deepEqual(await keysOf('to-cache'), {
      keys: 'idp',
      reads: [['discovery', 'cache', false], ['discovery', 'idp', true], ['jwks', 'cache', false], ['jwks', 'idp', true]],
    });
    await gw.stop();
    gw = null;

    await issuer.stop();
    gw = await launch();
    assert.deepEqual(await keysOf('from-cache'), {
      keys: 'cache',
      reads: [['discovery', 'cache', true], ['jwks', 'cache', true]],
    });
    assert.deepEqual(issuer.stats(), { discovery: 1, jwks: 1 });
  });
});
