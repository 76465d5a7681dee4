//! RSA: the fixture keys (tests/fixtures), RS256 signing through jwt-compact over the `rsa` crate, RSA
//! JWKs, and the `rsa` crate's own PKCS#1 v1.5 verification as a reference.

use std::sync::OnceLock;

use jwt_compact::alg::{Rsa, RsaSignature};
use jwt_compact::{Algorithm, AlgorithmSignature};
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{b64_encode, compact_jws, strip_leading_zeros, with};

/// An RSA private key with helpers to publish it and sign with it.
pub struct TestRsaKey {
    pub private: RsaPrivateKey,
}

impl TestRsaKey {
    pub fn from_pem(pem: &str) -> Self {
        Self {
            private: RsaPrivateKey::from_pkcs8_pem(pem).expect("fixture key parses"),
        }
    }

    /// The public JWK, as an IdP would publish it.
    pub fn public_jwk(&self, kid: &str) -> Value {
        let public = rsa_jwk(
            &self.private.n().to_bytes_be(),
            &self.private.e().to_bytes_be(),
        );
        with(public, json!({"use": "sig", "alg": "RS256", "kid": kid}))
    }

    /// Signs any header and claims as RS256, whatever the header says.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        self.sign_compact(&header.to_string(), &claims.to_string())
    }

    /// Signs header and payload JSON text exactly as given (which need not be JSON at all) as RS256.
    pub fn sign_compact(&self, header: &str, payload: &str) -> String {
        compact_jws(header, payload, |input| self.sign_bytes(input))
    }

    /// Signs header and claims with the JWA algorithm `alg` (RS256-512, PS256-512; PSS with the salt as
    /// long as the hash, RFC 7518 section 3.5), whatever the header says.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn sign_as(&self, alg: &str, header: &Value, claims: &Value) -> String {
        use rand_chacha::rand_core::SeedableRng;
        use rsa::Pss;
        use sha2::{Sha384, Sha512};
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        compact_jws(&header.to_string(), &claims.to_string(), |input| {
            let (digest, scheme): (Vec<u8>, Result<Pkcs1v15Sign, Pss>) = match alg {
                "RS256" => (
                    Sha256::digest(input).to_vec(),
                    Ok(Pkcs1v15Sign::new::<Sha256>()),
                ),
                "RS384" => (
                    Sha384::digest(input).to_vec(),
                    Ok(Pkcs1v15Sign::new::<Sha384>()),
                ),
                "RS512" => (
                    Sha512::digest(input).to_vec(),
                    Ok(Pkcs1v15Sign::new::<Sha512>()),
                ),
                "PS256" => (
                    Sha256::digest(input).to_vec(),
                    Err(Pss::new_with_salt::<Sha256>(32)),
                ),
                "PS384" => (
                    Sha384::digest(input).to_vec(),
                    Err(Pss::new_with_salt::<Sha384>(48)),
                ),
                "PS512" => (
                    Sha512::digest(input).to_vec(),
                    Err(Pss::new_with_salt::<Sha512>(64)),
                ),
                other => panic!("sign_as: unsupported algorithm {other}"),
            };
            match scheme {
                Ok(pkcs1) => self.private.sign(pkcs1, &digest),
                Err(pss) => self.private.sign_with_rng(&mut rng, pss, &digest),
            }
            .expect("the fixture key signs")
        })
    }

    /// The RS256 signature (PKCS#1 v1.5, SHA-256) of `message`.
    pub fn sign_bytes(&self, message: &[u8]) -> Vec<u8> {
        rs256_sign(&self.private, message)
    }
}

/// A JWKS document with one public key per kid, alternating the two fixture keys.
pub fn jwks_json(kids: &[&str]) -> Vec<u8> {
    let keys: Vec<Value> = kids
        .iter()
        .enumerate()
        .map(|(i, kid)| {
            let key = if i % 2 == 0 { rsa_2048() } else { rsa_2048_b() };
            key.public_jwk(kid)
        })
        .collect();
    json!({ "keys": keys }).to_string().into_bytes()
}

/// The test key `rsa-2048-a`.
pub fn rsa_2048() -> &'static TestRsaKey {
    static KEY: OnceLock<TestRsaKey> = OnceLock::new();
    KEY.get_or_init(|| TestRsaKey::from_pem(include_str!("../fixtures/rsa-2048-a.pem")))
}

/// The test key `rsa-2048-b`, another key of the same size.
pub fn rsa_2048_b() -> &'static TestRsaKey {
    static KEY: OnceLock<TestRsaKey> = OnceLock::new();
    KEY.get_or_init(|| TestRsaKey::from_pem(include_str!("../fixtures/rsa-2048-b.pem")))
}

/// The RS256 signature of `message` through jwt-compact; PKCS#1 v1.5 signing draws blinding randomness
/// from getrandom (its JS backend on wasm32), and the signature comes out the same every time.
pub fn rs256_sign(key: &RsaPrivateKey, message: &[u8]) -> Vec<u8> {
    let signature: RsaSignature = Rsa::rs256().sign(key, message);
    signature.as_bytes().into_owned()
}

/// A bare RSA public JWK (`kty`, `n`, `e`) for a big-endian modulus and exponent, without the leading
/// zero octets RFC 7518 section 6.3.1 forbids.
pub fn rsa_jwk(n: &[u8], e: &[u8]) -> Value {
    json!({
        "kty": "RSA",
        "n": b64_encode(strip_leading_zeros(n)),
        "e": b64_encode(strip_leading_zeros(e)),
    })
}

/// The `rsa` crate's PKCS#1 v1.5 / SHA-256 verification: the stock reference.
pub fn rsa_crate_verify(key: &RsaPublicKey, message: &[u8], signature: &[u8]) -> bool {
    key.verify(
        Pkcs1v15Sign::new::<Sha256>(),
        &Sha256::digest(message),
        signature,
    )
    .is_ok()
}

/// Integers next to a signature s that a verifier must refuse, each as k octets where it fits: s + 1,
/// s + n, 0, 1, n - 1, n, n + 1 (RFC 8017 section 5.2.2: a representative must be below n).
pub fn boundary_signatures(
    signature: &[u8],
    n: &BigUint,
    k: usize,
) -> Vec<(&'static str, Vec<u8>)> {
    let s = BigUint::from_bytes_be(signature);
    let one = BigUint::from(1u8);
    [
        ("s + 1", &s + &one),
        ("s + n", &s + n),
        ("s = 0", BigUint::from(0u8)),
        ("s = 1", one.clone()),
        ("s = n - 1", n - &one),
        ("s = n", n.clone()),
        ("s = n + 1", n + &one),
    ]
    .into_iter()
    .filter_map(|(case, x)| Some((case, i2osp(&x, k)?)))
    .collect()
}

/// I2OSP(x, k) (RFC 8017 section 4.1); `None` when x needs more than k octets.
pub fn i2osp(x: &BigUint, k: usize) -> Option<Vec<u8>> {
    let bytes = x.to_bytes_be();
    let pad = k.checked_sub(bytes.len())?;
    let mut out = vec![0u8; pad];
    out.extend(bytes);
    Some(out)
}
