//! JOSE (RFC 7515-7519, RFC 9449): the strict building blocks shared by access tokens and DPoP proofs
//! (unpadded base64url, JSON without duplicate members, compact JWS), and what is built on them: the
//! signing keys an issuer publishes (`jwks`), access tokens (`token`), DPoP proofs (`dpop`) and server
//! nonces (`nonce`).

mod b64;
pub mod dpop;
pub mod json;
pub mod jwa;
pub mod jwks;
pub mod jws;
pub(crate) mod nonce;
pub mod token;

pub use b64::{b64_decode, b64_decode_padded, b64_encode};
