//! What differs on wasm32, run in Node by wasm-bindgen-test-runner: RSA verification and key parsing
//! compiled to wasm32, base64 decoded sixteen characters at a time with SIMD, randomness through the JS
//! backend of getrandom, and time from the JS clock.
#![cfg(target_arch = "wasm32")]

mod common;

use auth0_edge_gateway::jose::jwa::Algorithms;
use auth0_edge_gateway::jose::jwks::parse_jwks;
use auth0_edge_gateway::jose::token::{self, ClaimRules};
use auth0_edge_gateway::jose::{b64_decode, b64_decode_padded};
use common::{rsa_2048, TestDpopKey, TestRsaKey};
use serde_json::json;
use wasm_bindgen_test::wasm_bindgen_test;

const ISSUER: &str = "https://tenant.auth0.com/";
const AUDIENCE: &str = "https://api.example.com";

fn now() -> u64 {
    (js_sys::Date::now() / 1000.0) as u64
}

fn jwks(key: &TestRsaKey) -> Vec<u8> {
    json!({"keys": [key.public_jwk("k1")]})
        .to_string()
        .into_bytes()
}

/// Signs with jwt-compact on wasm32; PKCS#1 v1.5 signing draws blinding randomness from getrandom's JS backend.
fn sign(key: &TestRsaKey, claims: serde_json::Value) -> String {
    key.sign_compact(
        r#"{"alg":"RS256","typ":"at+jwt","kid":"k1"}"#,
        &claims.to_string(),
    )
}

fn claims(exp: u64) -> serde_json::Value {
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "auth0|wasm", "exp": exp, "scope": "read:messages"})
}

fn rules(
    issuers: &[auth0_edge_gateway::idp::Issuer],
) -> ClaimRules<'_, auth0_edge_gateway::idp::Issuer> {
    ClaimRules {
        issuers,
        algorithms: Algorithms::DEFAULT,
        leeway: 0,
        profile: token::TokenProfile::Standard,
        max_age: None,
    }
}

fn issuers() -> Vec<auth0_edge_gateway::idp::Issuer> {
    vec![auth0_edge_gateway::idp::parse_issuer("tenant.auth0.com").unwrap()]
}

/// The SIMD blocks (src/jose/b64.rs) meet every character at every position of a block here.
#[wasm_bindgen_test]
fn base64_decoders_are_the_crates() {
    common::base64_cases::assert_decoders_agree(&b64_decode, &b64_decode_padded);
}

#[wasm_bindgen_test]
fn rs256_tokens_verify_on_wasm32() {
    let private = rsa_2048();
    let keys = parse_jwks(&jwks(private), Algorithms::DEFAULT).unwrap();
    let now = now();
    assert!(now > 1_700_000_000, "the JS clock gives real time");
    let token = sign(private, claims(now + 60));
    let verified = token::parse(&token, rules(&issuers()), now)
        .unwrap()
        .verify(keys.get("k1").unwrap())
        .unwrap();
    assert_eq!(verified.sub.as_deref(), Some("auth0|wasm"));
    assert_eq!(verified.scopes, ["read:messages"]);
}

#[wasm_bindgen_test]
fn tampered_and_expired_tokens_fail_on_wasm32() {
    let private = rsa_2048();
    let keys = parse_jwks(&jwks(private), Algorithms::DEFAULT).unwrap();
    let key = keys.get("k1").unwrap();
    let now = now();
    let good = sign(private, claims(now + 60));
    let other = sign(
        private,
        json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "admin", "exp": now + 60}),
    );
    let forged = format!(
        "{}.{}",
        other.rsplit_once('.').unwrap().0,
        good.rsplit_once('.').unwrap().1
    );
    assert_eq!(
        token::parse(&forged, rules(&issuers()), now)
            .unwrap()
            .verify(key)
            .unwrap_err(),
        token::TokenError::Signature
    );
    let expired = sign(private, claims(now - 1));
    assert_eq!(
        token::parse(&expired, rules(&issuers()), now).unwrap_err(),
        token::TokenError::Expired
    );
}

#[wasm_bindgen_test]
fn signatures_are_randomised_but_deterministic_pkcs1() {
    // PKCS#1 v1.5 signatures are deterministic even though signing uses random blinding: two signatures
    // of the same input match only if the blinding randomness from getrandom works and cancels out.
    let private = rsa_2048();
    let a = sign(private, claims(4_102_444_800));
    let b = sign(private, claims(4_102_444_800));
    assert_eq!(a, b);
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).unwrap();
    assert_ne!(bytes, [0u8; 32]);
}

#[wasm_bindgen_test]
fn key_filtering_on_wasm32() {
    let private = rsa_2048();
    let mut doc: serde_json::Value = serde_json::from_slice(&jwks(private)).unwrap();
    doc["keys"][0]["e"] = json!("Aw");
    assert!(parse_jwks(doc.to_string().as_bytes(), Algorithms::DEFAULT).is_err());
}

/// RFC 9449 section 4.1, figure 3 (high-S signature), and the jkt RFC 9449 section 6.1 gives for its key.
const RFC9449_PROOF: &str = concat!(
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0Rs",
    "cEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19",
    ".eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwi",
    "aWF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg",
);

#[wasm_bindgen_test]
fn es256_and_thumbprints_on_wasm32() {
    use auth0_edge_gateway::jose::dpop::{es256_signature, p256_public_key, verify_es256};
    use auth0_edge_gateway::jose::json::parse_object;
    use auth0_edge_gateway::jose::jws::parse_compact;
    let jws = parse_compact(RFC9449_PROOF).unwrap();
    let header = parse_object(&jws.header).unwrap();
    let (key, jkt) = p256_public_key(header["jwk"].as_object().unwrap()).unwrap();
    assert_eq!(jkt, "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I");
    let signature = es256_signature(&jws.signature).unwrap();
    assert!(verify_es256(&key, jws.signing_input.as_bytes(), &signature));
    let mut tampered = jws.signing_input.as_bytes().to_vec();
    tampered[10] ^= 1;
    assert!(!verify_es256(&key, &tampered, &signature));
}

#[wasm_bindgen_test]
fn dpop_proofs_made_and_checked_on_wasm32() {
    use auth0_edge_gateway::jose::dpop::{parse_proof, NoPreparedKeys, ProofTarget, ProofWindow};
    use auth0_edge_gateway::state::proof_keys::ProofKeyCache;
    // A fresh key from getrandom's JS backend (crypto.getRandomValues).
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed).unwrap();
    let client = TestDpopKey::from_slice(&seed).unwrap();
    let now = now();
    let token = "access.token.value";
    let url = "https://api.example.com/api/private";
    let proof = client.proof("GET", url, token, now, json!({"jti": "j1"}));
    let target = ProofTarget {
        method: "GET",
        url,
        access_token: token,
        access_token_hash: None,
    };
    let window = ProofWindow {
        max_age: 300,
        max_skew: 30,
    };
    let parsed = parse_proof(&proof, target, window, now, &NoPreparedKeys).unwrap();
    let mut keys = ProofKeyCache::default();
    keys.prepared(parsed.prepare_key());
    let verified = parsed.verify_signature().unwrap();
    let found = parse_proof(&proof, target, window, now, &keys).unwrap();
    assert!(found.key_is_prepared());
    assert_eq!(found.verify_signature(), Ok(verified.clone()));
    assert_eq!(verified.jkt, client.jkt());
    let post = ProofTarget {
        method: "POST",
        ..target
    };
    assert_eq!(
        parse_proof(&proof, post, window, now, &NoPreparedKeys).unwrap_err(),
        auth0_edge_gateway::jose::dpop::ProofError::HtmMismatch
    );
}
