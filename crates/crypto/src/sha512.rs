//! SHA-512 and SHA-384 (FIPS 180-4) with the 80 rounds written as sixteen in a loop of five, drop-ins for
//! `sha2::Sha512` and `sha2::Sha384` (the same `Digest`): `sha2` writes all 80 rounds out, 11 KB of wasm
//! for the hashes of RS384, RS512, PS384 and PS512 only, where this is a quarter of it (README "Size").
//! The rounds are [`crate::sha2_rounds`]'s, shared with SHA-256.

use core::marker::PhantomData;

use sha2::digest::block_buffer::Eager;
use sha2::digest::core_api::{
    AlgorithmName, Block, BlockSizeUser, Buffer, BufferKindUser, CoreWrapper, FixedOutputCore,
    OutputSizeUser, Reset, UpdateCore,
};
use sha2::digest::typenum::{U128, U48, U64};
use sha2::digest::{HashMarker, Output};

/// SHA-512 with the `Digest` API.
pub type Sha512 = CoreWrapper<Sha512Core<Full>>;
/// SHA-384 with the `Digest` API.
pub type Sha384 = CoreWrapper<Sha512Core<Truncated384>>;

/// What sets SHA-384 apart from SHA-512: its initial hash value, and the length of its digest (the
/// `OutputSizeUser` of its core).
pub trait Variant {
    /// The initial hash value (FIPS 180-4 sections 5.3.4 and 5.3.5).
    const H0: [u64; 8];
    const NAME: &'static str;
}

/// SHA-512.
#[derive(Clone)]
pub struct Full;

/// SHA-384.
#[derive(Clone)]
pub struct Truncated384;

impl Variant for Full {
    const H0: [u64; 8] = [
        0x6a09e667f3bcc908,
        0xbb67ae8584caa73b,
        0x3c6ef372fe94f82b,
        0xa54ff53a5f1d36f1,
        0x510e527fade682d1,
        0x9b05688c2b3e6c1f,
        0x1f83d9abfb41bd6b,
        0x5be0cd19137e2179,
    ];
    const NAME: &'static str = "Sha512";
}

impl Variant for Truncated384 {
    const H0: [u64; 8] = [
        0xcbbb9d5dc1059ed8,
        0x629a292a367cd507,
        0x9159015a3070dd17,
        0x152fecd8f70e5939,
        0x67332667ffc00b31,
        0x8eb44a8768581511,
        0xdb0c2e0d64f98fa7,
        0x47b5481dbefa4fa4,
    ];
    const NAME: &'static str = "Sha384";
}

/// The block-level state of [`Sha512`] and [`Sha384`]: the chaining value and the number of blocks
/// compressed.
pub struct Sha512Core<V> {
    state: [u64; 8],
    blocks: u128,
    variant: PhantomData<V>,
}

/// The round constants (FIPS 180-4 section 4.2.3).
const K: [u64; 80] = [
    0x428a2f98d728ae22,
    0x7137449123ef65cd,
    0xb5c0fbcfec4d3b2f,
    0xe9b5dba58189dbbc,
    0x3956c25bf348b538,
    0x59f111f1b605d019,
    0x923f82a4af194f9b,
    0xab1c5ed5da6d8118,
    0xd807aa98a3030242,
    0x12835b0145706fbe,
    0x243185be4ee4b28c,
    0x550c7dc3d5ffb4e2,
    0x72be5d74f27b896f,
    0x80deb1fe3b1696b1,
    0x9bdc06a725c71235,
    0xc19bf174cf692694,
    0xe49b69c19ef14ad2,
    0xefbe4786384f25e3,
    0x0fc19dc68b8cd5b5,
    0x240ca1cc77ac9c65,
    0x2de92c6f592b0275,
    0x4a7484aa6ea6e483,
    0x5cb0a9dcbd41fbd4,
    0x76f988da831153b5,
    0x983e5152ee66dfab,
    0xa831c66d2db43210,
    0xb00327c898fb213f,
    0xbf597fc7beef0ee4,
    0xc6e00bf33da88fc2,
    0xd5a79147930aa725,
    0x06ca6351e003826f,
    0x142929670a0e6e70,
    0x27b70a8546d22ffc,
    0x2e1b21385c26c926,
    0x4d2c6dfc5ac42aed,
    0x53380d139d95b3df,
    0x650a73548baf63de,
    0x766a0abb3c77b2a8,
    0x81c2c92e47edaee6,
    0x92722c851482353b,
    0xa2bfe8a14cf10364,
    0xa81a664bbc423001,
    0xc24b8b70d0f89791,
    0xc76c51a30654be30,
    0xd192e819d6ef5218,
    0xd69906245565a910,
    0xf40e35855771202a,
    0x106aa07032bbd1b8,
    0x19a4c116b8d2d0c8,
    0x1e376c085141ab53,
    0x2748774cdf8eeb99,
    0x34b0bcb5e19b48a8,
    0x391c0cb3c5c95a63,
    0x4ed8aa4ae3418acb,
    0x5b9cca4f7763e373,
    0x682e6ff3d6b2b8a3,
    0x748f82ee5defb2fc,
    0x78a5636f43172f60,
    0x84c87814a1f0ab72,
    0x8cc702081a6439ec,
    0x90befffa23631e28,
    0xa4506cebde82bde9,
    0xbef9a3f7b2c67915,
    0xc67178f2e372532b,
    0xca273eceea26619c,
    0xd186b8c721c0c207,
    0xeada7dd6cde0eb1e,
    0xf57d4f7fee6ed178,
    0x06f067aa72176fba,
    0x0a637dc5a2c898a6,
    0x113f9804bef90dae,
    0x1b710b35131c471b,
    0x28db77f523047d84,
    0x32caab7b40c72493,
    0x3c9ebe0a15c9bebc,
    0x431d67c49c100d4c,
    0x4cc5d4becb3e42b6,
    0x597f299cfc657e2a,
    0x5fcb6fab3ad6faec,
    0x6c44198c4a475817,
];

// Σ0, Σ1, σ0 and σ1 (FIPS 180-4 section 4.1.3).
sigmas!(u64, [28, 34, 39], [14, 18, 41], [1, 8, 7], [19, 61, 6]);

/// The compression of one block into `state` (FIPS 180-4 section 6.4.2).
fn compress(state: &mut [u64; 8], block: &[u8; 128]) {
    let mut w = [0u64; 16];
    for (word, bytes) in w.iter_mut().zip(block.chunks_exact(8)) {
        *word = u64::from_be_bytes(bytes.try_into().expect("eight octets"));
    }
    compress!(state, w, K);
}

impl<V: Variant> HashMarker for Sha512Core<V> {}

impl<V: Variant> BlockSizeUser for Sha512Core<V> {
    type BlockSize = U128;
}

impl<V: Variant> BufferKindUser for Sha512Core<V> {
    type BufferKind = Eager;
}

impl OutputSizeUser for Sha512Core<Full> {
    type OutputSize = U64;
}

impl OutputSizeUser for Sha512Core<Truncated384> {
    type OutputSize = U48;
}

impl<V: Variant> UpdateCore for Sha512Core<V> {
    fn update_blocks(&mut self, blocks: &[Block<Self>]) {
        self.blocks += blocks.len() as u128;
        for block in blocks {
            compress(&mut self.state, block.as_ref());
        }
    }
}

impl<V: Variant> FixedOutputCore for Sha512Core<V>
where
    Self: OutputSizeUser,
{
    fn finalize_fixed_core(&mut self, buffer: &mut Buffer<Self>, out: &mut Output<Self>) {
        // Section 5.1.2: a 1 bit, zeros, and the message length in bits as 128 bits.
        let bits = 8 * (128 * self.blocks + buffer.get_pos() as u128);
        let state = &mut self.state;
        buffer.len128_padding_be(bits, |block| compress(state, block.as_ref()));
        // Sections 6.4.2 and 6.5: the digest is the hash value's first octets.
        for (bytes, word) in out.chunks_mut(8).zip(self.state) {
            bytes.copy_from_slice(&word.to_be_bytes()[..bytes.len()]);
        }
    }
}

impl<V: Variant> Default for Sha512Core<V> {
    fn default() -> Self {
        Self {
            state: V::H0,
            blocks: 0,
            variant: PhantomData,
        }
    }
}

impl<V: Variant> Clone for Sha512Core<V> {
    fn clone(&self) -> Self {
        Self { ..*self }
    }
}

impl<V: Variant> Reset for Sha512Core<V> {
    fn reset(&mut self) {
        *self = Self::default();
    }
}

impl<V: Variant> AlgorithmName for Sha512Core<V> {
    fn write_alg_name(f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(V::NAME)
    }
}

impl<V: Variant> core::fmt::Debug for Sha512Core<V> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}Core {{ .. }}", V::NAME)
    }
}

#[cfg(test)]
mod tests {
    use super::{Sha384, Sha512};
    use crate::sha2_rounds::hex;
    use sha2::Digest;

    /// The FIPS 180-4 examples (NIST's "SHA512.pdf" and "SHA384.pdf", and the long-message vectors of
    /// its test suite).
    #[test]
    fn fips_examples() {
        let two_blocks: &[u8] = b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
        for (message, sha512, sha384) in [
            (
                &b""[..],
                "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
                "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b",
            ),
            (
                b"abc",
                "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
                "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
            ),
            (
                two_blocks,
                "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909",
                "09330c33f71147e83d192fc782cd1b4753111b173b3b05d22fa08086e3b0f712fcc7c71a557e2db966c3e9fa91746039",
            ),
        ] {
            assert_eq!(hex(&Sha512::digest(message)), sha512);
            assert_eq!(hex(&Sha384::digest(message)), sha384);
        }
        let (mut long512, mut long384) = (Sha512::new(), Sha384::new());
        for _ in 0..1000 {
            long512.update([b'a'; 1000]);
            long384.update([b'a'; 1000]);
        }
        assert_eq!(
            hex(&long512.finalize()),
            "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973ebde0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b"
        );
        assert_eq!(
            hex(&long384.finalize()),
            "9d0e1809716474cb086e834e310a4a1ced149e9c00f248527972cec5704c2a5b07b8b3dc38ecc4ebae97ddd87f3d8985"
        );
    }

    /// The same digests as `sha2`'s at every length from 0 to 300 octets (each padding case: the length
    /// field in the last block or in one of its own), fed whole and in uneven parts.
    #[test]
    fn same_as_sha2() {
        let message: Vec<u8> = (0..300u32).map(|i| (i * 131 + 7) as u8).collect();
        for len in 0..=message.len() {
            let m = &message[..len];
            assert_eq!(Sha512::digest(m)[..], sha2::Sha512::digest(m)[..], "{len}");
            assert_eq!(Sha384::digest(m)[..], sha2::Sha384::digest(m)[..], "{len}");
            let mut parts = Sha512::new();
            for chunk in m.chunks(37) {
                parts.update(chunk);
            }
            assert_eq!(parts.finalize()[..], sha2::Sha512::digest(m)[..], "{len}");
        }
    }
}
