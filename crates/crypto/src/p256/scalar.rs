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

/// a mod n for any 256-bit a (2^256 < 2n, so one subtraction).
pub(crate) fn reduce(a: &U256) -> U256 {
    if lt(a, &N) {
        *a
    } else {
        sub(a, &N).0
    }
}

/// a^-1 mod n for 0 < a < n, by Bernstein and Yang's division steps ("Fast constant-time gcd computation
/// and modular inversion", 2019) in batches of 30, in the variable-time form libsecp256k1 documents
/// (`doc/safegcd_implementation.md` of bitcoin-core/secp256k1): gcd(f = n, g = a) by divsteps, with d and e
/// such that f = d a and g = e a (mod n) throughout. Each batch finds the 30 steps' transition matrix
/// from the bottom 30 bits of f and g alone, in 32-bit words, then applies it once to the whole f, g, d
/// and e. `None` for 0 or anything not below n.
pub(crate) fn invert(a: &U256) -> Option<U256> {
    if is_zero(a) || !lt(a, &N) {
        return None;
    }
    let (mut f, mut g) = (N30, to_signed30(a));
    let (mut d, mut e) = ([0; 9], ONE30);
    let mut eta = -1;
    // 724 divsteps suffice for any 256-bit input (Wuille's safegcd-bounds); 25 batches make 750.
    for _ in 0..25 {
        let t;
        (eta, t) = divsteps_30(eta, f[0] as u32, g[0] as u32);
        update_de(&mut d, &mut e, &t);
        update_fg(&mut f, &mut g, &t);
        if g == [0; 9] {
            // f = ±gcd(a, n) = ±1, and 1 / a = d / f = d f (mod n).
            return match f {
                ONE30 => Some(normalize(d, false)),
                MINUS_ONE30 => Some(normalize(d, true)),
                _ => None,
            };
        }
    }
    None
}

/// A number for [`invert`]: nine limbs of 30 bits, least significant first, each in [0, 2^30) but the
/// last, which is signed; 30-bit limbs keep each product of a limb and a matrix entry in an `i64`.
type Signed30 = [i64; 9];
const M30: i64 = (1 << 30) - 1;
const ONE30: Signed30 = [1, 0, 0, 0, 0, 0, 0, 0, 0];
const MINUS_ONE30: Signed30 = [M30, M30, M30, M30, M30, M30, M30, M30, -1];
const N30: Signed30 = to_signed30(&N);
/// n^-1 mod 2^30, by Newton's iteration as for [`N_PRIME`].
const N_INV30: i64 = {
    let n0 = N30[0];
    let mut inv = n0;
    let mut i = 0;
    while i < 4 {
        inv = (inv * (2 - ((n0 * inv) & M30))) & M30;
        i += 1;
    }
    inv
};

/// A 256-bit integer as [`Signed30`].
const fn to_signed30(a: &U256) -> Signed30 {
    let mut out = [0; 9];
    let mut i = 0;
    while i < 9 {
        let (limb, shift) = (30 * i / 64, 30 * i % 64);
        let mut bits = a[limb] >> shift;
        if shift > 34 && limb < 3 {
            bits |= a[limb + 1] << (64 - shift);
        }
        out[i] = (bits & M30 as u64) as i64;
        i += 1;
    }
    out
}

/// The transition matrix [u, v; q, r] (times 2^30) of the next 30 divsteps and the eta after them, from
/// eta and the bottom 30 bits of f (odd) and g. A run of zeros at the bottom of g goes in one step,
/// and an odd g takes off up to 12 bits at once, by the multiple of f that clears them (libsecp256k1's
/// document, section 6). Only the bottom bits that the steps left still need are right in `f` and `g`.
fn divsteps_30(mut eta: i64, f0: u32, g0: u32) -> (i64, [i64; 4]) {
    let (mut u, mut v, mut q, mut r) = (1u32, 0u32, 0u32, 1u32);
    let (mut f, mut g) = (f0, g0);
    let mut left = 30u32;
    loop {
        let zeros = (g | (u32::MAX << left)).trailing_zeros();
        g >>= zeros;
        u <<= zeros;
        v <<= zeros;
        eta -= i64::from(zeros);
        left -= zeros;
        if left == 0 {
            break;
        }
        // g is odd.
        if eta < 0 {
            eta = -eta;
            (f, g) = (g, f.wrapping_neg());
            (u, q) = (q, u.wrapping_neg());
            (v, r) = (r, v.wrapping_neg());
        }
        // w = -g / f mod 2^bits clears the bottom bits of g + w f: at most eta + 1 steps before f
        // and g would swap, and not past the batch.
        let bits = (eta + 1).min(i64::from(left)).min(12) as u32;
        // -1 / f mod 2^6 is f (f^2 - 2), and a Newton step from x = -1 / f mod 2^k, x (x f + 2), gives
        // it mod 2^2k.
        let inverse6 = f.wrapping_mul(f.wrapping_mul(f).wrapping_sub(2));
        let inverse12 = inverse6.wrapping_mul(inverse6.wrapping_mul(f).wrapping_add(2));
        let w = g.wrapping_mul(inverse12) & (u32::MAX >> (32 - bits));
        g = g.wrapping_add(f.wrapping_mul(w));
        q = q.wrapping_add(u.wrapping_mul(w));
        r = r.wrapping_add(v.wrapping_mul(w));
    }
    // |u| + |v| and |q| + |r| are at most 2^30: the words are those signed values.
    let signed = |x: u32| i64::from(x as i32);
    let t = [signed(u), signed(v), signed(q), signed(r)];
    debug_assert!(t[0].abs() + t[1].abs() <= 1 << 30 && t[2].abs() + t[3].abs() <= 1 << 30);
    (eta, t)
}

/// [f, g] = [u, v; q, r] [f, g] / 2^30, exact: the steps leave the bottom 30 bits zero.
fn update_fg(f: &mut Signed30, g: &mut Signed30, &[u, v, q, r]: &[i64; 4]) {
    let (mut cf, mut cg) = (u * f[0] + v * g[0], q * f[0] + r * g[0]);
    debug_assert_eq!((cf & M30, cg & M30), (0, 0));
    (cf, cg) = (cf >> 30, cg >> 30);
    for i in 1..9 {
        cf += u * f[i] + v * g[i];
        cg += q * f[i] + r * g[i];
        (f[i - 1], g[i - 1]) = (cf & M30, cg & M30);
        (cf, cg) = (cf >> 30, cg >> 30);
    }
    (f[8], g[8]) = (cf, cg);
}

/// [d, e] = [u, v; q, r] [d, e] / 2^30 (mod n), for d and e in (-2n, n), which stay there: n is added to
/// each of them that is negative, and a multiple of n below 2^30 n clears the bottom 30 bits of each
/// sum before its division (libsecp256k1's document, section 4).
fn update_de(d: &mut Signed30, e: &mut Signed30, &[u, v, q, r]: &[i64; 4]) {
    let (d_sign, e_sign) = (d[8] >> 63, e[8] >> 63);
    let (mut md, mut me) = ((u & d_sign) + (v & e_sign), (q & d_sign) + (r & e_sign));
    let (mut cd, mut ce) = (u * d[0] + v * e[0], q * d[0] + r * e[0]);
    md -= N_INV30.wrapping_mul(cd).wrapping_add(md) & M30;
    me -= N_INV30.wrapping_mul(ce).wrapping_add(me) & M30;
    cd += N30[0] * md;
    ce += N30[0] * me;
    debug_assert_eq!((cd & M30, ce & M30), (0, 0));
    (cd, ce) = (cd >> 30, ce >> 30);
    for i in 1..9 {
        cd += u * d[i] + v * e[i] + N30[i] * md;
        ce += q * d[i] + r * e[i] + N30[i] * me;
        (d[i - 1], e[i - 1]) = (cd & M30, ce & M30);
        (cd, ce) = (cd >> 30, ce >> 30);
    }
    (d[8], e[8]) = (cd, ce);
}

/// ±d mod n in [0, n), for d in (-2n, n), as a [`U256`].
fn normalize(mut d: Signed30, negate: bool) -> U256 {
    let add_n = |d: &mut Signed30| {
        for (x, m) in d.iter_mut().zip(N30) {
            *x += m;
        }
        carry30(d);
    };
    if d[8] < 0 {
        add_n(&mut d);
    }
    if negate {
        for x in d.iter_mut() {
            *x = -*x;
        }
        carry30(&mut d);
    }
    if d[8] < 0 {
        add_n(&mut d);
    }
    let mut out = [0u64; 4];
    for (i, &x) in d.iter().enumerate() {
        let (limb, shift) = (30 * i / 64, 30 * i % 64);
        out[limb] |= (x as u64) << shift;
        if shift > 34 && limb < 3 {
            out[limb + 1] |= (x as u64) >> (64 - shift);
        }
    }
    out
}

/// Each limb but the last back into [0, 2^30), its excess carried up.
fn carry30(d: &mut Signed30) {
    for i in 0..8 {
        d[i + 1] += d[i] >> 30;
        d[i] &= M30;
    }
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
