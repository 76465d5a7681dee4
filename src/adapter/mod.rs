//! The Workers adapter: read the request, run the core, turn its one outcome into a response, log once.
//! Everything it decides is decided in the core; this layer holds the isolate's state and does the I/O.

mod entry;
mod forward;
mod idp;
mod log;
mod metrics;
mod outbound;
mod replay_store;
mod response;

use std::borrow::Cow;
use std::cell::{OnceCell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use worker::{worker_sys, Context, Delay, Env, Headers, Response, Result};

use crate::config::{names, Bindings, Config, RequestLogs};
use crate::demo::demo_response;
use crate::error::{GatewayError, ResourceChallenge, Unavailable};
use crate::gateway::{self, Admission, Authorized, Metadata, RequestFacts, Sources, Trace};
use crate::http::authorization::{DpopMode, Scheme};
use crate::http::path::split_url;
use crate::idp::key_cache::KeyCache;
use crate::jose::dpop::{self, public_url};
use crate::out_of_line::{cold, OutOfLine};
use crate::state::proof_keys::ProofKeyCache;
use crate::state::replay::{ReplayCache, ReplayStoreKind};
use crate::state::token_cache::TokenCache;
use crate::state::Caches;

use idp::{IdpKeys, IsolateKeys};
use log::RequestLog;
use replay_store::WorkerReplayStore;
use response::Answer;

/// State kept by one isolate across requests: the parsed configuration, the key cache and the
/// in-isolate DPoP replay cache.
struct Isolate {
    config: std::result::Result<&'static Config, String>,
    /// One key cache per accepted issuer, in the order of `Config::issuers`.
    keys: Vec<IsolateKeys>,
    replay: RefCell<ReplayCache>,
    caches: Caches,
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
            .get_or_insert_with(|| Rc::new(cold(|| new_isolate(env))))
            .clone()
    })
}

/// A setting as the runtime hands it: a string (`[vars]` strings, secrets, `.dev.vars`, `--var`), or a JSON
/// value for a TOML table, array, number or boolean under `[vars]`, which the core reads as its JSON text
/// (README "Configuration"). Nothing the operator wrote is dropped.
fn setting(env: &Env, name: &str) -> Option<String> {
    let value = js_sys::Reflect::get(env, &JsValue::from_str(name)).ok()?;
    if let Some(text) = value.as_string() {
        return Some(text);
    }
    if value.is_undefined() || value.is_null() {
        return None;
    }
    js_sys::JSON::stringify(&value).ok()?.as_string()
}

/// Whether the Worker has a binding (an object, not a string var of that name).
fn bound(env: &Env, name: &str) -> bool {
    js_sys::Reflect::get(env, &JsValue::from_str(name)).is_ok_and(|value| value.is_object())
}

/// Run through `cold`: it runs once per isolate. Inlined, it would put the configuration's parsing in the
/// function every request calls for the isolate state, which V8 compiles again in its optimising tier
/// (README "What each step bought"); `#[inline(never)]` alone does not stop wasm-opt, which inlines any
/// function with one caller below its size limit.
fn new_isolate(env: &Env) -> Isolate {
    let bindings = Bindings {
        rate_limiter: bound(env, names::RATE_LIMITER),
        metrics: bound(env, names::METRICS),
        origin_service: bound(env, names::ORIGIN_SERVICE),
    };
    // Kept for the isolate's life, so a request's future can hold what it borrows from it.
    let config = Config::from_environment(|name| setting(env, name), bindings)
        .map(|config| &*Box::leak(Box::new(config)))
        .map_err(|e| e.to_string());
    let capacity = match config.as_ref().map(|c| c.dpop.replay) {
        Ok(ReplayStoreKind::Isolate { capacity }) => capacity,
        _ => 1,
    };
    let issuers = config.as_ref().map_or(0, |c| c.issuers.len());
    Isolate {
        config,
        keys: (0..issuers)
            .map(|_| IsolateKeys {
                cache: RefCell::new(KeyCache::default()),
                discovery: RefCell::new(None),
            })
            .collect(),
        replay: RefCell::new(ReplayCache::new(capacity)),
        caches: Caches::new(
            TokenCache::new(TOKEN_CACHE_ENTRIES, TOKEN_CACHE_BYTES),
            ProofKeyCache::default(),
        ),
    }
}

/// Seconds since the epoch (Workers advance the clock on I/O, which is precise enough here).
pub(crate) fn now_secs() -> u64 {
    secs(js_sys::Date::now())
}

/// Whole seconds of a time in milliseconds since the epoch.
fn secs(ms: f64) -> u64 {
    (ms / 1000.0) as u64
}

/// How the request's first stage left it.
pub(super) enum Arrived {
    /// Answered at once.
    Answered(web_sys::Response),
    /// Answered by a future, which may wait: for the keys, the replay store, the body, the rate limiter or
    /// the origin.
    Waits(entry::Request),
}

/// The fetch handler (exported by `entry`), one response whatever happens, in two stages. The first runs
/// at once and answers what needs neither credentials nor I/O (a public route in demo mode, a preflight, a
/// metadata document, a refusal before credentials) with no future, no key source and no replay store
/// made for it (README "What each step bought"); the second, a future, does the rest. It takes the
/// runtime's `Request` as it is: `worker::Request` would read `request.cf` on every request, which makes
/// the runtime build that object (27-31 µs per request under `wrangler dev`, measured with
/// `benches/compare.mjs`) for data the gateway never uses.
pub(super) fn arrive(req: web_sys::Request, env: &Env, ctx: &worker_sys::Context) -> Arrived {
    let arrival = Arrival {
        started: js_sys::Date::now(),
        method: method_of(&req),
        req,
        headers: OnceCell::new(),
    };
    let isolate = isolate(env);
    let config = match &isolate.config {
        Ok(config) => *config,
        Err(reason) => return Arrived::Answered(cold(|| misconfigured(&arrival, reason))),
    };
    let mut log = RequestLog::new(&arrival.method);
    let waiting = match first_stage(&arrival, config, &mut log) {
        Ok(Stage::Waits(waiting)) => waiting,
        Ok(Stage::Answered(answer)) => {
            return Arrived::Answered(finish(Ok(answer), &arrival, env, config, log))
        }
        Err(error) => return Arrived::Answered(finish(Err(error), &arrival, env, config, log)),
    };
    // `env` and `ctx` are borrowed for the call only (`entry::fetch`).
    let ctx = Context::new(JsValue::clone(ctx.as_ref()).unchecked_into());
    let env = env.clone();
    Arrived::Waits(Box::pin(async move {
        let mut log = RequestLog::new(&arrival.method);
        let answer = second_stage(&arrival, &env, &ctx, &isolate, config, waiting, &mut log).await;
        finish(answer, &arrival, &env, config, log)
    }))
}

/// The answer to every request while the configuration is invalid, always logged: nothing else tells the
/// operator.
fn misconfigured(arrival: &Arrival, reason: &str) -> web_sys::Response {
    let error = GatewayError::Configuration(reason.to_owned());
    let mut log = RequestLog::new(&arrival.method);
    log.refused(&error);
    log.emit(arrival.started, RequestLogs::All);
    into_runtime(Ok(response::error(&error, DpopMode::Allowed, None).into()))
}

/// The request's metric data point and log line, then its response.
fn finish(
    answer: Result<Answer>,
    arrival: &Arrival,
    env: &Env,
    config: &Config,
    log: RequestLog<'_>,
) -> web_sys::Response {
    if let Some(settings) = config.metrics {
        cold(|| {
            let ms = js_sys::Date::now() - arrival.started;
            metrics::write(env, &log.observation(ms).data_point(settings));
        });
    }
    log.emit(arrival.started, config.request_logs);
    into_runtime(answer)
}

/// The runtime's `Response` for an answer; a 500 for what the request path could not handle.
fn into_runtime(answer: Result<Answer>) -> web_sys::Response {
    match answer.and_then(Answer::into_response) {
        Ok(response) => response,
        Err(error) => cold(|| {
            worker::console_error!("{error}");
            internal_error()
        }),
    }
}

/// A 500 with no detail, for what the request path could not handle.
fn internal_error() -> web_sys::Response {
    Response::error("INTERNAL SERVER ERROR", 500)
        .map_or_else(|_| web_sys::Response::error(), Into::into)
}

/// A request as it arrives: the runtime's `Request`, with its method and the clock read once each. Workers
/// stand the clock still until a request does I/O, so one read serves the whole synchronous path (each read
/// is a crossing into JavaScript: README "What each step bought").
struct Arrival {
    started: f64,
    req: web_sys::Request,
    method: Cow<'static, str>,
    /// The headers object, fetched on the first header read: a public route reads none unless CORS,
    /// protected resources or JSON-RPC rules are configured.
    headers: OnceCell<Headers>,
}

/// The methods `methodIndex` knows, in its order.
const METHODS: [&str; 7] = ["GET", "POST", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"];

// A known method comes back as a number, with no string copied into wasm memory; any other as it is.
#[wasm_bindgen(inline_js = "
export function methodIndex(request) {
  switch (request.method) {
    case 'GET': return 0;
    case 'POST': return 1;
    case 'HEAD': return 2;
    case 'OPTIONS': return 3;
    case 'PUT': return 4;
    case 'PATCH': return 5;
    case 'DELETE': return 6;
    default: return -1;
  }
}")]
extern "C" {
    #[wasm_bindgen(js_name = methodIndex)]
    fn method_index(request: &web_sys::Request) -> i32;
}

/// The request's method.
fn method_of(req: &web_sys::Request) -> Cow<'static, str> {
    match usize::try_from(method_index(req))
        .ok()
        .and_then(|i| METHODS.get(i))
    {
        Some(known) => Cow::Borrowed(known),
        None => Cow::Owned(req.method()),
    }
}

impl Arrival {
    fn header(&self, name: &str) -> Result<Option<String>> {
        let headers = self.headers.get_or_init(|| Headers(self.req.headers()));
        headers.get(name)
    }
}

/// What the gateway reads of every request, read once. Each header read is a crossing into JavaScript, so
/// a header is read only where it can matter: the `Origin` with CORS or protected resources, a
/// preflight's method on `OPTIONS`, the MCP headers on a POST when some route has JSON-RPC rules (only a
/// POST body is matched: `RouteRule::reads_jsonrpc`).
struct Incoming {
    url: String,
    origin: Option<String>,
    preflight_method: Option<String>,
    mcp_method: Option<String>,
    mcp_name: Option<String>,
}

impl Incoming {
    fn read(arrival: &Arrival, config: &Config) -> Result<Self> {
        let method = &*arrival.method;
        let (mcp_method, mcp_name) = if method == "POST" && config.routes.has_jsonrpc() {
            (arrival.header("mcp-method")?, arrival.header("mcp-name")?)
        } else {
            (None, None)
        };
        Ok(Self {
            url: arrival.req.url(),
            origin: if config.reads_origin() {
                arrival.header("origin")?
            } else {
                None
            },
            preflight_method: match method {
                "OPTIONS" => arrival.header("access-control-request-method")?,
                _ => None,
            },
            mcp_method,
            mcp_name,
        })
    }
}

/// The credentials of a request, read only once its route is known to read them
/// (`RouteRule::reads_credentials`).
#[derive(Default)]
struct Presented {
    authorization: Option<String>,
    dpop: Option<String>,
    /// The URL a DPoP proof's `htu` is compared with behind a trusted proxy, rebuilt from `X-Forwarded-*`
    /// when a proof came; otherwise the request's own URL is.
    forwarded_url: Option<String>,
}

impl Presented {
    fn read(arrival: &Arrival, url: &str, config: &Config) -> Result<Self> {
        let authorization = arrival.header("authorization")?;
        let dpop = match authorization {
            Some(_) => arrival.header("dpop")?,
            None => None,
        };
        let forwarded_url = match dpop {
            Some(_) if config.dpop.trust_proxy => Some(cold(|| Self::forwarded_url(arrival, url))?),
            _ => None,
        };
        Ok(Self {
            authorization,
            dpop,
            forwarded_url,
        })
    }

    /// What the core reads of the request.
    fn facts<'a>(&'a self, method: &'a str, incoming: &'a Incoming) -> RequestFacts<'a> {
        RequestFacts {
            method,
            authorization: self.authorization.as_deref(),
            dpop: self.dpop.as_deref(),
            origin: incoming.origin.as_deref(),
            mcp_method: incoming.mcp_method.as_deref(),
            mcp_name: incoming.mcp_name.as_deref(),
            url: self.forwarded_url.as_deref().unwrap_or(&incoming.url),
        }
    }

    /// The URL the client addressed behind a trusted proxy, from `X-Forwarded-Proto` and `-Host`.
    fn forwarded_url(arrival: &Arrival, url: &str) -> Result<String> {
        Ok(public_url(
            url,
            arrival.header("x-forwarded-proto")?.as_deref(),
            arrival.header("x-forwarded-host")?.as_deref(),
        ))
    }
}

/// What the core decided for a request, and what the adapter then did.
enum Outcome {
    Preflight(Vec<(&'static str, String)>),
    /// Served or forwarded; `nonce` when a fresh DPoP nonce goes with it (RFC 9449 section 8.2).
    Allowed {
        response: Answer,
        origin_status: Option<u16>,
        nonce: Option<String>,
    },
    Refused(GatewayError),
}

/// What the first stage decided.
enum Stage {
    Answered(Answer),
    Waits(Waiting),
}

/// A request the first stage leaves to the second, with what it has read and what the core has decided.
struct Waiting {
    incoming: Incoming,
    presented: Presented,
    admission: Admission<'static, 'static>,
    trace: Trace<'static>,
    cors: Vec<(&'static str, String)>,
}

/// The first stage, which waits on nothing: what is read of every request, the metadata documents, the
/// preflights, the route and its admission, and the demo endpoints' answers to anonymous requests. A
/// request with credentials to check, or for the origin, is left to the second.
fn first_stage<'a>(
    arrival: &'a Arrival,
    config: &'static Config,
    log: &mut RequestLog<'a>,
) -> Result<Stage> {
    let method = &*arrival.method;
    let incoming = Incoming::read(arrival, config)?;
    // The runtime's URL string, split without the `url` crate (see path::split_url).
    let (path, _) = split_url(&incoming.url);
    let cors = incoming
        .origin
        .as_deref()
        .and_then(|o| config.cors.as_ref().and_then(|cors| cors.response(o)))
        .unwrap_or_default();
    if let Some(answer) =
        gateway::resource_metadata(config, method, path, incoming.preflight_method.is_some())
    {
        return Ok(Stage::Answered(
            cold(|| metadata_response(answer, config, method, log)).into(),
        ));
    }
    let mut trace = Trace::default();
    let outcome = match preflight(config, method, path, &incoming) {
        Some(outcome) => outcome,
        None => match gateway::route(config, method, path) {
            Ok(routed) => {
                let presented = if routed.rule.reads_credentials() {
                    Presented::read(arrival, &incoming.url, config)?
                } else {
                    Presented::default()
                };
                let facts = presented.facts(method, &incoming);
                match gateway::admit(config, routed, &facts, &mut trace) {
                    Ok(Admission::Anonymous(authorized)) if config.proxy.is_none() => {
                        match demo(&authorized) {
                            Ok(response) => Outcome::Allowed {
                                response,
                                origin_status: None,
                                nonce: None,
                            },
                            Err(error) => Outcome::Refused(error),
                        }
                    }
                    Ok(admission) => {
                        let admission = admission.into_owned();
                        return Ok(Stage::Waits(Waiting {
                            incoming,
                            presented,
                            admission,
                            trace,
                            cors,
                        }));
                    }
                    Err(error) => Outcome::Refused(error),
                }
            }
            Err(error) => Outcome::Refused(error),
        },
    };
    // The first stage checks no credentials: its trace holds the route and the resource only.
    log.route(trace.route);
    respond(outcome, config, cors, log, trace.resource).map(Stage::Answered)
}

/// The second stage: the credentials, the rate limiter and the origin, any of which may wait.
async fn second_stage<'a>(
    arrival: &'a Arrival,
    env: &Env,
    ctx: &Context,
    isolate: &Rc<Isolate>,
    config: &'static Config,
    waiting: Waiting,
    log: &mut RequestLog<'a>,
) -> Result<Answer> {
    let Waiting {
        incoming,
        presented,
        admission,
        mut trace,
        cors,
    } = waiting;
    let (req, now) = (&arrival.req, secs(arrival.started));
    let (_, query) = split_url(&incoming.url);
    let keys = IdpKeys::new(config, &isolate.keys, env, now);
    let decision = match admission {
        Admission::Anonymous(authorized) => Ok(authorized),
        Admission::Credentials(credentialed) => {
            let replay = match config.dpop.replay {
                ReplayStoreKind::Isolate { .. } => WorkerReplayStore::Isolate(&isolate.replay),
                ReplayStoreKind::DurableObject => WorkerReplayStore::DurableObject(env),
            };
            let sources = Sources {
                keys: &keys,
                replay: &replay,
                caches: &isolate.caches,
                body: &forward::RequestBody(req),
            };
            let facts = presented.facts(&arrival.method, &incoming);
            gateway::authorize(config, credentialed, &facts, &sources, now, &mut trace).await
        }
    };
    let resource = trace.resource;
    log.trace(config, trace, keys.report());
    idp::refresh_in_background(ctx, env, isolate, keys.background_refreshes());
    if presented.dpop.is_some() {
        make_shared_combs_in_background(ctx);
    }
    let outcome = match decision {
        Ok(authorized) => match over_limit(env, config, &authorized).await {
            Some(error) => Outcome::Refused(error),
            None => serve(req, env, config, authorized, query).await?,
        },
        Err(error) => Outcome::Refused(error),
    };
    respond(outcome, config, cors, log, resource)
}

/// A protected resource's metadata document (RFC 9728 section 3), its preflight, or why neither.
fn metadata_response(
    answer: std::result::Result<Metadata<'static>, GatewayError>,
    config: &Config,
    method: &str,
    log: &mut RequestLog<'_>,
) -> response::Made {
    log.metadata();
    match answer {
        Ok(Metadata::Document(doc)) => response::metadata(doc, method),
        Ok(Metadata::Preflight(headers)) => response::empty(204, headers),
        Err(error) => {
            log.refused(&error);
            response::error(&error, config.dpop_mode, None)
        }
    }
}

/// After a request with a DPoP proof, the combs every prepared DPoP key shares are made once the response
/// is out, unless made (README "DPoP"): no request waits for them.
fn make_shared_combs_in_background(ctx: &Context) {
    if dpop::shared_combs_made() {
        return;
    }
    cold(|| {
        ctx.wait_until(async {
            // A timer first, so that the work runs in a later task than the response.
            Delay::from(Duration::ZERO).await;
            dpop::make_shared_combs();
        })
    });
}

/// CORS preflights from allowed origins are answered here, without a token.
fn preflight(config: &Config, method: &str, path: &str, incoming: &Incoming) -> Option<Outcome> {
    if method != "OPTIONS" {
        return None;
    }
    cold(|| {
        let origin = incoming.origin.as_deref()?;
        let requested = incoming.preflight_method.as_deref()?;
        let answer = gateway::preflight(config, path, origin, requested)?;
        Some(match answer {
            Ok(headers) => Outcome::Preflight(headers),
            Err(error) => Outcome::Refused(error),
        })
    })
}

// The binding's `limit({ key })`, resolving to whether the request is within the budget.
#[wasm_bindgen(inline_js = "
export function rateLimit(env, binding, key) {
  return env[binding].limit({ key }).then((outcome) => outcome.success === true);
}")]
extern "C" {
    #[wasm_bindgen(js_name = rateLimit, catch)]
    fn rate_limit(
        env: &Env,
        binding: &str,
        key: &str,
    ) -> std::result::Result<js_sys::Promise, JsValue>;
}

/// Counts an authorised request on a rate-limited route against its caller's budget (README "Rate
/// limits"); the refusal when the budget is spent, or when the limiter cannot be asked (fail closed).
async fn over_limit(
    env: &Env,
    config: &Config,
    authorized: &Authorized<'_>,
) -> Option<GatewayError> {
    let (Some(limits), Some(key)) = (config.rate_limit, &authorized.limit_key) else {
        return None;
    };
    let outcome = OutOfLine::new(entry::settled(rate_limit(env, names::RATE_LIMITER, key))).await;
    match outcome.map(|success| success.as_bool()) {
        Ok(Some(true)) => None,
        Ok(_) => Some(GatewayError::RateLimited {
            retry_after: limits.period,
        }),
        Err(_) => Some(GatewayError::TemporarilyUnavailable {
            reason: Unavailable::RateLimiterDown,
            retry_after: limits.period,
        }),
    }
}

/// An authorised request: forwarded to the origin in proxy mode, else answered by a demo endpoint.
async fn serve(
    req: &web_sys::Request,
    env: &Env,
    config: &Config,
    authorized: Authorized<'_>,
    query: Option<&str>,
) -> Result<Outcome> {
    let used_dpop = authorized.identity.as_ref().map(|i| i.scheme) == Some(Scheme::Dpop);
    let nonce = match &config.dpop.nonce {
        Some(nonces) if used_dpop => Some(cold(|| nonces.issue(now_secs()))),
        _ => None,
    };
    let (response, origin_status) = match &config.proxy {
        Some(proxy) => {
            match OutOfLine::new(forward::forward(req, env, proxy, &authorized, query)).await {
                Ok(response) => {
                    let status = response.status();
                    (Answer::Passed(response), Some(status))
                }
                Err(reason) => return Ok(Outcome::Refused(GatewayError::BadGateway(reason))),
            }
        }
        None => match demo(&authorized) {
            Ok(response) => (response, None),
            Err(error) => return Ok(Outcome::Refused(error)),
        },
    };
    Ok(Outcome::Allowed {
        response,
        origin_status,
        nonce,
    })
}

/// A demo endpoint's answer to an authorised request, when no origin is configured.
fn demo(authorized: &Authorized<'_>) -> std::result::Result<Answer, GatewayError> {
    demo_response(&authorized.path, authorized.identity.as_ref())
        .map(|body| response::json(200, body).into())
        .ok_or(GatewayError::NotFound)
}

/// Turns the outcome into the response, adding the CORS headers, and records it in the log.
fn respond(
    outcome: Outcome,
    config: &Config,
    mut extra: Vec<(&'static str, String)>,
    log: &mut RequestLog<'_>,
    resource: Option<ResourceChallenge<'_>>,
) -> Result<Answer> {
    match outcome {
        Outcome::Preflight(headers) => {
            log.preflight();
            Ok(response::empty(204, headers).into())
        }
        Outcome::Allowed {
            response,
            origin_status,
            nonce,
        } => {
            log.allowed(origin_status);
            extra.extend(nonce.map(|n| ("dpop-nonce", n)));
            if extra.is_empty() {
                return Ok(response);
            }
            response::with_headers(response, extra)
        }
        Outcome::Refused(error) => cold(|| {
            log.refused(&error);
            let response = response::error(&error, config.dpop_mode, resource);
            response::with_headers(response.into(), extra)
        }),
    }
}
