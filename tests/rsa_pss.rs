//! `RsaVerifier::verify_pss` (PS256, PS384, PS512) and `RsaVerifier::verify_pkcs1v15` (RS256, RS384,
//! RS512) against the `rsa` crate, natively.
//!
//! - Keys: the PEM fixture, seeded random keys of 2048, 2056, 3071, 3072 and 4096 bits (with 2056 and
//!   3071 bits, the leftmost 1 and 2 bits of the encoded block must be zero), and the odd-sized and
//!   limb-boundary fixture keys of tests/common/rsa_cases.rs (2049 and 2057 bits are 1 mod 8, where
//!   emLen = k - 1 and the first octet of RSAVP1's output must be zero).
//! - Every hash: valid signatures accepted by both verifiers; bit flips, other integers, wrong lengths
//!   and other messages rejected by both; the wrong hash, and a PKCS#1 v1.5 signature presented as PSS
//!   and the reverse, rejected.
//! - PSS salt lengths other than the hash length (0, 20, hLen - 1, hLen + 1): valid RSASSA-PSS signatures
//!   that the `rsa` crate accepts with that salt length, refused here since RFC 7518 section 3.5 fixes
//!   the salt length.
//!
//! Encoded blocks built by hand and signed with the private key (malformed PSS and PKCS#1 v1.5 blocks)
//! are in tests/fast_crypto_proofs.rs, natively and on wasm32.
//!
//! The `rsa` crate 0.9 is laxer than RFC 8017 in two places of its PSS verification, where only this
//! crate's verifier is held to the rejection (the `rsa` crate's acceptances are counted and printed): it
//! reduces s mod n instead of refusing s >= n (RSAVP1 step 1, section 5.2.2), and for modBits = 1 mod 8
//! it ignores the first of the k octets instead of refusing a nonzero one (section 8.1.2 step 2c).
//!
//! `cargo test --release --test rsa_pss -- --nocapture` prints the counts and the native timings.

use std::hint::black_box;
use std::time::Instant;

mod common;

use auth0_edge_gateway::crypto::rsa::{Hash, RsaVerifier};
use common::rs256::boundary_signatures;
use common::rsa_cases::{digest, odd_key, pkcs1_scheme, pss_scheme};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Pss, RsaPrivateKey, RsaPublicKey};
use sha2::{Sha256, Sha384, Sha512};

const HASHES: [Hash; 3] = [Hash::Sha256, Hash::Sha384, Hash::Sha512];

/// The two RSA signature schemes of JWA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scheme {
    Pkcs1,
    Pss,
}

fn stock_verify(
    key: &RsaPublicKey,
    scheme: Scheme,
    hash: Hash,
    message: &[u8],
    signature: &[u8],
) -> bool {
    let hashed = digest(hash.output_len(), &[message]);
    match scheme {
        Scheme::Pkcs1 => key.verify(pkcs1_scheme(hash.output_len()), &hashed, signature),
        Scheme::Pss => key.verify(
            pss_scheme(hash.output_len(), hash.output_len()),
            &hashed,
            signature,
        ),
    }
    .is_ok()
}

/// The fast path's answer, the same on each of its arithmetics.
fn fast_verify(
    keys: &[RsaVerifier],
    scheme: Scheme,
    hash: Hash,
    message: &[u8],
    signature: &[u8],
) -> bool {
    let answers: Vec<bool> = keys
        .iter()
        .map(|key| match scheme {
            Scheme::Pkcs1 => key.verify_pkcs1v15(hash, message, signature),
            Scheme::Pss => key.verify_pss(hash, message, signature),
        })
        .collect();
    assert!(
        answers.iter().all(|&a| a == answers[0]),
        "{scheme:?} {hash:?}: the arithmetics disagree"
    );
    answers[0]
}

/// Both verifiers on one key.
struct Checker<'a> {
    private: &'a RsaPrivateKey,
    public: RsaPublicKey,
    /// The key on each arithmetic of the fast path.
    fast: Vec<RsaVerifier>,
    label: String,
    accepted: usize,
    rejected: usize,
    /// PSS signatures the `rsa` crate accepted against RFC 8017: s + n (see [`Checker::check_integer`])
    /// and, for modBits = 1 mod 8, a nonzero octet in front of EM (see [`Checker::check_crafted`]).
    stock_lax: usize,
}

impl<'a> Checker<'a> {
    fn new(private: &'a RsaPrivateKey, label: String) -> Self {
        let public = private.to_public_key();
        let fast = RsaVerifier::new(&public.n().to_bytes_be()).expect("a usable key");
        assert_eq!(fast.len(), public.size(), "{label}");
        Self {
            private,
            public,
            fast: fast.arithmetics(),
            label,
            accepted: 0,
            rejected: 0,
            stock_lax: 0,
        }
    }

    /// Both verifiers must give `expected`.
    fn check(
        &mut self,
        scheme: Scheme,
        hash: Hash,
        message: &[u8],
        signature: &[u8],
        expected: bool,
        case: &str,
    ) {
        let stock = stock_verify(&self.public, scheme, hash, message, signature);
        let fast = fast_verify(&self.fast, scheme, hash, message, signature);
        assert_eq!(
            (stock, fast),
            (expected, expected),
            "{}: {scheme:?} {hash:?}: {case}: (stock, fast) disagree with the expected {expected}",
            self.label
        );
        self.count(expected);
    }

    /// Only the fast verifier (for cases the `rsa` crate has no single call for).
    fn check_fast(
        &mut self,
        scheme: Scheme,
        hash: Hash,
        message: &[u8],
        signature: &[u8],
        expected: bool,
        case: &str,
    ) {
        let fast = fast_verify(&self.fast, scheme, hash, message, signature);
        assert_eq!(
            fast, expected,
            "{}: {scheme:?} {hash:?}: {case}",
            self.label
        );
        self.count(expected);
    }

    /// A signature that is not the valid one as an integer. The `rsa` crate's PSS verification skips
    /// step 1 of RSAVP1 (RFC 8017 section 5.2.2: s < n) and reduces s mod n, so it accepts s + n: for
    /// s >= n under PSS only the fast verifier is held to the expected rejection, and the `rsa` crate's
    /// laxity is counted.
    fn check_integer(
        &mut self,
        scheme: Scheme,
        hash: Hash,
        message: &[u8],
        signature: &[u8],
        case: &str,
    ) {
        if scheme == Scheme::Pss && BigUint::from_bytes_be(signature) >= *self.public.n() {
            if stock_verify(&self.public, scheme, hash, message, signature) {
                self.stock_lax += 1;
            }
            self.check_fast(scheme, hash, message, signature, false, case);
        } else {
            self.check(scheme, hash, message, signature, false, case);
        }
    }

    fn count(&mut self, accepted: bool) {
        if accepted {
            self.accepted += 1;
        } else {
            self.rejected += 1;
        }
    }

    fn sign(&self, rng: &mut ChaCha20Rng, scheme: Scheme, hash: Hash, message: &[u8]) -> Vec<u8> {
        let hashed = digest(hash.output_len(), &[message]);
        match scheme {
            Scheme::Pkcs1 => self.private.sign(pkcs1_scheme(hash.output_len()), &hashed),
            Scheme::Pss => self.private.sign_with_rng(
                rng,
                pss_scheme(hash.output_len(), hash.output_len()),
                &hashed,
            ),
        }
        .unwrap()
    }

    /// A valid signature, then its mutations, under one scheme and hash.
    fn check_signature(&mut self, rng: &mut ChaCha20Rng, scheme: Scheme, hash: Hash) {
        let message = random_message(rng);
        let signature = self.sign(rng, scheme, hash, &message);
        let k = self.public.size();
        let n = self.public.n().clone();
        assert_eq!(signature.len(), k);
        self.check(scheme, hash, &message, &signature, true, "valid signature");

        // The other scheme, the other hashes.
        let other = match scheme {
            Scheme::Pkcs1 => Scheme::Pss,
            Scheme::Pss => Scheme::Pkcs1,
        };
        self.check(other, hash, &message, &signature, false, "other scheme");
        for wrong in HASHES.into_iter().filter(|&h| h != hash) {
            self.check(scheme, wrong, &message, &signature, false, "other hash");
            self.check(other, wrong, &message, &signature, false, "other both");
        }

        // Bit flips: the top and bottom bits, and some random ones.
        let mut positions = vec![0, 7, 8 * k - 8, 8 * k - 1];
        positions.extend((0..8).map(|_| rng.next_u32() as usize % (8 * k)));
        for bit in positions {
            let mut flipped = signature.clone();
            flipped[bit / 8] ^= 0x80 >> (bit % 8);
            self.check(
                scheme,
                hash,
                &message,
                &flipped,
                false,
                &format!("bit {bit}"),
            );
        }

        for (case, bytes) in boundary_signatures(&signature, &n, k) {
            self.check_integer(scheme, hash, &message, &bytes, case);
        }
        self.check_integer(scheme, hash, &message, &vec![0xff; k], "all FF");

        // Wrong lengths.
        let mut longer = vec![0u8];
        longer.extend_from_slice(&signature);
        self.check(scheme, hash, &message, &longer, false, "leading zero added");
        let mut appended = signature.clone();
        appended.push(0);
        self.check(scheme, hash, &message, &appended, false, "octet appended");
        self.check(
            scheme,
            hash,
            &message,
            &signature[1..],
            false,
            "first dropped",
        );
        self.check(
            scheme,
            hash,
            &message,
            &signature[..k - 1],
            false,
            "last dropped",
        );
        self.check(scheme, hash, &message, &[], false, "empty");

        // Other messages.
        let mut changed = message.clone();
        changed.push(b'x');
        self.check(
            scheme,
            hash,
            &changed,
            &signature,
            false,
            "message extended",
        );
        if !message.is_empty() {
            let mut flipped = message.clone();
            let bit = rng.next_u32() as usize % (8 * message.len());
            flipped[bit / 8] ^= 1 << (bit % 8);
            self.check(scheme, hash, &flipped, &signature, false, "message bit");
        }
    }

    /// PSS signatures with salt lengths other than hLen: valid RSASSA-PSS, which the `rsa` crate
    /// accepts told that salt length, and which JWA refuses.
    fn check_salt_lengths(&mut self, rng: &mut ChaCha20Rng, hash: Hash) {
        let h_len = hash.output_len();
        let message = random_message(rng);
        let hashed = digest(hash.output_len(), &[&message]);
        for salt_len in [0, 20, h_len - 1, h_len + 1] {
            let signature = self
                .private
                .sign_with_rng(rng, pss_scheme(hash.output_len(), salt_len), &hashed)
                .unwrap();
            assert!(
                self.public
                    .verify(pss_scheme(hash.output_len(), salt_len), &hashed, &signature)
                    .is_ok(),
                "{}: the rsa crate's own salt length {salt_len}",
                self.label
            );
            let case = format!("salt length {salt_len}");
            self.check(Scheme::Pss, hash, &message, &signature, false, &case);
        }
    }
}

fn random_message(rng: &mut ChaCha20Rng) -> Vec<u8> {
    let mut message = vec![0u8; rng.next_u32() as usize % 300];
    rng.fill_bytes(&mut message);
    message
}

/// `rounds` messages per scheme and hash under `key`, each with its mutations; salt lengths and crafted
/// blocks for every hash.
fn cross_check(key: &RsaPrivateKey, label: String, rng: &mut ChaCha20Rng, rounds: usize) {
    let mut checker = Checker::new(key, label);
    for hash in HASHES {
        for _ in 0..rounds {
            checker.check_signature(rng, Scheme::Pss, hash);
            checker.check_signature(rng, Scheme::Pkcs1, hash);
        }
        checker.check_salt_lengths(rng, hash);
    }
    println!(
        "rsa_pss {}: {} cases accepted, {} rejected ({} invalid PSS signatures the rsa crate accepts)",
        checker.label, checker.accepted, checker.rejected, checker.stock_lax
    );
}

fn generated_key(bits: usize, seed: u64) -> (RsaPrivateKey, ChaCha20Rng) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let key = RsaPrivateKey::new(&mut rng, bits).unwrap();
    assert_eq!(key.n().bits(), bits);
    (key, rng)
}

fn fixture() -> RsaPrivateKey {
    RsaPrivateKey::from_pkcs8_pem(include_str!("fixtures/rsa-2048-a.pem")).unwrap()
}

#[test]
fn fixture_key_every_hash() {
    let key = fixture();
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    cross_check(&key, "fixture a".into(), &mut rng, 4);
}

#[test]
fn random_keys_2048_3072() {
    for (bits, seed) in [(2048, 11), (3072, 12)] {
        let (key, mut rng) = generated_key(bits, seed);
        cross_check(&key, format!("{bits}-bit key"), &mut rng, 2);
    }
}

#[test]
fn random_key_4096() {
    let (key, mut rng) = generated_key(4096, 13);
    cross_check(&key, "4096-bit key".into(), &mut rng, 1);
}

/// 2056 and 3071 bits: 8 emLen - emBits = 1 and 2 leftmost bits of EM must be zero.
#[test]
fn random_keys_odd_sizes() {
    for (bits, seed) in [(2056, 22), (3071, 24)] {
        let (key, mut rng) = generated_key(bits, seed);
        cross_check(&key, format!("{bits}-bit key"), &mut rng, 1);
    }
}

/// The odd-sized and limb-boundary fixture keys (tests/common/rsa_cases.rs; their structured blocks are
/// in tests/fast_crypto_proofs.rs): valid signatures under every algorithm, and their mutations.
fn odd_keys(sizes: &[usize]) {
    let mut rng = ChaCha20Rng::seed_from_u64(sizes[0] as u64);
    for &bits in sizes {
        cross_check(
            &odd_key(bits),
            format!("{bits}-bit fixture key"),
            &mut rng,
            1,
        );
    }
}

#[test]
fn odd_keys_2049_2057() {
    odd_keys(&[2049, 2057]);
}

#[test]
fn limb_boundary_keys_2072_2073() {
    odd_keys(&[2072, 2073]);
}

#[test]
fn odd_keys_2095_2096() {
    odd_keys(&[2095, 2096]);
}

#[test]
fn odd_keys_4056_4095() {
    odd_keys(&[4056, 4095]);
}

/// The salt length RFC 7518 section 3.5 fixes is the hash length; the `rsa` crate's `Pss::new` picks
/// the same, so its default PS256/PS384/PS512 signatures verify.
#[test]
fn rsa_crate_default_salt_is_the_hash_length() {
    let key = fixture();
    let fast = RsaVerifier::new(&key.n().to_bytes_be()).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(8);
    let message = b"header.payload";
    for (hash, scheme) in [
        (Hash::Sha256, Pss::new::<Sha256>()),
        (Hash::Sha384, Pss::new::<Sha384>()),
        (Hash::Sha512, Pss::new::<Sha512>()),
    ] {
        let signature = key
            .sign_with_rng(&mut rng, scheme, &digest(hash.output_len(), &[message]))
            .unwrap();
        assert!(fast.verify_pss(hash, message, &signature), "{hash:?}");
    }
}

/// Mean µs per call of `f` over `rounds` calls.
fn batch(rounds: usize, f: &dyn Fn() -> bool) -> f64 {
    let start = Instant::now();
    for _ in 0..rounds {
        assert!(black_box(f()));
    }
    start.elapsed().as_secs_f64() * 1e6 / rounds as f64
}

/// RS256 against PS256 (and the SHA-384/512 pairs) on the same key: printed, not asserted.
#[test]
fn timing() {
    let key = fixture();
    let fast = RsaVerifier::new(&key.n().to_bytes_be()).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let message = vec![b'a'; 600];
    let rounds = if cfg!(debug_assertions) { 20 } else { 2000 };
    for hash in HASHES {
        let hashed = digest(hash.output_len(), &[&message]);
        let pkcs1 = key.sign(pkcs1_scheme(hash.output_len()), &hashed).unwrap();
        let pss = key
            .sign_with_rng(
                &mut rng,
                pss_scheme(hash.output_len(), hash.output_len()),
                &hashed,
            )
            .unwrap();
        let rs = || fast.verify_pkcs1v15(hash, black_box(&message), black_box(&pkcs1));
        let ps = || fast.verify_pss(hash, black_box(&message), black_box(&pss));
        assert!(rs() && ps());
        // The machine is shared: batches alternate between the two, and the fastest batch of each counts.
        let (mut rs_best, mut ps_best) = (f64::MAX, f64::MAX);
        for _ in 0..20 {
            rs_best = rs_best.min(batch(rounds / 20, &rs));
            ps_best = ps_best.min(batch(rounds / 20, &ps));
        }
        let (rs, ps) = (rs_best, ps_best);
        println!(
            "rsa_pss timing 2048-bit key, {hash:?}, 600-octet message: PKCS#1 v1.5 {rs:.1} µs, PSS {ps:.1} µs ({:+.1}%)",
            (ps / rs - 1.0) * 100.0
        );
    }
}
