//! The rounds and the message schedule of SHA-256 and SHA-512 (FIPS 180-4 sections 6.2.2 and 6.4.2),
//! which differ only in the word, the rotations and the number of rounds: written once, for the
//! caller's word and the rotations of its Σ and σ functions (section 4.1).

/// Σ0 and Σ1 of a round, σ0 and σ1 of the schedule (section 4.1.2 or 4.1.3) on `$word`: each the XOR of
/// three rotations, σ's last a shift instead.
macro_rules! sigmas {
    ($word:ty, $big0:expr, $big1:expr, $small0:expr, $small1:expr) => {
        fn big_sigma0(x: $word) -> $word {
            let [r1, r2, r3] = $big0;
            x.rotate_right(r1) ^ x.rotate_right(r2) ^ x.rotate_right(r3)
        }

        fn big_sigma1(x: $word) -> $word {
            let [r1, r2, r3] = $big1;
            x.rotate_right(r1) ^ x.rotate_right(r2) ^ x.rotate_right(r3)
        }

        fn small_sigma0(x: $word) -> $word {
            let [r1, r2, s] = $small0;
            x.rotate_right(r1) ^ x.rotate_right(r2) ^ (x >> s)
        }

        fn small_sigma1(x: $word) -> $word {
            let [r1, r2, s] = $small1;
            x.rotate_right(r1) ^ x.rotate_right(r2) ^ (x >> s)
        }
    };
}

/// One round (step 3) with constant `$k` and schedule word `$w`, on the working variables as named
/// here: the caller rotates the names instead of the values, so `d` and `h` are the two that change.
macro_rules! round {
    ($k:expr, $w:expr, $a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident, $g:ident, $h:ident) => {
        let t1 = $h
            .wrapping_add(big_sigma1($e))
            .wrapping_add(($e & $f) ^ (!$e & $g))
            .wrapping_add($k)
            .wrapping_add($w);
        let t2 = big_sigma0($a).wrapping_add(($a & $b) ^ ($a & $c) ^ ($b & $c));
        $d = $d.wrapping_add(t1);
        $h = t1.wrapping_add(t2);
    };
}

/// Sixteen rounds, `k` their constants and `w` their schedule words.
macro_rules! sixteen_rounds {
    ($k:ident, $w:ident, $a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident, $g:ident, $h:ident) => {
        round!($k[0], $w[0], $a, $b, $c, $d, $e, $f, $g, $h);
        round!($k[1], $w[1], $h, $a, $b, $c, $d, $e, $f, $g);
        round!($k[2], $w[2], $g, $h, $a, $b, $c, $d, $e, $f);
        round!($k[3], $w[3], $f, $g, $h, $a, $b, $c, $d, $e);
        round!($k[4], $w[4], $e, $f, $g, $h, $a, $b, $c, $d);
        round!($k[5], $w[5], $d, $e, $f, $g, $h, $a, $b, $c);
        round!($k[6], $w[6], $c, $d, $e, $f, $g, $h, $a, $b);
        round!($k[7], $w[7], $b, $c, $d, $e, $f, $g, $h, $a);
        round!($k[8], $w[8], $a, $b, $c, $d, $e, $f, $g, $h);
        round!($k[9], $w[9], $h, $a, $b, $c, $d, $e, $f, $g);
        round!($k[10], $w[10], $g, $h, $a, $b, $c, $d, $e, $f);
        round!($k[11], $w[11], $f, $g, $h, $a, $b, $c, $d, $e);
        round!($k[12], $w[12], $e, $f, $g, $h, $a, $b, $c, $d);
        round!($k[13], $w[13], $d, $e, $f, $g, $h, $a, $b, $c);
        round!($k[14], $w[14], $c, $d, $e, $f, $g, $h, $a, $b);
        round!($k[15], $w[15], $b, $c, $d, $e, $f, $g, $h, $a);
    };
}

/// W_t = σ1(W_{t-2}) + W_{t-7} + σ0(W_{t-15}) + W_{t-16} for each `j` = t mod 16 (step 1).
macro_rules! schedule {
    ($w:ident, $($j:literal),*) => {$(
        let (w2, w15) = ($w[($j + 14) % 16], $w[($j + 1) % 16]);
        $w[$j] = $w[$j]
            .wrapping_add(small_sigma1(w2))
            .wrapping_add($w[($j + 9) % 16])
            .wrapping_add(small_sigma0(w15));
    )*};
}

/// The compression of one block (section 6.2.2 or 6.4.2) into `$state` from the block's sixteen words
/// `$w`, by passes of sixteen rounds over the constants `$k`. The schedule is kept as its last sixteen
/// words, `w[t mod 16]`: with sixteen rounds per pass every index is a constant, so the words stay in
/// locals rather than in memory.
macro_rules! compress {
    ($state:ident, $w:ident, $k:ident) => {
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = *$state;
        for (pass, k) in $k.chunks_exact(16).enumerate() {
            if pass > 0 {
                schedule!($w, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
            }
            sixteen_rounds!(k, $w, a, b, c, d, e, f, g, h);
        }
        for (s, v) in $state.iter_mut().zip([a, b, c, d, e, f, g, h]) {
            *s = s.wrapping_add(v);
        }
    };
}

/// Lowercase hex, for the tests' expected digests.
#[cfg(test)]
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
