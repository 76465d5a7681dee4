//! Header names and values the gateway writes: the one rule for a header name a setting gives, the names
//! a header the gateway sets may not take, and the escaping of values taken from a token.

/// Hop-by-hop headers (RFC 9110 section 7.6.1), never forwarded; `expect` too, as the runtime answers
/// `100-continue` itself.
pub(crate) const HOP_BY_HOP: [&str; 10] = [
    "connection",
    "expect",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Headers the request itself depends on: where it goes, its credentials, its body, its cookies, where
/// it comes from.
const RESERVED: [&str; 8] = [
    "host",
    "authorization",
    "dpop",
    "content-length",
    "content-type",
    "cookie",
    "origin",
    "forwarded",
];

/// A header name as a setting gives it, lower-cased: letters, digits and `-` only (a subset of the
/// RFC 9110 token, which every server accepts). `None` for anything else, the empty name included.
pub(crate) fn header_name(value: &str) -> Option<String> {
    let valid = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    valid.then(|| value.to_ascii_lowercase())
}

/// Whether a header the gateway sets may not take the (lower-case) `name`: it would replace something
/// the request depends on, a hop-by-hop header, or a Cloudflare `cf-*` header. The gateway's own
/// headers are the caller's to keep apart.
pub(crate) fn is_reserved(name: &str) -> bool {
    RESERVED.contains(&name) || HOP_BY_HOP.contains(&name) || name.starts_with("cf-")
}

/// Makes a claim value safe as a header value: `%`, controls and non-ASCII are percent-encoded as UTF-8
/// (RFC 3986 section 2.1), so the origin can decode it and no claim can inject a header.
pub(crate) fn header_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if (0x20..0x7f).contains(&byte) && byte != b'%' {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_letters_digits_and_dashes() {
        assert_eq!(header_name("X-Auth-Email").as_deref(), Some("x-auth-email"));
        assert_eq!(header_name("x1").as_deref(), Some("x1"));
        for bad in ["", "X Auth", " x", "x_y", "x:y", "é", "x\r\n"] {
            assert_eq!(header_name(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn reserved_names() {
        for name in [
            "host",
            "authorization",
            "dpop",
            "transfer-encoding",
            "te",
            "cf-connecting-ip",
        ] {
            assert!(is_reserved(name), "{name}");
        }
        for name in ["x-auth-email", "x-gateway-secret", "cfx", "hostname"] {
            assert!(!is_reserved(name), "{name}");
        }
    }

    #[test]
    fn header_values_cannot_inject() {
        assert_eq!(header_value("a\r\nX-Evil: 1"), "a%0D%0AX-Evil: 1");
        assert_eq!(header_value("100%"), "100%25");
        assert_eq!(header_value("plain value"), "plain value");
    }
}
