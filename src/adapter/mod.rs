//! The Workers adapter: reads the request and the environment, runs the core pipeline, writes the
//! response and one JSON log line. Everything it decides is decided in the core.

mod forward;
mod idp;
mod replay_store;

use std::cell::RefCell;
use std::rc::Rc;

use serde_json::{json, Map, Value};
use worker::{event, Context, Env, Headers, Response, ResponseBuilder, Result};

use crate::config::{Config, RequestLogs};
use crate::demo::demo_response;
use crate::error::{ChallengeContext, GatewayError};
use crate::gateway::{self, RequestFacts, Trace};
use crate::http::authorization::{DpopMode, Scheme};
use crate::http::path::split_url;
use crate::idp::key_cache::KeyCache;
use crate::jose::dpop::public_url;
use crate::state::replay::ReplayCache;
use crate::state::replay::ReplayStoreKind;
use crate::state::token_cache::TokenCache;

use idp::{FetchReport, IdpKeys, IsolateKeys};
use replay_store::WorkerReplayStore;

/// State kept by one isolate across requests: the parsed configuration, the key cache and the
/// in-isolate DPoP replay cache.
struct Isolate {
    config: std::result::Result<Rc<Config>, String>,
    /// One key cache per accepted issuer, in the order of `Config::issuers`.
    keys: Vec<IsolateKeys>,
    replay: RefCell<ReplayCache>,
    tokens: RefCell<TokenCache>,
}

/// Verified tokens kept per isolate: at most this many, and this many bytes of tokens.
const TOKEN_CACHE_ENTRIES: usize = 10_000;
const TOKEN_CACHE_BYTES: usize = 8 << 20;

thread_local! {
    static ISOLATE: RefCell<Option<Rc<Isolate>>> = const { RefCell::new(None) };
}

/// The isolate state, created on the first request (configuration is parsed once per isolate).
fn isolate(env: &Env) -> Rc<Isolate> {
    ISOLATE.with(|cell| {
        cell.borrow_mut()
            .get_or_insert_with(|| {
                let config = Config::from_lookup(|name| {
                    env.var(name)
                        .map(|v| v.to_string())
                        .or_else(|_| env.secret(name).map(|v| v.to_string()))
                        .ok()
                })
                .map(Rc::new)
                .map_err(|e| e.to_string());
                let capacity = match config.as_ref().map(|c| c.dpop.replay) {
                    Ok(ReplayStoreKind::Isolate { capacity }) => capacity,
                    _ => 1,
                };
                let issuers = config.as_ref().map_or(0, |c| c.issuers.len());
                Rc::new(Isolate {
                    config,
                    keys: (0..issuers)
                        .map(|_| IsolateKeys {
                            cache: RefCell::new(KeyCache::default()),
                            discovery: RefCell::new(None),
                        })
                        .collect(),
                    replay: RefCell::new(ReplayCache::new(capacity)),
                    tokens: RefCell::new(TokenCache::new(TOKEN_CACHE_ENTRIES, TOKEN_CACHE_BYTES)),
                })
            })
            .clone()
    })
}

/// Seconds since the epoch (Workers advance the clock on I/O, which is precise enough here).
pub(crate) fn now_secs() -> u64 {
    (js_sys::Date::now() / 1000.0) as u64
}

/// The fetch handler. It takes the runtime's `Request` as it is: `worker::Request` would read
/// `request.cf` on every request, which makes the runtime build that object (27-31 µs per request under
/// `wrangler dev`, measured with `benches/compare.mjs`) for data the gateway never uses.
#[event(fetch)]
async fn fetch(req: web_sys::Request, env: Env, _ctx: Context) -> Result<Response> {
    let started = js_sys::Date::now();
    let isolate = isolate(&env);
    let method = req.method();
    let mut log = Map::new();
    log.insert("method".into(), json!(method));

    let config = match &isolate.config {
        Ok(config) => config.clone(),
        Err(reason) => {
            let error = GatewayError::Configuration(reason.clone());
            log.insert("decision".into(), json!(error.code()));
            log.insert("reason".into(), json!(error.description()));
            // A configuration error is always logged: nothing else tells the operator.
            emit(log, started, RequestLogs::All);
            return error_response(&error, DpopMode::Allowed);
        }
    };
    // The runtime's URL string, split without the `url` crate (see path::split_url).
    let url = req.url();
    let (path, query) = split_url(&url);
    let headers = Headers(req.headers());
    let origin = headers.get("origin")?;
    let cors_headers = origin
        .as_deref()
        .and_then(|o| config.cors.as_ref().and_then(|cors| cors.response(o)));

    // CORS preflights from allowed origins are answered here, without a token.
    if method == "OPTIONS" {
        if let (Some(origin), Some(requested)) = (
            origin.as_deref(),
            headers.get("access-control-request-method")?,
        ) {
            if let Some(answer) = gateway::preflight(&config, path, origin, &requested) {
                let response = match answer {
                    Ok(preflight_headers) => {
                        log.insert("decision".into(), json!("preflight"));
                        let mut builder = ResponseBuilder::new().with_status(204);
                        for (name, value) in &preflight_headers {
                            builder = builder.with_header(name, value)?;
                        }
                        Ok(builder.empty())
                    }
                    Err(error) => {
                        log.insert("decision".into(), json!(error.code()));
                        log.insert("reason".into(), json!(error.description()));
                        error_response(&error, config.dpop_mode)
                            .and_then(|r| with_headers(r, cors_headers.as_deref()))
                    }
                };
                emit(log, started, config.request_logs);
                return response;
            }
        }
    }

    let authorization = headers.get("authorization")?;
    let dpop = headers.get("dpop")?;
    let htu_url = if config.dpop.trust_proxy {
        public_url(
            &url,
            headers.get("x-forwarded-proto")?.as_deref(),
            headers.get("x-forwarded-host")?.as_deref(),
        )
    } else {
        url.clone()
    };
    let facts = RequestFacts {
        method: &method,
        path,
        authorization: authorization.as_deref(),
        dpop: dpop.as_deref(),
        url: &htu_url,
    };
    let keys = IdpKeys::new(&config, &isolate.keys);
    let replay = match config.dpop.replay {
        ReplayStoreKind::Isolate { .. } => WorkerReplayStore::Isolate(&isolate.replay),
        ReplayStoreKind::DurableObject => WorkerReplayStore::DurableObject(&env),
    };
    let mut trace = Trace::default();
    let outcome = gateway::authorize(
        &config,
        &facts,
        &keys,
        &replay,
        &isolate.tokens,
        now_secs(),
        &mut trace,
    )
    .await;
    if let Some(issuer) = trace.issuer.and_then(|i| config.issuers.get(i)) {
        log.insert("issuer".into(), json!(issuer.url));
    }
    record_trace(&mut log, &trace, &keys.report());

    let response = match outcome {
        Ok(authorized) => {
            let used_dpop = authorized.identity.as_ref().map(|i| i.scheme) == Some(Scheme::Dpop);
            let response = match &config.proxy {
                Some(proxy) => match forward::forward(&req, proxy, &authorized, query).await {
                    Ok(response) => {
                        log.insert("decision".into(), json!("allow"));
                        log.insert("origin_status".into(), json!(response.status_code()));
                        Ok(response)
                    }
                    Err(reason) => {
                        let error = GatewayError::BadGateway(reason);
                        log.insert("decision".into(), json!(error.code()));
                        log.insert("reason".into(), json!(reason));
                        error_response(&error, config.dpop_mode)
                    }
                },
                None => match demo_response(&authorized.path, authorized.identity.as_ref()) {
                    Some(body) => {
                        log.insert("decision".into(), json!("allow"));
                        json_response(200, &body)
                    }
                    None => {
                        let error = GatewayError::NotFound;
                        log.insert("decision".into(), json!(error.code()));
                        log.insert("reason".into(), json!("no demo endpoint at this path"));
                        error_response(&error, config.dpop_mode)
                    }
                },
            }?;
            // RFC 9449 section 8.2: a fresh nonce with every successful DPoP response.
            let nonce = match &config.dpop.nonce {
                Some(nonces) if used_dpop => Some(("dpop-nonce", nonces.issue(now_secs()))),
                _ => None,
            };
            let extra: Vec<(&'static str, String)> = cors_headers
                .iter()
                .flatten()
                .cloned()
                .chain(nonce)
                .collect();
            emit(log, started, config.request_logs);
            return with_headers(response, Some(&extra));
        }
        Err(error) => {
            log.insert("decision".into(), json!(error.code()));
            log.insert("reason".into(), json!(error.description()));
            error_response(&error, config.dpop_mode)
        }
    };
    emit(log, started, config.request_logs);
    with_headers(response?, cors_headers.as_deref())
}

/// Adds headers to a response; a response from the origin has immutable headers, so it is rebuilt
/// around the same streamed body.
fn with_headers(response: Response, extra: Option<&[(&'static str, String)]>) -> Result<Response> {
    let Some(extra) = extra.filter(|e| !e.is_empty()) else {
        return Ok(response);
    };
    let headers = Headers::new();
    for (name, value) in response.headers().entries() {
        headers.append(&name, &value)?;
    }
    for (name, value) in extra {
        // Vary lists what the response depends on: add to the origin's, never replace it.
        if *name == "vary" {
            headers.append(name, value)?;
        } else {
            headers.set(name, value)?;
        }
    }
    let (builder, body) = response.into_parts();
    Ok(builder.with_headers(headers).body(body))
}

fn record_trace(log: &mut Map<String, Value>, trace: &Trace, report: &FetchReport) {
    if let Some(route) = &trace.route {
        log.insert("route".into(), json!(route));
    }
    if let Some(kid) = &trace.kid {
        log.insert("kid".into(), json!(kid));
    }
    if let Some(sub) = &trace.sub {
        log.insert("sub".into(), json!(sub));
    }
    if let Some(source) = report.key_source {
        log.insert("keys".into(), json!(source));
    }
    if !report.fetches.is_empty() {
        log.insert("key_fetches".into(), json!(report.fetches));
    }
}

/// Prints the request's one log line (CONTRACT section 9), as `REQUEST_LOGS` asks. Only values the core
/// produced are logged, never a header value, a token or a proof.
fn emit(mut log: Map<String, Value>, started: f64, wanted: RequestLogs) {
    let allowed = matches!(
        log.get("decision").and_then(Value::as_str),
        Some("allow" | "preflight")
    );
    match wanted {
        RequestLogs::Off => return,
        RequestLogs::Denied if allowed => return,
        _ => {}
    }
    log.insert("ms".into(), json!(js_sys::Date::now() - started));
    worker::console_log!("{}", Value::Object(log));
}

fn json_response(status: u16, body: &Value) -> Result<Response> {
    let response = ResponseBuilder::new()
        .with_status(status)
        .with_header("content-type", "application/json")?
        .with_header("cache-control", "no-store")?
        .fixed(body.to_string().into_bytes());
    Ok(response)
}

fn error_response(error: &GatewayError, mode: DpopMode) -> Result<Response> {
    let rendered = error.render(ChallengeContext {
        mode,
        dpop_algs: "ES256",
    });
    let mut builder = ResponseBuilder::new().with_status(rendered.status);
    for (name, value) in &rendered.headers {
        builder = builder.with_header(name, value)?;
    }
    Ok(builder.fixed(rendered.body.into_bytes()))
}
