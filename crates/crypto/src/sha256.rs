//! SHA-256 (FIPS 180-4) with its 64 rounds written as sixteen rounds in a loop of four, a drop-in for
//! `sha2::Sha256` (the same `Digest`, and `Hmac` over it).
//!
//! `sha2` writes all 64 rounds out: 7.9 KB of wasm, which V8 compiles whole with its baseline compiler,
//! Liftoff, on the first call of an isolate, about 59 KB of machine code. Its compact form (`sha2`'s
//! `force-soft-compact`) is a loop of single rounds that shuffles the eight working variables each time,
//! and costs a new RS256 token about 5 µs more (README "Size"). Sixteen rounds per pass keep the working
//! variables and the schedule's words in place, the shuffle being the order of the arguments, in a
//! quarter of the code (README "What each step bought"). The rounds are [`crate::sha2_rounds`]'s, shared
//! with SHA-512.

use sha2::digest::block_buffer::Eager;
use sha2::digest::core_api::{
    AlgorithmName, Block, BlockSizeUser, Buffer, BufferKindUser, CoreWrapper, FixedOutputCore,
    OutputSizeUser, Reset, UpdateCore,
};
use sha2::digest::typenum::{U32, U64};
use sha2::digest::{HashMarker, Output};

/// SHA-256 with the `Digest` API.
pub type Sha256 = CoreWrapper<Sha256Core>;

/// The block-level state of [`Sha256`]: the chaining value and the number of blocks compressed.
#[derive(Clone)]
pub struct Sha256Core {
    state: [u32; 8],
    blocks: u64,
}

/// The initial hash value (FIPS 180-4 section 5.3.3).
const H0: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// The round constants (FIPS 180-4 section 4.2.2).
const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

// Σ0, Σ1, σ0 and σ1 (FIPS 180-4 section 4.1.2).
sigmas!(u32, [2, 13, 22], [6, 11, 25], [7, 18, 3], [17, 19, 10]);

/// The compression of one block into `state` (FIPS 180-4 section 6.2.2).
pub(crate) fn compress(state: &mut [u32; 8], block: &[u8; 64]) {
    let mut w = [0u32; 16];
    for (word, bytes) in w.iter_mut().zip(block.chunks_exact(4)) {
        *word = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    }
    compress!(state, w, K);
}

impl HashMarker for Sha256Core {}

impl BlockSizeUser for Sha256Core {
    type BlockSize = U64;
}

impl BufferKindUser for Sha256Core {
    type BufferKind = Eager;
}

impl OutputSizeUser for Sha256Core {
    type OutputSize = U32;
}

impl UpdateCore for Sha256Core {
    fn update_blocks(&mut self, blocks: &[Block<Self>]) {
        self.blocks += blocks.len() as u64;
        for block in blocks {
            compress(&mut self.state, block.as_ref());
        }
    }
}

impl FixedOutputCore for Sha256Core {
    fn finalize_fixed_core(&mut self, buffer: &mut Buffer<Self>, out: &mut Output<Self>) {
        // Section 5.1.1: a 1 bit, zeros, and the message length in bits as 64 bits.
        let bits = 8 * (64 * self.blocks + buffer.get_pos() as u64);
        let state = &mut self.state;
        buffer.len64_padding_be(bits, |block| compress(state, block.as_ref()));
        for (bytes, word) in out.chunks_exact_mut(4).zip(self.state) {
            bytes.copy_from_slice(&word.to_be_bytes());
        }
    }
}

impl Default for Sha256Core {
    fn default() -> Self {
        Self {
            state: H0,
            blocks: 0,
        }
    }
}

impl Reset for Sha256Core {
    fn reset(&mut self) {
        *self = Self::default();
    }
}

impl AlgorithmName for Sha256Core {
    fn write_alg_name(f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Sha256")
    }
}

impl core::fmt::Debug for Sha256Core {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Sha256Core { .. }")
    }
}

#[cfg(test)]
mod tests {
    use super::Sha256;
    use crate::sha2_rounds::hex;
    use sha2::Digest;

    /// The FIPS 180-4 examples (NIST's "SHA256.pdf" and the long-message vector of its test suite).
    #[test]
    fn fips_examples() {
        for (message, digest) in [
            (
                &b""[..],
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
            (
                b"abc",
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
            (
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
            ),
            (
                b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
                "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
            ),
        ] {
            assert_eq!(hex(&Sha256::digest(message)), digest);
        }
        let mut million = Sha256::new();
        for _ in 0..1000 {
            million.update([b'a'; 1000]);
        }
        assert_eq!(
            hex(&million.finalize()),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        );
    }
}
