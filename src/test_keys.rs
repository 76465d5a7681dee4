//! Fixed keys for the native tests (from tests/fixtures), with helpers to sign tokens.

use std::sync::OnceLock;

use jwt_compact::alg::Rsa;
use jwt_compact::Algorithm;
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};

use crate::jose::b64_encode;

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
