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
    /// `KEYS_REFRESH_AHEAD_PERCENT`: a copy in this last share of its freshness is still used, and
    /// refreshed in the background (README "Key lifecycle"); 0 turns refresh-ahead off.
    pub refresh_ahead_percent: u64,
    /// `TOKEN_ALGORITHMS`: a key whose `alg` is another one is left out of the JWKS.
    pub algorithms: Algorithms,
}

impl CachePolicy {
    /// How long a refresh may take at most (discovery and JWKS, each within the fetch timeout): past
    /// this, a refresh that never reported back no longer holds the others back.
    fn refresh_deadline(&self, now: u64) -> u64 {
        now.saturating_add(self.fetch_timeout_ms.div_ceil(1000).saturating_mul(2))
            .saturating_add(1)
    }

    /// When a copy fetched at `fetched_at`, fresh for `ttl`, enters its refresh-ahead share.
    pub fn refresh_from(&self, fetched_at: u64, ttl: u64) -> u64 {
        let ahead = ttl.saturating_mul(self.refresh_ahead_percent.min(100)) / 100;
        fetched_at.saturating_add(ttl - ahead)
    }
}

/// What to do for a token with a given `kid`.
#[derive(Debug)]
pub enum Lookup {
    /// Verify with this key.
    Key(Arc<VerifyingKey>),
    /// Verify with this key, and refresh the set in the background: it is in the last share of its
    /// freshness, or past it but still usable while the IdP fails (README "Key lifecycle").
    KeyAndRefresh(Arc<VerifyingKey>),
    /// Another request of this isolate is fetching the keys: wait until [`KeyCache::waiting`] says it
    /// is over, then look up again (single flight).
    Wait { ticket: u64 },
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
    /// In the background: the set is still usable but near or past the end of its freshness.
    Ahead,
    /// In the background, from the Cron Trigger: every document is fetched from the IdP.
    Scheduled,
}

impl RefreshReason {
    /// Whether the refresh runs after the request was answered, with the keys held still in use.
    pub fn in_background(self) -> bool {
        matches!(self, Self::Ahead | Self::Scheduled)
    }
}

/// Keys held in this isolate, with their timing.
#[derive(Debug, Clone)]
struct Entry {
    keys: Arc<KeySet>,
    /// Fresh until then; usable until `fresh_until + stale_if_error` if fetching fails.
    fresh_until: u64,
    /// From then on, a lookup starts a background refresh (computed once, so that the check on the
    /// hot path is one comparison).
    refresh_from: u64,
}

/// The key cache of one issuer in one isolate.
#[derive(Debug, Default)]
pub struct KeyCache {
    entry: Option<Entry>,
    /// When the last refresh started, except one of an empty cache (cooldown clock).
    last_refresh: Option<u64>,
    /// When the last fetch failed; retried only once the cooldown has passed.
    last_failure: Option<u64>,
    /// A background refresh is under way until at most then: at most one at a time.
    background_until: Option<u64>,
    /// A request is fetching keys for the others until at most then (single flight).
    flight_until: Option<u64>,
    /// How many such fetches have ended: a waiter's ticket is the count when it started waiting.
    flights_ended: u64,
}

impl KeyCache {
    /// Decides how to get the key for `kid` at time `now` (seconds).
    pub fn lookup(&self, kid: &str, now: u64, policy: &CachePolicy) -> Lookup {
        if let Some(entry) = &self.entry {
            // The common case, on every request: one comparison beyond the key's hash lookup.
            if now < entry.refresh_from {
                if let Some(key) = entry.keys.get(kid) {
                    return Lookup::Key(key.clone());
                }
            }
        }
        self.lookup_slow(kid, now, policy)
    }

    fn lookup_slow(&self, kid: &str, now: u64, policy: &CachePolicy) -> Lookup {
        let cooled =
            |since: Option<u64>| since.is_none_or(|t| now >= t.saturating_add(policy.cooldown));
        let can_refresh = cooled(self.last_refresh) && cooled(self.last_failure);
        let in_flight = self.flight_until.is_some_and(|t| now < t);
        let wait = Lookup::Wait {
            ticket: self.flights_ended,
        };
        let Some(entry) = &self.entry else {
            // Concurrent first requests must all succeed: they wait for the one fetch under way.
            return if in_flight {
                wait
            } else if cooled(self.last_failure) {
                Lookup::Refresh(RefreshReason::Empty)
            } else {
                Lookup::Unavailable {
                    retry_after: self.retry_after(now, policy),
                }
            };
        };
        let fresh = now < entry.fresh_until;
        let usable = now < entry.fresh_until.saturating_add(policy.stale_if_error);
        let background = self.background_until.is_some_and(|t| now < t);
        // Past its freshness, a set serves only until the background refresh under way ends, or while the
        // IdP fails: while it answers, a key it dropped stops verifying when the freshness it granted ends.
        let serves = fresh || (usable && (background || self.last_failure.is_some()));
        match entry.keys.get(kid) {
            // Near the end of its freshness, or stale while the IdP fails, a set still serves while it is
            // refreshed in the background, one refresh at a time and within the cooldown.
            Some(key) if serves => {
                if can_refresh && !background && !in_flight {
                    Lookup::KeyAndRefresh(key.clone())
                } else {
                    Lookup::Key(key.clone())
                }
            }
            _ if in_flight => wait,
            _ if can_refresh => Lookup::Refresh(if fresh {
                RefreshReason::UnknownKid
            } else {
                RefreshReason::Expired
            }),
            // Refreshed recently: serve what is known while it may be served.
            Some(key) if usable => Lookup::Key(key.clone()),
            _ if usable => Lookup::UnknownKid,
            _ => Lookup::Unavailable {
                retry_after: self.retry_after(now, policy),
            },
        }
    }

    /// Whether the fetch a request waits for (its `ticket` from [`Lookup::Wait`]) is still under way.
    pub fn waiting(&self, ticket: u64, now: u64) -> bool {
        self.flights_ended == ticket && self.flight_until.is_some_and(|t| now < t)
    }

    /// Marks the start of a refresh, so that others within the cooldown do not refetch as well, and
    /// that concurrent requests wait for this one (or, in the background, that no second one starts).
    pub fn refresh_started(&mut self, reason: RefreshReason, now: u64, policy: &CachePolicy) {
        if reason != RefreshReason::Empty {
            self.last_refresh = Some(now);
        }
        let until = Some(policy.refresh_deadline(now));
        if reason.in_background() {
            self.background_until = until;
        } else {
            self.flight_until = until;
        }
    }

    /// Marks the end of a refresh, whatever its outcome: the waiters look up again.
    pub fn refresh_ended(&mut self, reason: RefreshReason) {
        if reason.in_background() {
            self.background_until = None;
        } else {
            self.flight_until = None;
            self.flights_ended = self.flights_ended.wrapping_add(1);
        }
    }

    /// Records a good key set, fresh for `ttl` seconds from `fetched_at` (which may be in the past when
    /// it came from a shared cache).
    pub fn store(&mut self, keys: Arc<KeySet>, fetched_at: u64, ttl: u64, policy: &CachePolicy) {
        let fresh_until = fetched_at.saturating_add(ttl);
        // Never go back to an older set than the one held.
        if self
            .entry
            .as_ref()
            .is_some_and(|e| e.fresh_until > fresh_until)
        {
            return;
        }
        self.entry = Some(Entry {
            keys,
            fresh_until,
            refresh_from: policy.refresh_from(fetched_at, ttl),
        });
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
        refresh_ahead_percent: 25,
        algorithms: Algorithms::DEFAULT,
    };

    fn keys(kids: &[&str]) -> Arc<KeySet> {
        Arc::new(parse_jwks(&test_keys::jwks_json(kids), Algorithms::DEFAULT).unwrap())
    }

    fn is_key(l: &Lookup, kid: &str) -> bool {
        matches!(l, Lookup::Key(k) if k.kid == kid)
    }

    #[test]
    fn concurrent_first_requests_wait_for_one_fetch() {
        let mut cache = KeyCache::default();
        assert!(matches!(
            cache.lookup("a", 100, &POLICY),
            Lookup::Refresh(RefreshReason::Empty)
        ));
        cache.refresh_started(RefreshReason::Empty, 100, &POLICY);
        // Requests arriving while the first fetch is under way wait for it (single flight).
        let Lookup::Wait { ticket } = cache.lookup("a", 100, &POLICY) else {
            panic!("a second request must wait");
        };
        assert!(matches!(
            cache.lookup("b", 101, &POLICY),
            Lookup::Wait { .. }
        ));
        assert!(cache.waiting(ticket, 105));
        cache.store(keys(&["a"]), 106, 600, &POLICY);
        cache.refresh_ended(RefreshReason::Empty);
        assert!(!cache.waiting(ticket, 106));
        // Looking up again, each waiter gets its answer without a fetch of its own.
        assert!(is_key(&cache.lookup("a", 106, &POLICY), "a"));
        assert!(matches!(
            cache.lookup("b", 106, &POLICY),
            Lookup::Refresh(RefreshReason::UnknownKid)
        ));
    }

    #[test]
    fn waiters_stop_waiting_after_a_failed_or_abandoned_fetch() {
        // Failed: the waiters learn it from the cooldown, without a fetch of their own.
        let mut cache = KeyCache::default();
        cache.refresh_started(RefreshReason::Empty, 100, &POLICY);
        let Lookup::Wait { ticket } = cache.lookup("a", 100, &POLICY) else {
            panic!("must wait");
        };
        cache.fetch_failed(103);
        cache.refresh_ended(RefreshReason::Empty);
        assert!(!cache.waiting(ticket, 103));
        assert!(matches!(
            cache.lookup("a", 103, &POLICY),
            Lookup::Unavailable { retry_after: 30 }
        ));

        // Never reported back (the request was cancelled): the wait ends after two fetch timeouts and a
        // second, and the next request fetches.
        let mut cache = KeyCache::default();
        cache.refresh_started(RefreshReason::Empty, 100, &POLICY);
        let Lookup::Wait { ticket } = cache.lookup("a", 100, &POLICY) else {
            panic!("must wait");
        };
        assert!(cache.waiting(ticket, 110));
        assert!(!cache.waiting(ticket, 111));
        assert!(matches!(
            cache.lookup("a", 111, &POLICY),
            Lookup::Refresh(RefreshReason::Empty)
        ));
    }

    #[test]
    fn refresh_ahead_in_the_last_share_of_freshness_one_at_a_time() {
        let mut cache = KeyCache::default();
        cache.store(keys(&["a"]), 1_000, 600, &POLICY);
        // 25 % of 600 s: from 1450 on.
        assert!(is_key(&cache.lookup("a", 1_449, &POLICY), "a"));
        assert!(matches!(
            cache.lookup("a", 1_450, &POLICY),
            Lookup::KeyAndRefresh(_)
        ));
        cache.refresh_started(RefreshReason::Ahead, 1_450, &POLICY);
        // While it runs, and within the cooldown after it, the set serves without another refresh.
        assert!(is_key(&cache.lookup("a", 1_451, &POLICY), "a"));
        cache.refresh_ended(RefreshReason::Ahead);
        assert!(is_key(&cache.lookup("a", 1_479, &POLICY), "a"));
        assert!(matches!(
            cache.lookup("a", 1_480, &POLICY),
            Lookup::KeyAndRefresh(_)
        ));
        // Without a cooldown, one at a time still holds; one that never reported back stops holding the
        // next one back after two fetch timeouts and a second.
        let eager = CachePolicy {
            cooldown: 0,
            ..POLICY
        };
        cache.refresh_started(RefreshReason::Ahead, 1_480, &eager);
        assert!(is_key(&cache.lookup("a", 1_490, &eager), "a"));
        assert!(matches!(
            cache.lookup("a", 1_491, &eager),
            Lookup::KeyAndRefresh(_)
        ));
        // A set that expires while its background refresh runs serves until the refresh ends.
        let mut short = KeyCache::default();
        short.store(keys(&["a"]), 1_000, 8, &POLICY);
        assert!(matches!(
            short.lookup("a", 1_006, &POLICY),
            Lookup::KeyAndRefresh(_)
        ));
        short.refresh_started(RefreshReason::Ahead, 1_006, &POLICY);
        assert!(is_key(&short.lookup("a", 1_008, &POLICY), "a"));
        short.store(keys(&["a"]), 1_009, 8, &POLICY);
        short.refresh_ended(RefreshReason::Ahead);
        assert!(is_key(&short.lookup("a", 1_009, &POLICY), "a"));
        // Off: a fresh set never refreshes; an expired one waits for the refresh.
        let off = CachePolicy {
            refresh_ahead_percent: 0,
            ..POLICY
        };
        let mut cache = KeyCache::default();
        cache.store(keys(&["a"]), 1_000, 600, &off);
        assert!(is_key(&cache.lookup("a", 1_599, &off), "a"));
        assert!(matches!(
            cache.lookup("a", 1_600, &off),
            Lookup::Refresh(RefreshReason::Expired)
        ));
        assert_eq!(POLICY.refresh_from(1_000, 10), 1_008);
        assert_eq!(POLICY.refresh_from(1_000, 0), 1_000);
    }

    #[test]
    fn unknown_kid_refetches_once_per_cooldown() {
        let mut cache = KeyCache::default();
        cache.store(keys(&["a"]), 100, 600, &POLICY);
        let lookup = cache.lookup("new", 110, &POLICY);
        assert!(matches!(lookup, Lookup::Refresh(RefreshReason::UnknownKid)));
        cache.refresh_started(RefreshReason::UnknownKid, 110, &POLICY);
        // The IdP does not know the kid either.
        cache.store(keys(&["a"]), 110, 600, &POLICY);
        cache.refresh_ended(RefreshReason::UnknownKid);
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
        cache.store(keys(&["old"]), 100, 600, &POLICY);
        cache.refresh_started(RefreshReason::UnknownKid, 200, &POLICY);
        cache.store(keys(&["old", "new"]), 200, 600, &POLICY);
        assert_eq!(cache.after_refresh("new", 200, &POLICY).unwrap().kid, "new");
        assert!(is_key(&cache.lookup("old", 201, &POLICY), "old"));
    }

    #[test]
    fn expired_keys_refresh_and_serve_stale_when_the_idp_fails() {
        let mut cache = KeyCache::default();
        cache.store(keys(&["a"]), 0, 600, &POLICY);
        // Past its freshness, with the IdP healthy, the next request waits for the refresh.
        assert!(matches!(
            cache.lookup("a", 600, &POLICY),
            Lookup::Refresh(RefreshReason::Expired)
        ));
        cache.refresh_started(RefreshReason::Expired, 600, &POLICY);
        cache.fetch_failed(600);
        // Known keys keep working; unknown ones fail fast.
        assert_eq!(cache.after_refresh("a", 600, &POLICY).unwrap().kid, "a");
        assert_eq!(
            cache.after_refresh("b", 600, &POLICY).unwrap_err(),
            KeyError::UnknownKid
        );
        assert!(is_key(&cache.lookup("a", 629, &POLICY), "a"));
        // Once the cooldown has passed, the next request tries again in the background, answered with
        // the stale keys: recovery is automatic. A kid they lack waits for the fetch.
        assert!(matches!(
            cache.lookup("a", 630, &POLICY),
            Lookup::KeyAndRefresh(_)
        ));
        assert!(matches!(
            cache.lookup("b", 630, &POLICY),
            Lookup::Refresh(RefreshReason::Expired)
        ));
        cache.refresh_started(RefreshReason::Expired, 630, &POLICY);
        cache.store(keys(&["a"]), 630, 600, &POLICY);
        assert!(is_key(&cache.lookup("a", 631, &POLICY), "a"));
    }

    #[test]
    fn stale_keys_expire_after_the_stale_window() {
        let mut cache = KeyCache::default();
        cache.store(keys(&["a"]), 0, 600, &POLICY);
        let end = 600 + POLICY.stale_if_error;
        cache.refresh_started(RefreshReason::Expired, end - 10, &POLICY);
        cache.fetch_failed(end - 10);
        cache.refresh_ended(RefreshReason::Expired);
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
        cache.refresh_started(RefreshReason::Empty, 100, &POLICY);
        cache.fetch_failed(100);
        cache.refresh_ended(RefreshReason::Empty);
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
        cache.store(keys(&["new"]), 1000, 600, &POLICY);
        cache.store(keys(&["old"]), 100, 600, &POLICY);
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
