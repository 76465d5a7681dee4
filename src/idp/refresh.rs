//! The key refresh as a plan without I/O (README "Features", Keys): which copy of the discovery document and
//! of the JWKS to use (the isolate's, the shared cache's, or a fresh one from the IdP), what to keep
//! after a fetch, whether the fetch failed, and which stale copy may serve while the IdP fails.
//!
//! The Workers adapter walks the plan: it performs each [`Step`] and feeds the result back, with the time
//! after each IdP fetch, so that every rule here is tested natively with a plain clock.

use std::collections::VecDeque;
use std::sync::Arc;

use super::discovery::{parse_discovery, MAX_DISCOVERY_BYTES};
use super::key_cache::{ttl_from_cache_control, CachePolicy, KeyCache, KeyError, RefreshReason};
use super::Issuer;
use crate::jose::jwks::{parse_jwks, JwksError, KeySet, VerifyingKey, MAX_JWKS_BYTES};

/// A discovery document or JWKS with its timing, as kept in the isolate and in the shared cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub body: Vec<u8>,
    /// When it was fetched from the IdP (seconds since the epoch).
    pub fetched_at: u64,
    /// Seconds it is fresh for, from `fetched_at`.
    pub ttl: u64,
}

impl Document {
    /// A document fetched from the IdP at `now`, fresh for what its `Cache-Control` allows.
    pub fn fetched(answer: Fetched, now: u64, max_ttl: u64) -> Self {
        Self {
            ttl: ttl_from_cache_control(answer.cache_control.as_deref(), max_ttl),
            body: answer.body,
            fetched_at: now,
        }
    }

    /// Whether a refresh for `reason` may take this copy as it is, rather than ask the IdP.
    fn is_current(
        &self,
        kind: DocumentKind,
        reason: RefreshReason,
        now: u64,
        policy: &CachePolicy,
    ) -> bool {
        match reason {
            RefreshReason::Empty | RefreshReason::Expired => self.is_fresh(now),
            // The shared copy of the JWKS may predate the rotation.
            RefreshReason::UnknownKid => kind == DocumentKind::Discovery && self.is_fresh(now),
            // A copy as near its end as the one being refreshed would only be refreshed again.
            RefreshReason::Ahead => now < policy.refresh_from(self.fetched_at, self.ttl),
            RefreshReason::Scheduled => false,
        }
    }

    pub fn is_fresh(&self, now: u64) -> bool {
        now < self.fetched_at.saturating_add(self.ttl)
    }

    /// Whether the document may still serve while the IdP fails: fresh, or stale for less than
    /// `stale_if_error` seconds.
    pub fn is_usable(&self, now: u64, stale_if_error: u64) -> bool {
        now < self
            .fetched_at
            .saturating_add(self.ttl)
            .saturating_add(stale_if_error)
    }
}

/// A 2xx answer of the IdP within the size limit, as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub body: Vec<u8>,
    pub cache_control: Option<String>,
}

/// The two documents a refresh reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    Discovery,
    Jwks,
}

impl DocumentKind {
    /// The name in the request's log line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Discovery => "discovery",
            Self::Jwks => "jwks",
        }
    }

    /// Largest answer accepted from the IdP.
    pub fn max_bytes(self) -> usize {
        match self {
            Self::Discovery => MAX_DISCOVERY_BYTES,
            Self::Jwks => MAX_JWKS_BYTES,
        }
    }
}

/// What the adapter does next.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Read `url` from the shared cache and pass the entry to [`RefreshPlan::shared_read`].
    ReadShared { kind: DocumentKind, url: String },
    /// Fetch `url` from the IdP and pass the answer to [`RefreshPlan::fetched`].
    Fetch { kind: DocumentKind, url: String },
    /// Store a freshly fetched document in the shared cache, for the other isolates.
    PutShared { url: String, doc: Document },
    /// Keep this discovery document in the isolate.
    KeepDiscovery(Document),
    /// The refresh is over: call [`RefreshPlan::finish`].
    Done,
}

/// Where the plan is.
#[derive(Debug)]
enum State {
    /// The isolate's discovery copy is not fresh: the shared cache is next.
    DiscoveryShared { held: Option<Document> },
    /// No fresh discovery copy: the IdP is next; the copies seen are the fallback if it fails.
    DiscoveryFetch {
        held: Option<Document>,
        shared: Option<Document>,
    },
    /// The JWKS at `uri`: the shared cache is next (read even when it cannot be trusted as fresh, as the
    /// fallback if the IdP fails).
    JwksShared { uri: String },
    /// The JWKS at `uri` from the IdP; the shared copy is the fallback if it fails.
    JwksFetch {
        uri: String,
        shared: Option<Document>,
    },
    /// Keys to store (possibly stale ones), and whether the IdP failed (which starts the cooldown).
    Finished {
        keys: Option<(Arc<KeySet>, Document, KeysFrom)>,
        failed: bool,
    },
}

/// Where the key set a refresh keeps came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeysFrom {
    /// A shared copy (the Cache API, or KV when the Cache API has none).
    Shared,
    Idp,
}

/// The refresh of one issuer's keys in one isolate, from [`KeyCache::lookup`] answering
/// [`Lookup::Refresh`](super::key_cache::Lookup::Refresh) to the key for the token's `kid`.
#[derive(Debug)]
pub struct RefreshPlan<'a> {
    issuer: &'a Issuer,
    reason: RefreshReason,
    policy: CachePolicy,
    /// The latest time known: the request's, then the end of each IdP fetch.
    now: u64,
    state: State,
    /// Steps to perform before the plan goes on, in order.
    pending: VecDeque<Step>,
}

impl<'a> RefreshPlan<'a> {
    /// Starts a refresh at `now` for `reason`, marking it in the key cache (so that other requests
    /// within the cooldown do not refetch as well). `discovery` is the isolate's copy, if any.
    pub fn start(
        cache: &mut KeyCache,
        issuer: &'a Issuer,
        reason: RefreshReason,
        discovery: Option<Document>,
        now: u64,
        policy: CachePolicy,
    ) -> Self {
        cache.refresh_started(reason, now, &policy);
        let fresh_uri = discovery
            .as_ref()
            .filter(|d| d.is_current(DocumentKind::Discovery, reason, now, &policy))
            .and_then(|d| jwks_uri(d, issuer));
        let state = match fresh_uri {
            Some(uri) => State::JwksShared { uri },
            None => State::DiscoveryShared { held: discovery },
        };
        Self {
            issuer,
            reason,
            policy,
            now,
            state,
            pending: VecDeque::new(),
        }
    }

    /// The next step; the same one again until its result has been passed back.
    pub fn next_step(&mut self) -> Step {
        if let Some(step) = self.pending.pop_front() {
            return step;
        }
        let discovery_url = || self.issuer.discovery_url.clone();
        match &self.state {
            State::DiscoveryShared { .. } => Step::ReadShared {
                kind: DocumentKind::Discovery,
                url: discovery_url(),
            },
            State::DiscoveryFetch { .. } => Step::Fetch {
                kind: DocumentKind::Discovery,
                url: discovery_url(),
            },
            State::JwksShared { uri } => Step::ReadShared {
                kind: DocumentKind::Jwks,
                url: uri.clone(),
            },
            State::JwksFetch { uri, .. } => Step::Fetch {
                kind: DocumentKind::Jwks,
                url: uri.clone(),
            },
            State::Finished { .. } => Step::Done,
        }
    }

    /// The shared cache's entry for the last [`Step::ReadShared`]: used if fresh and good, except that
    /// a refresh for an unknown `kid` must reach the IdP (the shared copy may predate the rotation), a
    /// refresh ahead only takes a copy that is not near its end itself, and a scheduled one always asks.
    pub fn shared_read(&mut self, doc: Option<Document>) {
        let (now, reason, policy) = (self.now, self.reason, self.policy);
        let current = |d: &&Document, kind| d.is_current(kind, reason, now, &policy);
        self.state = match self.take_state() {
            State::DiscoveryShared { held } => {
                match doc
                    .as_ref()
                    .filter(|d| current(d, DocumentKind::Discovery))
                    .map(|d| (d, jwks_uri(d, self.issuer)))
                {
                    Some((d, Some(uri))) => {
                        self.pending.push_back(Step::KeepDiscovery(d.clone()));
                        State::JwksShared { uri }
                    }
                    _ => State::DiscoveryFetch { held, shared: doc },
                }
            }
            State::JwksShared { uri } => {
                match doc
                    .as_ref()
                    .filter(|d| current(d, DocumentKind::Jwks))
                    .and_then(|d| parse_keys(d, &self.policy))
                {
                    Some(keys) => State::Finished {
                        keys: doc.map(|d| (keys, d, KeysFrom::Shared)),
                        failed: false,
                    },
                    None => State::JwksFetch { uri, shared: doc },
                }
            }
            // Out of order: nothing was asked of the shared cache.
            other => other,
        };
    }

    /// The IdP's answer for the last [`Step::Fetch`], received at `now`. Returns why it does not count
    /// (unreachable, bad status, or a document that does not parse), for the log.
    pub fn fetched(
        &mut self,
        answer: Result<Fetched, &'static str>,
        now: u64,
    ) -> Result<(), &'static str> {
        self.now = now;
        let doc = answer.map(|a| Document::fetched(a, now, self.policy.max_ttl));
        match self.take_state() {
            State::DiscoveryFetch { held, shared } => self.fetched_discovery(doc, held, shared),
            State::JwksFetch { uri, shared } => self.fetched_jwks(doc, uri, shared),
            other => {
                // Out of order: nothing was asked of the IdP.
                self.state = other;
                Ok(())
            }
        }
    }

    /// Where the keys the refresh keeps come from; `None` when it keeps none (the held ones stay).
    pub fn keys_from(&self) -> Option<KeysFrom> {
        match &self.state {
            State::Finished {
                keys: Some((_, _, from)),
                ..
            } => Some(*from),
            _ => None,
        }
    }

    /// Records the outcome in the key cache and answers for `kid` at the end of the refresh, whatever
    /// the outcome: there is no second refresh.
    pub fn finish(self, cache: &mut KeyCache, kid: &str) -> Result<Arc<VerifyingKey>, KeyError> {
        let (now, policy) = (self.now, self.policy);
        self.record(cache);
        cache.after_refresh(kid, now, &policy)
    }

    /// Records the outcome in the key cache (the keys to keep, a failure, the end of the refresh) and
    /// returns whether the refresh succeeded: a background refresh answers no request.
    pub fn record(self, cache: &mut KeyCache) -> bool {
        let (keys, failed) = match self.state {
            State::Finished { keys, failed } => (keys, failed),
            // Walked only part of the way: nothing usable was found.
            _ => (None, true),
        };
        if let Some((keys, doc, _)) = keys {
            cache.store(keys, doc.fetched_at, doc.ttl, &self.policy);
        }
        if failed {
            cache.fetch_failed(self.now);
        }
        cache.refresh_ended(self.reason);
        !failed
    }

    fn fetched_discovery(
        &mut self,
        doc: Result<Document, &'static str>,
        held: Option<Document>,
        shared: Option<Document>,
    ) -> Result<(), &'static str> {
        let parsed = doc.and_then(|doc| {
            let uri = parse_discovery(&doc.body, self.issuer)?.jwks_uri;
            Ok((doc, uri))
        });
        self.state = match &parsed {
            Ok((doc, uri)) => {
                let url = self.issuer.discovery_url.clone();
                self.pending.push_back(Step::PutShared {
                    url,
                    doc: doc.clone(),
                });
                self.pending.push_back(Step::KeepDiscovery(doc.clone()));
                State::JwksShared { uri: uri.clone() }
            }
            // Stale-if-error: a discovery document known before still names the JWKS.
            Err(_) => match [held, shared]
                .into_iter()
                .flatten()
                .filter(|d| d.is_usable(self.now, self.policy.stale_if_error))
                .find_map(|d| jwks_uri(&d, self.issuer))
            {
                Some(uri) => State::JwksShared { uri },
                None => State::Finished {
                    keys: None,
                    failed: true,
                },
            },
        };
        parsed.map(|_| ())
    }

    fn fetched_jwks(
        &mut self,
        doc: Result<Document, &'static str>,
        uri: String,
        shared: Option<Document>,
    ) -> Result<(), &'static str> {
        let parsed = doc.and_then(|doc| {
            let keys =
                parse_jwks(&doc.body, self.policy.algorithms).map_err(JwksError::description)?;
            Ok((Arc::new(keys), doc))
        });
        let (keys, result) = match parsed {
            Ok((keys, doc)) => {
                self.pending.push_back(Step::PutShared {
                    url: uri,
                    doc: doc.clone(),
                });
                (Some((keys, doc, KeysFrom::Idp)), Ok(()))
            }
            // A stale copy from the shared cache still serves a cold isolate. Garbage from the IdP is
            // never stored, so it cannot replace the keys held.
            Err(error) => {
                let stale = shared
                    .filter(|d| d.is_usable(self.now, self.policy.stale_if_error))
                    .and_then(|d| {
                        parse_keys(&d, &self.policy).map(|keys| (keys, d, KeysFrom::Shared))
                    });
                (stale, Err(error))
            }
        };
        self.state = State::Finished {
            keys,
            failed: result.is_err(),
        };
        result
    }

    fn take_state(&mut self) -> State {
        std::mem::replace(
            &mut self.state,
            State::Finished {
                keys: None,
                failed: true,
            },
        )
    }
}

fn jwks_uri(doc: &Document, issuer: &Issuer) -> Option<String> {
    parse_discovery(&doc.body, issuer).ok().map(|d| d.jwks_uri)
}

fn parse_keys(doc: &Document, policy: &CachePolicy) -> Option<Arc<KeySet>> {
    parse_jwks(&doc.body, policy.algorithms).ok().map(Arc::new)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_json::json;

    use super::*;
    use crate::idp::key_cache::Lookup;
    use crate::idp::parse_issuer;
    use crate::jose::jwa::Algorithms;
    use crate::test_keys;

    const POLICY: CachePolicy = CachePolicy {
        max_ttl: 600,
        cooldown: 30,
        stale_if_error: 3_600,
        fetch_timeout_ms: 5_000,
        // Off in the tests that predate refresh-ahead: a fresh copy is then used as it is.
        refresh_ahead_percent: 0,
        algorithms: Algorithms::DEFAULT,
    };
    const AHEAD: CachePolicy = CachePolicy {
        refresh_ahead_percent: 25,
        ..POLICY
    };
    const DISCOVERY_URL: &str = "https://tenant.example.com/.well-known/openid-configuration";
    const JWKS_URI: &str = "https://tenant.example.com/.well-known/jwks.json";

    fn discovery_body(issuer: &str) -> Vec<u8> {
        json!({ "issuer": issuer, "jwks_uri": JWKS_URI })
            .to_string()
            .into_bytes()
    }

    fn jwks_body(kids: &[&str]) -> Vec<u8> {
        test_keys::jwks_json(kids)
    }

    fn answer(body: Vec<u8>, max_age: u64) -> Fetched {
        Fetched {
            body,
            cache_control: Some(format!("public, max-age={max_age}")),
        }
    }

    /// One isolate's key state, as the adapter keeps it.
    #[derive(Default)]
    struct Isolate {
        cache: KeyCache,
        discovery: Option<Document>,
    }

    /// Everything outside the isolates: the shared cache and the IdP, with the I/O of the last lookup.
    struct World {
        issuer: Issuer,
        policy: CachePolicy,
        shared: HashMap<String, Document>,
        /// What the IdP answers for each URL; an absent URL is unreachable.
        idp: HashMap<String, Fetched>,
        /// Seconds each IdP fetch takes.
        fetch_secs: u64,
        io: Vec<String>,
        /// Whether the last lookup answered and then refreshed in the background.
        background: bool,
    }

    impl World {
        /// A healthy IdP with the key `a`: discovery fresh for 600 s, the JWKS for 60 s.
        fn new() -> Self {
            let issuer = parse_issuer("tenant.example.com").unwrap();
            let mut world = Self {
                idp: HashMap::new(),
                shared: HashMap::new(),
                fetch_secs: 0,
                io: Vec::new(),
                background: false,
                policy: POLICY,
                issuer,
            };
            world.serve_discovery(discovery_body("https://tenant.example.com/"));
            world.serve_jwks(jwks_body(&["a"]));
            world
        }

        /// As [`World::new`], with refresh-ahead in the last quarter of freshness.
        fn ahead() -> Self {
            Self {
                policy: AHEAD,
                ..Self::new()
            }
        }

        fn serve_discovery(&mut self, body: Vec<u8>) {
            self.idp.insert(DISCOVERY_URL.into(), answer(body, 600));
        }

        fn serve_jwks(&mut self, body: Vec<u8>) {
            self.idp.insert(JWKS_URI.into(), answer(body, 60));
        }

        fn idp_down(&mut self) {
            self.idp.clear();
        }

        /// The key for `kid` at `now`, as the adapter gets it: lookup, then the plan walked to its end; a
        /// background refresh is walked right after the answer (as `waitUntil` does).
        fn key(&mut self, isolate: &mut Isolate, kid: &str, now: u64) -> Result<String, KeyError> {
            self.io.clear();
            self.background = false;
            let reason = match isolate.cache.lookup(kid, now, &self.policy) {
                Lookup::Key(key) => return Ok(key.kid.clone()),
                Lookup::KeyAndRefresh(key) => {
                    self.background = true;
                    let issuer = self.issuer.clone();
                    let plan = start(isolate, &issuer, RefreshReason::Ahead, now, self.policy);
                    self.walk(isolate, plan, now).record(&mut isolate.cache);
                    return Ok(key.kid.clone());
                }
                Lookup::Wait { .. } => panic!("one request at a time never waits"),
                Lookup::UnknownKid => return Err(KeyError::UnknownKid),
                Lookup::Unavailable { retry_after } => {
                    return Err(KeyError::Unavailable { retry_after })
                }
                Lookup::Refresh(reason) => reason,
            };
            let issuer = self.issuer.clone();
            let plan = start(isolate, &issuer, reason, now, self.policy);
            self.walk(isolate, plan, now)
                .finish(&mut isolate.cache, kid)
                .map(|key| key.kid.clone())
        }

        /// The Cron Trigger's refresh of this isolate, at `now`: whether it succeeded.
        fn scheduled(&mut self, isolate: &mut Isolate, now: u64) -> bool {
            self.io.clear();
            let issuer = self.issuer.clone();
            let plan = start(isolate, &issuer, RefreshReason::Scheduled, now, self.policy);
            self.walk(isolate, plan, now).record(&mut isolate.cache)
        }

        /// Performs the plan's steps until it is done, as the adapter does, recording the I/O.
        fn walk<'p>(
            &mut self,
            isolate: &mut Isolate,
            mut plan: RefreshPlan<'p>,
            mut now: u64,
        ) -> RefreshPlan<'p> {
            loop {
                match plan.next_step() {
                    Step::ReadShared { kind, url } => {
                        self.io.push(format!("shared {}", kind.name()));
                        plan.shared_read(self.shared.get(&url).cloned());
                    }
                    Step::Fetch { kind, url } => {
                        now += self.fetch_secs;
                        let answer = self.idp.get(&url).cloned().ok_or("unreachable");
                        let outcome = match plan.fetched(answer, now) {
                            Ok(()) => "",
                            Err(_) => " failed",
                        };
                        self.io.push(format!("idp {}{outcome}", kind.name()));
                    }
                    Step::PutShared { url, doc } => {
                        self.io.push(format!("put {url}"));
                        self.shared.insert(url, doc);
                    }
                    Step::KeepDiscovery(doc) => isolate.discovery = Some(doc),
                    Step::Done => return plan,
                }
            }
        }
    }

    /// Starts a refresh of `isolate` as the adapter does.
    fn start<'i>(
        isolate: &mut Isolate,
        issuer: &'i Issuer,
        reason: RefreshReason,
        now: u64,
        policy: CachePolicy,
    ) -> RefreshPlan<'i> {
        let discovery = isolate.discovery.clone();
        RefreshPlan::start(&mut isolate.cache, issuer, reason, discovery, now, policy)
    }

    /// The I/O of a refresh that reads both documents from the IdP.
    fn everything_from_the_idp() -> [String; 6] {
        [
            "shared discovery".into(),
            "idp discovery".into(),
            put(DISCOVERY_URL),
            "shared jwks".into(),
            "idp jwks".into(),
            put(JWKS_URI),
        ]
    }

    fn put(url: &str) -> String {
        format!("put {url}")
    }

    /// An isolate that fetched everything from the IdP at `now`.
    fn warmed(world: &mut World, now: u64) -> Isolate {
        let mut isolate = Isolate::default();
        assert_eq!(world.key(&mut isolate, "a", now), Ok("a".into()));
        isolate
    }

    /// One request per second from `from` to `to` (excluded) for the key `a`, every one answered: the
    /// times a request refreshed in the background. None waits for I/O: a lookup with I/O must be one
    /// that refreshed in the background.
    fn steady_traffic(world: &mut World, isolate: &mut Isolate, from: u64, to: u64) -> Vec<u64> {
        let mut refreshed = Vec::new();
        for now in from..to {
            assert_eq!(world.key(isolate, "a", now), Ok("a".into()), "at {now}");
            if world.background {
                refreshed.push(now);
            } else {
                assert!(
                    world.io.is_empty(),
                    "a request at {now} waited for {:?}",
                    world.io
                );
            }
        }
        refreshed
    }

    #[test]
    fn steady_traffic_never_waits_and_refreshes_in_the_last_quarter() {
        let mut world = World::ahead();
        let mut isolate = warmed(&mut world, 1_000);
        // The JWKS is fresh for 60 s: refreshed from 45 s on, from the IdP (the shared copy is as old).
        let refreshed = steady_traffic(&mut world, &mut isolate, 1_001, 1_046);
        assert_eq!(refreshed, [1_045]);
        assert_eq!(world.io, ["shared jwks", "idp jwks", &put(JWKS_URI)]);
        // Every 45 s after that; discovery (fresh for 600 s) joins the refresh in its own last quarter.
        let refreshed = steady_traffic(&mut world, &mut isolate, 1_046, 1_700);
        let expected: Vec<u64> = (2..=15).map(|n| 1_000 + 45 * n).collect();
        assert_eq!(refreshed, expected);
        assert_eq!(world.shared[DISCOVERY_URL].fetched_at, 1_450);
        assert_eq!(world.shared[JWKS_URI].fetched_at, 1_675);
    }

    #[test]
    fn a_background_refresh_takes_a_shared_copy_only_when_it_is_not_near_its_end() {
        let mut world = World::ahead();
        let mut first = warmed(&mut world, 1_000);
        let mut second = warmed(&mut world, 1_000);
        assert_eq!(world.io, ["shared discovery", "shared jwks"]);
        assert_eq!(world.key(&mut first, "a", 1_045), Ok("a".into()));
        assert_eq!(world.io, ["shared jwks", "idp jwks", &put(JWKS_URI)]);
        // The other isolate finds the copy the first one just fetched.
        assert_eq!(world.key(&mut second, "a", 1_046), Ok("a".into()));
        assert!(world.background);
        assert_eq!(world.io, ["shared jwks"]);
        assert!(steady_traffic(&mut world, &mut second, 1_047, 1_090).is_empty());
    }

    #[test]
    fn a_failing_background_refresh_changes_nothing_for_clients() {
        for failure in [None, Some(&b"<html>"[..]), Some(br#"{"keys": []}"#)] {
            let mut world = World::ahead();
            let mut isolate = warmed(&mut world, 1_000);
            let good = world.shared[JWKS_URI].clone();
            match failure {
                None => world.idp_down(),
                Some(garbage) => world.serve_jwks(garbage.to_vec()),
            }
            // The IdP fails each time the cooldown allows a try (a success would hold for 45 s); the
            // held keys serve, fresh then stale.
            let refreshed = steady_traffic(&mut world, &mut isolate, 1_001, 1_200);
            assert_eq!(refreshed, [1_045, 1_075, 1_105, 1_135, 1_165, 1_195]);
            assert_eq!(
                world.shared[JWKS_URI], good,
                "garbage never replaces good keys"
            );
            // Recovery: the next try after the cooldown gets fresh keys.
            world.serve_jwks(jwks_body(&["a"]));
            world.serve_discovery(discovery_body("https://tenant.example.com/"));
            assert_eq!(
                steady_traffic(&mut world, &mut isolate, 1_200, 1_226),
                [1_225]
            );
            assert_eq!(world.shared[JWKS_URI].fetched_at, 1_225);
        }
    }

    #[test]
    fn a_rotation_during_a_background_refresh_changes_nothing_for_clients() {
        let mut world = World::ahead();
        let mut isolate = warmed(&mut world, 1_000);
        // The new key is published next to the old one, and tokens signed by it arrive after the refresh.
        world.serve_jwks(jwks_body(&["a", "b"]));
        assert_eq!(
            steady_traffic(&mut world, &mut isolate, 1_001, 1_046),
            [1_045]
        );
        assert_eq!(world.key(&mut isolate, "b", 1_046), Ok("b".into()));
        assert!(world.io.is_empty());
        // The old key is dropped: it stops verifying at the next refresh.
        world.serve_jwks(jwks_body(&["b"]));
        assert_eq!(world.key(&mut isolate, "a", 1_090), Ok("a".into()));
        assert!(world.background);
        assert_eq!(
            world.key(&mut isolate, "a", 1_091),
            Err(KeyError::UnknownKid)
        );
    }

    #[test]
    fn an_expired_copy_waits_while_the_idp_answers_and_serves_while_it_fails() {
        let mut world = World::new();
        let mut isolate = warmed(&mut world, 1_000);
        // The IdP answered last time: a key it dropped must stop verifying when the copy expires.
        world.serve_jwks(jwks_body(&["b"]));
        assert_eq!(
            world.key(&mut isolate, "a", 1_060),
            Err(KeyError::UnknownKid)
        );
        assert!(!world.background);
        assert_eq!(world.io, ["shared jwks", "idp jwks", &put(JWKS_URI)]);
        // Once a fetch failed, the stale copy serves while later tries run in the background.
        let mut world = World::new();
        let mut isolate = warmed(&mut world, 1_000);
        world.idp_down();
        assert_eq!(world.key(&mut isolate, "a", 1_060), Ok("a".into()));
        assert!(!world.background);
        assert_eq!(
            steady_traffic(&mut world, &mut isolate, 1_061, 1_100),
            [1_090]
        );
        // Past the stale window nothing usable is held: the request waits.
        let end = 1_060 + POLICY.stale_if_error;
        world.idp = World::new().idp;
        assert_eq!(world.key(&mut isolate, "a", end), Ok("a".into()));
        assert!(!world.background);
        assert!(!world.io.is_empty());
    }

    #[test]
    fn concurrent_cold_requests_share_one_refresh() {
        let mut world = World::new();
        let mut isolate = Isolate::default();
        let Lookup::Refresh(reason) = isolate.cache.lookup("a", 1_000, &world.policy) else {
            panic!("a cold isolate refreshes");
        };
        let issuer = world.issuer.clone();
        let plan = start(&mut isolate, &issuer, reason, 1_000, world.policy);
        // While the first request fetches, the others wait for it instead of fetching too.
        let waiters: Vec<u64> = (0..31)
            .map(|_| match isolate.cache.lookup("a", 1_000, &world.policy) {
                Lookup::Wait { ticket } => ticket,
                other => panic!("{other:?}"),
            })
            .collect();
        world.fetch_secs = 1;
        let plan = world.walk(&mut isolate, plan, 1_000);
        assert_eq!(plan.keys_from(), Some(KeysFrom::Idp));
        assert_eq!(plan.finish(&mut isolate.cache, "a").unwrap().kid, "a");
        assert_eq!(
            world.io.iter().filter(|io| io.starts_with("idp")).count(),
            2
        );
        for ticket in waiters {
            assert!(!isolate.cache.waiting(ticket, 1_002));
            assert!(matches!(
                isolate.cache.lookup("a", 1_002, &world.policy),
                Lookup::Key(_)
            ));
        }
    }

    #[test]
    fn the_scheduled_refresh_fetches_every_document_and_keeps_the_keys_when_it_fails() {
        let mut world = World::ahead();
        let mut isolate = warmed(&mut world, 1_000);
        // Everything is fresh, and still the IdP is asked (for the other data centres, through KV).
        assert!(world.scheduled(&mut isolate, 1_010));
        assert_eq!(world.io, everything_from_the_idp());
        assert!(steady_traffic(&mut world, &mut isolate, 1_011, 1_055).is_empty());
        // An isolate that never served a request is warmed by it.
        let mut cold = Isolate::default();
        assert!(world.scheduled(&mut cold, 1_020));
        assert!(matches!(
            cold.cache.lookup("a", 1_021, &world.policy),
            Lookup::Key(_)
        ));
        // A failure keeps the keys held, and answers no request.
        world.idp_down();
        assert!(!world.scheduled(&mut isolate, 1_030));
        assert_eq!(world.key(&mut isolate, "a", 1_031), Ok("a".into()));
        let mut cold = Isolate::default();
        world.shared.clear();
        assert!(!world.scheduled(&mut cold, 1_040));
    }

    #[test]
    fn document_freshness_and_stale_window() {
        let doc = Document::fetched(answer(Vec::new(), 60), 1_000, 600);
        assert_eq!((doc.fetched_at, doc.ttl), (1_000, 60));
        assert!(doc.is_fresh(1_059));
        assert!(!doc.is_fresh(1_060));
        assert!(doc.is_usable(1_060, 100));
        assert!(doc.is_usable(1_159, 100));
        assert!(!doc.is_usable(1_160, 100));
        let capped = Document::fetched(answer(Vec::new(), 86_400), 0, 600);
        assert_eq!(capped.ttl, 600);
    }

    #[test]
    fn a_cold_isolate_fetches_both_documents_and_shares_them() {
        let mut world = World::new();
        let isolate = warmed(&mut world, 1_000);
        assert_eq!(world.io, everything_from_the_idp());
        assert_eq!(
            isolate.discovery.as_ref().map(|d| d.fetched_at),
            Some(1_000)
        );
        assert_eq!(world.shared[JWKS_URI].ttl, 60);
    }

    #[test]
    fn fresh_keys_and_a_fresh_discovery_copy_need_no_io() {
        let mut world = World::new();
        let mut isolate = warmed(&mut world, 1_000);
        assert_eq!(world.key(&mut isolate, "a", 1_059), Ok("a".into()));
        assert!(world.io.is_empty());
        // Expired keys: the isolate's discovery copy is still fresh, the shared JWKS is not.
        assert_eq!(world.key(&mut isolate, "a", 1_060), Ok("a".into()));
        assert_eq!(world.io, ["shared jwks", "idp jwks", &put(JWKS_URI)]);
    }

    #[test]
    fn a_fresh_shared_copy_serves_a_cold_isolate_and_a_stale_one_is_refetched() {
        let mut world = World::new();
        warmed(&mut world, 1_000);
        world.idp_down();
        let mut cold = Isolate::default();
        assert_eq!(world.key(&mut cold, "a", 1_030), Ok("a".into()));
        assert_eq!(world.io, ["shared discovery", "shared jwks"]);
        // The shared discovery copy is kept in the isolate.
        assert_eq!(cold.discovery, world.shared.get(DISCOVERY_URL).cloned());

        let mut world = World::new();
        warmed(&mut world, 1_000);
        let mut cold = Isolate::default();
        assert_eq!(world.key(&mut cold, "a", 1_060), Ok("a".into()));
        assert_eq!(
            world.io,
            [
                "shared discovery",
                "shared jwks",
                "idp jwks",
                &put(JWKS_URI)
            ]
        );
    }

    #[test]
    fn an_unknown_kid_bypasses_a_fresh_shared_copy() {
        let mut world = World::new();
        let mut isolate = warmed(&mut world, 1_000);
        world.serve_jwks(jwks_body(&["a", "b"]));
        // The shared copy is fresh but predates the rotation: the IdP is asked.
        assert_eq!(world.key(&mut isolate, "b", 1_010), Ok("b".into()));
        assert_eq!(world.io, ["shared jwks", "idp jwks", &put(JWKS_URI)]);

        // A cold isolate trusts a fresh shared copy; its next lookup for the new kid reaches the IdP.
        let mut world = World::new();
        warmed(&mut world, 1_000);
        world.serve_jwks(jwks_body(&["a", "b"]));
        let mut cold = Isolate::default();
        assert_eq!(world.key(&mut cold, "b", 1_010), Err(KeyError::UnknownKid));
        assert_eq!(world.io, ["shared discovery", "shared jwks"]);
        assert_eq!(world.key(&mut cold, "b", 1_011), Ok("b".into()));
        assert_eq!(world.io, ["shared jwks", "idp jwks", &put(JWKS_URI)]);
    }

    #[test]
    fn an_unknown_kid_refetches_once_per_cooldown() {
        let mut world = World::new();
        let mut isolate = warmed(&mut world, 1_000);
        assert_eq!(
            world.key(&mut isolate, "x", 1_001),
            Err(KeyError::UnknownKid)
        );
        assert_eq!(world.io, ["shared jwks", "idp jwks", &put(JWKS_URI)]);
        assert_eq!(
            world.key(&mut isolate, "y", 1_030),
            Err(KeyError::UnknownKid)
        );
        assert!(world.io.is_empty());
        assert_eq!(
            world.key(&mut isolate, "y", 1_031),
            Err(KeyError::UnknownKid)
        );
        assert_eq!(world.io, ["shared jwks", "idp jwks", &put(JWKS_URI)]);
    }

    #[test]
    fn idp_failure_serves_stale_keys_within_the_stale_window_only() {
        let mut world = World::new();
        let mut isolate = warmed(&mut world, 1_000);
        world.idp_down();
        assert_eq!(world.key(&mut isolate, "a", 1_100), Ok("a".into()));
        assert_eq!(world.io, ["shared jwks", "idp jwks failed"]);
        // Within the cooldown the stale keys serve without I/O.
        assert_eq!(world.key(&mut isolate, "a", 1_129), Ok("a".into()));
        assert!(world.io.is_empty());
        // The keys were fresh until 1060; the discovery copy until 1600.
        let end = 1_060 + POLICY.stale_if_error;
        assert_eq!(world.key(&mut isolate, "a", end - 100), Ok("a".into()));
        assert_eq!(
            world.key(&mut isolate, "a", end),
            Err(KeyError::Unavailable { retry_after: 30 })
        );
        assert_eq!(
            world.io,
            [
                "shared discovery",
                "idp discovery failed",
                "shared jwks",
                "idp jwks failed"
            ]
        );
    }

    #[test]
    fn a_stale_shared_copy_serves_a_cold_isolate_while_the_idp_fails() {
        let mut world = World::new();
        warmed(&mut world, 1_000);
        world.idp_down();
        let mut cold = Isolate::default();
        assert_eq!(world.key(&mut cold, "a", 1_100), Ok("a".into()));
        assert_eq!(
            world.io,
            ["shared discovery", "shared jwks", "idp jwks failed"]
        );
        // Beyond the stale window the shared copy no longer serves.
        let end = 1_060 + POLICY.stale_if_error;
        let mut cold = Isolate::default();
        assert_eq!(
            world.key(&mut cold, "a", end),
            Err(KeyError::Unavailable { retry_after: 30 })
        );
        assert_eq!(
            world.io,
            [
                "shared discovery",
                "idp discovery failed",
                "shared jwks",
                "idp jwks failed"
            ]
        );
    }

    #[test]
    fn a_stale_discovery_copy_names_the_jwks_within_the_stale_window_only() {
        let mut world = World::new();
        let mut isolate = warmed(&mut world, 1_000);
        world.idp.remove(DISCOVERY_URL);
        // Discovery is stale from 1600; the JWKS is still served.
        assert_eq!(world.key(&mut isolate, "a", 1_700), Ok("a".into()));
        assert_eq!(
            world.io,
            [
                "shared discovery",
                "idp discovery failed",
                "shared jwks",
                "idp jwks",
                &put(JWKS_URI)
            ]
        );
        // Nothing names the JWKS any more: no JWKS is read, the held keys still serve while stale.
        let end = 1_600 + POLICY.stale_if_error;
        assert_eq!(world.key(&mut isolate, "a", end), Ok("a".into()));
        assert_eq!(world.io, ["shared discovery", "idp discovery failed"]);
        let mut cold = Isolate::default();
        assert_eq!(
            world.key(&mut cold, "a", end),
            Err(KeyError::Unavailable { retry_after: 30 })
        );
    }

    #[test]
    fn garbage_never_replaces_good_keys() {
        for garbage in [&b"<html>"[..], br#"{"keys": "none"}"#, br#"{"keys": []}"#] {
            let mut world = World::new();
            let mut isolate = warmed(&mut world, 1_000);
            let good = world.shared[JWKS_URI].clone();
            world.serve_jwks(garbage.to_vec());
            assert_eq!(world.key(&mut isolate, "a", 1_100), Ok("a".into()));
            // Counted as a failure, not shared, and the cooldown started.
            assert_eq!(world.io, ["shared jwks", "idp jwks failed"]);
            assert_eq!(world.shared[JWKS_URI], good);
            assert_eq!(world.key(&mut isolate, "a", 1_129), Ok("a".into()));
            assert!(world.io.is_empty());
        }
    }

    #[test]
    fn a_discovery_document_that_does_not_parse_fails_the_refresh() {
        let mut world = World::new();
        world.serve_discovery(discovery_body("https://other.example.com/"));
        let mut cold = Isolate::default();
        assert_eq!(
            world.key(&mut cold, "a", 1_000),
            Err(KeyError::Unavailable { retry_after: 30 })
        );
        assert_eq!(world.io, ["shared discovery", "idp discovery failed"]);
        assert!(cold.discovery.is_none());
        assert!(world.shared.is_empty());

        // The reason is given for the log.
        let issuer = world.issuer.clone();
        let mut plan = RefreshPlan::start(
            &mut KeyCache::default(),
            &issuer,
            RefreshReason::Empty,
            None,
            0,
            POLICY,
        );
        plan.shared_read(None);
        assert_eq!(
            plan.fetched(Ok(answer(b"[]".to_vec(), 60)), 0),
            Err("discovery document is not a JSON object")
        );
        assert_eq!(plan.next_step(), Step::Done);
    }

    #[test]
    fn nothing_usable_is_unavailable_until_the_cooldown_then_recovers() {
        let mut world = World::new();
        world.idp_down();
        let mut cold = Isolate::default();
        assert_eq!(
            world.key(&mut cold, "a", 1_000),
            Err(KeyError::Unavailable { retry_after: 30 })
        );
        assert_eq!(
            world.key(&mut cold, "a", 1_010),
            Err(KeyError::Unavailable { retry_after: 20 })
        );
        assert!(world.io.is_empty());
        let recovered = World::new();
        world.idp = recovered.idp;
        assert_eq!(world.key(&mut cold, "a", 1_030), Ok("a".into()));
    }

    #[test]
    fn time_spent_fetching_counts() {
        let mut world = World::new();
        world.fetch_secs = 5;
        world.idp_down();
        let mut cold = Isolate::default();
        // The failure is seen at 1005: the cooldown counts from then.
        assert_eq!(
            world.key(&mut cold, "a", 1_000),
            Err(KeyError::Unavailable { retry_after: 30 })
        );
        assert_eq!(
            world.key(&mut cold, "a", 1_034),
            Err(KeyError::Unavailable { retry_after: 1 })
        );
        world.idp = World::new().idp;
        // Discovery arrives at 1040, the JWKS at 1045: fresh until 1105.
        assert_eq!(world.key(&mut cold, "a", 1_035), Ok("a".into()));
        assert_eq!(world.shared[JWKS_URI].fetched_at, 1_045);
        assert_eq!(world.key(&mut cold, "a", 1_104), Ok("a".into()));
        assert!(world.io.is_empty());
        assert_eq!(world.key(&mut cold, "a", 1_105), Ok("a".into()));
        assert!(!world.io.is_empty());
    }

    #[test]
    fn a_step_repeats_until_its_result_is_given() {
        let issuer = parse_issuer("tenant.example.com").unwrap();
        let mut plan = RefreshPlan::start(
            &mut KeyCache::default(),
            &issuer,
            RefreshReason::Empty,
            None,
            0,
            POLICY,
        );
        let read = Step::ReadShared {
            kind: DocumentKind::Discovery,
            url: DISCOVERY_URL.into(),
        };
        assert_eq!(plan.next_step(), read);
        assert_eq!(plan.next_step(), read);
        // A fetch result out of order changes nothing.
        assert_eq!(plan.fetched(Err("unreachable"), 0), Ok(()));
        assert_eq!(plan.next_step(), read);
    }
}
