//! The request path, free of Workers types, as named steps: route (and, on a protected resource's route,
//! the `Origin`), credentials, token (from the cache of verified tokens, or parsed and verified) with the
//! route's audience and claim rules, proof, binding, replay, the JSON-RPC body where the route has rules,
//! scopes. It takes the request facts, a clock, a key source, a replay store and the body, so it runs the
//! same natively under `cargo test` and in the Worker.
//!
//! Cheap checks come first and network-free: path safety and route (before any token work), the
//! `Authorization` header, token structure and claims, the proof, and only then key lookup and the token
//! signature. A body is read only from a caller whose token passed all of them.

pub mod limit;
pub mod metrics;

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::Arc;

use crate::config::Config;
use crate::error::{GatewayError, ResourceChallenge, Unavailable};
use crate::http::authorization::{
    parse_authorization, trim_blanks, Credentials, CredentialsError, DpopMode, Scheme,
};
use crate::http::path;
use crate::http::proxy::OriginIdentity;
use crate::idp::{KeyError, KeySource};
use crate::jose::dpop::{self, ParsedProof, ProofError, ProofTarget, VerifiedProof};
use crate::jose::token::{self, ClaimRules, Claims, TokenError, UnverifiedToken};
use crate::out_of_line::{apart, cold, OutOfLine};
use crate::policy::jsonrpc::{self, JsonRpcError};
use crate::policy::{Access, RouteRule};
use crate::state::proof_keys::{KnownKey, ProofKeyCache};
use crate::state::replay::{ReplayError, ReplayStore};
use crate::state::token_cache::{CachedToken, TokenCache};
use crate::state::Caches;

/// What the pipeline reads from a request.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    pub method: &'a str,
    pub authorization: Option<&'a str>,
    /// The `DPoP` header; several headers arrive comma-joined.
    pub dpop: Option<&'a str>,
    /// The `Origin` header.
    pub origin: Option<&'a str>,
    /// The `Mcp-Method` and `Mcp-Name` headers (MCP streamable HTTP transport).
    pub mcp_method: Option<&'a str>,
    pub mcp_name: Option<&'a str>,
    /// The URL as the client addressed it, for the proof's `htu` (behind a trusted proxy, rebuilt from
    /// `X-Forwarded-*`).
    pub url: &'a str,
}

/// What the log line of a request reports, filled in as the pipeline goes.
#[derive(Debug, Default, Clone)]
pub struct Trace<'c> {
    /// The matched rule's pattern.
    pub route: Option<&'c str>,
    /// What the challenges of a protected resource's route add (README "MCP servers").
    pub resource: Option<ResourceChallenge<'c>>,
    /// Index of the token's issuer.
    pub issuer: Option<usize>,
    pub kid: Option<Arc<str>>,
    pub sub: Option<Arc<str>>,
    /// The scheme of the credentials, once they parse.
    pub scheme: Option<Scheme>,
}

/// The verified caller of an authorised request.
#[derive(Debug, Clone)]
pub struct Identity {
    pub scheme: Scheme,
    pub claims: Arc<Claims>,
}

impl Identity {
    /// What the origin is told about the caller (proxy mode).
    pub fn for_origin(&self) -> OriginIdentity<'_> {
        OriginIdentity {
            sub: self.claims.sub.as_deref(),
            scopes: &self.claims.scopes,
            claims: &self.claims.all,
        }
    }
}

/// An authorised request.
#[derive(Debug)]
pub struct Authorized<'r> {
    /// The normalised path, which is what was matched: borrowed from the request's URL when it was
    /// already normal.
    pub path: Cow<'r, str>,
    /// `None` on public routes.
    pub identity: Option<Identity>,
    /// The rate-limit key of the caller, when the route asks for limits (README "Rate limits").
    pub limit_key: Option<String>,
    /// The body, when the gateway read it to match JSON-RPC rules: forwarded as these bytes.
    pub body: Option<Vec<u8>>,
}

impl Authorized<'_> {
    /// The same request with its path owned.
    pub fn into_owned(self) -> Authorized<'static> {
        Authorized {
            path: Cow::Owned(self.path.into_owned()),
            ..self
        }
    }
}

/// The request body, read only when a route's JSON-RPC rules need it.
#[allow(async_fn_in_trait)] // Workers run one thread per isolate; futures need not be Send.
pub trait BodySource {
    /// The whole body; `Err(TooLarge)` as soon as it is known to exceed `limit` bytes.
    async fn read(&self, limit: usize) -> Result<Vec<u8>, BodyError>;
}

/// Why a body could not be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    TooLarge,
    Unreadable,
}

/// Answers a CORS preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) without a
/// token. `None` when CORS is off or the origin is not allowed: the request is then an ordinary one.
/// A preflight for a path and method no rule covers is refused like the request itself would be.
pub fn preflight(
    config: &Config,
    raw_path: &str,
    origin: &str,
    requested_method: &str,
) -> Option<Result<Vec<(&'static str, String)>, GatewayError>> {
    let headers = config.cors.as_ref()?.preflight(origin)?;
    let method = requested_method.to_ascii_uppercase();
    Some(route(config, &method, raw_path).map(|_| headers))
}

/// A request's route: its normalised path, which is what was matched, and the most specific rule for it.
#[derive(Debug)]
pub struct Routed<'c, 'r> {
    pub path: Cow<'r, str>,
    pub rule: &'c RouteRule,
}

/// What a decision reads besides the request: the issuers' keys, the replay store, the isolate's caches,
/// and the request's body, read only on a route with JSON-RPC rules once the token is verified.
pub struct Sources<'s, K, R, B> {
    pub keys: &'s K,
    pub replay: &'s R,
    pub caches: &'s Caches,
    pub body: &'s B,
}

/// How a [`route`]d request may pass.
#[derive(Debug)]
pub enum Admission<'c, 'r> {
    /// With no credentials: a public route, or an optional one presenting none.
    Anonymous(Authorized<'r>),
    /// Only with its credentials checked, by [`authorize`].
    Credentials(Credentialed<'c, 'r>),
}

impl<'c> Admission<'c, '_> {
    /// The same admission with its path owned, for a request that waits: its URL is then moved.
    pub fn into_owned(self) -> Admission<'c, 'static> {
        match self {
            Admission::Anonymous(authorized) => Admission::Anonymous(authorized.into_owned()),
            Admission::Credentials(Credentialed(Routed { path, rule })) => {
                Admission::Credentials(Credentialed(Routed {
                    path: Cow::Owned(path.into_owned()),
                    rule,
                }))
            }
        }
    }
}

/// A routed request that must present credentials; made only by [`admit`].
#[derive(Debug)]
pub struct Credentialed<'c, 'r>(Routed<'c, 'r>);

/// Step 1b and the route's access, which wait on nothing: the route's own checks (its resource's `Origin`
/// rule), then whether the request may pass without credentials. The adapter answers an anonymous request
/// at once.
pub fn admit<'c, 'r>(
    config: &'c Config,
    routed: Routed<'c, 'r>,
    req: &RequestFacts<'_>,
    trace: &mut Trace<'c>,
) -> Result<Admission<'c, 'r>, GatewayError> {
    if !is_anonymous(config, routed.rule, req, trace)? {
        return Ok(Admission::Credentials(Credentialed(routed)));
    }
    Ok(Admission::Anonymous(Authorized {
        path: routed.path,
        identity: None,
        limit_key: None,
        body: None,
    }))
}

/// Decides whether a request [`admit`]ted on its credentials may pass. `now` is seconds since the epoch.
pub async fn authorize<'c, 'r>(
    config: &'c Config,
    credentialed: Credentialed<'c, 'r>,
    req: &RequestFacts<'_>,
    sources: &Sources<'_, impl KeySource, impl ReplayStore, impl BodySource>,
    now: u64,
    trace: &mut Trace<'c>,
) -> Result<Authorized<'r>, GatewayError> {
    let Routed { path, rule } = credentialed.0;
    // Awaited out of line (src/out_of_line.rs): the caller's future stays small.
    OutOfLine::new(with_credentials(
        config, rule, path, req, sources, now, trace,
    ))
    .await
}

/// The route's own checks (its resource's `Origin` rule), and whether the request may pass without
/// credentials: a public route, or an optional one with none.
fn is_anonymous<'c>(
    config: &'c Config,
    rule: &'c RouteRule,
    req: &RequestFacts<'_>,
    trace: &mut Trace<'c>,
) -> Result<bool, GatewayError> {
    trace.route = Some(&rule.pattern);
    if let Some(index) = rule.resource {
        trace.resource = Some(ResourceChallenge {
            metadata_url: &config.resources[index].metadata_url,
            scopes: rule.required_scopes(),
        });
        check_origin(config, req.origin)?;
    }
    Ok(match rule.access {
        Access::Public => true,
        // Blank means the spaces and tabs of RFC 9110's OWS, as the credentials parser reads them; any
        // other character is a credential, and must be valid.
        Access::Optional => req.authorization.is_none_or(|a| trim_blanks(a).is_empty()),
        Access::Token { .. } => false,
    })
}

/// The steps after the route for a request that must present credentials: credentials, token, proof,
/// binding, replay, the JSON-RPC body, scopes.
async fn with_credentials<'c, 'r>(
    config: &'c Config,
    rule: &'c RouteRule,
    path: Cow<'r, str>,
    req: &RequestFacts<'_>,
    sources: &Sources<'_, impl KeySource, impl ReplayStore, impl BodySource>,
    now: u64,
    trace: &mut Trace<'c>,
) -> Result<Authorized<'r>, GatewayError> {
    let (keys, caches) = (sources.keys, sources.caches);
    let credentials = credentials(config, req)?;
    let scheme = credentials.scheme;
    trace.scheme = Some(scheme);
    let invalid_token = |reason| GatewayError::InvalidToken(scheme, reason);
    if credentials.token.len() > token::MAX_TOKEN_BYTES {
        return Err(invalid_token(TokenError::TooLarge));
    }

    // A token verified before skips parsing and its signature check: every request's CPU counts.
    let tokens = &caches.tokens;
    let (claims, proof) =
        match cached_token(tokens, keys, credentials.token, now, config.clock_leeway).await {
            Some(entry) => {
                trace.issuer = Some(entry.claims.issuer);
                trace.kid = Some(entry.kid.clone());
                token::check_age(
                    entry.claims.iat,
                    config.max_token_age,
                    now,
                    config.clock_leeway,
                )
                .map_err(invalid_token)?;
                check_route_policy(config, rule, scheme, &entry.claims)?;
                let proof = proof(
                    config,
                    req,
                    credentials,
                    Some(&entry),
                    &caches.proof_keys,
                    now,
                )?;
                (entry.claims.clone(), proof)
            }
            // Out of line, like the steps below that only some requests take: a token seen before never
            // runs them.
            None => {
                OutOfLine::new(new_token(
                    config,
                    rule,
                    req,
                    credentials,
                    sources,
                    now,
                    trace,
                ))
                .await?
            }
        };
    trace.sub = claims.sub.clone();

    check_binding(config.dpop_mode, &claims, proof.as_ref()).map_err(invalid_token)?;
    if let Some(proof) = &proof {
        OutOfLine::new(check_replay(config, sources.replay, proof, now)).await?;
    }
    let (body, jsonrpc_scopes) = if rule.reads_jsonrpc(req.method) {
        OutOfLine::new(read_jsonrpc(rule, req, sources.body)).await?
    } else {
        (None, Vec::new())
    };
    check_scopes(rule, scheme, &claims, &jsonrpc_scopes)?;
    // Computed only now: a refused request never touches anyone's budget.
    let limit_key = rule.rate_limit.then(|| limit::limit_key(&claims).1);
    Ok(Authorized {
        path,
        identity: Some(Identity { scheme, claims }),
        limit_key,
        body,
    })
}

/// Steps 3b to 3d for a token not in the cache, with the proof checked between them.
async fn new_token<'c>(
    config: &'c Config,
    rule: &'c RouteRule,
    req: &RequestFacts<'_>,
    credentials: Credentials<'_>,
    sources: &Sources<'_, impl KeySource, impl ReplayStore, impl BodySource>,
    now: u64,
    trace: &mut Trace<'c>,
) -> Result<(Arc<Claims>, Option<VerifiedProof>), GatewayError> {
    let scheme = credentials.scheme;
    let unverified = parse_token(config, credentials.token, now)
        .map_err(|reason| GatewayError::InvalidToken(scheme, reason))?;
    trace.issuer = Some(unverified.issuer());
    trace.kid = Some(unverified.kid().clone());
    check_route_policy(config, rule, scheme, unverified.claims())?;
    // RFC 9449 section 4.3: the proof signature before any token key work.
    let proof = proof(
        config,
        req,
        credentials,
        None,
        &sources.caches.proof_keys,
        now,
    )?;
    let claims = verify_token(
        sources.keys,
        &sources.caches.tokens,
        unverified,
        credentials,
        now,
    )
    .await
    .map_err(|e| e.for_scheme(scheme))?;
    Ok((claims, proof))
}

/// Step 1: the normalised path (`raw_path` as received, percent-encoded) and the most specific rule for
/// it; nothing else happens on an unsafe or unmatched path (README "Routes").
pub fn route<'c, 'r>(
    config: &'c Config,
    method: &str,
    raw_path: &'r str,
) -> Result<Routed<'c, 'r>, GatewayError> {
    let path = path::normalize(raw_path).map_err(GatewayError::BadPath)?;
    let rule = config
        .routes
        .find(method, &path)
        .ok_or(GatewayError::NotFound)?;
    Ok(Routed { path, rule })
}

/// Step 1b, on a protected resource's route: a browser's `Origin` must be an allowed CORS origin, so that
/// a page on another site (or a rebound DNS name) cannot drive a local MCP server (MCP, streamable HTTP
/// transport). Requests without `Origin` are not from a browser page and pass.
fn check_origin(config: &Config, origin: Option<&str>) -> Result<(), GatewayError> {
    match origin {
        Some(origin) if !config.cors.as_ref().is_some_and(|cors| cors.allows(origin)) => {
            Err(GatewayError::ForbiddenOrigin)
        }
        _ => Ok(()),
    }
}

/// The answer to a request for a resource metadata document.
#[derive(Debug, PartialEq, Eq)]
pub enum Metadata<'c> {
    /// GET or HEAD: the document, sent with [`METADATA_HEADERS`].
    Document(&'c str),
    /// A CORS preflight: these headers, with 204.
    Preflight(Vec<(&'static str, String)>),
}

/// Headers of a metadata document: readable by any page, as browser-based MCP clients fetch it
/// cross-origin; it holds nothing but configuration.
pub const METADATA_HEADERS: [(&str, &str); 3] = [
    ("content-type", "application/json"),
    ("access-control-allow-origin", "*"),
    ("cache-control", "public, max-age=300"),
];

/// Answers a request for a resource's metadata document (RFC 9728 section 3), with no token: the
/// document for GET or HEAD, a preflight for OPTIONS with `Access-Control-Request-Method`, 405 for
/// anything else. `None` when the path is no resource's metadata path.
pub fn resource_metadata<'c>(
    config: &'c Config,
    method: &str,
    raw_path: &str,
    preflight: bool,
) -> Option<Result<Metadata<'c>, GatewayError>> {
    // Every other request pays two scans of its path: a spelling of the well-known path either says
    // `well-known` or escapes a character.
    if config.resources.is_empty() || !(raw_path.contains("well-known") || raw_path.contains('%')) {
        return None;
    }
    let path = path::normalize(raw_path).ok()?;
    let resource = config.resources.iter().find(|r| r.metadata_path == path)?;
    Some(match method {
        "GET" | "HEAD" => Ok(Metadata::Document(&resource.document)),
        "OPTIONS" if preflight => Ok(Metadata::Preflight(vec![
            ("access-control-allow-origin", "*".to_owned()),
            ("access-control-allow-methods", "GET, HEAD".to_owned()),
            ("access-control-allow-headers", "*".to_owned()),
            ("access-control-max-age", "600".to_owned()),
        ])),
        _ => Err(GatewayError::MethodNotAllowed),
    })
}

/// Step 2: one credential, with a scheme this mode accepts.
fn credentials<'r>(
    config: &Config,
    req: &RequestFacts<'r>,
) -> Result<Credentials<'r>, GatewayError> {
    let credentials = parse_authorization(req.authorization, config.dpop_mode)
        .map_err(|(scheme, reason)| GatewayError::credentials(scheme, reason))?;
    // RFC 9449 section 7.2: a proof sent with the Bearer scheme is a confused client or a downgrade.
    if credentials.scheme == Scheme::Bearer
        && req.dpop.is_some()
        && config.dpop_mode != DpopMode::Disabled
    {
        return Err(GatewayError::InvalidRequest(
            Scheme::Bearer,
            CredentialsError::ProofWithBearer,
        ));
    }
    Ok(credentials)
}

/// Step 3a: a cached verification of this token, if its key is still the current key for its `kid`.
async fn cached_token(
    tokens: &RefCell<TokenCache>,
    keys: &impl KeySource,
    token: &str,
    now: u64,
    leeway: u64,
) -> Option<Arc<CachedToken>> {
    let entry = tokens.borrow_mut().get(token, now, leeway)?;
    match keys.key(entry.claims.issuer, &entry.kid).await {
        Ok(current) if Arc::ptr_eq(&current, &entry.key) => Some(entry),
        _ => {
            tokens.borrow_mut().remove(token);
            None
        }
    }
}

/// Step 3b: every token check that needs no key (RFC 8725, RFC 9068).
fn parse_token<'t>(
    config: &Config,
    token: &'t str,
    now: u64,
) -> Result<UnverifiedToken<'t>, TokenError> {
    let rules = ClaimRules {
        issuers: &config.issuers,
        algorithms: config.cache.algorithms,
        leeway: config.clock_leeway,
        profile: config.token_profile,
        max_age: config.max_token_age,
    };
    token::parse(token, rules, now)
}

/// Step 3c: what the route asks of a token besides scopes: its audience (the route's, else
/// `AUTH0_AUDIENCE`) and its claim rules. Checked on cached tokens too: a token accepted on one route is
/// not thereby accepted on a stricter one. Cheap, so it runs before any signature work.
fn check_route_policy(
    config: &Config,
    rule: &RouteRule,
    scheme: Scheme,
    claims: &Claims,
) -> Result<(), GatewayError> {
    // The configuration guarantees `AUTH0_AUDIENCE` for every route without its own audience.
    let audiences = match (&rule.audiences, &config.audience) {
        (Some(own), _) => own.as_slice(),
        (None, Some(default)) => std::slice::from_ref(default),
        (None, None) => &[],
    };
    token::check_audience(claims, audiences)
        .map_err(|reason| GatewayError::InvalidToken(scheme, reason))?;
    for claim_rule in &rule.claims {
        claim_rule
            .check(&claims.all)
            .map_err(|failure| GatewayError::ClaimRule {
                scheme,
                claim: claim_rule.claim.clone(),
                failure,
            })?;
    }
    Ok(())
}

/// Why a token could not be verified: the token itself, or the keys.
enum VerifyError {
    Token(TokenError),
    KeysUnavailable { retry_after: u64 },
}

impl VerifyError {
    fn for_scheme(self, scheme: Scheme) -> GatewayError {
        match self {
            Self::Token(reason) => GatewayError::InvalidToken(scheme, reason),
            Self::KeysUnavailable { retry_after } => GatewayError::TemporarilyUnavailable {
                reason: Unavailable::Keys,
                retry_after,
            },
        }
    }
}

/// Step 3d: the signature, with the key the token's `kid` names; a verified token is cached.
async fn verify_token(
    keys: &impl KeySource,
    tokens: &RefCell<TokenCache>,
    unverified: UnverifiedToken<'_>,
    credentials: Credentials<'_>,
    now: u64,
) -> Result<Arc<Claims>, VerifyError> {
    let key = match keys.key(unverified.issuer(), unverified.kid()).await {
        Ok(key) => key,
        Err(KeyError::UnknownKid) => return Err(VerifyError::Token(TokenError::UnknownKid)),
        Err(KeyError::Unavailable { retry_after }) => {
            return Err(VerifyError::KeysUnavailable { retry_after })
        }
    };
    let kid = unverified.kid().clone();
    let claims = Arc::new(unverified.verify(&key).map_err(VerifyError::Token)?);
    let entry = CachedToken::new(claims.clone(), kid, key);
    tokens.borrow_mut().insert(credentials.token, entry, now);
    Ok(claims)
}

/// Step 4: on the DPoP scheme, the stateless proof checks, in a function of their own (`apart`): an
/// isolate that serves Bearer tokens never compiles them. `cached` is the token's entry in the token
/// cache, when it was found there.
fn proof(
    config: &Config,
    req: &RequestFacts<'_>,
    credentials: Credentials<'_>,
    cached: Option<&CachedToken>,
    proof_keys: &RefCell<ProofKeyCache>,
    now: u64,
) -> Result<Option<VerifiedProof>, GatewayError> {
    if credentials.scheme == Scheme::Bearer {
        return Ok(None);
    }
    apart(|| dpop_proof(config, req, credentials, cached, proof_keys, now)).map(Some)
}

/// Step 4a: exactly one `DPoP` header, then RFC 9449 section 4.3, then the server nonce (section 8)
/// before the signature, which is the expensive part.
fn dpop_proof(
    config: &Config,
    req: &RequestFacts<'_>,
    credentials: Credentials<'_>,
    cached: Option<&CachedToken>,
    proof_keys: &RefCell<ProofKeyCache>,
    now: u64,
) -> Result<VerifiedProof, GatewayError> {
    let proof = match req.dpop.map(trim_blanks) {
        None | Some("") => return Err(GatewayError::InvalidDpopProof(ProofError::Missing)),
        Some(p) if p.contains(',') => {
            return Err(GatewayError::InvalidDpopProof(ProofError::Several))
        }
        Some(p) => p,
    };
    let target = ProofTarget {
        method: req.method,
        url: req.url,
        access_token: credentials.token,
        access_token_hash: cached.map(|entry| entry.access_token_hash(credentials.token)),
    };
    let parsed = dpop::parse_proof(
        proof,
        target,
        config.dpop.window,
        now,
        &*proof_keys.borrow(),
    )
    .map_err(GatewayError::InvalidDpopProof)?;
    if let Some(nonces) = &config.dpop.nonce {
        if !parsed.nonce().is_some_and(|n| nonces.accepts(n, now)) {
            return Err(GatewayError::UseDpopNonce(nonces.issue(now)));
        }
    }
    verify_proof_signature(proof_keys, parsed).map_err(GatewayError::InvalidDpopProof)
}

/// Step 4b: the proof's signature, with its key prepared from the key's second verified proof on (see
/// [`ProofKeyCache`]); a key found prepared when the proof was parsed is used as it is.
pub(crate) fn verify_proof_signature(
    proof_keys: &RefCell<ProofKeyCache>,
    parsed: ParsedProof,
) -> Result<VerifiedProof, ProofError> {
    if parsed.key_is_prepared() {
        return parsed.verify_signature();
    }
    let coordinates = *parsed.coordinates();
    let seen_once = matches!(proof_keys.borrow().get(&coordinates), KnownKey::Seen);
    if seen_once {
        let (proof, key) = parsed.verify_and_prepare()?;
        proof_keys.borrow_mut().prepared(key);
        Ok(proof)
    } else {
        let proof = parsed.verify_signature()?;
        proof_keys.borrow_mut().saw(&coordinates);
        Ok(proof)
    }
}

/// Step 5: the token is bound to the proof key (RFC 9449 section 6.1), and a bound token is never accepted
/// as a bearer token (section 7.1) unless DPoP is disabled.
fn check_binding(
    mode: DpopMode,
    claims: &Claims,
    proof: Option<&VerifiedProof>,
) -> Result<(), TokenError> {
    match (proof, claims.jkt.as_deref()) {
        (None, Some(_)) if mode != DpopMode::Disabled => Err(TokenError::BoundTokenAsBearer),
        (None, _) => Ok(()),
        (Some(proof), Some(jkt)) if jkt == proof.jkt => Ok(()),
        (Some(_), Some(_)) => Err(TokenError::JktMismatch),
        (Some(_), None) => Err(TokenError::NotBound),
    }
}

/// Step 6: each proof once, while it is valid (RFC 9449 section 11.1).
async fn check_replay(
    config: &Config,
    replay: &impl ReplayStore,
    proof: &VerifiedProof,
    now: u64,
) -> Result<(), GatewayError> {
    let expires_at = (proof.iat.max(0.0) as u64)
        .saturating_add(config.dpop.window.max_age)
        .saturating_add(1);
    let unavailable = |reason, retry_after| GatewayError::TemporarilyUnavailable {
        reason,
        retry_after,
    };
    match replay
        .check_and_record(&proof.jkt, &proof.jti, expires_at, now)
        .await
    {
        Ok(()) => Ok(()),
        Err(ReplayError::Replayed) => Err(GatewayError::InvalidDpopProof(ProofError::Replayed)),
        Err(ReplayError::Full) => Err(unavailable(Unavailable::ReplayStoreFull, 1)),
        Err(ReplayError::Unavailable) => Err(unavailable(Unavailable::ReplayStoreDown, 5)),
    }
}

/// Step 7, on a POST to a route with JSON-RPC rules: the body, and the scopes its messages add.
async fn read_jsonrpc<'c>(
    rule: &'c RouteRule,
    req: &RequestFacts<'_>,
    body: &impl BodySource,
) -> Result<(Option<Vec<u8>>, Vec<&'c str>), GatewayError> {
    let bytes = body
        .read(jsonrpc::MAX_BODY_BYTES)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge => GatewayError::PayloadTooLarge,
            BodyError::Unreadable => GatewayError::InvalidJsonRpc(JsonRpcError::Unreadable),
        })?;
    let scopes = jsonrpc_scopes(rule, req, &bytes)?;
    Ok((Some(bytes), scopes))
}

/// Step 7b: the body is JSON-RPC 2.0, the `Mcp-*` headers agree with it, and the scopes of every entry that
/// matches one of its messages (README "MCP servers").
fn jsonrpc_scopes<'c>(
    rule: &'c RouteRule,
    req: &RequestFacts<'_>,
    bytes: &[u8],
) -> Result<Vec<&'c str>, GatewayError> {
    let parsed = jsonrpc::parse(bytes).map_err(GatewayError::InvalidJsonRpc)?;
    jsonrpc::check_headers(&parsed, req.mcp_method, req.mcp_name)
        .map_err(GatewayError::InvalidJsonRpc)?;
    Ok(jsonrpc::matching_scopes(&rule.jsonrpc, &parsed))
}

/// Step 8: the granted scopes satisfy the rule and include those its JSON-RPC entries add (RFC 6750
/// section 3.1 `insufficient_scope`, naming every scope the request needs).
fn check_scopes(
    rule: &RouteRule,
    scheme: Scheme,
    claims: &Claims,
    jsonrpc_scopes: &[&str],
) -> Result<(), GatewayError> {
    let granted = |scope: &&str| claims.scopes.iter().any(|g| g == scope);
    if rule.allows(&claims.scopes) && jsonrpc_scopes.iter().all(granted) {
        return Ok(());
    }
    Err(cold(|| {
        let mut required = rule.required_scopes().to_vec();
        for scope in jsonrpc_scopes {
            if !required.iter().any(|r| r == scope) {
                required.push((*scope).to_owned());
            }
        }
        GatewayError::InsufficientScope { scheme, required }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::jwks::{parse_rsa_jwk, VerifyingKey};
    use crate::policy::ClaimFailure;
    use crate::state::replay::ReplayCache;
    use crate::test_keys;

    /// The isolate's caches, with room for `tokens` verified tokens.
    fn caches(tokens: usize) -> Caches {
        Caches::new(TokenCache::new(tokens, 1 << 20), ProofKeyCache::default())
    }
    use futures_executor::block_on;
    use serde_json::json;
    use std::cell::Cell;

    const URL: &str = "https://api.example.com/api/private";

    const NOW: u64 = 1_700_000_000;

    /// A fixed key set that counts lookups, to prove which requests never reach key work.
    struct FixedKeys {
        key: Arc<VerifyingKey>,
        lookups: Cell<u32>,
        unavailable: bool,
    }

    impl KeySource for FixedKeys {
        async fn key(&self, _issuer: usize, kid: &str) -> Result<Arc<VerifyingKey>, KeyError> {
            self.lookups.set(self.lookups.get() + 1);
            if self.unavailable {
                return Err(KeyError::Unavailable { retry_after: 30 });
            }
            if kid == self.key.kid {
                Ok(self.key.clone())
            } else {
                Err(KeyError::UnknownKid)
            }
        }
    }

    fn keys() -> FixedKeys {
        FixedKeys {
            key: Arc::new(parse_rsa_jwk(&test_keys::rsa_2048().public_jwk("k1")).unwrap()),
            lookups: Cell::new(0),
            unavailable: false,
        }
    }

    fn config(mode: &str) -> Config {
        config_with(mode, None)
    }

    fn config_with(mode: &str, nonce_secret: Option<&str>) -> Config {
        Config::from_lookup(|name| match name {
            "AUTH0_DOMAIN" => Some("tenant.auth0.com".into()),
            "AUTH0_AUDIENCE" => Some("https://api".into()),
            "DPOP_MODE" => Some(mode.into()),
            "DPOP_NONCE_SECRET" => nonce_secret.map(String::from),
            _ => None,
        })
        .unwrap()
    }

    /// The test tenant's configuration with these `ROUTES`.
    fn routes_config(routes: &str) -> Config {
        Config::from_lookup(|name| match name {
            "AUTH0_DOMAIN" => Some("tenant.auth0.com".into()),
            "AUTH0_AUDIENCE" => Some("https://api".into()),
            "ROUTES" => Some(routes.into()),
            _ => None,
        })
        .unwrap()
    }

    fn token(extra: serde_json::Value) -> String {
        let mut claims = json!({
            "iss": "https://tenant.auth0.com/", "aud": "https://api", "sub": "auth0|u",
            "exp": NOW + 60, "scope": "read:messages",
        });
        for (k, v) in extra.as_object().unwrap() {
            claims[k] = v.clone();
        }
        test_keys::rsa_2048().sign(&json!({"alg": "RS256", "kid": "k1"}), &claims)
    }

    fn run(
        config: &Config,
        keys: &FixedKeys,
        method: &str,
        path: &str,
        authorization: Option<&str>,
        dpop: Option<&str>,
    ) -> Result<Option<Identity>, GatewayError> {
        let replay = RefCell::new(ReplayCache::new(100));
        run_with(config, keys, &replay, method, path, authorization, dpop)
    }

    fn run_with(
        config: &Config,
        keys: &FixedKeys,
        replay: &RefCell<ReplayCache>,
        method: &str,
        path: &str,
        authorization: Option<&str>,
        dpop: Option<&str>,
    ) -> Result<Option<Identity>, GatewayError> {
        let url = format!("https://api.example.com{path}");
        let req = RequestFacts {
            method,
            authorization,
            dpop,
            origin: None,
            mcp_method: None,
            mcp_name: None,
            url: &url,
        };
        run_full(config, keys, replay, &caches(100), path, &req)
    }

    fn run_full(
        config: &Config,
        keys: &FixedKeys,
        replay: &RefCell<ReplayCache>,
        caches: &Caches,
        path: &str,
        req: &RequestFacts<'_>,
    ) -> Result<Option<Identity>, GatewayError> {
        let body = Body::new(b"");
        route_then_authorize(
            config,
            path,
            req,
            (keys, replay, caches, &body),
            &mut Trace::default(),
        )
        .map(|a| a.identity)
    }

    /// [`route`], [`admit`], then [`authorize`] at `NOW`, as the adapter calls them.
    fn route_then_authorize<'c>(
        config: &'c Config,
        path: &str,
        req: &RequestFacts<'_>,
        (keys, replay, caches, body): (&FixedKeys, &RefCell<ReplayCache>, &Caches, &Body),
        trace: &mut Trace<'c>,
    ) -> Result<Authorized<'static>, GatewayError> {
        let routed = route(config, req.method, path)?;
        let credentialed = match admit(config, routed, req, trace)? {
            Admission::Anonymous(authorized) => return Ok(authorized.into_owned()),
            Admission::Credentials(credentialed) => credentialed,
        };
        let sources = Sources {
            keys,
            replay,
            caches,
            body,
        };
        block_on(authorize(config, credentialed, req, &sources, NOW, trace))
            .map(Authorized::into_owned)
    }

    /// One GET through `authorize` with fresh replay and token caches, keeping the whole outcome and trace.
    fn authorize_once<'c>(
        config: &'c Config,
        keys: &FixedKeys,
        path: &str,
        authorization: &str,
        dpop: Option<&str>,
        trace: &mut Trace<'c>,
    ) -> Result<Authorized<'static>, GatewayError> {
        let url = format!("https://api.example.com{path}");
        let req = RequestFacts {
            method: "GET",
            authorization: Some(authorization),
            dpop,
            origin: None,
            mcp_method: None,
            mcp_name: None,
            url: &url,
        };
        let replay = RefCell::new(ReplayCache::new(10));
        let body = Body::new(b"");
        route_then_authorize(
            config,
            path,
            &req,
            (keys, &replay, &caches(10), &body),
            trace,
        )
    }

    /// A request body that counts its reads, to prove which requests never read it.
    struct Body {
        bytes: Vec<u8>,
        reads: Cell<u32>,
    }

    impl Body {
        fn new(bytes: &[u8]) -> Self {
            Self {
                bytes: bytes.to_vec(),
                reads: Cell::new(0),
            }
        }
    }

    impl BodySource for Body {
        async fn read(&self, limit: usize) -> Result<Vec<u8>, BodyError> {
            self.reads.set(self.reads.get() + 1);
            if self.bytes.len() > limit {
                return Err(BodyError::TooLarge);
            }
            Ok(self.bytes.clone())
        }
    }

    #[test]
    fn verified_tokens_are_cached_until_their_key_changes() {
        let c = config("allowed");
        let k = keys();
        let replay = RefCell::new(ReplayCache::new(100));
        let caches = caches(100);
        let bearer = format!("Bearer {}", token(json!({})));
        let path = "/api/private";
        let req = RequestFacts {
            method: "GET",
            authorization: Some(&bearer),
            dpop: None,
            origin: None,
            mcp_method: None,
            mcp_name: None,
            url: "https://api.example.com/api/private",
        };
        assert!(run_full(&c, &k, &replay, &caches, path, &req).is_ok());
        assert_eq!(caches.tokens.borrow().len(), 1);
        assert!(run_full(&c, &k, &replay, &caches, path, &req).is_ok());
        // The same kid now names another key object (a refreshed JWKS): the entry is dropped and the
        // token verified again, against the new key.
        let refreshed = FixedKeys {
            key: Arc::new(parse_rsa_jwk(&test_keys::rsa_2048().public_jwk("k1")).unwrap()),
            ..keys()
        };
        assert!(run_full(&c, &refreshed, &replay, &caches, path, &req).is_ok());
        let entry = caches
            .tokens
            .borrow_mut()
            .get(&bearer[7..], NOW, 0)
            .unwrap();
        assert!(Arc::ptr_eq(&entry.key, &refreshed.key));
        // A key that signs differently under the same kid: the cached verification is not reused.
        let replaced = FixedKeys {
            key: Arc::new(parse_rsa_jwk(&test_keys::rsa_2048_b().public_jwk("k1")).unwrap()),
            ..keys()
        };
        assert_eq!(
            run_full(&c, &replaced, &replay, &caches, path, &req).unwrap_err(),
            GatewayError::InvalidToken(Scheme::Bearer, TokenError::Signature)
        );
    }

    fn policy_config() -> Config {
        routes_config(
            r#"[
              {"path": "/open", "auth": "optional"},
              {"path": "/a", "auth": "required"},
              {"path": "/b", "auth": "required", "audience": ["https://b", "https://b2"]},
              {"path": "/org", "auth": "required",
               "claims": [{"claim": "org_id", "equals": "org_1"},
                          {"claim": "https://example.com/roles", "includes": ["admin"]},
                          {"claim": "sub", "not_prefix": "anon@"}]}
            ]"#,
        )
    }

    #[test]
    fn optional_routes_pass_anonymously_but_check_credentials_that_are_sent() {
        let (c, k) = (policy_config(), keys());
        assert!(run(&c, &k, "GET", "/open", None, None).unwrap().is_none());
        assert!(run(&c, &k, "GET", "/open", Some(" \t "), None)
            .unwrap()
            .is_none());
        // Only spaces and tabs are blank: a no-break space is not, and is refused as on a required route.
        assert_eq!(
            run(&c, &k, "GET", "/open", Some("\u{a0}"), None).unwrap_err(),
            GatewayError::Unauthorized(CredentialsError::UnsupportedScheme)
        );
        assert_eq!(
            run(&c, &k, "GET", "/a", Some("\u{a0}"), None).unwrap_err(),
            GatewayError::Unauthorized(CredentialsError::UnsupportedScheme)
        );
        let good = format!("Bearer {}", token(json!({})));
        let id = run(&c, &k, "GET", "/open", Some(&good), None).unwrap();
        assert_eq!(id.unwrap().claims.sub.as_deref(), Some("auth0|u"));
        let expired = format!("Bearer {}", token(json!({"exp": NOW - 1})));
        assert_eq!(
            run(&c, &k, "GET", "/open", Some(&expired), None).unwrap_err(),
            GatewayError::InvalidToken(Scheme::Bearer, TokenError::Expired)
        );
        assert_eq!(
            run(&c, &k, "GET", "/open", Some("Basic x"), None).unwrap_err(),
            GatewayError::Unauthorized(CredentialsError::UnsupportedScheme)
        );
    }

    #[test]
    fn admission_asks_for_credentials_only_where_the_route_reads_them() {
        let c = routes_config(
            r#"[{"path": "/pub", "auth": "none"}, {"path": "/open", "auth": "optional"},
                {"path": "/a", "auth": "required"}]"#,
        );
        // The path an anonymous request is authorised on, or `None` when credentials must be checked.
        let anonymous = |path: &str, authorization: Option<&str>| {
            let url = format!("https://api.example.com{path}");
            let req = RequestFacts {
                method: "GET",
                authorization,
                dpop: None,
                origin: None,
                mcp_method: None,
                mcp_name: None,
                url: &url,
            };
            let routed = route(&c, "GET", path).unwrap();
            match admit(&c, routed, &req, &mut Trace::default()).unwrap() {
                Admission::Anonymous(authorized) => Some(authorized.path.into_owned()),
                Admission::Credentials(_) => None,
            }
        };
        // A public route reads no credentials, whatever is sent.
        assert_eq!(anonymous("/pub", Some("Bearer x")).as_deref(), Some("/pub"));
        assert_eq!(anonymous("/open", None).as_deref(), Some("/open"));
        assert_eq!(anonymous("/open", Some(" \t")).as_deref(), Some("/open"));
        assert_eq!(anonymous("/open", Some("Bearer x")), None);
        assert_eq!(anonymous("/a", None), None);
    }

    #[test]
    fn audiences_are_per_route_and_rechecked_on_cached_tokens() {
        let (c, k) = (policy_config(), keys());
        let replay = RefCell::new(ReplayCache::new(100));
        let caches = caches(100);
        let call = |path: &str, auth: &str| {
            let url = format!("https://api.example.com{path}");
            let req = RequestFacts {
                method: "GET",
                authorization: Some(auth),
                dpop: None,
                origin: None,
                mcp_method: None,
                mcp_name: None,
                url: &url,
            };
            run_full(&c, &k, &replay, &caches, path, &req).map(|_| ())
        };
        let for_a = format!("Bearer {}", token(json!({})));
        let for_b = format!("Bearer {}", token(json!({"aud": ["https://b2"]})));
        let mismatch = |scheme| Err(GatewayError::InvalidToken(scheme, TokenError::AudMismatch));
        assert_eq!(call("/a", &for_a), Ok(()));
        // Now cached: the stricter route still refuses it.
        assert_eq!(caches.tokens.borrow().len(), 1);
        assert_eq!(call("/b", &for_a), mismatch(Scheme::Bearer));
        assert_eq!(call("/b", &for_b), Ok(()));
        assert_eq!(call("/a", &for_b), mismatch(Scheme::Bearer));
        assert_eq!(call("/b", &for_b), Ok(()));
    }

    fn resource_config() -> Config {
        Config::from_lookup(|name| match name {
            "AUTH0_DOMAIN" => Some("tenant.auth0.com".into()),
            "AUTH0_AUDIENCE" => Some("https://api".into()),
            "CORS_ALLOWED_ORIGINS" => Some("https://app.example.com".into()),
            "RESOURCES" => Some(
                r#"[{"resource": "https://mcp.example.com/mcp"},
                    {"resource": "https://mcp.example.com/b", "audience": "https://b"}]"#
                    .into(),
            ),
            "ROUTES" => Some(
                r#"[{"path": "/mcp", "scopes": ["mcp:use"], "resource": "https://mcp.example.com/mcp"},
                    {"path": "/b", "auth": "required", "resource": "https://mcp.example.com/b"},
                    {"path": "/a", "auth": "required"}]"#
                    .into(),
            ),
            _ => None,
        })
        .unwrap()
    }

    #[test]
    fn resource_routes_take_the_resource_audience_and_check_origin_first() {
        let (c, k) = (resource_config(), keys());
        let replay = RefCell::new(ReplayCache::new(100));
        let caches = caches(100);
        let call = |path: &str, auth: Option<&str>, origin: Option<&str>| {
            let url = format!("https://mcp.example.com{path}");
            let req = RequestFacts {
                method: "POST",
                authorization: auth,
                dpop: None,
                origin,
                mcp_method: None,
                mcp_name: None,
                url: &url,
            };
            let mut trace = Trace::default();
            let body = Body::new(b"");
            let result =
                route_then_authorize(&c, path, &req, (&k, &replay, &caches, &body), &mut trace);
            (result.map(|_| ()), trace.resource)
        };
        let for_mcp = format!(
            "Bearer {}",
            token(json!({"aud": ["https://mcp.example.com/mcp"], "scope": "mcp:use"}))
        );
        let for_api = format!("Bearer {}", token(json!({"scope": "mcp:use"})));
        let for_b = format!("Bearer {}", token(json!({"aud": "https://b"})));
        assert_eq!(call("/mcp", Some(&for_mcp), None).0, Ok(()));
        assert_eq!(
            call("/mcp", Some(&for_mcp), Some("https://app.example.com")).0,
            Ok(())
        );
        let mismatch = Err(GatewayError::InvalidToken(
            Scheme::Bearer,
            TokenError::AudMismatch,
        ));
        assert_eq!(call("/mcp", Some(&for_api), None).0, mismatch);
        assert_eq!(call("/b", Some(&for_mcp), None).0, mismatch);
        assert_eq!(call("/b", Some(&for_b), None).0, Ok(()));
        assert_eq!(call("/a", Some(&for_api), None).0, Ok(()));
        // A foreign Origin is refused before any credential or token work.
        let lookups = k.lookups.get();
        for origin in ["https://evil.example.com", "null", ""] {
            let (result, resource) = call("/mcp", Some("Bearer x"), Some(origin));
            assert_eq!(result, Err(GatewayError::ForbiddenOrigin), "{origin}");
            assert_eq!(
                resource,
                Some(ResourceChallenge {
                    metadata_url:
                        "https://mcp.example.com/.well-known/oauth-protected-resource/mcp",
                    scopes: &["mcp:use".to_owned()],
                })
            );
        }
        assert_eq!(k.lookups.get(), lookups);
        // Routes of no resource ignore Origin, and carry no resource challenge.
        let (result, resource) = call("/a", Some(&for_api), Some("https://evil.example.com"));
        assert_eq!((result, resource), (Ok(()), None));
    }

    #[test]
    fn jsonrpc_bodies_are_read_after_the_token_and_add_their_scopes() {
        let c = routes_config(
            r#"[{"path": "/mcp", "scopes": ["mcp"], "jsonrpc": [
                   {"method": "tools/call", "name": "delete_*", "scopes": ["admin"]},
                   {"method": "prompts/*", "scopes": ["prompts", "mcp"]}]}]"#,
        );
        let k = keys();
        let replay = RefCell::new(ReplayCache::new(100));
        let caches = caches(100);
        let user = format!("Bearer {}", token(json!({"scope": "mcp"})));
        let admin = format!("Bearer {}", token(json!({"scope": "admin mcp"})));
        let call =
            |method: &str, auth: &str, body: &Body, headers: (Option<&str>, Option<&str>)| {
                let req = RequestFacts {
                    method,
                    authorization: Some(auth),
                    dpop: None,
                    origin: None,
                    mcp_method: headers.0,
                    mcp_name: headers.1,
                    url: "https://api.example.com/mcp",
                };
                let mut trace = Trace::default();
                route_then_authorize(&c, "/mcp", &req, (&k, &replay, &caches, body), &mut trace)
            };
        let tool = |name: &str| {
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{name}"}}}}"#
            )
        };
        let no_headers = (None, None);
        let needs = |scopes: &[&str]| {
            Err(GatewayError::InsufficientScope {
                scheme: Scheme::Bearer,
                required: scopes.iter().map(|s| s.to_string()).collect(),
            })
        };
        // An allowed call: the very bytes come back, to be forwarded.
        let body = Body::new(tool("search").as_bytes());
        let ok = call("POST", &user, &body, (Some("tools/call"), Some("search"))).unwrap();
        assert_eq!(ok.body.as_deref(), Some(tool("search").as_bytes()));
        // A guarded tool needs the route's scopes and the entry's, and the refusal names them all.
        let guarded = Body::new(tool("delete_repo").as_bytes());
        assert_eq!(
            call("POST", &user, &guarded, no_headers).map(|_| ()),
            needs(&["mcp", "admin"])
        );
        assert!(call("POST", &admin, &guarded, no_headers).is_ok());
        // Hidden in a batch, with a prompt: every matching entry counts.
        let batch = format!(
            r#"[{{"jsonrpc":"2.0","id":2,"method":"prompts/get","params":{{"name":"p"}}}},{}]"#,
            tool("delete_all")
        );
        assert_eq!(
            call("POST", &admin, &Body::new(batch.as_bytes()), no_headers).map(|_| ()),
            needs(&["mcp", "admin", "prompts"])
        );
        // Lying headers, bad JSON, oversized bodies.
        assert_eq!(
            call(
                "POST",
                &admin,
                &guarded,
                (Some("tools/call"), Some("search"))
            )
            .map(|_| ()),
            Err(GatewayError::InvalidJsonRpc(JsonRpcError::HeaderMismatch))
        );
        assert_eq!(
            call("POST", &admin, &Body::new(b"{"), no_headers).map(|_| ()),
            Err(GatewayError::InvalidJsonRpc(JsonRpcError::NotJson))
        );
        let huge = Body::new(&vec![b' '; jsonrpc::MAX_BODY_BYTES + 1]);
        assert_eq!(
            call("POST", &admin, &huge, no_headers).map(|_| ()),
            Err(GatewayError::PayloadTooLarge)
        );
        // No body is read before the token is good, nor on other methods.
        let unread = Body::new(b"{");
        let expired = format!("Bearer {}", token(json!({"exp": NOW - 1})));
        assert!(call("POST", &expired, &unread, no_headers).is_err());
        assert_eq!(
            call("POST", "Bearer", &unread, no_headers)
                .unwrap_err()
                .code(),
            "invalid_request"
        );
        let get = call("GET", &user, &unread, no_headers).unwrap();
        assert!(get.body.is_none());
        assert_eq!(unread.reads.get(), 0);
    }

    #[test]
    fn metadata_documents_are_served_by_path_and_method() {
        let c = resource_config();
        let doc = |method, path, preflight| resource_metadata(&c, method, path, preflight);
        let Some(Ok(Metadata::Document(text))) =
            doc("GET", "/.well-known/oauth-protected-resource/mcp", false)
        else {
            panic!("no document")
        };
        let value: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(value["resource"], "https://mcp.example.com/mcp");
        assert_eq!(value["scopes_supported"], json!(["mcp:use"]));
        assert!(matches!(
            doc("HEAD", "/.well-known/oauth-protected-resource/%62", false),
            Some(Ok(Metadata::Document(t))) if t.contains("https://mcp.example.com/b")
        ));
        assert!(matches!(
            doc("GET", "/.well-%6Bnown/oauth-protected-resource/mcp", false),
            Some(Ok(Metadata::Document(_)))
        ));
        assert!(matches!(
            doc("OPTIONS", "/.well-known/oauth-protected-resource/mcp", true),
            Some(Ok(Metadata::Preflight(_)))
        ));
        for method in ["POST", "DELETE", "OPTIONS"] {
            assert_eq!(
                doc(method, "/.well-known/oauth-protected-resource/mcp", false),
                Some(Err(GatewayError::MethodNotAllowed))
            );
        }
        for path in [
            "/.well-known/oauth-protected-resource",
            "/.well-known/oauth-protected-resource/mcp/x",
            "/mcp",
            "/.well-known/oauth-protected-resource/../mcp",
            "/.well-knowN/oauth-protected-resource/mcp",
        ] {
            assert_eq!(doc("GET", path, false), None, "{path}");
        }
        assert_eq!(
            resource_metadata(
                &config("allowed"),
                "GET",
                "/.well-known/oauth-protected-resource",
                false
            ),
            None
        );
    }

    #[test]
    fn claim_rules_name_the_claim() {
        let (c, k) = (policy_config(), keys());
        let good = json!({"org_id": "org_1", "https://example.com/roles": ["admin", "ops"]});
        let call = |extra: serde_json::Value| {
            let mut claims = good.clone();
            for (key, value) in extra.as_object().unwrap() {
                claims[key] = value.clone();
            }
            let auth = format!("Bearer {}", token(claims));
            run(&c, &k, "GET", "/org", Some(&auth), None).map(|_| ())
        };
        assert_eq!(call(json!({})), Ok(()));
        let refused = |claim: &str, failure| {
            Err(GatewayError::ClaimRule {
                scheme: Scheme::Bearer,
                claim: claim.into(),
                failure,
            })
        };
        assert_eq!(
            call(json!({"org_id": "org_2"})),
            refused("org_id", ClaimFailure::Unexpected)
        );
        assert_eq!(
            call(json!({"org_id": null})),
            refused("org_id", ClaimFailure::Unexpected)
        );
        assert_eq!(
            call(json!({"https://example.com/roles": ["ops"]})),
            refused("https://example.com/roles", ClaimFailure::Unexpected)
        );
        assert_eq!(
            call(json!({"sub": "anon@123"})),
            refused("sub", ClaimFailure::Unexpected)
        );
        let e = call(json!({"sub": "anon@123"})).unwrap_err();
        assert_eq!((e.status(), e.code()), (401, "invalid_token"));
        assert_eq!(e.description(), "Unexpected 'sub' value");
    }

    #[test]
    fn demo_routes_end_to_end() {
        let (c, k) = (config("allowed"), keys());
        let bearer = format!("Bearer {}", token(json!({})));
        assert!(run(&c, &k, "GET", "/api/public", None, None)
            .unwrap()
            .is_none());
        let id = run(&c, &k, "GET", "/api/private", Some(&bearer), None)
            .unwrap()
            .unwrap();
        assert_eq!(id.claims.sub.as_deref(), Some("auth0|u"));
        assert_eq!(id.scheme, Scheme::Bearer);
        assert!(run(&c, &k, "GET", "/api/private-scoped", Some(&bearer), None).is_ok());
        let weak = format!("Bearer {}", token(json!({"scope": "write:messages"})));
        assert_eq!(
            run(&c, &k, "GET", "/api/private-scoped", Some(&weak), None).unwrap_err(),
            GatewayError::InsufficientScope {
                scheme: Scheme::Bearer,
                required: vec!["read:messages".into()]
            }
        );
    }

    #[test]
    fn unmatched_and_unsafe_paths_are_refused_before_token_work() {
        let (c, k) = (config("allowed"), keys());
        let bearer = format!("Bearer {}", token(json!({})));
        assert_eq!(
            run(&c, &k, "GET", "/nope", Some(&bearer), None).unwrap_err(),
            GatewayError::NotFound
        );
        assert_eq!(
            run(&c, &k, "POST", "/api/private", Some(&bearer), None).unwrap_err(),
            GatewayError::NotFound
        );
        assert_eq!(
            run(&c, &k, "GET", "/api/x/../private", Some(&bearer), None)
                .unwrap_err()
                .code(),
            "invalid_request"
        );
        assert_eq!(k.lookups.get(), 0);
        // An encoded but equivalent path matches its rule.
        assert!(run(&c, &k, "GET", "/api/%70rivate", Some(&bearer), None).is_ok());
    }

    #[test]
    fn credential_errors_map_to_the_contract() {
        let (c, k) = (config("allowed"), keys());
        let cases: [(Option<&str>, &str); 4] = [
            (None, "unauthorized"),
            (Some("Basic x"), "unauthorized"),
            (Some("Bearer"), "invalid_request"),
            (Some("Bearer not-a-jwt"), "invalid_token"),
        ];
        for (auth, code) in cases {
            assert_eq!(
                run(&c, &k, "GET", "/api/private", auth, None)
                    .unwrap_err()
                    .code(),
                code,
                "{auth:?}"
            );
        }
        assert_eq!(
            k.lookups.get(),
            0,
            "malformed tokens never reach key lookup"
        );
    }

    #[test]
    fn unknown_kid_and_unavailable_keys() {
        let c = config("allowed");
        let other_kid = test_keys::rsa_2048().sign(
            &json!({"alg": "RS256", "kid": "k2"}),
            &json!({"iss": "https://tenant.auth0.com/", "aud": "https://api", "exp": NOW + 60}),
        );
        let e = run(
            &c,
            &keys(),
            "GET",
            "/api/private",
            Some(&format!("Bearer {other_kid}")),
            None,
        )
        .unwrap_err();
        assert_eq!(
            e,
            GatewayError::InvalidToken(Scheme::Bearer, TokenError::UnknownKid)
        );
        let down = FixedKeys {
            unavailable: true,
            ..keys()
        };
        let e = run(
            &c,
            &down,
            "GET",
            "/api/private",
            Some(&format!("Bearer {}", token(json!({})))),
            None,
        )
        .unwrap_err();
        assert_eq!(e.status(), 503);
    }

    #[test]
    fn bearer_downgrades_are_refused() {
        let bound = format!("Bearer {}", token(json!({"cnf": {"jkt": "thumbprint"}})));
        let plain = format!("Bearer {}", token(json!({})));
        let (allowed, k) = (config("allowed"), keys());
        let e = run(&allowed, &k, "GET", "/api/private", Some(&bound), None).unwrap_err();
        assert_eq!(e.code(), "invalid_token");
        let e = run(
            &allowed,
            &k,
            "GET",
            "/api/private",
            Some(&plain),
            Some("proof"),
        )
        .unwrap_err();
        assert_eq!(
            e,
            GatewayError::InvalidRequest(Scheme::Bearer, CredentialsError::ProofWithBearer)
        );
        // With DPoP disabled, a bound token is a plain bearer token and a stray DPoP header is ignored.
        let disabled = config("disabled");
        assert!(run(
            &disabled,
            &k,
            "GET",
            "/api/private",
            Some(&bound),
            Some("proof")
        )
        .is_ok());
        // With DPoP required, Bearer is not accepted at all.
        let required = config("required");
        assert_eq!(
            run(&required, &k, "GET", "/api/private", Some(&plain), None)
                .unwrap_err()
                .code(),
            "unauthorized"
        );
    }

    #[test]
    fn only_authorised_requests_on_limited_routes_get_a_limit_key() {
        let bindings = crate::config::Bindings {
            rate_limiter: true,
            ..Default::default()
        };
        let c = Config::from_environment(
            |name| match name {
                "AUTH0_DOMAIN" => Some("tenant.auth0.com".into()),
                "AUTH0_AUDIENCE" => Some("https://api".into()),
                "ROUTES" => Some(
                    r#"[{"path": "/limited", "scopes": ["read:messages"], "rate_limit": true},
                    {"path": "/open", "auth": "required"}]"#
                        .into(),
                ),
                _ => None,
            },
            bindings,
        )
        .unwrap();
        let k = keys();
        let call = |path: &str, token: &str| {
            let authorization = format!("Bearer {token}");
            authorize_once(&c, &k, path, &authorization, None, &mut Trace::default())
                .map(|a| a.limit_key)
        };
        assert_eq!(
            call("/limited", &token(json!({}))).unwrap().as_deref(),
            Some("sub:auth0|u")
        );
        assert_eq!(call("/open", &token(json!({}))).unwrap(), None);
        // Refused requests never reach the limiter: there is no key to count.
        assert!(call("/limited", &token(json!({"scope": "other"}))).is_err());
        assert!(call("/limited", &token(json!({"exp": NOW - 120}))).is_err());
    }

    #[test]
    fn data_points_never_carry_a_token_proof_or_secret() {
        let secret = "shared-secret-0123456789";
        let c = Config::from_lookup(|name| match name {
            "AUTH0_DOMAIN" => Some("tenant.auth0.com".into()),
            "AUTH0_AUDIENCE" => Some("https://api".into()),
            "ORIGIN_URL" => Some("https://origin.internal".into()),
            "ORIGIN_SHARED_SECRET" => Some(secret.into()),
            _ => None,
        })
        .unwrap();
        let k = keys();
        let client = test_keys::TestDpopKey::new(9);
        let (dpop_auth, proof) = dpop_call(&client, json!({}));
        let valid = token(json!({}));
        let mut tampered = valid.clone();
        tampered.truncate(valid.len() - 4);
        tampered.push_str("AAAA");
        let calls: Vec<(&str, String, Option<&str>)> = vec![
            ("/api/private", format!("Bearer {valid}"), None),
            (
                "/api/private-scoped",
                format!("Bearer {}", token(json!({"scope": "x"}))),
                None,
            ),
            (
                "/api/private",
                format!("Bearer {}", token(json!({"exp": NOW - 600}))),
                None,
            ),
            ("/api/private", format!("Bearer {tampered}"), None),
            ("/api/private", dpop_auth.clone(), Some(&proof)),
            ("/api/private", dpop_auth.clone(), Some("zzzzzz.yyyyyy")),
            ("/api/private", "Bearer a.b".into(), None),
        ];
        for (path, authorization, dpop) in &calls {
            let mut trace = Trace::default();
            let outcome = authorize_once(&c, &k, path, authorization, *dpop, &mut trace);
            let reason = outcome.as_ref().err().map(|e| e.description());
            let observation = metrics::Observation {
                method: "GET",
                route: trace.route,
                decision: outcome.as_ref().map_or_else(|e| e.code(), |_| "allow"),
                reason: reason.as_deref(),
                issuer: trace.issuer.map(|i| c.issuers[i].url.as_str()),
                scheme: trace.scheme,
                sub: trace.sub.as_deref(),
                ..metrics::Observation::default()
            };
            let point = observation.data_point(crate::config::Metrics { include_sub: false });
            // Every part of the credentials that could identify or replay them.
            let secrets = authorization
                .split(' ')
                .skip(1)
                .flat_map(|token| token.split('.'))
                .chain(dpop.iter().flat_map(|p| p.split('.')))
                .filter(|part| part.len() >= 4)
                .chain([secret, "auth0|u"]);
            for part in secrets {
                for blob in point.blobs {
                    assert!(!blob.contains(part), "{path}: {blob:?} carries {part:?}");
                }
            }
        }
    }

    /// A DPoP-bound token for `client`, its Authorization value, and a fresh proof for GET /api/private.
    fn dpop_call(client: &test_keys::TestDpopKey, extra: serde_json::Value) -> (String, String) {
        let token = token(json!({"cnf": {"jkt": client.jkt()}}));
        let proof = client.proof("GET", URL, &token, NOW, extra);
        (format!("DPoP {token}"), proof)
    }

    #[test]
    fn dpop_calls_verify_and_replays_fail() {
        let (c, k) = (config("allowed"), keys());
        let client = test_keys::TestDpopKey::new(7);
        let replay = RefCell::new(ReplayCache::new(100));
        let (auth, proof) = dpop_call(&client, json!({}));
        let id = run_with(
            &c,
            &k,
            &replay,
            "GET",
            "/api/private",
            Some(&auth),
            Some(&proof),
        )
        .unwrap()
        .unwrap();
        assert_eq!(id.scheme, Scheme::Dpop);
        assert_eq!(
            run_with(
                &c,
                &k,
                &replay,
                "GET",
                "/api/private",
                Some(&auth),
                Some(&proof)
            )
            .unwrap_err(),
            GatewayError::InvalidDpopProof(ProofError::Replayed)
        );
        // DPoP is also accepted in required mode.
        let (auth, proof) = dpop_call(&client, json!({"jti": "other"}));
        assert!(run(
            &config("required"),
            &k,
            "GET",
            "/api/private",
            Some(&auth),
            Some(&proof)
        )
        .is_ok());
    }

    /// A token seen before keeps its `ath`: later proofs are checked against the kept hash, which is the
    /// token's own, so a proof made for another token is still refused.
    #[test]
    fn a_cached_token_keeps_its_ath() {
        let (c, k) = (config("allowed"), keys());
        let client = test_keys::TestDpopKey::new(7);
        let replay = RefCell::new(ReplayCache::new(100));
        let caches = caches(100);
        let (auth, proof) = dpop_call(&client, json!({"jti": "1"}));
        let token = &auth["DPoP ".len()..];
        let call = |proof: &str| {
            let req = RequestFacts {
                method: "GET",
                authorization: Some(&auth),
                dpop: Some(proof),
                origin: None,
                mcp_method: None,
                mcp_name: None,
                url: URL,
            };
            run_full(&c, &k, &replay, &caches, "/api/private", &req)
        };
        assert!(call(&proof).is_ok());
        let entry = caches.tokens.borrow_mut().get(token, NOW, 0).unwrap();
        assert_eq!(
            entry.ath.get(),
            None,
            "a new token's proof hashes the token itself"
        );
        let other = client.proof("GET", URL, "another.access.token", NOW, json!({"jti": "2"}));
        assert_eq!(
            call(&other).unwrap_err(),
            GatewayError::InvalidDpopProof(ProofError::AthMismatch)
        );
        assert_eq!(
            entry.ath.get().map(String::as_str),
            Some(dpop::access_token_hash(token).as_str())
        );
        assert!(call(&client.proof("GET", URL, token, NOW, json!({"jti": "3"}))).is_ok());
    }

    /// The proof's parse and signature as the gateway runs them with `proof_keys`, and whether the key
    /// was found prepared.
    fn check_proof(
        proof_keys: &RefCell<ProofKeyCache>,
        auth: &str,
        proof: &str,
    ) -> (bool, Result<VerifiedProof, ProofError>) {
        let target = ProofTarget {
            method: "GET",
            url: URL,
            access_token: &auth["DPoP ".len()..],
            access_token_hash: None,
        };
        let window = config("allowed").dpop.window;
        let parsed = dpop::parse_proof(proof, target, window, NOW, &*proof_keys.borrow());
        match parsed {
            Ok(parsed) => (
                parsed.key_is_prepared(),
                verify_proof_signature(proof_keys, parsed),
            ),
            Err(e) => (false, Err(e)),
        }
    }

    /// The coordinates of a test client's key, as its proofs send them.
    fn coordinates(client: &test_keys::TestDpopKey) -> dpop::Coordinates {
        let jwk = client.public_jwk();
        dpop::Coordinates::of(jwk["x"].as_str().unwrap(), jwk["y"].as_str().unwrap()).unwrap()
    }

    #[test]
    fn a_dpop_key_is_prepared_from_its_second_verified_proof() {
        let client = test_keys::TestDpopKey::new(7);
        let proof_keys = RefCell::new(ProofKeyCache::default());
        let check = |jti: &str, forged: bool| {
            let (auth, mut proof) = dpop_call(&client, json!({ "jti": jti }));
            if forged {
                // One character of the signature changed: still well formed, no longer valid.
                let at = proof.len() - 20;
                let swapped = if &proof[at..=at] == "A" { "B" } else { "A" };
                proof.replace_range(at..=at, swapped);
            }
            let (found, verified) = check_proof(&proof_keys, &auth, &proof);
            (found, verified.map(|p| p.jti))
        };
        let known = || match proof_keys.borrow().get(&coordinates(&client)) {
            KnownKey::Unknown => "unknown",
            KnownKey::Seen => "seen",
            KnownKey::Prepared(_) => "prepared",
        };
        assert_eq!(check("j0", true), (false, Err(ProofError::Signature)));
        assert_eq!(known(), "unknown", "a bad signature leaves nothing");
        assert_eq!(check("j1", false), (false, Ok("j1".to_owned())));
        assert_eq!(known(), "seen");
        assert_eq!(check("j2", true), (false, Err(ProofError::Signature)));
        assert_eq!(known(), "seen", "nor is a key prepared by one");
        assert_eq!(check("j3", false), (false, Ok("j3".to_owned())));
        assert_eq!(known(), "prepared");
        assert_eq!(check("j4", false), (true, Ok("j4".to_owned())));
        assert_eq!(check("j5", true), (true, Err(ProofError::Signature)));
        assert_eq!(known(), "prepared");
        assert_eq!(proof_keys.borrow().len(), 1);
    }

    #[test]
    fn a_prepared_key_is_found_only_by_its_own_coordinates() {
        let client = test_keys::TestDpopKey::new(7);
        let thief = test_keys::TestDpopKey::new(9);
        let proof_keys = RefCell::new(ProofKeyCache::default());
        for jti in ["j1", "j2"] {
            let (auth, proof) = dpop_call(&client, json!({ "jti": jti }));
            assert!(check_proof(&proof_keys, &auth, &proof).1.is_ok());
        }
        let (auth, _) = dpop_call(&client, json!({}));
        let token = &auth["DPoP ".len()..];
        let claims = |jti: &str| {
            json!({"jti": jti, "htm": "GET", "htu": URL, "iat": NOW, "ath": dpop::access_token_hash(token)})
                .to_string()
        };
        let header = |jwk: &serde_json::Value| {
            json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}).to_string()
        };
        let jwk = client.public_jwk();

        // The client's next proof finds its key, with the thumbprint computed when it was prepared.
        let (found, verified) = check_proof(
            &proof_keys,
            &auth,
            &client.sign_compact(&header(&jwk), &claims("j3")),
        );
        assert!(found);
        assert_eq!(verified.unwrap().jkt, client.jkt());
        // Signed by another key with the client's JWK: found, and the signature refused.
        let forged = thief.sign_compact(&header(&jwk), &claims("j4"));
        assert_eq!(
            check_proof(&proof_keys, &auth, &forged),
            (true, Err(ProofError::Signature))
        );
        // The other key's own JWK is not found, and verifies as a new key with its own thumbprint.
        let (found, verified) = check_proof(
            &proof_keys,
            &auth,
            &thief.sign_compact(&header(&thief.public_jwk()), &claims("j5")),
        );
        assert!(!found);
        assert_eq!(verified.unwrap().jkt, thief.jkt());
        // The client's x with another y is decoded and checked again: here, not on the curve.
        let mut off_curve = jwk.clone();
        off_curve["y"] = thief.public_jwk()["y"].clone();
        let (found, verified) = check_proof(
            &proof_keys,
            &auth,
            &client.sign_compact(&header(&off_curve), &claims("j6")),
        );
        assert_eq!((found, verified), (false, Err(ProofError::JwkNotOnCurve)));
        // A JWK with the client's coordinates still has its other members checked first.
        let mut private = jwk.clone();
        private["d"] = json!("AAAA");
        let (found, verified) = check_proof(
            &proof_keys,
            &auth,
            &client.sign_compact(&header(&private), &claims("j7")),
        );
        assert_eq!((found, verified), (false, Err(ProofError::JwkPrivate)));
    }

    #[test]
    fn dpop_binding_and_header_rules() {
        let (c, k) = (config("allowed"), keys());
        let client = test_keys::TestDpopKey::new(7);
        let (auth, proof) = dpop_call(&client, json!({}));
        let call =
            |auth: &str, dpop: Option<&str>| run(&c, &k, "GET", "/api/private", Some(auth), dpop);
        assert_eq!(
            call(&auth, None).unwrap_err(),
            GatewayError::InvalidDpopProof(ProofError::Missing)
        );
        assert_eq!(
            call(&auth, Some(&format!("{proof}, {proof}"))).unwrap_err(),
            GatewayError::InvalidDpopProof(ProofError::Several)
        );
        // A proof by another key than the one the token is bound to.
        let thief = test_keys::TestDpopKey::new(9);
        let token = auth.strip_prefix("DPoP ").unwrap();
        let stolen = thief.proof("GET", URL, token, NOW, json!({}));
        assert_eq!(
            call(&auth, Some(&stolen)).unwrap_err(),
            GatewayError::InvalidToken(Scheme::Dpop, TokenError::JktMismatch)
        );
        // A plain bearer token presented with a proof.
        let plain = self::token(json!({}));
        let proof = client.proof("GET", URL, &plain, NOW, json!({}));
        assert_eq!(
            call(&format!("DPoP {plain}"), Some(&proof)).unwrap_err(),
            GatewayError::InvalidToken(Scheme::Dpop, TokenError::NotBound)
        );
        // A proof for another method.
        let post = client.proof("POST", URL, token, NOW, json!({}));
        assert_eq!(
            call(&auth, Some(&post)).unwrap_err(),
            GatewayError::InvalidDpopProof(ProofError::HtmMismatch)
        );
    }

    #[test]
    fn server_nonces_round_trip() {
        let c = config_with("allowed", Some("0123456789abcdef0123456789abcdef"));
        let k = keys();
        let client = test_keys::TestDpopKey::new(7);
        let (auth, proof) = dpop_call(&client, json!({}));
        let nonce = match run(&c, &k, "GET", "/api/private", Some(&auth), Some(&proof)).unwrap_err()
        {
            GatewayError::UseDpopNonce(nonce) => nonce,
            other => panic!("expected use_dpop_nonce, got {other:?}"),
        };
        let (_, with_nonce) = dpop_call(&client, json!({"nonce": nonce}));
        assert!(run(
            &c,
            &k,
            "GET",
            "/api/private",
            Some(&auth),
            Some(&with_nonce)
        )
        .is_ok());
        let (_, wrong) = dpop_call(&client, json!({"nonce": "bm9wZQ"}));
        assert!(matches!(
            run(&c, &k, "GET", "/api/private", Some(&auth), Some(&wrong)),
            Err(GatewayError::UseDpopNonce(_))
        ));
    }

    #[test]
    fn preflights_need_an_allowed_origin_and_a_route() {
        let c = Config::from_lookup(|name| match name {
            "AUTH0_DOMAIN" => Some("tenant.auth0.com".into()),
            "AUTH0_AUDIENCE" => Some("https://api".into()),
            "CORS_ALLOWED_ORIGINS" => Some("https://app.example.com".into()),
            _ => None,
        })
        .unwrap();
        let ok = preflight(&c, "/api/private", "https://app.example.com", "GET")
            .unwrap()
            .unwrap();
        assert!(ok
            .iter()
            .any(|(n, v)| *n == "access-control-allow-origin" && v == "https://app.example.com"));
        assert!(preflight(&c, "/api/private", "https://evil.example.com", "GET").is_none());
        assert_eq!(
            preflight(&c, "/api/private", "https://app.example.com", "DELETE")
                .unwrap()
                .unwrap_err(),
            GatewayError::NotFound
        );
        assert_eq!(
            preflight(&c, "/api//private", "https://app.example.com", "GET")
                .unwrap()
                .unwrap_err()
                .status(),
            400
        );
        assert!(preflight(
            &config("allowed"),
            "/api/private",
            "https://app.example.com",
            "GET"
        )
        .is_none());
    }
}
