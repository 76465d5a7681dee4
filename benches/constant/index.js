// The runtime's own floor for the benchmark (benches/run.mjs): a Worker that reads nothing of the request
// and answers every one with the public route's body. What it costs per path is what workerd spends on
// the request itself (its size, its headers) before any worker code looks at it.
const BODY = JSON.stringify({ message: "Hello from a public endpoint! You don't need to be authenticated to see this." });

export default {
  fetch() {
    return new Response(BODY, { headers: { 'content-type': 'application/json', 'cache-control': 'no-store' } });
  },
};
