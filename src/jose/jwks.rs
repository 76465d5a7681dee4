//! Signing keys: a JWKS (RFC 7517 section 5) parsed into ready-to-use RSA verification keys, keeping only
//! keys that are safe for RS256 access tokens (CONTRACT section 2). Parsing happens once per fetch, never
//! per request.

use std::sync::Arc;

use serde_json::Value;

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
    /// The verification-only fast path used on requests.
    pub fast: RsaVerifier,
}

/// A key from the JWKS that the gateway will not use, and why (for logs and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedKey {
    pub kid: Option<String>,
    pub reason: &'static str,
}

/// The usable keys of one JWKS, by `kid`.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: Vec<Arc<VerifyingKey>>,
    skipped: Vec<SkippedKey>,
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

    /// Keys that were present but refused, with the reason.
    pub fn skipped(&self) -> &[SkippedKey] {
        &self.skipped
    }

    /// The `kid`s of the usable keys.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.kid.as_str())
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
pub fn parse_jwks(bytes: &[u8]) -> Result<KeySet, JwksError> {
    if bytes.len() > MAX_JWKS_BYTES {
        return Err(JwksError::TooLarge);
    }
    let doc = parse_object(bytes).ok_or(JwksError::NotJson)?;
    let entries = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or(JwksError::NoKeysArray)?;
    let mut set = KeySet::default();
    for entry in entries.iter().take(MAX_KEYS) {
        let kid = entry.get("kid").and_then(Value::as_str).map(str::to_owned);
        match parse_rsa_jwk(entry) {
            Ok(key) => set.keys.push(Arc::new(key)),
            Err(reason) => set.skipped.push(SkippedKey { kid, reason }),
        }
    }
    // A kid must name one key (RFC 7517 section 4.5); an ambiguous kid is refused entirely.
    let mut ambiguous: Vec<String> = Vec::new();
    for (i, key) in set.keys.iter().enumerate() {
        if set.keys[i + 1..].iter().any(|k| k.kid == key.kid) && !ambiguous.contains(&key.kid) {
            ambiguous.push(key.kid.clone());
        }
    }
    if !ambiguous.is_empty() {
        set.keys.retain(|k| !ambiguous.contains(&k.kid));
        set.skipped
            .extend(ambiguous.into_iter().map(|kid| SkippedKey {
                kid: Some(kid),
                reason: "kid is shared by several keys",
            }));
    }
    if set.keys.is_empty() {
        return Err(JwksError::NoUsableKeys);
    }
    Ok(set)
}

/// Checks one JWK against the key policy and builds the RSA key (RFC 7517 section 4, RFC 7518 section 6.3).
pub fn parse_rsa_jwk(jwk: &Value) -> Result<VerifyingKey, &'static str> {
    let jwk = jwk.as_object().ok_or("key is not a JSON object")?;
    let kid = match jwk.get("kid") {
        Some(Value::String(kid)) if !kid.is_empty() => kid.clone(),
        _ => return Err("kid is missing or not a non-empty string"),
    };
    if jwk.get("kty").and_then(Value::as_str) != Some("RSA") {
        return Err("kty is not RSA");
    }
    match jwk.get("use") {
        None => {}
        Some(Value::String(u)) if u == "sig" => {}
        Some(_) => return Err("use is not sig"),
    }
    match jwk.get("alg") {
        None => {}
        Some(Value::String(a)) if a == "RS256" => {}
        Some(_) => return Err("alg is not RS256"),
    }
    if let Some(ops) = jwk.get("key_ops") {
        let verifies = ops
            .as_array()
            .is_some_and(|ops| ops.iter().any(|op| op.as_str() == Some("verify")));
        if !verifies {
            return Err("key_ops does not include verify");
        }
    }
    if ["d", "p", "q", "dp", "dq", "qi", "oth"]
        .iter()
        .any(|m| jwk.contains_key(*m))
    {
        return Err("key contains private members");
    }
    let n = jwk
        .get("n")
        .and_then(Value::as_str)
        .and_then(b64_decode)
        .ok_or("n is missing or not base64url")?;
    let e = jwk
        .get("e")
        .and_then(Value::as_str)
        .and_then(b64_decode)
        .ok_or("e is missing or not base64url")?;
    let n = strip_leading_zeros(&n);
    let bits = bit_length(n);
    if bits < MIN_RSA_BITS {
        return Err("modulus is shorter than 2048 bits");
    }
    if bits > MAX_RSA_BITS {
        return Err("modulus is longer than 4096 bits");
    }
    if strip_leading_zeros(&e) != [1, 0, 1] {
        return Err("exponent is not 65537");
    }
    let fast = RsaVerifier::new(n).ok_or("RSA key is invalid")?;
    Ok(VerifyingKey { kid, fast })
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
        let set = parse_jwks(&jwks(vec![jwk_with(json!({}))])).unwrap();
        assert_eq!(set.len(), 1);
        assert!(set.get("k1").is_some());
        assert!(set.get("k2").is_none());
        let set = parse_jwks(&jwks(vec![jwk_with(json!({"use": null, "alg": null}))])).unwrap();
        assert_eq!(set.kids().collect::<Vec<_>>(), ["k1"]);
    }

    #[test]
    fn unusable_keys_are_skipped_with_a_reason() {
        let cases = [
            (
                json!({"kid": null}),
                "kid is missing or not a non-empty string",
            ),
            (
                json!({"kid": 7}),
                "kid is missing or not a non-empty string",
            ),
            (json!({"kty": "EC"}), "kty is not RSA"),
            (json!({"use": "enc"}), "use is not sig"),
            (json!({"alg": "RS384"}), "alg is not RS256"),
            (json!({"alg": "PS256"}), "alg is not RS256"),
            (
                json!({"key_ops": ["encrypt"]}),
                "key_ops does not include verify",
            ),
            (json!({"d": "AQAB"}), "key contains private members"),
            (json!({"n": "a+b"}), "n is missing or not base64url"),
            (json!({"e": null}), "e is missing or not base64url"),
            (json!({"e": "Aw"}), "exponent is not 65537"),
            (
                json!({"n": b64_encode(&[0xff; 128])}),
                "modulus is shorter than 2048 bits",
            ),
            (
                json!({"n": b64_encode(&[0xff; 513])}),
                "modulus is longer than 4096 bits",
            ),
        ];
        for (change, reason) in cases {
            let good = jwk_with(json!({"kid": "good"}));
            let set = parse_jwks(&jwks(vec![jwk_with(change.clone()), good])).unwrap();
            assert_eq!(set.len(), 1, "{change}");
            assert_eq!(set.skipped()[0].reason, reason, "{change}");
            assert_eq!(
                parse_jwks(&jwks(vec![jwk_with(change.clone())])).unwrap_err(),
                JwksError::NoUsableKeys,
                "{change}"
            );
        }
    }

    #[test]
    fn exponent_with_leading_zero_is_still_65537() {
        let set = parse_jwks(&jwks(vec![jwk_with(
            json!({"e": b64_encode(&[0, 1, 0, 1])}),
        )]));
        assert!(set.is_ok());
    }

    #[test]
    fn an_ambiguous_kid_is_refused() {
        let other = test_keys::rsa_2048_b().public_jwk("k1");
        let good = jwk_with(json!({"kid": "k2"}));
        let set = parse_jwks(&jwks(vec![jwk_with(json!({})), other, good])).unwrap();
        assert!(set.get("k1").is_none());
        assert!(set.get("k2").is_some());
    }

    #[test]
    fn garbage_documents_are_errors() {
        assert_eq!(parse_jwks(b"not json").unwrap_err(), JwksError::NotJson);
        assert_eq!(parse_jwks(b"[]").unwrap_err(), JwksError::NotJson);
        assert_eq!(parse_jwks(b"{}").unwrap_err(), JwksError::NoKeysArray);
        assert_eq!(
            parse_jwks(br#"{"keys":{}}"#).unwrap_err(),
            JwksError::NoKeysArray
        );
        assert_eq!(
            parse_jwks(br#"{"keys":[]}"#).unwrap_err(),
            JwksError::NoUsableKeys
        );
        assert_eq!(
            parse_jwks(br#"{"keys":[1,"x",null]}"#).unwrap_err(),
            JwksError::NoUsableKeys
        );
        let big = vec![b' '; MAX_JWKS_BYTES + 1];
        assert_eq!(parse_jwks(&big).unwrap_err(), JwksError::TooLarge);
    }
}
