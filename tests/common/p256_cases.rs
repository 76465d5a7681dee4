//! Valid ES256 signatures built to force the rare branches of a fast P-256 verification, for the native
//! and wasm32 tests alike: u1 G + u2 Q computed by one chain of doublings and additions meets an equal
//! point (a doubling instead of an addition), an opposite point (the point at infinity mid-chain, then
//! doubled), or ends on a point with x(R) >= n. A random signature reaches none of these (about 2^-128),
//! so each case here is built from the algebra, with the `p256` crate's own arithmetic, and every one is
//! also a signature the `p256` crate accepts.
//!
//! `branch` names the counter the case must raise (the fields of the fast path's test-only
//! `crypto::p256::branches::Branches`). A prepared key runs another chain, over its combs and G's, so
//! its cases are found and checked apart (`branch_cases(true)`).

use p256::elliptic_curve::ops::Reduce;
use p256::elliptic_curve::point::Double;
use p256::elliptic_curve::point::{AffineCoordinates, DecompressPoint};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::elliptic_curve::subtle::Choice;
use p256::elliptic_curve::PrimeField;
use p256::{AffinePoint, FieldBytes, ProjectivePoint, Scalar, U256};
use sha2::{Digest, Sha256};

use super::es256::{p256_crate_verify, P256_N};

/// One valid signature and the branch it must reach.
pub struct BranchCase {
    pub what: String,
    /// The `Branches` field the fast verification must raise.
    pub branch: &'static str,
    /// Q's affine coordinates, big-endian.
    pub x: [u8; 32],
    pub y: [u8; 32],
    pub message: Vec<u8>,
    pub signature: [u8; 64],
}

impl BranchCase {
    fn new(
        what: String,
        branch: &'static str,
        q: ProjectivePoint,
        message: Vec<u8>,
        r: Scalar,
        s: Scalar,
    ) -> Self {
        let point = q.to_affine().to_encoded_point(false);
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(&r.to_repr());
        signature[32..].copy_from_slice(&s.to_repr());
        Self {
            what,
            branch,
            x: (*point.x().expect("not infinity")).into(),
            y: (*point.y().expect("not infinity")).into(),
            message,
            signature,
        }
    }

    fn reference(&self) -> p256::ecdsa::VerifyingKey {
        let point =
            p256::EncodedPoint::from_affine_coordinates(&self.x.into(), &self.y.into(), false);
        p256::ecdsa::VerifyingKey::from_encoded_point(&point).expect("a valid key")
    }

    /// The `p256` crate's answer for this key and `signature` over `message`.
    pub fn reference_verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        p256_crate_verify(&self.reference(), message, signature)
    }
}

const G: ProjectivePoint = ProjectivePoint::GENERATOR;

/// e = SHA-256(message) as a scalar (FIPS 186-5 section 6.4.2 steps 2-3: all 256 bits, mod n).
fn e_of(message: &[u8]) -> Scalar {
    <Scalar as Reduce<U256>>::reduce_bytes(&Sha256::digest(message))
}

/// x(R) mod n.
fn x_mod_n(point: &ProjectivePoint) -> Scalar {
    <Scalar as Reduce<U256>>::reduce_bytes(&point.to_affine().x())
}

fn inverse(x: &Scalar) -> Scalar {
    Option::from(x.invert()).expect("a non-zero scalar")
}

/// s = e, so u1 = e / s = 1, and Q = (e / r) G with r = x(2G), so u2 Q = (r / e)(e / r) G = G: the chain
/// adds G (u1's only digit, the last one) to u2 Q = G itself, which must double it, and R = 2G. The
/// message is chosen so that u2 adds nothing after G: its last NAF digit is zero (u2 even), and so is its
/// last column of a prepared key's combs (bits 0, 26, 52, ..., 234).
fn equal_points() -> BranchCase {
    let r = x_mod_n(&G.double());
    (0u32..)
        .find_map(|attempt| {
            let message = format!("u1 G = u2 Q = G, attempt {attempt}").into_bytes();
            let e = e_of(&message);
            let u2 = r * inverse(&e);
            (KEY_COMB.last_column(&u2) == 0).then(|| {
                let q = G * (e * inverse(&r));
                let what = format!("u1 = 1, u2 Q = G (attempt {attempt})");
                BranchCase::new(what, "affine_doubling", q, message, r, e)
            })
        })
        .expect("one message in 2^10 gives such a u2")
}

/// The private key d = num / den (a small fraction mod n) and the nonce k, found by a search over
/// small fractions and nonces with the fast path's counters: with these, the partial sums of u1 G + u2 Q
/// meet the named branch mid-chain. With Q = -G (d = -1) for example, u1 G + u2 Q = (u1 - u2) G, and the
/// chain reaches the point at infinity wherever the leading digits of u1 and u2 cancel. The signatures
/// are ordinary ECDSA (r = x(k G) mod n, s = (e + r d) / k); the tests prove the branch with the counters.
const SIGNED: [(&str, i64, u64, u64); 6] = [
    ("affine_doubling", 1, 2, 14),
    ("affine_opposite", -1, 2, 2),
    ("affine_opposite", 2, 1, 22),
    ("cached_doubling", 1, 1, 10),
    ("cached_opposite", -1, 1, 1),
    ("infinity_doubled", -3, 1, 1),
];

/// Bit `position` of k (0 the least significant).
fn bit(k: &Scalar, position: usize) -> u8 {
    k.to_repr()[31 - position / 8] >> (position % 8) & 1
}

/// The shape of a comb (`crates/crypto/src/p256/comb.rs`): a scalar read as `rows` rows of `spacing`
/// columns, bit `spacing row + column`, row `2 t + s` being tooth t of table s (both combs have two
/// tables). The chain's last column, column 0, holds bits 0, spacing, 2 spacing, ...
#[derive(Clone, Copy)]
struct Shape {
    rows: usize,
    spacing: usize,
}

/// A prepared key's combs: 5 teeth, 2 tables, 26 columns.
const KEY_COMB: Shape = Shape {
    rows: 10,
    spacing: 26,
};
/// G's combs: 8 teeth, 2 tables, 16 columns, the chain's last 16.
const G_COMB: Shape = Shape {
    rows: 16,
    spacing: 16,
};

impl Shape {
    /// The pattern of k's last column (bit `row` set for each row whose bit is set).
    fn last_column(self, k: &Scalar) -> u32 {
        (0..self.rows).fold(0, |pattern, row| {
            pattern | u32::from(bit(k, self.spacing * row)) << row
        })
    }

    /// The scalar that a last-column pattern adds: the sum of 2^(spacing row) over its rows.
    fn column_scalar(self, pattern: u32) -> Scalar {
        let mut bytes = FieldBytes::default();
        for row in (0..self.rows).filter(|row| pattern >> row & 1 == 1) {
            let position = self.spacing * row;
            bytes[31 - position / 8] |= 1 << (position % 8);
        }
        Option::from(Scalar::from_repr(bytes)).expect("below n")
    }

    /// The rows of table `s` in a column pattern.
    fn table(self, s: usize) -> u32 {
        (0..self.rows)
            .filter(|row| row % 2 == s)
            .fold(0, |mask, row| mask | 1 << row)
    }
}

/// The signature (r, s) and key Q for a message of hash `e` with R = k_r G = c Q: Q = (k_r / c) G, and s
/// such that u1 G + (u2 - c) Q = 0, which with u1 = e / s and u2 = r / s is u1 c + (u2 - c) k_r = 0, so
/// s = (e c + r k_r) / (c k_r). The chain then holds the point at infinity once it has added all but c Q.
fn r_equal_to_c_q(e: Scalar, k_r: Scalar, c: Scalar) -> (Scalar, Scalar, ProjectivePoint) {
    let r = x_mod_n(&(G * k_r));
    let s = (e * c + r * k_r) * inverse(&(c * k_r));
    (r, s, G * (k_r * inverse(&c)))
}

/// A prepared key, the addition of G's table 0 in the last column meeting its opposite (`k_r` and
/// `pattern` were found by a search over small k_r and all patterns). With c the scalar of u2's last
/// column (`pattern`) and E that of u1's (table 0 only), and R = c Q ([`r_equal_to_c_q`]): the chain
/// reaches -E G before that addition, then infinity, and ends on c Q from Q's last entries.
fn comb_g_opposite(k_r: u64, pattern: u32) -> BranchCase {
    let message = b"affine_opposite in a prepared key's last column".to_vec();
    let e = e_of(&message);
    let (r, s, q) = r_equal_to_c_q(e, Scalar::from(k_r), KEY_COMB.column_scalar(pattern));
    let (u1, u2) = (e * inverse(&s), r * inverse(&s));
    assert_eq!(KEY_COMB.last_column(&u2), pattern, "u2's last column");
    let g_column = G_COMB.last_column(&u1);
    assert!(
        g_column & G_COMB.table(1) == 0 && g_column & G_COMB.table(0) != 0,
        "u1's last column in G's table 0 only"
    );
    let what = format!("R = {k_r} G, u2's last column {pattern:#b}");
    BranchCase::new(what, "affine_opposite", q, message, r, s)
}

/// A prepared key, the addition of Q's table 0 in the last column, the chain's last addition, meeting an
/// equal point (found like [`comb_g_opposite`]). With R = k_r G and c the scalar of u2's last column
/// (table 0 only): the chain reaches R - c Q = c Q before it, so R = 2 c Q, Q = (k_r / 2c) G, and key
/// recovery (Q = (s R - e G) / r) gives s = e / k_r + r / 2c.
fn comb_q_doubling(k_r: u64, pattern: u32) -> BranchCase {
    let message = b"prepared_doubling in a prepared key's last column".to_vec();
    let (e, k_r, c) = (
        e_of(&message),
        Scalar::from(k_r),
        KEY_COMB.column_scalar(pattern),
    );
    let r = x_mod_n(&(G * k_r));
    let two_c = c + c;
    let s = e * inverse(&k_r) + r * inverse(&two_c);
    assert_eq!(
        KEY_COMB.last_column(&(r * inverse(&s))),
        pattern,
        "u2's last column"
    );
    assert_eq!(pattern & KEY_COMB.table(1), 0, "table 0 only");
    let what = format!("R = {k_r:?} G, u2's last column {pattern:#b}");
    BranchCase::new(
        what,
        "prepared_doubling",
        G * (k_r * inverse(&two_c)),
        message,
        r,
        s,
    )
}

/// A prepared key, the addition of Q's table 0 in the last column meeting its opposite, Q's table 1 then
/// ending the chain (found like [`comb_g_opposite`]). With c0 and c1 the scalars of u2's last column in
/// tables 0 and 1 (`pattern`, table 1 only, is c1's) and R = c1 Q ([`r_equal_to_c_q`]): the chain
/// reaches -c0 Q before that addition, then infinity, and ends on c1 Q.
fn comb_q_opposite(k_r: u64, pattern: u32) -> BranchCase {
    let message = b"prepared_opposite in a prepared key's last column".to_vec();
    let e = e_of(&message);
    let (r, s, q) = r_equal_to_c_q(e, Scalar::from(k_r), KEY_COMB.column_scalar(pattern));
    let column = KEY_COMB.last_column(&(r * inverse(&s)));
    assert_eq!(pattern & KEY_COMB.table(0), 0, "c1 in table 1 only");
    assert_eq!(
        column & KEY_COMB.table(1),
        pattern,
        "u2's last column, table 1"
    );
    assert_ne!(column & KEY_COMB.table(0), 0, "u2's last column, table 0");
    let what = format!("R = {k_r} G, u2's last column {column:#b}");
    BranchCase::new(what, "prepared_opposite", q, message, r, s)
}

/// A prepared key, the chain at the point at infinity after the next-to-last column, then doubled. The
/// chain is there when R is what the last column adds: R = E G + c Q with E and c the scalars of u1's
/// last column in G's combs and of u2's in Q's. With R = G, u1's last column just its bit 0 (E = 1) and
/// u2's empty (c = 0), that holds for any s: u1 is chosen (s = e / u1), u2 = r / s = r u1 / e, and the
/// key recovered, Q = (s R - e G) / r. Candidates for u1 are tried until u2's last column is empty (one
/// in 2^10).
fn comb_infinity_doubled() -> BranchCase {
    let message = b"infinity_doubled in a prepared key's chain".to_vec();
    let (e, r) = (e_of(&message), x_mod_n(&G));
    (0u32..)
        .find_map(|attempt| {
            // A candidate with G's last column (bits 0, 16, ..., 240) cleared, then bit 0 set.
            let mut bytes = Sha256::digest(format!("u1, attempt {attempt}"));
            for row in 0..G_COMB.rows {
                let position = G_COMB.spacing * row;
                bytes[31 - position / 8] &= !(1 << (position % 8));
            }
            bytes[31] |= 1;
            let u1 = Option::<Scalar>::from(Scalar::from_repr(bytes))?;
            let u2 = r * u1 * inverse(&e);
            (KEY_COMB.last_column(&u2) == 0).then(|| {
                let s = e * inverse(&u1);
                let q = (G * s - G * e) * inverse(&r);
                let what = format!("R = G, u1 from attempt {attempt}");
                BranchCase::new(what, "infinity_doubled", q, message.clone(), r, s)
            })
        })
        .expect("one candidate in 2^10 gives such a u2")
}

/// Standard ECDSA signing with d = num / den and nonce k: r = x(k G) mod n, s = (e + r d) / k.
fn signed(branch: &'static str, num: i64, den: u64, k: u64) -> BranchCase {
    let magnitude = Scalar::from(num.unsigned_abs()) * inverse(&Scalar::from(den));
    let d = if num < 0 { -magnitude } else { magnitude };
    let message = format!("{branch}: d = {num}/{den}, k = {k}").into_bytes();
    let k_scalar = Scalar::from(k);
    let r = x_mod_n(&(G * k_scalar));
    let s = (e_of(&message) + r * d) * inverse(&k_scalar);
    let what = format!("d = {num}/{den}, nonce {k}");
    BranchCase::new(what, branch, G * d, message, r, s)
}

/// Points R whose x-coordinate is in [n, p) (x = n + t for the first few t where n + t is on the curve),
/// and for each a key that makes (r, s) = (x(R) - n, s) a valid signature (key recovery, SEC 1 v2
/// section 4.1.6): Q = r^-1 (s R - e G), so u1 G + u2 Q = (e G + s R - e G) / s = R. With its high-S twin
/// (r, n - s), which reaches -R, of the same x.
fn x_above_n() -> Vec<BranchCase> {
    let mut cases = Vec::new();
    for t in 1u8..64 {
        // n + t: n ends in 0x51, so t < 64 does not carry out of the last octet.
        let mut x = FieldBytes::from(P256_N);
        x[31] += t;
        let Some(point) = Option::<AffinePoint>::from(AffinePoint::decompress(&x, Choice::from(0)))
        else {
            continue;
        };
        let big_r = ProjectivePoint::from(point);
        let r = Scalar::from(u64::from(t));
        assert_eq!(x_mod_n(&big_r), r, "x(R) = n + t");
        let message = format!("x(R) = n + {t}").into_bytes();
        let e = e_of(&message);
        let s = e_of(&[&message[..], b": s"].concat());
        let q = (big_r * s - G * e) * inverse(&r);
        let what = format!("x(R) = n + {t}");
        cases.push(BranchCase::new(
            what.clone(),
            "x_above_n",
            q,
            message.clone(),
            r,
            s,
        ));
        cases.push(BranchCase::new(
            format!("{what}, high-S twin"),
            "x_above_n",
            q,
            message,
            r,
            -s,
        ));
        if cases.len() >= 6 {
            break;
        }
    }
    cases
}

/// Every case, for a key as it comes or `prepared`: each must verify under the `p256` crate, and under
/// the fast path with its branch reached.
pub fn branch_cases(prepared: bool) -> Vec<BranchCase> {
    let mut cases = vec![equal_points()];
    if prepared {
        cases.extend([
            comb_g_opposite(128, 0b11_1011_1001),
            comb_q_doubling(10, 0b01_0000_0101),
            comb_q_opposite(3, 0b00_0000_1010),
            comb_infinity_doubled(),
        ]);
    } else {
        cases.extend(
            SIGNED
                .iter()
                .map(|&(branch, num, den, k)| signed(branch, num, den, k)),
        );
    }
    cases.extend(x_above_n());
    cases
}

/// Runs every case through `fast`, which verifies and returns the branch counts; `count` reads one count
/// by name. Each case must verify under both implementations and reach its branch; a message with one
/// bit changed must fail under both. Returns the number of cases.
pub fn check_branch_cases<C: std::fmt::Debug>(
    cases: Vec<BranchCase>,
    fast: impl Fn(&BranchCase, &[u8], &[u8; 64]) -> (bool, C),
    count: impl Fn(&C, &str) -> Option<u32>,
) -> usize {
    for case in &cases {
        let label = format!("{} ({})", case.what, case.branch);
        assert!(
            case.reference_verify(&case.message, &case.signature),
            "{label}: the p256 crate accepts"
        );
        let (accepted, counts) = fast(case, &case.message, &case.signature);
        assert!(accepted, "{label}: the fast path accepts");
        let reached = count(&counts, case.branch).expect("a known branch");
        assert!(
            reached > 0,
            "{label}: branch not reached, counts {counts:?}"
        );
        let mut changed = case.message.clone();
        changed[0] ^= 1;
        let (accepted, _) = fast(case, &changed, &case.signature);
        assert!(!accepted, "{label}: another message");
        assert!(!case.reference_verify(&changed, &case.signature));
    }
    cases.len()
}
