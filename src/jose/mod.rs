//! JOSE (RFC 7515-7519, RFC 9449): the strict building blocks shared by access tokens and DPoP proofs
//! (unpadded base64url, JSON without duplicate members, compact JWS), and what is built on them: the
//! signing keys an issuer publishes (`jwks`), access tokens (`token`), DPoP proofs (`dpop`) and server
//! nonces (`nonce`).

pub mod dpop;
pub mod json;
pub mod jwa;
pub mod jwks;
pub mod jws;
pub(crate) mod nonce;
pub mod token;

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;

/// base64url without padding; padding, non-alphabet characters and non-zero trailing bits fail.
pub const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone),
);

/// Decodes unpadded base64url strictly.
pub fn b64_decode(input: &str) -> Option<Vec<u8>> {
    BASE64URL.decode(input).ok()
}

/// Encodes bytes as unpadded base64url (RFC 4648 section 5): each three octets as four characters, a
/// last one or two as two or three. The gateway encodes only digests and nonces, a few dozen octets, so
/// this loop is enough; the crate's encoder is 2 KB of wasm.
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

    /// The encoder against the crate's, at every length from 0 to 70 and on every octet value in each
    /// position of a group.
    #[test]
    fn encoder_is_the_crates() {
        let input: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
        for start in 0..3 {
            for len in 0..=70.min(input.len() - start) {
                let bytes = &input[start..start + len];
                assert_eq!(b64_encode(bytes), BASE64URL.encode(bytes), "{bytes:?}");
            }
        }
        for start in 0..input.len() - 3 {
            let bytes = &input[start..];
            assert_eq!(b64_encode(bytes), BASE64URL.encode(bytes));
        }
    }
}
