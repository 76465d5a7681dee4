//! Keys from the identity provider: discovery and JWKS fetched through the Workers Cache API (shared by
//! the isolates of a data centre) with a timeout, parsed once into the isolate's [`KeyCache`].
//!
//! Each request does its own I/O: no fetch or other I/O object is shared across requests (workerd
//! forbids it). The cooldown in [`KeyCache`] is what keeps an isolate from hammering the IdP.

use std::cell::RefCell;
use std::sync::Arc;

use serde::Serialize;
use worker::{
    AbortSignal, Cache, Fetch, Headers, Method, Request, RequestInit, RequestRedirect, Response,
    ResponseBuilder,
};

use super::now_secs;
use crate::config::Config;
use crate::idp::discovery::{parse_discovery, MAX_DISCOVERY_BYTES};
use crate::idp::key_cache::{ttl_from_cache_control, KeyCache, KeyError, Lookup, RefreshReason};
use crate::idp::{Issuer, KeySource};
use crate::jose::jwks::{parse_jwks, JwksError, KeySet, VerifyingKey, MAX_JWKS_BYTES};

/// Key state of one isolate.
pub struct IsolateKeys {
    pub cache: RefCell<KeyCache>,
    pub discovery: RefCell<Option<Document>>,
}

/// A fetched document with its timing, as kept in the isolate and in the shared cache.
#[derive(Clone)]
pub struct Document {
    pub body: Vec<u8>,
    pub fetched_at: u64,
    pub ttl: u64,
}

impl Document {
    fn is_fresh(&self, now: u64) -> bool {
        now < self.fetched_at.saturating_add(self.ttl)
    }
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
    report: RefCell<FetchReport>,
}

/// Outcome of a refresh: keys to store (possibly stale ones from the shared cache) and whether the IdP
/// failed (which starts the cooldown).
struct Refreshed {
    keys: Option<(Arc<KeySet>, Document)>,
    failed: bool,
}

impl<'a> IdpKeys<'a> {
    pub fn new(config: &'a Config, isolate: &'a [IsolateKeys]) -> Self {
        Self {
            config,
            isolate,
            report: RefCell::default(),
        }
    }

    pub fn report(&self) -> FetchReport {
        self.report.borrow().clone()
    }

    fn record(
        &self,
        what: &'static str,
        from: &'static str,
        started: f64,
        error: Option<&'static str>,
    ) {
        self.report.borrow_mut().fetches.push(FetchRecord {
            what,
            from,
            ok: error.is_none(),
            ms: js_sys::Date::now() - started,
            error,
        });
    }

    /// Refreshes the key set: discovery (isolate, shared cache, IdP), then the JWKS (shared cache unless
    /// the refresh is for an unknown `kid`, then IdP), falling back to stale copies when the IdP fails.
    async fn refresh(
        &self,
        issuer: &Issuer,
        held: &IsolateKeys,
        reason: RefreshReason,
    ) -> Refreshed {
        let Some(jwks_uri) = self.jwks_uri(issuer, held).await else {
            return Refreshed {
                keys: None,
                failed: true,
            };
        };
        let shared = self.cache_get("jwks", &jwks_uri).await;
        let now = now_secs();
        if let Some(doc) = shared.as_ref().filter(|d| d.is_fresh(now)) {
            if reason != RefreshReason::UnknownKid {
                if let Ok(keys) = parse_jwks(&doc.body) {
                    return Refreshed {
                        keys: Some((Arc::new(keys), doc.clone())),
                        failed: false,
                    };
                }
            }
        }
        let fetched = self
            .fetch_idp("jwks", &jwks_uri, MAX_JWKS_BYTES, |body| {
                parse_jwks(body).map_err(JwksError::description)
            })
            .await;
        if let Ok((doc, keys)) = fetched {
            self.cache_put(&jwks_uri, &doc).await;
            return Refreshed {
                keys: Some((Arc::new(keys), doc)),
                failed: false,
            };
        }
        // The IdP failed; a stale copy from the shared cache still serves a cold isolate.
        let stale =
            shared.and_then(|doc| parse_jwks(&doc.body).ok().map(|keys| (Arc::new(keys), doc)));
        Refreshed {
            keys: stale,
            failed: true,
        }
    }

    /// The `jwks_uri` from discovery, fresh if possible, stale if the IdP fails.
    async fn jwks_uri(&self, issuer: &Issuer, isolate: &IsolateKeys) -> Option<String> {
        let now = now_secs();
        let held = isolate.discovery.borrow().clone();
        let parse = |doc: &Document| parse_discovery(&doc.body, issuer).ok().map(|d| d.jwks_uri);
        if let Some(doc) = held.as_ref().filter(|d| d.is_fresh(now)) {
            if let Some(uri) = parse(doc) {
                return Some(uri);
            }
        }
        let url = &issuer.discovery_url;
        let shared = self.cache_get("discovery", url).await;
        if let Some(doc) = shared.as_ref().filter(|d| d.is_fresh(now)) {
            if let Some(uri) = parse(doc) {
                *isolate.discovery.borrow_mut() = Some(doc.clone());
                return Some(uri);
            }
        }
        let fetched = self
            .fetch_idp("discovery", url, MAX_DISCOVERY_BYTES, |body| {
                parse_discovery(body, issuer)
            })
            .await;
        if let Ok((doc, discovery)) = fetched {
            self.cache_put(url, &doc).await;
            *isolate.discovery.borrow_mut() = Some(doc);
            return Some(discovery.jwks_uri);
        }
        // Stale-if-error: a discovery document known before still names the JWKS.
        let stale_limit = self.config.cache.stale_if_error;
        [held, shared]
            .into_iter()
            .flatten()
            .filter(|d| {
                now < d
                    .fetched_at
                    .saturating_add(d.ttl)
                    .saturating_add(stale_limit)
            })
            .find_map(|d| parse(&d))
    }

    /// Fetches a document from the IdP with the configured timeout and parses it; only a 2xx answer within
    /// the size limit that `parse` accepts counts. Redirects are not followed.
    async fn fetch_idp<T>(
        &self,
        what: &'static str,
        url: &str,
        max_bytes: usize,
        parse: impl Fn(&[u8]) -> Result<T, &'static str>,
    ) -> Result<(Document, T), ()> {
        let started = js_sys::Date::now();
        let result = match self.fetch_idp_inner(url, max_bytes).await {
            Ok(doc) => parse(&doc.body).map(|parsed| (doc, parsed)),
            Err(e) => Err(e),
        };
        self.record(what, "idp", started, result.as_ref().err().copied());
        result.map_err(|_| ())
    }

    async fn fetch_idp_inner(&self, url: &str, max_bytes: usize) -> Result<Document, &'static str> {
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
        Ok(Document {
            body,
            fetched_at: now_secs(),
            ttl: ttl_from_cache_control(cache_control.as_deref(), self.config.cache.max_ttl),
        })
    }

    /// Reads a document from the Workers Cache API; absent, unreadable or older than the stale window
    /// counts as a miss.
    async fn cache_get(&self, what: &'static str, url: &str) -> Option<Document> {
        let started = js_sys::Date::now();
        let found = Cache::default().get(url, false).await.ok().flatten();
        let Some(mut response) = found else {
            self.record(what, "cache", started, Some("miss"));
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
            self.record(what, "cache", started, Some("entry without timing"));
            return None;
        };
        let body = response.bytes().await.ok()?;
        self.record(what, "cache", started, None);
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
        let lookup = held.cache.borrow().lookup(kid, now_secs(), &policy);
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
        held.cache.borrow_mut().refresh_started(reason, now_secs());
        let refreshed = self.refresh(issuer, held, reason).await;
        {
            let mut cache = held.cache.borrow_mut();
            if let Some((keys, doc)) = refreshed.keys {
                cache.store(keys, doc.fetched_at, doc.ttl);
            }
            if refreshed.failed {
                cache.fetch_failed(now_secs());
            }
        }
        self.report.borrow_mut().key_source = Some("refreshed");
        held.cache.borrow().after_refresh(kid, now_secs(), &policy)
    }
}
