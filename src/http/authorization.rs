//! The `Authorization` header (RFC 9110 section 11.6.2, RFC 6750 section 2.1, RFC 9449 section 7.1):
//! `<scheme> <token>`, the scheme case-insensitive, exactly one credential. The header is malformed
//! (400) only when the credential is missing or there are several; what the one credential contains is
//! the token validator's business (401, README "Features", Access tokens).

/// Which authorization schemes the gateway accepts (RFC 9449 section 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DpopMode {
    /// `Bearer` and `DPoP` tokens.
    Allowed,
    /// Only DPoP-bound tokens with a proof.
    Required,
    /// Only `Bearer`; `cnf`-bound tokens are accepted as plain bearer tokens.
    Disabled,
}

/// The authorization scheme a request used, which decides the shape of the challenge (RFC 9449 section 7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Bearer,
    Dpop,
}

/// Credentials presented with a scheme this gateway knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credentials<'a> {
    pub scheme: Scheme,
    pub token: &'a str,
}

/// Why the credentials of a request cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialsError {
    /// No `Authorization` header, or an empty one.
    Missing,
    /// A scheme other than `Bearer` and `DPoP`.
    UnsupportedScheme,
    /// `DPoP` while `DPOP_MODE=disabled`.
    DpopSchemeDisabled,
    /// `Bearer` while `DPOP_MODE=required`.
    BearerSchemeDisabled,
    /// A known scheme with nothing after it.
    NoToken,
    /// A known scheme followed by more than one credential.
    SeveralTokens,
    /// A `DPoP` header sent with the `Bearer` scheme (RFC 9449 section 7.2).
    ProofWithBearer,
}

impl CredentialsError {
    /// Whether the request is malformed (400 `invalid_request`) rather than unauthenticated (401 with no
    /// error code, RFC 6750 section 3.1).
    pub fn is_malformed(self) -> bool {
        matches!(
            self,
            Self::NoToken | Self::SeveralTokens | Self::ProofWithBearer
        )
    }

    pub fn description(self) -> &'static str {
        match self {
            Self::Missing => "no access token was sent",
            Self::UnsupportedScheme => "the authorization scheme is not supported",
            Self::DpopSchemeDisabled => "the DPoP scheme is not accepted here",
            Self::BearerSchemeDisabled => "the Bearer scheme is not accepted here; use DPoP",
            Self::NoToken => "Authorization: the access token is missing after the scheme",
            Self::SeveralTokens => {
                "Authorization: expected exactly one access token after the scheme"
            }
            Self::ProofWithBearer => {
                "a DPoP proof was sent with the Bearer scheme; use the DPoP scheme"
            }
        }
    }
}

/// Parses the header. A missing or empty header and an unsupported scheme are `unauthorized` (no error
/// code, RFC 6750 section 3.1); a known scheme with missing or malformed credentials is `invalid_request`.
/// The error carries the scheme when one was recognised.
pub fn parse_authorization(
    header: Option<&str>,
    mode: DpopMode,
) -> Result<Credentials<'_>, (Option<Scheme>, CredentialsError)> {
    // Byte scans: the separators are ASCII, so every index found is a char boundary.
    let value = header.map(trim_blanks).unwrap_or("");
    if value.is_empty() {
        return Err((None, CredentialsError::Missing));
    }
    let (scheme_name, rest) = match value.bytes().position(is_blank) {
        Some(at) => (&value[..at], trim_blanks(&value[at..])),
        None => (value, ""),
    };
    let scheme = if scheme_name.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if scheme_name.eq_ignore_ascii_case("dpop") {
        Scheme::Dpop
    } else {
        return Err((None, CredentialsError::UnsupportedScheme));
    };
    let refused = match (scheme, mode) {
        (Scheme::Dpop, DpopMode::Disabled) => Some(CredentialsError::DpopSchemeDisabled),
        (Scheme::Bearer, DpopMode::Required) => Some(CredentialsError::BearerSchemeDisabled),
        _ if rest.is_empty() => Some(CredentialsError::NoToken),
        _ if rest.bytes().any(|b| is_blank(b) || b == b',') => {
            Some(CredentialsError::SeveralTokens)
        }
        _ => None,
    };
    match refused {
        Some(reason) => Err((Some(scheme), reason)),
        None => Ok(Credentials {
            scheme,
            token: rest,
        }),
    }
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Without leading and trailing spaces and tabs (RFC 9110 section 5.6.3 whitespace).
pub(crate) fn trim_blanks(s: &str) -> &str {
    let start = s.bytes().position(|b| !is_blank(b)).unwrap_or(s.len());
    let end = s
        .bytes()
        .rposition(|b| !is_blank(b))
        .map_or(start, |at| at + 1);
    &s[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(v: &str) -> Result<Credentials<'_>, (Option<Scheme>, CredentialsError)> {
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
                parse_authorization(v, DpopMode::Allowed).unwrap_err(),
                (None, CredentialsError::Missing)
            );
        }
        for v in ["Basic dXNlcjpwYXNz", "Token abc", "Bearerabc", "abc"] {
            assert_eq!(
                parse(v).unwrap_err(),
                (None, CredentialsError::UnsupportedScheme),
                "{v}"
            );
        }
    }

    #[test]
    fn malformed_credentials_are_invalid_request() {
        for (v, expected) in [
            ("Bearer", (Scheme::Bearer, CredentialsError::NoToken)),
            ("Bearer ", (Scheme::Bearer, CredentialsError::NoToken)),
            (
                "Bearer a b",
                (Scheme::Bearer, CredentialsError::SeveralTokens),
            ),
            (
                "Bearer a,b",
                (Scheme::Bearer, CredentialsError::SeveralTokens),
            ),
            (
                "Bearer a\tb",
                (Scheme::Bearer, CredentialsError::SeveralTokens),
            ),
            ("DPoP", (Scheme::Dpop, CredentialsError::NoToken)),
            (
                "DPoP a, DPoP b",
                (Scheme::Dpop, CredentialsError::SeveralTokens),
            ),
        ] {
            let (scheme, reason) = parse(v).unwrap_err();
            assert_eq!((scheme, reason), (Some(expected.0), expected.1), "{v}");
            assert!(reason.is_malformed());
        }
        // Odd characters in one credential are for the token validator to refuse.
        for v in ["Bearer abc==", "Bearer a\"b", "Bearer a=.b.c", "Bearer a;b"] {
            assert!(parse(v).is_ok(), "{v}");
        }
    }

    #[test]
    fn modes_restrict_schemes() {
        let (_, e) = parse_authorization(Some("DPoP a.b.c"), DpopMode::Disabled).unwrap_err();
        assert_eq!(e, CredentialsError::DpopSchemeDisabled);
        assert!(!e.is_malformed());
        let (_, e) = parse_authorization(Some("Bearer a.b.c"), DpopMode::Required).unwrap_err();
        assert_eq!(e, CredentialsError::BearerSchemeDisabled);
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

        #[test]
        fn blanks_are_trimmed_as_chars_would_be(v in "[ \t\u{a0}a\u{e9}]{0,12}") {
            prop_assert_eq!(trim_blanks(&v), v.trim_matches([' ', '\t']));
        }
    }
}
