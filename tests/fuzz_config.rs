//! Fuzzing the configuration (proptest): `Config::from_lookup` on random settings either names the
//! setting at fault (never leaking a secret) or yields a configuration within its bounds. How to run
//! more cases: tests/common/fuzz.rs.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::cell::RefCell;
use std::collections::HashMap;

use auth0_edge_gateway::config::{self, Config};
use common::fuzz::cases;
use proptest::prelude::*;
use proptest::sample::select;

/// Every setting name.
const SETTINGS: [&str; config::names::ALL.len()] = config::names::ALL;

const BAD_DOMAINS: &[&str] = &[
    "http://evil.com",
    "tenant.auth0.com:0",
    "tenant.auth0.com:99999",
    "[::1]",
    "[]",
    "[",
    "a..b",
    "ftp://x",
    "x/y",
    "é.example.com",
    "login.example.com, login.example.com",
];

/// Values a person might set for a setting: (accepted, refused).
fn setting_values(name: &str) -> (Vec<String>, Vec<String>) {
    let (good, bad): (&[&str], &[&str]) = match name {
        "AUTH0_DOMAIN" => (
            &[
                "tenant.auth0.com",
                "https://tenant.auth0.com/",
                " TENANT.Auth0.com// ",
                "tenant.auth0.com:8443",
                "http://localhost:8788",
                "http://[::1]:9000",
            ],
            BAD_DOMAINS,
        ),
        "AUTH0_ADDITIONAL_DOMAINS" => (
            &[
                "login.example.com",
                "https://id.example.com/",
                "login.example.com, id.example.com,",
                "127.0.0.1:8443",
            ],
            BAD_DOMAINS,
        ),
        "AUTH0_AUDIENCE" => (&["https://api.example.com", " padded "], &[" ", "\t"]),
        "DPOP_MODE" => (
            &["allowed", "required", "disabled", " allowed "],
            &["Required", "on"],
        ),
        "ROUTES" => (
            &[r#"[{"path": "/api/*", "auth": "required"}]"#],
            &[
                r#"[{"path": "/a", "auth": "none"}, {"path": "/a", "auth": "none"}]"#,
                "[]",
                "{}",
                "not json",
            ],
        ),
        "ORIGIN_URL" => (
            &[
                "https://origin.example.com",
                "https://origin.example.com/base/",
                "http://localhost:8080",
                "HTTPS://Origin.Example.com",
                "https://[::1]:8443/x",
            ],
            &[
                "http://origin.example.com",
                "https://",
                "https://[::1",
                "https://[",
                "https://a/../b",
                "https://user@x",
                "ftp://x",
                "https://é",
                "https://:80",
            ],
        ),
        "DPOP_NONCE_SECRET" => (
            &["0123456789abcdef0123456789abcdef"],
            &["short", "0123456789abcdef"],
        ),
        "ORIGIN_SHARED_SECRET" => (
            &["0123456789abcdef", "0123456789abcdef0123456789abcdef"],
            &["short", "with space 0123456789abcdef", "ééééééééééééééééé"],
        ),
        "DPOP_REPLAY_STORE" => (
            &["isolate", "durable-object", " isolate "],
            &["kv", "Isolate"],
        ),
        "RATE_LIMIT_PERIOD_SECONDS" => (&["10", "60", " 60 "], &["30", "0", "1m"]),
        "TRUST_PROXY" | "FORWARD_CREDENTIALS" | "METRICS_INCLUDE_SUB" => {
            (&["true", "false", " true "], &["yes", "TRUE", "1"])
        }
        "CLAIM_HEADERS" => (
            &[r#"{"email": "x-user-email"}"#, "{}"],
            &[
                r#"{"email": "X-User-Email", "name": "x-user-email"}"#,
                r#"{"email": "host"}"#,
                r#"{"email": "cf-x"}"#,
                r#"{"email": 1}"#,
                r#"{"email": ""}"#,
                "[]",
            ],
        ),
        "ORIGIN_SHARED_SECRET_HEADER" => (&["x-gateway-secret", "X-Secret"], &["bad header", "é"]),
        "CORS_ALLOWED_ORIGINS" => (
            &[
                "https://app.example.com",
                "*",
                "https://a.example.com, http://localhost:3000",
            ],
            &["https://a.example.com/", "null", "https://", ",x"],
        ),
        "CORS_ALLOWED_METHODS" => (&["GET, POST", "get"], &["FETCH", "GET,,POST"]),
        "CORS_ALLOWED_HEADERS" => (&["Authorization, DPoP", "x"], &["bad header", "a,,b"]),
        "DPOP_NONCE_LIFETIME_SECONDS" => (&["10", "300", "3600"], &["9", "3601", "-1"]),
        "DPOP_REPLAY_CACHE_SIZE" => (&["10", "50000", "1000000"], &["9", "1000001"]),
        "FETCH_TIMEOUT_MS" => (&["1", "5000", "60000"], &["0", "60001"]),
        // The other numeric settings: every one accepts 0 to 300.
        _ => (
            &["0", "1", "30", " 5 ", "300"],
            &["-1", "1e3", "+5", "5s", "18446744073709551616", "99999999"],
        ),
    };
    let owned = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect();
    (owned(good), owned(bad))
}

/// A setting: unset or an accepted value, or, now and then, a refused or random value.
fn setting(name: &'static str) -> BoxedStrategy<Option<String>> {
    let (good, bad) = setting_values(name);
    let clean = if matches!(name, "AUTH0_DOMAIN" | "AUTH0_AUDIENCE") {
        select(good).prop_map(Some).boxed()
    } else {
        prop_oneof![2 => Just(None), 1 => select(good).prop_map(Some)].boxed()
    };
    let dirty = prop_oneof![
        4 => select(bad).prop_map(Some),
        1 => "(?s).{0,24}".prop_map(Some),
        1 => Just(None),
    ];
    (clean, dirty, prop::bool::weighted(0.04))
        .prop_map(|(clean, dirty, corrupt)| if corrupt { dirty } else { clean })
        .boxed()
}

fn settings() -> BoxedStrategy<HashMap<&'static str, String>> {
    let strategies: Vec<BoxedStrategy<Option<String>>> =
        SETTINGS.iter().map(|n| setting(n)).collect();
    strategies
        .prop_map(|values| {
            SETTINGS
                .iter()
                .zip(values)
                .filter_map(|(name, v)| v.map(|v| (*name, v)))
                .collect()
        })
        .boxed()
}

proptest! {
    #![proptest_config(cases(4096))]

    #[test]
    fn configuration_errors_name_a_setting(vars in settings()) {
        let asked = RefCell::new(Vec::new());
        let result = Config::from_lookup(|name| {
            asked.borrow_mut().push(name.to_owned());
            vars.get(name).cloned()
        });
        for name in asked.borrow().iter() {
            prop_assert!(SETTINGS.contains(&name.as_str()), "looked up an unknown setting {}", name);
        }
        match result {
            Err(e) => {
                prop_assert!(SETTINGS.contains(&e.setting), "unknown setting {:?} in {}", e.setting, e);
                prop_assert!(e.to_string().starts_with(e.setting));
                // Secrets never appear in errors.
                for secret in ["DPOP_NONCE_SECRET", "ORIGIN_SHARED_SECRET"] {
                    if let Some(value) = vars.get(secret).map(|v| v.trim()).filter(|v| v.len() >= 8) {
                        let elsewhere = vars.iter().any(|(n, v)| *n != secret && v.contains(value));
                        prop_assert!(elsewhere || !e.to_string().contains(value), "{} leaks {}", e, secret);
                    }
                }
            }
            Ok(c) => {
                prop_assert!(!c.issuers.is_empty());
                for issuer in &c.issuers {
                    prop_assert!(issuer.url.ends_with('/'));
                    prop_assert!(issuer.url.starts_with("https://") || issuer.is_loopback_http);
                }
                // Every route that reads a token has an audience: its own or AUTH0_AUDIENCE.
                for rule in c.routes.rules() {
                    if rule.uses_default_audience() {
                        prop_assert!(c.audience.as_ref().is_some_and(|a| !a.trim().is_empty()));
                    }
                }
                prop_assert!(c.clock_leeway <= 300);
                prop_assert!((1..=60_000).contains(&c.cache.fetch_timeout_ms));
                prop_assert!(c.dpop.window.max_age <= 3_600 && c.dpop.window.max_skew <= 300);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Regressions: each crash the configuration target finds goes here as a plain #[test] with its minimal input.
// None so far (20,000 cases per target, debug profile).
// ---------------------------------------------------------------------------------------------------
