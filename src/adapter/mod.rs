//! The Workers adapter: reads the request and the environment, runs the core pipeline, writes the
//! response and one JSON log line. Everything it decides is decided in the core.

mod idp;
mod replay_store;

use std::cell::RefCell;
use std::rc::Rc;

use serde_json::{json, Map, Value};
use worker::{event, Context, Env, Request, Response, ResponseBuilder, Result};

use crate::config::{Config, DpopMode, ReplayStoreKind};
use crate::demo::demo_response;
use crate::dpop::public_url;
use crate::errors::Scheme;
use crate::errors::{ChallengeContext, GatewayError};
use crate::gateway::{self, RequestFacts, Trace};
use crate::key_cache::KeyCache;
use crate::replay::ReplayCache;

use idp::{FetchReport, IdpKeys, IsolateKeys};
use replay_store::WorkerReplayStore;

/// State kept by one isolate across requests: the parsed configuration, the key cache and the
/// in-isolate DPoP replay cache.
struct Isolate {
    config: std::result::Result<Rc<Config>, String>,
    keys: IsolateKeys,
    replay: RefCell<ReplayCache>,
}

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
                Rc::new(Isolate {
                    config,
                    keys: IsolateKeys {
                        cache: RefCell::new(KeyCache::default()),
                        discovery: RefCell::new(None),
                    },
                    replay: RefCell::new(ReplayCache::new(capacity)),
                })
            })
            .clone()
    })
}

/// Seconds since the epoch (Workers advance the clock on I/O, which is precise enough here).
pub(crate) fn now_secs() -> u64 {
    (js_sys::Date::now() / 1000.0) as u64
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let started = js_sys::Date::now();
    let isolate = isolate(&env);
    let method = req.method().to_string();
    let mut log = Map::new();
    log.insert("method".into(), json!(method));

    let config = match &isolate.config {
        Ok(config) => config.clone(),
        Err(reason) => {
            let error = GatewayError::Configuration(reason.clone());
            log.insert("decision".into(), json!(error.code()));
            log.insert("reason".into(), json!(error.description()));
            emit(log, started);
            return error_response(&error, DpopMode::Allowed);
        }
    };
    log.insert("issuer".into(), json!(config.issuer.url));

    let url = req.url()?;
    let headers = req.headers();
    let authorization = headers.get("authorization")?;
    let dpop = headers.get("dpop")?;
    let htu_url = if config.dpop.trust_proxy {
        public_url(
            url.as_str(),
            headers.get("x-forwarded-proto")?.as_deref(),
            headers.get("x-forwarded-host")?.as_deref(),
        )
    } else {
        url.to_string()
    };
    let facts = RequestFacts {
        method: &method,
        path: url.path(),
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
    let outcome = gateway::authorize(&config, &facts, &keys, &replay, now_secs(), &mut trace).await;
    record_trace(&mut log, &trace, &keys.report());

    let response = match outcome {
        Ok(authorized) => {
            log.insert("decision".into(), json!("allow"));
            let used_dpop = authorized.identity.as_ref().map(|i| i.scheme) == Some(Scheme::Dpop);
            let response = match demo_response(&authorized.path, authorized.identity.as_ref()) {
                Some(body) => json_response(200, &body),
                None => {
                    let error = GatewayError::NotFound;
                    log.insert("reason".into(), json!("no demo endpoint at this path"));
                    error_response(&error, config.dpop_mode)
                }
            };
            // RFC 9449 section 8.2: a fresh nonce with every successful DPoP response.
            match (&config.dpop.nonce, response) {
                (Some(nonces), Ok(mut response)) if used_dpop => {
                    response
                        .headers_mut()
                        .set("dpop-nonce", &nonces.issue(now_secs()))?;
                    Ok(response)
                }
                (_, response) => response,
            }
        }
        Err(error) => {
            log.insert("decision".into(), json!(error.code()));
            log.insert("reason".into(), json!(error.description()));
            error_response(&error, config.dpop_mode)
        }
    };
    emit(log, started);
    response
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

/// Prints the request's one log line (CONTRACT section 9). Only values the core produced are logged,
/// never a header value, a token or a proof.
fn emit(mut log: Map<String, Value>, started: f64) {
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
