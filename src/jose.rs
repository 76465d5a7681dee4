//! Strict JOSE building blocks shared by access tokens and DPoP proofs: compact JWS splitting
//! (RFC 7515 section 7.1), unpadded base64url (RFC 7515 section 2), and JSON objects that reject
//! duplicate member names (RFC 7515 section 5.2 step 4, RFC 7519 section 4).

use std::fmt;

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

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

/// The three parts of a compact JWS, decoded, with the signing input kept for verification.
#[derive(Debug)]
pub struct CompactJws<'a> {
    /// `BASE64URL(header) || '.' || BASE64URL(payload)`, the bytes the signature covers.
    pub signing_input: &'a str,
    /// The encoded signature part, as sent (used as a cache key, never logged).
    pub encoded_signature: &'a str,
    pub header: Map<String, Value>,
    pub payload: Vec<u8>,
    pub signature: Vec<u8>,
}

/// Why a compact JWS could not be split and decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwsError {
    /// Not exactly three dot-separated parts (a JWE has five).
    Structure,
    /// A part is not unpadded base64url.
    Encoding,
    /// The header is not a JSON object, or has a duplicate member.
    Header,
}

impl JwsError {
    pub fn description(self) -> &'static str {
        match self {
            Self::Structure => "the token is not a compact JWS of three parts",
            Self::Encoding => "a token part is not unpadded base64url",
            Self::Header => "the token header is not a JSON object with unique members",
        }
    }
}

/// Splits a compact JWS and decodes its parts (RFC 7515 section 5.2 steps 1-4).
pub fn parse_compact(token: &str) -> Result<CompactJws<'_>, JwsError> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwsError::Structure);
    };
    if header.is_empty() || payload.is_empty() || signature.is_empty() {
        return Err(JwsError::Structure);
    }
    let signing_input = &token[..header.len() + 1 + payload.len()];
    let header_bytes = b64_decode(header).ok_or(JwsError::Encoding)?;
    let payload_bytes = b64_decode(payload).ok_or(JwsError::Encoding)?;
    let signature_bytes = b64_decode(signature).ok_or(JwsError::Encoding)?;
    let header = parse_object(&header_bytes).ok_or(JwsError::Header)?;
    Ok(CompactJws {
        signing_input,
        encoded_signature: signature,
        header,
        payload: payload_bytes,
        signature: signature_bytes,
    })
}

/// Parses a JSON object, rejecting duplicate member names at any depth. `None` for anything else.
pub fn parse_object(bytes: &[u8]) -> Option<Map<String, Value>> {
    match parse_strict(bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// Parses any JSON value, rejecting duplicate member names at any depth.
pub fn parse_strict(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    serde_json::from_slice::<StrictValue>(bytes).map(|v| v.0)
}

/// A JSON value whose objects were checked for duplicate member names while parsing.
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = StrictValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::from(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::from(v)))
    }

    fn visit_f64<E>(self, v: f64) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::from(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::String(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::String(v)))
    }

    fn visit_unit<E>(self) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StrictValue, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(StrictValue(Value::Array(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<StrictValue, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let StrictValue(value) = access.next_value()?;
            if map.insert(key, value).is_some() {
                return Err(de::Error::custom("duplicate member name"));
            }
        }
        Ok(StrictValue(Value::Object(map)))
    }
}

/// A JSON number as seconds since the epoch (RFC 7519 section 2 NumericDate); `None` for other types.
pub fn numeric_date(value: &Value) -> Option<f64> {
    value.as_f64().filter(|n| n.is_finite())
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

    #[test]
    fn duplicate_members_are_rejected_at_any_depth() {
        assert!(parse_object(br#"{"a":1,"b":2}"#).is_some());
        assert!(parse_object(br#"{"a":1,"a":2}"#).is_none());
        assert!(parse_object(br#"{"jwk":{"x":"1","x":"2"}}"#).is_none());
        assert!(parse_object(br#"{"l":[{"k":1,"k":1}]}"#).is_none());
        assert!(parse_object(b"[1,2]").is_none());
        assert!(parse_object(b"\"s\"").is_none());
        assert!(parse_object(br#"{"a":1} trailing"#).is_none());
    }

    #[test]
    fn compact_jws_structure() {
        let h = b64_encode(br#"{"alg":"RS256"}"#);
        let p = b64_encode(br#"{"sub":"x"}"#);
        let token = format!("{h}.{p}.c2ln");
        let jws = parse_compact(&token).unwrap();
        assert_eq!(jws.signing_input, format!("{h}.{p}"));
        assert_eq!(jws.signature, b"sig");
        assert_eq!(jws.payload, br#"{"sub":"x"}"#);
        assert_eq!(jws.header["alg"], "RS256");

        assert_eq!(parse_compact("a.b").unwrap_err(), JwsError::Structure);
        assert_eq!(
            parse_compact(&format!("{h}.{p}.c2ln.x.y")).unwrap_err(),
            JwsError::Structure
        );
        assert_eq!(
            parse_compact(&format!("{h}.{p}.")).unwrap_err(),
            JwsError::Structure
        );
        assert_eq!(
            parse_compact(&format!("{h}=.{p}.c2ln")).unwrap_err(),
            JwsError::Encoding
        );
        let not_object = b64_encode(b"[]");
        assert_eq!(
            parse_compact(&format!("{not_object}.{p}.c2ln")).unwrap_err(),
            JwsError::Header
        );
    }

    #[test]
    fn numeric_dates() {
        assert_eq!(numeric_date(&serde_json::json!(5)), Some(5.0));
        assert_eq!(numeric_date(&serde_json::json!(5.5)), Some(5.5));
        assert_eq!(numeric_date(&serde_json::json!("5")), None);
        assert_eq!(numeric_date(&serde_json::json!(null)), None);
        assert_eq!(numeric_date(&serde_json::json!(true)), None);
    }
}
