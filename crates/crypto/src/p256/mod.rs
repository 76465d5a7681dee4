//! A verification-only fast path for ECDSA over P-256 with SHA-256 (ES256), for wasm32.
//!
//! `p256` 0.13 does the same job with 64-bit limbs, whose 64 x 64 -> 128-bit products wasm32 has to
//! emulate, and with constant-time code that verification does not need (every input is public).
//! This module uses:
//!
//! - [`field`]: GF(p) in nine 29-bit limbs held in `i64` (one native `i64.mul` per limb product, columns
//!   accumulated without carries), Montgomery form with R = 2^261, whose reduction for this p needs no
//!   multiplication.
//! - [`point`]: Jacobian coordinates with the a = -3 doubling and mixed/cached additions, exceptional
//!   cases (infinity, equal or opposite points) handled explicitly.
//! - [`scalar`]: the few operations mod n: an inverse by batches of Bernstein and Yang's division steps,
//!   and Montgomery products.
//! - u1 G + u2 Q by interleaved width-w NAF (Shamir's trick; Hankerson, Menezes, Vanstone, "Guide to
//!   Elliptic Curve Cryptography", Algorithms 3.35 and 3.51): one chain of 256 doublings, additions of
//!   odd multiples of G from a table of affine points made once per process, and of Q from a table
//!   built for each verification.
//! - For a key that verifies many signatures ([`P256Verifier::prepare`]), combs of Q and of G
//!   ([`comb`]): tables made once (Q's per key, G's larger ones per process), and a chain of 26
//!   doublings instead of 256.
//! - The final comparison x(R) mod n = r without an inversion: X = r Z^2, or (r + n) Z^2 when r + n < p.
//!
//! Nothing here is constant time; nothing here needs to be (no secret is involved).

/// Counts a rare branch of the arithmetic for the tests (see [`branches`]): `reached!(b => b.field += 1)`.
/// Expands to nothing without the `branch-counters` feature, so the worker pays nothing for it.
macro_rules! reached {
    ($b:ident => $update:expr) => {
        #[cfg(feature = "branch-counters")]
        $crate::p256::branches::record(|$b| $update);
    };
}

mod comb;
mod field;
mod point;
mod scalar;

use std::sync::OnceLock;

use sha2::Digest;

use crate::sha256::Sha256;

use comb::{GComb, KeyComb};
use field::Fe;
use point::{to_affine_batch, Affine, Cached, Jacobian};
use scalar::U256;

/// The curve coefficient b (FIPS 186-5 / SP 800-186 section 3.2.1.3), in Montgomery form.
const B: Fe =
    Fe::from_hex_const("5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b");

/// wNAF width for u1: odd multiples of G up to 63G ([`g_multiples`]).
const G_WINDOW: u32 = 7;
const G_TABLE_LEN: usize = 1 << (G_WINDOW - 2);
/// wNAF width for u2 (multiples of Q: a table of 2^(w-2) points built for each verification).
const Q_WINDOW: u32 = 5;
const Q_TABLE_LEN: usize = 1 << (Q_WINDOW - 2);
/// Digits of a width-w NAF of a scalar below 2^256.
const NAF_DIGITS: usize = 257;

/// A P-256 public key ready for ECDSA verification.
#[derive(Clone, Copy, Debug)]
pub struct P256Verifier {
    /// The point Q, coordinates in the field's Montgomery form.
    q: Affine,
}

impl P256Verifier {
    /// From affine coordinates, 32 bytes big-endian each. None unless both are < p and the point is on
    /// the curve (y^2 = x^3 - 3x + b) and not the point at infinity.
    ///
    /// This is the partial public-key validation of SP 800-56A rev. 3 section 5.6.2.3.4 (SEC 1 v2
    /// section 3.2.2.1 steps 1-3); with cofactor 1, a point on the curve other than infinity has order n,
    /// so it is also the full validation of section 5.6.2.3.3. An affine point is never the point at
    /// infinity; the common encoding of it as (0, 0) is not on the curve (b != 0) and is refused.
    pub fn from_affine(x: &[u8; 32], y: &[u8; 32]) -> Option<Self> {
        let x = Fe::from_be_bytes(x)?;
        let y = Fe::from_be_bytes(y)?;
        let rhs = x.square().mul(&x).sub(&x.mul_small(3)).add(&B);
        y.square()
            .equals(&rhs)
            .then_some(P256Verifier { q: Affine { x, y } })
    }

    /// ECDSA verification of SHA-256(message) with a 64-byte r || s signature: see [`verify_sha256`].
    pub fn verify_sha256(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        verify_sha256(message, signature, Multiples::Build(&self.q))
    }

    /// The same key with Q's combs ([`comb`]), made once: about one verification's work (and G's combs
    /// about four times as much, once per process: [`make_base_combs`]). Each later verification with the
    /// prepared key builds no table and runs 26 doublings instead of 256, about half the work.
    pub fn prepare(&self) -> PreparedP256Verifier {
        PreparedP256Verifier {
            comb: KeyComb::new(&self.q),
        }
    }
}

/// A P-256 public key prepared for many verifications (a DPoP client signs every request with one key):
/// its combs are kept, in affine form.
#[derive(Clone, Debug)]
pub struct PreparedP256Verifier {
    comb: Box<KeyComb>,
}

impl PreparedP256Verifier {
    /// The same answer as [`P256Verifier::verify_sha256`] with the key this was prepared from.
    pub fn verify_sha256(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        verify_sha256(message, signature, Multiples::Prepared(&self.comb))
    }
}

/// The base point G (SP 800-186 section 3.2.1.3), in Montgomery form.
const G: Affine = Affine {
    x: Fe::from_hex_const("6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"),
    y: Fe::from_hex_const("4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5"),
};

/// G, 3G, ..., 63G in affine form, made by the first verification of the process: about a third of a
/// verification, once, where a compile-time table would add 4 KiB to the gzipped worker.
fn g_multiples() -> &'static [Affine; G_TABLE_LEN] {
    static TABLE: OnceLock<Box<[Affine; G_TABLE_LEN]>> = OnceLock::new();
    TABLE.get_or_init(|| Box::new(to_affine_batch(&odd_multiples(&G))))
}

/// Makes G's combs if they are not made yet (about four times a key's combs, once per process), so that
/// no prepared key's verification has to: the first verification with a prepared key makes them
/// otherwise.
pub fn make_base_combs() {
    g_comb();
}

/// Whether G's combs are made ([`make_base_combs`]).
pub fn base_combs_made() -> bool {
    G_COMB.get().is_some()
}

static G_COMB: OnceLock<Box<GComb>> = OnceLock::new();

/// G's combs.
fn g_comb() -> &'static GComb {
    G_COMB.get_or_init(|| GComb::new(&G))
}

/// Q, 3Q, 5Q, ..., (2 L - 1) Q.
fn odd_multiples<const L: usize>(q: &Affine) -> [Jacobian; L] {
    let q = Jacobian::from(q);
    let twice = Cached::new(&q.double());
    let mut table = [q; L];
    for i in 1..L {
        table[i] = table[i - 1].add_cached(&twice);
    }
    table
}

/// ECDSA verification of SHA-256(message) with a 64-byte r || s signature: 1 <= r, s < n, else false;
/// `q` gives the key's multiples for u1 G + u2 Q.
/// High-S signatures are valid ECDSA and must be accepted (RFC 9449's own example proof has one).
///
/// FIPS 186-5 section 6.4.2; the step numbers below are those of SEC 1 v2 section 4.1.4.
fn verify_sha256(message: &[u8], signature: &[u8; 64], q: Multiples<'_>) -> bool {
    let (Some(r_bytes), Some(s_bytes)) =
        (signature.first_chunk::<32>(), signature.last_chunk::<32>())
    else {
        return false;
    };
    let (r, s) = (
        scalar::from_be_bytes(r_bytes),
        scalar::from_be_bytes(s_bytes),
    );
    // Step 1: 1 <= r, s <= n - 1.
    let in_range = |v: &U256| !scalar::is_zero(v) && scalar::lt(v, &scalar::N);
    if !in_range(&r) || !in_range(&s) {
        return false;
    }
    // Steps 2-3: H = SHA-256(M); e = the leftmost 256 bits of H as an integer (n has 256 bits, so
    // all of them), taken mod n for the products below.
    let digest: [u8; 32] = Sha256::digest(message).into();
    let e = scalar::reduce(&scalar::from_be_bytes(&digest));
    // Step 4, first half: w = s^-1 mod n. Inverting the Montgomery form s 2^-256 gives w 2^256, so
    // that the Montgomery products below come out as plain e w and r w.
    let Some(w_mont) = scalar::invert(&scalar::mont_mul(&s, &[1, 0, 0, 0])) else {
        return false;
    };
    // Step 4: u1 = e w mod n, u2 = r w mod n.
    let u1 = scalar::mont_mul(&e, &w_mont);
    let u2 = scalar::mont_mul(&r, &w_mont);
    // Step 5: R = u1 G + u2 Q; reject the point at infinity.
    let point = lincomb(&u1, &u2, q);
    if point.is_infinity() {
        return false;
    }
    // Steps 6-8: x_R mod n = r. With x_R = X / Z^2 in [0, p) and p < 2n, x_R mod n = r exactly when
    // x_R = r or x_R = r + n (possible only if r + n < p); compare X with r Z^2 and (r + n) Z^2.
    let zz = point.z.square();
    let matches = |candidate: &[u8; 32]| {
        Fe::from_be_bytes(candidate).is_some_and(|c| point.x.equals(&c.mul(&zz)))
    };
    if matches(r_bytes) {
        return true;
    }
    let (r_plus_n, carry) = scalar::add(&r, &scalar::N);
    let above_n = !carry && matches(&scalar::to_be_bytes(&r_plus_n));
    reached!(b => b.x_above_n += u32::from(above_n));
    above_n
}

/// Where the multiples of Q come from: odd multiples built for this verification from Q, or a prepared
/// key's combs.
#[derive(Clone, Copy)]
enum Multiples<'a> {
    Build(&'a Affine),
    Prepared(&'a KeyComb),
}

/// u1 G + u2 Q, by the chain that suits where Q's multiples come from.
fn lincomb(u1: &U256, u2: &U256, q: Multiples<'_>) -> Jacobian {
    match q {
        Multiples::Build(q) => naf_lincomb(u1, u2, q),
        Multiples::Prepared(comb) => comb::lincomb(u1, u2, g_comb(), comb),
    }
}

/// u1 G + u2 Q by interleaved wNAF (Guide to ECC, Algorithm 3.51 with Algorithm 3.35's digits).
fn naf_lincomb(u1: &U256, u2: &U256, q: &Affine) -> Jacobian {
    let g_table = g_multiples();
    let q_table: [Cached; Q_TABLE_LEN] = odd_multiples(q).map(|p| Cached::new(&p));
    let (naf1, naf2) = (wnaf(u1, G_WINDOW), wnaf(u2, Q_WINDOW));
    let mut acc = Jacobian::INFINITY;
    let mut started = false;
    for (&d1, &d2) in naf1.iter().zip(&naf2).rev() {
        if started {
            reached!(b => b.infinity_doubled += u32::from(acc.is_infinity()));
            acc = acc.double();
        }
        // A digit d selects the entry |d| / 2 (|d| odd, < 2^(w-1), so always in the table).
        if let Some(p) = entry(g_table, d1) {
            acc = acc.add_affine(&if d1 > 0 { *p } else { p.neg() });
            started = true;
        }
        if let Some(p) = entry(&q_table, d2) {
            acc = acc.add_cached(&if d2 > 0 { *p } else { p.neg() });
            started = true;
        }
    }
    acc
}

/// Per-thread counts of the rare branches of a verification, for the tests that prove a valid signature
/// reaches each of them (README, "Threat model"): valid signatures almost never do, so only signatures
/// built for the purpose show that these branches compute the right point. Test builds only.
#[cfg(feature = "branch-counters")]
pub mod branches {
    use std::cell::Cell;

    /// How many times each branch was taken.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct Branches {
        /// An addition of an affine multiple of G to an equal point: a doubling instead.
        pub affine_doubling: u32,
        /// An addition of an affine multiple of G to its opposite: the point at infinity.
        pub affine_opposite: u32,
        /// An addition of a cached multiple of Q to an equal point: a doubling instead.
        pub cached_doubling: u32,
        /// An addition of a cached multiple of Q to its opposite: the point at infinity.
        pub cached_opposite: u32,
        /// An addition of an entry of a prepared key's combs to an equal point: a doubling instead.
        pub prepared_doubling: u32,
        /// An addition of an entry of a prepared key's combs to its opposite: the point at infinity.
        pub prepared_opposite: u32,
        /// A doubling of the point at infinity after the chain has started.
        pub infinity_doubled: u32,
        /// x(R) mod n = r through x(R) = r + n (x(R) >= n).
        pub x_above_n: u32,
    }

    impl Branches {
        /// A count by its field name; None for another name.
        pub fn get(&self, name: &str) -> Option<u32> {
            Some(match name {
                "affine_doubling" => self.affine_doubling,
                "affine_opposite" => self.affine_opposite,
                "cached_doubling" => self.cached_doubling,
                "cached_opposite" => self.cached_opposite,
                "prepared_doubling" => self.prepared_doubling,
                "prepared_opposite" => self.prepared_opposite,
                "infinity_doubled" => self.infinity_doubled,
                "x_above_n" => self.x_above_n,
                _ => return None,
            })
        }
    }

    thread_local! {
        static COUNTS: Cell<Branches> = Cell::new(Branches::default());
    }

    /// The counts so far on this thread.
    pub(crate) fn current() -> Branches {
        COUNTS.with(Cell::get)
    }

    pub(crate) fn record(update: impl FnOnce(&mut Branches)) {
        COUNTS.with(|counts| {
            let mut branches = counts.get();
            update(&mut branches);
            counts.set(branches);
        });
    }

    /// `f`'s result and the branches it took on this thread (tests run in parallel threads, so the counts
    /// are per thread).
    pub fn count<T>(f: impl FnOnce() -> T) -> (T, Branches) {
        COUNTS.with(|counts| counts.set(Branches::default()));
        let out = f();
        (out, COUNTS.with(Cell::take))
    }
}

/// The table entry for a non-zero wNAF digit d, that is |d| P for the table of odd multiples of P.
fn entry<T>(table: &[T], digit: i8) -> Option<&T> {
    if digit == 0 {
        return None;
    }
    table.get(usize::from(digit.unsigned_abs() / 2))
}

/// The width-w NAF of k < 2^256 (Guide to ECC, Algorithm 3.35), least significant digit first: every
/// non-zero digit is odd with |digit| < 2^(w-1), and any w consecutive digits have at most one non-zero.
fn wnaf(k: &U256, w: u32) -> [i8; NAF_DIGITS] {
    let mut naf = [0i8; NAF_DIGITS];
    // A fifth limb: subtracting a negative digit can carry past bit 255.
    let mut k = [k[0], k[1], k[2], k[3], 0];
    let window = 1u64 << w;
    let mut i = 0;
    while i < NAF_DIGITS && k != [0; 5] {
        if k[0] & 1 == 0 {
            // Skip a run of zero digits at once.
            let zeros = k[0].trailing_zeros().min(63);
            shift_right(&mut k, zeros);
            i += zeros as usize;
            continue;
        }
        // digit = k mods 2^w, in (-2^(w-1), 2^(w-1)); k - digit is a multiple of 2^w.
        let low = k[0] & (window - 1);
        let digit = if low >= window / 2 {
            // k - (low - 2^w) = k + (2^w - low)
            let mut carry = window - low;
            for limb in k.iter_mut() {
                let (sum, overflow) = limb.overflowing_add(carry);
                *limb = sum;
                carry = u64::from(overflow);
            }
            low as i64 - window as i64
        } else {
            k[0] -= low;
            low as i64
        };
        if let Some(slot) = naf.get_mut(i) {
            *slot = digit as i8;
        }
        shift_right(&mut k, w);
        i += w as usize;
    }
    naf
}

/// k >>= bits, for 1 <= bits <= 63.
fn shift_right(k: &mut [u64; 5], bits: u32) {
    for i in 0..4 {
        k[i] = (k[i] >> bits) | (k[i + 1] << (64 - bits));
    }
    k[4] >>= bits;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g_multiples_are_the_odd_multiples_of_g() {
        // Three entries against coordinates computed apart: G (SP 800-186), 3G and 63G (Python integers).
        let table = g_multiples();
        assert_eq!(table.len(), 32);
        for (i, x, y) in [
            (
                0,
                "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296",
                "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5",
            ),
            (
                1,
                "5ecbe4d1a6330a44c8f7ef951d4bf165e6c6b721efada985fb41661bc6e7fd6c",
                "8734640c4998ff7e374b06ce1a64a2ecd82ab036384fb83d9a79b127a27d5032",
            ),
            (
                31,
                "6a9501d85bf5dc802a1f28a08acc7d8fdf53c8af01a7cd3832a290825d8bdac1",
                "ca640ad19347374381c6c6e44a3c56a3f8461b5c697a6f3530aff53d5f1ef1a3",
            ),
        ] {
            assert!(
                table[i].x.equals(&Fe::from_hex_const(x)),
                "x of {}G",
                2 * i + 1
            );
            assert!(
                table[i].y.equals(&Fe::from_hex_const(y)),
                "y of {}G",
                2 * i + 1
            );
        }
    }

    /// Deterministic pseudo-random 256-bit values.
    fn scalars(count: usize) -> Vec<U256> {
        let mut state = 0x0123_4567_89ab_cdefu64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut out: Vec<U256> = (0..count)
            .map(|_| [next(), next(), next(), next()])
            .collect();
        let n_minus_1 = scalar::sub(&scalar::N, &[1, 0, 0, 0]).0;
        out.extend([[0; 4], [1, 0, 0, 0], n_minus_1, [u64::MAX; 4]]);
        out.extend([[u64::MAX, 0, 0, 0], [0x5555_5555_5555_5555; 4]]);
        out
    }

    #[test]
    fn wnaf_digits_add_up_and_are_sparse() {
        for k in scalars(500) {
            for w in [G_WINDOW, Q_WINDOW] {
                let naf = wnaf(&k, w);
                // Horner from the top, mod 2^256.
                let mut acc = [0u64; 4];
                let mut last_nonzero: Option<usize> = None;
                for (i, &d) in naf.iter().enumerate().rev() {
                    acc = scalar::add(&acc, &acc).0;
                    let magnitude = [u64::from(d.unsigned_abs()), 0, 0, 0];
                    acc = if d >= 0 {
                        scalar::add(&acc, &magnitude).0
                    } else {
                        scalar::sub(&acc, &magnitude).0
                    };
                    if d != 0 {
                        assert!(d % 2 != 0, "odd digits");
                        assert!(i32::from(d).abs() < 1 << (w - 1));
                        if let Some(j) = last_nonzero {
                            assert!(j - i >= w as usize, "at most one non-zero digit in w");
                        }
                        last_nonzero = Some(i);
                    }
                }
                assert_eq!(acc, k);
            }
        }
    }

    #[test]
    fn scalar_inverse_and_products() {
        // Montgomery products: mont_mul(a, b) = a b / 2^256, so mont_mul(a, a^-1) = mont_mul(1, 1).
        let one = [1u64, 0, 0, 0];
        let r_inv = scalar::mont_mul(&one, &one);
        for a in scalars(300) {
            let a = scalar::reduce(&a);
            match scalar::invert(&a) {
                None => assert!(scalar::is_zero(&a)),
                Some(inverse) => {
                    assert!(scalar::lt(&inverse, &scalar::N));
                    assert_eq!(scalar::mont_mul(&a, &inverse), r_inv);
                }
            }
        }
        assert_eq!(scalar::invert(&scalar::N), None);
        assert_eq!(scalar::invert(&[u64::MAX; 4]), None);
    }

    /// The division steps' inverse at the values that stress it: every power of two and n minus it (long
    /// runs of zeros and of ones, where the batches shift out the most at once), every 2^k - 1, the
    /// values next to n and n / 2, and many pseudo-random ones. An inverse is unique, so a a^-1 = 1 is the
    /// whole check; inverting it again must give a back.
    #[test]
    fn inverse_at_the_edges() {
        let one = [1u64, 0, 0, 0];
        let r_inv = scalar::mont_mul(&one, &one);
        let minus = |a: &U256, b: &U256| scalar::sub(a, b).0;
        let mut values = Vec::new();
        for k in 0..256 {
            let mut power = [0u64; 4];
            power[k / 64] = 1 << (k % 64);
            values.push(scalar::reduce(&power));
            values.push(scalar::reduce(&minus(&power, &one)));
            if scalar::lt(&power, &scalar::N) {
                values.push(minus(&scalar::N, &power));
            }
        }
        let half = {
            let (sum, _) = scalar::add(&scalar::N, &one);
            [
                (sum[0] >> 1) | (sum[1] << 63),
                (sum[1] >> 1) | (sum[2] << 63),
                (sum[2] >> 1) | (sum[3] << 63),
                sum[3] >> 1,
            ]
        };
        values.extend([half, minus(&half, &one), minus(&scalar::N, &[2, 0, 0, 0])]);
        values.extend(scalars(20_000).iter().map(scalar::reduce));
        for a in values.into_iter().filter(|a| !scalar::is_zero(a)) {
            let inverse = scalar::invert(&a).expect("every non-zero value below n is invertible");
            assert!(scalar::lt(&inverse, &scalar::N), "{a:x?}");
            assert_eq!(scalar::mont_mul(&a, &inverse), r_inv, "{a:x?}");
            assert_eq!(scalar::invert(&inverse), Some(a), "{a:x?}");
        }
    }
}
