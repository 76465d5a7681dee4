//! CORS, read only when `CORS_ALLOWED_ORIGINS` is set.

use super::settings::Settings;
use super::{names, ConfigError};
use crate::http::cors::CorsPolicy;
use crate::out_of_line::apart;

/// Kept apart (`src/out_of_line.rs`) past the first check: an isolate without CORS never compiles the rest.
pub(super) fn cors(s: &Settings) -> Result<Option<CorsPolicy>, ConfigError> {
    let Some(origins) = s.optional(names::CORS_ALLOWED_ORIGINS) else {
        return Ok(None);
    };
    apart(|| policy(s, &origins)).map(Some)
}

fn policy(s: &Settings, origins: &str) -> Result<CorsPolicy, ConfigError> {
    let max_age = s.number(names::CORS_MAX_AGE_SECONDS, 600, 0..=86_400)?;
    CorsPolicy::parse(
        origins,
        s.optional(names::CORS_ALLOWED_METHODS).as_deref(),
        s.optional(names::CORS_ALLOWED_HEADERS).as_deref(),
        max_age,
    )
    .map_err(|(setting, reason)| ConfigError { setting, reason })
}

#[cfg(test)]
mod tests {
    use crate::config::tests::{assert_refused_with_proxy_and_cors, config, BASE};

    #[test]
    fn cors_settings() {
        let mut vars = BASE.to_vec();
        vars.push(("CORS_ALLOWED_ORIGINS", "https://app.example.com"));
        assert!(config(&vars).unwrap().cors.is_some());

        for (name, bad) in [
            ("CORS_ALLOWED_ORIGINS", "app.example.com"),
            ("CORS_MAX_AGE_SECONDS", "x"),
        ] {
            assert_refused_with_proxy_and_cors(name, bad);
        }
    }
}
