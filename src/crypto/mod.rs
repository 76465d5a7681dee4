//! Verification-only public-key arithmetic, written for speed in V8's WebAssembly and cross-checked in
//! tests against the stock `rsa` and `p256` crates and the Wycheproof vectors. No parsing of JOSE, no I/O.

pub mod p256;
pub mod rsa;
