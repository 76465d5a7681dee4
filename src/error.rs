//! The one error type of the gateway and its mapping to the wire (README "Errors").
//!
//! Every refusal is a [`GatewayError`]; [`GatewayError::render`] is the only place that turns one into a
//! status, a JSON body and headers. Every request-driven refusal carries a typed reason owned by the concept
//! that failed (a [`PathError`], [`CredentialsError`], [`TokenError`], [`ProofError`]...), whose description is
//! a `&'static str`, so a description can never echo request bytes (token fragments, header values) and
//! callers and tests branch on the reason, not on its wording.

use std::borrow::Cow;
use std::fmt;

use crate::http::authorization::{CredentialsError, DpopMode, Scheme};
use crate::http::path::PathError;
use crate::http::proxy::OriginError;
use crate::jose::dpop::ProofError;
use crate::jose::token::TokenError;
use crate::policy::jsonrpc::JsonRpcError;
use crate::policy::ClaimFailure;

/// A refused request or a failure of the gateway itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayError {
    /// A setting is missing or invalid; the text names the setting.
    Configuration(String),
    /// No route rule matches the method and path (README "Routes").
    NotFound,
    /// The request path is unsafe to match or forward (dot segments, encoded slashes, NUL...).
    BadPath(PathError),
    /// No credentials, an empty `Authorization` header, or a scheme this mode does not accept
    /// (RFC 6750 section 3.1: no error code in the challenge).
    Unauthorized(CredentialsError),
    /// A malformed request: an unparseable `Authorization` header, or a `DPoP` header on `Bearer`.
    InvalidRequest(Scheme, CredentialsError),
    /// The access token is malformed, expired, or fails verification (RFC 6750 section 3.1).
    InvalidToken(Scheme, TokenError),
    /// The token fails a claim rule of the route; 401 `invalid_token` naming the claim.
    ClaimRule {
        scheme: Scheme,
        claim: String,
        failure: ClaimFailure,
    },
    /// The DPoP proof is missing, malformed, or fails verification (RFC 9449 section 7.1).
    InvalidDpopProof(ProofError),
    /// The server requires a fresh DPoP nonce (RFC 9449 section 8); the header carries it.
    UseDpopNonce(String),
    /// The token is valid but lacks the scopes the route requires (RFC 6750 section 3.1).
    InsufficientScope {
        scheme: Scheme,
        required: Vec<String>,
    },
    /// No usable keys and the identity provider is unreachable, or a required store is down.
    TemporarilyUnavailable {
        reason: Unavailable,
        /// Seconds, for the `Retry-After` header.
        retry_after: u64,
    },
    /// The origin could not be reached in proxy mode.
    BadGateway(OriginError),
    /// On a protected resource's route, an `Origin` that is not an allowed CORS origin (README "MCP
    /// servers": DNS rebinding).
    ForbiddenOrigin,
    /// A method other than GET or HEAD on a resource metadata document.
    MethodNotAllowed,
    /// A body on a route with JSON-RPC rules is longer than the gateway reads (README "MCP servers").
    PayloadTooLarge,
    /// A body on a route with JSON-RPC rules is no JSON-RPC 2.0 message, or the `Mcp-*` headers disagree
    /// with it.
    InvalidJsonRpc(JsonRpcError),
}

/// Why the gateway cannot decide now; the client may retry (503).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// No usable keys, and the identity provider cannot be reached.
    Keys,
    /// The in-isolate replay store is full of live proofs (or this key used its share).
    ReplayStoreFull,
    /// The shared replay store cannot be reached: fail closed.
    ReplayStoreDown,
}

impl Unavailable {
    pub fn description(self) -> &'static str {
        match self {
            Self::Keys => "the signing keys of the issuer cannot be fetched",
            Self::ReplayStoreFull => "too many DPoP proofs in flight; retry with a new proof",
            Self::ReplayStoreDown => "the DPoP replay store is unavailable",
        }
    }
}

/// A rendered error: what the Workers adapter writes on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorResponse {
    pub status: u16,
    pub code: &'static str,
    pub description: String,
    pub body: String,
    pub headers: Vec<(&'static str, String)>,
}

/// What the challenge depends on besides the error itself.
#[derive(Debug, Clone, Copy)]
pub struct ChallengeContext<'a> {
    pub mode: DpopMode,
    /// Value of the `algs` parameter of the DPoP challenge, e.g. `ES256`.
    pub dpop_algs: &'static str,
    /// On a protected resource's route: what its challenges add (README "MCP servers").
    pub resource: Option<ResourceChallenge<'a>>,
}

/// The parameters a protected resource's route adds to each challenge of a 401 or 403: `resource_metadata`
/// (RFC 9728 section 5.1) and, on a 401, the route's scopes in `scope` (MCP authorization, scope selection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceChallenge<'a> {
    pub metadata_url: &'a str,
    pub scopes: &'a [String],
}

impl GatewayError {
    /// The refusal for credentials that cannot be used: 400 when malformed, else 401 without an error
    /// code. A malformed header always names its scheme.
    pub fn credentials(scheme: Option<Scheme>, reason: CredentialsError) -> Self {
        match scheme {
            Some(scheme) if reason.is_malformed() => Self::InvalidRequest(scheme, reason),
            _ => Self::Unauthorized(reason),
        }
    }

    /// The `error` code of the body (and of the challenge, where there is one).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Configuration(_) => "configuration_error",
            Self::NotFound => "not_found",
            Self::BadPath(_) | Self::InvalidRequest(..) | Self::InvalidJsonRpc(_) => {
                "invalid_request"
            }
            Self::Unauthorized(_) => "unauthorized",
            Self::InvalidToken(..) | Self::ClaimRule { .. } => "invalid_token",
            Self::InvalidDpopProof(_) => "invalid_dpop_proof",
            Self::UseDpopNonce(_) => "use_dpop_nonce",
            Self::InsufficientScope { .. } => "insufficient_scope",
            Self::TemporarilyUnavailable { .. } => "temporarily_unavailable",
            Self::BadGateway(_) => "bad_gateway",
            Self::ForbiddenOrigin => "forbidden_origin",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PayloadTooLarge => "payload_too_large",
        }
    }

    /// HTTP status of the response.
    pub fn status(&self) -> u16 {
        match self {
            Self::Configuration(_) => 500,
            Self::NotFound => 404,
            Self::BadPath(_) | Self::InvalidRequest(..) | Self::InvalidJsonRpc(_) => 400,
            Self::Unauthorized(_)
            | Self::InvalidToken(..)
            | Self::ClaimRule { .. }
            | Self::InvalidDpopProof(_)
            | Self::UseDpopNonce(_) => 401,
            Self::InsufficientScope { .. } | Self::ForbiddenOrigin => 403,
            Self::MethodNotAllowed => 405,
            Self::PayloadTooLarge => 413,
            Self::TemporarilyUnavailable { .. } => 503,
            Self::BadGateway(_) => 502,
        }
    }

    /// Human-readable reason; safe to log and to send (it holds no request bytes).
    pub fn description(&self) -> Cow<'_, str> {
        match self {
            Self::Configuration(text) => Cow::Borrowed(text),
            Self::NotFound => Cow::Borrowed("no route matches this method and path"),
            Self::Unauthorized(reason) | Self::InvalidRequest(_, reason) => {
                Cow::Borrowed(reason.description())
            }
            Self::BadPath(reason) => Cow::Borrowed(reason.description()),
            Self::InvalidToken(_, reason) => Cow::Borrowed(reason.description()),
            Self::ClaimRule { claim, failure, .. } => Cow::Owned(failure.describe(claim)),
            Self::InvalidDpopProof(reason) => Cow::Borrowed(reason.description()),
            Self::BadGateway(reason) => Cow::Borrowed(reason.description()),
            Self::TemporarilyUnavailable { reason, .. } => Cow::Borrowed(reason.description()),
            Self::UseDpopNonce(_) => {
                Cow::Borrowed("DPoP proof must carry the nonce from the DPoP-Nonce header")
            }
            Self::InsufficientScope { required, .. } => {
                Cow::Owned(format!("requires scope: {}", required.join(" ")))
            }
            Self::ForbiddenOrigin => {
                Cow::Borrowed("the Origin header names an origin that is not allowed")
            }
            Self::MethodNotAllowed => Cow::Borrowed("resource metadata is read with GET or HEAD"),
            Self::PayloadTooLarge => Cow::Borrowed("body: longer than 1 MiB"),
            Self::InvalidJsonRpc(reason) => Cow::Borrowed(reason.description()),
        }
    }

    /// Renders the response per README "Errors".
    pub fn render(&self, ctx: ChallengeContext) -> ErrorResponse {
        let description = header_safe(&self.description());
        let code = self.code();
        let body = serde_json::json!({
            "detail": { "error": code, "error_description": description }
        })
        .to_string();
        let mut headers = vec![
            ("content-type", "application/json".to_owned()),
            ("cache-control", "no-store".to_owned()),
        ];
        if let Some(challenge) = self.challenge(ctx, &description) {
            headers.push(("www-authenticate", challenge));
        }
        match self {
            Self::TemporarilyUnavailable { retry_after, .. } => {
                headers.push(("retry-after", retry_after.to_string()));
            }
            Self::UseDpopNonce(nonce) => headers.push(("dpop-nonce", nonce.clone())),
            Self::MethodNotAllowed => headers.push(("allow", "GET, HEAD".to_owned())),
            _ => {}
        }
        ErrorResponse {
            status: self.status(),
            code,
            description,
            body,
            headers,
        }
    }

    fn challenge(&self, ctx: ChallengeContext, description: &str) -> Option<String> {
        let params = match self {
            Self::Unauthorized(_) => Challenge::Plain,
            Self::InvalidRequest(scheme, _) => Challenge::Error(*scheme),
            Self::InvalidToken(scheme, _) | Self::ClaimRule { scheme, .. } => {
                Challenge::Error(*scheme)
            }
            Self::InsufficientScope { scheme, required } => Challenge::Scope(*scheme, required),
            Self::InvalidDpopProof(_) | Self::UseDpopNonce(_) => Challenge::Error(Scheme::Dpop),
            _ => return None,
        };
        let extra = self.resource_params(ctx);
        let bearer = |params: &str| match params {
            "" => format!("Bearer realm=\"api\"{extra}"),
            _ => format!("Bearer realm=\"api\", {params}{extra}"),
        };
        let dpop = |params: &str| match params {
            "" => format!("DPoP algs=\"{}\"{extra}", ctx.dpop_algs),
            _ => format!("DPoP {params}, algs=\"{}\"{extra}", ctx.dpop_algs),
        };
        Some(match params {
            Challenge::Plain => match ctx.mode {
                DpopMode::Allowed => format!("{}, {}", bearer(""), dpop("")),
                DpopMode::Required => dpop(""),
                DpopMode::Disabled => bearer(""),
            },
            Challenge::Error(scheme) => {
                let error = format!(
                    "error=\"{}\", error_description=\"{}\"",
                    self.code(),
                    description
                );
                // A DPoP-scheme error is answered with the DPoP challenge alone (RFC 9449 section 7.1);
                // a Bearer-scheme error with the Bearer challenge, plus the plain DPoP one when allowed.
                match (scheme, ctx.mode) {
                    (_, DpopMode::Disabled) => bearer(&error),
                    (Scheme::Dpop, _) | (Scheme::Bearer, DpopMode::Required) => dpop(&error),
                    (Scheme::Bearer, DpopMode::Allowed) => {
                        format!("{}, {}", bearer(&error), dpop(""))
                    }
                }
            }
            Challenge::Scope(scheme, required) => {
                let scope = header_safe(&required.join(" "));
                let params = format!("error=\"insufficient_scope\", scope=\"{scope}\"");
                match (scheme, ctx.mode) {
                    (Scheme::Dpop, DpopMode::Allowed | DpopMode::Required)
                    | (Scheme::Bearer, DpopMode::Required) => dpop(&params),
                    _ => bearer(&params),
                }
            }
        })
    }

    /// `, resource_metadata="..."` on a 401 or 403 of a resource's route, and `, scope="..."` on a 401
    /// when the route requires scopes (a 403 names them already); empty elsewhere.
    fn resource_params(&self, ctx: ChallengeContext) -> String {
        let Some(resource) = ctx.resource else {
            return String::new();
        };
        let status = self.status();
        if status != 401 && status != 403 {
            return String::new();
        }
        let mut params = format!(", resource_metadata=\"{}\"", resource.metadata_url);
        if status == 401 && !resource.scopes.is_empty() {
            params.push_str(&format!(
                ", scope=\"{}\"",
                header_safe(&resource.scopes.join(" "))
            ));
        }
        params
    }
}

enum Challenge<'e> {
    Plain,
    Error(Scheme),
    Scope(Scheme, &'e [String]),
}

/// Makes text safe inside a quoted header parameter: no CR, LF or other controls, `"` and `\` replaced.
pub fn header_safe(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '"' => '\'',
            '\\' => '/',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect()
}

impl fmt::Display for GatewayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.description())
    }
}

impl std::error::Error for GatewayError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(mode: DpopMode) -> ChallengeContext<'static> {
        ChallengeContext {
            mode,
            dpop_algs: "ES256",
            resource: None,
        }
    }

    fn header<'a>(r: &'a ErrorResponse, name: &str) -> Option<&'a str> {
        r.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn unauthorized_challenge_per_mode() {
        let e = GatewayError::Unauthorized(CredentialsError::Missing);
        let allowed = e.render(ctx(DpopMode::Allowed));
        assert_eq!(allowed.status, 401);
        assert_eq!(
            header(&allowed, "www-authenticate"),
            Some("Bearer realm=\"api\", DPoP algs=\"ES256\"")
        );
        assert_eq!(
            header(&e.render(ctx(DpopMode::Required)), "www-authenticate"),
            Some("DPoP algs=\"ES256\"")
        );
        assert_eq!(
            header(&e.render(ctx(DpopMode::Disabled)), "www-authenticate"),
            Some("Bearer realm=\"api\"")
        );
    }

    #[test]
    fn invalid_token_challenge_per_scheme_and_mode() {
        let bearer = GatewayError::InvalidToken(Scheme::Bearer, TokenError::Expired);
        let r = bearer.render(ctx(DpopMode::Allowed));
        assert_eq!(r.status, 401);
        assert_eq!(
            header(&r, "www-authenticate"),
            Some("Bearer realm=\"api\", error=\"invalid_token\", error_description=\"exp: the token has expired\", DPoP algs=\"ES256\"")
        );
        assert_eq!(
            r.body,
            r#"{"detail":{"error":"invalid_token","error_description":"exp: the token has expired"}}"#
        );
        assert_eq!(header(&r, "cache-control"), Some("no-store"));

        let dpop = GatewayError::InvalidToken(Scheme::Dpop, TokenError::Expired);
        assert_eq!(
            header(&dpop.render(ctx(DpopMode::Allowed)), "www-authenticate"),
            Some("DPoP error=\"invalid_token\", error_description=\"exp: the token has expired\", algs=\"ES256\"")
        );
        assert_eq!(
            header(&bearer.render(ctx(DpopMode::Disabled)), "www-authenticate"),
            Some("Bearer realm=\"api\", error=\"invalid_token\", error_description=\"exp: the token has expired\"")
        );
    }

    #[test]
    fn invalid_request_challenge() {
        let e = GatewayError::InvalidRequest(Scheme::Bearer, CredentialsError::SeveralTokens);
        let r = e.render(ctx(DpopMode::Allowed));
        assert_eq!(r.status, 400);
        assert_eq!(
            header(&r, "www-authenticate"),
            Some("Bearer realm=\"api\", error=\"invalid_request\", error_description=\"Authorization: expected exactly one access token after the scheme\", DPoP algs=\"ES256\"")
        );
    }

    #[test]
    fn insufficient_scope_names_required_scopes() {
        let e = GatewayError::InsufficientScope {
            scheme: Scheme::Bearer,
            required: vec!["read:messages".into(), "write:messages".into()],
        };
        let r = e.render(ctx(DpopMode::Allowed));
        assert_eq!(r.status, 403);
        assert_eq!(
            header(&r, "www-authenticate"),
            Some("Bearer realm=\"api\", error=\"insufficient_scope\", scope=\"read:messages write:messages\"")
        );
        let dpop = GatewayError::InsufficientScope {
            scheme: Scheme::Dpop,
            required: vec!["read:messages".into()],
        };
        assert_eq!(
            header(&dpop.render(ctx(DpopMode::Allowed)), "www-authenticate"),
            Some("DPoP error=\"insufficient_scope\", scope=\"read:messages\", algs=\"ES256\"")
        );
    }

    #[test]
    fn resource_routes_add_metadata_and_scope_to_every_challenge() {
        let scopes = ["mcp:use".to_owned(), "mcp:admin".to_owned()];
        let on_resource = |mode| ChallengeContext {
            resource: Some(ResourceChallenge {
                metadata_url: "https://h/.well-known/oauth-protected-resource/mcp",
                scopes: &scopes,
            }),
            ..ctx(mode)
        };
        let meta = "resource_metadata=\"https://h/.well-known/oauth-protected-resource/mcp\"";
        let www = |e: &GatewayError, mode| {
            header(&e.render(on_resource(mode)), "www-authenticate").map(str::to_owned)
        };
        let missing = GatewayError::Unauthorized(CredentialsError::Missing);
        assert_eq!(
            www(&missing, DpopMode::Allowed).unwrap(),
            format!("Bearer realm=\"api\", {meta}, scope=\"mcp:use mcp:admin\", DPoP algs=\"ES256\", {meta}, scope=\"mcp:use mcp:admin\"")
        );
        assert_eq!(
            www(&missing, DpopMode::Disabled).unwrap(),
            format!("Bearer realm=\"api\", {meta}, scope=\"mcp:use mcp:admin\"")
        );
        let expired = GatewayError::InvalidToken(Scheme::Dpop, TokenError::Expired);
        assert_eq!(
            www(&expired, DpopMode::Allowed).unwrap(),
            format!("DPoP error=\"invalid_token\", error_description=\"exp: the token has expired\", algs=\"ES256\", {meta}, scope=\"mcp:use mcp:admin\"")
        );
        // A 403 names every needed scope in its own scope parameter, and the metadata.
        let scope = GatewayError::InsufficientScope {
            scheme: Scheme::Bearer,
            required: vec!["mcp:use".into(), "repo:admin".into()],
        };
        assert_eq!(
            www(&scope, DpopMode::Allowed).unwrap(),
            format!("Bearer realm=\"api\", error=\"insufficient_scope\", scope=\"mcp:use repo:admin\", {meta}")
        );
        // A 400 is not a challenge to authenticate: unchanged.
        let malformed =
            GatewayError::InvalidRequest(Scheme::Bearer, CredentialsError::SeveralTokens);
        assert!(!www(&malformed, DpopMode::Allowed)
            .unwrap()
            .contains("resource_metadata"));
        // Without scopes on the route, a 401 has no scope parameter.
        let bare = ChallengeContext {
            resource: Some(ResourceChallenge {
                metadata_url: "https://h/m",
                scopes: &[],
            }),
            ..ctx(DpopMode::Required)
        };
        assert_eq!(
            header(&missing.render(bare), "www-authenticate"),
            Some("DPoP algs=\"ES256\", resource_metadata=\"https://h/m\"")
        );
        // No challenge at all on a refused Origin or a wrong method on a metadata document.
        let origin = GatewayError::ForbiddenOrigin.render(on_resource(DpopMode::Allowed));
        assert_eq!((origin.status, origin.code), (403, "forbidden_origin"));
        assert_eq!(header(&origin, "www-authenticate"), None);
        let method = GatewayError::MethodNotAllowed.render(ctx(DpopMode::Allowed));
        assert_eq!(
            (method.status, header(&method, "allow")),
            (405, Some("GET, HEAD"))
        );
    }

    #[test]
    fn unavailable_has_retry_after_and_no_challenge() {
        let e = GatewayError::TemporarilyUnavailable {
            reason: Unavailable::Keys,
            retry_after: 30,
        };
        let r = e.render(ctx(DpopMode::Allowed));
        assert_eq!(r.status, 503);
        assert_eq!(header(&r, "retry-after"), Some("30"));
        assert_eq!(header(&r, "www-authenticate"), None);
    }

    #[test]
    fn configuration_error_body() {
        let e = GatewayError::Configuration("AUTH0_AUDIENCE is not set".into());
        let r = e.render(ctx(DpopMode::Allowed));
        assert_eq!(r.status, 500);
        assert_eq!(
            r.body,
            r#"{"detail":{"error":"configuration_error","error_description":"AUTH0_AUDIENCE is not set"}}"#
        );
        assert_eq!(header(&r, "www-authenticate"), None);
    }

    #[test]
    fn header_parameters_never_carry_quotes_or_line_breaks() {
        let e = GatewayError::Configuration("bad \"value\"\r\nInjected: 1".into());
        let r = e.render(ctx(DpopMode::Allowed));
        assert!(!r.description.contains(['"', '\r', '\n']));
        let e = GatewayError::InsufficientScope {
            scheme: Scheme::Bearer,
            required: vec!["a\"b\r\nc".into()],
        };
        let challenge = e
            .render(ctx(DpopMode::Allowed))
            .headers
            .into_iter()
            .find(|(n, _)| *n == "www-authenticate")
            .unwrap()
            .1;
        assert!(!challenge.contains(['\r', '\n']));
        // realm, error and scope: three quoted parameters, none broken open.
        assert_eq!(challenge.matches('"').count(), 6);
    }
}
