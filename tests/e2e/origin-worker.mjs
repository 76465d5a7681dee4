// An origin Worker for the ORIGIN_SERVICE end-to-end tests (tests/e2e/operations.test.mjs): run next to the
// gateway in the same `wrangler dev`, reachable only through the service binding. It answers every request
// with what it received, and `seq`, how many requests it has seen, so that a test can tell that a refused
// request never reached it.
//
// It also stands in for the Analytics Engine dataset, whose local simulator keeps nothing: the gateway's
// METRICS is bound to this Worker too, and `writeDataPoint` is called over RPC with the very object the
// gateway builds. `GET /echo/metrics-points` answers the points kept since the last such request (and is
// not counted in `seq`).
import { WorkerEntrypoint } from 'cloudflare:workers';

let seq = 0;
let points = [];

export default class Origin extends WorkerEntrypoint {
  async fetch(request) {
    if (new URL(request.url).pathname === '/echo/metrics-points') {
      const kept = points;
      points = [];
      return Response.json(kept);
    }
    seq += 1;
    const body = new Uint8Array(await request.arrayBuffer());
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', body));
    return Response.json({
      seq,
      method: request.method,
      url: request.url,
      headers: Object.fromEntries(request.headers),
      bytes: body.length,
      sha256: [...digest].map((b) => b.toString(16).padStart(2, '0')).join(''),
    });
  }

  writeDataPoint(point) {
    points.push(point);
  }
}
