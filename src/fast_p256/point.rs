//! Points of P-256, y^2 = x^3 - 3x + b over GF(p) (FIPS 186-5 / SP 800-186 section 3.2.1.3), in Jacobian
//! coordinates: (X, Y, Z) is the affine point (X / Z^2, Y / Z^3), and Z = 0 is the point at infinity.
//!
//! The formulas are the a = -3 ones of the Explicit-Formulas Database (Bernstein, Lange; hyperelliptic.org
//! /EFD/g1p/auto-shortw-jacobian-3.html), with the products 2 Y Z, 2 Z1 H and 2 Z1 Z2 H computed directly
//! instead of the squaring variants. They are not complete: an addition checks for its exceptional
//! cases (an input at infinity, equal or opposite inputs) and falls back to doubling or to infinity.
//! Everything here works on public data, so the checks may take variable time.

use super::field::Fe;

/// An affine point, never the point at infinity.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Affine {
    pub(crate) x: Fe,
    pub(crate) y: Fe,
}

impl Affine {
    pub(crate) fn neg(&self) -> Affine {
        Affine {
            x: self.x,
            y: self.y.neg(),
        }
    }
}

/// A point in Jacobian coordinates.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Jacobian {
    pub(crate) x: Fe,
    pub(crate) y: Fe,
    pub(crate) z: Fe,
}

/// A Jacobian point, never at infinity, with Z^2 and Z^3 precomputed: an addend used many times.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cached {
    point: Jacobian,
    zz: Fe,
    zzz: Fe,
}

impl Cached {
    /// The point must not be at infinity (the multiples of Q and G cached here never are: the group has
    /// prime order n and they are below n).
    pub(crate) fn new(point: &Jacobian) -> Cached {
        let zz = point.z.square();
        Cached {
            point: *point,
            zz,
            zzz: zz.mul(&point.z),
        }
    }

    pub(crate) fn neg(&self) -> Cached {
        let mut out = *self;
        out.point.y = out.point.y.neg();
        out
    }
}

impl From<&Affine> for Jacobian {
    fn from(p: &Affine) -> Jacobian {
        Jacobian {
            x: p.x,
            y: p.y,
            z: Fe::ONE,
        }
    }
}

impl Jacobian {
    pub(crate) const INFINITY: Jacobian = Jacobian {
        x: Fe::ONE,
        y: Fe::ONE,
        z: Fe::ZERO,
    };

    pub(crate) fn is_infinity(&self) -> bool {
        self.z.is_zero()
    }

    /// 2P: dbl-2001-b (3M + 5S minus one S, plus one M for Z3 = 2 Y Z). Infinity stays infinity
    /// (Z3 = 2 Y Z = 0); P-256 has no point of order 2, so Y = 0 never occurs otherwise.
    pub(crate) fn double(&self) -> Jacobian {
        let delta = self.z.square();
        let gamma = self.y.square();
        let beta = self.x.mul(&gamma);
        // alpha = 3 (X - delta)(X + delta) = 3 X^2 + a Z^4 with a = -3
        let alpha = self.x.sub(&delta).mul(&self.x.add(&delta)).mul_small(3);
        let x3 = alpha.square().sub(&beta.mul_small(8));
        let z3 = self.y.mul(&self.z).mul_small(2);
        let y3 = alpha
            .mul(&beta.mul_small(4).sub(&x3))
            .sub(&gamma.square().mul_small(8));
        Jacobian {
            x: x3,
            y: y3,
            z: z3,
        }
    }

    /// The sum in the exceptional case U1 = U2 (equal x-coordinates): 2P if S1 = S2, else P + (-P).
    fn exceptional(&self, s_diff: &Fe) -> Jacobian {
        if s_diff.is_zero() {
            self.double()
        } else {
            Jacobian::INFINITY
        }
    }

    /// P + Q for an affine Q: madd-2007-bl (7M + 4S, here 8M + 3S).
    pub(crate) fn add_affine(&self, q: &Affine) -> Jacobian {
        if self.is_infinity() {
            return q.into();
        }
        let z1z1 = self.z.square();
        let u2 = q.x.mul(&z1z1);
        let s2 = q.y.mul(&self.z).mul(&z1z1);
        let h = u2.sub(&self.x);
        let rr = s2.sub(&self.y);
        if h.is_zero() {
            return self.exceptional(&rr);
        }
        let hh = h.square();
        let i = hh.mul_small(4);
        let j = h.mul(&i);
        let r = rr.mul_small(2);
        let v = self.x.mul(&i);
        let x3 = r.square().sub(&j).sub(&v.mul_small(2));
        let y3 = r.mul(&v.sub(&x3)).sub(&self.y.mul(&j).mul_small(2));
        let z3 = self.z.mul(&h).mul_small(2);
        Jacobian {
            x: x3,
            y: y3,
            z: z3,
        }
    }

    /// P + Q for a cached Q: add-2007-bl with Z2^2 and Z2^3 precomputed (11M + 3S).
    pub(crate) fn add_cached(&self, q: &Cached) -> Jacobian {
        if self.is_infinity() {
            return q.point;
        }
        let z1z1 = self.z.square();
        let u1 = self.x.mul(&q.zz);
        let u2 = q.point.x.mul(&z1z1);
        let s1 = self.y.mul(&q.zzz);
        let s2 = q.point.y.mul(&self.z).mul(&z1z1);
        let h = u2.sub(&u1);
        let rr = s2.sub(&s1);
        if h.is_zero() {
            return self.exceptional(&rr);
        }
        let i = h.mul_small(2).square();
        let j = h.mul(&i);
        let r = rr.mul_small(2);
        let v = u1.mul(&i);
        let x3 = r.square().sub(&j).sub(&v.mul_small(2));
        let y3 = r.mul(&v.sub(&x3)).sub(&s1.mul(&j).mul_small(2));
        let z3 = self.z.mul(&q.point.z).mul(&h).mul_small(2);
        Jacobian {
            x: x3,
            y: y3,
            z: z3,
        }
    }
}

/// Affine forms of points none of which is at infinity, with one field inversion (Montgomery's trick:
/// invert the product of the Z's, then peel off each 1/Z with two multiplications).
pub(crate) fn to_affine_batch<const L: usize>(points: &[Jacobian; L]) -> [Affine; L] {
    let mut prefix = [Fe::ONE; L];
    let mut product = Fe::ONE;
    for (slot, p) in prefix.iter_mut().zip(points) {
        *slot = product;
        product = product.mul(&p.z);
    }
    let mut inverse = product.invert(); // 1 / (Z_0 ... Z_{L-1})
    let mut out = [Affine {
        x: Fe::ZERO,
        y: Fe::ZERO,
    }; L];
    for i in (0..L).rev() {
        let z_inv = inverse.mul(&prefix[i]); // 1 / Z_i
        inverse = inverse.mul(&points[i].z); // 1 / (Z_0 ... Z_{i-1})
        let zz_inv = z_inv.square();
        out[i] = Affine {
            x: points[i].x.mul(&zz_inv),
            y: points[i].y.mul(&zz_inv).mul(&z_inv),
        };
    }
    out
}
