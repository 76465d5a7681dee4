//! Operations (README "Operations"): the optional `RATE_LIMITER`, `METRICS` and `ORIGIN_SERVICE`
//! bindings. The adapter says which are bound; a setting or route that needs a missing binding is a
//! configuration error, never a silently unlimited or unmeasured gateway.

use super::settings::Settings;
use super::{invalid, names, ConfigError};
use crate::policy::RouteTable;

/// Which optional bindings the Worker has (none, natively).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bindings {
    pub rate_limiter: bool,
    pub metrics: bool,
    pub origin_service: bool,
}

/// Rate limits, when `RATE_LIMITER` is bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// The binding's `simple.period`, sent as `Retry-After` (the binding cannot be asked for it).
    pub period: u64,
}

/// Metrics, when `METRICS` is bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metrics {
    /// `METRICS_INCLUDE_SUB`: whether data points carry the caller's `sub`.
    pub include_sub: bool,
}

pub(super) fn rate_limit(
    s: &Settings,
    bindings: Bindings,
    routes: &RouteTable,
) -> Result<Option<RateLimit>, ConfigError> {
    let period = s.choice(names::RATE_LIMIT_PERIOD_SECONDS, &[("60", 60), ("10", 10)])?;
    if bindings.rate_limiter {
        return Ok(Some(RateLimit { period }));
    }
    match routes.rules().iter().find(|r| r.rate_limit) {
        Some(rule) => Err(invalid(
            names::RATE_LIMITER,
            format!(
                "is not bound, and route {} asks for \"rate_limit\" (declare it under [[ratelimits]] in wrangler.toml)",
                rule.pattern
            ),
        )),
        None => Ok(None),
    }
}

pub(super) fn metrics(s: &Settings, bindings: Bindings) -> Result<Option<Metrics>, ConfigError> {
    let include_sub = s.flag(names::METRICS_INCLUDE_SUB)?;
    Ok(match (bindings.metrics, include_sub) {
        (true, _) => Some(Metrics { include_sub }),
        (false, false) => None,
        (false, true) => {
            return Err(invalid(
                names::METRICS_INCLUDE_SUB,
                "is set, but the METRICS binding is not (declare it under [[analytics_engine_datasets]] in wrangler.toml)",
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::BASE;
    use crate::config::Config;

    fn config(vars: &[(&str, &str)], bindings: Bindings) -> Result<Config, ConfigError> {
        let mut all = BASE.to_vec();
        all.extend_from_slice(vars);
        Config::from_environment(
            |name| {
                all.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            },
            bindings,
        )
    }

    const LIMITED: &str = r#"[{"path": "/a", "auth": "required", "rate_limit": true}]"#;

    #[test]
    fn without_bindings_nothing_changes() {
        let c = config(&[], Bindings::default()).unwrap();
        assert_eq!((c.rate_limit, c.metrics), (None, None));
    }

    #[test]
    fn a_rate_limited_route_needs_the_binding() {
        let err = config(&[("ROUTES", LIMITED)], Bindings::default()).unwrap_err();
        assert_eq!(err.setting, "RATE_LIMITER");
        assert_eq!(
            err.to_string(),
            "RATE_LIMITER is not bound, and route /a asks for \"rate_limit\" (declare it under [[ratelimits]] in wrangler.toml)"
        );
        let bound = Bindings {
            rate_limiter: true,
            ..Bindings::default()
        };
        let c = config(&[("ROUTES", LIMITED)], bound).unwrap();
        assert_eq!(c.rate_limit, Some(RateLimit { period: 60 }));
        let c = config(&[("RATE_LIMIT_PERIOD_SECONDS", "10")], bound).unwrap();
        assert_eq!(c.rate_limit, Some(RateLimit { period: 10 }));
        let err = config(&[("RATE_LIMIT_PERIOD_SECONDS", "30")], bound).unwrap_err();
        assert_eq!(err.setting, "RATE_LIMIT_PERIOD_SECONDS");
    }

    #[test]
    fn metrics_and_their_sub() {
        let bound = Bindings {
            metrics: true,
            ..Bindings::default()
        };
        let c = config(&[], bound).unwrap();
        assert_eq!(c.metrics, Some(Metrics { include_sub: false }));
        let c = config(&[("METRICS_INCLUDE_SUB", "true")], bound).unwrap();
        assert_eq!(c.metrics, Some(Metrics { include_sub: true }));
        let err = config(&[("METRICS_INCLUDE_SUB", "true")], Bindings::default()).unwrap_err();
        assert_eq!(err.setting, "METRICS_INCLUDE_SUB");
    }

    #[test]
    fn origin_service_replaces_origin_url() {
        let service = Bindings {
            origin_service: true,
            ..Bindings::default()
        };
        let proxy = config(&[], service).unwrap().proxy.unwrap();
        assert!(proxy.service);
        assert_eq!((proxy.origin.as_str(), proxy.base_path.as_str()), ("", ""));
        let err = config(&[("ORIGIN_URL", "https://origin.internal")], service).unwrap_err();
        assert_eq!(
            err.to_string(),
            "ORIGIN_SERVICE is bound and ORIGIN_URL is set: the origin is one or the other"
        );
        // The other proxy settings apply to the service as they do to ORIGIN_URL.
        let err = config(&[("ORIGIN_SHARED_SECRET", "short")], service).unwrap_err();
        assert_eq!(err.setting, "ORIGIN_SHARED_SECRET");
        let plain = config(
            &[("ORIGIN_URL", "https://origin.internal")],
            Bindings::default(),
        );
        assert!(!plain.unwrap().proxy.unwrap().service);
    }
}
