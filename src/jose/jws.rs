//! Compact JWS (RFC 7515 section 7.1): three unpadded base64url parts, decoded strictly (RFC 7515 section
//! 5.2 steps 1-3). Each caller parses the header (step 4) for the members it reads: an access token's
//! without building a map (`token::parse`), a DPoP proof's with its `jwk` as a JSON object.

use super::b64_decode;

/// The three parts of a compact JWS, decoded, with the signing input kept for verification.
#[derive(Debug)]
pub struct CompactJws<'a> {
    /// `BASE64URL(header) || '.' || BASE64URL(payload)`, the bytes the signature covers.
    pub signing_input: &'a str,
    /// The header's JSON text, not parsed yet.
    pub header: Vec<u8>,
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
}

/// Splits a compact JWS and decodes its parts (RFC 7515 section 5.2 steps 1-3).
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
    Ok(CompactJws {
        signing_input,
        header: b64_decode(header).ok_or(JwsError::Encoding)?,
        payload: b64_decode(payload).ok_or(JwsError::Encoding)?,
        signature: b64_decode(signature).ok_or(JwsError::Encoding)?,
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
        assert_eq!(jws.header, br#"{"alg":"RS256"}"#);

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
    }
}
