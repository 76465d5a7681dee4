//! Montgomery multiplication on 52-bit limbs held in `f64`, each product of two limbs split exactly into
//! a high and a low part by fused multiply-add (wasm's relaxed SIMD `f64x2.relaxed_madd`, where the
//! hardware fuses it; `f64::mul_add` elsewhere). A 2048-bit number is 40 limbs here instead of 74 of 28
//! bits, so a multiplication takes 3,200 products instead of 10,952, two per instruction.
//!
//! For limbs a, b < 2^52 the product p = a b is at most (2^52 - 1)^2 < 2^104. fma(a, b, 2^104) rounds
//! p + 2^104, whose ulp is 2^52, to the nearest multiple: h = 2^104 + H 2^52 with H = round(p / 2^52)
//! <= 2^52 - 2, and H is the low bits of h's encoding. p - H 2^52 = lo then lies in [-2^51, 2^51].
//! h - (2^104 - 1.5 2^52) = (H + 1.5) 2^52 = (2H + 3) 2^51 is exact (Sterbenz; below 2^104, its ulp
//! at most 2^51), and fma(-a, b, (H + 1.5) 2^52) = 1.5 2^52 - lo lies in [2^52, 2^53], where the ulp is
//! 1: exact, with -lo the encoding's low bits. The encodings add up as 64-bit integers, the constants'
//! encodings are taken off once per column, and each product counts its lo in its own column and its H
//! in the next (H 2^52 is one limb up).

use super::limbs::{less_than, pow_65537, Limbs};
use super::MAX_BITS;

/// Bits per limb.
const LIMB_BITS: usize = 52;
const LIMB_MASK: u64 = (1 << LIMB_BITS) - 1;
/// The limb operations at this width.
type L52 = Limbs<LIMB_BITS>;
/// Limbs for the largest modulus: R = 2^(52 L) must exceed 4 n.
const MAX_LIMBS: usize = (MAX_BITS + 2).div_ceil(LIMB_BITS);
/// Zero limbs after a number, so that a dot product runs in whole vectors of two limbs.
const PAD: usize = 2;
/// A number with its padding.
const WIDTH: usize = MAX_LIMBS + PAD;

/// 2^104, whose ulp is 2^52.
const HIGH: f64 = 20282409603651670423947251286016.0;
/// 1.5 2^52: LOW - lo is in [2^52, 2^53], where the ulp is 1.
const LOW: f64 = 6755399441055744.0;
/// HIGH - LOW, exact: h - SHIFT = (H + 1.5) 2^52, the second multiply-add's addend.
const SHIFT: f64 = HIGH - LOW;

/// The constants of one modulus for this arithmetic.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct FmaVerifier {
    /// n, L limbs.
    n: Box<[u64]>,
    /// n with its limbs in reverse order, then PAD zero limbs.
    n_rev: Box<[f64]>,
    /// -n^-1 mod 2^52.
    n0_inv: u64,
    /// R^2 mod n, then PAD zero limbs.
    r2: Box<[f64]>,
}

// The limbs are integers below 2^52, never NaN.
impl Eq for FmaVerifier {}

/// Whether wasm's relaxed multiply-add is fused here: it may round the product first, where the machine
/// has no fused instruction, and this arithmetic is exact only when it does not.
#[cfg(target_arch = "wasm32")]
pub(super) fn fused() -> bool {
    #[target_feature(enable = "simd128,relaxed-simd")]
    fn probe(x: f64, c: f64) -> f64 {
        use core::arch::wasm32::{f64x2_extract_lane, f64x2_relaxed_madd, f64x2_splat};
        let x = f64x2_splat(x);
        f64x2_extract_lane::<0>(f64x2_relaxed_madd(x, x, f64x2_splat(c)))
    }
    // (2^27 + 1)^2 - 2^54 = 2^28 + 1, where a rounded product gives 2^28. Hidden from the compiler,
    // which would fold the constants as if fused.
    let (x, c) = core::hint::black_box((134217729.0, -18014398509481984.0));
    probe(x, c) == 268435457.0
}

/// `f64::mul_add` is always fused.
#[cfg(not(target_arch = "wasm32"))]
pub(super) fn fused() -> bool {
    true
}

impl FmaVerifier {
    /// The constants for `modulus` (big-endian, no leading zero, odd, `bits` long, at most 4096).
    pub(super) fn new(modulus: &[u8], bits: usize) -> Self {
        let limbs = (8 * modulus.len() + 2).div_ceil(LIMB_BITS);
        let mut n = vec![0u64; limbs];
        L52::from_be_bytes(modulus, &mut n);
        let n0_inv = L52::neg_inverse(n[0]);
        let mut n_rev: Vec<f64> = n.iter().rev().map(|&x| x as f64).collect();
        n_rev.resize(limbs + PAD, 0.0);
        let mut verifier = Self {
            n: n.into(),
            n_rev: n_rev.into(),
            n0_inv,
            r2: Box::default(),
        };

        // R^2 mod n, R = 2^(52 L).
        let mut x = [0u64; WIDTH];
        let s = L52::r2_seed(&verifier.n, bits, &mut x[..limbs]);
        let (mut xf, mut y, mut scratch) = ([0.0; WIDTH], [0.0; WIDTH], [0.0; WIDTH]);
        for (f, &v) in xf.iter_mut().zip(&x[..limbs]) {
            *f = v as f64;
        }
        for _ in 0..s {
            verifier.mont_mul(&mut y, &xf, &xf, &mut scratch);
            std::mem::swap(&mut xf, &mut y);
        }
        let mut r2 = [0u64; WIDTH];
        verifier.reduce(&xf, &mut r2[..limbs]);
        verifier.r2 = r2[..limbs + PAD].iter().map(|&v| v as f64).collect();
        verifier
    }

    /// The modulus, big-endian, into all of `out` (k octets).
    pub(super) fn modulus(&self, out: &mut [u8]) {
        L52::to_be_bytes(&self.n, out);
    }

    /// RSAVP1 (RFC 8017 section 5.2.2) for a k-octet `signature`: `out` (k octets) = I2OSP(m, k) for
    /// m = s^65537 mod n, s = OS2IP(signature); false, and `out` untouched, unless s < n.
    pub(super) fn rsavp1(&self, signature: &[u8], out: &mut [u8]) -> bool {
        let limbs = self.n.len();
        // Any k octets fit in L limbs (52 L >= 8 k + 2).
        let mut s = [0u64; WIDTH];
        L52::from_be_bytes(signature, &mut s[..limbs]);
        // Step 1: s must be below n.
        if !less_than(&s[..limbs], &self.n) {
            return false;
        }
        let mut sf = [0.0; WIDTH];
        for (f, &v) in sf.iter_mut().zip(&s[..limbs]) {
            *f = v as f64;
        }
        // Step 2: m = s^e mod n, e = 65537.
        let mut y = [0.0; WIDTH];
        pow_65537(&sf, &self.r2, &mut y, |out, a, b, scratch| {
            self.mont_mul(out, a, b, scratch)
        });
        let mut m = [0u64; WIDTH];
        self.reduce(&y, &mut m[..limbs]);
        // I2OSP (section 4.1): m < n < 256^k fits.
        L52::to_be_bytes(&m[..limbs], out);
        true
    }

    /// `out` = x mod n (L limbs) for x < 2n.
    fn reduce(&self, x: &[f64], out: &mut [u64]) {
        for (o, &v) in out.iter_mut().zip(x) {
            *o = v as u64;
        }
        if !less_than(out, &self.n) {
            L52::sub_in_place(out, &self.n);
        }
    }

    /// Montgomery multiplication, out = a b R^-1 mod n, for a, b < 2n; out < 2n (R >= 4n, as in
    /// the 28-bit arithmetic's `mont_mul_in`). Every argument is L limbs then PAD zero limbs; `b_rev` is scratch.
    ///
    /// Product scanning: column i adds the lo of a[j] b[i-j] and m[j] n[i-j], the H of column i - 1's
    /// products, and the carry. A column's sum stays far inside 64 bits: at most 2 L <= 158 lo parts of
    /// magnitude 2^51 and as many H below 2^52 + 1.
    // The relaxed SIMD here too, so that `dot2` is inlined into the column loops.
    #[cfg_attr(
        target_arch = "wasm32",
        target_feature(enable = "simd128,relaxed-simd")
    )]
    fn mont_mul(&self, out: &mut [f64], a: &[f64], b: &[f64], b_rev: &mut [f64]) {
        let l = self.n.len();
        let (a, b_rev, n_rev) = (&a[..l + PAD], &mut b_rev[..l + PAD], &self.n_rev[..l + PAD]);
        for (d, &s) in b_rev.iter_mut().zip(b[..l].iter().rev()) {
            *d = s;
        }
        b_rev[l..].fill(0.0);
        let mut m = [0.0; WIDTH];
        let m = &mut m[..l + PAD];
        let split = Split::new();
        // The carry into the column, with the H of the previous column's products.
        let mut carry: i64 = 0;
        // m[i - 1]: it goes into `m` only once column i's dot product has read `m` (see below).
        let mut last_m: u64 = 0;
        for i in 0..l {
            let (high, low) = dot2(split, a, &b_rev[l - 1 - i..], m, &n_rev[l - 1 - i..], i + 1);
            // The dot product read m[i - 1] and m[i] as zero. m[i - 1] n[1] is added here, so that the
            // path from one m to the next runs through integer multiplications alone, not through
            // memory and the split, while the dot product of the next column starts.
            let (last_high, last_low) = mul_wide(last_m, self.n[1]);
            let sum = carry.wrapping_add(low).wrapping_add(last_low);
            let mi = (sum as u64).wrapping_mul(self.n0_inv) & LIMB_MASK;
            if i > 0 {
                m[i - 1] = last_m as f64;
            }
            // sum + m[i] n[0] is a multiple of 2^52; its quotient carries on.
            let (mn_high, mn_low) = mul_wide(mi, self.n[0]);
            let cleared = sum.wrapping_add(mn_low);
            debug_assert_eq!(cleared & LIMB_MASK as i64, 0);
            carry = (cleared >> LIMB_BITS) + high + mn_high + last_high;
            last_m = mi;
        }
        m[l - 1] = last_m as f64;
        for i in l..2 * l - 1 {
            let lo = i + 1 - l;
            let (high, low) = dot2(split, &a[lo..], b_rev, &m[lo..], n_rev, 2 * l - 1 - i);
            let sum = carry.wrapping_add(low);
            out[i - l] = (sum as u64 & LIMB_MASK) as f64;
            carry = (sum >> LIMB_BITS) + high;
        }
        debug_assert!((0..=LIMB_MASK as i64).contains(&carry));
        out[l - 1] = carry as f64;
    }
}

/// m n for m, n < 2^52 as (H, lo) with m n = H 2^52 + lo, 0 <= lo < 2^52, in integers.
fn mul_wide(m: u64, n: u64) -> (i64, i64) {
    let (mh, ml, nh, nl) = (m >> 26, m & 0x3ff_ffff, n >> 26, n & 0x3ff_ffff);
    let middle = mh * nl + ml * nh;
    let low = ml * nl + ((middle & 0x3ff_ffff) << 26);
    let high = mh * nh + (middle >> 26) + (low >> LIMB_BITS);
    (high as i64, (low & LIMB_MASK) as i64)
}

/// The encodings of HIGH and LOW as integers.
const HIGH_BITS: i64 = HIGH.to_bits() as i64;
const LOW_BITS: i64 = LOW.to_bits() as i64;

/// The split's constants, HIGH and SHIFT, as vectors: made once per multiplication and handed to each
/// column's [`dot2`].
#[cfg(target_arch = "wasm32")]
#[derive(Clone, Copy)]
struct Split(core::arch::wasm32::v128, core::arch::wasm32::v128);

#[cfg(target_arch = "wasm32")]
impl Split {
    /// Hidden from the compiler, so that they reach V8 as values set before the loops: workerd's V8
    /// builds a `v128.const` anew inside a loop at each iteration, three instructions each (as
    /// `benches/annotate.mjs` shows), where it keeps these in registers.
    #[target_feature(enable = "simd128")]
    #[inline]
    fn new() -> Self {
        use core::arch::wasm32::f64x2_splat;
        core::hint::black_box(Split(f64x2_splat(HIGH), f64x2_splat(SHIFT)))
    }
}

/// Natively the constants are scalars.
#[cfg(not(target_arch = "wasm32"))]
#[derive(Clone, Copy)]
struct Split;

#[cfg(not(target_arch = "wasm32"))]
impl Split {
    fn new() -> Self {
        Split
    }
}

/// For k below `len` rounded up to an even count: (Σ H, Σ lo) of a[k] b[k] and c[k] d[k], limbs below
/// 2^52; the caller guarantees that the products past `len` are zero.
#[cfg(target_arch = "wasm32")]
#[target_feature(enable = "simd128,relaxed-simd")]
#[inline]
fn dot2(
    Split(high_c, shift): Split,
    a: &[f64],
    b: &[f64],
    c: &[f64],
    d: &[f64],
    len: usize,
) -> (i64, i64) {
    use core::arch::wasm32::{
        f64x2_relaxed_madd, f64x2_relaxed_nmadd, f64x2_sub, i64x2_add, i64x2_extract_lane,
        i64x2_splat,
    };
    let end = len.div_ceil(2) * 2;
    let (a, b, c, d) = (&a[..end], &b[..end], &c[..end], &d[..end]);
    let (mut high, mut low) = (i64x2_splat(0), i64x2_splat(0));
    for k in (0..end).step_by(2) {
        // SAFETY: k + 1 < end, and every slice has exactly `end` limbs (the reslicing above checks it).
        let [va, vb, vc, vd] = unsafe { super::limbs::load4([a, b, c, d], k) };
        let h1 = f64x2_relaxed_madd(va, vb, high_c);
        let h2 = f64x2_relaxed_madd(vc, vd, high_c);
        // LOW - lo: the negated low part, exact (see the module's comment).
        let l1 = f64x2_relaxed_nmadd(va, vb, f64x2_sub(h1, shift));
        let l2 = f64x2_relaxed_nmadd(vc, vd, f64x2_sub(h2, shift));
        high = i64x2_add(high, i64x2_add(h1, h2));
        low = i64x2_add(low, i64x2_add(l1, l2));
    }
    let products = 2 * end as i64;
    let high = i64x2_extract_lane::<0>(high)
        .wrapping_add(i64x2_extract_lane::<1>(high))
        .wrapping_sub(products.wrapping_mul(HIGH_BITS));
    let neg_low = i64x2_extract_lane::<0>(low)
        .wrapping_add(i64x2_extract_lane::<1>(low))
        .wrapping_sub(products.wrapping_mul(LOW_BITS));
    // Were the multiply-add not fused, the parts would be wrong: with debug assertions on, the exact
    // sum checks them.
    #[cfg(debug_assertions)]
    {
        let exact: i128 = (0..end)
            .map(|k| a[k] as i128 * b[k] as i128 + c[k] as i128 * d[k] as i128)
            .sum();
        let sum = i128::from(high) * (1 << LIMB_BITS) - i128::from(neg_low);
        assert_eq!(sum, exact, "a product of dot2 was not split exactly");
    }
    (high, neg_low.wrapping_neg())
}

/// [`dot2`] with `f64::mul_add`, one product at a time.
#[cfg(not(target_arch = "wasm32"))]
fn dot2(_: Split, a: &[f64], b: &[f64], c: &[f64], d: &[f64], len: usize) -> (i64, i64) {
    let end = len.div_ceil(2) * 2;
    let (mut high, mut low) = (0i64, 0i64);
    for (x, y) in a[..end]
        .iter()
        .zip(&b[..end])
        .chain(c[..end].iter().zip(&d[..end]))
    {
        let h = x.mul_add(*y, HIGH);
        let l = (-x).mul_add(*y, h - SHIFT);
        high = high.wrapping_add(h.to_bits() as i64 - HIGH_BITS);
        low = low.wrapping_add(l.to_bits() as i64 - LOW_BITS);
    }
    (high, low.wrapping_neg())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rsa::tests::modulus;

    /// Σ x[k] y[k] exactly.
    fn exact(x: &[f64], y: &[f64]) -> i128 {
        x.iter().zip(y).map(|(&a, &b)| a as i128 * b as i128).sum()
    }

    /// The split of each product and its sum hold at the extremes: the largest limbs, products whose
    /// low half is a tie (H rounds to even, so lo is +2^51 or -2^51, the ends of its range), zeros.
    #[test]
    fn dot2_is_exact_at_the_extremes() {
        let max = LIMB_MASK as f64;
        let half = (1u64 << 51) as f64;
        let cases: [[f64; 2]; 8] = [
            [max, max],
            [half, 1.0],
            [half, 3.0],
            [half, 5.0],
            [3.0 * half / 2.0, 2.0],
            [max, 1.0],
            [0.0, max],
            [1.0, 1.0],
        ];
        for len in 1..=8 {
            for rotate in 0..cases.len() {
                let pick = |k: usize, side: usize| cases[(k + rotate) % cases.len()][side];
                let a: Vec<f64> = (0..len).map(|k| pick(k, 0)).chain([0.0; 2]).collect();
                let b: Vec<f64> = (0..len).map(|k| pick(k, 1)).chain([0.0; 2]).collect();
                let c: Vec<f64> = (0..len).map(|k| pick(k + 3, 1)).chain([0.0; 2]).collect();
                let d: Vec<f64> = (0..len).map(|k| pick(k + 5, 0)).chain([0.0; 2]).collect();
                let (high, low) = dot2(Split::new(), &a, &b, &c, &d, len);
                let got = i128::from(high) * (1 << LIMB_BITS) + i128::from(low);
                assert_eq!(got, exact(&a, &b) + exact(&c, &d), "{len} {rotate}");
            }
        }
        // More than a column of the largest key (2 L products) of the largest limbs.
        let len = MAX_LIMBS + 1;
        let a = vec![max; len];
        let (high, low) = dot2(Split::new(), &a, &a, &a, &a, len);
        let got = i128::from(high) * (1 << LIMB_BITS) + i128::from(low);
        assert_eq!(got, 2 * len as i128 * (LIMB_MASK as i128).pow(2));
    }

    /// The second multiply-add's addend is exact: HIGH - LOW rounds to nothing, and h - SHIFT at the
    /// largest H (of (2^52 - 1)^2) is (H + 1.5) 2^52.
    #[test]
    fn shift_is_exact() {
        assert_eq!(SHIFT as u128, (1 << 104) - (3 << 51));
        let max = LIMB_MASK as f64;
        let h = max.mul_add(max, HIGH);
        assert_eq!(h.to_bits() as i64 - HIGH_BITS, (1 << LIMB_BITS) - 2);
        assert_eq!(
            (h - SHIFT) as u128,
            ((1 << LIMB_BITS) - 2) * (1 << 52) + (3 << 51)
        );
    }

    #[test]
    fn mul_wide_is_exact() {
        let values = [
            0,
            1,
            2,
            (1 << 26) - 1,
            1 << 26,
            (1 << 51) + 1,
            LIMB_MASK - 1,
            LIMB_MASK,
        ];
        for m in values {
            for n in values {
                let (high, low) = mul_wide(m, n);
                assert!((0..1 << LIMB_BITS).contains(&low));
                assert_eq!(
                    i128::from(high) * (1 << LIMB_BITS) + i128::from(low),
                    i128::from(m) * i128::from(n)
                );
            }
        }
    }

    /// R^2 R^-1 R^-1 = 1, at limb counts even and odd.
    #[test]
    fn montgomery_constants() {
        for bits in [2048, 2073, 2128, 3072, 4096] {
            let v = FmaVerifier::new(&modulus(bits), bits);
            let l = v.n.len();
            assert!(LIMB_BITS * l >= bits + 2, "R >= 4n");
            assert_eq!(
                v.n[0].wrapping_mul(v.n0_inv) & LIMB_MASK,
                LIMB_MASK,
                "n n0' = -1 mod 2^52"
            );
            let mut one = [0.0; WIDTH];
            one[0] = 1.0;
            let (mut x, mut y, mut scratch) = ([0.0; WIDTH], [0.0; WIDTH], [0.0; WIDTH]);
            v.mont_mul(&mut x, &v.r2, &one, &mut scratch);
            v.mont_mul(&mut y, &x, &one, &mut scratch);
            let mut reduced = [0u64; WIDTH];
            v.reduce(&y, &mut reduced[..l]);
            assert_eq!(reduced[0], 1, "{bits}");
            assert!(reduced[1..].iter().all(|&x| x == 0), "{bits}");
        }
    }

    /// The largest operands (2n - 1, every limb near 2^52) keep the product below 2n; the debug
    /// assertions check that each column clears and that the last carry is one limb.
    #[test]
    fn largest_operands() {
        for bits in [2048, 2128, 4096] {
            let v = FmaVerifier::new(&vec![0xffu8; bits / 8], bits);
            let l = v.n.len();
            let mut x = [0u64; WIDTH];
            L52::two_n_minus_one(&v.n, &mut x[..l]);
            let xf: Vec<f64> = x.iter().map(|&v| v as f64).collect();
            let (mut y, mut scratch) = ([0.0; WIDTH], [0.0; WIDTH]);
            v.mont_mul(&mut y, &xf, &xf, &mut scratch);
            let y: Vec<u64> = y[..l].iter().map(|&v| v as u64).collect();
            assert!(!less_than(&x[..l], &y), "{bits}: the product is below 2n");
        }
    }
}
