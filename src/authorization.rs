//! The `Authorization` header (RFC 9110 section 11.6.2, RFC 6750 section 2.1, RFC 9449 section 7.1):
//! `<scheme> <token>`, the scheme case-insensitive, exactly one credential. The header is malformed
//! (400) only when the credential is missing or there are several; what the one credential contains is
//! the token validator's business (401, CONTRACT section 4).

use crate::config::DpopMode;
use crate::errors::{GatewayError, Scheme};

/// Credentials presented with a scheme this gateway knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credentials<'a> {
    pub scheme: Scheme,
    pub token: &'a str,
}

/// Parses the header. A missing or empty header and an unsupported scheme are `unauthorized` (no error
/// code, RFC 6750 section 3.1); a known scheme with missing or malformed credentials is `invalid_request`.
pub fn parse_authorization(
    header: Option<&str>,
    mode: DpopMode,
) -> Result<Credentials<'_>, GatewayError> {
    let value = header.map(|v| v.trim_matches([' ', '\t'])).unwrap_or("");
    if value.is_empty() {
        return Err(GatewayError::Unauthorized("no access token was sent"));
    }
    let (scheme_name, rest) = match value.find([' ', '\t']) {
        Some(at) => (&value[..at], value[at..].trim_start_matches([' ', '\t'])),
        None => (value, ""),
    };
    let scheme = if scheme_name.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if scheme_name.eq_ignore_ascii_case("dpop") {
        Scheme::Dpop
    } else {
        return Err(GatewayError::Unauthorized(
            "the authorization scheme is not supported",
        ));
    };
    match (scheme, mode) {
        (Scheme::Dpop, DpopMode::Disabled) => {
            return Err(GatewayError::Unauthorized(
                "the DPoP scheme is not accepted here",
            ));
        }
        (Scheme::Bearer, DpopMode::Required) => {
            return Err(GatewayError::Unauthorized(
                "the Bearer scheme is not accepted here; use DPoP",
            ));
        }
        _ => {}
    }
    if rest.is_empty() {
        return Err(GatewayError::InvalidRequest(
            scheme,
            "Authorization: the access token is missing after the scheme",
        ));
    }
    if rest.contains([' ', '\t', ',']) {
        return Err(GatewayError::InvalidRequest(
            scheme,
            "Authorization: expected exactly one access token after the scheme",
        ));
    }
    Ok(Credentials {
        scheme,
        token: rest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(v: &str) -> Result<Credentials<'_>, GatewayError> {
        parse_authorization(Some(v), DpopMode::Allowed)
    }

    #[test]
    fn schemes_are_case_insensitive() {
        for v in [
            "Bearer abc.def.ghi",
            "bearer abc.def.ghi",
            "BEARER   abc.def.ghi",
            "Bearer\tabc.def.ghi ",
        ] {
            assert_eq!(
                parse(v).unwrap(),
                Credentials {
                    scheme: Scheme::Bearer,
                    token: "abc.def.ghi"
                },
                "{v:?}"
            );
        }
        assert_eq!(parse("DPoP a.b.c").unwrap().scheme, Scheme::Dpop);
        assert_eq!(parse("dpop a.b.c").unwrap().scheme, Scheme::Dpop);
    }

    #[test]
    fn missing_and_unsupported_are_unauthorized() {
        for v in [None, Some(""), Some("   ")] {
            assert_eq!(
                parse_authorization(v, DpopMode::Allowed)
                    .unwrap_err()
                    .code(),
                "unauthorized"
            );
        }
        for v in ["Basic dXNlcjpwYXNz", "Token abc", "Bearerabc", "abc"] {
            assert_eq!(parse(v).unwrap_err().code(), "unauthorized", "{v}");
        }
    }

    #[test]
    fn malformed_credentials_are_invalid_request() {
        for v in [
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearer a,b",
            "Bearer a\tb",
            "DPoP",
            "DPoP a, DPoP b",
        ] {
            let e = parse(v).unwrap_err();
            assert_eq!(e.code(), "invalid_request", "{v}");
            assert_eq!(e.status(), 400);
        }
        // Odd characters in one credential are for the token validator to refuse.
        for v in ["Bearer abc==", "Bearer a\"b", "Bearer a=.b.c", "Bearer a;b"] {
            assert!(parse(v).is_ok(), "{v}");
        }
    }

    #[test]
    fn modes_restrict_schemes() {
        let e = parse_authorization(Some("DPoP a.b.c"), DpopMode::Disabled).unwrap_err();
        assert_eq!(e.code(), "unauthorized");
        let e = parse_authorization(Some("Bearer a.b.c"), DpopMode::Required).unwrap_err();
        assert_eq!(e.code(), "unauthorized");
        assert!(parse_authorization(Some("DPoP a.b.c"), DpopMode::Required).is_ok());
        assert!(parse_authorization(Some("Bearer a.b.c"), DpopMode::Disabled).is_ok());
    }

    proptest! {
        #[test]
        fn never_panics_and_yields_one_credential(v in "\\PC{0,40}") {
            if let Ok(c) = parse(&v) {
                prop_assert!(!c.token.is_empty());
                prop_assert!(!c.token.contains([' ', '\t', ',']));
            }
        }
    }
}
