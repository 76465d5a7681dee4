//! Configuration (CONTRACT section 1): every setting is a string from wrangler vars, secrets, `.dev.vars`
//! or `--var`, parsed and validated once per isolate. A bad value is an error that names the setting;
//! nothing falls back silently.

use std::fmt;

use crate::http::authorization::DpopMode;
use crate::idp::key_cache::CachePolicy;
use crate::idp::{parse_issuer, Issuer};
use crate::state::replay::ReplayStoreKind;

use crate::http::cors::CorsPolicy;
use crate::http::proxy::ProxySettings;
use crate::jose::dpop::ProofWindow;
use crate::jose::nonce::NonceKey;
use crate::policy::RouteTable;

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

/// The validated configuration of one gateway.
#[derive(Debug, Clone)]
pub struct Config {
    /// The tenant's issuer first (`AUTH0_DOMAIN`), then its other custom domains; a token's `iss` must be
    /// one of them.
    pub issuers: Vec<Issuer>,
    pub audience: String,
    pub dpop_mode: DpopMode,
    pub routes: RouteTable,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub clock_leeway: u64,
    pub cache: CachePolicy,
    pub dpop: DpopSettings,
    /// Proxy mode, when `ORIGIN_URL` is set; the demo endpoints otherwise.
    pub proxy: Option<ProxySettings>,
    /// CORS, when `CORS_ALLOWED_ORIGINS` is set.
    pub cors: Option<CorsPolicy>,
    pub request_logs: RequestLogs,
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

/// Names of the settings, as they appear in wrangler.toml and `.dev.vars`.
pub mod names {
    pub const AUTH0_DOMAIN: &str = "AUTH0_DOMAIN";
    pub const AUTH0_AUDIENCE: &str = "AUTH0_AUDIENCE";
    pub const DPOP_MODE: &str = "DPOP_MODE";
    pub const ROUTES: &str = "ROUTES";
    pub const ORIGIN_URL: &str = "ORIGIN_URL";
    pub const CLOCK_LEEWAY_SECONDS: &str = "CLOCK_LEEWAY_SECONDS";
    pub const CACHE_MAX_TTL_SECONDS: &str = "CACHE_MAX_TTL_SECONDS";
    pub const JWKS_COOLDOWN_SECONDS: &str = "JWKS_COOLDOWN_SECONDS";
    pub const STALE_IF_ERROR_SECONDS: &str = "STALE_IF_ERROR_SECONDS";
    pub const FETCH_TIMEOUT_MS: &str = "FETCH_TIMEOUT_MS";
    pub const DPOP_IAT_OFFSET_SECONDS: &str = "DPOP_IAT_OFFSET_SECONDS";
    pub const DPOP_IAT_LEEWAY_SECONDS: &str = "DPOP_IAT_LEEWAY_SECONDS";
    pub const DPOP_NONCE_SECRET: &str = "DPOP_NONCE_SECRET";
    pub const DPOP_NONCE_LIFETIME_SECONDS: &str = "DPOP_NONCE_LIFETIME_SECONDS";
    pub const DPOP_REPLAY_STORE: &str = "DPOP_REPLAY_STORE";
    pub const DPOP_REPLAY_CACHE_SIZE: &str = "DPOP_REPLAY_CACHE_SIZE";
    pub const TRUST_PROXY: &str = "TRUST_PROXY";
    pub const AUTH0_ADDITIONAL_DOMAINS: &str = "AUTH0_ADDITIONAL_DOMAINS";
    pub const CLAIM_HEADERS: &str = "CLAIM_HEADERS";
    pub const FORWARD_CREDENTIALS: &str = "FORWARD_CREDENTIALS";
    pub const ORIGIN_SHARED_SECRET: &str = "ORIGIN_SHARED_SECRET";
    pub const ORIGIN_SHARED_SECRET_HEADER: &str = "ORIGIN_SHARED_SECRET_HEADER";
    pub const CORS_ALLOWED_ORIGINS: &str = "CORS_ALLOWED_ORIGINS";
    pub const CORS_ALLOWED_METHODS: &str = "CORS_ALLOWED_METHODS";
    pub const CORS_ALLOWED_HEADERS: &str = "CORS_ALLOWED_HEADERS";
    pub const CORS_MAX_AGE_SECONDS: &str = "CORS_MAX_AGE_SECONDS";
    pub const REQUEST_LOGS: &str = "REQUEST_LOGS";

    /// Every setting, for tooling and tests that must know them all.
    pub const ALL: [&str; 27] = [
        AUTH0_DOMAIN,
        AUTH0_AUDIENCE,
        DPOP_MODE,
        ROUTES,
        ORIGIN_URL,
        CLOCK_LEEWAY_SECONDS,
        CACHE_MAX_TTL_SECONDS,
        JWKS_COOLDOWN_SECONDS,
        STALE_IF_ERROR_SECONDS,
        FETCH_TIMEOUT_MS,
        DPOP_IAT_OFFSET_SECONDS,
        DPOP_IAT_LEEWAY_SECONDS,
        DPOP_NONCE_SECRET,
        DPOP_NONCE_LIFETIME_SECONDS,
        DPOP_REPLAY_STORE,
        DPOP_REPLAY_CACHE_SIZE,
        TRUST_PROXY,
        AUTH0_ADDITIONAL_DOMAINS,
        CLAIM_HEADERS,
        FORWARD_CREDENTIALS,
        ORIGIN_SHARED_SECRET,
        ORIGIN_SHARED_SECRET_HEADER,
        CORS_ALLOWED_ORIGINS,
        CORS_ALLOWED_METHODS,
        CORS_ALLOWED_HEADERS,
        CORS_MAX_AGE_SECONDS,
        REQUEST_LOGS,
    ];
}

impl Config {
    /// Reads and validates every setting through `lookup` (an env var or secret by name).
    /// An empty value counts as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

        let domain =
            get(names::AUTH0_DOMAIN).ok_or_else(|| invalid(names::AUTH0_DOMAIN, "is not set"))?;
        let mut issuers =
            vec![parse_issuer(&domain).map_err(|reason| invalid(names::AUTH0_DOMAIN, reason))?];
        for extra in get(names::AUTH0_ADDITIONAL_DOMAINS)
            .iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|d| !d.is_empty())
        {
            let issuer = parse_issuer(extra).map_err(|reason| {
                invalid(names::AUTH0_ADDITIONAL_DOMAINS, format!("entry {reason}"))
            })?;
            if issuers.contains(&issuer) {
                return Err(invalid(
                    names::AUTH0_ADDITIONAL_DOMAINS,
                    "lists a domain twice (or AUTH0_DOMAIN again)",
                ));
            }
            issuers.push(issuer);
        }

        let audience = get(names::AUTH0_AUDIENCE)
            .ok_or_else(|| invalid(names::AUTH0_AUDIENCE, "is not set"))?;

        let dpop_mode = match get(names::DPOP_MODE).as_deref().map(str::trim) {
            None | Some("allowed") => DpopMode::Allowed,
            Some("required") => DpopMode::Required,
            Some("disabled") => DpopMode::Disabled,
            Some(_) => {
                return Err(invalid(
                    names::DPOP_MODE,
                    "must be one of: allowed, required, disabled",
                ))
            }
        };

        let routes = match get(names::ROUTES) {
            None => RouteTable::demo(),
            Some(json) => {
                RouteTable::from_json(&json).map_err(|reason| invalid(names::ROUTES, reason))?
            }
        };

        let flag = |name: &'static str| match get(name).as_deref().map(str::trim) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(_) => Err(invalid(name, "must be true or false")),
        };
        let proxy = match get(names::ORIGIN_URL) {
            None => None,
            Some(url) => {
                let (origin, base_path) = ProxySettings::parse_origin(&url)
                    .map_err(|reason| invalid(names::ORIGIN_URL, reason))?;
                let claim_headers = match get(names::CLAIM_HEADERS) {
                    None => Vec::new(),
                    Some(json) => ProxySettings::parse_claim_headers(&json)
                        .map_err(|reason| invalid(names::CLAIM_HEADERS, reason))?,
                };
                let secret_header = get(names::ORIGIN_SHARED_SECRET_HEADER)
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
                let shared_secret = match get(names::ORIGIN_SHARED_SECRET) {
                    None => None,
                    Some(secret)
                        if secret.len() < 16
                            || !secret.bytes().all(|b| (0x21..0x7f).contains(&b)) =>
                    {
                        return Err(invalid(
                            names::ORIGIN_SHARED_SECRET,
                            "must be at least 16 visible ASCII characters",
                        ))
                    }
                    Some(secret) => Some((secret_header, secret)),
                };
                Some(ProxySettings {
                    origin,
                    base_path,
                    claim_headers,
                    forward_credentials: flag(names::FORWARD_CREDENTIALS)?,
                    shared_secret,
                })
            }
        };
        let cors = match get(names::CORS_ALLOWED_ORIGINS) {
            None => None,
            Some(origins) => Some(
                CorsPolicy::parse(
                    &origins,
                    get(names::CORS_ALLOWED_METHODS).as_deref(),
                    get(names::CORS_ALLOWED_HEADERS).as_deref(),
                    seconds_setting(&get, names::CORS_MAX_AGE_SECONDS, 600, 86_400)?,
                )
                .map_err(|(setting, reason)| ConfigError { setting, reason })?,
            ),
        };

        let seconds =
            |name: &'static str, default: u64, max: u64| seconds_setting(&get, name, default, max);
        let clock_leeway = seconds(names::CLOCK_LEEWAY_SECONDS, 0, 300)?;
        let cache = CachePolicy {
            max_ttl: seconds(names::CACHE_MAX_TTL_SECONDS, 600, 86_400)?,
            cooldown: seconds(names::JWKS_COOLDOWN_SECONDS, 30, 3_600)?,
            stale_if_error: seconds(names::STALE_IF_ERROR_SECONDS, 86_400, 7 * 86_400)?,
            fetch_timeout_ms: seconds(names::FETCH_TIMEOUT_MS, 5_000, 60_000)?,
        };
        if cache.fetch_timeout_ms == 0 {
            return Err(invalid(
                names::FETCH_TIMEOUT_MS,
                "must be a whole number from 1 to 60000",
            ));
        }

        let window = ProofWindow {
            max_age: seconds(names::DPOP_IAT_OFFSET_SECONDS, 300, 3_600)?,
            max_skew: seconds(names::DPOP_IAT_LEEWAY_SECONDS, 30, 300)?,
        };
        let nonce_lifetime = seconds(names::DPOP_NONCE_LIFETIME_SECONDS, 300, 3_600)?;
        let nonce =
            match get(names::DPOP_NONCE_SECRET) {
                None => None,
                Some(secret) if secret.len() < 32 => return Err(invalid(
                    names::DPOP_NONCE_SECRET,
                    "must be at least 32 characters (generate one with: openssl rand -base64 32)",
                )),
                Some(_) if nonce_lifetime < 10 => {
                    return Err(invalid(
                        names::DPOP_NONCE_LIFETIME_SECONDS,
                        "must be a whole number from 10 to 3600",
                    ))
                }
                Some(secret) => Some(NonceKey::new(secret.as_bytes(), nonce_lifetime)),
            };
        let capacity = seconds(names::DPOP_REPLAY_CACHE_SIZE, 100_000, 1_000_000)?;
        let replay = match get(names::DPOP_REPLAY_STORE).as_deref().map(str::trim) {
            None | Some("isolate") if capacity >= 10 => ReplayStoreKind::Isolate {
                capacity: capacity as usize,
            },
            None | Some("isolate") => {
                return Err(invalid(
                    names::DPOP_REPLAY_CACHE_SIZE,
                    "must be a whole number from 10 to 1000000",
                ))
            }
            Some("durable-object") => ReplayStoreKind::DurableObject,
            Some(_) => {
                return Err(invalid(
                    names::DPOP_REPLAY_STORE,
                    "must be one of: isolate, durable-object",
                ))
            }
        };
        let trust_proxy = flag(names::TRUST_PROXY)?;
        let request_logs = match get(names::REQUEST_LOGS).as_deref().map(str::trim) {
            None | Some("all") => RequestLogs::All,
            Some("denied") => RequestLogs::Denied,
            Some("off") => RequestLogs::Off,
            Some(_) => {
                return Err(invalid(
                    names::REQUEST_LOGS,
                    "must be one of: all, denied, off",
                ))
            }
        };

        Ok(Config {
            issuers,
            audience,
            dpop_mode,
            routes,
            clock_leeway,
            cache,
            dpop: DpopSettings {
                window,
                nonce,
                replay,
                trust_proxy,
            },
            proxy,
            cors,
            request_logs,
        })
    }
}

/// A whole number of seconds (or other unit) from 0 to `max`, `default` when unset.
fn seconds_setting(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    match get(name) {
        None => Ok(default),
        Some(v) => match v.trim().parse::<u64>() {
            Ok(n) if n <= max => Ok(n),
            _ => Err(invalid(
                name,
                format!("must be a whole number from 0 to {max}"),
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    const BASE: [(&str, &str); 2] = [
        ("AUTH0_DOMAIN", "tenant.us.auth0.com"),
        ("AUTH0_AUDIENCE", "https://api.example.com"),
    ];

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
        assert_eq!(c.audience, "https://api.example.com");
        assert_eq!(c.dpop_mode, DpopMode::Allowed);
        assert_eq!(c.clock_leeway, 0);
        assert_eq!(
            c.cache,
            CachePolicy {
                max_ttl: 600,
                cooldown: 30,
                stale_if_error: 86_400,
                fetch_timeout_ms: 5_000
            }
        );
    }

    #[test]
    fn missing_required_settings_are_named() {
        let e = config(&[("AUTH0_DOMAIN", "t.auth0.com")]).unwrap_err();
        assert_eq!(e.to_string(), "AUTH0_AUDIENCE is not set");
        let e = config(&[("AUTH0_AUDIENCE", "x"), ("AUTH0_DOMAIN", "  ")]).unwrap_err();
        assert_eq!(e.to_string(), "AUTH0_DOMAIN is not set");
    }

    #[test]
    fn domain_forms() {
        for (input, issuer) in [
            ("tenant.auth0.com", "https://tenant.auth0.com/"),
            ("https://tenant.auth0.com", "https://tenant.auth0.com/"),
            ("https://tenant.auth0.com/", "https://tenant.auth0.com/"),
            ("  TENANT.Auth0.com// ", "https://tenant.auth0.com/"),
            ("login.example.com:8443", "https://login.example.com:8443/"),
            ("http://127.0.0.1:8788", "http://127.0.0.1:8788/"),
            ("http://localhost:8788/", "http://localhost:8788/"),
            ("http://[::1]:9000", "http://[::1]:9000/"),
            ("http://localhost", "http://localhost/"),
        ] {
            assert_eq!(parse_issuer(input).unwrap().url, issuer, "{input}");
        }
        assert!(
            parse_issuer("http://127.0.0.1:8788")
                .unwrap()
                .is_loopback_http
        );
        assert!(!parse_issuer("tenant.auth0.com").unwrap().is_loopback_http);
    }

    #[test]
    fn domain_rejections() {
        for input in [
            "http://tenant.auth0.com",
            "http://127.0.0.2",
            "ftp://tenant.auth0.com",
            "tenant.auth0.com/path",
            "tenant.auth0.com?x=1",
            "tenant.auth0.com#f",
            "user@tenant.auth0.com",
            "tenant auth0.com",
            "https://",
            "tenant.auth0.com:0",
            "tenant.auth0.com:99999",
            "tenant.auth0.com:abc",
            "-bad.auth0.com",
            "a..b",
            "[zz]",
        ] {
            assert!(parse_issuer(input).is_err(), "{input} should be rejected");
        }
        let e =
            config(&[("AUTH0_DOMAIN", "http://evil.com"), ("AUTH0_AUDIENCE", "a")]).unwrap_err();
        assert_eq!(e.setting, "AUTH0_DOMAIN");
        assert!(e.to_string().contains("loopback"));
    }

    #[test]
    fn dpop_mode_values() {
        for (value, mode) in [
            ("allowed", DpopMode::Allowed),
            ("required", DpopMode::Required),
            ("disabled", DpopMode::Disabled),
        ] {
            let mut vars = BASE.to_vec();
            vars.push(("DPOP_MODE", value));
            assert_eq!(config(&vars).unwrap().dpop_mode, mode);
        }
        let mut vars = BASE.to_vec();
        vars.push(("DPOP_MODE", "Required"));
        let e = config(&vars).unwrap_err();
        assert_eq!(e.setting, "DPOP_MODE");
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
    fn dpop_settings() {
        let c = config(&BASE).unwrap();
        assert_eq!(
            c.dpop.window,
            ProofWindow {
                max_age: 300,
                max_skew: 30
            }
        );
        assert!(c.dpop.nonce.is_none());
        assert_eq!(
            c.dpop.replay,
            ReplayStoreKind::Isolate { capacity: 100_000 }
        );
        assert!(!c.dpop.trust_proxy);

        let mut vars = BASE.to_vec();
        vars.extend([
            ("DPOP_IAT_OFFSET_SECONDS", "60"),
            ("DPOP_NONCE_SECRET", "0123456789abcdef0123456789abcdef"),
            ("DPOP_REPLAY_STORE", "durable-object"),
            ("TRUST_PROXY", "true"),
        ]);
        let c = config(&vars).unwrap();
        assert_eq!(c.dpop.window.max_age, 60);
        assert!(c.dpop.nonce.is_some());
        assert_eq!(c.dpop.replay, ReplayStoreKind::DurableObject);
        assert!(c.dpop.trust_proxy);

        for (name, bad) in [
            ("DPOP_NONCE_SECRET", "short"),
            ("DPOP_REPLAY_STORE", "kv"),
            ("DPOP_REPLAY_CACHE_SIZE", "5"),
            ("TRUST_PROXY", "yes"),
            ("REQUEST_LOGS", "some"),
            ("DPOP_IAT_LEEWAY_SECONDS", "301"),
        ] {
            let mut vars = BASE.to_vec();
            vars.push((name, bad));
            assert_eq!(config(&vars).unwrap_err().setting, name, "{name}={bad}");
        }
        // The secret's value never appears in an error.
        let mut vars = BASE.to_vec();
        vars.push(("DPOP_NONCE_SECRET", "tiny-secret"));
        assert!(!config(&vars)
            .unwrap_err()
            .to_string()
            .contains("tiny-secret"));
    }

    #[test]
    fn proxy_cors_and_issuer_settings() {
        let mut vars = BASE.to_vec();
        vars.extend([
            (
                "AUTH0_ADDITIONAL_DOMAINS",
                "login.example.com, auth.example.com",
            ),
            ("ORIGIN_URL", "https://origin.internal/api"),
            ("CLAIM_HEADERS", r#"{"email": "X-Auth-Email"}"#),
            ("ORIGIN_SHARED_SECRET", "0123456789abcdef-secret"),
            ("FORWARD_CREDENTIALS", "true"),
            ("CORS_ALLOWED_ORIGINS", "https://app.example.com"),
        ]);
        let c = config(&vars).unwrap();
        let urls: Vec<&str> = c.issuers.iter().map(|i| i.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://tenant.us.auth0.com/",
                "https://login.example.com/",
                "https://auth.example.com/"
            ]
        );
        let proxy = c.proxy.unwrap();
        assert_eq!(
            (proxy.origin.as_str(), proxy.base_path.as_str()),
            ("https://origin.internal", "/api")
        );
        assert!(proxy.forward_credentials);
        assert_eq!(proxy.shared_secret.unwrap().0, "x-gateway-secret");
        assert!(c.cors.is_some());

        for (name, bad) in [
            ("AUTH0_ADDITIONAL_DOMAINS", "http://evil.com"),
            ("AUTH0_ADDITIONAL_DOMAINS", "tenant.us.auth0.com"),
            ("ORIGIN_URL", "http://origin.internal"),
            ("CLAIM_HEADERS", "{"),
            ("FORWARD_CREDENTIALS", "1"),
            ("CORS_ALLOWED_ORIGINS", "app.example.com"),
            ("CORS_MAX_AGE_SECONDS", "x"),
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

    #[test]
    fn bad_routes_are_a_configuration_error() {
        let mut vars = BASE.to_vec();
        vars.push(("ROUTES", "not json"));
        assert_eq!(config(&vars).unwrap_err().setting, "ROUTES");
    }
}
