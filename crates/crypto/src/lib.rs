//! Verification-only public-key arithmetic, written for speed in V8's WebAssembly and cross-checked in
//! tests against the stock `rsa` and `p256` crates and the Wycheproof vectors. No parsing of JOSE, no I/O.
//!
//! A crate of its own so that the release profile builds it at `opt-level = 3` while the gateway is built
//! for size: optimised for size, P-256 takes about half as long again (measured at `"z"`). The gateway
//! re-exports it as `auth0_edge_gateway::crypto`; its cross-checks live with the gateway's tests
//! (`tests/`), its unit tests here.

#[macro_use]
mod sha2_rounds;

pub mod p256;
pub mod rsa;
pub mod sha256;
mod sha512;
