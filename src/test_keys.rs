//! Fixed keys for the native tests (from tests/fixtures), with helpers to sign tokens.

use std::sync::OnceLock;

use jwt_compact::alg::Rsa;
use jwt_compact::Algorithm;
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};

use crate::jose::b64_encode;

/// `base` with the members of `changes` set, or removed where the change is `null`.
pub fn with(mut base: Value, changes: Value) -> Value {
    for (k, v) in changes.as_object().expect("changes are an object") {
        if v.is_null() {
            base.as_object_mut().expect("base is an object").remove(k);
        } else {
            base[k] = v.clone();
        }
    }
    base
}

pub struct TestRsaKey {
    pub private: RsaPrivateKey,
}

impl TestRsaKey {
    fn from_pem(pem: &str) -> Self {
        Self {
            private: RsaPrivateKey::from_pkcs8_pem(pem).expect("fixture key parses"),
        }
    }

    /// The public JWK, as an IdP would publish it.
    pub fn public_jwk(&self, kid: &str) -> Value {
        json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": kid,
            "n": b64_encode(&self.private.n().to_bytes_be()),
            "e": b64_encode(&self.private.e().to_bytes_be()),
        })
    }

    /// Signs any header and claims as RS256, whatever the header says.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64_encode(header.to_string().as_bytes()),
            b64_encode(claims.to_string().as_bytes())
        );
        let signature = Rsa::rs256().sign(&self.private, input.as_bytes());
        format!("{input}.{}", b64_encode(&signature_bytes(&signature)))
    }
}

fn signature_bytes(signature: &jwt_compact::alg::RsaSignature) -> Vec<u8> {
    use jwt_compact::AlgorithmSignature;
    signature.as_bytes().into_owned()
}

pub fn rsa_2048() -> &'static TestRsaKey {
    static KEY: OnceLock<TestRsaKey> = OnceLock::new();
    KEY.get_or_init(|| TestRsaKey::from_pem(include_str!("../tests/fixtures/rsa-2048-a.pem")))
}

pub fn rsa_2048_b() -> &'static TestRsaKey {
    static KEY: OnceLock<TestRsaKey> = OnceLock::new();
    KEY.get_or_init(|| TestRsaKey::from_pem(include_str!("../tests/fixtures/rsa-2048-b.pem")))
}

/// A DPoP client key and proofs made with it.
pub struct TestDpopKey {
    key: p256::ecdsa::SigningKey,
}

impl TestDpopKey {
    pub fn new(seed: u8) -> Self {
        Self {
            key: p256::ecdsa::SigningKey::from_slice(&[seed; 32]).expect("a valid scalar"),
        }
    }

    /// The RFC 7638 thumbprint of the public key.
    pub fn jkt(&self) -> String {
        let jwk = self.public_jwk();
        crate::jose::dpop::ec_thumbprint(jwk["x"].as_str().unwrap(), jwk["y"].as_str().unwrap())
    }

    pub fn public_jwk(&self) -> Value {
        let point = self.key.verifying_key().to_encoded_point(false);
        json!({"kty": "EC", "crv": "P-256", "x": b64_encode(point.x().unwrap()), "y": b64_encode(point.y().unwrap())})
    }

    /// A proof for `htm` and `htu` with the given claims merged over the defaults.
    pub fn proof(&self, htm: &str, htu: &str, token: &str, iat: u64, extra: Value) -> String {
        use p256::ecdsa::signature::Signer;
        let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.public_jwk()});
        let mut claims = json!({
            "jti": format!("jti-{iat}-{}", b64_encode(htu.as_bytes())),
            "htm": htm, "htu": htu, "iat": iat,
            "ath": crate::jose::dpop::access_token_hash(token),
        });
        for (k, v) in extra.as_object().unwrap() {
            claims[k] = v.clone();
        }
        let input = format!(
            "{}.{}",
            b64_encode(header.to_string().as_bytes()),
            b64_encode(claims.to_string().as_bytes())
        );
        let signature: p256::ecdsa::Signature = self.key.sign(input.as_bytes());
        format!("{input}.{}", b64_encode(&signature.to_bytes()))
    }
}
