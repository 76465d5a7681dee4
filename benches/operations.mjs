// The micro-benchmarks' operations, shared by the run in Node (benches/run.mjs) and the run inside workerd
// (benches/micro-worker), so that both time the same calls on the same data. `mod` is the bench module
// (wasm32, `--features bench`, already given its keys by `bench_load`), `data` what `microData` in
// benches/run.mjs made, `now()` the time in seconds. Each operation is [calls per round, call i → ok].
export function operations(mod, data, now) {
  const rpcBody = new TextEncoder().encode(data.rpcBody);
  const { tokens, psTokens, orgToken, proofs, url, bound, jwks, micro } = data;
  return {
    'verify a new RS256 token': [micro, (i) => mod.bench_verify_token(tokens[i], now())],
    'verify a new PS256 token': [micro, (i) => mod.bench_verify_token(psTokens[i], now())],
    'a token seen before (cache)': [micro * 20, () => mod.bench_verify_cached(orgToken, now())],
    'a token seen before, route with audiences and claim rules': [micro * 20, () => mod.bench_verify_cached_with_policy(orgToken, now())],
    'verify a DPoP proof (ES256)': [micro, (i) => mod.bench_verify_proof(proofs[i], 'GET', url, bound, now(), 0)],
    'verify a DPoP proof (ES256), its key prepared': [micro, (i) => mod.bench_verify_proof(proofs[i], 'GET', url, bound, now(), 1)],
    "a key's second DPoP proof: verified, then the key prepared": [micro, (i) => mod.bench_verify_proof(proofs[i], 'GET', url, bound, now(), 2)],
    'parse a JWKS (1 RSA key)': [micro, () => mod.bench_parse_jwks(jwks) === 1],
    'match a guarded JSON-RPC call': [micro * 20, () => mod.bench_jsonrpc(rpcBody, 'tools/call', 'delete_repo') === 1],
  };
}
