//! The 28-bit integer arithmetic of RSAVP1, for machines without fused multiply-add (where they have it,
//! [`super::fma`] runs instead).
//!
//! Numbers are little-endian vectors of 28-bit limbs in 32-bit words. A product of two limbs is below
//! 2^56, so the products of a whole column of a Montgomery multiplication (a b and m n, at most 2 L of
//! them) add up in 64-bit lanes without any carry handling; the multiplication is product scanning (Koç,
//! Acar and Kaliski, "Analyzing and comparing Montgomery multiplication algorithms", 1996, FIPS method)
//! where each column is one dot product. On wasm32 the dot product uses SIMD (`i64x2.extmul_*_i32x4_u`,
//! two 32 x 32 -> 64-bit products per instruction); elsewhere the same sums are computed one product at a
//! time, so the native tests check every index and bound the wasm code relies on.
//!
//! Measured in V8 (Node 20) on a 2048-bit key, per RS256 verification without the hash: this code about
//! 56 µs; the previous fast path here (32-bit limbs, CIOS, no SIMD) about 94 µs; the `rsa` crate about
//! 1280 µs. 64-bit limbs with 128-bit products took about 180 µs, a dedicated squaring (half the a a
//! products) was slower than the plain multiplication once vectorised, and unrolling the vector loop
//! gained under 5%.

use super::limbs::{less_than, pow_65537, Limbs};
use super::MAX_BITS;

/// Bits per limb.
const LIMB_BITS: usize = 28;
const LIMB_MASK: u32 = (1 << LIMB_BITS) - 1;
/// The limb operations at this width.
type L28 = Limbs<LIMB_BITS>;
/// Limbs for the largest modulus: R = 2^(28 L) must exceed 4 n (see [`IntegerVerifier::mont_mul_in`]).
const MAX_LIMBS: usize = (MAX_BITS + 2).div_ceil(LIMB_BITS);
/// The most limbs for which a column sum of [`IntegerVerifier::mont_mul_in`] (at most 2 L products below
/// 2^56, and the previous column's carry, below 2^36) fits in 64 bits: keys up to 3552 bits (2048 and 3072).
const U64_MAX_LIMBS: usize = 127;
const _: () = assert!(
    2 * U64_MAX_LIMBS as u128 * (LIMB_MASK as u128 * LIMB_MASK as u128) + (1 << 36) < 1 << 64
);
/// Zero limbs after a number, so that a dot product runs in whole vectors of four limbs.
const PAD: usize = 4;
/// A number with its padding.
const WIDTH: usize = MAX_LIMBS + PAD;

/// The constants of one modulus for this arithmetic.
///
/// `L` limbs of 28 bits, with `28 L >= 8 k + 2` for a k-octet modulus, so that every k-octet string fits
/// and `R = 2^(28 L) >= 4 n`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct IntegerVerifier {
    /// The modulus n, L limbs.
    n: Box<[u32]>,
    /// n with its limbs in reverse order, then PAD zero limbs: column i of a product reads n[i - j] for
    /// increasing j from a contiguous slice.
    n_rev: Box<[u32]>,
    /// -n^-1 mod 2^28, the Montgomery reduction constant.
    n0_inv: u32,
    /// R^2 mod n, then PAD zero limbs: Montgomery multiplication by it converts into Montgomery form.
    r2: Box<[u32]>,
}

impl IntegerVerifier {
    /// The constants for `modulus` (big-endian, no leading zero, odd, `bits` long, at most 4096). Out of
    /// line, like [`Self::rsavp1_out_of_line`]: V8 compiles a wasm function whole on its first call, and a
    /// machine that fuses multiply-add never runs this code (`--no-inline=*out_of_line*`, Cargo.toml).
    #[inline(never)]
    pub(super) fn new_out_of_line(modulus: &[u8], bits: usize) -> Self {
        let limbs = (8 * modulus.len() + 2).div_ceil(LIMB_BITS);
        let mut n = vec![0u32; limbs];
        L28::from_be_bytes(modulus, &mut n);
        let n0_inv = L28::neg_inverse(n[0].into()) as u32;
        let mut n_rev: Vec<u32> = n.iter().rev().copied().collect();
        n_rev.resize(limbs + PAD, 0);
        let mut verifier = Self {
            n: n.into(),
            n_rev: n_rev.into(),
            n0_inv,
            r2: Box::default(),
        };

        // R^2 mod n, R = 2^(28 L).
        let (mut x, mut y, mut scratch) = ([0u32; WIDTH], [0u32; WIDTH], [0u32; WIDTH]);
        let s = L28::r2_seed(&verifier.n, bits, &mut x[..limbs]);
        for _ in 0..s {
            verifier.mont_mul(&mut y, &x, &x, &mut scratch);
            std::mem::swap(&mut x, &mut y);
        }
        verifier.reduce(&mut x);
        verifier.r2 = x[..limbs + PAD].into();
        verifier
    }

    /// RSAVP1 (RFC 8017 section 5.2.2) for a k-octet `signature`: `out` (k octets) = I2OSP(m, k) for
    /// m = s^65537 mod n, s = OS2IP(signature); false, and `out` untouched, unless s < n.
    #[inline(never)]
    pub(super) fn rsavp1_out_of_line(&self, signature: &[u8], out: &mut [u8]) -> bool {
        let limbs = self.n.len();
        // Any k octets fit in L limbs.
        let mut s = [0u32; WIDTH];
        L28::from_be_bytes(signature, &mut s[..limbs]);
        // Step 1: s must be below n.
        if !less_than(&s[..limbs], &self.n) {
            return false;
        }
        // Step 2: m = s^e mod n, e = 65537.
        let mut m = [0u32; WIDTH];
        pow_65537(&s, &self.r2, &mut m, |out, a, b, scratch| {
            self.mont_mul(out, a, b, scratch)
        });
        self.reduce(&mut m);
        // I2OSP (section 4.1): m < n < 256^k fits.
        L28::to_be_bytes(&m[..limbs], out);
        true
    }

    /// Montgomery multiplication, out = a b R^-1 mod n, for a, b < 2n; out < 2n. Every argument is L
    /// limbs followed by PAD zero limbs (out's padding is left as it is); `b_rev` is scratch space. The
    /// column sums are kept in 64 bits where they fit (L <= [`U64_MAX_LIMBS`]), else in 128: on a 2048-bit
    /// key the 128-bit additions and shifts cost 11-14 µs of an RS256 verification's 111 in workerd (README
    /// "What each step bought").
    fn mont_mul(&self, out: &mut [u32], a: &[u32], b: &[u32], b_rev: &mut [u32]) {
        if self.n.len() <= U64_MAX_LIMBS {
            self.mont_mul_in::<u64>(out, a, b, b_rev);
        } else {
            self.mont_mul_in::<u128>(out, a, b, b_rev);
        }
    }

    /// [`Self::mont_mul`] with column sums of type `C`.
    ///
    /// Product scanning: column i sums a[j] b[i-j] and m[j] n[i-j] over j, plus the carry from column
    /// i - 1; for i < L the multiple m[i] of n that clears the column's low 28 bits is chosen then. Each
    /// product is below 2^56 and a column has at most 2 L <= 294 of them, so each of the four 64-bit
    /// lanes of [`dot2`] (a quarter of the products) stays below 2^63, and each of the two sums of two
    /// lanes it returns below 2^64. The result is (a b + m n) / R < (4 n^2 + R n) / R < 2n because
    /// R >= 4 n (Walter, "Montgomery exponentiation needs no final subtractions", 1999), so no
    /// subtraction is needed between steps.
    // SIMD on wasm32 here too, so that `dot2` is inlined into the column loops.
    #[cfg_attr(target_arch = "wasm32", target_feature(enable = "simd128"))]
    fn mont_mul_in<C: Column>(&self, out: &mut [u32], a: &[u32], b: &[u32], b_rev: &mut [u32]) {
        let l = self.n.len();
        let (a, b_rev, n_rev) = (&a[..l + PAD], &mut b_rev[..l + PAD], &self.n_rev[..l + PAD]);
        for (d, &s) in b_rev.iter_mut().zip(b[..l].iter().rev()) {
            *d = s;
        }
        b_rev[l..].fill(0);
        let mut m = [0u32; WIDTH];
        let m = &mut m[..l + PAD];
        let n0 = u64::from(self.n[0]);
        let mut acc = C::ZERO;
        for i in 0..l {
            // Column i: a[j] b[i-j] for j <= i and m[j] n[i-j] for j < i (m[i..] is still zero). Past
            // the column, the reversed b and n read their zero padding.
            acc.add(dot2(a, &b_rev[l - 1 - i..], m, &n_rev[l - 1 - i..], i + 1));
            let mi = acc.low().wrapping_mul(self.n0_inv) & LIMB_MASK;
            m[i] = mi;
            acc.add([u64::from(mi) * n0, 0]);
            debug_assert_eq!(acc.low() & LIMB_MASK, 0);
            acc.shift();
        }
        for i in l..2 * l - 1 {
            // Column i: j from i + 1 - L to L - 1; past the column, a and m read their zero padding.
            let lo = i + 1 - l;
            acc.add(dot2(&a[lo..], b_rev, &m[lo..], n_rev, 2 * l - 1 - i));
            out[i - l] = acc.low() & LIMB_MASK;
            acc.shift();
        }
        // out < 2n < R: the last column's carry is the top limb.
        debug_assert!(acc.fits_limb());
        out[l - 1] = acc.low();
    }

    /// x mod n for x < 2n.
    fn reduce(&self, x: &mut [u32]) {
        let l = self.n.len();
        if !less_than(&x[..l], &self.n) {
            L28::sub_in_place(&mut x[..l], &self.n);
        }
    }
}

/// The running column sum of [`IntegerVerifier::mont_mul_in`]. Additions are checked for overflow in the
/// tests' builds, which proves [`U64_MAX_LIMBS`].
trait Column: Copy {
    const ZERO: Self;
    /// Adds both halves of a [`dot2`] result.
    fn add(&mut self, sums: [u64; 2]);
    /// The low 32 bits.
    fn low(self) -> u32;
    /// Drops the low 28 bits, leaving the carry into the next column.
    fn shift(&mut self);
    /// Whether the value fits in one limb.
    fn fits_limb(self) -> bool;
}

macro_rules! column {
    ($($t:ty),*) => {$(
        impl Column for $t {
            const ZERO: Self = 0;
            #[inline(always)]
            fn add(&mut self, [x, y]: [u64; 2]) {
                *self += Self::from(x);
                *self += Self::from(y);
            }
            #[inline(always)]
            fn low(self) -> u32 {
                self as u32
            }
            #[inline(always)]
            fn shift(&mut self) {
                *self >>= LIMB_BITS;
            }
            fn fits_limb(self) -> bool {
                self <= Self::from(LIMB_MASK)
            }
        }
    )*};
}
column!(u64, u128);

/// Σ a[k] b[k] + c[k] d[k] for k below `len` rounded up to a multiple of four, in two parts whose sum
/// it is; the caller guarantees that the products past `len` are zero. Four 64-bit lanes (lane j takes
/// the limbs k = j mod 4), each below 2^63, then lanes 0 + 2 and 1 + 3, each below 2^64 (see
/// [`IntegerVerifier::mont_mul_in`]).
#[cfg(target_arch = "wasm32")]
#[target_feature(enable = "simd128")]
#[inline]
fn dot2(a: &[u32], b: &[u32], c: &[u32], d: &[u32], len: usize) -> [u64; 2] {
    use core::arch::wasm32::{
        u64x2_add, u64x2_extmul_high_u32x4, u64x2_extmul_low_u32x4, u64x2_extract_lane, u64x2_splat,
    };
    let end = len.div_ceil(4) * 4;
    let (a, b, c, d) = (&a[..end], &b[..end], &c[..end], &d[..end]);
    let (mut low, mut high) = (u64x2_splat(0), u64x2_splat(0));
    for k in (0..end).step_by(4) {
        // SAFETY: k + 3 < end, and every slice has exactly `end` limbs (the reslicing above checks it).
        let [va, vb, vc, vd] = unsafe { super::limbs::load4([a, b, c, d], k) };
        low = u64x2_add(low, u64x2_extmul_low_u32x4(va, vb));
        high = u64x2_add(high, u64x2_extmul_high_u32x4(va, vb));
        low = u64x2_add(low, u64x2_extmul_low_u32x4(vc, vd));
        high = u64x2_add(high, u64x2_extmul_high_u32x4(vc, vd));
    }
    // The low vector holds lanes 0 and 1, the high one lanes 2 and 3.
    let pair = u64x2_add(low, high);
    let sums = [u64x2_extract_lane::<0>(pair), u64x2_extract_lane::<1>(pair)];
    // The lanes wrap silently: with debug assertions on, the exact sum proves that none did.
    #[cfg(debug_assertions)]
    {
        let exact: u128 = (0..end)
            .map(|k| u128::from(a[k]) * u128::from(b[k]) + u128::from(c[k]) * u128::from(d[k]))
            .sum();
        let sum = u128::from(sums[0]) + u128::from(sums[1]);
        assert_eq!(sum, exact, "a 64-bit lane of dot2 overflowed");
    }
    sums
}

/// [`dot2`] one product at a time, over the same limbs and in the same four 64-bit lanes (lane j takes
/// the limbs k = j mod 4), so that the overflow checks of the native test builds prove the lane bound the
/// wasm32 code relies on.
#[cfg(not(target_arch = "wasm32"))]
fn dot2(a: &[u32], b: &[u32], c: &[u32], d: &[u32], len: usize) -> [u64; 2] {
    let end = len.div_ceil(4) * 4;
    let (a, b, c, d) = (&a[..end], &b[..end], &c[..end], &d[..end]);
    let mut lanes = [0u64; 4];
    for k in 0..end {
        lanes[k % 4] += u64::from(a[k]) * u64::from(b[k]) + u64::from(c[k]) * u64::from(d[k]);
    }
    [lanes[0] + lanes[2], lanes[1] + lanes[3]]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rsa::tests::modulus;

    #[test]
    fn montgomery_constants() {
        for bits in [2048, 2051, 3072, 4096] {
            let v = IntegerVerifier::new_out_of_line(&modulus(bits), bits);
            let l = v.n.len();
            assert!(LIMB_BITS * l >= bits + 2, "R >= 4n");
            assert_eq!(
                v.n[0].wrapping_mul(v.n0_inv) & LIMB_MASK,
                LIMB_MASK,
                "n n0' = -1 mod 2^28"
            );
            // R^2 R^-1 R^-1 = 1: two Montgomery reductions of R^2 give 1.
            let mut one = [0u32; WIDTH];
            one[0] = 1;
            let (mut x, mut y, mut scratch) = ([0u32; WIDTH], [0u32; WIDTH], [0u32; WIDTH]);
            v.mont_mul(&mut x, &v.r2, &one, &mut scratch);
            v.mont_mul(&mut y, &x, &one, &mut scratch);
            v.reduce(&mut y);
            assert_eq!(y, one, "{bits}");
        }
    }

    /// The largest operands the verification produces (just below 2n, every limb near 2^28) keep every
    /// column inside its bounds: the debug assertions in `mont_mul_in` and the overflow checks of its
    /// column sums check the carries. 3552 bits is the largest key summed in 64 bits, 3560 the smallest
    /// summed in 128.
    #[test]
    fn largest_operands() {
        for (bits, limbs) in [(2048, 74), (3552, U64_MAX_LIMBS), (3560, 128), (4096, 147)] {
            let n = vec![0xffu8; bits / 8];
            let v = IntegerVerifier::new_out_of_line(&n, bits);
            let l = v.n.len();
            assert_eq!(l, limbs, "{bits}");
            let mut x = [0u32; WIDTH];
            L28::two_n_minus_one(&v.n, &mut x[..l]);
            let (mut y, mut scratch) = ([0u32; WIDTH], [0u32; WIDTH]);
            v.mont_mul(&mut y, &x, &x, &mut scratch);
            assert!(!less_than(&x[..l], &y[..l]), "the product is below 2n");
        }
    }
}
