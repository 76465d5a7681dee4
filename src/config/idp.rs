//! The identity provider: the accepted issuers (`AUTH0_DOMAIN`, `AUTH0_ADDITIONAL_DOMAINS`) and how their
//! keys are cached and fetched.

use super::settings::Settings;
use super::{invalid, names, ConfigError};
use crate::idp::key_cache::CachePolicy;
use crate::idp::{parse_issuer, Issuer};
use crate::jose::jwa::{Algorithm, Algorithms};

/// The tenant's issuer, then each additional domain's, none twice.
pub(super) fn issuers(s: &Settings) -> Result<Vec<Issuer>, ConfigError> {
    let domain = s.required(names::AUTH0_DOMAIN)?;
    let mut issuers =
        vec![parse_issuer(&domain).map_err(|reason| invalid(names::AUTH0_DOMAIN, reason))?];
    for extra in s
        .optional(names::AUTH0_ADDITIONAL_DOMAINS)
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
    Ok(issuers)
}

pub(super) fn cache_policy(s: &Settings) -> Result<CachePolicy, ConfigError> {
    Ok(CachePolicy {
        max_ttl: s.number(names::CACHE_MAX_TTL_SECONDS, 600, 0..=86_400)?,
        cooldown: s.number(names::JWKS_COOLDOWN_SECONDS, 30, 0..=3_600)?,
        stale_if_error: s.number(names::STALE_IF_ERROR_SECONDS, 86_400, 0..=7 * 86_400)?,
        fetch_timeout_ms: s.number(names::FETCH_TIMEOUT_MS, 5_000, 1..=60_000)?,
        refresh_ahead_percent: s.number(names::KEYS_REFRESH_AHEAD_PERCENT, 25, 0..=100)?,
        algorithms: token_algorithms(s)?,
    })
}

/// `TOKEN_ALGORITHMS`: comma-separated names from RS256, RS384, RS512, PS256, PS384, PS512.
fn token_algorithms(s: &Settings) -> Result<Algorithms, ConfigError> {
    let Some(value) = s.optional(names::TOKEN_ALGORITHMS) else {
        return Ok(Algorithms::DEFAULT);
    };
    let mut list = Vec::new();
    for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let alg = Algorithm::from_name(name).ok_or_else(|| {
            invalid(
                names::TOKEN_ALGORITHMS,
                format!("names {name:?}, not one of RS256, RS384, RS512, PS256, PS384, PS512"),
            )
        })?;
        list.push(alg);
    }
    if list.is_empty() {
        return Err(invalid(
            names::TOKEN_ALGORITHMS,
            "must name at least one algorithm",
        ));
    }
    Ok(Algorithms::new(&list))
}

#[cfg(test)]
mod tests {
    use crate::config::tests::{assert_refused_with_proxy_and_cors, config, BASE};

    #[test]
    fn domain_errors_name_the_setting() {
        let e =
            config(&[("AUTH0_DOMAIN", "http://evil.com"), ("AUTH0_AUDIENCE", "a")]).unwrap_err();
        assert_eq!(e.setting, "AUTH0_DOMAIN");
        assert!(e.to_string().contains("loopback"));
    }

    #[test]
    fn additional_domains() {
        let mut vars = BASE.to_vec();
        vars.push((
            "AUTH0_ADDITIONAL_DOMAINS",
            "login.example.com, auth.example.com",
        ));
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

        for (name, bad) in [
            ("AUTH0_ADDITIONAL_DOMAINS", "http://evil.com"),
            ("AUTH0_ADDITIONAL_DOMAINS", "tenant.us.auth0.com"),
        ] {
            assert_refused_with_proxy_and_cors(name, bad);
        }
    }

    #[test]
    fn fetch_timeout_is_from_1_to_60000_ms() {
        for bad in ["0", "60001"] {
            let mut vars = BASE.to_vec();
            vars.push(("FETCH_TIMEOUT_MS", bad));
            assert_eq!(
                config(&vars).unwrap_err().to_string(),
                "FETCH_TIMEOUT_MS must be a whole number from 1 to 60000"
            );
        }
        let mut vars = BASE.to_vec();
        vars.push(("FETCH_TIMEOUT_MS", "1"));
        assert_eq!(config(&vars).unwrap().cache.fetch_timeout_ms, 1);
    }

    #[test]
    fn refresh_ahead_is_a_percentage() {
        let mut vars = BASE.to_vec();
        vars.push(("KEYS_REFRESH_AHEAD_PERCENT", "101"));
        assert_eq!(
            config(&vars).unwrap_err().to_string(),
            "KEYS_REFRESH_AHEAD_PERCENT must be a whole number from 0 to 100"
        );
        let mut vars = BASE.to_vec();
        vars.push(("KEYS_REFRESH_AHEAD_PERCENT", "0"));
        assert_eq!(config(&vars).unwrap().cache.refresh_ahead_percent, 0);
    }
}
