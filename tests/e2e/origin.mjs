// A recording origin server for the proxy-mode end-to-end tests: it listens on loopback, records every
// request it receives (method, raw request target, headers, body size and SHA-256) and answers 200 JSON,
// or a canned response set with respond(). It can be stopped and started again on the same port, to play
// an origin that is down. Node built-ins only.
import crypto from 'node:crypto';
import http from 'node:http';

/**
 * Starts the origin on 127.0.0.1 (a free port unless `port` is given).
 *
 * Returns:
 * - `url`: `http://127.0.0.1:PORT`, `port`
 * - `count()`: requests whose body was fully received (and answered) since start or reset()
 * - `requests()`: their records, oldest first: {seq, method, url (raw request target, exactly as received),
 *   path, query (raw, without "?", or null), headers (Node's lower-cased object), rawHeaders ([[name, value]]
 *   as received), bytes, sha256 (hex of the body), receivedAt (ms)}
 * - `last()`: the newest record
 * - `started()`: requests whose headers arrived (bodies possibly still in flight)
 * - `inFlight(tag)`: bytes received so far of the in-flight request whose `x-test-tag` header is `tag`
 *   (-1 when none); lets a test see the first bytes of an upload reach the origin before the upload ends
 * - `respond(pathname, {status, statusText, headers, body, beforeBody} | fn(record) => {...})`: a canned answer
 *   for a raw path (the part of the request target before "?"); `headers` is an object or an array of [name, value]
 *   pairs (to send one header several times); `body` a string or Buffer; `beforeBody: true` answers as soon
 *   as the headers arrive, without reading the request body (its record has bytes -1)
 * - `reset()`: forgets records and counts; `stop()`: refuses connections (open ones are cut);
 *   `start()`: listens again on the same port; `close()`
 */
export async function startOrigin({ port = 0 } = {}) {
  const records = [];
  const canned = new Map();
  const inflight = new Map(); // tag -> bytes so far
  let seq = 0;
  let startedCount = 0;

  const server = http.createServer((req, res) => {
    startedCount++;
    const mySeq = ++seq;
    const hash = crypto.createHash('sha256');
    let bytes = 0;
    const tag = req.headers['x-test-tag'];
    const early = canned.get(req.url.split('?')[0]);
    if (early && typeof early === 'object' && early.beforeBody) {
      // Answer at once, without reading the body (like an origin refusing an upload with 413).
      records.push({ seq: mySeq, method: req.method, url: req.url, path: req.url.split('?')[0], query: null,
        headers: { ...req.headers }, rawHeaders: [], bytes: -1, sha256: null, receivedAt: Date.now() });
      res.writeHead(early.status ?? 413, Object.entries(early.headers ?? {}).flat());
      res.end(early.body);
      return;
    }
    if (tag !== undefined) inflight.set(tag, 0);
    req.on('data', (chunk) => {
      bytes += chunk.length;
      hash.update(chunk);
      if (tag !== undefined) inflight.set(tag, bytes);
    });
    req.on('error', () => {
      if (tag !== undefined) inflight.delete(tag);
    });
    req.on('end', () => {
      if (tag !== undefined) inflight.delete(tag);
      const q = req.url.indexOf('?');
      const rawHeaders = [];
      for (let i = 0; i < req.rawHeaders.length; i += 2) rawHeaders.push([req.rawHeaders[i], req.rawHeaders[i + 1]]);
      const record = {
        seq: mySeq,
        method: req.method,
        url: req.url,
        path: q === -1 ? req.url : req.url.slice(0, q),
        query: q === -1 ? null : req.url.slice(q + 1),
        headers: { ...req.headers },
        rawHeaders,
        bytes,
        sha256: hash.digest('hex'),
        receivedAt: Date.now(),
      };
      records.push(record);
      let answer = canned.get(record.path);
      if (typeof answer === 'function') answer = answer(record);
      if (answer) {
        const headerList = Array.isArray(answer.headers)
          ? answer.headers
          : Object.entries(answer.headers ?? {});
        const flat = [];
        for (const [n, v] of headerList) flat.push(n, v);
        if (answer.statusText) res.writeHead(answer.status ?? 200, answer.statusText, flat);
        else res.writeHead(answer.status ?? 200, flat);
        res.end(req.method === 'HEAD' ? undefined : answer.body);
        return;
      }
      const body = JSON.stringify({ seq: mySeq, method: record.method, url: record.url, bytes, sha256: record.sha256 });
      res.writeHead(200, { 'content-type': 'application/json', 'x-origin-seq': String(mySeq) });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
  });
  server.keepAliveTimeout = 5_000;
  server.requestTimeout = 0; // 50 MiB uploads may take a while

  const listen = (p) => new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(p, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  await listen(port);
  const actualPort = server.address().port;
  let listening = true;

  async function stopListening() {
    if (!listening) return;
    listening = false;
    const done = new Promise((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await done;
  }

  return {
    port: actualPort,
    url: `http://127.0.0.1:${actualPort}`,
    count: () => records.length,
    started: () => startedCount,
    requests: () => records.map((r) => ({ ...r })),
    last: () => records[records.length - 1],
    inFlight: (tag) => (inflight.has(tag) ? inflight.get(tag) : -1),
    respond(pathname, answer) {
      if (answer === undefined) canned.delete(pathname);
      else canned.set(pathname, answer);
    },
    reset() {
      records.length = 0;
      startedCount = 0;
    },
    get listening() {
      return listening;
    },
    stop: stopListening,
    async start() {
      if (listening) return;
      await listen(actualPort);
      listening = true;
    },
    close: stopListening,
  };
}
