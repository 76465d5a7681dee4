//! OpenID Connect discovery (OpenID Connect Discovery 1.0 sections 3 and 4.3): the document must name the
//! configured issuer exactly, and its `jwks_uri` is where the signing keys are.

use serde_json::Value;

use super::Issuer;
use crate::http::authority::{is_loopback, split_authority, split_host_port, split_scheme, Scheme};
use crate::jose::json::parse_object;

/// Largest discovery document accepted; Auth0's is about 2 KiB.
pub const MAX_DISCOVERY_BYTES: usize = 64 * 1024;

/// What the gateway needs from the discovery document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    pub jwks_uri: String,
}

/// Parses a discovery document for `issuer`.
pub fn parse_discovery(bytes: &[u8], issuer: &Issuer) -> Result<Discovery, &'static str> {
    if bytes.len() > MAX_DISCOVERY_BYTES {
        return Err("discovery document is too large");
    }
    let doc = parse_object(bytes).ok_or("discovery document is not a JSON object")?;
    // Discovery section 4.3: the issuer value returned MUST be identical to the issuer URL used.
    match doc.get("issuer") {
        Some(Value::String(value)) if *value == issuer.url => {}
        Some(_) => return Err("discovery issuer does not match the configured issuer"),
        None => return Err("discovery document has no issuer"),
    }
    let jwks_uri = doc
        .get("jwks_uri")
        .and_then(Value::as_str)
        .ok_or("discovery document has no jwks_uri")?;
    if !is_acceptable_jwks_uri(jwks_uri, issuer) {
        return Err("discovery jwks_uri is not an https URL");
    }
    Ok(Discovery {
        jwks_uri: jwks_uri.to_owned(),
    })
}

/// `jwks_uri` must be https (Discovery section 3); a loopback development issuer may use plain http on
/// loopback.
fn is_acceptable_jwks_uri(uri: &str, issuer: &Issuer) -> bool {
    if uri.len() > 2048 || uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((scheme, rest)) = split_scheme(uri) else {
        return false;
    };
    let authority = split_authority(rest).0.to_ascii_lowercase();
    if authority.is_empty() || authority.contains('@') {
        return false;
    }
    match scheme {
        Scheme::Https => true,
        Scheme::Http => {
            issuer.is_loopback_http
                && split_host_port(&authority).is_some_and(|(host, port)| {
                    is_loopback(host) && port.is_none_or(|p| p.bytes().all(|b| b.is_ascii_digit()))
                })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idp::parse_issuer;
    use serde_json::json;

    fn doc(v: Value) -> Vec<u8> {
        v.to_string().into_bytes()
    }

    #[test]
    fn a_matching_document_gives_its_jwks_uri() {
        let issuer = parse_issuer("tenant.auth0.com").unwrap();
        let d = parse_discovery(
            &doc(json!({"issuer": "https://tenant.auth0.com/", "jwks_uri": "https://tenant.auth0.com/.well-known/jwks.json"})),
            &issuer,
        )
        .unwrap();
        assert_eq!(d.jwks_uri, "https://tenant.auth0.com/.well-known/jwks.json");
    }

    #[test]
    fn issuer_must_be_identical() {
        let issuer = parse_issuer("tenant.auth0.com").unwrap();
        for bad in [
            "https://tenant.auth0.com",
            "https://TENANT.auth0.com/",
            "https://evil.com/",
        ] {
            let e = parse_discovery(
                &doc(json!({"issuer": bad, "jwks_uri": "https://x/jwks"})),
                &issuer,
            );
            assert_eq!(
                e.unwrap_err(),
                "discovery issuer does not match the configured issuer"
            );
        }
        let e = parse_discovery(&doc(json!({"jwks_uri": "https://x/jwks"})), &issuer);
        assert_eq!(e.unwrap_err(), "discovery document has no issuer");
    }

    #[test]
    fn jwks_uri_rules() {
        let issuer = parse_issuer("tenant.auth0.com").unwrap();
        let base =
            |uri: Value| doc(json!({"issuer": "https://tenant.auth0.com/", "jwks_uri": uri}));
        assert_eq!(
            parse_discovery(&base(Value::Null), &issuer).unwrap_err(),
            "discovery document has no jwks_uri"
        );
        for bad in [
            "http://tenant.auth0.com/jwks",
            "file:///etc/passwd",
            "https://",
            "https://u@x/",
            "https://x/a b",
            "https:///jwks",
            "https://?x",
        ] {
            assert_eq!(
                parse_discovery(&base(json!(bad)), &issuer).unwrap_err(),
                "discovery jwks_uri is not an https URL",
                "{bad}"
            );
        }
        let dev = parse_issuer("http://127.0.0.1:8788").unwrap();
        let local = doc(
            json!({"issuer": "http://127.0.0.1:8788/", "jwks_uri": "http://127.0.0.1:8788/.well-known/jwks.json"}),
        );
        assert!(parse_discovery(&local, &dev).is_ok());
        let remote =
            doc(json!({"issuer": "http://127.0.0.1:8788/", "jwks_uri": "http://evil.com/jwks"}));
        assert!(parse_discovery(&remote, &dev).is_err());
        for (uri, ok) in [
            ("http://LOCALHOST:8788/jwks", true),
            ("http://[::1]/jwks", true),
            ("http://[::1]:8788?x", true),
            ("http://localhost:x/jwks", false),
            ("http://127.0.0.1.evil.com/jwks", false),
            ("http://u@localhost/jwks", false),
        ] {
            let d = doc(json!({"issuer": "http://127.0.0.1:8788/", "jwks_uri": uri}));
            assert_eq!(parse_discovery(&d, &dev).is_ok(), ok, "{uri}");
        }
    }

    #[test]
    fn garbage_is_refused() {
        let issuer = parse_issuer("tenant.auth0.com").unwrap();
        assert!(parse_discovery(b"<html>", &issuer).is_err());
        assert!(parse_discovery(&vec![b' '; MAX_DISCOVERY_BYTES + 1], &issuer).is_err());
    }
}
