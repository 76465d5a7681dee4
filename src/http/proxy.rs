//! Proxy mode (README "Features", Proxy mode): where an authorised request goes and which headers it carries.
//! The Workers adapter streams the body; everything decided about headers is decided here.
//!
//! Identity headers are trusted by the origin, so every client-sent copy of any header the gateway may
//! set is removed first, whatever its case, and also when spelled with `_` for `-` (CGI and WSGI servers
//! treat the two alike).

use serde_json::{Map, Value};

use super::authority::{
    has_authority_chars, is_loopback, split_authority, split_host_port, split_scheme, Scheme,
};
use super::header::{header_value, HOP_BY_HOP};

/// What the origin is told about a verified caller.
#[derive(Debug, Clone, Copy)]
pub struct OriginIdentity<'a> {
    pub sub: Option<&'a str>,
    /// Granted scopes.
    pub scopes: &'a [String],
    /// Every claim of the token, for `CLAIM_HEADERS`.
    pub claims: &'a Map<String, Value>,
}

/// Header carrying the token's `sub`.
pub const SUB_HEADER: &str = "x-auth-sub";
/// Header carrying the granted scopes, space-separated.
pub const SCOPES_HEADER: &str = "x-auth-scopes";
/// Header carrying the issuer that verified the token.
pub const ISSUER_HEADER: &str = "x-auth-issuer";

/// Every header the gateway sets from the verified identity.
pub(crate) const IDENTITY_HEADERS: [&str; 3] = [SUB_HEADER, SCOPES_HEADER, ISSUER_HEADER];

/// The validated proxy settings.
#[derive(Debug, Clone)]
pub struct ProxySettings {
    /// `scheme://host[:port]` of the origin.
    pub origin: String,
    /// Path prefix of `ORIGIN_URL` without a trailing `/` (empty for none).
    pub base_path: String,
    /// Extra claims to send, as (claim name, lower-case header name).
    pub claim_headers: Vec<(String, String)>,
    /// Whether `Authorization` and `DPoP` reach the origin.
    pub forward_credentials: bool,
    /// A header that proves to the origin that the request came through the gateway.
    pub shared_secret: Option<(String, String)>,
}

impl ProxySettings {
    /// Parses `ORIGIN_URL`: an https URL (http only for a loopback host), optionally with a base path,
    /// without query, fragment or credentials.
    pub fn parse_origin(url: &str) -> Result<(String, String), String> {
        let (scheme, rest) =
            split_scheme(url.trim()).ok_or_else(|| String::from("must be an https:// URL"))?;
        if rest.contains(['?', '#', '@', '\\'])
            || rest.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err("must not have a query, fragment, credentials or spaces".into());
        }
        let (authority, path) = split_authority(rest);
        let authority = authority.to_ascii_lowercase();
        // Only its characters are checked, not the issuer's host and port rules, so that values accepted
        // so far (a fully qualified `origin.internal.`, say) stay accepted.
        let host = match split_host_port(&authority) {
            Some((host, _)) if !host.is_empty() && has_authority_chars(&authority) => host,
            _ => return Err("must name a host".into()),
        };
        if scheme == Scheme::Http && !is_loopback(host) {
            return Err("uses http://, which is accepted only for a loopback host".into());
        }
        let base_path = path.trim_end_matches('/');
        if base_path.contains("/../") || base_path.ends_with("/..") || base_path.contains("//") {
            return Err("has an invalid path".into());
        }
        Ok((format!("{scheme}://{authority}"), base_path.to_owned()))
    }

    /// The origin URL for a request: origin, base path, the normalised path that was matched, the query.
    pub fn target_url(&self, path: &str, query: Option<&str>) -> String {
        let mut url = format!("{}{}{}", self.origin, self.base_path, path);
        if let Some(query) = query.filter(|q| !q.is_empty()) {
            url.push('?');
            url.push_str(query);
        }
        url
    }

    /// Every header name the gateway may set, lower-case.
    fn gateway_headers(&self) -> impl Iterator<Item = &str> {
        IDENTITY_HEADERS
            .into_iter()
            .chain(self.claim_headers.iter().map(|(_, h)| h.as_str()))
            .chain(self.shared_secret.iter().map(|(h, _)| h.as_str()))
    }

    /// The headers to send to the origin: the client's, less hop-by-hop headers, credentials (unless
    /// forwarded) and any copy of a gateway header; then the verified identity and the shared secret.
    pub fn forward_headers(
        &self,
        incoming: &[(String, String)],
        identity: Option<OriginIdentity<'_>>,
    ) -> Vec<(String, String)> {
        let connection_listed: Vec<String> = incoming
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
            .flat_map(|(_, v)| v.split(',').map(|t| t.trim().to_ascii_lowercase()))
            .collect();
        let mut out: Vec<(String, String)> = incoming
            .iter()
            .filter(|(name, _)| {
                let lower = name.to_ascii_lowercase();
                let spelled = lower.replace('_', "-");
                !HOP_BY_HOP.contains(&lower.as_str())
                    && !connection_listed.contains(&lower)
                    && (self.forward_credentials || (lower != "authorization" && lower != "dpop"))
                    && !self.gateway_headers().any(|g| g == spelled)
            })
            .cloned()
            .collect();
        if let Some(identity) = identity {
            if let Some(sub) = identity.sub {
                out.push((SUB_HEADER.into(), header_value(sub)));
            }
            out.push((
                SCOPES_HEADER.into(),
                header_value(&identity.scopes.join(" ")),
            ));
            if let Some(Value::String(iss)) = identity.claims.get("iss") {
                out.push((ISSUER_HEADER.into(), header_value(iss)));
            }
            for (claim, header) in &self.claim_headers {
                // Strings as they are; numbers, booleans, arrays and objects as compact JSON, so an
                // array of roles stays unambiguous (README "Proxy mode").
                let value = match identity.claims.get(claim) {
                    None | Some(Value::Null) => continue,
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                };
                out.push((header.clone(), header_value(&value)));
            }
        }
        if let Some((name, value)) = &self.shared_secret {
            out.push((name.clone(), value.clone()));
        }
        out
    }
}

/// Why an authorised request could not be forwarded (502).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginError {
    /// A header the client sent cannot be set on the outgoing request.
    InvalidHeader,
    /// The target URL could not be built into a request.
    InvalidUrl,
    /// The origin did not answer.
    Unreachable,
}

impl OriginError {
    pub fn description(self) -> &'static str {
        match self {
            Self::InvalidHeader => "a forwarded header is invalid",
            Self::InvalidUrl => "the origin URL is invalid",
            Self::Unreachable => "the origin is unreachable",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings() -> ProxySettings {
        ProxySettings {
            origin: "https://origin.internal".into(),
            base_path: "/v1".into(),
            claim_headers: vec![
                ("email".into(), "x-auth-email".into()),
                ("org_id".into(), "x-auth-org".into()),
                ("https://example.com/roles".into(), "x-auth-roles".into()),
                ("meta".into(), "x-auth-meta".into()),
            ],
            forward_credentials: false,
            shared_secret: Some(("x-gateway-secret".into(), "s3cret".into())),
        }
    }

    fn claims() -> Map<String, Value> {
        let all = json!({
            "iss": "https://tenant.auth0.com/", "sub": "auth0|alice", "email": "alicé@example.com",
            "org_id": 42, "scope": "read:messages", "https://example.com/roles": ["admin", "ops é"],
            "meta": {"tier": "gold", "n": 1},
        });
        all.as_object().unwrap().clone()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn get<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
        headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    #[test]
    fn origin_urls() {
        assert_eq!(
            ProxySettings::parse_origin("https://api.internal").unwrap(),
            ("https://api.internal".into(), "".into())
        );
        assert_eq!(
            ProxySettings::parse_origin("HTTPS://API.internal:8443/base/").unwrap(),
            ("https://api.internal:8443".into(), "/base".into())
        );
        assert_eq!(
            ProxySettings::parse_origin("http://127.0.0.1:9000").unwrap(),
            ("http://127.0.0.1:9000".into(), "".into())
        );
        for bad in [
            "api.internal",
            "http://api.internal",
            "https://a/?q",
            "https://u@a",
            "https://",
            "ftp://a",
            "https://a/b/../c",
            "https://[::1",
            "http://[::1",
            "https://[::1]x",
        ] {
            assert!(ProxySettings::parse_origin(bad).is_err(), "{bad}");
        }
        assert_eq!(
            settings().target_url("/api/x", Some("a=1&b=2")),
            "https://origin.internal/v1/api/x?a=1&b=2"
        );
        assert_eq!(
            settings().target_url("/", None),
            "https://origin.internal/v1/"
        );
    }

    #[test]
    fn spoofed_identity_headers_never_reach_the_origin() {
        let incoming = pairs(&[
            ("X-Auth-Sub", "admin"),
            ("x-auth-scopes", "admin:all"),
            ("X_AUTH_SUB", "admin"),
            ("x_Auth-Scopes", "admin:all"),
            ("X-Auth-Email", "admin@corp"),
            ("x-auth-issuer", "https://evil/"),
            ("X-Gateway-Secret", "guess"),
            ("Accept", "application/json"),
        ]);
        let claims = claims();
        let scopes = ["read:messages".to_owned(), "write:messages".to_owned()];
        let identity = OriginIdentity {
            sub: Some("auth0|alice"),
            scopes: &scopes,
            claims: &claims,
        };
        let out = settings().forward_headers(&incoming, Some(identity));
        assert_eq!(get(&out, "x-auth-sub"), ["auth0|alice"]);
        assert!(get(&out, "x_auth_sub").is_empty());
        assert_eq!(get(&out, "x-auth-scopes"), ["read:messages write:messages"]);
        assert!(get(&out, "x_auth-scopes").is_empty());
        assert_eq!(get(&out, "x-auth-email"), ["alic%C3%A9@example.com"]);
        assert_eq!(get(&out, "x-auth-org"), ["42"]);
        assert_eq!(get(&out, "x-auth-roles"), [r#"["admin","ops %C3%A9"]"#]);
        assert_eq!(get(&out, "x-auth-meta"), [r#"{"n":1,"tier":"gold"}"#]);
        assert_eq!(get(&out, "x-auth-issuer"), ["https://tenant.auth0.com/"]);
        assert_eq!(get(&out, "x-gateway-secret"), ["s3cret"]);
        assert_eq!(get(&out, "accept"), ["application/json"]);
        // On a public route the copies are still removed, and nothing is added but the secret.
        let out = settings().forward_headers(&incoming, None);
        assert!(get(&out, "x-auth-sub").is_empty() && get(&out, "x-auth-email").is_empty());
        assert_eq!(get(&out, "x-gateway-secret"), ["s3cret"]);
    }

    #[test]
    fn hop_by_hop_and_credentials() {
        let incoming = pairs(&[
            ("Connection", "keep-alive, X-Custom-Hop"),
            ("Keep-Alive", "timeout=5"),
            ("Transfer-Encoding", "chunked"),
            ("Upgrade", "websocket"),
            ("X-Custom-Hop", "1"),
            ("Authorization", "Bearer t"),
            ("DPoP", "proof"),
            ("Content-Type", "application/json"),
        ]);
        let out = settings().forward_headers(&incoming, None);
        let names: Vec<&str> = out.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["Content-Type", "x-gateway-secret"]);
        let forwarding = ProxySettings {
            forward_credentials: true,
            ..settings()
        };
        let out = forwarding.forward_headers(&incoming, None);
        assert_eq!(get(&out, "authorization"), ["Bearer t"]);
        assert_eq!(get(&out, "dpop"), ["proof"]);
    }
}
