//! Keys from the identity provider: discovery and JWKS fetched through the Workers Cache API (shared by
//! the isolates of a data centre) with a timeout, parsed once into the isolate's [`KeyCache`]. Which copy
//! to use, what to keep and what counts as a failure is decided by [`RefreshPlan`]; this file only
//! performs its steps.
//!
//! Each request does its own I/O: no fetch or other I/O object is shared across requests (workerd
//! forbids it). The cooldown in [`KeyCache`] is what keeps an isolate from hammering the IdP.

use std::cell::{Cell, RefCell};
use std::sync::Arc;

use serde::Serialize;
use worker::{
    AbortSignal, Cache, Fetch, Headers, Method, Request, RequestInit, RequestRedirect, Response,
    ResponseBuilder,
};

use super::now_secs;
use crate::config::Config;
use crate::idp::key_cache::{KeyCache, KeyError, Lookup};
use crate::idp::refresh::{Document, Fetched, RefreshPlan, Step};
use crate::idp::KeySource;
use crate::jose::jwks::VerifyingKey;

/// Key state of one isolate.
pub struct IsolateKeys {
    pub cache: RefCell<KeyCache>,
    pub discovery: RefCell<Option<Document>>,
}

/// What a request's key lookup did, for its log line.
#[derive(Default, Clone, Serialize)]
pub struct FetchReport {
    /// Where the key came from: `memory`, or `refreshed` after a fetch.
    #[serde(skip)]
    pub key_source: Option<&'static str>,
    pub fetches: Vec<FetchRecord>,
}

/// One discovery or JWKS read.
#[derive(Clone, Serialize)]
pub struct FetchRecord {
    pub what: &'static str,
    /// `cache` (Workers Cache API) or `idp`.
    pub from: &'static str,
    pub ok: bool,
    pub ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
}

/// The key source of one request.
pub struct IdpKeys<'a> {
    config: &'a Config,
    /// Key state per accepted issuer, in the order of `Config::issuers`.
    isolate: &'a [IsolateKeys],
    /// Seconds since the epoch: read once per request, then again after each IdP fetch, the one await
    /// where time really passes (up to the fetch timeout), so that a document's age and the cooldown
    /// after a failure count from when the answer came. Cache API reads are local and quick.
    now: Cell<u64>,
    report: RefCell<FetchReport>,
}

impl<'a> IdpKeys<'a> {
    pub fn new(config: &'a Config, isolate: &'a [IsolateKeys]) -> Self {
        Self {
            config,
            isolate,
            now: Cell::new(now_secs()),
            report: RefCell::default(),
        }
    }

    pub fn report(&self) -> FetchReport {
        self.report.borrow().clone()
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

    /// Performs the steps of a refresh plan until it is done; every decision is the plan's.
    async fn refresh<'p>(&self, mut plan: RefreshPlan<'p>, held: &IsolateKeys) -> RefreshPlan<'p> {
        loop {
            match plan.next_step() {
                Step::ReadShared { kind, url } => {
                    plan.shared_read(self.cache_get(kind.name(), &url).await);
                }
                Step::Fetch { kind, url } => {
                    let started = js_sys::Date::now();
                    let answer = self.fetch_idp(&url, kind.max_bytes()).await;
                    let ended = js_sys::Date::now();
                    self.now.set((ended / 1000.0) as u64);
                    let error = plan.fetched(answer, self.now.get()).err();
                    self.record(kind.name(), "idp", ended - started, error);
                }
                Step::PutShared { url, doc } => self.cache_put(&url, &doc).await,
                Step::KeepDiscovery(doc) => *held.discovery.borrow_mut() = Some(doc),
                Step::Done => return plan,
            }
        }
    }

    /// Fetches a document from the IdP with the configured timeout; only a 2xx answer within the size
    /// limit counts. Redirects are not followed.
    async fn fetch_idp(&self, url: &str, max_bytes: usize) -> Result<Fetched, &'static str> {
        let timeout_ms = u32::try_from(self.config.cache.fetch_timeout_ms).unwrap_or(u32::MAX);
        let signal = AbortSignal::from(web_sys::AbortSignal::timeout_with_u32(timeout_ms));
        let headers = Headers::new();
        headers
            .set("accept", "application/json")
            .map_err(|_| "request setup failed")?;
        let mut init = RequestInit::new();
        init.with_method(Method::Get)
            .with_headers(headers)
            .with_redirect(RequestRedirect::Manual);
        let request = Request::new_with_init(url, &init).map_err(|_| "invalid URL")?;
        let mut response = Fetch::Request(request)
            .send_with_signal(&signal)
            .await
            .map_err(|_| "unreachable or timed out")?;
        if !(200..300).contains(&response.status_code()) {
            return Err("non-2xx status");
        }
        let declared = response
            .headers()
            .get("content-length")
            .ok()
            .flatten()
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > max_bytes) {
            return Err("response too large");
        }
        let cache_control = response.headers().get("cache-control").ok().flatten();
        let body = response
            .bytes()
            .await
            .map_err(|_| "body read failed or timed out")?;
        if body.len() > max_bytes {
            return Err("response too large");
        }
        Ok(Fetched {
            body,
            cache_control,
        })
    }

    /// Reads a document from the Workers Cache API; absent, unreadable or older than the stale window
    /// counts as a miss.
    async fn cache_get(&self, what: &'static str, url: &str) -> Option<Document> {
        let started = js_sys::Date::now();
        let found = Cache::default().get(url, false).await.ok().flatten();
        let ms = || js_sys::Date::now() - started;
        let Some(mut response) = found else {
            self.record(what, "cache", ms(), Some("miss"));
            return None;
        };
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .ok()
                .flatten()
                .and_then(|v| v.parse::<u64>().ok())
        };
        let (Some(fetched_at), Some(ttl)) = (header(FETCHED_AT), header(TTL)) else {
            self.record(what, "cache", ms(), Some("entry without timing"));
            return None;
        };
        let body = response.bytes().await.ok()?;
        self.record(what, "cache", ms(), None);
        Some(Document {
            body,
            fetched_at,
            ttl,
        })
    }

    /// Stores a document in the Workers Cache API for its freshness plus the stale window.
    async fn cache_put(&self, url: &str, doc: &Document) {
        let lifetime = doc.ttl.saturating_add(self.config.cache.stale_if_error);
        let response: worker::Result<Response> = (|| {
            Ok(ResponseBuilder::new()
                .with_header("content-type", "application/json")?
                .with_header("cache-control", &format!("public, max-age={lifetime}"))?
                .with_header(FETCHED_AT, &doc.fetched_at.to_string())?
                .with_header(TTL, &doc.ttl.to_string())?
                .fixed(doc.body.clone()))
        })();
        if let Ok(response) = response {
            // A failed put only costs a later refetch.
            let _ = Cache::default().put(url, response).await;
        }
    }
}

/// Headers of a shared-cache entry: when the document was fetched and how long it is fresh.
const FETCHED_AT: &str = "x-gateway-fetched-at";
const TTL: &str = "x-gateway-ttl";

impl KeySource for IdpKeys<'_> {
    async fn key(&self, issuer: usize, kid: &str) -> Result<Arc<VerifyingKey>, KeyError> {
        let policy = self.config.cache;
        let (Some(held), Some(issuer)) =
            (self.isolate.get(issuer), self.config.issuers.get(issuer))
        else {
            return Err(KeyError::UnknownKid);
        };
        let now = self.now.get();
        let lookup = held.cache.borrow().lookup(kid, now, &policy);
        let reason = match lookup {
            Lookup::Key(key) => {
                self.report.borrow_mut().key_source = Some("memory");
                return Ok(key);
            }
            Lookup::UnknownKid => return Err(KeyError::UnknownKid),
            Lookup::Unavailable { retry_after } => {
                return Err(KeyError::Unavailable { retry_after })
            }
            Lookup::Refresh(reason) => reason,
        };
        let discovery = held.discovery.borrow().clone();
        let plan = RefreshPlan::start(
            &mut held.cache.borrow_mut(),
            issuer,
            reason,
            discovery,
            now,
            policy,
        );
        let plan = self.refresh(plan, held).await;
        self.report.borrow_mut().key_source = Some("refreshed");
        plan.finish(&mut held.cache.borrow_mut(), kid)
    }
}
