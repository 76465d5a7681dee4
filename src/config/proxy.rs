//! Proxy mode (`ORIGIN_URL` and what the origin is sent), read only when `ORIGIN_URL` is set.

use super::settings::Settings;
use super::{invalid, names, ConfigError};
use crate::http::proxy::ProxySettings;

pub(super) fn proxy(s: &Settings) -> Result<Option<ProxySettings>, ConfigError> {
    let Some(url) = s.optional(names::ORIGIN_URL) else {
        return Ok(None);
    };
    let (origin, base_path) =
        ProxySettings::parse_origin(&url).map_err(|reason| invalid(names::ORIGIN_URL, reason))?;
    let claim_headers = match s.optional(names::CLAIM_HEADERS) {
        None => Vec::new(),
        Some(json) => ProxySettings::parse_claim_headers(&json)
            .map_err(|reason| invalid(names::CLAIM_HEADERS, reason))?,
    };
    let secret_header = s
        .optional(names::ORIGIN_SHARED_SECRET_HEADER)
        .unwrap_or_else(|| "x-gateway-secret".into())
        .trim()
        .to_ascii_lowercase();
    if !secret_header
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(invalid(
            names::ORIGIN_SHARED_SECRET_HEADER,
            "must be a header name",
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
    Ok(Some(ProxySettings {
        origin,
        base_path,
        claim_headers,
        forward_credentials: s.flag(names::FORWARD_CREDENTIALS)?,
        shared_secret,
    }))
}

#[cfg(test)]
mod tests {
    use crate::config::tests::{config, BASE};

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
            let mut vars = BASE.to_vec();
            vars.extend([
                ("ORIGIN_URL", "https://origin.internal"),
                ("CORS_ALLOWED_ORIGINS", "*"),
            ]);
            vars.retain(|(n, _)| *n != name);
            vars.push((name, bad));
            assert_eq!(config(&vars).unwrap_err().setting, name, "{name}={bad}");
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
}
