// A/B comparison of builds of a worker under `wrangler dev`, for measuring one change at a time:
//
//   node benches/compare.mjs <wrangler.toml of A> <wrangler.toml of B> [<wrangler.toml of C> ...]
//        [--rounds N] [--requests N] [--paths public,same,new,dpop,mcp,mcpOpen]
//
// Each configuration is started with `wrangler dev --config`; give each its own directory with a copy of
// the built worker (for the gateway: a copy of build/ beside a wrangler.toml without the [build] section).
// Rounds run every worker in an order that rotates from round to round, and every path once each; it
// prints, per path, the median CPU µs per request of each worker's workerd process and, for each worker
// after A, the median of its per-round differences from A with their 95% interval and every round's
// difference. A change is believed when the interval excludes zero. More than two builds (probes that
// answer at successive points of the request path, say) share one run, so that they see the same machine.
import { startIssuer } from '../tools/dev-issuer.mjs';
import { startGateway } from '../tests/e2e/harness.mjs';
import { batch, benchPaths, cliArg, closeAgent, median, medianInterval } from './load.mjs';

const args = process.argv.slice(2);
const flags = args.findIndex((a) => a.startsWith('--'));
const configs = flags < 0 ? args : args.slice(0, flags);
if (configs.length < 2) {
  console.error('usage: node benches/compare.mjs <wrangler.toml A> <wrangler.toml B> [<wrangler.toml C> ...] [--rounds N] [--requests N] [--paths public,same,new,dpop,mcp,mcpOpen]');
  process.exit(2);
}
const ROUNDS = Number(cliArg('rounds', 10));
const REQUESTS = Number(cliArg('requests', 400));
const PATHS = cliArg('paths', 'public,same,new,dpop').split(',');

const issuer = await startIssuer();
const vars = { AUTH0_DOMAIN: issuer.domain, AUTH0_AUDIENCE: issuer.audience, REQUEST_LOGS: 'off' };
const start = async (name, config) => ({
  name,
  ...(await startGateway({ vars, readyTimeoutMs: 600_000, extraArgs: ['--config', config] })),
});
const names = configs.map((_, i) => String.fromCharCode(65 + i));
const workers = [];
for (const [i, config] of configs.entries()) workers.push(await start(names[i], config));
try {
  const paths = benchPaths(issuer, PATHS.includes('new') ? names : [], (ROUNDS + 1) * REQUESTS);
  const runs = new Map();
  // Warm-up on requests the rounds do not use (new tokens come after theirs).
  for (const w of workers) {
    for (const p of PATHS) {
      const [pathname, headers, request] = paths[p](w);
      await batch(w, pathname, (i) => headers(i + ROUNDS * REQUESTS), REQUESTS, request);
      runs.set(`${w.name}/${p}`, []);
    }
  }
  for (let round = 0; round < ROUNDS; round++) {
    // Each worker takes each place in turn; with two, A and B alternate.
    for (const w of workers.map((_, i) => workers[(i + round) % workers.length])) {
      for (const p of PATHS) {
        const [pathname, headers, request] = paths[p](w);
        runs.get(`${w.name}/${p}`).push((await batch(w, pathname, (i) => headers(i + round * REQUESTS), REQUESTS, request)).worker);
      }
    }
  }
  for (const p of PATHS) {
    const a = runs.get(`A/${p}`);
    console.log(`${p}: A ${median(a).toFixed(0)} µs`);
    for (const name of names.slice(1)) {
      const b = runs.get(`${name}/${p}`);
      const differences = b.map((x, i) => x - a[i]);
      const [low, high] = medianInterval(differences);
      console.log(
        `  ${name} ${median(b).toFixed(0)} µs, ${name} - A median ${median(differences).toFixed(0)} µs, 95% interval ${low.toFixed(0)} to ${high.toFixed(0)} (rounds: ${differences.map((d) => d.toFixed(0)).join(' ')})`,
      );
    }
  }
} finally {
  for (const w of workers) await w.stop();
  await issuer.close();
  closeAgent();
}
