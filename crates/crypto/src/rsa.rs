//! A verification-only fast path for the RSA JWS algorithms of RFC 7518: RS256, RS384 and RS512
//! (RSASSA-PKCS1-v1_5, RFC 8017 section 8.2.2) and PS256, PS384 and PS512 (RSASSA-PSS, section 8.1.2,
//! with MGF1 over the message hash and a salt as long as the hash, RFC 7518 section 3.5), with the
//! public exponent 65537, on fixed-width Montgomery arithmetic.
//!
//! The `rsa` crate's general big-number code (num-bigint-dig) spends most of an RS256 verification on
//! wasm32 in allocation and generic reduction. Here every key gets its Montgomery constants once, in
//! [`RsaVerifier::new`], and a verification is 18 Montgomery multiplications on the stack followed by one
//! exact comparison with the expected encoded block (PKCS#1 v1.5) or the EMSA-PSS-VERIFY checks on a
//! stack buffer (PSS: a few more hash blocks for MGF1, no allocation). RS256 on [`fma`] takes 17 and a
//! product of five rows instead: s^65537 and the expected block are compared modulo n, each times a
//! constant of the key (`FmaVerifier::verify_pkcs1v15_sha256`).
//!
//! Two arithmetics compute RSAVP1: [`integer`], 28-bit limbs and SIMD integer products by product
//! scanning, and [`fma`], 52-bit limbs in `f64` with products split exactly by fused multiply-add (wasm's
//! relaxed SIMD) by operand scanning, a third of the products and faster in workerd (README "What each
//! step bought"). A key uses `fma` where the machine fuses multiply-add (checked once per key) and
//! `integer` elsewhere; the tests run both ([`RsaVerifier::arithmetics`]).
//!
//! Everything here is public (the key, the signature, the message), so nothing needs to be constant-time.

use sha2::Digest;

use crate::sha256::Sha256;
use crate::sha512::{Sha384, Sha512};

mod fma;
mod integer;
mod limbs;

const MIN_BITS: usize = 2048;
const MAX_BITS: usize = 4096;
/// Octets in the largest modulus.
const MAX_LEN: usize = MAX_BITS / 8;

/// The largest hash output, SHA-512's.
const MAX_HASH_LEN: usize = 64;

/// The hash of a JWS RSA algorithm: SHA-256 for RS256 and PS256, SHA-384 for RS384 and PS384, SHA-512
/// for RS512 and PS512 (RFC 7518 sections 3.3 and 3.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    /// hLen, the output length in octets.
    pub const fn output_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// The DER encoding of the DigestInfo up to the digest itself (RFC 8017 section 9.2, note 1).
    const fn digest_info(self) -> &'static [u8; 19] {
        match self {
            Self::Sha256 => &[
                0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x01, 0x05, 0x00, 0x04, 0x20,
            ],
            Self::Sha384 => &[
                0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x02, 0x05, 0x00, 0x04, 0x30,
            ],
            Self::Sha512 => &[
                0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x03, 0x05, 0x00, 0x04, 0x40,
            ],
        }
    }

    /// EMSA-PKCS1-v1_5-ENCODE (RFC 8017 section 9.2) of `digest` into all of `em` (k octets, k >= 256):
    /// EM' = 0x00 || 0x01 || PS || 0x00 || T, T = DigestInfo || H, PS = k - 3 - tLen octets 0xff (tLen
    /// <= 83, so PS is well over the required 8 octets).
    fn encode_pkcs1v15(self, digest: &[u8], em: &mut [u8]) {
        let digest_info = self.digest_info();
        let (prefix, t) = em.split_at_mut(em.len() - digest_info.len() - digest.len());
        let (info, h) = t.split_at_mut(digest_info.len());
        prefix.fill(0xff);
        prefix[0] = 0x00;
        prefix[1] = 0x01;
        prefix[prefix.len() - 1] = 0x00;
        info.copy_from_slice(digest_info);
        h.copy_from_slice(digest);
    }

    /// The hash of the concatenation of `parts`, written to `out[..hLen]`; returns that slice.
    fn digest<'a>(self, parts: &[&[u8]], out: &'a mut [u8; MAX_HASH_LEN]) -> &'a [u8] {
        let out = &mut out[..self.output_len()];
        match self {
            Self::Sha256 => digest_out_of_line::<Sha256>(parts, out),
            Self::Sha384 => digest_out_of_line::<Sha384>(parts, out),
            Self::Sha512 => digest_out_of_line::<Sha512>(parts, out),
        }
        out
    }
}

/// One hash's code in a function of its own: V8 compiles a wasm function whole on its first call, and a
/// Worker that only sees RS256 need not compile SHA-384's and SHA-512's. The name matches the gateway's
/// wasm-opt pattern (`--no-inline=*out_of_line*`), which keeps a function with one caller out of line.
#[inline(never)]
fn digest_out_of_line<D: Digest>(parts: &[&[u8]], out: &mut [u8]) {
    let mut hasher = D::new();
    for part in parts {
        hasher.update(part);
    }
    out.copy_from_slice(&hasher.finalize());
}

/// Precomputed verifier for one RSA public key with e = 65537.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RsaVerifier {
    arithmetic: Arithmetic,
    /// k, the length of n in octets (RFC 8017 section 8.2.2).
    len: usize,
    /// modBits, the length of n in bits (RFC 8017 section 8.1.2).
    bits: usize,
}

/// The arithmetic that computes RSAVP1 for a key, with its constants.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Arithmetic {
    Fused(fma::FmaVerifier),
    Integer(integer::IntegerVerifier),
}

// A signature's required length is not a collection length: there is no `is_empty` to go with `len`.
#[allow(clippy::len_without_is_empty)]
impl RsaVerifier {
    /// `modulus` big-endian without leading zeros (leading zero octets are ignored); None unless
    /// 2048 <= bits <= 4096 and n is odd.
    pub fn new(modulus: &[u8]) -> Option<Self> {
        let first = modulus.iter().position(|&b| b != 0)?;
        let modulus = &modulus[first..];
        let bits = modulus.len() * 8 - modulus[0].leading_zeros() as usize;
        if !(MIN_BITS..=MAX_BITS).contains(&bits) || modulus[modulus.len() - 1] & 1 == 0 {
            return None;
        }
        let arithmetic = if fma::fused() {
            let mut template = [0u8; MAX_LEN];
            let template = &mut template[..modulus.len()];
            Hash::Sha256.encode_pkcs1v15(&[0; 32], template);
            Arithmetic::Fused(fma::FmaVerifier::new(modulus, bits, template))
        } else {
            Arithmetic::Integer(integer::IntegerVerifier::new_out_of_line(modulus, bits))
        };
        Some(Self {
            arithmetic,
            len: modulus.len(),
            bits,
        })
    }

    /// This key on each arithmetic this machine runs: the fused multiply-add one where it has it, then
    /// the 28-bit integer one, as a machine without fused multiply-add verifies. The tests check every
    /// one.
    pub fn arithmetics(&self) -> Vec<Self> {
        let Arithmetic::Fused(fused) = &self.arithmetic else {
            return vec![self.clone()];
        };
        let mut modulus = [0u8; MAX_LEN];
        let modulus = &mut modulus[..self.len];
        fused.modulus(modulus);
        let integer = Self {
            arithmetic: Arithmetic::Integer(integer::IntegerVerifier::new_out_of_line(
                modulus, self.bits,
            )),
            ..self.clone()
        };
        vec![self.clone(), integer]
    }

    /// Whether verifications run on the fused multiply-add arithmetic.
    pub fn uses_fma(&self) -> bool {
        matches!(self.arithmetic, Arithmetic::Fused(_))
    }

    /// Byte length of the modulus (a signature must have exactly this length).
    pub fn len(&self) -> usize {
        self.len
    }

    /// RS256: [`Self::verify_pkcs1v15`] with SHA-256.
    pub fn verify_pkcs1v15_sha256(&self, message: &[u8], signature: &[u8]) -> bool {
        self.verify_pkcs1v15(Hash::Sha256, message, signature)
    }

    /// RSASSA-PKCS1-v1_5 verification of `message` (RFC 8017 section 8.2.2; RS256, RS384, RS512):
    /// signature length == k, s < n, m = s^65537 mod n, compared with EMSA-PKCS1-v1_5-ENCODE(H(message))
    /// (0x00 0x01 FF..FF 0x00, the DigestInfo with the hash's OID, the digest), the whole encoded block
    /// compared exactly (no parsing of the decrypted block, so no Bleichenbacher-style signature forgery).
    pub fn verify_pkcs1v15(&self, hash: Hash, message: &[u8], signature: &[u8]) -> bool {
        let k = self.len;
        // Step 1: the signature is exactly k octets.
        if signature.len() != k {
            return false;
        }
        let mut digest = [0u8; MAX_HASH_LEN];
        let digest = hash.digest(&[message], &mut digest);
        if let (Arithmetic::Fused(fused), Hash::Sha256) = (&self.arithmetic, hash) {
            // Steps 2 to 4 compared modulo n, each side times a constant (see the method).
            return digest
                .try_into()
                .is_ok_and(|digest| fused.verify_pkcs1v15_sha256(signature, digest));
        }
        // Step 2: s = OS2IP(S), m = RSAVP1((n, e), s), EM = I2OSP(m, k).
        let mut m = [0u8; MAX_LEN];
        if !self.rsavp1(signature, &mut m[..k]) {
            return false;
        }
        // Step 3: EM' = EMSA-PKCS1-v1_5-ENCODE(M, k).
        let mut em = [0u8; MAX_LEN];
        hash.encode_pkcs1v15(digest, &mut em[..k]);
        // Step 4: EM must equal EM'.
        m[..k] == em[..k]
    }

    /// RSASSA-PSS verification of `message` (RFC 8017 section 8.1.2; PS256, PS384, PS512): MGF1 with the
    /// message hash, and the salt length fixed to the hash length (RFC 7518 section 3.5), so a signature
    /// made with any other salt length is refused.
    pub fn verify_pss(&self, hash: Hash, message: &[u8], signature: &[u8]) -> bool {
        let k = self.len;

        // Steps 1 and 2a-2b: length check, s = OS2IP(S), m = RSAVP1((n, e), s), as k octets.
        let mut em = [0u8; MAX_LEN];
        if !self.rsavp1(signature, &mut em[..k]) {
            return false;
        }

        // Step 2c: EM = I2OSP(m, emLen), emBits = modBits - 1, emLen = ceil(emBits / 8). m < n < 256^k;
        // when modBits = 1 mod 8, emLen = k - 1 and m must fit: the first of its k octets is zero.
        let em_bits = self.bits - 1;
        let em_len = em_bits.div_ceil(8);
        if em_len < k && em[0] != 0 {
            return false;
        }
        let em = &mut em[k - em_len..k];

        // Step 3: EMSA-PSS-VERIFY(M, EM, emBits) (section 9.1.2), sLen = hLen.
        let h_len = hash.output_len();
        let s_len = h_len;
        // 9.1.2 step 2: mHash = Hash(M).
        let mut m_hash = [0u8; MAX_HASH_LEN];
        let m_hash = hash.digest(&[message], &mut m_hash);
        // Step 3: emLen >= hLen + sLen + 2 (always, with emLen >= 255; checked all the same).
        if em_len < h_len + s_len + 2 {
            return false;
        }
        // Step 4: the rightmost octet is 0xbc.
        if em[em_len - 1] != 0xbc {
            return false;
        }
        // Step 5: maskedDB (emLen - hLen - 1 octets), then H (hLen octets).
        let (masked_db, rest) = em.split_at_mut(em_len - h_len - 1);
        let h = &rest[..h_len];
        // Step 6: the leftmost 8 emLen - emBits bits of maskedDB are zero.
        let top_mask = 0xffu8 >> (8 * em_len - em_bits);
        if masked_db[0] & !top_mask != 0 {
            return false;
        }
        // Steps 7 and 8: DB = maskedDB xor MGF1(H, emLen - hLen - 1) (section B.2.1: T = Hash(H || C) for
        // C = I2OSP(counter, 4), counter = 0, 1, ..., truncated to the mask length), in place.
        let mut block = [0u8; MAX_HASH_LEN];
        for (counter, chunk) in masked_db.chunks_mut(h_len).enumerate() {
            let c = (counter as u32).to_be_bytes();
            let mask = hash.digest(&[h, &c], &mut block);
            for (d, b) in chunk.iter_mut().zip(mask) {
                *d ^= b;
            }
        }
        let db = masked_db;
        // Step 9: clear the leftmost 8 emLen - emBits bits of DB.
        db[0] &= top_mask;
        // Step 10: DB = PS || 0x01 || salt, PS the emLen - hLen - sLen - 2 zero octets.
        let (ps, rest) = db.split_at(em_len - h_len - s_len - 2);
        if ps.iter().any(|&b| b != 0) || rest[0] != 0x01 {
            return false;
        }
        // Step 11: the salt is the last sLen octets of DB.
        let salt = &rest[1..];
        debug_assert_eq!(salt.len(), s_len);
        // Steps 12 to 14: H' = Hash(0x00 x 8 || mHash || salt) must equal H.
        let mut h2 = [0u8; MAX_HASH_LEN];
        hash.digest(&[&[0; 8], m_hash, salt], &mut h2) == h
    }

    /// RSAVP1 with its framing, common to both schemes (RFC 8017 sections 8.1.2 and 8.2.2, steps 1, 2a
    /// and 2b): the signature is exactly k octets, s = OS2IP(S) < n, and `out` (k octets) = I2OSP(m, k)
    /// for m = s^65537 mod n. False when the signature is refused.
    fn rsavp1(&self, signature: &[u8], out: &mut [u8]) -> bool {
        // Step 1: the signature is exactly k octets.
        if signature.len() != self.len {
            return false;
        }
        // Steps 2a and 2b.
        match &self.arithmetic {
            Arithmetic::Fused(fused) => fused.rsavp1(signature, out),
            Arithmetic::Integer(integer) => integer.rsavp1_out_of_line(signature, out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An odd modulus of `bits` bits (not a real key: only the arithmetic is exercised).
    pub(super) fn modulus(bits: usize) -> Vec<u8> {
        let mut n = vec![0xa5u8; bits.div_ceil(8)];
        n[0] = 1 << ((bits - 1) % 8);
        n[0] |= 0x01;
        let last = n.len() - 1;
        n[last] |= 1;
        n
    }

    #[test]
    fn key_sizes_and_parity() {
        assert!(RsaVerifier::new(&[]).is_none());
        assert!(RsaVerifier::new(&[0; 300]).is_none());
        assert!(RsaVerifier::new(&modulus(2047)).is_none());
        assert!(RsaVerifier::new(&modulus(4097)).is_none());
        for bits in [2048, 2049, 2050, 3072, 4095, 4096] {
            let v = RsaVerifier::new(&modulus(bits)).unwrap();
            assert_eq!(v.len(), bits.div_ceil(8), "{bits}");
        }
        let mut even = modulus(2048);
        *even.last_mut().unwrap() &= 0xfe;
        assert!(RsaVerifier::new(&even).is_none());
        // Leading zero octets do not count towards k.
        let mut padded = vec![0, 0];
        padded.extend(modulus(2048));
        assert_eq!(RsaVerifier::new(&padded).unwrap().len(), 256);
    }

    #[test]
    fn never_panics_on_odd_lengths() {
        let v = RsaVerifier::new(&modulus(2048)).unwrap();
        for len in [0, 1, 255, 256, 257, 512, 513] {
            for hash in [Hash::Sha256, Hash::Sha384, Hash::Sha512] {
                for fill in [0x00, 0x01, 0xbc, 0xff] {
                    assert!(!v.verify_pkcs1v15(hash, b"m", &vec![fill; len]));
                    assert!(!v.verify_pss(hash, b"m", &vec![fill; len]));
                }
            }
        }
    }

    #[test]
    fn digest_info_lengths() {
        for hash in [Hash::Sha256, Hash::Sha384, Hash::Sha512] {
            let info = hash.digest_info();
            // The outer SEQUENCE's length covers the rest; the OCTET STRING's length is hLen.
            assert_eq!(usize::from(info[1]), info.len() - 2 + hash.output_len());
            assert_eq!(usize::from(info[18]), hash.output_len());
            assert_eq!(
                hash.digest(&[b"a", b"bc"], &mut [0; MAX_HASH_LEN]).len(),
                hash.output_len()
            );
        }
    }
}
