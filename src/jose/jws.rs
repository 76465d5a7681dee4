//! Compact JWS (RFC 7515 section 7.1): three unpadded base64url parts, decoded strictly, the header a JSON
//! object with unique members (RFC 7515 section 5.2 steps 1-4).

use serde_json::{Map, Value};

use super::b64_decode;
use super::json::parse_object;

/// The three parts of a compact JWS, decoded, with the signing input kept for verification.
#[derive(Debug)]
pub struct CompactJws<'a> {
    /// `BASE64URL(header) || '.' || BASE64URL(payload)`, the bytes the signature covers.
    pub signing_input: &'a str,
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
        header,
        payload: payload_bytes,
        signature: signature_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::b64_encode;

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
}
