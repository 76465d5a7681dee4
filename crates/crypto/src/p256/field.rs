//! Arithmetic in GF(p) for p = 2^256 - 2^224 + 2^192 + 2^96 - 1, the P-256 field prime
//! (FIPS 186-5 / NIST SP 800-186 section 3.2.1.3).
//!
//! # Representation
//!
//! An element is nine 29-bit limbs (radix 2^29, 261 bits), value = sum(limb[i] * 2^(29 i)), held in `i64`
//! so that a 29 x 29-bit product is one wasm `i64.mul` and a column of nine such products (< 2^61.2)
//! accumulates without carries. wasm32 has a native 64-bit multiply but no 64 x 64 -> 128 one, which is
//! why 64-bit limbs (and u128) are slow there.
//!
//! Elements are kept in Montgomery form x * R mod p with R = 2^261, and only weakly reduced. The
//! invariant of every [`Fe`]: limbs 0..=7 in [0, 2^29), limb 8 in [0, 2^25), so value < 2^257 (it may
//! be >= p). Montgomery multiplication of two such values returns (a b + m p) / 2^261 < 2^253 + p < 2^257,
//! so no final subtraction is needed; additions and subtractions fold their result back under 2^257.
//!
//! Montgomery reduction (Montgomery 1985; HAC Algorithm 14.32) is cheap for this p: p = -1 mod 2^29,
//! so the per-limb factor is m = t[i] mod 2^29 (no multiplication), and m * p = m 2^256 - m 2^224 +
//! m 2^192 + m 2^96 - m is four shifted additions.

/// Bits per limb.
const BITS: u32 = 29;
const MASK: i64 = (1 << BITS) - 1;
/// Number of limbs.
const LIMBS: usize = 9;

type Limbs = [i64; LIMBS];

/// An element of GF(p) in Montgomery form (see the module documentation for the invariant).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fe(Limbs);

/// p as big-endian bytes.
pub(crate) const P_BYTES: [u8; 32] =
    hex32("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff");
const P: Limbs = limbs_from_be(&P_BYTES);

/// R^2 mod p = 2^522 mod p, to enter Montgomery form.
const R2: Limbs = pow2_mod_p(2 * LIMBS as u32 * BITS);
/// 1 in Montgomery form: R mod p.
const ONE_MONT: Limbs = pow2_mod_p(LIMBS as u32 * BITS);

/// 8p with every limb but the top one raised by 2^29 (and the next limb lowered by 1), so that
/// `a + SUB_BIAS - b` has no negative limb for any `a`, `b` satisfying the invariant.
const SUB_BIAS: Limbs = {
    let mut eight_p = P;
    let mut k = 0;
    while k < 3 {
        eight_p = add_normalized(&eight_p, &eight_p);
        k += 1;
    }
    let mut bias = eight_p;
    let mut i = 0;
    while i < LIMBS - 1 {
        bias[i] += 1 << BITS;
        bias[i + 1] -= 1;
        i += 1;
    }
    bias
};

/// Parses 64 hex digits at compile time.
const fn hex32(hex: &str) -> [u8; 32] {
    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("not a lowercase hex digit"),
        }
    }
    let hex = hex.as_bytes();
    assert!(hex.len() == 64);
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = (nibble(hex[2 * i]) << 4) | nibble(hex[2 * i + 1]);
        i += 1;
    }
    out
}

/// A 256-bit big-endian integer as normalized limbs.
const fn limbs_from_be(bytes: &[u8; 32]) -> Limbs {
    let mut out = [0i64; LIMBS];
    let mut i = 0;
    while i < 32 {
        // Byte 31 - i holds bits 8i ..= 8i + 7.
        let byte = bytes[31 - i] as i64;
        let bit = 8 * i as u32;
        let (limb, shift) = ((bit / BITS) as usize, bit % BITS);
        out[limb] |= (byte << shift) & MASK;
        if shift > BITS - 8 {
            out[limb + 1] |= byte >> (BITS - shift);
        }
        i += 1;
    }
    out
}

/// Normalized limbs as a 256-bit big-endian integer (the value must be < 2^256).
#[cfg(test)]
const fn limbs_to_be(limbs: &Limbs) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        let bit = 8 * i as u32;
        let (limb, shift) = ((bit / BITS) as usize, bit % BITS);
        let mut byte = limbs[limb] >> shift;
        if shift > BITS - 8 {
            byte |= limbs[limb + 1] << (BITS - shift);
        }
        out[31 - i] = byte as u8;
        i += 1;
    }
    out
}

/// Sum of two normalized values, normalized (no reduction).
const fn add_normalized(a: &Limbs, b: &Limbs) -> Limbs {
    let mut out = [0i64; LIMBS];
    let mut carry = 0;
    let mut i = 0;
    while i < LIMBS {
        let sum = a[i] + b[i] + carry;
        if i < LIMBS - 1 {
            out[i] = sum & MASK;
            carry = sum >> BITS;
        } else {
            out[i] = sum;
        }
        i += 1;
    }
    out
}

/// a - b for normalized a >= b, normalized.
const fn sub_normalized(a: &Limbs, b: &Limbs) -> Limbs {
    let mut out = [0i64; LIMBS];
    let mut borrow = 0;
    let mut i = 0;
    while i < LIMBS {
        let diff = a[i] - b[i] + borrow;
        if i < LIMBS - 1 {
            out[i] = diff & MASK;
            borrow = diff >> BITS;
        } else {
            out[i] = diff;
        }
        i += 1;
    }
    out
}

/// a >= b for normalized limbs.
const fn geq(a: &Limbs, b: &Limbs) -> bool {
    let mut i = LIMBS;
    while i > 0 {
        i -= 1;
        if a[i] != b[i] {
            return a[i] > b[i];
        }
    }
    true
}

/// 2^k mod p, by doubling (compile time only).
const fn pow2_mod_p(k: u32) -> Limbs {
    let mut one = [0i64; LIMBS];
    one[0] = 1;
    times_pow2_mod_p(one, k)
}

/// x 2^k mod p for x < p, by doubling (compile time only).
const fn times_pow2_mod_p(mut x: Limbs, k: u32) -> Limbs {
    let mut i = 0;
    while i < k {
        x = add_normalized(&x, &x);
        if geq(&x, &P) {
            x = sub_normalized(&x, &P);
        }
        i += 1;
    }
    x
}

/// Folds limbs back under the invariant, preserving the value mod p.
///
/// Precondition: every limb >= 0 and < 2^40 (callers: sums of at most 8 elements and 8 copies of
/// `SUB_BIAS`, limbs < 2^35). With q = floor(limb8 / 2^24) <= value / 2^256, it
/// subtracts q p using 2^256 = 2^224 - 2^192 - 2^96 + 1 (mod p): the result is >= value - q 2^256 >= 0
/// and < 2^256 + 2^235 < 2^257. A final carry pass (signed shifts) normalizes the limbs.
#[inline(always)]
fn reduce(mut l: Limbs) -> Fe {
    let q = l[8] >> 24;
    l[8] &= (1 << 24) - 1;
    l[0] += q;
    l[3] -= q << 9; // 96 = 3 * 29 + 9
    l[6] -= q << 18; // 192 = 6 * 29 + 18
    l[7] += q << 21; // 224 = 7 * 29 + 21
    carry(l)
}

/// Carry propagation with arithmetic shifts; the value must be in [0, 2^257).
#[inline(always)]
fn carry(mut l: Limbs) -> Fe {
    for i in 0..LIMBS - 1 {
        l[i + 1] += l[i] >> BITS;
        l[i] &= MASK;
    }
    Fe(l)
}

/// Montgomery reduction of a 17-column product t (columns may exceed 29 bits; all < 2^62): returns
/// t / 2^261 mod p, < t / 2^261 + p.
#[inline(always)]
fn montgomery_reduce(mut t: [i64; 2 * LIMBS]) -> Fe {
    for i in 0..LIMBS {
        // t + m p 2^(29 i) with m = t[i] mod 2^29 clears limb i, since p = -1 mod 2^29.
        let m = t[i] & MASK;
        t[i + 1] += t[i] >> BITS; // (t[i] - m) / 2^29
        t[i + 3] += m << 9; // + m 2^96
        t[i + 6] += m << 18; // + m 2^192
        t[i + 7] -= m << 21; // - m 2^224
        t[i + 8] += m << 24; // + m 2^256
    }
    let mut out = [0i64; LIMBS];
    out.copy_from_slice(&t[LIMBS..]);
    carry(out)
}

/// Montgomery product by product scanning into 17 columns, then reduction.
///
/// Bounds: one operand satisfies the [`Fe`] invariant (limbs < 2^29), the other has limbs < 2^30 (an
/// [`Fe`] or a [`Sum`]), so each column is < 9 * 2^59 < 2^62.2; values < 2^257 and 2^258 give a result
/// < 2^515 / 2^261 + p < 2^257.
///
/// Never inlined: one copy instead of one per call in the point formulas. In V8 the proof check is then
/// about a quarter faster (README "What each step bought"), and the module 8 KiB smaller.
#[inline(never)]
fn mul_limbs(a: &Limbs, b: &Limbs) -> Fe {
    let mut t = [0i64; 2 * LIMBS];
    for (i, &ai) in a.iter().enumerate() {
        for (j, &bj) in b.iter().enumerate() {
            t[i + j] += ai * bj;
        }
    }
    montgomery_reduce(t)
}

/// The unreduced sum of two [`Fe`]s (limbs < 2^30, value < 2^258), a factor for [`Sum::mul`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sum(Limbs);

impl Sum {
    /// Montgomery product with an element: see [`mul_limbs`] for the bounds.
    #[inline]
    pub(crate) fn mul(&self, other: &Fe) -> Fe {
        mul_limbs(&self.0, &other.0)
    }
}

impl Fe {
    pub(crate) const ZERO: Fe = Fe([0; LIMBS]);
    /// 1 in Montgomery form.
    pub(crate) const ONE: Fe = Fe(ONE_MONT);

    /// A constant below p, as 64 hex digits, in Montgomery form; for compile-time constants (it panics,
    /// at compile time, on a value >= p).
    pub(crate) const fn from_hex_const(hex: &str) -> Fe {
        let x = limbs_from_be(&hex32(hex));
        assert!(!geq(&x, &P), "not below p");
        Fe(times_pow2_mod_p(x, LIMBS as u32 * BITS))
    }

    /// A 256-bit big-endian integer into Montgomery form; `None` unless it is < p.
    pub(crate) fn from_be_bytes(bytes: &[u8; 32]) -> Option<Fe> {
        (bytes < &P_BYTES).then(|| Fe(limbs_from_be(bytes)).mul(&Fe(R2)))
    }

    /// The canonical big-endian encoding of the element (leaving Montgomery form).
    #[cfg(test)]
    pub(crate) fn to_be_bytes(self) -> [u8; 32] {
        let mut one = [0i64; LIMBS];
        one[0] = 1;
        limbs_to_be(&self.mul(&Fe(one)).canonical())
    }

    /// The limbs of the value reduced into [0, p).
    fn canonical(&self) -> Limbs {
        let mut x = self.0;
        // value < 2^257 < 3p: at most two subtractions.
        while geq(&x, &P) {
            x = sub_normalized(&x, &P);
        }
        x
    }

    /// Zero mod p. A value under the invariant (< 2^257 < 3p) is zero only as 0, p or 2p, whose lowest
    /// limbs (the value mod 2^29) are 0, 2^29 - 1 and 2^29 - 2, as p = -1 mod 2^29: any other lowest limb
    /// answers without reducing, which every point addition asks twice.
    pub(crate) fn is_zero(&self) -> bool {
        const P_LOW: i64 = MASK;
        const TWO_P_LOW: i64 = MASK - 1;
        matches!(self.0[0], 0 | P_LOW | TWO_P_LOW) && self.canonical() == [0; LIMBS]
    }

    /// Equality of the field elements (not of the representations).
    pub(crate) fn equals(&self, other: &Fe) -> bool {
        self.canonical() == other.canonical()
    }

    /// Montgomery product a b / 2^261 mod p.
    #[inline]
    pub(crate) fn mul(&self, other: &Fe) -> Fe {
        mul_limbs(&self.0, &other.0)
    }

    /// self + other without reduction, only to be multiplied by an [`Fe`].
    #[inline]
    pub(crate) fn add_lazy(&self, other: &Fe) -> Sum {
        let mut l = self.0;
        for (x, y) in l.iter_mut().zip(other.0) {
            *x += y;
        }
        Sum(l)
    }

    /// Montgomery square: the off-diagonal products once, doubled.
    #[inline]
    pub(crate) fn square(&self) -> Fe {
        let a = &self.0;
        let mut t = [0i64; 2 * LIMBS];
        for i in 0..LIMBS {
            t[2 * i] += a[i] * a[i];
            let twice = 2 * a[i];
            for j in i + 1..LIMBS {
                t[i + j] += twice * a[j];
            }
        }
        montgomery_reduce(t)
    }

    #[inline]
    pub(crate) fn add(&self, other: &Fe) -> Fe {
        let mut l = self.0;
        for (x, y) in l.iter_mut().zip(other.0) {
            *x += y;
        }
        reduce(l)
    }

    #[inline]
    pub(crate) fn sub(&self, other: &Fe) -> Fe {
        let mut l = self.0;
        for ((x, y), bias) in l.iter_mut().zip(other.0).zip(SUB_BIAS) {
            *x += bias - y;
        }
        reduce(l)
    }

    /// k * self for a small k (1 <= k <= 8).
    #[inline]
    pub(crate) fn mul_small(&self, k: i64) -> Fe {
        let mut l = self.0;
        for x in l.iter_mut() {
            *x *= k;
        }
        reduce(l)
    }

    /// self - k * other for a small k (1 <= k <= 8), with one reduction.
    #[inline]
    pub(crate) fn sub_mul_small(&self, other: &Fe, k: i64) -> Fe {
        let mut l = self.0;
        for ((x, y), bias) in l.iter_mut().zip(other.0).zip(SUB_BIAS) {
            *x += k * (bias - y);
        }
        reduce(l)
    }

    /// k * self - other for a small k (1 <= k <= 8), with one reduction.
    #[inline]
    pub(crate) fn mul_small_sub(&self, k: i64, other: &Fe) -> Fe {
        let mut l = self.0;
        for ((x, y), bias) in l.iter_mut().zip(other.0).zip(SUB_BIAS) {
            *x = k * *x + bias - y;
        }
        reduce(l)
    }

    pub(crate) fn neg(&self) -> Fe {
        Fe::ZERO.sub(self)
    }

    /// self^(p-2) = self^-1 (Fermat), 0 for 0. Square and multiply, left to right: once per prepared key
    /// (see [`super::point::to_affine_batch`]), so no addition chain.
    pub(crate) fn invert(&self) -> Fe {
        let mut exponent = P_BYTES;
        exponent[31] -= 2; // p - 2: p ends in 0xff, no borrow
        let mut acc = Fe::ONE;
        for byte in exponent {
            for bit in (0..8).rev() {
                acc = acc.square();
                if (byte >> bit) & 1 == 1 {
                    acc = acc.mul(self);
                }
            }
        }
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::super::scalar::{self, U256};
    use super::*;

    #[test]
    fn constants() {
        assert_eq!(limbs_to_be(&P), P_BYTES);
        // R^2 mod p and R mod p, computed independently (Python: pow(2, 522, p), pow(2, 261, p)).
        assert_eq!(
            limbs_to_be(&R2),
            hex32("000013fffffff7fffffffffffffffbffffffeffffffffc000000000000000c00")
        );
        assert_eq!(
            limbs_to_be(&ONE_MONT),
            hex32("0000001fffffffdfffffffffffffffffffffffe0000000000000000000000020")
        );
        // SUB_BIAS is 8p in another limb arrangement.
        let mut eight_p = [0i64; LIMBS];
        for (i, limb) in eight_p.iter_mut().enumerate() {
            *limb = SUB_BIAS[i];
        }
        assert_eq!(Fe(carry_all(eight_p)).canonical(), [0; LIMBS]);
        assert!(SUB_BIAS[..LIMBS - 1].iter().all(|&l| l >= MASK));
        assert!(SUB_BIAS[LIMBS - 1] >= 1 << 25);
    }

    /// Carries without the invariant's bound on the top limb.
    fn carry_all(mut l: Limbs) -> Limbs {
        for i in 0..LIMBS - 1 {
            l[i + 1] += l[i] >> BITS;
            l[i] &= MASK;
        }
        l
    }

    fn satisfies_invariant(x: &Fe) -> bool {
        x.0[..LIMBS - 1].iter().all(|&l| (0..=MASK).contains(&l)) && (0..1 << 25).contains(&x.0[8])
    }

    const P_U256: U256 = [
        0xffff_ffff_ffff_ffff,
        0x0000_0000_ffff_ffff,
        0x0000_0000_0000_0000,
        0xffff_ffff_0000_0001,
    ];

    /// a b mod p by double-and-add, on a, b < p.
    fn reference_mul(a: &U256, b: &U256) -> U256 {
        let add_mod = |x: &U256, y: &U256| {
            let (sum, carry) = scalar::add(x, y);
            if carry || !scalar::lt(&sum, &P_U256) {
                scalar::sub(&sum, &P_U256).0
            } else {
                sum
            }
        };
        let mut acc = [0u64; 4];
        for i in (0..256).rev() {
            acc = add_mod(&acc, &acc);
            if (b[i / 64] >> (i % 64)) & 1 == 1 {
                acc = add_mod(&acc, a);
            }
        }
        acc
    }

    fn samples() -> Vec<[u8; 32]> {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut out = vec![[0u8; 32], P_BYTES, [0xff; 32]];
        let mut one = [0u8; 32];
        one[31] = 1;
        out.push(one);
        let mut p_minus_1 = P_BYTES;
        p_minus_1[31] -= 1;
        out.push(p_minus_1);
        for _ in 0..200 {
            let mut bytes = [0u8; 32];
            for byte in bytes.iter_mut() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *byte = state as u8;
            }
            out.push(bytes);
        }
        out
    }

    #[test]
    fn arithmetic_matches_a_reference() {
        let values: Vec<[u8; 32]> = samples().into_iter().filter(|v| v < &P_BYTES).collect();
        for (i, a_bytes) in values.iter().enumerate() {
            let a = Fe::from_be_bytes(a_bytes).unwrap();
            assert_eq!(a.to_be_bytes(), *a_bytes);
            let b_bytes = &values[(i * 7 + 3) % values.len()];
            let b = Fe::from_be_bytes(b_bytes).unwrap();
            let expected = reference_mul(
                &scalar::from_be_bytes(a_bytes),
                &scalar::from_be_bytes(b_bytes),
            );
            assert_eq!(a.mul(&b).to_be_bytes(), scalar::to_be_bytes(&expected));
            let expected = reference_mul(
                &scalar::from_be_bytes(a_bytes),
                &scalar::from_be_bytes(a_bytes),
            );
            assert_eq!(a.square().to_be_bytes(), scalar::to_be_bytes(&expected));
            if !a.is_zero() {
                assert!(a.mul(&a.invert()).equals(&Fe::ONE));
            }
        }
        assert!(Fe::ZERO.invert().is_zero());
        assert_eq!(Fe::from_be_bytes(&P_BYTES).map(|x| x.0), None);
        assert_eq!(Fe::from_be_bytes(&[0xff; 32]).map(|x| x.0), None);
    }

    /// Every operation on representations at the edges of the invariant (up to 2^257 - 1, including
    /// p and 2p, the non-canonical forms of 0) gives the same field element as on the canonical forms,
    /// satisfies the invariant, and (in debug builds) overflows nothing.
    #[test]
    fn edge_representations() {
        let max = Fe([
            MASK,
            MASK,
            MASK,
            MASK,
            MASK,
            MASK,
            MASK,
            MASK,
            (1 << 25) - 1,
        ]);
        let two_p = Fe(carry_all(add_normalized(&P, &P)));
        let mut values = vec![
            max,
            Fe(P),
            two_p,
            Fe::ZERO,
            Fe::ONE,
            Fe([MASK; LIMBS - 1]
                .iter()
                .copied()
                .chain([0])
                .collect::<Vec<_>>()
                .try_into()
                .unwrap()),
        ];
        values.extend(samples().iter().filter_map(Fe::from_be_bytes).take(20));
        let canonical = |x: &Fe| Fe(x.canonical());
        for a in &values {
            assert!(satisfies_invariant(a));
            for b in &values {
                let (ca, cb) = (canonical(a), canonical(b));
                let checks = [
                    (a.mul(b), ca.mul(&cb)),
                    (a.square(), ca.square()),
                    (a.add(b), ca.add(&cb)),
                    (a.sub(b), ca.sub(&cb)),
                    (a.mul_small(8), ca.mul_small(8)),
                    (a.sub_mul_small(b, 8), ca.sub_mul_small(&cb, 8)),
                    (a.mul_small_sub(8, b), ca.mul_small_sub(8, &cb)),
                    (a.add_lazy(a).mul(b), ca.add(&ca).mul(&cb)),
                    (a.neg(), ca.neg()),
                ];
                for (k, (got, expected)) in checks.iter().enumerate() {
                    assert!(satisfies_invariant(got), "check {k}: {got:?}");
                    assert!(got.equals(expected), "check {k}");
                }
                assert!(a.sub(b).add(b).equals(a));
                assert_eq!(a.is_zero(), ca.0 == [0; LIMBS]);
                assert_eq!(a.equals(b), a.sub(b).is_zero());
            }
        }
    }
}
