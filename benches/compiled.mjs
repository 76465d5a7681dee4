// What the first request of an isolate makes V8 compile (README "What each step bought"):
//
//   node benches/compiled.mjs [--build DIR] [--path public|token] [--top N]
//
// Starts the build (build/ by default, scripts/build.sh) under workerd alone (benches/direct.mjs) with
// V8's `--perf-basic-prof`, sends it one request (`public`: /api/public; `token`: /api/private with a
// Bearer token of the local issuer), and lists the wasm functions V8 compiled for it with its baseline
// compiler, Liftoff, which compiles a function whole on its first call: their number, the size of their
// machine code, and the largest. Build with GATEWAY_KEEP_WASM_NAMES=1 for their names. The perf map's
// writes slow the request, so its CPU time here is not the figure to quote (benches/young.mjs is).
import fs from 'node:fs';
import path from 'node:path';
import { startIssuer } from '../tools/dev-issuer.mjs';
import { REPO_ROOT } from '../tests/e2e/harness.mjs';
import { buildModules, startDirect } from './direct.mjs';
import { cliArg } from './load.mjs';

const BUILD = path.resolve(String(cliArg('build', path.join(REPO_ROOT, 'build'))));
const PATH = String(cliArg('path', 'public'));
const TOP = Number(cliArg('top', 20));
if (!['public', 'token'].includes(PATH)) throw new Error(`compiled: --path public or token, not ${PATH}`);

const issuer = await startIssuer();
const worker = await startDirect({
  dir: path.join(REPO_ROOT, 'target/compiled'),
  modules: buildModules(BUILD),
  vars: { AUTH0_DOMAIN: issuer.domain, AUTH0_AUDIENCE: issuer.audience, REQUEST_LOGS: 'off' },
  flags: ['--perf-basic-prof'],
});
try {
  const token = PATH === 'token' ? issuer.mint({ scope: 'read:messages' }) : null;
  const response = await fetch(`${worker.url}/api/${token ? 'private' : 'public'}`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  await response.arrayBuffer();
  if (response.status !== 200) throw new Error(`compiled: the request was answered ${response.status}`);
  // Lines of the map: `address size name`; a wasm function's name ends in `-<index>-<tier>`.
  const liftoff = [];
  for (const line of fs.readFileSync(worker.map, 'utf8').split('\n')) {
    const match = line.match(/^\S+ (\S+) JS:(.*)-\d+-liftoff$/);
    if (match) liftoff.push({ bytes: parseInt(match[1], 16), name: match[2] });
  }
  liftoff.sort((a, b) => b.bytes - a.bytes);
  const kb = (bytes) => (bytes / 1024).toFixed(1);
  const total = liftoff.reduce((sum, f) => sum + f.bytes, 0);
  console.log(`first ${PATH} request: ${liftoff.length} wasm functions compiled by Liftoff, ${kb(total)} KB of machine code`);
  for (const f of liftoff.slice(0, TOP)) console.log(`${kb(f.bytes).padStart(7)} KB  ${f.name}`);
} finally {
  await worker.stop();
  await issuer.close();
}
