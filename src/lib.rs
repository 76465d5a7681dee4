//! An edge authentication gateway for Auth0 access tokens, compiled to WebAssembly for Cloudflare Workers.
//!
//! The core (every module but `adapter`) is plain Rust with no Workers types: it takes bytes, strings,
//! a clock and a key source, and is tested natively. The `adapter` module is the thin Workers layer:
//! fetch handler, Cache API, outbound fetch, environment.

pub mod authorization;
pub mod config;
pub mod cors;
pub mod demo;
pub mod discovery;
pub mod dpop;
pub mod errors;
pub mod fast_p256;
pub mod fast_rsa;
pub mod gateway;
pub mod jose;
pub mod key_cache;
pub mod keys;
pub mod nonce;
pub mod path;
pub mod policy;
pub mod proxy;
pub mod replay;
pub mod token;
pub mod token_cache;

#[cfg(target_arch = "wasm32")]
mod adapter;

#[cfg(all(target_arch = "wasm32", feature = "bench"))]
pub mod bench;

#[cfg(test)]
mod test_keys;
