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

/// Encodes bytes as unpadded base64url.
pub fn b64_encode(input: &[u8]) -> String {
    BASE64URL.encode(input)
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
}
