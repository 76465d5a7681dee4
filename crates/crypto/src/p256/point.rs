//! Points of P-256, y^2 = x^3 - 3x + b over GF(p) (FIPS 186-5 / SP 800-186 section 3.2.1.3), in Jacobian
//! coordinates: (X, Y, Z) is the affine point (X / Z^2, Y / Z^3), and Z = 0 is the point at infinity.
//!
//! The formulas are from the Explicit-Formulas Database (Bernstein, Lange; hyperelliptic.org/EFD/g1p/
//! auto-shortw-jacobian-3.html, a = -3): dbl-2001-b for doubling, add-1998-cmo-2 for additions, with
//! additions and subtractions fused where one reduction can serve two. They are not complete: an addition checks for its exceptional
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

    /// 2P: dbl-2001-b (3M + 5S; here 4M + 4S with Z3 = 2 Y Z). Infinity stays infinity
    /// (Z3 = 2 Y Z = 0); P-256 has no point of order 2, so Y = 0 never occurs otherwise.
    pub(crate) fn double(&self) -> Jacobian {
        let delta = self.z.square();
        let gamma = self.y.square();
        let beta = self.x.mul(&gamma);
        // alpha = 3 (X - delta)(X + delta) = 3 X^2 + a Z^4 with a = -3
        let alpha = self
            .x
            .add_lazy(&delta)
            .mul(&self.x.sub(&delta))
            .mul_small(3);
        // X3 = alpha^2 - 8 beta
        let x3 = alpha.square().sub_mul_small(&beta, 8);
        // Z3 = 2 Y Z
        let z3 = self.y.add_lazy(&self.y).mul(&self.z);
        // Y3 = alpha (4 beta - X3) - 8 gamma^2
        let y3 = alpha
            .mul(&beta.mul_small_sub(4, &x3))
            .sub_mul_small(&gamma.square(), 8);
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

    /// The end of an addition from U1 = X1 Z2^2, S1 = Y1 Z2^3, H = U2 - U1 != 0, R = S2 - S1 and
    /// Z1 Z2: X3 = R^2 - H^3 - 2 U1 H^2, Y3 = R (U1 H^2 - X3) - S1 H^3, Z3 = Z1 Z2 H
    /// (add-1998-cmo-2; HMV Algorithm 3.22's formulas in general form).
    fn finish_addition(u1: &Fe, s1: &Fe, h: &Fe, r: &Fe, z1z2: &Fe) -> Jacobian {
        let hh = h.square();
        let hhh = h.mul(&hh);
        let v = u1.mul(&hh);
        let x3 = r.square().sub(&hhh).sub_mul_small(&v, 2);
        let y3 = r.mul(&v.sub(&x3)).sub(&s1.mul(&hhh));
        let z3 = z1z2.mul(h);
        Jacobian {
            x: x3,
            y: y3,
            z: z3,
        }
    }

    /// P + Q for an affine Q (Z2 = 1): 8M + 3S.
    pub(crate) fn add_affine(&self, q: &Affine) -> Jacobian {
        if self.is_infinity() {
            return q.into();
        }
        let z1z1 = self.z.square();
        let u2 = q.x.mul(&z1z1);
        let s2 = q.y.mul(&self.z.mul(&z1z1));
        let h = u2.sub(&self.x);
        let r = s2.sub(&self.y);
        if h.is_zero() {
            reached!(b => if r.is_zero() { b.affine_doubling += 1 } else { b.affine_opposite += 1 });
            return self.exceptional(&r);
        }
        Jacobian::finish_addition(&self.x, &self.y, &h, &r, &self.z)
    }

    /// P + Q for a cached Q (Z2^2 and Z2^3 precomputed): 11M + 3S.
    pub(crate) fn add_cached(&self, q: &Cached) -> Jacobian {
        if self.is_infinity() {
            return q.point;
        }
        let z1z1 = self.z.square();
        let u1 = self.x.mul(&q.zz);
        let u2 = q.point.x.mul(&z1z1);
        let s1 = self.y.mul(&q.zzz);
        let s2 = q.point.y.mul(&self.z.mul(&z1z1));
        let h = u2.sub(&u1);
        let r = s2.sub(&s1);
        if h.is_zero() {
            reached!(b => if r.is_zero() { b.cached_doubling += 1 } else { b.cached_opposite += 1 });
            return self.exceptional(&r);
        }
        Jacobian::finish_addition(&u1, &s1, &h, &r, &self.z.mul(&q.point.z))
    }
}

/// Affine forms of points none of which is at infinity, with one field inversion (Montgomery's trick:
/// invert the product of the Z's, then peel off each 1/Z with two multiplications): the table of a
/// prepared key, and the test that recomputes the table of multiples of G.
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
