//! The accepted issuers: the tenant's domain and its other custom domains, each an `https://{domain}/`
//! issuer (a loopback `http://` one for local development) with its discovery URL.

use crate::http::authority::{is_loopback, split_scheme, Authority, Scheme};

/// The token issuer: `https://{AUTH0_DOMAIN}/`, or `http://` for a loopback development issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuer {
    /// Exactly the value a token's `iss` and the discovery document's `issuer` must equal.
    pub url: String,
    /// `{issuer}.well-known/openid-configuration` (OpenID Connect Discovery 1.0 section 4).
    pub discovery_url: String,
    /// True for a plain-http loopback issuer, whose `jwks_uri` may then be plain http on loopback too.
    pub is_loopback_http: bool,
}

impl AsRef<str> for Issuer {
    /// The issuer URL, as `iss` carries it.
    fn as_ref(&self) -> &str {
        &self.url
    }
}

/// Derives the issuer from `AUTH0_DOMAIN`: a bare host (with optional port), `https://` and trailing `/`
/// tolerated; `http://` only for a loopback host, for local development.
pub fn parse_issuer(domain: &str) -> Result<Issuer, String> {
    let lower = domain.trim().to_ascii_lowercase();
    let (scheme, rest) = match split_scheme(&lower) {
        Some(split) => split,
        None if lower.contains("://") => {
            return Err(
                "must be a host name such as tenant.us.auth0.com (only https:// is accepted)"
                    .into(),
            )
        }
        None => (Scheme::Https, lower.as_str()),
    };
    let host_port = rest.trim_end_matches('/');
    if host_port.is_empty() {
        return Err("must be a host name such as tenant.us.auth0.com".into());
    }
    if host_port.contains(['/', '?', '#', '@', '\\'])
        || host_port
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(
            "must be a bare host name, without a path, query, fragment or credentials".into(),
        );
    }
    let authority = Authority::parse(host_port).ok_or_else(|| {
        String::from("must be a host name with an optional port, such as tenant.us.auth0.com")
    })?;
    let plain_http = scheme == Scheme::Http;
    if plain_http && !is_loopback(authority.host) {
        return Err("uses http://, which is accepted only for a loopback host (localhost, 127.0.0.1, [::1])".into());
    }
    let url = format!("{scheme}://{authority}/");
    Ok(Issuer {
        discovery_url: format!("{url}.well-known/openid-configuration"),
        url,
        is_loopback_http: plain_http,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_forms() {
        for (input, issuer) in [
            ("tenant.auth0.com", "https://tenant.auth0.com/"),
            ("https://tenant.auth0.com", "https://tenant.auth0.com/"),
            ("https://tenant.auth0.com/", "https://tenant.auth0.com/"),
            ("  TENANT.Auth0.com// ", "https://tenant.auth0.com/"),
            ("login.example.com:8443", "https://login.example.com:8443/"),
            ("http://127.0.0.1:8788", "http://127.0.0.1:8788/"),
            ("http://localhost:8788/", "http://localhost:8788/"),
            ("http://[::1]:9000", "http://[::1]:9000/"),
            ("http://localhost", "http://localhost/"),
        ] {
            assert_eq!(parse_issuer(input).unwrap().url, issuer, "{input}");
        }
        assert!(
            parse_issuer("http://127.0.0.1:8788")
                .unwrap()
                .is_loopback_http
        );
        assert!(!parse_issuer("tenant.auth0.com").unwrap().is_loopback_http);
    }

    #[test]
    fn domain_rejections() {
        for input in [
            "http://tenant.auth0.com",
            "http://127.0.0.2",
            "ftp://tenant.auth0.com",
            "tenant.auth0.com/path",
            "tenant.auth0.com?x=1",
            "tenant.auth0.com#f",
            "user@tenant.auth0.com",
            "tenant auth0.com",
            "https://",
            "tenant.auth0.com:0",
            "tenant.auth0.com:99999",
            "tenant.auth0.com:abc",
            "-bad.auth0.com",
            "a..b",
            "[zz]",
            "[",
            "[abc",
            "[x:1",
            "[::1]x",
        ] {
            assert!(parse_issuer(input).is_err(), "{input} should be rejected");
        }
    }
}
