//! An edge authentication gateway for Auth0 access tokens, compiled to WebAssembly for Cloudflare Workers.
//!
//! Read it from the bottom up; each layer uses only the ones above it in this list, never one below:
//!
//! - `out_of_line`: how a step that only some requests take stays out of the functions every request
//!   runs, so that an isolate compiles it only when a request takes it.
//! - [`crypto`]: verification-only RSA and P-256 arithmetic (no JOSE, no I/O), the crate `crates/crypto`.
//! - [`http`]: what HTTP hands the gateway: URLs and authorities, paths, header names, the
//!   `Authorization` header, CORS, the headers sent to an origin.
//! - [`jose`]: base64url, strict JSON, compact JWS, JWKs, access tokens, DPoP proofs, server nonces.
//! - [`idp`]: the accepted issuers, OIDC discovery, and the key cache with its refresh plan.
//! - [`state`]: what an isolate remembers between requests: verified tokens and seen proofs.
//! - [`policy`]: the route table (which requests need a token, and which scopes).
//! - [`config`]: every setting, read and validated once per isolate into the types above.
//! - [`error`]: the one error type and its rendering on the wire.
//! - [`gateway`]: the request path, as named steps, over a clock, a key source and a replay store.
//! - `demo`: the quickstart's demo endpoints.
//! - `adapter` (wasm32 only): the thin Workers layer: fetch handler, Cache API, outbound fetch, Durable
//!   Object, logs.
//!
//! Everything but `adapter` is plain Rust, tested natively. The public surface is what the integration
//! tests and benchmarks under `tests/` and `benches/` exercise; the rest is `pub(crate)`.

pub mod config;
pub mod error;
pub mod gateway;
pub mod http;
pub mod idp;
pub mod jose;
pub(crate) mod out_of_line;
pub mod policy;
pub mod state;

// The arithmetic lives in its own crate (crates/crypto), built for speed while the rest is built for size
// (Cargo.toml, [profile.release]).
pub use edge_gateway_crypto as crypto;

// Served by the Workers adapter only.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod demo;

#[cfg(target_arch = "wasm32")]
mod adapter;

#[cfg(all(target_arch = "wasm32", feature = "bench"))]
pub mod bench;

// Fixture keys and signing helpers, shared with the integration tests.
#[cfg(test)]
#[path = "../tests/common/mod.rs"]
mod test_keys;

/// Talc instead of the standard library's dlmalloc: a smaller module at the same speed (README "Size").
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
