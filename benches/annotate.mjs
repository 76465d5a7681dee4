// The machine code workerd's V8 makes of the crypto crate, with where its time goes (README "Why the same
// wasm can cost more under workerd than in Node"):
//
//   node benches/crypto-ab.mjs --workerd [--a REV] [--b REV|worktree] [--op OP] ...   (builds the modules)
//   node benches/annotate.mjs [--side a|b] [--calls N] [--function NAME]
//
// Runs the module of one side of the last `crypto-ab.mjs --workerd` run (target/crypto-ab/worker) under
// workerd alone (benches/direct.mjs) with V8's `--perf-prof`, which writes the code it generates to a jitdump
// file. Linux `perf` samples the process while the module verifies N signatures ten times over, `perf
// inject --jit` joins the samples to that code, and `perf annotate` lists it. Prints the functions with the
// largest shares of the samples; then, for the hottest function (or the one whose name contains --function),
// the share of each of its loops and the instructions of its innermost hot loop, each with its share.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../tests/e2e/harness.mjs';
import { startDirect } from './direct.mjs';
import { cliArg } from './load.mjs';

const SIDE = cliArg('side', 'b');
const CALLS = Number(cliArg('calls', 3000));
const FUNCTION = cliArg('function', '');
const SOURCE = path.join(REPO_ROOT, 'target/crypto-ab/worker');
const DIR = path.join(REPO_ROOT, 'target/annotate');

if (!fs.existsSync(path.join(SOURCE, 'index.js'))) {
  console.error('annotate: run `node benches/crypto-ab.mjs --workerd` first; it builds the modules this reads');
  process.exit(2);
}
fs.rmSync(DIR, { recursive: true, force: true });
fs.mkdirSync(DIR, { recursive: true });
// The wrapper imports the driver by its absolute path; under workerd alone it is a module beside it.
const main = path.join(DIR, 'main.js');
fs.writeFileSync(
  main,
  fs.readFileSync(path.join(SOURCE, 'index.js'), 'utf8').replace(/from "[^"]*driver\.mjs"/, 'from "./driver.mjs"'),
);
const worker = await startDirect({
  dir: path.join(DIR, 'worker'),
  modules: [
    { name: 'main.js', kind: 'esModule', file: main },
    { name: 'a.wasm', kind: 'wasm', file: path.join(SOURCE, 'a.wasm') },
    { name: 'b.wasm', kind: 'wasm', file: path.join(SOURCE, 'b.wasm') },
    { name: 'driver.mjs', kind: 'esModule', file: path.join(REPO_ROOT, 'benches/crypto-ab/driver.mjs') },
  ],
  flags: ['--perf-prof'],
});
const verify = async (calls) => {
  const response = await fetch(worker.url, { method: 'POST', body: JSON.stringify({ side: SIDE, calls }) });
  const verified = await response.json();
  if (verified !== calls) throw new Error(`annotate: side ${SIDE} verified ${verified} of ${calls}`);
};
const data = path.join(DIR, 'perf.data');
try {
  // Warm-up first, so that the samples fall in the optimised code.
  await verify(CALLS);
  const perf = spawn('perf', ['record', '-k', '1', '-q', '-e', 'cpu-clock', '-F', '20000', '-p', String(worker.pid), '-o', data], {
    stdio: 'inherit',
  });
  await new Promise((resolve) => setTimeout(resolve, 300));
  for (let i = 0; i < 10; i++) await verify(CALLS);
  perf.kill('SIGINT');
  await new Promise((resolve) => perf.on('exit', resolve));
} finally {
  await worker.stop();
}
const perf = (args) => execFileSync('perf', args, { cwd: DIR, encoding: 'utf8', maxBuffer: 1 << 28, stdio: ['ignore', 'pipe', 'ignore'] });
perf(['inject', '--jit', '-i', data, '-o', path.join(DIR, 'perf.jit.data')]);
const report = perf(['report', '-i', 'perf.jit.data', '--stdio', '--sort', 'sym'])
  .split('\n')
  .map((line) => line.match(/^\s*([0-9.]+)%\s+\[\.\]\s+(\S+)/))
  .filter(Boolean)
  .map(([, share, symbol]) => [Number(share), symbol]);
console.log(`side ${SIDE}: the functions with the largest shares of the samples`);
for (const [share, symbol] of report.slice(0, 8)) console.log(`${share.toFixed(1).padStart(6)}%  ${symbol}`);
const chosen = report.find(([, symbol]) => symbol.startsWith('JS:') && symbol.includes(FUNCTION));
if (!chosen) {
  console.error(`annotate: no generated function${FUNCTION ? ` containing ${FUNCTION}` : ''} among the samples`);
  process.exit(1);
}

// perf annotate's lines: "share : address: instruction", the shares within the function.
const code = perf(['annotate', '-i', 'perf.jit.data', '--stdio', '-s', chosen[1]])
  .split('\n')
  .map((line) => line.match(/^\s*([0-9.]+)\s*:\s*([0-9a-f]+):\s*(.*)$/))
  .filter(Boolean)
  .map(([, share, address, text]) => ({ share: Number(share), address: parseInt(address, 16), text: text.replace(/\s*<.*>$/, '') }));
// A loop is a conditional backward jump, from its address back to its target (an unconditional one is
// mostly the way back from out-of-line code, such as the stack check's).
const loops = code
  .map(({ address, text }) => {
    const jump = text.match(/^j(?!mp)\w+\s+([0-9a-f]+)$/);
    const target = jump && parseInt(jump[1], 16);
    return jump && target < address ? { from: target, to: address } : null;
  })
  .filter(Boolean)
  .map((loop) => ({ ...loop, share: code.filter((c) => c.address >= loop.from && c.address <= loop.to).reduce((s, c) => s + c.share, 0) }));
console.log(`\n${chosen[1]} (${chosen[0].toFixed(1)}% of the samples): its loops, by share of its samples`);
for (const loop of loops.sort((x, y) => y.share - x.share)) {
  const size = code.filter((c) => c.address >= loop.from && c.address <= loop.to).length;
  console.log(`${loop.share.toFixed(1).padStart(6)}%  ${loop.from.toString(16)}-${loop.to.toString(16)}, ${size} instructions`);
}
// The innermost loop that holds a tenth of the samples or more: the smallest such range.
const hot = loops.filter((loop) => loop.share >= 10).sort((x, y) => x.to - x.from - (y.to - y.from))[0];
if (hot) {
  console.log(`\nits innermost hot loop, ${hot.from.toString(16)}-${hot.to.toString(16)}:`);
  for (const c of code.filter((c) => c.address >= hot.from && c.address <= hot.to)) {
    console.log(`${c.share.toFixed(2).padStart(6)}  ${c.address.toString(16).padStart(5)}: ${c.text}`);
  }
}
