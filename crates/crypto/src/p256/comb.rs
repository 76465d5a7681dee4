//! Fixed-base combs (Lim and Lee; Hankerson, Menezes, Vanstone, "Guide to Elliptic Curve Cryptography",
//! Algorithm 3.45 with several tables) for a prepared key and for G: u1 G + u2 Q in 26 doublings, shared
//! by both scalars, instead of 256.
//!
//! A comb of TEETH rows per table and TABLES tables reads a scalar as a (TEETH TABLES) x SPACING grid:
//! bit (t TABLES + s) SPACING + j is the bit of row t TABLES + s and column j. Table s holds, for each
//! non-zero TEETH-bit index b, the sum of 2^((t TABLES + s) SPACING) P over the bits t of b. Column j of
//! the scalar picks one entry per table, and the chain runs over the columns from the top: double, then
//! add the picked entries. A key's comb (5 teeth, 2 tables, 26 columns: 260 bits) costs each
//! verification 52 additions; G's, made once per process, has 8 teeth (2 tables, 16 columns) and costs
//! 32, added in the chain's last 16 columns. More teeth for a key cost more than they save: with 6, a
//! verification took 5 µs less and a key's preparation 110 µs more (README "What each step bought").

use super::point::{to_affine_batch, Affine, Cached, Jacobian};
use super::scalar::U256;

/// The combs of one point: `TABLES` tables of `TEETH` rows over `SPACING` columns (`TEETH TABLES
/// SPACING >= 256`), `POINTS = TABLES (2^TEETH - 1)` entries in affine form.
#[derive(Clone, Debug)]
pub(crate) struct Comb<
    const TEETH: usize,
    const TABLES: usize,
    const SPACING: usize,
    const POINTS: usize,
> {
    points: [Affine; POINTS],
}

/// A prepared key's combs: 62 points, 8.9 KiB, made per key.
pub(crate) type KeyComb = Comb<5, 2, 26, 62>;
/// G's combs: 510 points, 72 KiB, made once per process; 32 additions per verification instead of a
/// key comb's 52, within the key comb's 26 doublings.
pub(crate) type GComb = Comb<8, 2, 16, 510>;

impl<const TEETH: usize, const TABLES: usize, const SPACING: usize, const POINTS: usize>
    Comb<TEETH, TABLES, SPACING, POINTS>
{
    const ENTRIES: usize = (1 << TEETH) - 1;
    /// Columns: the doublings of a chain over this comb alone.
    const COLUMNS: usize = SPACING;
    const SHAPE_HOLDS: () =
        assert!(TEETH <= 8 && TEETH * TABLES * SPACING >= 256 && POINTS == TABLES * Self::ENTRIES);

    /// P's tables: (TEETH TABLES - 1) SPACING doublings, about POINTS additions and one field
    /// inversion. No addition meets an exceptional case: every entry is k P with a distinct
    /// 0 < k < 2^(TEETH TABLES SPACING - SPACING + 1) < n.
    pub(crate) fn new(p: &Affine) -> Box<Self> {
        let () = Self::SHAPE_HOLDS;
        // bases[r] = 2^(r SPACING) P, the point of row r.
        let mut bases = vec![Jacobian::from(p); TEETH * TABLES];
        for r in 1..bases.len() {
            bases[r] = (0..SPACING).fold(bases[r - 1], |b, _| b.double());
        }
        let cached: Vec<Cached> = bases.iter().map(Cached::new).collect();
        let mut points = Box::new([Jacobian::INFINITY; POINTS]);
        for s in 0..TABLES {
            for index in 1..=Self::ENTRIES {
                // The index's highest tooth, added to the entry of the index without it.
                let top = (usize::BITS - 1 - index.leading_zeros()) as usize;
                let rest = index & !(1 << top);
                let row = top * TABLES + s;
                points[s * Self::ENTRIES + index - 1] = match rest {
                    0 => bases[row],
                    _ => points[s * Self::ENTRIES + rest - 1].add_cached(&cached[row]),
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
        self.points.get(s * Self::ENTRIES + index)
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
                *index =
                    (0..TEETH).fold(0, |acc, t| acc | bit((t * TABLES + s) * SPACING + j) << t);
            }
        }
        out
    }

    /// Adds the entries of column j (none past the comb's columns) to acc, and says whether it added any;
    /// `of_q` for the counters.
    fn add_column(
        &self,
        acc: &mut Jacobian,
        indexes: &[[u8; SPACING]; TABLES],
        j: usize,
        of_q: bool,
    ) -> bool {
        let mut added = false;
        for (s, row) in indexes.iter().enumerate() {
            if let Some(p) = row.get(j).and_then(|&index| self.entry(s, index)) {
                *acc = add(acc, p, of_q);
                added = true;
            }
        }
        added
    }
}

/// u1 G + u2 Q from G's combs and Q's: per column from the top, a doubling, then G's entries, then Q's.
/// G's combs have fewer columns than Q's; they join the chain for its last 16.
pub(crate) fn lincomb(u1: &U256, u2: &U256, g: &GComb, q: &KeyComb) -> Jacobian {
    let (g_indexes, q_indexes) = (GComb::indexes(u1), KeyComb::indexes(u2));
    let mut acc = Jacobian::INFINITY;
    let mut started = false;
    for j in (0..GComb::COLUMNS.max(KeyComb::COLUMNS)).rev() {
        if started {
            reached!(b => b.infinity_doubled += u32::from(acc.is_infinity()));
            acc = acc.double();
        }
        started |= g.add_column(&mut acc, &g_indexes, j, false);
        started |= q.add_column(&mut acc, &q_indexes, j, true);
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
    fn entries_are_their_multiples<
        const TEETH: usize,
        const TABLES: usize,
        const SPACING: usize,
        const POINTS: usize,
    >() {
        let g = super::super::G;
        let comb = Comb::<TEETH, TABLES, SPACING, POINTS>::new(&g);
        for s in 0..TABLES {
            for index in 1..=(1usize << TEETH) - 1 {
                // The entry's scalar as bits of a TEETH TABLES SPACING-bit number, then double-and-add
                // from the top.
                let mut expected = Jacobian::INFINITY;
                for bit in (0..TEETH * TABLES * SPACING).rev() {
                    expected = expected.double();
                    let row = bit / SPACING;
                    let (t, row_s) = (row / TABLES, row % TABLES);
                    if bit % SPACING == 0 && row_s == s && index >> t & 1 == 1 {
                        expected = expected.add_affine(&g);
                    }
                }
                let got = comb.entry(s, index as u8).expect("a non-zero index");
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
    fn key_comb_entries_are_their_multiples() {
        entries_are_their_multiples::<5, 2, 26, 62>();
    }

    #[test]
    fn g_comb_entries_are_their_multiples() {
        entries_are_their_multiples::<8, 2, 16, 510>();
    }

    fn indexes_hold_every_bit_once<
        const TEETH: usize,
        const TABLES: usize,
        const SPACING: usize,
        const POINTS: usize,
    >() {
        let k: U256 = [
            0x0123_4567_89ab_cdef,
            0xfedc_ba98_7654_3210,
            0x0f1e_2d3c_4b5a_6978,
            0x8796_a5b4_c3d2_e1f0,
        ];
        let grid = Comb::<TEETH, TABLES, SPACING, POINTS>::indexes(&k);
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

    #[test]
    fn key_comb_indexes_hold_every_bit_once() {
        indexes_hold_every_bit_once::<5, 2, 26, 62>();
    }

    #[test]
    fn g_comb_indexes_hold_every_bit_once() {
        indexes_hold_every_bit_once::<8, 2, 16, 510>();
    }
}
