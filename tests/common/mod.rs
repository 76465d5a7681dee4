//! Test support shared by the crate's unit tests and the integration tests: fixture keys, RS256 and
//! ES256 signing, JWKs, base64url, and (native only) the fuzz helpers.
//!
//! It is compiled twice: as `mod common;` in each `tests/*.rs` binary, and as the unit tests' helper
//! (`#[cfg(test)] #[path = "../tests/common/mod.rs"] mod test_keys;` in src/lib.rs). So it uses only
//! external crates, never the gateway's own code: what it computes (thumbprints, `ath`, base64url) is an
//! independent reference for the code under test.
//!
//! - [`rs256`]: the RSA fixture keys (tests/fixtures), RS256 tokens and signatures, RSA JWKs.
//! - [`es256`]: DPoP client keys and proofs, ES256 signatures, P-256 JWKs.
//! - [`p256_cases`]: valid ES256 signatures that force each rare branch of a fast P-256 verification.
//! - [`rsa_cases`]: structured RSA encoded blocks signed for real, and the odd-sized fixture keys.
//! - [`tally`]: the Wycheproof tally of the suites that run its vectors.
//! - [`base64_cases`]: the gateway's base64 decoders against the `base64` crate's.
//! - `fuzz` (native only): case counts, strategies and checks shared by the `fuzz_*` test files.

// Each test binary uses a subset of these helpers; the rest would warn as dead code.
#![allow(dead_code)]

pub mod base64_cases;
pub mod es256;
#[cfg(not(target_arch = "wasm32"))]
pub mod fuzz;
pub mod p256_cases;
pub mod rs256;
pub mod rsa_cases;
pub mod tally;

// The names the unit tests use (`test_keys::rsa_2048()`, ...); a binary may use none of them.
#[allow(unused_imports)]
pub use es256::TestDpopKey;
#[allow(unused_imports)]
pub use rs256::{jwks_json, rsa_2048, rsa_2048_b, TestRsaKey};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Unpadded base64url (RFC 7515 section 2).
pub fn b64_encode(input: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(input)
}

/// Decodes unpadded base64url; padding, other characters and non-zero trailing bits fail.
pub fn b64_decode(input: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(input).ok()
}

/// `base` with the members of `changes` set, or removed where the change is `null`.
pub fn with(mut base: Value, changes: Value) -> Value {
    for (k, v) in changes.as_object().expect("changes are an object") {
        if v.is_null() {
            base.as_object_mut().expect("base is an object").remove(k);
        } else {
            base[k] = v.clone();
        }
    }
    base
}

/// A compact JWS from its header and payload JSON text, exactly as given, and a signature function.
pub fn compact_jws(header: &str, payload: &str, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    let input = format!(
        "{}.{}",
        b64_encode(header.as_bytes()),
        b64_encode(payload.as_bytes())
    );
    let signature = sign(input.as_bytes());
    format!("{input}.{}", b64_encode(&signature))
}

/// `ath` (RFC 9449 section 4.2): base64url of the SHA-256 of the access token.
pub fn access_token_hash(token: &str) -> String {
    b64_encode(&Sha256::digest(token.as_bytes()))
}

/// The RFC 7638 thumbprint of a P-256 JWK with these (base64url) coordinates.
pub fn ec_thumbprint(x: &str, y: &str) -> String {
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    b64_encode(&Sha256::digest(canonical.as_bytes()))
}

/// `bytes` without its leading zero octets.
pub fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}
