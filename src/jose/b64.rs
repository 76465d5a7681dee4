//! base64 (RFC 4648): unpadded base64url (section 5), decoded strictly as JOSE requires (RFC 7515
//! section 2) and encoded; and padded base64 (section 4), for MCP's `=?base64?...?=` header values.
//! The gateway's own code rather than the `base64` crate's: on wasm32 the decoder takes sixteen
//! characters at a time with SIMD, in half the crate's instructions on a new token's three parts, and the
//! module is 2.3 KiB smaller without the crate (README "What each step bought").

/// The two characters after the 62 alphanumerics, whose values are 62 and 63.
#[derive(Clone, Copy)]
struct Alphabet {
    c62: u8,
    c63: u8,
}

/// RFC 4648 section 5.
const URL_SAFE: Alphabet = Alphabet {
    c62: b'-',
    c63: b'_',
};

/// RFC 4648 section 4.
const STANDARD: Alphabet = Alphabet {
    c62: b'+',
    c63: b'/',
};

impl Alphabet {
    /// A character's value, or `None` outside the alphabet ('=' included). On wasm32 `Lanes::offsets`
    /// gives the same sixteen at a time.
    #[cfg(not(target_arch = "wasm32"))]
    fn value(self, c: u8) -> Option<u8> {
        match c {
            b'A'..=b'Z' => Some(c - b'A'),
            b'a'..=b'z' => Some(c - b'a' + 26),
            b'0'..=b'9' => Some(c - b'0' + 52),
            _ if c == self.c62 => Some(62),
            _ if c == self.c63 => Some(63),
            _ => None,
        }
    }
}

/// Decodes unpadded base64url strictly: padding, characters outside the alphabet, an impossible length
/// and non-zero bits after the last octet (RFC 4648 section 3.5) fail.
pub fn b64_decode(input: &str) -> Option<Vec<u8>> {
    decode(input.as_bytes(), URL_SAFE)
}

/// Decodes padded base64 with the padding a canonical encoding has: a length that is a multiple of four,
/// with '=' only as the last one or two characters, as the last group needs.
pub fn b64_decode_padded(input: &str) -> Option<Vec<u8>> {
    let input = input.as_bytes();
    if !input.len().is_multiple_of(4) {
        return None;
    }
    // A whole length less two '=' leaves a group of two characters, less one a group of three: exactly
    // the groups that take them. Any other '=' is outside the alphabet.
    let unpadded = input
        .strip_suffix(b"==")
        .or_else(|| input.strip_suffix(b"="))
        .unwrap_or(input);
    decode(unpadded, STANDARD)
}

/// Encodes bytes as unpadded base64url: each three octets as four characters, a last one or two as two
/// or three. The gateway encodes only digests and nonces, a few dozen octets, so this loop is enough.
pub fn b64_encode(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity((4 * input.len()).div_ceil(3));
    for chunk in input.chunks(3) {
        let octet = |k: usize| u32::from(chunk.get(k).copied().unwrap_or(0));
        let bits = (octet(0) << 16) | (octet(1) << 8) | octet(2);
        for k in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(bits >> (18 - 6 * k) & 63) as usize]));
        }
    }
    out
}

/// Unpadded `input` in `alphabet`, by blocks of sixteen characters, twelve octets each; a last shorter
/// block is completed with 'A', whose value is zero.
fn decode(input: &[u8], alphabet: Alphabet) -> Option<Vec<u8>> {
    // Four characters are three octets; a last two or three, one or two; a last one is no octet whole.
    let length = match input.len() % 4 {
        0 => input.len() / 4 * 3,
        1 => return None,
        r => input.len() / 4 * 3 + r - 1,
    };
    let mut out = vec![0; input.len().div_ceil(16) * 12];
    decode_blocks(input, alphabet, &mut out)?;
    // Section 3.5: the bits of the last group past its last octet are zero in a canonical encoding. They
    // are in the octets after `length`, with the completion's, which are zero.
    if out[length..].iter().any(|&octet| octet != 0) {
        return None;
    }
    out.truncate(length);
    Some(out)
}

/// Each block of sixteen characters, the last one completed with 'A', into twelve octets of `out`
/// (twelve for each block); `None` at a character outside the alphabet.
#[cfg_attr(target_arch = "wasm32", target_feature(enable = "simd128"))]
fn decode_blocks(input: &[u8], alphabet: Alphabet, out: &mut [u8]) -> Option<()> {
    let lanes = Lanes::new(alphabet);
    let mut blocks = input.chunks_exact(16);
    let mut octets = out.chunks_exact_mut(12);
    for (block, twelve) in blocks.by_ref().zip(octets.by_ref()) {
        lanes.decode(block.try_into().ok()?, twelve.try_into().ok()?)?;
    }
    let rest = blocks.remainder();
    if !rest.is_empty() {
        let mut block = [b'A'; 16];
        block[..rest.len()].copy_from_slice(rest);
        lanes.decode(&block, octets.next()?.try_into().ok()?)?;
    }
    Some(())
}

#[cfg(target_arch = "wasm32")]
use core::arch::wasm32::v128;

/// Natively each group of a block goes alone.
#[cfg(not(target_arch = "wasm32"))]
struct Lanes(Alphabet);

#[cfg(not(target_arch = "wasm32"))]
impl Lanes {
    fn new(alphabet: Alphabet) -> Self {
        Lanes(alphabet)
    }

    /// Sixteen characters into twelve octets, four characters to three at a time.
    fn decode(&self, chars: &[u8; 16], octets: &mut [u8; 12]) -> Option<()> {
        for (group, out) in chars.chunks_exact(4).zip(octets.chunks_exact_mut(3)) {
            let mut bits = 0u32;
            for &c in group {
                bits = bits << 6 | u32::from(self.0.value(c)?);
            }
            out.copy_from_slice(&bits.to_be_bytes()[1..]);
        }
        Some(())
    }
}

/// The vectors of [`decode_blocks`]' steps.
#[cfg(target_arch = "wasm32")]
#[derive(Clone, Copy)]
struct Lanes {
    /// For 'A' to 'Z', 'a' to 'z' and '0' to '9': what takes the range's first character to -128, the
    /// range's length less 128, and what its characters add to become their values.
    ranges: [[v128; 3]; 3],
    /// The alphabet's last two characters, and what each adds to become 62 or 63.
    specials: [[v128; 2]; 2],
    /// 0x0FC0 in each 16-bit lane.
    pair_mask: v128,
    /// 4096 and 1 in the halves of each 32-bit lane.
    pair_weights: v128,
}

#[cfg(target_arch = "wasm32")]
impl Lanes {
    /// Hidden from the compiler, so that they reach V8 as values set before the loop: workerd's V8 builds
    /// a `v128.const` anew inside a loop at each iteration, three instructions each (as RSA's `Split`
    /// in crates/crypto/src/rsa/fma.rs says).
    #[target_feature(enable = "simd128")]
    fn new(Alphabet { c62, c63 }: Alphabet) -> Self {
        use core::arch::wasm32::{i16x8_splat, i32x4_splat, u8x16_splat};
        let range = |first: u8, length: u8, value: u8| {
            [
                u8x16_splat(128u8.wrapping_sub(first)),
                u8x16_splat(length.wrapping_sub(128)),
                u8x16_splat(value.wrapping_sub(first)),
            ]
        };
        let special = |c: u8, value: u8| [u8x16_splat(c), u8x16_splat(value.wrapping_sub(c))];
        core::hint::black_box(Lanes {
            ranges: [range(b'A', 26, 0), range(b'a', 26, 26), range(b'0', 10, 52)],
            specials: [special(c62, 62), special(c63, 63)],
            pair_mask: i16x8_splat(0x0FC0),
            pair_weights: i32x4_splat(0x0001_1000),
        })
    }

    /// Sixteen characters into twelve octets; `None` if one is outside the alphabet.
    #[target_feature(enable = "simd128")]
    fn decode(&self, chars: &[u8; 16], octets: &mut [u8; 12]) -> Option<()> {
        use core::arch::wasm32::{
            i16x8_shl, i32x4_dot_i16x8, i8x16_add, i8x16_all_true, i8x16_shuffle, u16x8_shr,
            v128_and, v128_load, v128_or, v128_store32_lane, v128_store64_lane,
        };
        // SAFETY: sixteen octets.
        let chars = unsafe { v128_load(chars.as_ptr().cast()) };
        let offsets = self.offsets(chars);
        // Every character in the alphabet has a non-zero offset (see `Lanes::offsets`).
        if !i8x16_all_true(offsets) {
            return None;
        }
        let sextets = i8x16_add(chars, offsets);
        // Each pair of characters a, b (a 16-bit lane a + 256 b) as a 12-bit a 64 + b...
        let pairs = v128_or(
            v128_and(i16x8_shl(sextets, 6), self.pair_mask),
            u16x8_shr(sextets, 8),
        );
        // ...each pair of pairs as 24 bits, ab 4096 + cd, in a 32-bit lane...
        let groups = i32x4_dot_i16x8(pairs, self.pair_weights);
        // ...whose three low octets are the group's, last first.
        let bytes =
            i8x16_shuffle::<2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, 3, 7, 11, 15>(groups, groups);
        // SAFETY: twelve octets, the eight and the four stored.
        unsafe {
            v128_store64_lane::<0>(bytes, octets.as_mut_ptr().cast());
            v128_store32_lane::<2>(bytes, octets.as_mut_ptr().add(8).cast());
        }
        Some(())
    }

    /// What each character adds to become its value, lane by lane: -65 for 'A' to 'Z', -71 for 'a' to
    /// 'z', 4 for '0' to '9', and 62 or 63 less the alphabet's last two characters. None of these is zero
    /// (modulo 256), and a character outside the alphabet gets zero.
    #[target_feature(enable = "simd128")]
    fn offsets(&self, chars: v128) -> v128 {
        use core::arch::wasm32::v128_or;
        let [upper, lower, digit] = self.ranges;
        let [c62, c63] = self.specials;
        v128_or(
            v128_or(
                v128_or(range_offset(chars, upper), range_offset(chars, lower)),
                v128_or(range_offset(chars, digit), char_offset(chars, c62)),
            ),
            char_offset(chars, c63),
        )
    }
}

/// The offset `add` where a character is in the range, as [`Lanes::ranges`] gives it: c - first <
/// length, unsigned, as a signed comparison, c + 128 - first (mod 256) < length - 128.
#[cfg(target_arch = "wasm32")]
#[target_feature(enable = "simd128")]
fn range_offset(chars: v128, [start, limit, add]: [v128; 3]) -> v128 {
    use core::arch::wasm32::{i8x16_add, i8x16_lt, v128_and};
    v128_and(i8x16_lt(i8x16_add(chars, start), limit), add)
}

/// The offset `add` where a character is `c`.
#[cfg(target_arch = "wasm32")]
#[target_feature(enable = "simd128")]
fn char_offset(chars: v128, [c, add]: [v128; 2]) -> v128 {
    use core::arch::wasm32::{i8x16_eq, v128_and};
    v128_and(i8x16_eq(chars, c), add)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_is_strict() {
        assert_eq!(b64_decode("aGk").unwrap(), b"hi");
        assert!(b64_decode("aGk=").is_none(), "padding");
        assert!(b64_decode("aG+k").is_none(), "standard alphabet");
        assert!(b64_decode("aG k").is_none(), "space");
        assert!(b64_decode("aGl").is_none(), "non-zero trailing bits");
        assert!(b64_decode("a").is_none(), "impossible length");
        assert_eq!(b64_encode(b"hi"), "aGk");
    }

    #[test]
    fn decoders_are_the_crates() {
        crate::test_keys::base64_cases::assert_decoders_agree(&b64_decode, &b64_decode_padded);
    }

    /// The encoder against the crate's, at every length from 0 to 70 and on every octet value in each
    /// position of a group.
    #[test]
    fn encoder_is_the_crates() {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;
        let input: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
        for start in 0..3 {
            for len in 0..=70.min(input.len() - start) {
                let bytes = &input[start..start + len];
                assert_eq!(
                    b64_encode(bytes),
                    URL_SAFE_NO_PAD.encode(bytes),
                    "{bytes:?}"
                );
            }
        }
        for start in 0..input.len() - 3 {
            let bytes = &input[start..];
            assert_eq!(b64_encode(bytes), URL_SAFE_NO_PAD.encode(bytes));
        }
    }
}
