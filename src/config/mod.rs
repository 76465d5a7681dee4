//! Configuration (README "Configuration"): every setting is a string from wrangler vars, secrets, `.dev.vars`
//! or `--var`, parsed and validated once per isolate. A bad value is an error that names the setting;
//! nothing falls back silently.
//!
//! [`Config::from_lookup`] reads the sections in turn, each in its own file: the identity provider
//! (`idp`), DPoP (`dpop`), proxy mode (`proxy`) and CORS (`cors`). `settings` reads one value (unset,
//! required, number, flag, one of some words) the same way for all of them; `names` lists the settings.

mod cors;
mod dpop;
mod idp;
pub mod names;
mod operations;
mod proxy;
mod resources;
mod settings;

use std::fmt;

use crate::http::authorization::DpopMode;
use crate::http::cors::CorsPolicy;
use crate::http::proxy::ProxySettings;
use crate::idp::key_cache::CachePolicy;
use crate::idp::Issuer;
use crate::jose::dpop::ProofWindow;
use crate::jose::nonce::NonceKey;
use crate::jose::token::TokenProfile;
use crate::policy::{Resource, RouteTable};
use crate::state::replay::ReplayStoreKind;

pub use operations::{Bindings, Metrics, RateLimit};
use settings::Settings;

/// DPoP settings (RFC 9449).
#[derive(Debug, Clone)]
pub struct DpopSettings {
    pub window: ProofWindow,
    /// Server nonces (section 8), when a secret is configured.
    pub nonce: Option<NonceKey>,
    pub replay: ReplayStoreKind,
    /// Build the `htu` comparison URL from `X-Forwarded-Proto` / `X-Forwarded-Host`.
    pub trust_proxy: bool,
}

/// Which requests get a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestLogs {
    /// Every request.
    All,
    /// Refused requests and errors only.
    Denied,
    /// None.
    Off,
}

impl RequestLogs {
    /// Whether the line of a request (or a key refresh) that was `allowed` (succeeded) is printed.
    pub fn includes(self, allowed: bool) -> bool {
        match self {
            Self::All => true,
            Self::Denied => !allowed,
            Self::Off => false,
        }
    }
}

/// The validated configuration of one gateway.
#[derive(Debug, Clone)]
pub struct Config {
    /// The tenant's issuer first (`AUTH0_DOMAIN`), then its other custom domains; a token's `iss` must be
    /// one of them.
    pub issuers: Vec<Issuer>,
    /// `AUTH0_AUDIENCE`: the audience of routes without their own; unset only when every route that reads
    /// a token has its own.
    pub audience: Option<String>,
    pub dpop_mode: DpopMode,
    pub routes: RouteTable,
    /// `RESOURCES`: the protected resources, with their metadata documents (README "MCP servers").
    pub resources: Vec<Resource>,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub clock_leeway: u64,
    pub token_profile: TokenProfile,
    /// `MAX_TOKEN_AGE_SECONDS`, when set.
    pub max_token_age: Option<u64>,
    pub cache: CachePolicy,
    pub dpop: DpopSettings,
    /// Proxy mode, when `ORIGIN_URL` is set or `ORIGIN_SERVICE` bound; the demo endpoints otherwise.
    pub proxy: Option<ProxySettings>,
    /// CORS, when `CORS_ALLOWED_ORIGINS` is set.
    pub cors: Option<CorsPolicy>,
    pub request_logs: RequestLogs,
    /// Rate limits, when `RATE_LIMITER` is bound.
    pub rate_limit: Option<RateLimit>,
    /// Metrics, when `METRICS` is bound.
    pub metrics: Option<Metrics>,
}

/// A setting that is missing or invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub setting: &'static str,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.setting, self.reason)
    }
}

impl std::error::Error for ConfigError {}

fn invalid(setting: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        setting,
        reason: reason.into(),
    }
}

impl Config {
    /// Reads and validates every setting through `lookup` (an env var or secret by name).
    /// An empty value counts as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        Self::from_environment(lookup, Bindings::default())
    }

    /// As [`Config::from_lookup`], for a Worker with the optional `bindings` (README "Operations").
    pub fn from_environment(
        lookup: impl Fn(&str) -> Option<String>,
        bindings: Bindings,
    ) -> Result<Config, ConfigError> {
        let s = Settings::new(&lookup);
        // In this order: when several settings are wrong, the first one is reported.
        let issuers = idp::issuers(&s)?;
        let audience = s.optional(names::AUTH0_AUDIENCE);
        if audience.is_none() && s.optional(names::ROUTES).is_none() {
            return Err(invalid(names::AUTH0_AUDIENCE, "is not set"));
        }
        let dpop_mode = dpop::mode(&s)?;
        let mut resources = resources::resources(&s)?;
        let routes = match s.optional(names::ROUTES) {
            None => RouteTable::demo(),
            Some(json) => RouteTable::with_resources(&json, &resources)
                .map_err(|reason| invalid(names::ROUTES, reason))?,
        };
        resources::render_documents(&mut resources, &issuers, dpop_mode, &routes);
        if audience.is_none() {
            if let Some(rule) = routes.rules().iter().find(|r| r.uses_default_audience()) {
                return Err(invalid(
                    names::AUTH0_AUDIENCE,
                    format!(
                        "is not set, and route {} has no audience of its own",
                        rule.pattern
                    ),
                ));
            }
        }
        let proxy = proxy::proxy(&s, bindings.origin_service)?;
        let cors = cors::cors(&s)?;
        let clock_leeway = s.number(names::CLOCK_LEEWAY_SECONDS, 0, 0..=300)?;
        let token_profile = s.choice(
            names::TOKEN_PROFILE,
            &[
                ("standard", TokenProfile::Standard),
                ("rfc9068", TokenProfile::Rfc9068),
            ],
        )?;
        let max_token_age = match s.optional(names::MAX_TOKEN_AGE_SECONDS) {
            None => None,
            Some(_) => Some(s.number(names::MAX_TOKEN_AGE_SECONDS, 0, 1..=31_536_000)?),
        };
        let cache = idp::cache_policy(&s)?;
        let dpop = dpop::settings(&s)?;
        let request_logs = s.choice(
            names::REQUEST_LOGS,
            &[
                ("all", RequestLogs::All),
                ("denied", RequestLogs::Denied),
                ("off", RequestLogs::Off),
            ],
        )?;
        let rate_limit = operations::rate_limit(&s, bindings, &routes)?;
        let metrics = operations::metrics(&s, bindings)?;
        Ok(Config {
            issuers,
            audience,
            dpop_mode,
            routes,
            resources,
            clock_leeway,
            token_profile,
            max_token_age,
            cache,
            dpop,
            proxy,
            cors,
            request_logs,
            rate_limit,
            metrics,
        })
    }

    /// Whether a request's `Origin` can matter: to CORS, and to the routes of protected resources, which
    /// refuse a browser page's origin unless CORS allows it (`gateway::check_origin`). Otherwise it is not
    /// read (each header read is a crossing into JavaScript).
    pub fn reads_origin(&self) -> bool {
        self.cors.is_some() || !self.resources.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::jwa::{Algorithm, Algorithms};
    use std::collections::HashMap;

    pub(super) fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    /// With proxy mode and CORS on, `name` set to `bad` is refused naming `name`.
    pub(super) fn assert_refused_with_proxy_and_cors(name: &str, bad: &str) {
        let mut vars = BASE.to_vec();
        vars.extend([
            ("ORIGIN_URL", "https://origin.internal"),
            ("CORS_ALLOWED_ORIGINS", "*"),
        ]);
        vars.retain(|(n, _)| *n != name);
        vars.push((name, bad));
        assert_eq!(config(&vars).unwrap_err().setting, name, "{name}={bad}");
    }

    pub(super) const BASE: [(&str, &str); 2] = [
        ("AUTH0_DOMAIN", "tenant.us.auth0.com"),
        ("AUTH0_AUDIENCE", "https://api.example.com"),
    ];

    #[test]
    fn the_default_audience_is_needed_only_by_routes_without_their_own() {
        let routes = r#"[{"path": "/a", "auth": "required", "audience": "https://a"},
                         {"path": "/p", "auth": "none"}]"#;
        let c = config(&[("AUTH0_DOMAIN", "t.auth0.com"), ("ROUTES", routes)]).unwrap();
        assert_eq!(c.audience, None);
        let routes = r#"[{"path": "/a", "auth": "required", "audience": "https://a"},
                         {"path": "/b", "auth": "optional"}]"#;
        let e = config(&[("AUTH0_DOMAIN", "t.auth0.com"), ("ROUTES", routes)]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "AUTH0_AUDIENCE is not set, and route /b has no audience of its own"
        );
    }

    #[test]
    fn token_algorithms() {
        let mut vars = BASE.to_vec();
        vars.push(("TOKEN_ALGORITHMS", "PS256, RS256,RS512"));
        let c = config(&vars).unwrap();
        assert_eq!(
            c.cache.algorithms,
            Algorithms::new(&[Algorithm::Ps256, Algorithm::Rs256, Algorithm::Rs512])
        );
        for bad in ["HS256", "rs256", "RS256, ES256", " , "] {
            let mut vars = BASE.to_vec();
            vars.push(("TOKEN_ALGORITHMS", bad));
            assert_eq!(
                config(&vars).unwrap_err().setting,
                "TOKEN_ALGORITHMS",
                "{bad}"
            );
        }
    }

    #[test]
    fn token_profile_and_age() {
        let mut vars = BASE.to_vec();
        vars.extend([
            ("TOKEN_PROFILE", "rfc9068"),
            ("MAX_TOKEN_AGE_SECONDS", "3600"),
        ]);
        let c = config(&vars).unwrap();
        assert_eq!(
            (c.token_profile, c.max_token_age),
            (TokenProfile::Rfc9068, Some(3600))
        );
        for (name, bad) in [
            ("TOKEN_PROFILE", "strict"),
            ("MAX_TOKEN_AGE_SECONDS", "0"),
            ("MAX_TOKEN_AGE_SECONDS", "1h"),
        ] {
            let mut vars = BASE.to_vec();
            vars.push((name, bad));
            assert_eq!(config(&vars).unwrap_err().setting, name, "{name}={bad}");
        }
    }

    #[test]
    fn minimal_configuration_gets_documented_defaults() {
        let c = config(&BASE).unwrap();
        assert_eq!(c.issuers.len(), 1);
        assert!(c.proxy.is_none() && c.cors.is_none());
        assert_eq!(c.issuers[0].url, "https://tenant.us.auth0.com/");
        assert_eq!(
            c.issuers[0].discovery_url,
            "https://tenant.us.auth0.com/.well-known/openid-configuration"
        );
        assert_eq!(c.audience.as_deref(), Some("https://api.example.com"));
        assert_eq!(c.token_profile, TokenProfile::Standard);
        assert_eq!(c.max_token_age, None);
        assert_eq!(c.dpop_mode, DpopMode::Allowed);
        assert_eq!(c.clock_leeway, 0);
        assert_eq!(
            c.cache,
            CachePolicy {
                max_ttl: 600,
                cooldown: 30,
                stale_if_error: 86_400,
                fetch_timeout_ms: 5_000,
                refresh_ahead_percent: 25,
                algorithms: Algorithms::DEFAULT,
            }
        );
        assert_eq!(c.request_logs, RequestLogs::All);
    }

    #[test]
    fn missing_required_settings_are_named() {
        let e = config(&[("AUTH0_DOMAIN", "t.auth0.com")]).unwrap_err();
        assert_eq!(e.to_string(), "AUTH0_AUDIENCE is not set");
        let e = config(&[("AUTH0_AUDIENCE", "x"), ("AUTH0_DOMAIN", "  ")]).unwrap_err();
        assert_eq!(e.to_string(), "AUTH0_DOMAIN is not set");
    }

    #[test]
    fn numeric_settings_are_bounded_and_named() {
        for (name, bad) in [
            ("CLOCK_LEEWAY_SECONDS", "-1"),
            ("CLOCK_LEEWAY_SECONDS", "301"),
            ("CLOCK_LEEWAY_SECONDS", "5s"),
            ("CACHE_MAX_TTL_SECONDS", "1e3"),
            ("JWKS_COOLDOWN_SECONDS", "3601"),
            ("STALE_IF_ERROR_SECONDS", "x"),
            ("FETCH_TIMEOUT_MS", "0"),
        ] {
            let mut vars = BASE.to_vec();
            vars.push((name, bad));
            let e = config(&vars).unwrap_err();
            assert_eq!(e.setting, name, "{name}={bad}");
        }
        let mut vars = BASE.to_vec();
        vars.extend([
            ("CLOCK_LEEWAY_SECONDS", "5"),
            ("JWKS_COOLDOWN_SECONDS", "0"),
        ]);
        let c = config(&vars).unwrap();
        assert_eq!((c.clock_leeway, c.cache.cooldown), (5, 0));
    }

    #[test]
    fn request_logs_values() {
        for (value, logs) in [
            ("all", RequestLogs::All),
            (" denied ", RequestLogs::Denied),
            ("off", RequestLogs::Off),
        ] {
            let mut vars = BASE.to_vec();
            vars.push(("REQUEST_LOGS", value));
            assert_eq!(config(&vars).unwrap().request_logs, logs);
        }
        let mut vars = BASE.to_vec();
        vars.push(("REQUEST_LOGS", "Off"));
        assert_eq!(
            config(&vars).unwrap_err().to_string(),
            "REQUEST_LOGS must be one of: all, denied, off"
        );
    }

    #[test]
    fn origin_is_read_only_where_it_can_matter() {
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut vars = BASE.to_vec();
            vars.extend_from_slice(extra);
            config(&vars).unwrap().reads_origin()
        };
        assert!(!with(&[]));
        assert!(with(&[("CORS_ALLOWED_ORIGINS", "https://app.example.com")]));
        assert!(with(&[(
            "RESOURCES",
            r#"[{"resource": "https://mcp.example.com/mcp"}]"#
        )]));
    }

    #[test]
    fn request_logs_choose_lines() {
        let lines = |logs: RequestLogs| [logs.includes(true), logs.includes(false)];
        assert_eq!(lines(RequestLogs::All), [true, true]);
        assert_eq!(lines(RequestLogs::Denied), [false, true]);
        assert_eq!(lines(RequestLogs::Off), [false, false]);
    }

    #[test]
    fn bad_routes_are_a_configuration_error() {
        let mut vars = BASE.to_vec();
        vars.push(("ROUTES", "not json"));
        assert_eq!(config(&vars).unwrap_err().setting, "ROUTES");
    }
}
