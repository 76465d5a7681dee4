//! P-256: DPoP client keys and the proofs they make, ES256 signatures, P-256 JWKs, and the `p256`
//! crate's own verification as a reference.

use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use serde_json::{json, Value};

use super::{access_token_hash, b64_encode, compact_jws, ec_thumbprint, strip_leading_zeros};

/// n, the order of the P-256 group, big-endian.
pub const P256_N: [u8; 32] =
    hex32("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");

/// 64 hex digits (lower case) as 32 bytes, big-endian.
pub const fn hex32(hex: &str) -> [u8; 32] {
    let hex = hex.as_bytes();
    assert!(hex.len() == 64, "64 hex digits");
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 64 {
        let c = hex[i];
        let v = if c >= b'a' { c - b'a' + 10 } else { c - b'0' };
        out[i / 2] |= v << (4 * (1 - i % 2));
        i += 1;
    }
    out
}

/// A DPoP client key and proofs made with it.
pub struct TestDpopKey {
    pub key: SigningKey,
}

impl TestDpopKey {
    /// The key whose private scalar is 32 times `seed`.
    pub fn new(seed: u8) -> Self {
        Self::from_slice(&[seed; 32]).expect("a valid scalar")
    }

    /// The key with this private scalar (32 bytes, big-endian); `None` when it is not in [1, n - 1].
    pub fn from_slice(scalar: &[u8]) -> Option<Self> {
        SigningKey::from_slice(scalar).ok().map(|key| Self { key })
    }

    /// The RFC 7638 thumbprint of the public key.
    pub fn jkt(&self) -> String {
        let jwk = self.public_jwk();
        ec_thumbprint(jwk["x"].as_str().unwrap(), jwk["y"].as_str().unwrap())
    }

    pub fn public_jwk(&self) -> Value {
        let point = self.key.verifying_key().to_encoded_point(false);
        p256_jwk(point.x().unwrap(), point.y().unwrap())
    }

    /// A proof for `htm` and `htu` with the given claims merged over the defaults.
    pub fn proof(&self, htm: &str, htu: &str, token: &str, iat: u64, extra: Value) -> String {
        let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.public_jwk()});
        let mut claims = json!({
            "jti": format!("jti-{iat}-{}", b64_encode(htu.as_bytes())),
            "htm": htm, "htu": htu, "iat": iat,
            "ath": access_token_hash(token),
        });
        for (k, v) in extra.as_object().unwrap() {
            claims[k] = v.clone();
        }
        self.sign_compact(&header.to_string(), &claims.to_string())
    }

    /// Signs header and claims JSON text exactly as given as ES256.
    pub fn sign_compact(&self, header: &str, claims: &str) -> String {
        compact_jws(header, claims, |input| {
            es256_sign(&self.key, input).to_vec()
        })
    }
}

/// A P-256 public JWK (`kty`, `crv`, `x`, `y`) from its coordinates, as given.
pub fn p256_jwk(x: &[u8], y: &[u8]) -> Value {
    json!({"kty": "EC", "crv": "P-256", "x": b64_encode(x), "y": b64_encode(y)})
}

/// The ES256 signature `r || s` of `message`.
pub fn es256_sign(key: &SigningKey, message: &[u8]) -> [u8; 64] {
    let signature: Signature = key.sign(message);
    signature.to_bytes().into()
}

/// The `p256` crate's verification of `r || s`: the stock reference.
pub fn p256_crate_verify(key: &VerifyingKey, message: &[u8], signature: &[u8; 64]) -> bool {
    // from_slice refuses r or s outside [1, n - 1], as FIPS 186-5 section 6.4.2 step 2 does.
    Signature::from_slice(signature).is_ok_and(|sig| key.verify(message, &sig).is_ok())
}

/// A Wycheproof coordinate (big-endian, maybe with a sign octet or shorter than 32 bytes) as the 32
/// bytes a JWK carries (RFC 7518 section 6.2.1.2); `None` when it does not fit.
pub fn coordinate(bytes: &[u8]) -> Option<[u8; 32]> {
    let bytes = strip_leading_zeros(bytes);
    let mut out = [0u8; 32];
    out.get_mut(32usize.checked_sub(bytes.len())?..)?
        .copy_from_slice(bytes);
    Some(out)
}
