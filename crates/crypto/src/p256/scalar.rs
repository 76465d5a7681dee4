//! Integers modulo n, the order of the P-256 base point (FIPS 186-5 / SP 800-186 section 3.2.1.3), as
//! four little-endian 64-bit limbs: the few operations ECDSA verification needs on public data (so none
//! of them is constant time). wasm32 has native 64-bit adds, subtracts and shifts; products go through
//! 32-bit halves.

/// A 256-bit integer, least significant limb first.
pub(crate) type U256 = [u64; 4];

/// n = FFFFFFFF 00000000 FFFFFFFF FFFFFFFF BCE6FAAD A7179E84 F3B9CAC2 FC632551.
pub(crate) const N: U256 = [
    0xf3b9_cac2_fc63_2551,
    0xbce6_faad_a717_9e84,
    0xffff_ffff_ffff_ffff,
    0xffff_ffff_0000_0000,
];

/// -n^-1 mod 2^32, for Montgomery multiplication with 32-bit words.
const N_PRIME: u32 = {
    // Newton's iteration x <- x (2 - n x) doubles the number of correct low bits; n is odd, so x = n
    // is right mod 2^3 (n^2 = 1 mod 8) and four steps reach 48 bits.
    let n0 = N[0] as u32;
    let mut inv = n0;
    let mut i = 0;
    while i < 4 {
        inv = inv.wrapping_mul(2u32.wrapping_sub(n0.wrapping_mul(inv)));
        i += 1;
    }
    inv.wrapping_neg()
};

pub(crate) fn from_be_bytes(bytes: &[u8; 32]) -> U256 {
    let mut out = [0u64; 4];
    for (limb, chunk) in out.iter_mut().rev().zip(bytes.chunks_exact(8)) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        *limb = u64::from_be_bytes(word);
    }
    out
}

pub(crate) fn to_be_bytes(a: &U256) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (chunk, limb) in out.chunks_exact_mut(8).zip(a.iter().rev()) {
        chunk.copy_from_slice(&limb.to_be_bytes());
    }
    out
}

pub(crate) fn is_zero(a: &U256) -> bool {
    *a == [0; 4]
}

/// a < b.
pub(crate) fn lt(a: &U256, b: &U256) -> bool {
    for i in (0..4).rev() {
        if a[i] != b[i] {
            return a[i] < b[i];
        }
    }
    false
}

/// a + b and the carry out.
pub(crate) fn add(a: &U256, b: &U256) -> (U256, bool) {
    let mut out = [0u64; 4];
    let mut carry = false;
    for i in 0..4 {
        let (sum, c1) = a[i].overflowing_add(b[i]);
        let (sum, c2) = sum.overflowing_add(u64::from(carry));
        out[i] = sum;
        carry = c1 | c2;
    }
    (out, carry)
}

/// a - b and the borrow out.
pub(crate) fn sub(a: &U256, b: &U256) -> (U256, bool) {
    let mut out = [0u64; 4];
    let mut borrow = false;
    for i in 0..4 {
        let (diff, b1) = a[i].overflowing_sub(b[i]);
        let (diff, b2) = diff.overflowing_sub(u64::from(borrow));
        out[i] = diff;
        borrow = b1 | b2;
    }
    (out, borrow)
}

/// a >> 1, with `top` shifted in as bit 255.
fn shr1(a: &U256, top: bool) -> U256 {
    [
        (a[0] >> 1) | (a[1] << 63),
        (a[1] >> 1) | (a[2] << 63),
        (a[2] >> 1) | (a[3] << 63),
        (a[3] >> 1) | (u64::from(top) << 63),
    ]
}

/// a mod n for any 256-bit a (2^256 < 2n, so one subtraction).
pub(crate) fn reduce(a: &U256) -> U256 {
    if lt(a, &N) {
        *a
    } else {
        sub(a, &N).0
    }
}

/// a / 2 mod n, for a < n.
fn half_mod_n(a: &U256) -> U256 {
    if a[0] & 1 == 0 {
        shr1(a, false)
    } else {
        let (sum, carry) = add(a, &N);
        shr1(&sum, carry)
    }
}

/// a - b mod n, for a, b < n.
fn sub_mod_n(a: &U256, b: &U256) -> U256 {
    let (diff, borrow) = sub(a, b);
    if borrow {
        add(&diff, &N).0
    } else {
        diff
    }
}

/// a^-1 mod n for 0 < a < n: the binary extended Euclidean algorithm (Hankerson, Menezes, Vanstone,
/// "Guide to Elliptic Curve Cryptography", Algorithm 2.22), variable time. Invariants:
/// x1 a = u (mod n) and x2 a = v (mod n); it stops when u or v reaches gcd(a, n) = 1.
/// `None` for 0 (or anything not invertible), never looping forever.
pub(crate) fn invert(a: &U256) -> Option<U256> {
    if is_zero(a) || !lt(a, &N) {
        return None;
    }
    let one: U256 = [1, 0, 0, 0];
    let (mut u, mut v) = (*a, N);
    let (mut x1, mut x2) = (one, [0u64; 4]);
    while u != one && v != one {
        if is_zero(&u) || is_zero(&v) {
            return None;
        }
        while u[0] & 1 == 0 {
            u = shr1(&u, false);
            x1 = half_mod_n(&x1);
        }
        while v[0] & 1 == 0 {
            v = shr1(&v, false);
            x2 = half_mod_n(&x2);
        }
        if lt(&u, &v) {
            v = sub(&v, &u).0;
            x2 = sub_mod_n(&x2, &x1);
        } else {
            u = sub(&u, &v).0;
            x1 = sub_mod_n(&x1, &x2);
        }
    }
    Some(if u == one { x1 } else { x2 })
}

/// Montgomery product a b 2^-256 mod n for a, b < n (CIOS: Koc, Acar, Kaliski 1996), 32-bit words.
pub(crate) fn mont_mul(a: &U256, b: &U256) -> U256 {
    let words = |x: &U256| {
        let mut out = [0u32; 8];
        for (i, limb) in x.iter().enumerate() {
            out[2 * i] = *limb as u32;
            out[2 * i + 1] = (*limb >> 32) as u32;
        }
        out
    };
    let (a, b, n) = (words(a), words(b), words(&N));
    // t < 2n < 2^257: eight words, a ninth word of at most 1, and a tenth for the carry.
    let mut t = [0u32; 10];
    for &bi in &b {
        // t += a bi
        let mut carry = 0u64;
        for j in 0..8 {
            let x = u64::from(t[j]) + u64::from(a[j]) * u64::from(bi) + carry;
            t[j] = x as u32;
            carry = x >> 32;
        }
        let x = u64::from(t[8]) + carry;
        t[8] = x as u32;
        t[9] = (x >> 32) as u32;
        // t = (t + m n) / 2^32 with m = -t0 / n mod 2^32
        let m = u64::from(t[0].wrapping_mul(N_PRIME));
        let mut carry = (u64::from(t[0]) + m * u64::from(n[0])) >> 32;
        for j in 1..8 {
            let x = u64::from(t[j]) + m * u64::from(n[j]) + carry;
            t[j - 1] = x as u32;
            carry = x >> 32;
        }
        let x = u64::from(t[8]) + carry;
        t[7] = x as u32;
        t[8] = t[9] + (x >> 32) as u32;
    }
    let mut out = [0u64; 4];
    for (i, limb) in out.iter_mut().enumerate() {
        *limb = u64::from(t[2 * i]) | (u64::from(t[2 * i + 1]) << 32);
    }
    if t[8] != 0 || !lt(&out, &N) {
        out = sub(&out, &N).0;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn n_prime() {
        assert_eq!((N[0] as u32).wrapping_mul(N_PRIME), u32::MAX);
    }
}
