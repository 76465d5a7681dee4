//! The request pipeline, free of Workers types: route, credentials, token, scopes. It takes the request
//! facts, a clock and a key source, so it runs the same natively under `cargo test` and in the Worker.
//!
//! Cheap checks come first and network-free: path safety and route (before any token work), the
//! `Authorization` header, token structure and claims, and only then key lookup and signature checks.

use std::sync::Arc;

use crate::authorization::parse_authorization;
use crate::config::{Config, DpopMode};
use crate::errors::{GatewayError, Scheme};
use crate::key_cache::KeyError;
use crate::keys::VerifyingKey;
use crate::path;
use crate::policy::{Access, RouteRule};
use crate::token::{self, ClaimRules, Claims};

/// What the pipeline reads from a request.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    pub method: &'a str,
    /// The path as received (percent-encoded).
    pub path: &'a str,
    pub authorization: Option<&'a str>,
    /// The `DPoP` header; several headers arrive comma-joined.
    pub dpop: Option<&'a str>,
}

/// Where verification keys come from: the isolate cache backed by the IdP in the Worker, a fixed set in
/// tests.
#[allow(async_fn_in_trait)] // Workers run one thread per isolate; futures need not be Send.
pub trait KeySource {
    async fn key(&self, kid: &str) -> Result<Arc<VerifyingKey>, KeyError>;
}

/// What the log line of a request reports, filled in as the pipeline goes.
#[derive(Debug, Default, Clone)]
pub struct Trace {
    /// The matched rule's pattern.
    pub route: Option<String>,
    pub kid: Option<String>,
    pub sub: Option<String>,
}

/// The verified caller of an authorised request.
#[derive(Debug, Clone)]
pub struct Identity {
    pub scheme: Scheme,
    pub claims: Claims,
}

/// An authorised request.
#[derive(Debug)]
pub struct Authorized<'c> {
    pub rule: &'c RouteRule,
    /// The normalised path, which is what was matched.
    pub path: String,
    /// `None` on public routes.
    pub identity: Option<Identity>,
}

/// Decides whether a request may pass. `now` is seconds since the epoch.
pub async fn authorize<'c>(
    config: &'c Config,
    req: &RequestFacts<'_>,
    keys: &impl KeySource,
    now: u64,
    trace: &mut Trace,
) -> Result<Authorized<'c>, GatewayError> {
    let path = path::normalize(req.path).map_err(GatewayError::BadPath)?;
    let rule = config.routes.find(req.method, &path).ok_or(GatewayError::NotFound)?;
    trace.route = Some(rule.pattern.clone());
    if rule.access == Access::Public {
        return Ok(Authorized {
            rule,
            path,
            identity: None,
        });
    }

    let credentials = parse_authorization(req.authorization, config.dpop_mode)?;
    let scheme = credentials.scheme;
    let invalid_token = |reason| GatewayError::InvalidToken(scheme, reason);

    // RFC 9449 section 7.2: a proof sent with the Bearer scheme is a confused client or a downgrade.
    if scheme == Scheme::Bearer && req.dpop.is_some() && config.dpop_mode != DpopMode::Disabled {
        return Err(GatewayError::InvalidRequest(
            Scheme::Bearer,
            "a DPoP proof was sent with the Bearer scheme; use the DPoP scheme",
        ));
    }

    let rules = ClaimRules {
        issuer: &config.issuer.url,
        audience: &config.audience,
        leeway: config.clock_leeway,
    };
    let unverified = token::parse(credentials.token, rules, now).map_err(invalid_token)?;
    trace.kid = Some(unverified.kid().to_owned());
    let key = match keys.key(unverified.kid()).await {
        Ok(key) => key,
        Err(KeyError::UnknownKid) => return Err(invalid_token("kid: no signing key has this kid")),
        Err(KeyError::Unavailable { retry_after }) => {
            return Err(GatewayError::TemporarilyUnavailable {
                description: "the signing keys of the issuer cannot be fetched",
                retry_after,
            })
        }
    };
    let claims = unverified.verify(&key).map_err(invalid_token)?;
    trace.sub = claims.sub.clone();

    match scheme {
        Scheme::Bearer => {
            // RFC 9449 section 7.1: a DPoP-bound token must not be accepted as a bearer token.
            if claims.jkt.is_some() && config.dpop_mode != DpopMode::Disabled {
                return Err(invalid_token(
                    "cnf: a DPoP-bound token must be sent with the DPoP scheme",
                ));
            }
        }
        Scheme::Dpop => {
            return Err(GatewayError::InvalidDpopProof(
                "DPoP proofs are not verified yet",
            ));
        }
    }

    if !rule.allows(&claims.scopes) {
        return Err(GatewayError::InsufficientScope {
            scheme,
            required: rule.required_scopes().to_vec(),
        });
    }
    Ok(Authorized {
        rule,
        path,
        identity: Some(Identity { scheme, claims }),
    })
}
