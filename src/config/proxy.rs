//! Proxy mode (`ORIGIN_URL` or the `ORIGIN_SERVICE` binding, and what the origin is sent), read only when one is set.

use serde_json::Value;

use super::settings::Settings;
use super::{invalid, names, ConfigError};
use crate::http::header::{header_name, is_reserved};
use crate::http::proxy::{ProxySettings, IDENTITY_HEADERS};
use crate::jose::json::parse_strict;
use crate::out_of_line::apart;

/// Proxy mode: `ORIGIN_URL`, or the Worker bound as `ORIGIN_SERVICE` (`service`), never both. Kept apart
/// (`src/out_of_line.rs`) past the first check: an isolate without an origin never compiles the rest.
pub(super) fn proxy(s: &Settings, service: bool) -> Result<Option<ProxySettings>, ConfigError> {
    let origin_url = s.optional(names::ORIGIN_URL);
    if origin_url.is_none() && !service {
        return Ok(None);
    }
    apart(|| settings(s, origin_url, service)).map(Some)
}

/// The proxy's settings, with an origin URL or the service binding (or both, refused).
fn settings(
    s: &Settings,
    origin_url: Option<String>,
    service: bool,
) -> Result<ProxySettings, ConfigError> {
    let (origin, base_path) = match (origin_url, service) {
        (None, _) => (String::new(), String::new()),
        (Some(url), false) => ProxySettings::parse_origin(&url)
            .map_err(|reason| invalid(names::ORIGIN_URL, reason))?,
        (Some(_), true) => {
            return Err(invalid(
                names::ORIGIN_SERVICE,
                "is bound and ORIGIN_URL is set: the origin is one or the other",
            ))
        }
    };
    let claim_headers = match s.optional(names::CLAIM_HEADERS) {
        None => Vec::new(),
        Some(json) => {
            claim_headers(&json).map_err(|reason| invalid(names::CLAIM_HEADERS, reason))?
        }
    };
    let secret_header = s
        .optional(names::ORIGIN_SHARED_SECRET_HEADER)
        .map_or(Some("x-gateway-secret".into()), |name| {
            header_name(name.trim())
        })
        .ok_or_else(|| invalid(names::ORIGIN_SHARED_SECRET_HEADER, "must be a header name"))?;
    // The same names are off limits as for a claim: the secret would replace what the request or the
    // origin relies on.
    if is_reserved(&secret_header)
        || IDENTITY_HEADERS.contains(&secret_header.as_str())
        || claim_headers.iter().any(|(_, h)| *h == secret_header)
    {
        return Err(invalid(
            names::ORIGIN_SHARED_SECRET_HEADER,
            format!("{secret_header:?} is reserved or already set by the gateway"),
        ));
    }
    let shared_secret = match s.optional(names::ORIGIN_SHARED_SECRET) {
        None => None,
        Some(secret) if secret.len() < 16 || !secret.bytes().all(|b| (0x21..0x7f).contains(&b)) => {
            return Err(invalid(
                names::ORIGIN_SHARED_SECRET,
                "must be at least 16 visible ASCII characters",
            ))
        }
        Some(secret) => Some((secret_header, secret)),
    };
    Ok(ProxySettings {
        origin,
        base_path,
        claim_headers,
        forward_credentials: s.flag(names::FORWARD_CREDENTIALS)?,
        shared_secret,
        service,
    })
}

/// Parses `CLAIM_HEADERS`: a JSON object from claim name to header name.
fn claim_headers(json: &str) -> Result<Vec<(String, String)>, String> {
    // Strict, as for ROUTES: with a claim named twice, which header it goes to would be a guess.
    let Ok(Value::Object(map)) = parse_strict(json.as_bytes()) else {
        return Err("must be a JSON object of claim name to header name".into());
    };
    let mut out: Vec<(String, String)> = Vec::new();
    for (claim, header) in map {
        let header = header
            .as_str()
            .ok_or_else(|| format!("the header name for claim {claim:?} must be a string"))?;
        let name = header_name(header).ok_or_else(|| {
            format!("{header:?} is not a valid header name (letters, digits and -)")
        })?;
        if is_reserved(&name) {
            return Err(format!("{header:?} is reserved and cannot carry a claim"));
        }
        if out.iter().any(|(_, h)| *h == name) || IDENTITY_HEADERS.contains(&name.as_str()) {
            return Err(format!("{header:?} is used twice"));
        }
        out.push((claim, name));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::{assert_refused_with_proxy_and_cors, config, BASE};

    #[test]
    fn proxy_settings() {
        let mut vars = BASE.to_vec();
        vars.extend([
            ("ORIGIN_URL", "https://origin.internal/api"),
            ("CLAIM_HEADERS", r#"{"email": "X-Auth-Email"}"#),
            ("ORIGIN_SHARED_SECRET", "0123456789abcdef-secret"),
            ("FORWARD_CREDENTIALS", "true"),
        ]);
        let c = config(&vars).unwrap();
        let proxy = c.proxy.unwrap();
        assert_eq!(
            (proxy.origin.as_str(), proxy.base_path.as_str()),
            ("https://origin.internal", "/api")
        );
        assert!(proxy.forward_credentials);
        assert_eq!(proxy.shared_secret.unwrap().0, "x-gateway-secret");

        for (name, bad) in [
            ("ORIGIN_URL", "http://origin.internal"),
            ("CLAIM_HEADERS", "{"),
            ("FORWARD_CREDENTIALS", "1"),
        ] {
            assert_refused_with_proxy_and_cors(name, bad);
        }
        let mut vars = BASE.to_vec();
        vars.extend([
            ("ORIGIN_URL", "https://o.internal"),
            ("ORIGIN_SHARED_SECRET", "short"),
        ]);
        let e = config(&vars).unwrap_err();
        assert_eq!(e.setting, "ORIGIN_SHARED_SECRET");
        assert!(!e.to_string().contains("short"));
    }

    #[test]
    fn claim_header_settings_are_validated() {
        for bad in [
            "[]",
            r#"{"email": 5}"#,
            r#"{"email": "X Auth"}"#,
            r#"{"email": "Authorization"}"#,
            r#"{"email": "Transfer-Encoding"}"#,
            r#"{"email": "cf-connecting-ip"}"#,
            r#"{"email": "x-auth-sub"}"#,
            r#"{"a": "x-a", "b": "X-A"}"#,
            r#"{"email": "x-a", "email": "x-b"}"#,
        ] {
            assert!(claim_headers(bad).is_err(), "{bad}");
        }
        assert_eq!(
            claim_headers(r#"{"email": "X-Auth-Email", "org_id": "x-auth-org"}"#).unwrap(),
            [
                ("email".to_owned(), "x-auth-email".to_owned()),
                ("org_id".to_owned(), "x-auth-org".to_owned())
            ]
        );
    }

    #[test]
    fn secret_header_may_not_replace_another_header() {
        for bad in [
            "Authorization",
            "host",
            "Transfer-Encoding",
            "cf-connecting-ip",
            "x-auth-sub",
            "X-Auth-Email",
        ] {
            let mut vars = BASE.to_vec();
            vars.extend([
                ("ORIGIN_URL", "https://origin.internal"),
                ("CLAIM_HEADERS", r#"{"email": "x-auth-email"}"#),
                ("ORIGIN_SHARED_SECRET_HEADER", bad),
            ]);
            let e = config(&vars).unwrap_err();
            assert_eq!(e.setting, "ORIGIN_SHARED_SECRET_HEADER", "{bad}");
            assert!(e
                .to_string()
                .contains("is reserved or already set by the gateway"));
        }
        let mut vars = BASE.to_vec();
        vars.extend([
            ("ORIGIN_URL", "https://origin.internal"),
            ("ORIGIN_SHARED_SECRET", "0123456789abcdef-secret"),
            ("ORIGIN_SHARED_SECRET_HEADER", " X-Origin-Key "),
        ]);
        let proxy = config(&vars).unwrap().proxy.unwrap();
        assert_eq!(proxy.shared_secret.unwrap().0, "x-origin-key");
    }
}
