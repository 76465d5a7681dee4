//! Montgomery multiplication on 52-bit limbs held in `f64`, each product of two limbs split exactly into
//! a high and a low part by fused multiply-add (wasm's relaxed SIMD `f64x2.relaxed_madd`, where the
//! hardware fuses it; `f64::mul_add` elsewhere). A 2048-bit number is 40 limbs here instead of 74 of 28
//! bits, so a multiplication takes 3,200 products instead of 10,952, two per instruction, and a squaring
//! about 2,500.
//!
//! For limbs a, b < 2^52 the product p = a b is at most (2^52 - 1)^2 < 2^104. fma(a, b, 2^104) rounds
//! p + 2^104, whose ulp is 2^52, to the nearest multiple: h = 2^104 + H 2^52 with H = round(p / 2^52)
//! <= 2^52 - 2, and H is the low bits of h's encoding. p - H 2^52 = lo then lies in [-2^51, 2^51].
//! h - (2^104 - 1.5 2^52) = (H + 1.5) 2^52 = (2H + 3) 2^51 is exact (Sterbenz; below 2^104, its ulp
//! at most 2^51), and fma(-a, b, (H + 1.5) 2^52) = 1.5 2^52 - lo lies in [2^52, 2^53], where the ulp is
//! 1: exact, with -lo the encoding's low bits. The encodings add up as 64-bit integers; each column's
//! sum starts from the negation of what the constants in its encodings come to, and each product counts
//! its lo in its own column and its H in the next (H 2^52 is one limb up).

use super::limbs::{less_than, Limbs};
use super::MAX_BITS;

/// Bits per limb.
const LIMB_BITS: usize = 52;
const LIMB_MASK: u64 = (1 << LIMB_BITS) - 1;
/// The limb operations at this width.
type L52 = Limbs<LIMB_BITS>;
/// Limbs for the largest modulus: R = 2^(52 L) must exceed 4 n.
const MAX_LIMBS: usize = (MAX_BITS + 2).div_ceil(LIMB_BITS);
/// Zero limbs after a number, so that a row runs in whole vectors of two limbs.
const PAD: usize = 2;
/// A number with its padding.
const WIDTH: usize = MAX_LIMBS + PAD;
/// The columns of a product of the largest modulus, and one past.
const COLUMNS: usize = 2 * MAX_LIMBS + 1;
/// Limbs of a SHA-256 digest (256 bits).
const DIGEST_LIMBS: usize = 256usize.div_ceil(LIMB_BITS);

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
    /// n, then PAD zero limbs.
    n_pad: Box<[f64]>,
    /// -n^-1 mod 2^52.
    n0_inv: u64,
    /// R^2 mod n, then PAD zero limbs.
    r2: Box<[f64]>,
    /// The columns' [`start`] at L limbs.
    start: Box<[i64]>,
    /// The columns' [`square_start`] at L limbs.
    square_start: SquareStart,
    /// K 2^(52 D) mod n, K = R^-65536, D = [`DIGEST_LIMBS`]; then PAD zero limbs: a digest H times it,
    /// in a Montgomery product of D rows, is H K.
    digest_factor: Box<[f64]>,
    /// The columns' [`start`] for D rows, with P K mod n added from column D on: the same product then
    /// comes to P K + H K = EM' K for the SHA-256 encoding EM' = P + H.
    digest_start: Box<[i64]>,
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
    /// The constants for `modulus` (big-endian, no leading zero, odd, `bits` long, at most 4096), and
    /// for `template`, EMSA-PKCS1-v1_5-ENCODE's block with SHA-256 (k octets) whose digest is zeros.
    pub(super) fn new(modulus: &[u8], bits: usize, template: &[u8]) -> Self {
        let limbs = (8 * modulus.len() + 2).div_ceil(LIMB_BITS);
        let mut n = vec![0u64; limbs];
        L52::from_be_bytes(modulus, &mut n);
        let n0_inv = L52::neg_inverse(n[0]);
        let mut n_pad: Vec<f64> = n.iter().map(|&x| x as f64).collect();
        n_pad.resize(limbs + PAD, 0.0);
        let mut verifier = Self {
            n: n.into(),
            n_pad: n_pad.into(),
            n0_inv,
            r2: Box::default(),
            start: start(limbs, limbs),
            square_start: square_start(limbs),
            digest_factor: Box::default(),
            digest_start: Box::default(),
        };

        // R^2 mod n, R = 2^(52 L).
        let mut x = [0u64; WIDTH];
        let s = L52::r2_seed(&verifier.n, bits, &mut x[..limbs]);
        let (mut xf, mut y) = ([0.0; WIDTH], [0.0; WIDTH]);
        to_floats(&x[..limbs], &mut xf);
        for _ in 0..s {
            verifier.mont_square(&mut y, &xf);
            std::mem::swap(&mut xf, &mut y);
        }
        verifier.r2 = verifier.reduced_operand(&xf);
        verifier.digest_constants(template);
        verifier
    }

    /// The constants of [`Self::verify_pkcs1v15_sha256`], from the Montgomery products of R^-65535:
    /// sixteen squarings of 1 give 1 R^-(2^16 - 1), and its product with x is x R^-65536 = x K.
    fn digest_constants(&mut self, template: &[u8]) {
        let limbs = self.n.len();
        let (mut c, mut y) = ([0.0; WIDTH], [0.0; WIDTH]);
        c[0] = 1.0;
        self.square_16(&mut c);
        // 2^(52 D) < n, so both operands are below 2n.
        let mut x = [0.0; WIDTH];
        x[DIGEST_LIMBS] = 1.0;
        self.mont_mul(&mut y, &c, &x);
        self.digest_factor = self.reduced_operand(&y);
        // P < 2^(8k - 15) < n: its first octets are 0x00 0x01.
        let mut p = [0u64; WIDTH];
        L52::from_be_bytes(template, &mut p[..limbs]);
        to_floats(&p, &mut x);
        self.mont_mul(&mut y, &c, &x);
        let mut prefix = [0u64; WIDTH];
        self.reduce(&y, &mut prefix[..limbs]);
        let mut start = start(limbs, DIGEST_LIMBS).into_vec();
        for (column, &v) in start[DIGEST_LIMBS..].iter_mut().zip(&prefix[..limbs]) {
            *column = column.wrapping_add(v as i64);
        }
        self.digest_start = start.into();
    }

    /// x mod n for x < 3n, as an operand: L limbs in `f64`, then PAD zero limbs.
    fn reduced_operand(&self, x: &[f64]) -> Box<[f64]> {
        let limbs = self.n.len();
        let mut reduced = [0u64; WIDTH];
        self.reduce(x, &mut reduced[..limbs]);
        reduced[..limbs + PAD].iter().map(|&v| v as f64).collect()
    }

    /// The modulus, big-endian, into all of `out` (k octets).
    pub(super) fn modulus(&self, out: &mut [u8]) {
        L52::to_be_bytes(&self.n, out);
    }

    /// RSAVP1 (RFC 8017 section 5.2.2) for a k-octet `signature`: `out` (k octets) = I2OSP(m, k) for
    /// m = s^65537 mod n, s = OS2IP(signature); false, and `out` untouched, unless s < n.
    pub(super) fn rsavp1(&self, signature: &[u8], out: &mut [u8]) -> bool {
        let limbs = self.n.len();
        // Step 1: s must be below n.
        let Some(sf) = self.signature_limbs(signature) else {
            return false;
        };
        // Step 2: m = s^e mod n, e = 65537: s R, its sixteen squarings s^(2^16) R, the product with s.
        let (mut x, mut y) = ([0.0; WIDTH], [0.0; WIDTH]);
        self.mont_mul(&mut x, &sf, &self.r2);
        self.square_16(&mut x);
        self.mont_mul(&mut y, &x, &sf);
        let mut m = [0u64; WIDTH];
        self.reduce(&y, &mut m[..limbs]);
        // I2OSP (section 4.1): m < n < 256^k fits.
        L52::to_be_bytes(&m[..limbs], out);
        true
    }

    /// s = OS2IP(signature) for k octets, as limbs in `f64` then padding, if s < n.
    fn signature_limbs(&self, signature: &[u8]) -> Option<[f64; WIDTH]> {
        let limbs = self.n.len();
        // Any k octets fit in L limbs (52 L >= 8 k + 2).
        let mut s = [0u64; WIDTH];
        L52::from_be_bytes(signature, &mut s[..limbs]);
        if !less_than(&s[..limbs], &self.n) {
            return None;
        }
        let mut sf = [0.0; WIDTH];
        to_floats(&s[..limbs], &mut sf);
        Some(sf)
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 8017 section 8.2.2, steps 2 to 4) for a k-octet `signature`
    /// and the message's SHA-256 `digest`: s < n and s^65537 = EM' (mod n), EM' the encoding of the
    /// digest. As m = s^65537 mod n and EM' < n (its first octets are 0x00 0x01) are both reduced,
    /// that is step 4's EM = EM'. Both sides are compared times K = R^-65536, which n (odd) makes
    /// invertible: s^65537 K takes seventeen Montgomery products, as s is never put in Montgomery form,
    /// and EM' K = P K + H K a product of five rows, where RSAVP1 takes eighteen whole ones.
    pub(super) fn verify_pkcs1v15_sha256(&self, signature: &[u8], digest: &[u8; 32]) -> bool {
        let limbs = self.n.len();
        // Step 2a (RSAVP1 step 1): s must be below n.
        let Some(sf) = self.signature_limbs(signature) else {
            return false;
        };
        // Sixteen squarings give s^(2^16) R^-(2^16 - 1), the product with s s^65537 R^-65536.
        let (mut x, mut y) = (sf, [0.0; WIDTH]);
        self.square_16(&mut x);
        self.mont_mul(&mut y, &x, &sf);
        let mut m = [0u64; WIDTH];
        self.reduce(&y, &mut m[..limbs]);

        // EM' K: (H (K 2^(52 D)) + P K 2^(52 D) + M n) / 2^(52 D) < (n / 16 + 2n), below 3n.
        let mut h = [0u64; DIGEST_LIMBS];
        L52::from_be_bytes(digest, &mut h);
        let mut hf = [0.0; DIGEST_LIMBS];
        to_floats(&h, &mut hf);
        let mut e = [0.0; WIDTH];
        self.mont_rows(&mut e, &hf, &self.digest_factor, &self.digest_start);
        let mut expected = [0u64; WIDTH];
        self.reduce(&e, &mut expected[..limbs]);
        m[..limbs] == expected[..limbs]
    }

    /// x = x^(2^16) R^-(2^16 - 1), by sixteen Montgomery squarings.
    #[inline(never)]
    fn square_16(&self, x: &mut [f64; WIDTH]) {
        let mut y = [0.0; WIDTH];
        for _ in 0..8 {
            self.mont_square(&mut y, x);
            self.mont_square(x, &y);
        }
    }

    /// `out` = x mod n (L limbs) for x < 3n.
    #[inline(never)]
    fn reduce(&self, x: &[f64], out: &mut [u64]) {
        for (o, &v) in out.iter_mut().zip(x) {
            *o = v as u64;
        }
        // At most twice; each subtraction takes off n from a value at least n.
        while !less_than(out, &self.n) {
            L52::sub_in_place(out, &self.n);
        }
    }

    /// Montgomery multiplication, out = a b R^-1 mod n, for a, b < 2n; out < 2n (R >= 4n, as in
    /// the 28-bit arithmetic's `mont_mul_in`). Every argument is L limbs then PAD zero limbs.
    ///
    /// Operand scanning: row i adds a[i] b and m[i] n to the columns. Column i is complete once row i's
    /// first products, a[i] b[0] and m[i] n[0], are in; they are split on one lane and added as
    /// integers, which gives m[i]; the rest of the row, a vector loop of the same length in every row,
    /// adds each product's lo to its column and its H to the next. A column's sum stays far inside 64
    /// bits: at most 2 L <= 158 lo parts of magnitude 2^51 and as many H below 2^52 + 1.
    fn mont_mul(&self, out: &mut [f64], a: &[f64], b: &[f64]) {
        self.mont_rows(out, &a[..self.n.len()], b, &self.start);
    }

    /// [`Self::mont_mul`] by the rows of `a`'s limbs, r of them: out = (a b + M n) / 2^(52 r) for the M
    /// below 2^(52 r) that makes it exact, plus what `start` adds past [`start`]`(L, r)` from column r
    /// on. At r = L that is a b R^-1 mod n. `out` must fit in L limbs.
    // The relaxed SIMD here too, so that `row` is inlined into the loop; one copy for every caller.
    #[cfg_attr(
        target_arch = "wasm32",
        target_feature(enable = "simd128,relaxed-simd")
    )]
    #[inline(never)]
    fn mont_rows(&self, out: &mut [f64], a: &[f64], b: &[f64], start: &[i64]) {
        let (l, r) = (self.n.len(), a.len());
        let p = row_length(l);
        // The columns' sums, each from its `start`.
        let mut t = [0i64; COLUMNS];
        let t = &mut t[..r + l + 1];
        t.copy_from_slice(start);
        let (b, n) = (&b[..=p], &self.n_pad[..=p]);
        let (b0, n0) = (b[0], n[0]);
        let split = Split::new();
        // The carry into the column, with the H of the previous column's first products.
        let mut carry: i64 = 0;
        for (i, &ai) in a.iter().enumerate() {
            let (ab_high, ab_low) = split.product(ai, b0);
            let sum = carry.wrapping_add(t[i]).wrapping_add(ab_low);
            let (mi, carried) = quotient(split, sum, self.n0_inv, n0);
            carry = carried + ab_high;
            row(split, ai, mi, &b[1..], &n[1..], &mut t[i + 1..=i + 1 + p]);
        }
        carry_out(carry, &t[r..], out);
    }

    /// [`Self::mont_mul`] of `a` by itself, out = a^2 R^-1 mod n, each cross product a[i] a[j] (i < j)
    /// computed once: 1.5 L^2 products where the multiplication takes 2 L^2. `a` is L limbs then PAD
    /// zero limbs. Three passes over the columns: the cross products by rows ([`cross_products`]), the
    /// doubling of the columns with the squares a[i]^2 added, and the reduction's rows m[i] n
    /// ([`reduction_rows`]), which leave the same columns as [`Self::mont_rows`] (m[i] depends on column
    /// i alone, the same sum in both). Both kinds of rows go two at a time where they can.
    #[cfg_attr(
        target_arch = "wasm32",
        target_feature(enable = "simd128,relaxed-simd")
    )]
    #[inline(never)]
    fn mont_square(&self, out: &mut [f64], a: &[f64]) {
        let l = self.n.len();
        let SquareStart { cross, reduction } = &self.square_start;
        let mut t = [0i64; COLUMNS];
        let t = &mut t[..=2 * l];
        t.copy_from_slice(cross);
        let split = Split::new();
        cross_products(split, &a[..l + PAD], t);
        double_with_squares(split, &a[..l], reduction, t);
        let carry = reduction_rows(split, &self.n_pad, self.n0_inv, t);
        carry_out(carry, &t[l..], out);
    }
}

/// The Montgomery quotient m = sum n' mod 2^52 of a column whose `sum` (with the carry in) is complete
/// but for m n[0], and the carry out of it: sum + m n[0] is a multiple of 2^52, its quotient carries on.
#[cfg_attr(
    target_arch = "wasm32",
    target_feature(enable = "simd128,relaxed-simd")
)]
#[inline]
fn quotient(split: Split, sum: i64, n0_inv: u64, n0: f64) -> (f64, i64) {
    let m = ((sum as u64).wrapping_mul(n0_inv) & LIMB_MASK) as i64 as f64;
    let (mn_high, mn_low) = split.product(m, n0);
    let cleared = sum.wrapping_add(mn_low);
    debug_assert_eq!(cleared & LIMB_MASK as i64, 0);
    (m, (cleared >> LIMB_BITS) + mn_high)
}

/// The squaring's cross products a[i] a[j], i < j, into the columns of `t` (2L + 1 of them; `a` is L
/// limbs then PAD zero limbs). For L - i even, rows i and i + 1 end in the same column: row i's first
/// two products alone, then both rows over columns 2i + 3 to i + L as the multiplication's a b and
/// m n, so that a step loads and stores its two columns once for four products.
#[cfg_attr(
    target_arch = "wasm32",
    target_feature(enable = "simd128,relaxed-simd")
)]
#[inline]
fn cross_products(split: Split, a: &[f64], t: &mut [i64]) {
    let l = a.len() - PAD;
    let mut i = 0;
    while i + 1 < l {
        // An odd L's row 0 runs alone.
        let alone = (l - i) % 2 == 1;
        let head = if alone { cross_length(l, i) } else { 2 };
        row_one(
            split,
            a[i],
            &a[i + 1..],
            &mut t[2 * i + 1..=2 * i + 1 + head],
        );
        if !alone {
            let p = l - i - 2;
            row(
                split,
                a[i],
                a[i + 1],
                &a[i + 3..],
                &a[i + 2..],
                &mut t[2 * i + 3..=2 * i + 3 + p],
            );
        }
        i += if alone { 1 } else { 2 };
    }
}

/// The reduction's rows m[i] n (`n` is L limbs then PAD zero limbs) over the 2L + 1 columns of `t`;
/// returns the carry into column L. Rows go in pairs, as the multiplication's a b and m n: row i's
/// second product m[i] n[1] is split on one lane, which completes column i + 1 and gives m[i + 1], and
/// then both rows run over columns i + 2 to i + P + 1, row i to the padding's n[P + 1]. An odd L's last
/// row runs alone.
#[cfg_attr(
    target_arch = "wasm32",
    target_feature(enable = "simd128,relaxed-simd")
)]
#[inline]
fn reduction_rows(split: Split, n: &[f64], n0_inv: u64, t: &mut [i64]) -> i64 {
    let l = n.len() - PAD;
    let p = row_length(l);
    let n = &n[..=p + 1];
    let (n0, n1) = (n[0], n[1]);
    let mut carry: i64 = 0;
    for i in (0..l).step_by(2) {
        let (mi, into_next) = quotient(split, carry.wrapping_add(t[i]), n0_inv, n0);
        if i + 1 == l {
            row_one(split, mi, &n[1..], &mut t[l..=l + p]);
            return into_next;
        }
        let (high, low) = split.product(mi, n1);
        let sum = into_next.wrapping_add(t[i + 1]).wrapping_add(low);
        let (mj, carried) = quotient(split, sum, n0_inv, n0);
        carry = carried + high;
        row(split, mi, mj, &n[2..], &n[1..], &mut t[i + 2..=i + 2 + p]);
    }
    carry
}

/// The result's L limbs from the columns past the reduced ones (L + 1 of them, the last zero) and the
/// carry into the first: each column with the carry in, its low 52 bits a limb.
fn carry_out(mut carry: i64, t: &[i64], out: &mut [f64]) {
    let l = t.len() - 1;
    for k in 0..l - 1 {
        let sum = carry.wrapping_add(t[k]);
        out[k] = (sum & LIMB_MASK as i64) as f64;
        carry = sum >> LIMB_BITS;
    }
    let top = carry.wrapping_add(t[l - 1]);
    debug_assert!((0..=LIMB_MASK as i64).contains(&top));
    debug_assert_eq!(t[l], 0, "past the last column");
    out[l - 1] = top as f64;
}

/// Limbs below 2^52 as `f64`, exactly, into the start of `out`.
fn to_floats(limbs: &[u64], out: &mut [f64]) {
    for (f, &v) in out.iter_mut().zip(limbs) {
        *f = v as f64;
    }
}

/// The products of a row past its first, b[1 ..= P] against one limb: L - 1 rounded up to whole vectors
/// of two (b[L] and n[L] are padding when L is even).
fn row_length(l: usize) -> usize {
    2 * (l / 2)
}

/// The starting values of `columns` columns that cancel the constants of the encodings added to them,
/// `products(c)` products with their lo in column c and their H in the next, negated (mod 2^64). Each lo
/// comes as LOW_BITS - lo, taken off; each H as HIGH_BITS + H, added. In closed form: a loop over every
/// product, run once per key, would run in V8's baseline tier (README "What each step bought").
fn cancelling(columns: usize, products: impl Fn(usize) -> i64) -> Box<[i64]> {
    (0..columns)
        .map(|c| {
            let (low, high) = (products(c), c.checked_sub(1).map_or(0, &products));
            low.wrapping_mul(LOW_BITS)
                .wrapping_sub(high.wrapping_mul(HIGH_BITS))
        })
        .collect()
}

/// For each column of a product of r rows of L limbs, and one past, the value it starts from, for the
/// encodings [`row`] adds to it over the rows.
fn start(l: usize, rows: usize) -> Box<[i64]> {
    let p = row_length(l);
    // Each position of a row, b[j] and n[j] for 1 <= j <= P, brings two products: their lo to column
    // i + j, their H to the next. Column c holds the lo of rows max(0, c - P) ..= min(r - 1, c - 1).
    cancelling(rows + l + 1, |c| {
        2 * (c.saturating_sub(p)..rows.min(c)).len() as i64
    })
}

/// Row i's cross products, a[i] a[j] for i < j < L: L - 1 - i rounded up to whole vectors of two (the
/// padding's products are zero).
fn cross_length(l: usize, i: usize) -> usize {
    (l - i) & !1
}

/// [`start`] for [`FmaVerifier::mont_square`]'s passes: what its columns start from before the cross
/// products, the negated constants of their encodings (doubled along with them), and what the
/// doubling adds, the negated constants of the squares' encodings and of the reduction's rows.
#[derive(Clone, Debug, PartialEq)]
struct SquareStart {
    cross: Box<[i64]>,
    reduction: Box<[i64]>,
}

/// The [`SquareStart`] of L limbs.
fn square_start(l: usize) -> SquareStart {
    let p = row_length(l);
    // Row i's cross products cover columns 2i + 1 to 2i + [`cross_length`]: column c >= 1 holds those of
    // rows i <= (c - 1) / 2 (and i <= L - 2) with c - 2i - 1 below L - i rounded down to even, which
    // is i > c - L - 1 for even c and i > c - L for odd c.
    let cross = |c: usize| match c.checked_sub(1) {
        Some(before) => {
            let last = (before / 2).min(l - 2);
            ((c + c % 2).saturating_sub(l)..last + 1).len() as i64
        }
        None => 0,
    };
    // The reduction's rows as in [`start`], one product per position, but for the first row i of each
    // pair of [`reduction_rows`] (i even, i <= L - 2): its columns run from i + 2 to i + P + 1, its
    // product in column i + 1 split apart. And the square a[i]^2 in column 2i.
    let first_of_pair = |i: Option<usize>| i.is_some_and(|i| i.is_multiple_of(2) && i + 2 <= l);
    let reduction = |c: usize| {
        (c.saturating_sub(p)..l.min(c)).len() as i64
            + i64::from(first_of_pair(c.checked_sub(p + 1)))
            - i64::from(first_of_pair(c.checked_sub(1)))
            + i64::from(c.is_multiple_of(2) && c / 2 < l)
    };
    SquareStart {
        cross: cancelling(2 * l + 1, cross),
        reduction: cancelling(2 * l + 1, reduction),
    }
}

/// The encodings of HIGH and LOW as integers.
const HIGH_BITS: i64 = HIGH.to_bits() as i64;
const LOW_BITS: i64 = LOW.to_bits() as i64;

/// The split's constants, HIGH and SHIFT, as vectors: made once per multiplication and handed to each
/// [`row`].
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

    /// x y = H 2^52 + lo for limbs x, y below 2^52, as (H, lo), -2^51 <= lo <= 2^51: the split of the
    /// module's comment on one lane.
    #[target_feature(enable = "simd128,relaxed-simd")]
    #[inline]
    fn product(self, x: f64, y: f64) -> (i64, i64) {
        use core::arch::wasm32::{
            f64x2_relaxed_madd, f64x2_relaxed_nmadd, f64x2_splat, f64x2_sub, i64x2_extract_lane,
        };
        let Split(high_c, shift) = self;
        let (vx, vy) = (f64x2_splat(x), f64x2_splat(y));
        let h = f64x2_relaxed_madd(vx, vy, high_c);
        let l = f64x2_relaxed_nmadd(vx, vy, f64x2_sub(h, shift));
        let (h, l) = (i64x2_extract_lane::<0>(h), i64x2_extract_lane::<0>(l));
        #[cfg(debug_assertions)]
        check_split(x, y, h, l);
        (h.wrapping_sub(HIGH_BITS), LOW_BITS.wrapping_sub(l))
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

    /// The wasm32 `product` with `f64::mul_add`.
    fn product(self, x: f64, y: f64) -> (i64, i64) {
        let (h, l) = encodings(x, y);
        (h.wrapping_sub(HIGH_BITS), LOW_BITS.wrapping_sub(l))
    }
}

/// The encodings (h, l) of x y's split by `f64::mul_add`.
#[cfg(not(target_arch = "wasm32"))]
fn encodings(x: f64, y: f64) -> (i64, i64) {
    let h = x.mul_add(y, HIGH);
    let l = (-x).mul_add(y, h - SHIFT);
    let (h, l) = (h.to_bits() as i64, l.to_bits() as i64);
    #[cfg(debug_assertions)]
    check_split(x, y, h, l);
    (h, l)
}

/// Adds the products a b[j] and m n[j], j below P (the caller's, even), to the columns of `t`, P + 1 of
/// them from the column of b[0]'s products: each product's lo to its column, as the encoding of its
/// negation taken off, and the encoding of its H to the next.
#[cfg(target_arch = "wasm32")]
#[target_feature(enable = "simd128,relaxed-simd")]
#[inline]
fn row(Split(high_c, shift): Split, a: f64, m: f64, b: &[f64], n: &[f64], t: &mut [i64]) {
    use core::arch::wasm32::{
        f64x2_relaxed_madd, f64x2_relaxed_nmadd, f64x2_splat, f64x2_sub, i64x2_add,
        i64x2_extract_lane, i64x2_shuffle, i64x2_splat, i64x2_sub, v128_load, v128_store,
    };
    debug_assert_eq!(t.len() % 2, 1, "an even P");
    // Whole vectors only, so that the loads below stay inside the slices whatever the caller passes.
    let p = (t.len() - 1) & !1;
    let (b, n, t) = (&b[..p], &n[..p], &mut t[..=p]);
    let (va, vm) = (f64x2_splat(a), f64x2_splat(m));
    // The H of the previous pair, whose second lane belongs to this pair's first column.
    let mut previous = i64x2_splat(0);
    for k in (0..p).step_by(2) {
        // SAFETY: k + 1 < p, and `b`, `n` and `t` hold at least p limbs (the reslicing above checks it).
        let (vb, vn, vt) = unsafe {
            (
                v128_load(b.as_ptr().add(k).cast()),
                v128_load(n.as_ptr().add(k).cast()),
                v128_load(t.as_ptr().add(k).cast()),
            )
        };
        let h1 = f64x2_relaxed_madd(va, vb, high_c);
        let h2 = f64x2_relaxed_madd(vm, vn, high_c);
        // LOW - lo: the negated low part, exact (see the module's comment).
        let l1 = f64x2_relaxed_nmadd(va, vb, f64x2_sub(h1, shift));
        let l2 = f64x2_relaxed_nmadd(vm, vn, f64x2_sub(h2, shift));
        #[cfg(debug_assertions)]
        for (x, y, h, l) in [(a, vb, h1, l1), (m, vn, h2, l2)] {
            check_lanes(x, y, h, l);
        }
        let h = i64x2_add(h1, h2);
        let sum = i64x2_sub(i64x2_shuffle::<1, 2>(previous, h), i64x2_add(l1, l2));
        // SAFETY: as for the loads.
        unsafe { v128_store(t.as_mut_ptr().add(k).cast(), i64x2_add(vt, sum)) };
        previous = h;
    }
    t[p] = t[p].wrapping_add(i64x2_extract_lane::<1>(previous));
}

/// [`row`] with `f64::mul_add`: a b, then m n, one product at a time.
#[cfg(not(target_arch = "wasm32"))]
fn row(split: Split, a: f64, m: f64, b: &[f64], n: &[f64], t: &mut [i64]) {
    row_one(split, a, b, t);
    row_one(split, m, n, t);
}

/// [`row`] with one product per column: x y[j], j below P (even), to the columns of `t`.
#[cfg(target_arch = "wasm32")]
#[target_feature(enable = "simd128,relaxed-simd")]
#[inline]
fn row_one(Split(high_c, shift): Split, x: f64, y: &[f64], t: &mut [i64]) {
    use core::arch::wasm32::{
        f64x2_relaxed_madd, f64x2_relaxed_nmadd, f64x2_splat, f64x2_sub, i64x2_add,
        i64x2_extract_lane, i64x2_shuffle, i64x2_splat, i64x2_sub, v128_load, v128_store,
    };
    debug_assert_eq!(t.len() % 2, 1, "an even P");
    let p = (t.len() - 1) & !1;
    let (y, t) = (&y[..p], &mut t[..=p]);
    let vx = f64x2_splat(x);
    let mut previous = i64x2_splat(0);
    for k in (0..p).step_by(2) {
        // SAFETY: k + 1 < p, and `y` and `t` hold at least p limbs (the reslicing above checks it).
        let (vy, vt) = unsafe {
            (
                v128_load(y.as_ptr().add(k).cast()),
                v128_load(t.as_ptr().add(k).cast()),
            )
        };
        let h = f64x2_relaxed_madd(vx, vy, high_c);
        let l = f64x2_relaxed_nmadd(vx, vy, f64x2_sub(h, shift));
        #[cfg(debug_assertions)]
        check_lanes(x, vy, h, l);
        let sum = i64x2_sub(i64x2_shuffle::<1, 2>(previous, h), l);
        // SAFETY: as for the loads.
        unsafe { v128_store(t.as_mut_ptr().add(k).cast(), i64x2_add(vt, sum)) };
        previous = h;
    }
    t[p] = t[p].wrapping_add(i64x2_extract_lane::<1>(previous));
}

/// [`row_one`] with `f64::mul_add`.
#[cfg(not(target_arch = "wasm32"))]
fn row_one(_: Split, x: f64, y: &[f64], t: &mut [i64]) {
    let p = t.len() - 1;
    for (j, &yj) in y[..p].iter().enumerate() {
        let (h, l) = encodings(x, yj);
        t[j] = t[j].wrapping_sub(l);
        t[j + 1] = t[j + 1].wrapping_add(h);
    }
}

/// Each of the 2L + 1 columns of `t` (the cross products' sums) doubled, with `reduction`'s value
/// added and each square a[i]^2: its lo to column 2i, its H to the next, as encodings.
#[cfg(target_arch = "wasm32")]
#[target_feature(enable = "simd128,relaxed-simd")]
#[inline]
fn double_with_squares(Split(high_c, shift): Split, a: &[f64], reduction: &[i64], t: &mut [i64]) {
    use core::arch::wasm32::{
        f64x2_relaxed_madd, f64x2_relaxed_nmadd, f64x2_splat, f64x2_sub, i64x2_add, i64x2_neg,
        i64x2_shl, i64x2_shuffle, v128_load, v128_store,
    };
    let l = a.len();
    let (reduction, t) = (&reduction[..=2 * l], &mut t[..=2 * l]);
    for (i, &x) in a.iter().enumerate() {
        let vx = f64x2_splat(x);
        let h = f64x2_relaxed_madd(vx, vx, high_c);
        let low = f64x2_relaxed_nmadd(vx, vx, f64x2_sub(h, shift));
        let square = i64x2_shuffle::<0, 3>(i64x2_neg(low), h);
        // SAFETY: 2i + 1 < 2L + 1, the length of both (the reslicing above checks it).
        unsafe {
            let vt = v128_load(t.as_ptr().add(2 * i).cast());
            let vr = v128_load(reduction.as_ptr().add(2 * i).cast());
            let sum = i64x2_add(i64x2_add(i64x2_shl(vt, 1), vr), square);
            v128_store(t.as_mut_ptr().add(2 * i).cast(), sum);
        }
    }
    t[2 * l] = t[2 * l].wrapping_mul(2).wrapping_add(reduction[2 * l]);
}

/// [`double_with_squares`] with `f64::mul_add`.
#[cfg(not(target_arch = "wasm32"))]
fn double_with_squares(_: Split, a: &[f64], reduction: &[i64], t: &mut [i64]) {
    for (column, &r) in t.iter_mut().zip(reduction) {
        *column = column.wrapping_mul(2).wrapping_add(r);
    }
    for (i, &x) in a.iter().enumerate() {
        let (h, l) = encodings(x, x);
        t[2 * i] = t[2 * i].wrapping_sub(l);
        t[2 * i + 1] = t[2 * i + 1].wrapping_add(h);
    }
}

/// [`check_split`] on both lanes of a vector of splits, x times each of `y`'s limbs.
#[cfg(all(target_arch = "wasm32", debug_assertions))]
#[target_feature(enable = "simd128")]
fn check_lanes(
    x: f64,
    y: core::arch::wasm32::v128,
    h: core::arch::wasm32::v128,
    l: core::arch::wasm32::v128,
) {
    use core::arch::wasm32::{f64x2_extract_lane, i64x2_extract_lane};
    check_split(
        x,
        f64x2_extract_lane::<0>(y),
        i64x2_extract_lane::<0>(h),
        i64x2_extract_lane::<0>(l),
    );
    check_split(
        x,
        f64x2_extract_lane::<1>(y),
        i64x2_extract_lane::<1>(h),
        i64x2_extract_lane::<1>(l),
    );
}

/// The split of x y into the encodings `h` and `l` is exact, checked with debug assertions on. Were the
/// multiply-add not fused, the parts would be wrong.
#[cfg(debug_assertions)]
fn check_split(x: f64, y: f64, h: i64, l: i64) {
    let high = i128::from(h.wrapping_sub(HIGH_BITS));
    let neg_low = i128::from(l.wrapping_sub(LOW_BITS));
    assert_eq!(
        high * (1 << LIMB_BITS) - neg_low,
        x as i128 * y as i128,
        "a product was not split exactly"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rsa::tests::modulus;
    use crate::rsa::Hash;

    /// The verifier of `modulus`, with the SHA-256 template of its length.
    fn verifier(modulus: &[u8], bits: usize) -> FmaVerifier {
        FmaVerifier::new(modulus, bits, &encoded(modulus.len(), &[0; 32]))
    }

    /// EMSA-PKCS1-v1_5-ENCODE of a SHA-256 `digest` in k octets.
    fn encoded(k: usize, digest: &[u8; 32]) -> Vec<u8> {
        let mut em = vec![0u8; k];
        Hash::Sha256.encode_pkcs1v15(digest, &mut em);
        em
    }

    /// Limbs in f64 of a number below 2n, then padding.
    fn float_limbs(v: &FmaVerifier, bytes: &[u8]) -> [f64; WIDTH] {
        let mut x = [0u64; WIDTH];
        assert!(L52::from_be_bytes(bytes, &mut x[..v.n.len()]));
        x.map(|x| x as f64)
    }

    /// x K mod n, K = R^-65536, by another route than [`FmaVerifier::verify_pkcs1v15_sha256`]'s: x
    /// times R^-65535 (the squarings of 1 as `digest_constants` makes them), then R^-1.
    fn times_k(v: &FmaVerifier, x: &[f64; WIDTH]) -> Vec<u64> {
        let l = v.n.len();
        let (mut c, mut y) = ([0.0; WIDTH], [0.0; WIDTH]);
        c[0] = 1.0;
        for _ in 0..16 {
            v.mont_mul(&mut y, &c, &c);
            c = y;
        }
        v.mont_mul(&mut y, &c, x);
        let mut out = [0u64; WIDTH];
        v.reduce(&y, &mut out[..l]);
        out[..l].to_vec()
    }

    /// The five rows over a digest come to EM' K mod n, EM' the digest's whole encoding, at the extremes
    /// of the digest and of the modulus (its top octet 0x01, so that P K can be near n, or 0xff), at
    /// limb counts even and odd.
    #[test]
    fn digest_rows_are_the_encoding_times_k() {
        let digests = [[0u8; 32], [0xff; 32], [0x5a; 32], {
            let mut d = [0u8; 32];
            d[0] = 0x80;
            d[31] = 1;
            d
        }];
        for bits in [2048, 2049, 2073, 2128, 3072, 4095, 4096] {
            let mut moduli = vec![modulus(bits), vec![0xffu8; bits.div_ceil(8)]];
            moduli[1][0] = 0xff >> (8 * bits.div_ceil(8) - bits);
            for n in &moduli {
                let v = verifier(n, bits);
                let l = v.n.len();
                for digest in &digests {
                    let mut h = [0u64; DIGEST_LIMBS];
                    assert!(L52::from_be_bytes(digest, &mut h));
                    let mut e = [0.0; WIDTH];
                    v.mont_rows(
                        &mut e,
                        &h.map(|x| x as f64),
                        &v.digest_factor,
                        &v.digest_start,
                    );
                    let mut got = [0u64; WIDTH];
                    v.reduce(&e, &mut got[..l]);
                    let em = float_limbs(&v, &encoded(n.len(), digest));
                    assert_eq!(got[..l], times_k(&v, &em)[..], "{bits} {digest:02x?}");
                }
            }
        }
    }

    /// Seventeen products from s, never in Montgomery form, come to s^65537 K mod n: RSAVP1's m, made
    /// through R^2, times K.
    #[test]
    fn unconverted_chain_is_m_times_k() {
        for bits in [2048, 2049, 3072, 4096] {
            let n = modulus(bits);
            let v = verifier(&n, bits);
            let l = v.n.len();
            let mut n_minus_one = n.clone();
            *n_minus_one.last_mut().unwrap() -= 1;
            for s in [
                vec![0u8],
                vec![1],
                vec![2],
                vec![0x5a; n.len() - 1],
                n_minus_one,
            ] {
                let mut signature = vec![0u8; n.len() - s.len()];
                signature.extend_from_slice(&s);
                let mut m = vec![0u8; n.len()];
                assert!(v.rsavp1(&signature, &mut m));
                let mut sf = float_limbs(&v, &signature);
                let mut y = [0.0; WIDTH];
                for _ in 0..16 {
                    v.mont_mul(&mut y, &sf, &sf);
                    std::mem::swap(&mut sf, &mut y);
                }
                v.mont_mul(&mut y, &sf, &float_limbs(&v, &signature));
                let mut got = [0u64; WIDTH];
                v.reduce(&y, &mut got[..l]);
                assert_eq!(
                    got[..l],
                    times_k(&v, &float_limbs(&v, &m))[..],
                    "{bits} {s:02x?}"
                );
            }
        }
    }

    /// Σ_j (a b[j] + m n[j]) 2^(52 j) = Σ_k t[k] 2^(52 k): the difference, carried column by column,
    /// vanishes.
    fn assert_row_sum(a: f64, m: f64, b: &[f64], n: &[f64], t: &[i64], what: &str) {
        let mut carry: i128 = 0;
        for (k, &column) in t.iter().enumerate() {
            let exact = b.get(k).zip(n.get(k)).map_or(0, |(&bk, &nk)| {
                a as i128 * bk as i128 + m as i128 * nk as i128
            });
            let v = carry + i128::from(column) - exact;
            assert_eq!(v % (1 << LIMB_BITS), 0, "{what}: column {k}");
            carry = v >> LIMB_BITS;
        }
        assert_eq!(carry, 0, "{what}");
    }

    /// The split of each product and the sums of a row hold at the extremes: the largest limbs, products
    /// whose low half is a tie (H rounds to even, so lo is +2^51 or -2^51, the ends of its range), zeros.
    #[test]
    fn row_is_exact_at_the_extremes() {
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
        for p in [2, 4, 6, 8, 2 * MAX_LIMBS] {
            for rotate in 0..cases.len() {
                let pick = |k: usize, side: usize| cases[(k + rotate) % cases.len()][side];
                let (a, m) = (pick(0, 0), pick(1, 1));
                let b: Vec<f64> = (0..p).map(|k| pick(k + 2, 1)).collect();
                let n: Vec<f64> = (0..p).map(|k| pick(k + 5, 0)).collect();
                // Each column starts from the negated constants of the encodings the row adds to it.
                let mut t = vec![0i64; p + 1];
                for j in 0..p {
                    t[j] = t[j].wrapping_add(LOW_BITS.wrapping_mul(2));
                    t[j + 1] = t[j + 1].wrapping_sub(HIGH_BITS.wrapping_mul(2));
                }
                row(Split::new(), a, m, &b, &n, &mut t);
                assert_row_sum(a, m, &b, &n, &t, &format!("{p} {rotate}"));
            }
        }
    }

    /// Each column's starting value takes off exactly the constants its encodings bring: a product of
    /// zeros leaves every column at zero.
    #[test]
    fn start_cancels_the_encodings() {
        for (l, rows) in [2, 3, 40, 41, MAX_LIMBS]
            .into_iter()
            .flat_map(|l| [(l, l), (l, DIGEST_LIMBS.min(l)), (l, 1)])
        {
            let p = row_length(l);
            let mut t = start(l, rows).into_vec();
            let zeros = vec![0.0; p];
            for i in 0..rows {
                row(
                    Split::new(),
                    0.0,
                    0.0,
                    &zeros,
                    &zeros,
                    &mut t[i + 1..=i + 1 + p],
                );
            }
            assert!(t.iter().all(|&c| c == 0), "{l} {rows}");
        }
    }

    /// The squaring's columns start from the negated constants of the encodings its passes add, at every
    /// limb count: the square of zero, with m = 0 in every row, leaves every column at zero after each
    /// pass.
    #[test]
    fn square_start_cancels_the_encodings() {
        for l in 2..=MAX_LIMBS {
            let SquareStart { cross, reduction } = square_start(l);
            let zeros = vec![0.0; l + PAD];
            let mut t = cross.into_vec();
            cross_products(Split::new(), &zeros, &mut t);
            assert!(t.iter().all(|&c| c == 0), "{l}: cross products");
            double_with_squares(Split::new(), &zeros[..l], &reduction, &mut t);
            assert_eq!(
                reduction_rows(Split::new(), &zeros, 1, &mut t),
                0,
                "{l}: carry"
            );
            assert!(t.iter().all(|&c| c == 0), "{l}: reduction");
        }
    }

    /// The squaring gives the multiplication's limbs exactly, unreduced, at limb counts even and odd, for
    /// moduli with every limb full or a top limb of one bit, on operands at the ends of [0, 2n) and on
    /// pseudo-random ones.
    #[test]
    fn square_is_the_multiplication() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut random_octet = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 56) as u8
        };
        for bits in [1040usize, 2048, 2049, 2073, 2095, 2128, 3072, 4095, 4096] {
            let octets = bits.div_ceil(8);
            let mut full = vec![0xffu8; octets];
            full[0] = 0xff >> (8 * octets - bits);
            for n in [modulus(bits), full] {
                let v = verifier(&n, bits);
                let l = v.n.len();
                let mut operands: Vec<[u64; WIDTH]> = Vec::new();
                for small in [0, 1, 2] {
                    let mut x = [0u64; WIDTH];
                    x[0] = small;
                    operands.push(x);
                }
                let mut x = [0u64; WIDTH];
                L52::two_n_minus_one(&v.n, &mut x[..l]);
                operands.push(x);
                let mut x = [0u64; WIDTH];
                x[..l].copy_from_slice(&v.n);
                x[0] -= 1;
                operands.push(x);
                for _ in 0..8 {
                    let mut bytes: Vec<u8> = (0..octets).map(|_| random_octet()).collect();
                    bytes[0] &= n[0] >> 1;
                    let mut x = [0u64; WIDTH];
                    assert!(L52::from_be_bytes(&bytes, &mut x[..l]));
                    operands.push(x);
                }
                for x in operands {
                    let xf = x.map(|v| v as f64);
                    let (mut squared, mut product) = ([0.0; WIDTH], [0.0; WIDTH]);
                    v.mont_square(&mut squared, &xf);
                    v.mont_mul(&mut product, &xf, &xf);
                    assert_eq!(squared[..l], product[..l], "{bits} {:x?}", &x[..l]);
                }
            }
        }
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

    /// One product's split at the extremes: the largest limbs, ties, zeros.
    #[test]
    fn product_is_exact() {
        let values = [
            0,
            1,
            2,
            3,
            (1 << 26) - 1,
            1 << 26,
            1 << 51,
            (1 << 51) + 1,
            LIMB_MASK - 1,
            LIMB_MASK,
        ];
        for x in values {
            for y in values {
                let (high, low) = Split::new().product(x as f64, y as f64);
                assert!((-(1 << 51)..=1 << 51).contains(&low), "{x} {y}");
                assert_eq!(
                    i128::from(high) * (1 << LIMB_BITS) + i128::from(low),
                    i128::from(x) * i128::from(y),
                    "{x} {y}"
                );
            }
        }
    }

    /// R^2 R^-1 R^-1 = 1, at limb counts even and odd.
    #[test]
    fn montgomery_constants() {
        for bits in [2048, 2073, 2128, 3072, 4096] {
            let v = verifier(&modulus(bits), bits);
            let l = v.n.len();
            assert!(LIMB_BITS * l >= bits + 2, "R >= 4n");
            assert_eq!(
                v.n[0].wrapping_mul(v.n0_inv) & LIMB_MASK,
                LIMB_MASK,
                "n n0' = -1 mod 2^52"
            );
            let mut one = [0.0; WIDTH];
            one[0] = 1.0;
            let (mut x, mut y) = ([0.0; WIDTH], [0.0; WIDTH]);
            v.mont_mul(&mut x, &v.r2, &one);
            v.mont_mul(&mut y, &x, &one);
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
            let v = verifier(&vec![0xffu8; bits / 8], bits);
            let l = v.n.len();
            let mut x = [0u64; WIDTH];
            L52::two_n_minus_one(&v.n, &mut x[..l]);
            let xf: Vec<f64> = x.iter().map(|&v| v as f64).collect();
            let mut y = [0.0; WIDTH];
            v.mont_mul(&mut y, &xf, &xf);
            let y: Vec<u64> = y[..l].iter().map(|&v| v as u64).collect();
            assert!(!less_than(&x[..l], &y), "{bits}: the product is below 2n");
        }
    }
}
