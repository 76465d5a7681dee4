// The micro-benchmarks inside workerd (benches/run.mjs): the bench module as a Worker, timed from outside by
// the CPU of its workerd process. POST {load: data} once, then {name, rounds} runs an operation of
// benches/operations.mjs; {name: "none"} is the same request with no call, the cost subtracted.
import wasmModule from '../../target/bench/web/auth0_edge_gateway_bg.wasm';
import * as mod from '../../target/bench/web/auth0_edge_gateway.js';
import { operations } from '../operations.mjs';

mod.initSync({ module: wasmModule });
let ops;

export default {
  async fetch(request) {
    if (request.method !== 'POST') return new Response('ready');
    const body = await request.json();
    if (body.load) {
      const { jwks, domain, audience } = body.load;
      if (!mod.bench_load(jwks, domain, audience)) return new Response('bench_load failed', { status: 500 });
      // Workers advance Date.now() only between I/O, which is precise enough for a token's expiry.
      ops = operations(mod, body.load, () => Math.floor(Date.now() / 1000));
      return new Response('ready');
    }
    if (body.name === 'none') return new Response('ok');
    const [n, fn] = ops?.[body.name] ?? [];
    if (!fn) return new Response(`no operation ${body.name}`, { status: 400 });
    for (let i = 0; i < n; i++) {
      if (!fn(i)) return new Response(`${body.name}: call ${i} failed`, { status: 500 });
    }
    return new Response('ok');
  },
};
