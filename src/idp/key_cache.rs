//! The in-isolate key cache (README "Features", Keys), as a state machine without I/O: it decides when keys
//! must be fetched and what to answer meanwhile; [`super::refresh`] plans the fetch and the Workers
//! adapter performs it. This keeps the rules (freshness, refetch on unknown `kid` with a cooldown,
//! stale-if-error, recovery) testable with a plain clock.

use std::sync::Arc;

use crate::jose::jwa::Algorithms;
use crate::jose::jwks::{KeySet, VerifyingKey};

/// How the key cache works: its timing, and which keys it keeps (README "Features", Keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachePolicy {
    /// Upper bound on the freshness of discovery and JWKS responses, whatever their `max-age`.
    pub max_ttl: u64,
    /// Minimum time between two refetches triggered by unknown `kid`s or after a failed fetch.
    pub cooldown: u64,
    /// How long known keys keep verifying past their freshness while the IdP fails.
    pub stale_if_error: u64,
    /// Timeout of one discovery or JWKS fetch, in milliseconds.
    pub fetch_timeout_ms: u64,
    /// `TOKEN_ALGORITHMS`: a key whose `alg` is another one is left out of the JWKS.
    pub algorithms: Algorithms,
}

/// What to do for a token with a given `kid`.
#[derive(Debug)]
pub enum Lookup {
    /// Verify with this key.
    Key(Arc<VerifyingKey>),
    /// Fetch keys first, then call [`KeyCache::after_refresh`].
    Refresh(RefreshReason),
    /// The key set is usable but has no such `kid`, and a refetch is not allowed yet: fail fast.
    UnknownKid,
    /// No usable keys, and the last fetch failed less than a cooldown ago.
    Unavailable { retry_after: u64 },
}

/// Why no key can be given for a `kid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyError {
    /// The key set is usable but has no key with this `kid`.
    UnknownKid,
    /// No usable key set, and the identity provider cannot be reached.
    Unavailable { retry_after: u64 },
}

/// Why a refresh is needed; the adapter may serve a refresh for a stale set from a shared cache, but a
/// refresh for an unknown `kid` must reach the identity provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshReason {
    /// No keys in this isolate yet.
    Empty,
    /// The key set is past its freshness.
    Expired,
    /// The key set is fresh but lacks the token's `kid` (key rotation).
    UnknownKid,
}

/// Keys held in this isolate, with their timing.
#[derive(Debug, Clone)]
struct Entry {
    keys: Arc<KeySet>,
    /// Fresh until then; usable until `fresh_until + stale_if_error` if fetching fails.
    fresh_until: u64,
}

/// The key cache of one issuer in one isolate.
#[derive(Debug, Default)]
pub struct KeyCache {
    entry: Option<Entry>,
    /// When the last refresh for an unknown `kid` or an expired set started (cooldown clock).
    last_refresh: Option<u64>,
    /// When the last fetch failed; retried only once the cooldown has passed.
    last_failure: Option<u64>,
}

impl KeyCache {
    /// Decides how to get the key for `kid` at time `now` (seconds).
    pub fn lookup(&self, kid: &str, now: u64, policy: &CachePolicy) -> Lookup {
        let cooled =
            |since: Option<u64>| since.is_none_or(|t| now >= t.saturating_add(policy.cooldown));
        let can_refresh = cooled(self.last_refresh) && cooled(self.last_failure);
        let Some(entry) = &self.entry else {
            // Concurrent first requests must all succeed, so an empty cache always fetches, unless the
            // last attempt failed within the cooldown.
            return if cooled(self.last_failure) {
                Lookup::Refresh(RefreshReason::Empty)
            } else {
                Lookup::Unavailable {
                    retry_after: self.retry_after(now, policy),
                }
            };
        };
        let found = entry.keys.get(kid);
        if now < entry.fresh_until {
            return match found {
                Some(key) => Lookup::Key(key.clone()),
                None if can_refresh => Lookup::Refresh(RefreshReason::UnknownKid),
                None => Lookup::UnknownKid,
            };
        }
        if can_refresh {
            return Lookup::Refresh(RefreshReason::Expired);
        }
        // Expired, and a refresh was tried or failed recently: serve what is known while it may be served.
        if now < entry.fresh_until.saturating_add(policy.stale_if_error) {
            match found {
                Some(key) => Lookup::Key(key.clone()),
                None => Lookup::UnknownKid,
            }
        } else {
            Lookup::Unavailable {
                retry_after: self.retry_after(now, policy),
            }
        }
    }

    /// Marks the start of a refresh, so that others within the cooldown do not refetch as well.
    pub fn refresh_started(&mut self, reason: RefreshReason, now: u64) {
        if reason != RefreshReason::Empty {
            self.last_refresh = Some(now);
        }
    }

    /// Records a good key set, fresh for `ttl` seconds from `fetched_at` (which may be in the past when
    /// it came from a shared cache).
    pub fn store(&mut self, keys: Arc<KeySet>, fetched_at: u64, ttl: u64) {
        let fresh_until = fetched_at.saturating_add(ttl);
        // Never go back to an older set than the one held.
        if self
            .entry
            .as_ref()
            .is_some_and(|e| e.fresh_until > fresh_until)
        {
            return;
        }
        self.entry = Some(Entry { keys, fresh_until });
        self.last_failure = None;
    }

    /// Records a failed fetch (unreachable, timeout, bad status, garbage). Known keys are kept.
    pub fn fetch_failed(&mut self, now: u64) {
        self.last_failure = Some(now);
    }

    /// The key for `kid` once a refresh is over, whatever its outcome: no second refresh.
    pub fn after_refresh(
        &self,
        kid: &str,
        now: u64,
        policy: &CachePolicy,
    ) -> Result<Arc<VerifyingKey>, KeyError> {
        match &self.entry {
            Some(entry) if now < entry.fresh_until.saturating_add(policy.stale_if_error) => {
                entry.keys.get(kid).cloned().ok_or(KeyError::UnknownKid)
            }
            _ => Err(KeyError::Unavailable {
                retry_after: self.retry_after(now, policy),
            }),
        }
    }

    /// Seconds until the next fetch attempt is allowed (at least 1).
    fn retry_after(&self, now: u64, policy: &CachePolicy) -> u64 {
        let next = self
            .last_failure
            .map_or(now, |t| t.saturating_add(policy.cooldown));
        next.saturating_sub(now).max(1)
    }
}

/// Freshness of a fetched document: `Cache-Control: max-age`, capped by the configured maximum; the
/// maximum when there is none (README "Features", Keys). `no-store` and `no-cache` mean 0.
pub fn ttl_from_cache_control(cache_control: Option<&str>, max_ttl: u64) -> u64 {
    let Some(value) = cache_control else {
        return max_ttl;
    };
    let mut max_age = None;
    for directive in value.split(',') {
        let directive = directive.trim().to_ascii_lowercase();
        if directive == "no-store" || directive == "no-cache" {
            return 0;
        }
        if let Some(seconds) = directive.strip_prefix("max-age=") {
            if max_age.is_none() {
                max_age = seconds.trim_matches('"').parse::<u64>().ok();
            }
        }
    }
    max_age.map_or(max_ttl, |age| age.min(max_ttl))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::jwks::parse_jwks;
    use crate::test_keys;

    const POLICY: CachePolicy = CachePolicy {
        max_ttl: 600,
        cooldown: 30,
        stale_if_error: 86_400,
        fetch_timeout_ms: 5_000,
        algorithms: Algorithms::DEFAULT,
    };

    fn keys(kids: &[&str]) -> Arc<KeySet> {
        Arc::new(parse_jwks(&test_keys::jwks_json(kids), Algorithms::DEFAULT).unwrap())
    }

    fn is_key(l: &Lookup, kid: &str) -> bool {
        matches!(l, Lookup::Key(k) if k.kid == kid)
    }

    #[test]
    fn empty_cache_always_fetches_so_concurrent_first_requests_succeed() {
        let mut cache = KeyCache::default();
        assert!(matches!(
            cache.lookup("a", 100, &POLICY),
            Lookup::Refresh(RefreshReason::Empty)
        ));
        cache.refresh_started(RefreshReason::Empty, 100);
        // A second request arriving while the first fetch is under way fetches too.
        assert!(matches!(
            cache.lookup("a", 100, &POLICY),
            Lookup::Refresh(RefreshReason::Empty)
        ));
        cache.store(keys(&["a"]), 100, 600);
        assert!(is_key(&cache.lookup("a", 101, &POLICY), "a"));
    }

    #[test]
    fn unknown_kid_refetches_once_per_cooldown() {
        let mut cache = KeyCache::default();
        cache.store(keys(&["a"]), 100, 600);
        let lookup = cache.lookup("new", 110, &POLICY);
        assert!(matches!(lookup, Lookup::Refresh(RefreshReason::UnknownKid)));
        cache.refresh_started(RefreshReason::UnknownKid, 110);
        // The IdP does not know the kid either.
        cache.store(keys(&["a"]), 110, 600);
        assert_eq!(
            cache.after_refresh("new", 110, &POLICY).unwrap_err(),
            KeyError::UnknownKid
        );
        // A flood of random kids inside the cooldown fails fast, without fetching.
        for t in 110..140 {
            assert!(matches!(
                cache.lookup(&format!("r{t}"), t, &POLICY),
                Lookup::UnknownKid
            ));
            assert!(is_key(&cache.lookup("a", t, &POLICY), "a"));
        }
        // After the cooldown a new kid may refetch again.
        assert!(matches!(
            cache.lookup("r", 140, &POLICY),
            Lookup::Refresh(RefreshReason::UnknownKid)
        ));
    }

    #[test]
    fn rotation_is_picked_up_by_the_refetch() {
        let mut cache = KeyCache::default();
        cache.store(keys(&["old"]), 100, 600);
        cache.refresh_started(RefreshReason::UnknownKid, 200);
        cache.store(keys(&["old", "new"]), 200, 600);
        assert_eq!(cache.after_refresh("new", 200, &POLICY).unwrap().kid, "new");
        assert!(is_key(&cache.lookup("old", 201, &POLICY), "old"));
    }

    #[test]
    fn expired_keys_refresh_and_serve_stale_when_the_idp_fails() {
        let mut cache = KeyCache::default();
        cache.store(keys(&["a"]), 0, 600);
        assert!(matches!(
            cache.lookup("a", 600, &POLICY),
            Lookup::Refresh(RefreshReason::Expired)
        ));
        cache.refresh_started(RefreshReason::Expired, 600);
        cache.fetch_failed(600);
        // Known keys keep working; unknown ones fail fast.
        assert_eq!(cache.after_refresh("a", 600, &POLICY).unwrap().kid, "a");
        assert_eq!(
            cache.after_refresh("b", 600, &POLICY).unwrap_err(),
            KeyError::UnknownKid
        );
        assert!(is_key(&cache.lookup("a", 629, &POLICY), "a"));
        // Once the cooldown has passed, the next request tries again: recovery is automatic.
        assert!(matches!(
            cache.lookup("a", 630, &POLICY),
            Lookup::Refresh(RefreshReason::Expired)
        ));
        cache.refresh_started(RefreshReason::Expired, 630);
        cache.store(keys(&["a"]), 630, 600);
        assert!(is_key(&cache.lookup("a", 631, &POLICY), "a"));
    }

    #[test]
    fn stale_keys_expire_after_the_stale_window() {
        let mut cache = KeyCache::default();
        cache.store(keys(&["a"]), 0, 600);
        let end = 600 + POLICY.stale_if_error;
        cache.refresh_started(RefreshReason::Expired, end - 10);
        cache.fetch_failed(end - 10);
        assert!(is_key(&cache.lookup("a", end - 1, &POLICY), "a"));
        assert!(matches!(
            cache.lookup("a", end, &POLICY),
            Lookup::Unavailable { .. }
        ));
        assert!(matches!(
            cache.after_refresh("a", end, &POLICY),
            Err(KeyError::Unavailable { .. })
        ));
    }

    #[test]
    fn no_keys_and_idp_down_is_unavailable_with_retry_after() {
        let mut cache = KeyCache::default();
        cache.refresh_started(RefreshReason::Empty, 100);
        cache.fetch_failed(100);
        assert_eq!(
            cache.after_refresh("a", 100, &POLICY).unwrap_err(),
            KeyError::Unavailable { retry_after: 30 }
        );
        match cache.lookup("a", 110, &POLICY) {
            Lookup::Unavailable { retry_after } => assert_eq!(retry_after, 20),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            cache.lookup("a", 130, &POLICY),
            Lookup::Refresh(RefreshReason::Empty)
        ));
    }

    #[test]
    fn an_older_set_never_replaces_a_newer_one() {
        let mut cache = KeyCache::default();
        cache.store(keys(&["new"]), 1000, 600);
        cache.store(keys(&["old"]), 100, 600);
        assert!(is_key(&cache.lookup("new", 1001, &POLICY), "new"));
    }

    #[test]
    fn cache_control_ttl() {
        assert_eq!(ttl_from_cache_control(None, 600), 600);
        assert_eq!(ttl_from_cache_control(Some("public, max-age=15"), 600), 15);
        assert_eq!(ttl_from_cache_control(Some("max-age=86400"), 600), 600);
        assert_eq!(
            ttl_from_cache_control(Some("MAX-AGE=20, max-age=5"), 600),
            20
        );
        assert_eq!(ttl_from_cache_control(Some("max-age=-1"), 600), 600);
        assert_eq!(ttl_from_cache_control(Some("max-age=abc"), 600), 600);
        assert_eq!(ttl_from_cache_control(Some("no-store"), 600), 0);
        assert_eq!(ttl_from_cache_control(Some("max-age=0"), 600), 0);
    }
}
