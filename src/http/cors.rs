//! CORS (Fetch standard, "CORS protocol"): preflights from allowed origins are answered at the edge
//! without a token; responses to allowed origins expose the challenge and nonce headers; other origins
//! get no CORS headers at all.

use super::authority::{split_authority, split_scheme};
use super::header::header_name;

/// The validated CORS settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsPolicy {
    /// Exact origins (`scheme://host[:port]`, lower-case), or `None` for any origin (`*`).
    origins: Option<Vec<String>>,
    methods: String,
    headers: String,
    max_age: u64,
}

/// Response headers exposed to scripts: the challenge and the DPoP nonce.
const EXPOSED: &str = "WWW-Authenticate, DPoP-Nonce";

impl CorsPolicy {
    /// Parses the settings: origins comma-separated (`*` for any), methods and headers comma-separated.
    pub fn parse(
        origins: &str,
        methods: Option<&str>,
        headers: Option<&str>,
        max_age: u64,
    ) -> Result<Self, (&'static str, String)> {
        let origins = if origins.trim() == "*" {
            None
        } else {
            let mut list = Vec::new();
            for origin in origins.split(',').map(str::trim).filter(|o| !o.is_empty()) {
                let lower = origin.to_ascii_lowercase();
                // An origin is a scheme and an authority, with nothing after (Fetch standard, "origin").
                let valid = split_scheme(&lower).is_some_and(|(_, rest)| {
                    let (authority, after) = split_authority(rest);
                    after.is_empty() && !authority.is_empty() && !authority.contains(['@', ' '])
                });
                if !valid {
                    return Err((
                        "CORS_ALLOWED_ORIGINS",
                        format!("{origin:?} is not an origin such as https://app.example.com (no path or trailing /)"),
                    ));
                }
                list.push(lower);
            }
            Some(list)
        };
        let methods = list_setting(
            methods.unwrap_or("GET, HEAD, POST, PUT, PATCH, DELETE"),
            str::to_ascii_uppercase,
            |m| ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"].contains(&m),
        )
        .map_err(|bad| ("CORS_ALLOWED_METHODS", format!("{bad:?} is not a method")))?;
        let headers = list_setting(
            headers.unwrap_or("Authorization, DPoP, Content-Type"),
            str::to_owned,
            |h| header_name(h).is_some(),
        )
        .map_err(|bad| {
            (
                "CORS_ALLOWED_HEADERS",
                format!("{bad:?} is not a header name"),
            )
        })?;
        Ok(Self {
            origins,
            methods,
            headers,
            max_age,
        })
    }

    /// Whether `origin` is one of the allowed origins (any, with `*`).
    pub fn allows(&self, origin: &str) -> bool {
        match &self.origins {
            None => true,
            Some(list) => list.iter().any(|o| o.eq_ignore_ascii_case(origin)),
        }
    }

    /// Headers answering a preflight from `origin`, or `None` when the origin is not allowed.
    pub fn preflight(&self, origin: &str) -> Option<Vec<(&'static str, String)>> {
        if !self.allows(origin) {
            return None;
        }
        Some(vec![
            ("access-control-allow-origin", origin.to_owned()),
            ("access-control-allow-methods", self.methods.clone()),
            ("access-control-allow-headers", self.headers.clone()),
            ("access-control-max-age", self.max_age.to_string()),
            ("vary", "Origin".to_owned()),
        ])
    }

    /// Headers for an actual response to `origin`, or `None` when the origin is not allowed.
    pub fn response(&self, origin: &str) -> Option<Vec<(&'static str, String)>> {
        if !self.allows(origin) {
            return None;
        }
        Some(vec![
            ("access-control-allow-origin", origin.to_owned()),
            ("access-control-expose-headers", EXPOSED.to_owned()),
            ("vary", "Origin".to_owned()),
        ])
    }
}

/// Normalises a comma-separated list, checking each item; `Err` carries the first bad item.
fn list_setting(
    value: &str,
    normalize: impl Fn(&str) -> String,
    valid: impl Fn(&str) -> bool,
) -> Result<String, String> {
    let mut items = Vec::new();
    for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let item = normalize(item);
        if !valid(&item) {
            return Err(item);
        }
        items.push(item);
    }
    if items.is_empty() {
        return Err(String::new());
    }
    Ok(items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header<'a>(h: &'a [(&'static str, String)], name: &str) -> Option<&'a str> {
        h.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn allowed_origins_get_headers_others_nothing() {
        let cors = CorsPolicy::parse(
            "https://app.example.com, http://localhost:3000",
            None,
            None,
            600,
        )
        .unwrap();
        let pre = cors.preflight("https://app.example.com").unwrap();
        assert_eq!(
            header(&pre, "access-control-allow-origin"),
            Some("https://app.example.com")
        );
        assert_eq!(
            header(&pre, "access-control-allow-headers"),
            Some("Authorization, DPoP, Content-Type")
        );
        assert_eq!(
            header(&pre, "access-control-allow-methods"),
            Some("GET, HEAD, POST, PUT, PATCH, DELETE")
        );
        assert_eq!(header(&pre, "access-control-max-age"), Some("600"));
        assert!(cors.preflight("https://evil.example.com").is_none());
        assert!(cors.response("https://app.example.com.evil.com").is_none());
        let resp = cors.response("http://localhost:3000").unwrap();
        assert_eq!(
            header(&resp, "access-control-expose-headers"),
            Some("WWW-Authenticate, DPoP-Nonce")
        );
        assert_eq!(header(&resp, "vary"), Some("Origin"));
    }

    #[test]
    fn any_origin_echoes_the_origin() {
        let cors =
            CorsPolicy::parse("*", Some("get, post"), Some("Authorization, DPoP"), 60).unwrap();
        let pre = cors.preflight("https://x.example").unwrap();
        assert_eq!(
            header(&pre, "access-control-allow-origin"),
            Some("https://x.example")
        );
        assert_eq!(
            header(&pre, "access-control-allow-methods"),
            Some("GET, POST")
        );
    }

    #[test]
    fn bad_settings_are_named() {
        assert_eq!(
            CorsPolicy::parse("app.example.com", None, None, 0)
                .unwrap_err()
                .0,
            "CORS_ALLOWED_ORIGINS"
        );
        assert_eq!(
            CorsPolicy::parse("https://a.com/", None, None, 0)
                .unwrap_err()
                .0,
            "CORS_ALLOWED_ORIGINS"
        );
        assert_eq!(
            CorsPolicy::parse("https://a.com", Some("FETCH"), None, 0)
                .unwrap_err()
                .0,
            "CORS_ALLOWED_METHODS"
        );
        assert_eq!(
            CorsPolicy::parse("https://a.com", None, Some("X Y"), 0)
                .unwrap_err()
                .0,
            "CORS_ALLOWED_HEADERS"
        );
    }

    #[test]
    fn origins_are_scheme_and_authority_only() {
        let cors = CorsPolicy::parse(
            "HTTPS://App.Example.com:8443, http://[::1]:3000",
            None,
            None,
            0,
        )
        .unwrap();
        assert!(cors.response("https://app.example.com:8443").is_some());
        assert!(cors.response("http://[::1]:3000").is_some());
        for bad in [
            "https://",
            "ftp://a.com",
            "//a.com",
            "https://a.com?x",
            "https://a.com#f",
            "https://a.com/p",
            "https://u@a.com",
            "https://a .com",
        ] {
            assert!(CorsPolicy::parse(bad, None, None, 0).is_err(), "{bad}");
        }
    }
}
