//! Numbers as little-endian vectors of limbs of `BITS` bits, for both arithmetics: the octet-string
//! conversions of RFC 8017 section 4, the comparison, subtraction and doubling that reductions and the
//! Montgomery constants need, and the steps of a verification that do not depend on how a Montgomery
//! multiplication is computed.

/// The machine word a limb is kept in: `u32` for 28-bit limbs, `u64` for 52-bit ones.
pub(super) trait Word: Copy + Ord {
    /// The low bits of `v` that fit.
    fn truncate(v: u64) -> Self;
    fn widen(self) -> u64;
}

impl Word for u32 {
    fn truncate(v: u64) -> Self {
        v as u32
    }
    fn widen(self) -> u64 {
        u64::from(self)
    }
}

impl Word for u64 {
    fn truncate(v: u64) -> Self {
        v
    }
    fn widen(self) -> u64 {
        self
    }
}

/// The operations on limbs of `BITS` bits (at most 56, so that a limb and an octet fit in 64 bits).
pub(super) struct Limbs<const BITS: usize>;

impl<const BITS: usize> Limbs<BITS> {
    const MASK: u64 = (1 << BITS) - 1;

    /// OS2IP (RFC 8017 section 4.2) into all of `out`; false if the value does not fit.
    pub(super) fn from_be_bytes<W: Word>(bytes: &[u8], out: &mut [W]) -> bool {
        out.fill(W::truncate(0));
        let (mut acc, mut bits, mut k) = (0u64, 0, 0);
        for &byte in bytes.iter().rev() {
            acc |= u64::from(byte) << bits;
            bits += 8;
            if bits >= BITS {
                let Some(limb) = out.get_mut(k) else {
                    return false;
                };
                *limb = W::truncate(acc & Self::MASK);
                acc >>= BITS;
                bits -= BITS;
                k += 1;
            }
        }
        match (acc, out.get_mut(k)) {
            (0, _) => true,
            (rest, Some(limb)) => {
                *limb = W::truncate(rest);
                true
            }
            (_, None) => false,
        }
    }

    /// I2OSP (RFC 8017 section 4.1) into all of `out`, big-endian; the value must fit (bits past `out`
    /// are dropped).
    pub(super) fn to_be_bytes<W: Word>(limbs: &[W], out: &mut [u8]) {
        let (mut acc, mut bits) = (0u64, 0);
        let mut limbs = limbs.iter();
        for byte in out.iter_mut().rev() {
            if bits < 8 {
                acc |= limbs.next().map_or(0, |l| l.widen()) << bits;
                bits += BITS;
            }
            *byte = acc as u8;
            acc >>= 8;
            bits -= 8;
        }
    }

    /// -n^-1 mod 2^BITS for an odd n0 = n mod 2^BITS, the Montgomery reduction constant, by Newton's
    /// iteration: each step doubles the correct low bits (1, 2, 4, ..., 64).
    pub(super) fn neg_inverse(n0: u64) -> u64 {
        let mut inv: u64 = 1;
        for _ in 0..6 {
            inv = inv.wrapping_mul(2u64.wrapping_sub(n0.wrapping_mul(inv)));
        }
        inv.wrapping_neg() & Self::MASK
    }

    /// The start of R^2 mod n for R = 2^(BITS L), L = n's limbs, n of `bits` bits: with BITS L = t 2^s,
    /// `x` (L limbs) = 2^(BITS L + t) mod n, which is 2^t in Montgomery form, so that s Montgomery
    /// squarings raise it to 2^(t 2^s) = R, in Montgomery form R R. Returns s. From 2^(bits-1) < n, by
    /// doubling modulo n.
    pub(super) fn r2_seed<W: Word>(n: &[W], bits: usize, x: &mut [W]) -> u32 {
        let r_bits = BITS * n.len();
        let s = r_bits.trailing_zeros().min(5);
        let t = r_bits >> s;
        x.fill(W::truncate(0));
        x[(bits - 1) / BITS] = W::truncate(1 << ((bits - 1) % BITS));
        for _ in bits - 1..r_bits + t {
            Self::mod_double(x, n);
        }
        s
    }

    /// a -= b (mod 2^(BITS L)).
    pub(super) fn sub_in_place<W: Word>(a: &mut [W], b: &[W]) {
        let mut borrow = 0;
        for (x, &y) in a.iter_mut().zip(b) {
            let d = x.widen().wrapping_sub(y.widen()).wrapping_sub(borrow);
            borrow = d >> 63;
            *x = W::truncate(d & Self::MASK);
        }
    }

    /// x = 2x mod n, for x < n.
    pub(super) fn mod_double<W: Word>(x: &mut [W], n: &[W]) {
        let mut carry = 0;
        for limb in x.iter_mut() {
            let v = limb.widen() << 1 | carry;
            carry = v >> BITS;
            *limb = W::truncate(v & Self::MASK);
        }
        // 2x < 2n: one subtraction reduces it (mod 2^(BITS L) it is exact even when the doubling
        // carried out).
        if carry != 0 || !less_than(x, n) {
            Self::sub_in_place(x, n);
        }
    }
}

#[cfg(test)]
impl<const BITS: usize> Limbs<BITS> {
    /// 2n - 1 into `out` (n's limbs), the largest operand a Montgomery multiplication takes: every
    /// column of its square is near its bound.
    pub(super) fn two_n_minus_one<W: Word>(n: &[W], out: &mut [W]) {
        let mut carry = 0;
        for (o, limb) in out.iter_mut().zip(n) {
            let doubled = limb.widen() << 1 | carry;
            carry = doubled >> BITS;
            *o = W::truncate(doubled & Self::MASK);
        }
        // n is odd, so 2n's lowest limb is even and at least 2.
        out[0] = W::truncate(out[0].widen() - 1);
    }
}

/// m = s^65537 R^0 from s < n (not in Montgomery form), with `mont_mul(out, a, b, scratch)` = a b R^-1
/// and R^2 mod n: x = s R^2 R^-1 = s R; sixteen squarings give s^(2^16) R; a last multiplication by s
/// gives s^(2^16) R s R^-1 = s^65537, out of Montgomery form. `m` < 2n, as the multiplication leaves it.
pub(super) fn pow_65537<T: Copy + Default, const N: usize>(
    s: &[T; N],
    r2: &[T],
    m: &mut [T; N],
    mut mont_mul: impl FnMut(&mut [T], &[T], &[T], &mut [T]),
) {
    let (mut x, mut y, mut scratch) = ([T::default(); N], [T::default(); N], [T::default(); N]);
    mont_mul(&mut x, s, r2, &mut scratch);
    for _ in 0..8 {
        mont_mul(&mut y, &x, &x, &mut scratch);
        mont_mul(&mut x, &y, &y, &mut scratch);
    }
    mont_mul(m, &x, s, &mut scratch);
}

/// The 16 bytes from element `k` of each of four slices, as vectors: the operands of one step of a dot
/// product.
///
/// # Safety
///
/// Each slice holds at least 16 bytes from element `k` on (v128.load has no alignment requirement).
#[cfg(target_arch = "wasm32")]
#[target_feature(enable = "simd128")]
#[inline]
pub(super) unsafe fn load4<T>([a, b, c, d]: [&[T]; 4], k: usize) -> [core::arch::wasm32::v128; 4] {
    use core::arch::wasm32::v128_load;
    // SAFETY: the caller's.
    unsafe {
        [
            v128_load(a.as_ptr().add(k).cast()),
            v128_load(b.as_ptr().add(k).cast()),
            v128_load(c.as_ptr().add(k).cast()),
            v128_load(d.as_ptr().add(k).cast()),
        ]
    }
}

/// a < b, for numbers of the same limb count.
pub(super) fn less_than<W: Word>(a: &[W], b: &[W]) -> bool {
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        if x != y {
            return x < y;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Octets to limbs and back, at both widths, with a value that fills the limbs given and one that
    /// does not fit them.
    #[test]
    fn octet_string_round_trip() {
        fn round_trip<const BITS: usize, W: Word + Default>(bytes: &[u8]) {
            let limbs_needed = (8 * bytes.len()).div_ceil(BITS);
            let mut limbs = vec![W::default(); limbs_needed];
            assert!(Limbs::<BITS>::from_be_bytes(bytes, &mut limbs));
            let mut out = vec![0xaa; bytes.len() + 2];
            Limbs::<BITS>::to_be_bytes(&limbs, &mut out);
            assert_eq!(&out[..2], [0, 0], "{BITS} {}", bytes.len());
            assert_eq!(&out[2..], bytes, "{BITS} {}", bytes.len());
            // One limb fewer cannot hold the value when its top octet lies past that limb.
            if bytes[0] != 0 && 8 * (bytes.len() - 1) >= (limbs_needed - 1) * BITS {
                assert!(!Limbs::<BITS>::from_be_bytes(bytes, &mut limbs[1..]));
            }
        }
        let bytes: Vec<u8> = (0..513u32).map(|i| (i * 37 + 11) as u8).collect();
        for len in [1, 3, 4, 7, 13, 256, 257, 512] {
            round_trip::<28, u32>(&bytes[..len]);
            round_trip::<52, u64>(&bytes[..len]);
        }
    }

    #[test]
    fn doubling_and_subtraction() {
        // n = 2^100 - 3 in 28-bit and 52-bit limbs; x = n - 1 doubles to n - 2.
        fn check<const BITS: usize, W: Word + Default>() {
            let mut n_bytes = [0xffu8; 13];
            n_bytes[0] = 0x0f;
            n_bytes[12] = 0xfd;
            let limbs = 100usize.div_ceil(BITS);
            let (mut n, mut x) = (vec![W::default(); limbs], vec![W::default(); limbs]);
            assert!(Limbs::<BITS>::from_be_bytes(&n_bytes, &mut n));
            let mut x_bytes = n_bytes;
            x_bytes[12] -= 1;
            assert!(Limbs::<BITS>::from_be_bytes(&x_bytes, &mut x));
            assert!(less_than(&x, &n) && !less_than(&n, &x) && !less_than(&n, &n));
            Limbs::<BITS>::mod_double(&mut x, &n);
            let mut out = [0u8; 13];
            Limbs::<BITS>::to_be_bytes(&x, &mut out);
            let mut expected = n_bytes;
            expected[12] -= 2;
            assert_eq!(out, expected, "{BITS}");
        }
        check::<28, u32>();
        check::<52, u64>();
    }
}
