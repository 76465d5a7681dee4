// Does a request cost more when the CPU's caches are cold? (README "Performance": over HTTP the authorised
// paths cost more than the same work in a loop.)
//
//   node benches/coldcache.mjs [--rounds N] [--calls N] [--evict-mib N] [--paths public,same,new]
//
// One wrapper Worker, in one workerd process, imports the gateway's build (build/, scripts/build.sh), the
// jose reference (benches/reference) and a constant handler. Per request it receives, it calls one of them
// `--calls` times, on /api/public with no token (`public`) or on /api/private with a Bearer token (`same`:
// the same token each time, `new`: a new one per call),
// in one of three modes: `plain` (calls back to back, as a loop keeps caches warm), `evicted` (before each
// call, one read and write per 64-byte line of a `--evict-mib` MiB buffer, which evicts the caches the
// call would have found warm) and `evictOnly` (the eviction without the call). The cost of a call with
// cold caches over the same call with warm ones is evicted − evictOnly − plain, per round; it prints the
// median with its 95% interval, per worker and path. Rounds run the three modes in turn.
import fs from 'node:fs';
import path from 'node:path';
import { startIssuer } from '../tools/dev-issuer.mjs';
import { REPO_ROOT, startGateway } from '../tests/e2e/harness.mjs';
import { LOOP_PATHS as PATH_NAMES, cliArg, cpuNs, loopPaths, median, medianInterval, workerdProcesses, writeWrapperWorker } from './load.mjs';

const ROUNDS = Number(cliArg('rounds', 30));
const CALLS = Number(cliArg('calls', 200));
const EVICT_MIB = Number(cliArg('evict-mib', 8));
const PATHS = loopPaths('coldcache', 'public,same,new');
const BUILD = path.join(REPO_ROOT, 'build/index.js');
if (!fs.existsSync(BUILD)) {
  console.error('coldcache: no build/index.js; build first (bash scripts/build.sh)');
  process.exit(2);
}

const config = writeWrapperWorker(path.join(REPO_ROOT, 'target/coldcache'), 'gateway-coldcache', `import gateway from ${JSON.stringify(BUILD)};
import reference from ${JSON.stringify(path.join(REPO_ROOT, 'benches/reference/index.js'))};

const BODY = JSON.stringify({ message: 'constant' });
const constant = { fetch: () => new Response(BODY, { headers: { 'content-type': 'application/json' } }) };
const targets = { gateway, reference, constant };
const buffer = new Uint8Array(${EVICT_MIB} << 20);

function evict() {
  let sum = 0;
  for (let i = 0; i < buffer.length; i += 64) sum += buffer[i]++;
  return sum;
}

export default {
  async fetch(request, env, ctx) {
    if (request.method !== 'POST') return new Response('ready');
    const { target, mode, tokens } = await request.json();
    let ok = 0;
    for (const token of tokens) {
      if (mode !== 'plain') evict();
      if (mode === 'evictOnly') continue;
      const request = token === null
        ? new Request('http://localhost/api/public')
        : new Request('http://localhost/api/private', { headers: { authorization: 'Bearer ' + token } });
      const response = await targets[target].fetch(request, env, ctx);
      await response.arrayBuffer();
      if (response.status === 200) ok++;
    }
    return Response.json({ ok });
  },
};
`);

const issuer = await startIssuer();
const worker = await startGateway({
  readyPath: '/',
  readyTimeoutMs: 600_000,
  extraArgs: ['--config', config],
  vars: { AUTH0_DOMAIN: issuer.domain, AUTH0_AUDIENCE: issuer.audience, REQUEST_LOGS: 'off' },
});
try {
  const { worker: pids } = workerdProcesses(worker.pid);
  const same = issuer.mint({ sub: 'coldcache-same' });
  let minted = 0;
  const tokens = (pathName) => Array.from({ length: CALLS }, () => {
    if (pathName === 'public') return null;
    return pathName === 'same' ? same : issuer.mint({ sub: `coldcache-${minted++}` });
  });
  // µs of CPU per call; every call must be answered 200.
  const cost = async (target, pathName, mode) => {
    const body = JSON.stringify({ target, mode, tokens: tokens(pathName) });
    const before = cpuNs(pids);
    const { ok } = await (await fetch(worker.url, { method: 'POST', body })).json();
    if (mode !== 'evictOnly' && ok !== CALLS) throw new Error(`coldcache: ${target} ${pathName} ${mode}: ${ok} of ${CALLS} answered 200`);
    return (cpuNs(pids) - before) / 1000 / CALLS;
  };
  const modes = ['plain', 'evicted', 'evictOnly'];
  for (const target of ['gateway', 'reference', 'constant']) {
    for (const pathName of PATHS) {
      for (const mode of modes) await cost(target, pathName, mode); // warm-up
      const runs = { plain: [], evicted: [], evictOnly: [] };
      for (let round = 0; round < ROUNDS; round++) {
        for (const mode of modes) runs[mode].push(await cost(target, pathName, mode));
      }
      const penalty = runs.evicted.map((x, i) => x - runs.evictOnly[i] - runs.plain[i]);
      const [low, high] = medianInterval(penalty);
      const us = (x) => x.toFixed(1);
      console.log(
        `${target}, ${PATH_NAMES[pathName]}: ${us(median(runs.plain))} µs per call with warm caches; cold caches add ${us(median(penalty))} µs (${us(low)}…${us(high)})`,
      );
    }
  }
} finally {
  await worker.stop();
  await issuer.close();
}
