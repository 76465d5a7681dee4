// A worker run directly under workerd, without wrangler: no dev proxy in front of it, no Miniflare
// simulation of the Cache API or KV behind it (the Cache API of a bare workerd stores nothing), one process
// whose threads can be read apart (README "Performance"). Used by benches/young.mjs --direct and
// benches/tiering.mjs.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { REPO_ROOT } from '../tests/e2e/harness.mjs';

const WORKERD = path.join(REPO_ROOT, 'node_modules/workerd/bin/workerd');
const REFERENCE = path.join(REPO_ROOT, 'benches/reference/index.js');

/** The modules of a build directory of scripts/build.sh, named under `prefix`. */
export function buildModules(build, prefix = '') {
  if (!fs.existsSync(path.join(build, 'index.js'))) throw new Error(`direct: no ${build}/index.js; build first (bash scripts/build.sh)`);
  return [
    { name: `${prefix}index.js`, kind: 'esModule', file: path.join(build, 'index.js') },
    { name: `${prefix}index_bg.wasm`, kind: 'wasm', file: path.join(build, 'index_bg.wasm') },
  ];
}

/** The jose reference (benches/reference) bundled into one module by esbuild, as wrangler would. */
export function referenceModules(dir) {
  const out = path.join(dir, 'reference.js');
  execFileSync(path.join(REPO_ROOT, 'node_modules/.bin/esbuild'), [
    REFERENCE, '--bundle', '--format=esm', '--platform=browser', '--conditions=worker,browser', '--log-level=warning', `--outfile=${out}`,
  ]);
  return [{ name: 'index.js', kind: 'esModule', file: out }];
}

const freePort = () =>
  new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });

const listening = (port) =>
  new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });

/**
 * Starts workerd in `dir` with `modules` (the first is the main one), text bindings `vars` and V8 `flags`,
 * outbound requests allowed to loopback. Resolves once its socket accepts connections, before any request
 * reaches the worker, so that the first request is the isolate's first. `wrapper`: a command workerd runs
 * under (valgrind, for benches/instructions.mjs), in the same process.
 */
export async function startDirect({ dir, modules, vars = {}, flags = [], wrapper = [] }) {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const embedded = modules.map((m, i) => {
    const file = `module-${i}${path.extname(m.file)}`;
    fs.copyFileSync(m.file, path.join(dir, file));
    return `(name = ${JSON.stringify(m.name)}, ${m.kind} = embed ${JSON.stringify(file)})`;
  });
  const bindings = Object.entries(vars).map(([k, v]) => `(name = ${JSON.stringify(k)}, text = ${JSON.stringify(String(v))})`);
  fs.writeFileSync(
    path.join(dir, 'config.capnp'),
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    (name = "internet", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [(name = "http", address = "127.0.0.1:0", http = (), service = "main")],
  v8Flags = [${flags.map((f) => JSON.stringify(f)).join(', ')}],
);
const worker :Workerd.Worker = (
  modules = [${embedded.join(', ')}],
  compatibilityDate = "2026-04-20",
  globalOutbound = "internet",
  bindings = [${bindings.join(', ')}],
);
`,
  );
  const port = await freePort();
  const command = [...wrapper, WORKERD, 'serve', 'config.capnp', `--socket-addr=http=127.0.0.1:${port}`];
  const child = spawn(command[0], command.slice(1), {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  for (let tries = 0; !(await listening(port)); tries++) {
    // A wrapped workerd starts many times slower.
    if (child.exitCode !== null || tries > (wrapper.length ? 6000 : 500)) {
      child.kill();
      throw new Error(`direct: workerd did not start: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid,
    // For benches/load.mjs' batch(): the one process, and no dev proxy.
    processes: { worker: [child.pid], proxy: [] },
    map: `/tmp/perf-${child.pid}.map`,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.on('exit', resolve);
        child.kill();
      }),
  };
}

/** CPU ns of each thread of a process, by thread id. */
export function threadCpuNs(pid) {
  const threads = {};
  for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
    threads[task] = Number(fs.readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
  }
  return threads;
}
