//! Keys from the identity provider: discovery and JWKS fetched through the Workers Cache API (shared by
//! the isolates of a data centre) with a timeout, parsed once into the isolate's [`KeyCache`]. Which copy
//! to use, what to keep and what counts as a failure is decided by [`RefreshPlan`]; this file only
//! performs its steps.
//!
//! When the Cache API has no copy, the optional KV namespace `KEYS_KV` is read before the IdP; every
//! document fetched from the IdP is written to both (README "Key lifecycle").
//!
//! Each request does its own I/O: no fetch or other I/O object is shared across requests (workerd
//! forbids it). Requests that wait for another one's fetch (single flight) therefore share its result
//! through the isolate's [`KeyCache`] and poll it on a timer of their own, rather than await the other
//! request's future (whose wake-up would run them in the other request's context). The cooldown in
//! [`KeyCache`] is what keeps an isolate from hammering the IdP.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use worker::{event, Context, Delay, Env, ScheduleContext, ScheduledEvent};

use super::entry::settled;
use super::log::{RefreshLog, RequestLog};
use super::{bound, isolate, now_secs, outbound, Isolate};
use crate::config::{Config, RequestLogs};
use crate::error::GatewayError;
use crate::idp::key_cache::{KeyCache, KeyError, Lookup, RefreshReason};
use crate::idp::refresh::{Document, DocumentKind, Fetched, KeysFrom, RefreshPlan, Step};
use crate::idp::{Issuer, KeySource};
use crate::jose::jwks::VerifyingKey;
use crate::out_of_line::{cold, OutOfLine};

/// The optional KV namespace with the last good discovery document and JWKS of each issuer.
const KEYS_KV: &str = "KEYS_KV";
/// How often a request that waits for another one's fetch looks whether it is over.
const WAIT_POLL: Duration = Duration::from_millis(10);
/// Lookups of one request for one key: a wait for another request's fetch can be followed by at most
/// this many more before the request takes what the key cache has.
const MAX_LOOKUPS: usize = 3;

/// Key state of one isolate.
pub struct IsolateKeys {
    pub cache: RefCell<KeyCache>,
    pub discovery: RefCell<Option<Document>>,
}

/// What a request's key lookup did, for its log line.
#[derive(Default, Clone, Serialize)]
pub struct FetchReport {
    /// Where the key set came from: `memory` (the isolate), `cache` (Cache API), `kv` or `idp`.
    #[serde(skip)]
    pub key_source: Option<&'static str>,
    /// How long the request waited for another request's fetch (single flight).
    #[serde(skip)]
    pub waited_ms: Option<f64>,
    /// Whether the request started a background refresh.
    #[serde(skip)]
    pub background: bool,
    pub fetches: Vec<FetchRecord>,
}

/// One discovery or JWKS read.
#[derive(Clone, Serialize)]
pub struct FetchRecord {
    pub what: &'static str,
    /// `cache` (Workers Cache API), `kv` or `idp`.
    pub from: &'static str,
    pub ok: bool,
    pub ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
}

/// The key source of one request (or of one background refresh).
pub struct IdpKeys<'a> {
    config: &'a Config,
    env: &'a Env,
    /// Key state per accepted issuer, in the order of `Config::issuers`.
    isolate: &'a [IsolateKeys],
    /// Seconds since the epoch: read once per request, then again after each IdP fetch, the one await
    /// where time really passes (up to the fetch timeout), so that a document's age and the cooldown
    /// after a failure count from when the answer came. Cache API reads are local and quick.
    now: Cell<u64>,
    report: RefCell<FetchReport>,
    /// Where the last JWKS read from a shared store came from: `cache` or `kv`.
    shared_jwks_from: Cell<&'static str>,
    /// Issuers whose keys are to be refreshed in the background once the request is answered.
    background: RefCell<Vec<usize>>,
}

impl<'a> IdpKeys<'a> {
    /// `now`: the request's clock, in seconds.
    pub fn new(config: &'a Config, isolate: &'a [IsolateKeys], env: &'a Env, now: u64) -> Self {
        Self {
            config,
            env,
            isolate,
            now: Cell::new(now),
            report: RefCell::default(),
            shared_jwks_from: Cell::new("cache"),
            background: RefCell::default(),
        }
    }

    pub fn report(&self) -> FetchReport {
        self.report.borrow().clone()
    }

    /// The issuers to refresh in the background (see [`refresh_issuer`]), each once.
    pub fn background_refreshes(&self) -> Vec<usize> {
        std::mem::take(&mut self.background.borrow_mut())
    }

    /// Where the keys a finished plan keeps came from, for the log.
    fn keys_from(&self, plan: &RefreshPlan<'_>) -> &'static str {
        match plan.keys_from() {
            Some(KeysFrom::Idp) => "idp",
            Some(KeysFrom::Shared) => self.shared_jwks_from.get(),
            None => "memory",
        }
    }

    /// Waits, on a timer of this request, until the fetch of another request is over.
    async fn wait_for_flight(&self, held: &IsolateKeys, ticket: u64) {
        let started = js_sys::Date::now();
        while held.cache.borrow().waiting(ticket, now_secs()) {
            Delay::from(WAIT_POLL).await;
        }
        self.now.set(now_secs());
        let waited = js_sys::Date::now() - started;
        let mut report = self.report.borrow_mut();
        report.waited_ms = Some(report.waited_ms.unwrap_or(0.0) + waited);
    }

    fn record(&self, what: &'static str, from: &'static str, ms: f64, error: Option<&'static str>) {
        self.report.borrow_mut().fetches.push(FetchRecord {
            what,
            from,
            ok: error.is_none(),
            ms,
            error,
        });
    }

    /// Starts a refresh of `held` and performs the steps of its plan until it is done; every decision is
    /// the plan's.
    async fn refresh<'p>(
        &self,
        held: &IsolateKeys,
        issuer: &'p Issuer,
        reason: RefreshReason,
    ) -> RefreshPlan<'p> {
        let discovery = held.discovery.borrow().clone();
        let mut plan = RefreshPlan::start(
            &mut held.cache.borrow_mut(),
            issuer,
            reason,
            discovery,
            self.now.get(),
            self.config.cache,
        );
        loop {
            match plan.next_step() {
                Step::ReadShared { kind, url } => {
                    plan.shared_read(self.shared_get(kind, &url).await);
                }
                Step::Fetch { kind, url } => {
                    let started = js_sys::Date::now();
                    let answer = OutOfLine::new(self.fetch_idp(&url, kind.max_bytes())).await;
                    let ended = js_sys::Date::now();
                    self.now.set((ended / 1000.0) as u64);
                    let error = plan.fetched(answer, self.now.get()).err();
                    self.record(kind.name(), "idp", ended - started, error);
                }
                Step::PutShared { url, doc } => {
                    OutOfLine::new(self.put_shared(&url, &doc)).await;
                }
                Step::KeepDiscovery(doc) => *held.discovery.borrow_mut() = Some(doc),
                Step::Done => return plan,
            }
        }
    }

    /// Fetches a document from the IdP with the configured timeout; only a 2xx answer within the size
    /// limit counts. Redirects are not followed.
    async fn fetch_idp(&self, url: &str, max_bytes: usize) -> Result<Fetched, &'static str> {
        let timeout_ms = u32::try_from(self.config.cache.fetch_timeout_ms).unwrap_or(u32::MAX);
        let signal = web_sys::AbortSignal::timeout_with_u32(timeout_ms);
        let headers = web_sys::Headers::new().map_err(|_| "request setup failed")?;
        headers
            .set("accept", "application/json")
            .map_err(|_| "request setup failed")?;
        let request = outbound::request(url, "GET", Some(&headers), None, Some(&signal))
            .map_err(|_| "invalid URL")?;
        let response: web_sys::Response = settled(outbound::send(self.env, "", &request))
            .await
            .map(JsCast::unchecked_into)
            .map_err(|_| "unreachable or timed out")?;
        if !(200..300).contains(&response.status()) {
            return Err("non-2xx status");
        }
        let header = |name: &str| response.headers().get(name).ok().flatten();
        let declared = header("content-length").and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > max_bytes) {
            return Err("response too large");
        }
        let cache_control = header("cache-control");
        let body = settled(response.array_buffer())
            .await
            .map(|buffer| js_sys::Uint8Array::new(&buffer).to_vec())
            .map_err(|_| "body read failed or timed out")?;
        if body.len() > max_bytes {
            return Err("response too large");
        }
        Ok(Fetched {
            body,
            cache_control,
        })
    }

    /// Reads a document from the Cache API, or from KV when the Cache API has none. The steps a request
    /// may not take are awaited out of line (`src/out_of_line.rs`): an isolate compiles them only when
    /// one does, and a young isolate's first request pays for compiling what it runs.
    async fn shared_get(&self, kind: DocumentKind, url: &str) -> Option<Document> {
        let (found, from) = match self.cache_get(kind.name(), url).await {
            Some(doc) => (Some(doc), "cache"),
            None if bound(self.env, KEYS_KV) => {
                (OutOfLine::new(self.kv_get(kind.name(), url)).await, "kv")
            }
            None => (None, "kv"),
        };
        if kind == DocumentKind::Jwks {
            self.shared_jwks_from.set(from);
        }
        found
    }

    /// Reads the last good copy of a document from KV (bound), with its timing in the metadata.
    async fn kv_get(&self, what: &'static str, url: &str) -> Option<Document> {
        let started = js_sys::Date::now();
        let read = settled(kv_get(self.env, KEYS_KV, url)).await;
        let ms = js_sys::Date::now() - started;
        let entry = match read {
            Ok(entry) if entry.is_null() => {
                self.record(what, "kv", ms, Some("miss"));
                return None;
            }
            Ok(entry) => kv_entry(&entry.unchecked_into()),
            Err(_) => {
                self.record(what, "kv", ms, Some("read failed"));
                return None;
            }
        };
        let Some(doc) = entry else {
            self.record(what, "kv", ms, Some("entry without timing"));
            return None;
        };
        self.record(what, "kv", ms, None);
        Some(doc)
    }

    /// Writes a document fetched from the IdP to the Cache API, and to KV when bound.
    async fn put_shared(&self, url: &str, doc: &Document) {
        self.cache_put(url, doc).await;
        if bound(self.env, KEYS_KV) {
            self.kv_put(url, doc).await;
        }
    }

    /// Writes a document to KV (bound), kept for its freshness plus the stale window (KV keeps an entry
    /// at least 60 s).
    async fn kv_put(&self, url: &str, doc: &Document) {
        let lifetime = doc
            .ttl
            .saturating_add(self.config.cache.stale_if_error)
            .max(60);
        let body = js_sys::Uint8Array::from(doc.body.as_slice());
        let put = kv_put(
            self.env,
            KEYS_KV,
            url,
            &body,
            lifetime as f64,
            doc.fetched_at as f64,
            doc.ttl as f64,
        );
        // A failed write only costs a later fetch.
        let _ = settled(put).await;
    }

    /// Reads a document from the Workers Cache API; absent, unreadable or without its timing counts as a
    /// miss (the plan judges its age).
    async fn cache_get(&self, what: &'static str, url: &str) -> Option<Document> {
        let started = js_sys::Date::now();
        let read = settled(cache_get(url, FETCHED_AT, TTL)).await;
        let ms = js_sys::Date::now() - started;
        let entry = match read {
            Ok(entry) if !entry.is_null() => entry.unchecked_into::<js_sys::Array>(),
            _ => {
                self.record(what, "cache", ms, Some("miss"));
                return None;
            }
        };
        let header = |value: JsValue| value.as_string().and_then(|v| v.parse::<u64>().ok());
        let (Some(fetched_at), Some(ttl)) = (header(entry.get(1)), header(entry.get(2))) else {
            self.record(what, "cache", ms, Some("entry without timing"));
            return None;
        };
        let body = entry.get(0).dyn_into::<js_sys::Uint8Array>().ok()?.to_vec();
        self.record(what, "cache", ms, None);
        Some(Document {
            body,
            fetched_at,
            ttl,
        })
    }

    /// Stores a document in the Workers Cache API for its freshness plus the stale window.
    async fn cache_put(&self, url: &str, doc: &Document) {
        let lifetime = doc.ttl.saturating_add(self.config.cache.stale_if_error);
        let body = js_sys::Uint8Array::from(doc.body.as_slice());
        let put = cache_put(
            url,
            &body,
            lifetime as f64,
            FETCHED_AT,
            TTL,
            doc.fetched_at as f64,
            doc.ttl as f64,
        );
        // A failed put only costs a later refetch.
        let _ = settled(put).await;
    }
}

/// Headers of a shared-cache entry: when the document was fetched and how long it is fresh.
const FETCHED_AT: &str = "x-gateway-fetched-at";
const TTL: &str = "x-gateway-ttl";

// A KV entry of `KEYS_KV` holds a document, its metadata when it was fetched and how long it is fresh
// (`fetched_at`, `ttl`: seconds). `kvGet` resolves to null when the key is absent, else to
// `[bytes, fetched_at, ttl]` as stored. A Cache API entry holds the same in two headers: `cacheGet`
// resolves to null on a miss, else to `[bytes, fetched_at, ttl]` with the two header values (strings, or
// null when absent). The Cache API through these two functions rather than `worker::Cache`, whose
// futures the request would await through `future_to_promise` (see `entry.rs`).
#[wasm_bindgen(inline_js = "
export function kvGet(env, binding, key) {
  return env[binding].getWithMetadata(key, { type: 'arrayBuffer' }).then(({ value, metadata }) =>
    value === null ? null : [new Uint8Array(value), metadata?.fetched_at, metadata?.ttl]);
}

export function kvPut(env, binding, key, bytes, expirationTtl, fetchedAt, ttl) {
  return env[binding].put(key, bytes, { expirationTtl, metadata: { fetched_at: fetchedAt, ttl } });
}

export function cacheGet(url, fetchedAtHeader, ttlHeader) {
  return caches.default.match(url).then(async (response) => response === undefined ? null : [
    new Uint8Array(await response.arrayBuffer()),
    response.headers.get(fetchedAtHeader),
    response.headers.get(ttlHeader),
  ]);
}

export function cachePut(url, bytes, maxAge, fetchedAtHeader, ttlHeader, fetchedAt, ttl) {
  const headers = {
    'content-type': 'application/json',
    'cache-control': `public, max-age=${maxAge}`,
    [fetchedAtHeader]: String(fetchedAt),
    [ttlHeader]: String(ttl),
  };
  return caches.default.put(url, new Response(bytes, { headers }));
}")]
extern "C" {
    #[wasm_bindgen(js_name = kvGet, catch)]
    fn kv_get(env: &Env, binding: &str, key: &str) -> Result<js_sys::Promise, JsValue>;
    #[wasm_bindgen(js_name = kvPut, catch)]
    #[allow(clippy::too_many_arguments)]
    fn kv_put(
        env: &Env,
        binding: &str,
        key: &str,
        bytes: &js_sys::Uint8Array,
        expiration_ttl: f64,
        fetched_at: f64,
        ttl: f64,
    ) -> Result<js_sys::Promise, JsValue>;
    #[wasm_bindgen(js_name = cacheGet, catch)]
    fn cache_get(url: &str, fetched_at: &str, ttl: &str) -> Result<js_sys::Promise, JsValue>;
    #[wasm_bindgen(js_name = cachePut, catch)]
    fn cache_put(
        url: &str,
        bytes: &js_sys::Uint8Array,
        max_age: f64,
        fetched_at_header: &str,
        ttl_header: &str,
        fetched_at: f64,
        ttl: f64,
    ) -> Result<js_sys::Promise, JsValue>;
}

/// The document of a KV entry read by `kvGet`; `None` when its timing is missing or not a whole number
/// of seconds.
fn kv_entry(entry: &js_sys::Array) -> Option<Document> {
    let seconds = |value: JsValue| {
        let n = value.as_f64()?;
        ((0.0..=9_007_199_254_740_991.0).contains(&n) && n.fract() == 0.0).then_some(n as u64)
    };
    Some(Document {
        body: entry.get(0).dyn_into::<js_sys::Uint8Array>().ok()?.to_vec(),
        fetched_at: seconds(entry.get(1))?,
        ttl: seconds(entry.get(2))?,
    })
}

/// Refreshes the keys of the accepted issuer at index `issuer` outside any request: in the background
/// after a request found them near their end (`Ahead`), or from the Cron Trigger (`Scheduled`). Logs
/// one line; never fails.
pub async fn refresh_issuer(
    config: &Config,
    isolate: &[IsolateKeys],
    env: &Env,
    issuer: usize,
    reason: RefreshReason,
) {
    let started = js_sys::Date::now();
    let (Some(held), Some(accepted)) = (isolate.get(issuer), config.issuers.get(issuer)) else {
        return;
    };
    let keys = IdpKeys::new(config, isolate, env, now_secs());
    let plan = keys.refresh(held, accepted, reason).await;
    let from = keys.keys_from(&plan);
    let ok = plan.record(&mut held.cache.borrow_mut());
    let log = RefreshLog {
        refresh: match reason {
            RefreshReason::Scheduled => "scheduled",
            _ => "background",
        },
        issuer: &accepted.url,
        ok,
        keys: from,
        key_fetches: keys.report().fetches,
        ms: 0.0,
    };
    // The Cron Trigger's line is its only trace: it is kept unless logs are off.
    let wanted = match reason {
        RefreshReason::Scheduled if config.request_logs != RequestLogs::Off => RequestLogs::All,
        _ => config.request_logs,
    };
    log.emit(started, wanted);
}

impl KeySource for IdpKeys<'_> {
    async fn key(&self, issuer: usize, kid: &str) -> Result<Arc<VerifyingKey>, KeyError> {
        let policy = self.config.cache;
        let (Some(held), Some(accepted)) =
            (self.isolate.get(issuer), self.config.issuers.get(issuer))
        else {
            return Err(KeyError::UnknownKid);
        };
        let mut lookups = 0;
        let reason = loop {
            lookups += 1;
            let now = self.now.get();
            let lookup = held.cache.borrow().lookup(kid, now, &policy);
            match lookup {
                Lookup::Key(key) => {
                    self.report.borrow_mut().key_source = Some("memory");
                    return Ok(key);
                }
                Lookup::KeyAndRefresh(key) => {
                    // Claimed now, so that the requests before the background task starts do not
                    // start one too (the plan marks it again when it starts).
                    held.cache
                        .borrow_mut()
                        .refresh_started(RefreshReason::Ahead, now, &policy);
                    let mut background = self.background.borrow_mut();
                    if !background.contains(&issuer) {
                        background.push(issuer);
                    }
                    let mut report = self.report.borrow_mut();
                    report.key_source = Some("memory");
                    report.background = true;
                    return Ok(key);
                }
                Lookup::Wait { ticket } if lookups < MAX_LOOKUPS => {
                    self.wait_for_flight(held, ticket).await;
                }
                Lookup::Wait { .. } => {
                    self.report.borrow_mut().key_source = Some("memory");
                    return held.cache.borrow().after_refresh(kid, now, &policy);
                }
                Lookup::UnknownKid => return Err(KeyError::UnknownKid),
                Lookup::Unavailable { retry_after } => {
                    return Err(KeyError::Unavailable { retry_after })
                }
                Lookup::Refresh(reason) => break reason,
            }
        };
        let plan = self.refresh(held, accepted, reason).await;
        self.report.borrow_mut().key_source = Some(self.keys_from(&plan));
        plan.finish(&mut held.cache.borrow_mut(), kid)
    }
}

/// The Cron Trigger (README "Key lifecycle"): refreshes the discovery document and JWKS of every
/// accepted issuer into the Cache API and KV, one log line per issuer. Never fails.
#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let isolate = isolate(&env);
    match &isolate.config {
        Ok(config) => {
            for issuer in 0..config.issuers.len() {
                refresh_issuer(
                    config,
                    &isolate.keys,
                    &env,
                    issuer,
                    RefreshReason::Scheduled,
                )
                .await;
            }
        }
        Err(reason) => {
            let mut log = RequestLog::new("SCHEDULED");
            log.refused(&GatewayError::Configuration(reason.clone()));
            log.emit(js_sys::Date::now(), RequestLogs::All);
        }
    }
}

/// Refreshes the keys of `issuers` after the response is sent (`waitUntil`).
pub(super) fn refresh_in_background(
    ctx: &Context,
    env: &Env,
    isolate: &Rc<Isolate>,
    issuers: Vec<usize>,
) {
    if issuers.is_empty() {
        return;
    }
    cold(|| {
        for issuer in issuers {
            let (env, isolate) = (env.clone(), isolate.clone());
            ctx.wait_until(async move {
                if let Ok(config) = &isolate.config {
                    refresh_issuer(config, &isolate.keys, &env, issuer, RefreshReason::Ahead).await;
                }
            });
        }
    });
}
