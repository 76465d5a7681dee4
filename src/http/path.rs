//! Request-path normalisation (README "Routes"): routes are matched, and requests forwarded, on one
//! canonical form, so that `/api/%70rivate` or `/api/./private` cannot slip past a rule meant for
//! `/api/private`. Paths that stay ambiguous after normalising are refused.

use std::borrow::Cow;

/// Why a request path is refused (README "Routes"): it stays ambiguous after normalising.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    NotAbsolute,
    DotDotSegment,
    EmptySegment,
    EncodedSlash,
    EncodedBackslash,
    EncodedControl,
    Backslash,
    Control,
    BadPercentEncoding,
}

impl PathError {
    /// What failed, for the error body, the challenge and the log; it never holds request bytes.
    pub fn description(self) -> &'static str {
        match self {
            Self::NotAbsolute => "the path must start with /",
            Self::DotDotSegment => "the path contains a .. segment",
            Self::EmptySegment => "the path contains an empty segment (//)",
            Self::EncodedSlash => "the path contains an encoded /",
            Self::EncodedBackslash => "the path contains an encoded backslash",
            Self::EncodedControl => "the path contains an encoded control character",
            Self::Backslash => "the path contains a backslash",
            Self::Control => "the path contains a control character",
            Self::BadPercentEncoding => "the path has invalid percent-encoding",
        }
    }
}

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.description())
    }
}

/// Normalises a request path: percent-encoded unreserved characters are decoded (RFC 3986 section 6.2.2.2),
/// other escapes get upper-case hex (section 6.2.2.1), and `.` segments are removed (section 5.2.4).
///
/// Refused: a path not starting with `/`, a `..` segment (also encoded), an empty segment (`//`), an
/// encoded `/` or `\`, a raw `\`, NUL or other control characters, and invalid percent-encoding. A path
/// already in normal form, the common case, is borrowed as it is.
pub fn normalize(raw: &str) -> Result<Cow<'_, str>, PathError> {
    if is_normal(raw.as_bytes()) {
        return Ok(Cow::Borrowed(raw));
    }
    normalize_segments(raw).map(Cow::Owned)
}

/// Whether a path is already its own normal form, the common case, checked in one pass over the bytes:
/// absolute, printable ASCII without `%` or `\`, and no empty (but the last), `.` or `..` segment. Byte
/// patterns rather than slice comparisons, which would call `memcmp` for each segment.
fn is_normal(raw: &[u8]) -> bool {
    let Some((b'/', rest)) = raw.split_first() else {
        return false;
    };
    let mut start = 0;
    for (at, &b) in rest.iter().enumerate() {
        match b {
            b'/' => {
                if matches!(&rest[start..at], [] | [b'.'] | [b'.', b'.']) {
                    return false;
                }
                start = at + 1;
            }
            b'%' | b'\\' => return false,
            b' '..=b'~' => {}
            _ => return false,
        }
    }
    !matches!(&rest[start..], [b'.'] | [b'.', b'.'])
}

/// Normalises segment by segment: decodes escapes, removes `.` segments, refuses the ambiguous.
fn normalize_segments(raw: &str) -> Result<String, PathError> {
    let Some(rest) = raw.strip_prefix('/') else {
        return Err(PathError::NotAbsolute);
    };
    let segments: Vec<&str> = rest.split('/').collect();
    let last = segments.len() - 1;
    let mut out = String::with_capacity(raw.len());
    for (i, segment) in segments.iter().enumerate() {
        let decoded = decode_segment(segment)?;
        match decoded.as_str() {
            "." => {
                // A trailing `.` keeps the directory form: `/a/.` is `/a/`.
                if i == last {
                    out.push('/');
                }
            }
            ".." => return Err(PathError::DotDotSegment),
            "" if i != last => return Err(PathError::EmptySegment),
            _ => {
                out.push('/');
                out.push_str(&decoded);
            }
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

fn decode_segment(segment: &str) -> Result<String, PathError> {
    let bytes = segment.as_bytes();
    let mut out = String::with_capacity(segment.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .ok_or(PathError::BadPercentEncoding)?;
                let value = hex_value(hex[0])
                    .zip(hex_value(hex[1]))
                    .map(|(h, l)| h * 16 + l)
                    .ok_or(PathError::BadPercentEncoding)?;
                match value {
                    b'/' => return Err(PathError::EncodedSlash),
                    b'\\' => return Err(PathError::EncodedBackslash),
                    0..=0x1f | 0x7f => return Err(PathError::EncodedControl),
                    v if is_unreserved(v) => out.push(v as char),
                    v => {
                        out.push('%');
                        out.push(HEX[(v >> 4) as usize] as char);
                        out.push(HEX[(v & 15) as usize] as char);
                    }
                }
                i += 3;
            }
            b'\\' => return Err(PathError::Backslash),
            b if b < 0x20 || b == 0x7f => return Err(PathError::Control),
            _ => {
                // Copy the run up to the next escape as is (it is valid UTF-8: it came from a &str).
                let end = segment[i..]
                    .find(['%', '\\'])
                    .map_or(segment.len(), |n| i + n);
                let run = &segment[i..end];
                if run.chars().any(char::is_control) {
                    return Err(PathError::Control);
                }
                out.push_str(run);
                i = end;
            }
        }
    }
    Ok(out)
}

/// Splits an absolute request URL, as the runtime gives it (`scheme://authority/path?query#fragment`),
/// into its path (at least `/`) and query; the fragment is dropped. No URL library is needed for this,
/// which keeps the `url` crate and its Unicode tables out of the worker.
pub fn split_url(url: &str) -> (&str, Option<&str>) {
    // One pass over the bytes, compared one by one (a slice comparison would call `memcmp` for each):
    // every delimiter is ASCII, so each index is a char boundary.
    let bytes = url.as_bytes();
    let after_scheme = bytes
        .windows(3)
        .position(|w| matches!(w, [b':', b'/', b'/']))
        .map_or(0, |at| at + 3);
    let mut path_at = None;
    for (at, &b) in bytes.iter().enumerate().skip(after_scheme) {
        match b {
            b'/' if path_at.is_none() => path_at = Some(at),
            b'?' => {
                let query = &url[at + 1..];
                let query = query.find('#').map_or(query, |end| &query[..end]);
                return (path_between(url, path_at, at), Some(query));
            }
            b'#' => return (path_between(url, path_at, at), None),
            _ => {}
        }
    }
    (path_between(url, path_at, url.len()), None)
}

/// The path from its first `/` to `end`, or `/` when the URL has none before it.
fn path_between(url: &str, start: Option<usize>, end: usize) -> &str {
    start.map_or("/", |start| &url[start..end])
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn normalisation_table() {
        for (raw, normal) in [
            ("/", "/"),
            ("/api/private", "/api/private"),
            ("/api/private/", "/api/private/"),
            ("/api/%70rivate", "/api/private"),
            ("/api/%7e%41", "/api/~A"),
            ("/api/./private", "/api/private"),
            ("/./api/private/.", "/api/private/"),
            ("/api/%2e/private", "/api/private"),
            ("/a%20b", "/a%20b"),
            ("/a%c3%a9", "/a%C3%A9"),
            ("/é", "/é"),
            ("/a:b@c!$&'()*+,;=", "/a:b@c!$&'()*+,;="),
        ] {
            assert_eq!(normalize(raw).as_deref(), Ok(normal), "{raw}");
        }
    }

    #[test]
    fn urls_split_into_path_and_query() {
        assert_eq!(
            split_url("https://a.example/x/y?q=1&r#f"),
            ("/x/y", Some("q=1&r"))
        );
        assert_eq!(
            split_url("http://127.0.0.1:8787/api/private"),
            ("/api/private", None)
        );
        assert_eq!(split_url("https://a.example"), ("/", None));
        assert_eq!(split_url("https://a.example?x"), ("/", Some("x")));
        assert_eq!(split_url("https://a.example/p?"), ("/p", Some("")));
        assert_eq!(split_url("https://a.example/p#f?not-a-query"), ("/p", None));
    }

    #[test]
    fn ambiguous_paths_are_refused() {
        for raw in [
            "",
            "api",
            "/api/../admin",
            "/api/%2e%2e/admin",
            "/api/.%2E/admin",
            "/..",
            "/api//private",
            "//api",
            "/api/a%2fb",
            "/api/a%2Fb",
            "/api/a%5cb",
            "/api\\admin",
            "/api/%00",
            "/api/\0",
            "/api/\n",
            "/api/%0a",
            "/api/%",
            "/api/%4",
            "/api/%zz",
            "/api/%C3%",
        ] {
            assert!(normalize(raw).is_err(), "{raw:?} should be refused");
        }
    }

    proptest! {
        #[test]
        fn never_panics(raw in ".{0,64}") {
            let _ = normalize(&raw);
        }

        // The one-pass check for a path already normal agrees with normalising segment by segment.
        #[test]
        fn normal_paths_are_recognised(raw in "(/([a-zA-Z.%\\\\ \x7f\u{e9}]|%[0-9a-fA-F]{2}){0,4}){0,5}") {
            let fast = is_normal(raw.as_bytes());
            let slow = normalize_segments(&raw);
            if fast {
                prop_assert_eq!(slow, Ok(raw.clone()));
            }
            // Borrowed exactly when the path is already normal.
            prop_assert_eq!(matches!(normalize(&raw), Ok(Cow::Borrowed(_))), fast);
            prop_assert_eq!(normalize(&raw).map(Cow::into_owned), normalize_segments(&raw));
        }

        #[test]
        fn split_url_finds_the_first_delimiters(
            scheme in "(https?://)?", authority in "[a-z0-9.:@]{0,12}", path in "(/[a-z/:?#]{0,6}){0,3}",
        ) {
            let url = format!("{scheme}{authority}{path}");
            let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
            let rest = rest.split('#').next().unwrap_or("");
            let (before, query) = rest.split_once('?').map_or((rest, None), |(b, q)| (b, Some(q)));
            let expected = (before.find('/').map_or("/", |at| &before[at..]), query);
            prop_assert_eq!(split_url(&url), expected);
        }

        #[test]
        fn normal_forms_are_fixed_points(raw in "(/([a-zA-Z0-9._~-]|%[0-9a-fA-F]{2}){0,6}){1,5}") {
            if let Ok(normal) = normalize(&raw) {
                prop_assert_eq!(normalize(&normal), Ok(normal.clone()));
                prop_assert!(!normal.contains("//"));
                prop_assert!(!normal.split('/').any(|s| s == ".." || s == "."));
            }
        }
    }
}
