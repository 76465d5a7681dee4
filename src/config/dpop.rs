//! DPoP (RFC 9449): which schemes are accepted, the proof window, server nonces, the replay store.

use super::settings::Settings;
use super::{invalid, names, ConfigError, DpopSettings};
use crate::http::authorization::DpopMode;
use crate::jose::dpop::ProofWindow;
use crate::jose::nonce::NonceKey;
use crate::state::replay::ReplayStoreKind;

pub(super) fn mode(s: &Settings) -> Result<DpopMode, ConfigError> {
    s.choice(
        names::DPOP_MODE,
        &[
            ("allowed", DpopMode::Allowed),
            ("required", DpopMode::Required),
            ("disabled", DpopMode::Disabled),
        ],
    )
}

pub(super) fn settings(s: &Settings) -> Result<DpopSettings, ConfigError> {
    let window = ProofWindow {
        max_age: s.number(names::DPOP_IAT_OFFSET_SECONDS, 300, 0..=3_600)?,
        max_skew: s.number(names::DPOP_IAT_LEEWAY_SECONDS, 30, 0..=300)?,
    };
    let nonce = nonce(s)?;
    let replay = replay(s)?;
    Ok(DpopSettings {
        window,
        nonce,
        replay,
        trust_proxy: s.flag(names::TRUST_PROXY)?,
    })
}

/// The nonce key, when `DPOP_NONCE_SECRET` is set.
fn nonce(s: &Settings) -> Result<Option<NonceKey>, ConfigError> {
    // The lifetime is checked even without a secret, but its minimum only matters with one.
    s.number(names::DPOP_NONCE_LIFETIME_SECONDS, 300, 0..=3_600)?;
    match s.optional(names::DPOP_NONCE_SECRET) {
        None => Ok(None),
        Some(secret) if secret.len() < 32 => Err(invalid(
            names::DPOP_NONCE_SECRET,
            "must be at least 32 characters (generate one with: openssl rand -base64 32)",
        )),
        Some(secret) => {
            let lifetime = s.number(names::DPOP_NONCE_LIFETIME_SECONDS, 300, 10..=3_600)?;
            Ok(Some(NonceKey::new(secret.as_bytes(), lifetime)))
        }
    }
}

/// The replay store named by `DPOP_REPLAY_STORE`.
#[derive(Clone, Copy)]
enum Store {
    Isolate,
    DurableObject,
}

fn replay(s: &Settings) -> Result<ReplayStoreKind, ConfigError> {
    // The size is checked for either store, but its minimum only matters for the isolate's.
    s.number(names::DPOP_REPLAY_CACHE_SIZE, 100_000, 0..=1_000_000)?;
    let store = s.choice(
        names::DPOP_REPLAY_STORE,
        &[
            ("isolate", Store::Isolate),
            ("durable-object", Store::DurableObject),
        ],
    )?;
    Ok(match store {
        Store::Isolate => ReplayStoreKind::Isolate {
            capacity: s.number(names::DPOP_REPLAY_CACHE_SIZE, 100_000, 10..=1_000_000)? as usize,
        },
        Store::DurableObject => ReplayStoreKind::DurableObject,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::{config, BASE};

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

    fn error(vars: &[(&'static str, &'static str)]) -> Option<String> {
        let mut all = BASE.to_vec();
        all.extend_from_slice(vars);
        config(&all).err().map(|e| e.to_string())
    }

    #[test]
    fn minimums_apply_only_where_they_matter() {
        const SECRET: (&str, &str) = ("DPOP_NONCE_SECRET", "0123456789abcdef0123456789abcdef");
        // The nonce lifetime: its range always, its minimum with a secret only.
        assert_eq!(error(&[("DPOP_NONCE_LIFETIME_SECONDS", "5")]), None);
        assert_eq!(
            error(&[("DPOP_NONCE_LIFETIME_SECONDS", "5"), SECRET]).as_deref(),
            Some("DPOP_NONCE_LIFETIME_SECONDS must be a whole number from 10 to 3600")
        );
        for bad in ["x", "3601"] {
            assert_eq!(
                error(&[("DPOP_NONCE_LIFETIME_SECONDS", bad)]).as_deref(),
                Some("DPOP_NONCE_LIFETIME_SECONDS must be a whole number from 0 to 3600")
            );
        }
        // A short secret is reported before a too-short lifetime.
        assert_eq!(
            error(&[
                ("DPOP_NONCE_LIFETIME_SECONDS", "5"),
                ("DPOP_NONCE_SECRET", "short")
            ])
            .unwrap(),
            "DPOP_NONCE_SECRET must be at least 32 characters (generate one with: openssl rand -base64 32)"
        );
        // The replay cache size: its range always, its minimum for the isolate store only.
        let durable = ("DPOP_REPLAY_STORE", "durable-object");
        assert_eq!(error(&[("DPOP_REPLAY_CACHE_SIZE", "5"), durable]), None);
        assert_eq!(
            error(&[("DPOP_REPLAY_CACHE_SIZE", "5")]).as_deref(),
            Some("DPOP_REPLAY_CACHE_SIZE must be a whole number from 10 to 1000000")
        );
        assert_eq!(
            error(&[("DPOP_REPLAY_CACHE_SIZE", "1000001"), durable]).as_deref(),
            Some("DPOP_REPLAY_CACHE_SIZE must be a whole number from 0 to 1000000")
        );
        assert_eq!(
            error(&[("DPOP_REPLAY_CACHE_SIZE", "5"), ("DPOP_REPLAY_STORE", "kv")]).as_deref(),
            Some("DPOP_REPLAY_STORE must be one of: isolate, durable-object")
        );
    }
}
