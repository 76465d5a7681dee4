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
//! - [`scalar`]: the few operations mod n: a binary-algorithm inverse and Montgomery products.
//! - u1 G + u2 Q by interleaved width-w NAF (Shamir's trick; Hankerson, Menezes, Vanstone, "Guide to
//!   Elliptic Curve Cryptography", Algorithms 3.35 and 3.51): one chain of 256 doublings, additions of
//!   odd multiples of G from a table of affine points computed once, and of Q from a per-signature table.
//! - The final comparison x(R) mod n = r without an inversion: X = r Z^2, or (r + n) Z^2 when r + n < p.
//!
//! Nothing here is constant time; nothing here needs to be (no secret is involved).

mod field;
mod point;
mod scalar;

use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use field::{hex32, Fe};
use point::{to_affine_batch, Affine, Cached, Jacobian};
use scalar::U256;

/// The curve coefficient b (FIPS 186-5 / SP 800-186 section 3.2.1.3).
const B: [u8; 32] = hex32("5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b");
/// The base point G.
const GX: [u8; 32] = hex32("6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296");
const GY: [u8; 32] = hex32("4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5");

/// wNAF width for u1 (multiples of G come from a table of 2^(w-2) affine points, built once).
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
    /// This is the partial public-key validation of SP 800-56A rev. 3 section 5.6.2.3.4 (and SEC 1 v2
    /// section 3.2.2.1 steps 1-2); with cofactor 1, a point on the curve other than infinity has order n,
    /// so it is also the full validation of section 5.6.2.3.3. An affine point is never the point at
    /// infinity; the common encoding of it as (0, 0) is not on the curve (b != 0) and is refused.
    pub fn from_affine(x: &[u8; 32], y: &[u8; 32]) -> Option<Self> {
        let x = Fe::from_be_bytes(x)?;
        let y = Fe::from_be_bytes(y)?;
        let b = Fe::from_be_bytes(&B)?;
        let rhs = x.square().mul(&x).sub(&x.mul_small(3)).add(&b);
        y.square().equals(&rhs).then_some(P256Verifier { q: Affine { x, y } })
    }

    /// ECDSA verification of SHA-256(message) with a 64-byte r || s signature: 1 <= r, s < n, else false.
    /// High-S signatures are valid ECDSA and must be accepted (RFC 9449's own example proof has one).
    ///
    /// FIPS 186-5 section 6.4.2 (SEC 1 v2 section 4.1.4), step by step.
    pub fn verify_sha256(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let (Some(r_bytes), Some(s_bytes)) = (
            signature.first_chunk::<32>(),
            signature.last_chunk::<32>(),
        ) else {
            return false;
        };
        let (r, s) = (scalar::from_be_bytes(r_bytes), scalar::from_be_bytes(s_bytes));
        // Step 2: 1 <= r, s <= n - 1.
        let in_range = |v: &U256| !scalar::is_zero(v) && scalar::lt(v, &scalar::N);
        if !in_range(&r) || !in_range(&s) {
            return false;
        }
        // Steps 3-5: H = SHA-256(M); e = the leftmost 256 bits of H as an integer (n has 256 bits, so
        // all of them), taken mod n for the products below.
        let digest: [u8; 32] = Sha256::digest(message).into();
        let e = scalar::reduce(&scalar::from_be_bytes(&digest));
        // Step 6: w = s^-1 mod n. Inverting the Montgomery form s 2^-256 gives w 2^256, so that the
        // Montgomery products of step 7 come out as plain e w and r w.
        let Some(w_mont) = scalar::invert(&scalar::mont_mul(&s, &[1, 0, 0, 0])) else {
            return false;
        };
        // Step 7: u = e w mod n, v = r w mod n.
        let u1 = scalar::mont_mul(&e, &w_mont);
        let u2 = scalar::mont_mul(&r, &w_mont);
        // Step 8: R = u G + v Q; reject the point at infinity.
        let point = self.lincomb(&u1, &u2);
        if point.is_infinity() {
            return false;
        }
        // Steps 9-10: x_R mod n = r. With x_R = X / Z^2 in [0, p) and p < 2n, x_R mod n = r exactly when
        // x_R = r or x_R = r + n (possible only if r + n < p); compare X with r Z^2 and (r + n) Z^2.
        let zz = point.z.square();
        let matches = |candidate: &[u8; 32]| {
            Fe::from_be_bytes(candidate).is_some_and(|c| point.x.equals(&c.mul(&zz)))
        };
        if matches(r_bytes) {
            return true;
        }
        let (r_plus_n, carry) = scalar::add(&r, &scalar::N);
        !carry && matches(&scalar::to_be_bytes(&r_plus_n))
    }

    /// u1 G + u2 Q by interleaved wNAF (Guide to ECC, Algorithm 3.51 with Algorithm 3.35's digits).
    fn lincomb(&self, u1: &U256, u2: &U256) -> Jacobian {
        let g_table = g_table();
        let q_table = self.q_table();
        let (naf1, naf2) = (wnaf(u1, G_WINDOW), wnaf(u2, Q_WINDOW));
        let mut acc = Jacobian::INFINITY;
        let mut started = false;
        for (&d1, &d2) in naf1.iter().zip(&naf2).rev() {
            if started {
                acc = acc.double();
            }
            if d1 != 0 {
                let p = &g_table[usize::from(d1.unsigned_abs() / 2)];
                acc = acc.add_affine(&if d1 > 0 { *p } else { p.neg() });
                started = true;
            }
            if d2 != 0 {
                let p = &q_table[usize::from(d2.unsigned_abs() / 2)];
                acc = acc.add_cached(&if d2 > 0 { *p } else { p.neg() });
                started = true;
            }
        }
        acc
    }

    /// Q, 3Q, 5Q, ..., (2^(w-1) - 1) Q.
    fn q_table(&self) -> [Cached; Q_TABLE_LEN] {
        let q = Jacobian::from(&self.q);
        let twice = Cached::new(&q.double());
        let mut table = [Cached::new(&q); Q_TABLE_LEN];
        let mut current = q;
        for slot in table.iter_mut().skip(1) {
            current = current.add_cached(&twice);
            *slot = Cached::new(&current);
        }
        table
    }
}

/// G, 3G, 5G, ..., (2^(w-1) - 1) G as affine points, computed on first use.
fn g_table() -> &'static [Affine; G_TABLE_LEN] {
    static TABLE: OnceLock<[Affine; G_TABLE_LEN]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let g = Jacobian {
            x: Fe::from_be_bytes(&GX).unwrap_or(Fe::ZERO),
            y: Fe::from_be_bytes(&GY).unwrap_or(Fe::ZERO),
            z: Fe::ONE,
        };
        let twice = Cached::new(&g.double());
        let mut points = [g; G_TABLE_LEN];
        let mut current = g;
        for slot in points.iter_mut().skip(1) {
            current = current.add_cached(&twice);
            *slot = current;
        }
        to_affine_batch(&points)
    })
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
