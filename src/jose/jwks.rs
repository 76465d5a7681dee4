//! Signing keys: a JWKS (RFC 7517 section 5) parsed into ready-to-use RSA verification keys, keeping only
//! keys that are safe for RS256 access tokens (README "Features", Keys). Parsing happens once per fetch, never
//! per request.

use std::sync::Arc;

use serde_json::Value;

use super::jwa::{Algorithm, Algorithms};
use crate::crypto::rsa::RsaVerifier;
use crate::jose::b64_decode;
use crate::jose::json::parse_object;

/// Largest JWKS document accepted; Auth0's are a few KiB.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;
/// Most keys read from one JWKS; the rest are ignored.
pub const MAX_KEYS: usize = 64;
/// Smallest RSA modulus accepted (RFC 7518 section 3.3 requires 2048 bits).
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted; larger keys only make verification slower.
pub const MAX_RSA_BITS: usize = 4096;

/// An RSA public key from the JWKS, ready to verify RS256 signatures: the Montgomery constants of the
/// fast path are computed here, once per key, never per request.
#[derive(Debug)]
pub struct VerifyingKey {
    pub kid: String,
    /// The key's `alg`, when it names one: only tokens of that algorithm are verified with it.
    pub alg: Option<Algorithm>,
    /// The verification-only fast path used on requests.
    pub fast: RsaVerifier,
}

/// The usable keys of one JWKS, by `kid`.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: Vec<Arc<VerifyingKey>>,
}

impl KeySet {
    /// The key with this `kid`, if the JWKS had exactly one usable key with it.
    pub fn get(&self, kid: &str) -> Option<&Arc<VerifyingKey>> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The `kid`s of the usable keys.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.kid.as_str())
    }
}

/// Why a JWK is not used to verify access tokens (README "Features", Keys: RSA, at least 2048 bits, e = 65537, for signatures); the rest of the JWKS is still used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRefusal {
    NotObject,
    Kid,
    Kty,
    Use,
    Alg,
    KeyOps,
    Private,
    Modulus,
    Exponent,
    ExponentValue,
    TooShort,
    TooLong,
    /// An even modulus, which no RSA key has.
    Invalid,
}

impl KeyRefusal {
    /// What failed, for the error body, the challenge and the log; it never holds request bytes.
    pub fn description(self) -> &'static str {
        match self {
            Self::NotObject => "key is not a JSON object",
            Self::Kid => "kid is missing or not a non-empty string",
            Self::Kty => "kty is not RSA",
            Self::Use => "use is not sig",
            Self::Alg => "alg is not an RSA signature algorithm (RS256-512, PS256-512)",
            Self::KeyOps => "key_ops does not include verify",
            Self::Private => "key contains private members",
            Self::Modulus => "n is missing or not base64url",
            Self::Exponent => "e is missing or not base64url",
            Self::ExponentValue => "exponent is not 65537",
            Self::TooShort => "modulus is shorter than 2048 bits",
            Self::TooLong => "modulus is longer than 4096 bits",
            Self::Invalid => "RSA key is invalid",
        }
    }
}

impl std::fmt::Display for KeyRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.description())
    }
}

/// Why a JWKS document was refused as a whole; a refused document never replaces good keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwksError {
    TooLarge,
    NotJson,
    NoKeysArray,
    NoUsableKeys,
}

impl JwksError {
    pub fn description(self) -> &'static str {
        match self {
            Self::TooLarge => "JWKS document is too large",
            Self::NotJson => "JWKS document is not a JSON object",
            Self::NoKeysArray => "JWKS document has no \"keys\" array",
            Self::NoUsableKeys => "JWKS document has no usable RS256 key",
        }
    }
}

/// Parses a JWKS document and keeps the keys usable for RS256 access tokens. A document without a
/// single usable key is an error, so that garbage never replaces a good key set.
pub fn parse_jwks(bytes: &[u8], algorithms: Algorithms) -> Result<KeySet, JwksError> {
    if bytes.len() > MAX_JWKS_BYTES {
        return Err(JwksError::TooLarge);
    }
    let doc = parse_object(bytes).ok_or(JwksError::NotJson)?;
    let entries = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or(JwksError::NoKeysArray)?;
    let mut set = KeySet::default();
    // A key the policy refuses is left out; the others still serve (an IdP may publish encryption keys).
    set.keys.extend(
        entries
            .iter()
            .take(MAX_KEYS)
            .filter_map(|entry| parse_rsa_jwk(entry).ok())
            // A key for an algorithm not accepted could never verify a token: as good as absent.
            .filter(|key| key.alg.is_none_or(|alg| algorithms.contains(alg)))
            .map(Arc::new),
    );
    // A kid must name one key (RFC 7517 section 4.5); an ambiguous kid is refused entirely.
    let mut ambiguous: Vec<String> = Vec::new();
    for (i, key) in set.keys.iter().enumerate() {
        if set.keys[i + 1..].iter().any(|k| k.kid == key.kid) && !ambiguous.contains(&key.kid) {
            ambiguous.push(key.kid.clone());
        }
    }
    set.keys.retain(|k| !ambiguous.contains(&k.kid));
    if set.keys.is_empty() {
        return Err(JwksError::NoUsableKeys);
    }
    Ok(set)
}

/// Checks one JWK against the key policy and builds the RSA key (RFC 7517 section 4, RFC 7518 section 6.3).
pub fn parse_rsa_jwk(jwk: &Value) -> Result<VerifyingKey, KeyRefusal> {
    let jwk = jwk.as_object().ok_or(KeyRefusal::NotObject)?;
    let kid = match jwk.get("kid") {
        Some(Value::String(kid)) if !kid.is_empty() => kid.clone(),
        _ => return Err(KeyRefusal::Kid),
    };
    if jwk.get("kty").and_then(Value::as_str) != Some("RSA") {
        return Err(KeyRefusal::Kty);
    }
    match jwk.get("use") {
        None => {}
        Some(Value::String(u)) if u == "sig" => {}
        Some(_) => return Err(KeyRefusal::Use),
    }
    let alg = match jwk.get("alg") {
        None => None,
        Some(Value::String(a)) => Some(Algorithm::from_name(a).ok_or(KeyRefusal::Alg)?),
        Some(_) => return Err(KeyRefusal::Alg),
    };
    if let Some(ops) = jwk.get("key_ops") {
        let verifies = ops
            .as_array()
            .is_some_and(|ops| ops.iter().any(|op| op.as_str() == Some("verify")));
        if !verifies {
            return Err(KeyRefusal::KeyOps);
        }
    }
    if ["d", "p", "q", "dp", "dq", "qi", "oth"]
        .iter()
        .any(|m| jwk.contains_key(*m))
    {
        return Err(KeyRefusal::Private);
    }
    let n = jwk
        .get("n")
        .and_then(Value::as_str)
        .and_then(b64_decode)
        .ok_or(KeyRefusal::Modulus)?;
    let e = jwk
        .get("e")
        .and_then(Value::as_str)
        .and_then(b64_decode)
        .ok_or(KeyRefusal::Exponent)?;
    let n = strip_leading_zeros(&n);
    let bits = bit_length(n);
    if bits < MIN_RSA_BITS {
        return Err(KeyRefusal::TooShort);
    }
    if bits > MAX_RSA_BITS {
        return Err(KeyRefusal::TooLong);
    }
    if strip_leading_zeros(&e) != [1, 0, 1] {
        return Err(KeyRefusal::ExponentValue);
    }
    let fast = RsaVerifier::new(n).ok_or(KeyRefusal::Invalid)?;
    Ok(VerifyingKey { kid, alg, fast })
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

fn bit_length(bytes: &[u8]) -> usize {
    match bytes.first() {
        None => 0,
        Some(&top) => bytes.len() * 8 - top.leading_zeros() as usize,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::b64_encode;
    use crate::test_keys;
    use serde_json::json;

    fn jwk_with(changes: Value) -> Value {
        test_keys::with(test_keys::rsa_2048().public_jwk("k1"), changes)
    }

    fn jwks(keys: Vec<Value>) -> Vec<u8> {
        serde_json::to_vec(&json!({ "keys": keys })).unwrap()
    }

    #[test]
    fn a_good_key_is_kept() {
        let set = parse_jwks(&jwks(vec![jwk_with(json!({}))]), Algorithms::DEFAULT).unwrap();
        assert_eq!(set.len(), 1);
        assert!(set.get("k1").is_some());
        assert!(set.get("k2").is_none());
        let set = parse_jwks(
            &jwks(vec![jwk_with(json!({"use": null, "alg": null}))]),
            Algorithms::DEFAULT,
        )
        .unwrap();
        assert_eq!(set.kids().collect::<Vec<_>>(), ["k1"]);
    }

    #[test]
    fn unusable_keys_are_skipped_with_a_reason() {
        let cases = [
            (json!({"kid": null}), KeyRefusal::Kid),
            (json!({"kid": 7}), KeyRefusal::Kid),
            (json!({"kty": "EC"}), KeyRefusal::Kty),
            (json!({"use": "enc"}), KeyRefusal::Use),
            (json!({"alg": "ES256"}), KeyRefusal::Alg),
            (json!({"alg": "RSA-OAEP"}), KeyRefusal::Alg),
            (json!({"alg": "rs256"}), KeyRefusal::Alg),
            (json!({"alg": 256}), KeyRefusal::Alg),
            (json!({"key_ops": ["encrypt"]}), KeyRefusal::KeyOps),
            (json!({"d": "AQAB"}), KeyRefusal::Private),
            (json!({"n": "a+b"}), KeyRefusal::Modulus),
            (json!({"e": null}), KeyRefusal::Exponent),
            (json!({"e": "Aw"}), KeyRefusal::ExponentValue),
            (json!({"n": b64_encode(&[0xff; 128])}), KeyRefusal::TooShort),
            (json!({"n": b64_encode(&[0xff; 513])}), KeyRefusal::TooLong),
        ];
        for (change, reason) in cases {
            let good = jwk_with(json!({"kid": "good"}));
            let set = parse_jwks(
                &jwks(vec![jwk_with(change.clone()), good]),
                Algorithms::DEFAULT,
            )
            .unwrap();
            assert_eq!(set.len(), 1, "{change}");
            assert_eq!(
                parse_rsa_jwk(&jwk_with(change.clone())).unwrap_err(),
                reason,
                "{change}"
            );
            assert_eq!(
                parse_jwks(&jwks(vec![jwk_with(change.clone())]), Algorithms::DEFAULT).unwrap_err(),
                JwksError::NoUsableKeys,
                "{change}"
            );
        }
    }

    #[test]
    fn a_key_for_an_algorithm_not_accepted_is_left_out() {
        use crate::jose::jwa::Algorithm;
        let rs384 = jwk_with(json!({"kid": "k384", "alg": "RS384"}));
        assert_eq!(
            parse_jwks(&jwks(vec![rs384.clone()]), Algorithms::DEFAULT).unwrap_err(),
            JwksError::NoUsableKeys
        );
        let set = parse_jwks(
            &jwks(vec![rs384, jwk_with(json!({"alg": null}))]),
            Algorithms::new(&[Algorithm::Rs384, Algorithm::Ps256]),
        )
        .unwrap();
        assert_eq!(set.get("k384").unwrap().alg, Some(Algorithm::Rs384));
        assert_eq!(set.get("k1").unwrap().alg, None);
    }

    #[test]
    fn exponent_with_leading_zero_is_still_65537() {
        let set = parse_jwks(
            &jwks(vec![jwk_with(json!({"e": b64_encode(&[0, 1, 0, 1])}))]),
            Algorithms::DEFAULT,
        );
        assert!(set.is_ok());
    }

    #[test]
    fn an_ambiguous_kid_is_refused() {
        let other = test_keys::rsa_2048_b().public_jwk("k1");
        let good = jwk_with(json!({"kid": "k2"}));
        let set = parse_jwks(
            &jwks(vec![jwk_with(json!({})), other, good]),
            Algorithms::DEFAULT,
        )
        .unwrap();
        assert!(set.get("k1").is_none());
        assert!(set.get("k2").is_some());
    }

    #[test]
    fn garbage_documents_are_errors() {
        assert_eq!(
            parse_jwks(b"not json", Algorithms::DEFAULT).unwrap_err(),
            JwksError::NotJson
        );
        assert_eq!(
            parse_jwks(b"[]", Algorithms::DEFAULT).unwrap_err(),
            JwksError::NotJson
        );
        assert_eq!(
            parse_jwks(b"{}", Algorithms::DEFAULT).unwrap_err(),
            JwksError::NoKeysArray
        );
        assert_eq!(
            parse_jwks(br#"{"keys":{}}"#, Algorithms::DEFAULT).unwrap_err(),
            JwksError::NoKeysArray
        );
        assert_eq!(
            parse_jwks(br#"{"keys":[]}"#, Algorithms::DEFAULT).unwrap_err(),
            JwksError::NoUsableKeys
        );
        assert_eq!(
            parse_jwks(br#"{"keys":[1,"x",null]}"#, Algorithms::DEFAULT).unwrap_err(),
            JwksError::NoUsableKeys
        );
        let big = vec![b' '; MAX_JWKS_BYTES + 1];
        assert_eq!(
            parse_jwks(&big, Algorithms::DEFAULT).unwrap_err(),
            JwksError::TooLarge
        );
    }
}
