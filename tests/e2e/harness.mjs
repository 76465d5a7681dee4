// Helpers for the end-to-end tests: build the worker, run `wrangler dev` instances with given vars, and
// send raw HTTP requests (`request`, the one request helper). The checks every error response must pass are
// in ./contract.mjs. Node built-ins only.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const WRANGLER_JS = path.join(REPO_ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js');

const ANSI = /\u001b\[[0-9;?]*[A-Za-z]/g;

/** Runs a command in the repo root; resolves {code, output} (stdout and stderr interleaved). */
function run(cmd, args, { timeoutMs = 30 * 60_000, env = process.env } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => {
      killGroup(child.pid, 'SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')} timed out after ${timeoutMs} ms\n${output}`));
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), output });
    });
  });
}

/** A TOML value for a JSON value: strings, numbers, booleans, arrays and inline tables. */
function toml(value) {
  if (Array.isArray(value)) return `[${value.map(toml).join(', ')}]`;
  if (value && typeof value === 'object') {
    return `{ ${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)} = ${toml(v)}`).join(', ')} }`;
  }
  return JSON.stringify(value);
}

// Directories made for configurations, removed when this process exits (wrangler writes its own files into
// them while a gateway runs, so they cannot go sooner).
const configDirs = new Set();
function temporaryConfigDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gateway-config-'));
  configDirs.add(dir);
  return dir;
}

/**
 * A wrangler.toml in a temporary directory, the way an operator would write it, for `--config`: the Worker
 * `name`, `main` (the built gateway unless given), `vars` under [vars] (objects and arrays as native TOML
 * values), then `sections`, TOML text such as bindings. Returns its path.
 */
export function wranglerToml(vars, { name = 'auth0-edge-gateway-test', main = path.join(REPO_ROOT, 'build', 'index.js'), sections = [], dir } = {}) {
  const file = path.join(dir ?? temporaryConfigDir(), 'wrangler.toml');
  const lines = [
    `name = ${JSON.stringify(name)}`,
    `main = ${JSON.stringify(main)}`,
    'compatibility_date = "2026-04-20"',
    '',
    '[vars]',
    ...Object.entries(vars).map(([k, v]) => `${k} = ${toml(v)}`),
    '',
    ...sections,
  ];
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

let buildPromise;
/**
 * Builds the worker once per process with `bash scripts/build.sh` (a no-op when up to date).
 * Needs `bash scripts/setup.sh` to have run. Throws with the build output on failure.
 */
export function buildWorker() {
  buildPromise ??= run('bash', ['scripts/build.sh']).then(({ code, output }) => {
    if (code !== 0) throw new Error(`bash scripts/build.sh failed (exit ${code}):\n${output}`);
    return output;
  });
  return buildPromise;
}

/** A free TCP port on 127.0.0.1 (bound and released; tiny race accepted). */
export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function distinctFreePorts(n) {
  const ports = new Set();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

// Gateways still running when this process exits (a crash, a forgotten stop()) are killed with it, and the
// temporary configurations go.
const live = new Set();
process.on('exit', () => {
  for (const pid of live) killGroup(pid, 'SIGKILL');
  for (const dir of configDirs) fs.rmSync(dir, { recursive: true, force: true });
});

/**
 * Starts `wrangler dev` for the gateway with the given vars on fresh ports and a fresh persistence dir.
 * Resolves once it answers HTTP. Returns {url, port, logs(), jsonLogs(), waitForLog(pred), stop()}.
 *
 * Vars go through `--var KEY:VALUE` (wrangler splits on the first colon only, so URLs survive). An empty
 * `--env-file` is passed too, so that a developer's `.dev.vars` or `.env` never leaks into a test.
 * The log level is `log` (wrangler's default): `--log-level info` hides the worker's console.log lines.
 *
 * `persistTo` reuses a persistence dir (KV, Cache API) across gateways; it is then left in place on stop().
 *
 * @param {{vars?: Record<string,string>, port?: number, logLevel?: string, readyPath?: string, readyTimeoutMs?: number, persistTo?: string}} [opts]
 */
export async function startGateway(options = {}) {
  // Free ports are picked, released, then bound by wrangler; with several gateways starting at once, another
  // wrangler's internal port can take one in between. Such a start is retried on other ports.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startGatewayOnce(options);
    } catch (err) {
      if (attempt >= 3 || options.port || !/Address already in use/.test(String(err?.message))) throw err;
    }
  }
}

async function startGatewayOnce({ vars = {}, port, logLevel = 'log', readyPath = '/api/public', readyTimeoutMs = 120_000, extraArgs = [], persistTo } = {}) {
  const [gwPort, inspectorPort] = port
    ? [port, (await distinctFreePorts(2)).find((p) => p !== port)]
    : await distinctFreePorts(2);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gateway-e2e-'));
  const persistDir = persistTo ?? path.join(tmp, 'state');
  const envFile = path.join(tmp, 'empty.env');
  fs.writeFileSync(envFile, '');

  const args = [
    WRANGLER_JS, 'dev',
    '--ip', '127.0.0.1',
    '--port', String(gwPort),
    '--inspector-port', String(inspectorPort),
    '--persist-to', persistDir,
    '--env-file', envFile,
    '--show-interactive-dev-session=false',
    '--log-level', logLevel,
    ...extraArgs,
  ];
  for (const [k, v] of Object.entries(vars)) {
    if (v === undefined) continue;
    if (k.includes(':')) throw new Error(`startGateway: var name ${k} contains a colon`);
    args.push('--var', `${k}:${v}`);
  }

  const env = { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: 'true', NO_COLOR: '1', FORCE_COLOR: '0' };
  delete env.CLOUDFLARE_INCLUDE_PROCESS_ENV;

  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  live.add(child.pid);
  const lines = [];
  const partial = { stdout: '', stderr: '' };
  const onData = (stream) => (chunk) => {
    const text = partial[stream] + chunk.toString('utf8').replace(ANSI, '');
    const parts = text.split(/\r?\n/);
    partial[stream] = parts.pop();
    lines.push(...parts);
  };
  child.stdout.on('data', onData('stdout'));
  child.stderr.on('data', onData('stderr'));
  let exited = false;
  let exitInfo = null;
  const exitPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exited = true;
      exitInfo = { code, signal };
      live.delete(child.pid);
      resolve(exitInfo);
    });
  });
  const allLines = () => {
    const tail = [partial.stdout, partial.stderr].filter(Boolean);
    return [...lines, ...tail];
  };

  const url = `http://127.0.0.1:${gwPort}`;
  let stopped = false;
  async function stop() {
    if (stopped) return exitPromise;
    stopped = true;
    if (!exited) {
      killGroup(child.pid, 'SIGTERM');
      const timer = setTimeout(() => killGroup(child.pid, 'SIGKILL'), 5_000);
      await exitPromise;
      clearTimeout(timer);
    }
    // workerd may outlive wrangler for a moment: make sure nothing of the group survives.
    killGroup(child.pid, 'SIGKILL');
    fs.rmSync(tmp, { recursive: true, force: true });
    return exitInfo;
  }

  const started = Date.now();
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`wrangler dev exited before answering (${JSON.stringify(exitInfo)}):\n${allLines().join('\n')}`);
    }
    if (Date.now() - started > readyTimeoutMs) {
      const out = allLines().join('\n');
      await stop();
      throw new Error(`wrangler dev did not answer on ${url} within ${readyTimeoutMs} ms:\n${out}`);
    }
    // Ready once this wrangler says it listens on the port and the port answers: another process that
    // took the port between its pick and wrangler's bind must never pass for this gateway.
    const listening = allLines().some((line) => line.includes(`Ready on ${url}`));
    if (listening) {
      try {
        await request(`${url}${readyPath}`, { timeoutMs: 3_000 });
        break;
      } catch {
        // Not answering yet.
      }
    }
    await sleep(250);
  }

  return {
    url,
    port: gwPort,
    inspectorPort,
    pid: child.pid,
    startupMs: Date.now() - started,
    /** All output lines so far (stdout and stderr, ANSI codes stripped). */
    logs: allLines,
    /** The output lines that parse as JSON objects (the worker's structured logs). */
    jsonLogs: () => allLines().flatMap((l) => {
      const t = l.trim();
      if (!t.startsWith('{')) return [];
      try {
        const v = JSON.parse(t);
        return v && typeof v === 'object' && !Array.isArray(v) ? [v] : [];
      } catch {
        return [];
      }
    }),
    /** Resolves with the first line matching `pred`, polling until `timeoutMs`; rejects on timeout. */
    async waitForLog(pred, timeoutMs = 5_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const hit = allLines().find(pred);
        if (hit !== undefined) return hit;
        if (Date.now() > until) throw new Error('waitForLog: no matching line');
        await sleep(50);
      }
    },
    stop,
  };
}

/**
 * The one request helper of the end-to-end tests: one HTTP request with exactly the given path and headers.
 *
 * `url` is `http://host:port` followed by the path, which goes out byte for byte as written: Node's WHATWG
 * URL parser is never applied to it, so `..`, `%2e%2e`, `\` and odd escapes reach the server unresolved.
 * `headers` is an object (an array value gives one header line per element) or an array of [name, value]
 * pairs (the same name may then appear in several spellings); values are sent as is (empty values, odd
 * spacing, huge values). `Host` is added unless given. `body` is a string or Buffer; Content-Length is set for
 * it unless a Transfer-Encoding header is given, and `chunks` then writes several pieces. A fresh connection
 * per request unless an `agent` is given (the load test's keep-alive pool).
 *
 * Resolves {status, headers, rawHeaders, body, text, json, ms}: `headers` has lower-case names and repeated
 * headers joined by Node's rules (`www-authenticate` with ", "); `rawHeaders` keeps [name, value] pairs as
 * received; `body` is a Buffer and `text` its UTF-8; `json` is undefined when the body is not JSON; `ms` is
 * the time from sending to the end of the response.
 *
 * @param {string} url
 * @param {{method?: string, headers?: Record<string, string|string[]>|Array<[string, string]>, body?: string|Buffer,
 *   chunks?: Array<string|Buffer>, timeoutMs?: number, agent?: http.Agent|false}} [options]
 */
export function request(url, { method = 'GET', headers = {}, body, chunks, timeoutMs = 15_000, agent = false } = {}) {
  const m = /^http:\/\/([^/:]+)(?::(\d+))?(\/.*)?$/s.exec(url);
  if (!m) return Promise.reject(new Error(`request: not an http://host[:port]/path URL: ${url}`));
  const [, host, port = '80', path = '/'] = m;
  const list = (Array.isArray(headers) ? headers : Object.entries(headers)).flatMap(([n, v]) =>
    (Array.isArray(v) ? v.map((x) => [n, x]) : [[n, v]]));
  if (!list.some(([n]) => n.toLowerCase() === 'host')) list.unshift(['Host', `${host}:${port}`]);
  const chunked = list.some(([n]) => n.toLowerCase() === 'transfer-encoding');
  if (body !== undefined && !chunked) list.push(['Content-Length', String(Buffer.byteLength(body))]);
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = http.request(
      { host, port: Number(port), path, method, headers: list.flat(), agent, timeout: timeoutMs },
      (res) => readResponse(res, started).then(resolve, reject),
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${url} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    if (chunks) for (const c of chunks) req.write(c);
    req.end(body);
  });
}

/**
 * Reads a node:http response to its end and resolves the result of `request` (started: the performance.now()
 * of sending, for `ms`). For the rare test that must drive http.request itself (a streamed upload).
 */
export function readResponse(res, started = performance.now()) {
  return new Promise((resolve, reject) => {
    const parts = [];
    res.on('data', (c) => parts.push(c));
    res.on('end', () => {
      const body = Buffer.concat(parts);
      const text = body.toString('utf8');
      let json;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      const rawHeaders = [];
      for (let i = 0; i < res.rawHeaders.length; i += 2) rawHeaders.push([res.rawHeaders[i], res.rawHeaders[i + 1]]);
      resolve({ status: res.statusCode, statusText: res.statusMessage, headers: res.headers, rawHeaders, body, text, json, ms: performance.now() - started });
    });
    res.on('error', reject);
  });
}

/** All values of a response header (case-insensitive) from rawHeaders. */
export function headerValues(res, name) {
  const n = name.toLowerCase();
  return res.rawHeaders.filter(([k]) => k.toLowerCase() === n).map(([, v]) => v);
}
