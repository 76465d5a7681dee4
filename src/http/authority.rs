//! Absolute http(s) URLs and their authorities (RFC 3986 section 3), split the same way wherever the
//! gateway reads one: the issuer, `ORIGIN_URL`, a discovery document's `jwks_uri`, CORS origins and the
//! DPoP `htu`. The scheme, the authority/path split, the host/port split, the host and port rules and
//! the loopback rule are here; how much of them a caller requires is the caller's (the issuer checks its
//! host and port fully, a `jwks_uri` from the IdP only needs an authority).

use std::fmt;

/// `http` or `https`, the only schemes the gateway reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    fn default_port(self) -> &'static str {
        match self {
            Scheme::Http => "80",
            Scheme::Https => "443",
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Splits `http://` or `https://`, in any case, off the front of `url`; `None` for any other start.
pub(crate) fn split_scheme(url: &str) -> Option<(Scheme, &str)> {
    [(Scheme::Https, "https://"), (Scheme::Http, "http://")]
        .into_iter()
        .find_map(|(scheme, prefix)| {
            url.get(..prefix.len())
                .filter(|start| start.eq_ignore_ascii_case(prefix))
                .map(|_| (scheme, &url[prefix.len()..]))
        })
}

/// Splits what follows `scheme://` into the authority and the rest (path, query and fragment), at the
/// first `/`, `?` or `#` (RFC 3986 section 3.2).
pub(crate) fn split_authority(rest: &str) -> (&str, &str) {
    rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()))
}

/// Splits an authority into its host and port text, neither checked: `[...]` followed by nothing or
/// `:port`, or else at the first `:`. `None` when a `[` is not closed or something else follows the `]`.
pub(crate) fn split_host_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if authority.starts_with('[') {
        let (host, after) = authority.split_at(authority.find(']')? + 1);
        match after {
            "" => Some((host, None)),
            _ => Some((host, Some(after.strip_prefix(':')?))),
        }
    } else {
        Some(match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        })
    }
}

/// The hosts plain http is accepted for, for local development: `localhost`, `127.0.0.1` and `[::1]`
/// (lower-case).
pub(crate) fn is_loopback(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "[::1]")
}

/// Whether `text` has only the characters of a `host[:port]`: letters, digits, `.`, `-`, `:`, `[`, `]`.
pub(crate) fn has_authority_chars(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
}

/// A checked `host[:port]`: a DNS name (labels of 1 to 63 letters, digits and `-`, not starting or ending
/// with `-`; 253 characters at most; an IPv4 address passes as one) or a bracketed IPv6 literal, and a
/// port from 1 to 65535.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Authority<'a> {
    pub(crate) host: &'a str,
    pub(crate) port: Option<u16>,
}

impl<'a> Authority<'a> {
    /// Parses `host[:port]`, as given (no case folding); `None` when either part is malformed.
    pub(crate) fn parse(text: &'a str) -> Option<Self> {
        let (host, port) = split_host_port(text)?;
        if !is_host(host) {
            return None;
        }
        let port = match port {
            None => None,
            Some(port) => Some(parse_port(port)?),
        };
        Some(Self { host, port })
    }
}

impl fmt::Display for Authority<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}", self.host),
            None => f.write_str(self.host),
        }
    }
}

fn is_host(host: &str) -> bool {
    match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        // Characters of an IPv6 address (RFC 4291 section 2.2), including an embedded IPv4 one.
        Some(literal) => {
            !literal.is_empty()
                && literal
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        }
        None => {
            let label_ok = |l: &str| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            };
            host.len() <= 253 && host.split('.').all(label_ok)
        }
    }
}

/// A port: 1 to 5 digits, from 1 to 65535.
fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|&port| port != 0)
}

/// An absolute http(s) URL in the form DPoP compares `htu` in (RFC 9449 section 4.3 step 9, RFC 3986
/// section 6.2.3): scheme and host lower-cased, the default port dropped, query and fragment removed, an
/// empty path made `/`; the path is kept as is. `None` for anything but an absolute http(s) URL with a
/// host, no credentials, a numeric port if any, and no spaces or controls.
pub(crate) fn normalize_http_url(url: &str) -> Option<String> {
    if url.chars().any(|c| c.is_ascii_control() || c == ' ') {
        return None;
    }
    let (scheme, rest) = split_scheme(url)?;
    let (authority, rest) = split_authority(rest);
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let authority = authority.to_ascii_lowercase();
    let (host, port) = split_host_port(&authority)?;
    if host.is_empty() || port.is_some_and(|p| !p.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    let path = rest.split(['?', '#']).next().unwrap_or("");
    let path = if path.is_empty() { "/" } else { path };
    Some(match port {
        Some(port) if !port.is_empty() && port != scheme.default_port() => {
            format!("{scheme}://{host}:{port}{path}")
        }
        _ => format!("{scheme}://{host}{path}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_in_any_case() {
        assert_eq!(split_scheme("https://a/b"), Some((Scheme::Https, "a/b")));
        assert_eq!(split_scheme("HTTP://a"), Some((Scheme::Http, "a")));
        assert_eq!(split_scheme("hTtPs://"), Some((Scheme::Https, "")));
        for bad in ["ftp://a", "https:/a", "//a", "a", "", "httpé://a", "https:"] {
            assert_eq!(split_scheme(bad), None, "{bad}");
        }
    }

    #[test]
    fn authority_ends_at_path_query_or_fragment() {
        assert_eq!(split_authority("a:1/p?q#f"), ("a:1", "/p?q#f"));
        assert_eq!(split_authority("a?q/x"), ("a", "?q/x"));
        assert_eq!(split_authority("a#f"), ("a", "#f"));
        assert_eq!(split_authority("a"), ("a", ""));
        assert_eq!(split_authority("/p"), ("", "/p"));
    }

    #[test]
    fn host_and_port_text() {
        assert_eq!(split_host_port("a.b"), Some(("a.b", None)));
        assert_eq!(split_host_port("a.b:80"), Some(("a.b", Some("80"))));
        assert_eq!(split_host_port("a:"), Some(("a", Some(""))));
        assert_eq!(split_host_port("a:1:2"), Some(("a", Some("1:2"))));
        assert_eq!(split_host_port("[::1]"), Some(("[::1]", None)));
        assert_eq!(split_host_port("[::1]:8443"), Some(("[::1]", Some("8443"))));
        assert_eq!(split_host_port("[]"), Some(("[]", None)));
        for bad in ["[", "[::1", "[::1]x", "[::1]8443"] {
            assert_eq!(split_host_port(bad), None, "{bad}");
        }
    }

    #[test]
    fn loopback_hosts() {
        for host in ["localhost", "127.0.0.1", "[::1]"] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "127.0.0.2",
            "localhost.",
            "LOCALHOST",
            "[::1]:80",
            "::1",
            "0.0.0.0",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn checked_authorities() {
        for (text, host, port) in [
            ("tenant.auth0.com", "tenant.auth0.com", None),
            ("a-b.c1:8443", "a-b.c1", Some(8443)),
            ("127.0.0.1:1", "127.0.0.1", Some(1)),
            ("[::1]:65535", "[::1]", Some(65535)),
            ("[2001:db8::7]", "[2001:db8::7]", None),
            ("[::ffff:192.0.2.1]", "[::ffff:192.0.2.1]", None),
            ("x:00080", "x", Some(80)),
        ] {
            assert_eq!(
                Authority::parse(text),
                Some(Authority { host, port }),
                "{text}"
            );
        }
        assert_eq!(Authority::parse("x:00080").unwrap().to_string(), "x:80");
        assert_eq!(Authority::parse("[::1]").unwrap().to_string(), "[::1]");
        let long_label = "a".repeat(64);
        let long_name = [
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(62),
        ]
        .join(".");
        for bad in [
            "",
            ":80",
            "a..b",
            ".a",
            "-a.b",
            "a-.b",
            "a_b",
            "é.example",
            "a b",
            long_label.as_str(),
            long_name.as_str(),
            "a:0",
            "a:65536",
            "a:",
            "a:+80",
            "a:000080",
            "a:1:2",
            "[]",
            "[zz]",
            "[::1",
            "[",
            "[::1]x",
        ] {
            assert_eq!(Authority::parse(bad), None, "{bad}");
        }
        assert!(Authority::parse(&long_name[2..]).is_some());
    }

    #[test]
    fn authority_characters() {
        assert!(has_authority_chars("a-b.c:80"));
        assert!(has_authority_chars("[::1]:80"));
        for bad in ["a_b", "a b", "u@h", "é", "a/b"] {
            assert!(!has_authority_chars(bad), "{bad}");
        }
    }

    // The cases of jose::dpop's normalize_htu tests, which this function is to replace.
    #[test]
    fn normalized_urls() {
        for (a, b) in [
            ("https://api.example.com/a", "https://api.example.com/a"),
            ("HTTPS://API.Example.COM/a", "https://api.example.com/a"),
            ("https://api.example.com:443/a", "https://api.example.com/a"),
            ("http://api.example.com:80/a", "http://api.example.com/a"),
            (
                "https://api.example.com:8443/a",
                "https://api.example.com:8443/a",
            ),
            (
                "https://api.example.com/a?q=1#f",
                "https://api.example.com/a",
            ),
            ("https://api.example.com#f", "https://api.example.com/"),
            ("https://api.example.com", "https://api.example.com/"),
            ("https://api.example.com?x", "https://api.example.com/"),
            ("https://[::1]:443/a", "https://[::1]/a"),
            ("https://[::1]:8443/a", "https://[::1]:8443/a"),
            (
                "http://127.0.0.1:8787/api/private",
                "http://127.0.0.1:8787/api/private",
            ),
        ] {
            assert_eq!(normalize_http_url(a).as_deref(), Some(b), "{a}");
        }
        // The path is compared as is.
        assert_ne!(
            normalize_http_url("https://x/A"),
            normalize_http_url("https://x/a")
        );
        assert_ne!(
            normalize_http_url("https://x/%7e"),
            normalize_http_url("https://x/~")
        );
        for bad in [
            "ftp://x/a",
            "//x/a",
            "https:///a",
            "https://user@x/a",
            "https://x:abc/a",
            "https://x /a",
            "https://::1/a",
            "x",
        ] {
            assert_eq!(normalize_http_url(bad), None, "{bad}");
        }
    }

    #[test]
    fn normalized_url_edges() {
        // An empty port is no port; a non-default one is kept as written.
        assert_eq!(
            normalize_http_url("https://x:/a").as_deref(),
            Some("https://x/a")
        );
        assert_eq!(
            normalize_http_url("https://x:0443/a").as_deref(),
            Some("https://x:0443/a")
        );
        assert_eq!(
            normalize_http_url("http://x:443").as_deref(),
            Some("http://x:443/")
        );
        for bad in ["https://[::1/a", "https://[::1]x/a", "https://x/a\tb"] {
            assert_eq!(normalize_http_url(bad), None, "{bad}");
        }
    }
}
