//! Fixed-base combs (Lim and Lee; Hankerson, Menezes, Vanstone, "Guide to Elliptic Curve Cryptography",
//! Algorithm 3.45 with two tables) for a prepared key and for G: u1 G + u2 Q in 26 doublings, shared
//! by both scalars, instead of 256.
//!
//! A scalar's 260 bits (256 and four zeros) are read as a 10 x 26 grid: bit (t TABLES + s) SPACING + j
//! is the bit of row t TABLES + s and column j. Table s holds, for each non-zero 5-bit index b, the sum
//! of 2^((t TABLES + s) SPACING) P over the bits t of b. Column j of the scalar picks one entry per table,
//! and the chain runs over the columns from the top: double, then add the picked entries.

use super::point::{to_affine_batch, Affine, Cached, Jacobian};
use super::scalar::U256;

/// Rows per table (bits of an index).
const TEETH: usize = 5;
/// Tables per point.
const TABLES: usize = 2;
/// Columns, and doublings of the chain: TEETH TABLES SPACING >= 256.
const SPACING: usize = 26;
/// Entries per table: every non-zero index.
const ENTRIES: usize = (1 << TEETH) - 1;
const BASES: usize = TEETH * TABLES;
const POINTS: usize = TABLES * ENTRIES;

/// The comb tables of one point, in affine form: 62 points, 8.9 KiB.
#[derive(Clone, Debug)]
pub(crate) struct Comb {
    points: [Affine; POINTS],
}

impl Comb {
    /// P's tables: 234 doublings, 52 additions and one field inversion, about one verification's work.
    /// No addition meets an exceptional case: every entry is k P with a distinct 0 < k < 2^235 < n.
    pub(crate) fn new(p: &Affine) -> Box<Comb> {
        // bases[r] = 2^(r SPACING) P, the point of row r.
        let mut bases = [Jacobian::from(p); BASES];
        for r in 1..BASES {
            bases[r] = (0..SPACING).fold(bases[r - 1], |b, _| b.double());
        }
        let cached = bases.map(|b| Cached::new(&b));
        let mut points = [Jacobian::INFINITY; POINTS];
        for s in 0..TABLES {
            for index in 1..=ENTRIES {
                // The index's highest tooth, added to the entry of the index without it.
                let top = (usize::BITS - 1 - index.leading_zeros()) as usize;
                let rest = index & !(1 << top);
                let row = top * TABLES + s;
                points[s * ENTRIES + index - 1] = match rest {
                    0 => bases[row],
                    _ => points[s * ENTRIES + rest - 1].add_cached(&cached[row]),
                };
            }
        }
        Box::new(Comb {
            points: to_affine_batch(&points),
        })
    }

    /// The entry of table s for a non-zero index; None for index 0.
    fn entry(&self, s: usize, index: u8) -> Option<&Affine> {
        let index = usize::from(index).checked_sub(1)?;
        self.points.get(s * ENTRIES + index)
    }
}

/// The comb's indexes of k < 2^256: indexes[s][j] has bit t = bit (t TABLES + s) SPACING + j of k.
fn indexes(k: &U256) -> [[u8; SPACING]; TABLES] {
    let bit = |position: usize| -> u8 {
        k.get(position / 64)
            .map_or(0, |limb| ((limb >> (position % 64)) & 1) as u8)
    };
    let mut out = [[0u8; SPACING]; TABLES];
    for (s, row) in out.iter_mut().enumerate() {
        for (j, index) in row.iter_mut().enumerate() {
            *index = (0..TEETH).fold(0, |acc, t| acc | bit((t * TABLES + s) * SPACING + j) << t);
        }
    }
    out
}

/// u1 G + u2 Q from G's combs and Q's: per column, a doubling, then G's entries, then Q's.
pub(crate) fn lincomb(u1: &U256, u2: &U256, g: &Comb, q: &Comb) -> Jacobian {
    let addends = [(g, indexes(u1)), (q, indexes(u2))];
    let mut acc = Jacobian::INFINITY;
    let mut started = false;
    for j in (0..SPACING).rev() {
        if started {
            reached!(b => b.infinity_doubled += u32::from(acc.is_infinity()));
            acc = acc.double();
        }
        for (point, (comb, indexes)) in addends.iter().enumerate() {
            for (s, row) in indexes.iter().enumerate() {
                if let Some(p) = comb.entry(s, row[j]) {
                    acc = add(&acc, p, point == 1);
                    started = true;
                }
            }
        }
    }
    acc
}

/// acc + P, P an entry of G's combs or (`of_q`) of Q's; the rare branches of Q's additions are counted
/// apart from G's, though both go through `add_affine`.
fn add(acc: &Jacobian, p: &Affine, of_q: bool) -> Jacobian {
    #[cfg(feature = "branch-counters")]
    let before = super::branches::current();
    let sum = acc.add_affine(p);
    reached!(b => if of_q {
        b.prepared_doubling += b.affine_doubling - before.affine_doubling;
        b.prepared_opposite += b.affine_opposite - before.affine_opposite;
        (b.affine_doubling, b.affine_opposite) = (before.affine_doubling, before.affine_opposite);
    });
    #[cfg(not(feature = "branch-counters"))]
    let _ = of_q;
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every entry is the multiple of P its index names: checked against a double-and-add of P.
    #[test]
    fn entries_are_their_multiples() {
        let g = super::super::G;
        let comb = Comb::new(&g);
        for s in 0..TABLES {
            for index in 1..=ENTRIES as u8 {
                // The entry's scalar as bits of a 260-bit number, then double-and-add from the top.
                let mut expected = Jacobian::INFINITY;
                for bit in (0..TEETH * TABLES * SPACING).rev() {
                    expected = expected.double();
                    let row = bit / SPACING;
                    let (t, row_s) = (row / TABLES, row % TABLES);
                    if bit % SPACING == 0 && row_s == s && index >> t & 1 == 1 {
                        expected = expected.add_affine(&g);
                    }
                }
                let got = comb.entry(s, index).expect("a non-zero index");
                let zz = expected.z.square();
                assert!(
                    got.x.mul(&zz).equals(&expected.x),
                    "x of table {s} entry {index}"
                );
                assert!(
                    got.y.mul(&zz).mul(&expected.z).equals(&expected.y),
                    "y of table {s} entry {index}"
                );
            }
        }
        assert!(comb.entry(0, 0).is_none());
    }

    #[test]
    fn indexes_hold_every_bit_once() {
        let k: U256 = [
            0x0123_4567_89ab_cdef,
            0xfedc_ba98_7654_3210,
            0x0f1e_2d3c_4b5a_6978,
            0x8796_a5b4_c3d2_e1f0,
        ];
        let grid = indexes(&k);
        let mut back = [0u64; 5];
        for (s, row) in grid.iter().enumerate() {
            for (j, &index) in row.iter().enumerate() {
                for t in 0..TEETH {
                    let position = (t * TABLES + s) * SPACING + j;
                    back[position / 64] |= u64::from(index >> t & 1) << (position % 64);
                }
            }
        }
        assert_eq!(back, [k[0], k[1], k[2], k[3], 0]);
    }
}
