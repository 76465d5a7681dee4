//! The one log line of a request (README "Logs"), filled from what the core decided: never a header
//! value, a token, a proof or a secret.

use std::sync::Arc;

use serde::Serialize;

use super::idp::{FetchRecord, FetchReport};
use crate::config::{Config, RequestLogs};
use crate::error::GatewayError;
use crate::gateway::metrics::Observation;
use crate::gateway::Trace;
use crate::http::authorization::Scheme;

/// One request's log line.
#[derive(Serialize)]
pub(super) struct RequestLog<'a> {
    method: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    route: Option<&'a str>,
    decision: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    issuer: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kid: Option<Arc<str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<Arc<str>>,
    /// Where the key set came from: `memory`, `cache`, `kv` or `idp`.
    #[serde(skip_serializing_if = "Option::is_none")]
    keys: Option<&'static str>,
    /// How long the request waited for another request's key fetch (single flight).
    #[serde(skip_serializing_if = "Option::is_none")]
    keys_waited_ms: Option<f64>,
    /// The request started a background refresh of the keys (README "Key lifecycle").
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    background_refresh: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    key_fetches: Vec<FetchRecord>,
    #[serde(skip_serializing_if = "Option::is_none")]
    origin_status: Option<u16>,
    ms: f64,
    /// For the metrics only: the line stays as README "Logs" documents it.
    #[serde(skip)]
    scheme: Option<Scheme>,
}

impl<'a> RequestLog<'a> {
    pub(super) fn new(method: &'a str) -> Self {
        Self {
            method,
            route: None,
            decision: "allow",
            reason: None,
            issuer: None,
            kid: None,
            sub: None,
            keys: None,
            keys_waited_ms: None,
            background_refresh: false,
            key_fetches: Vec::new(),
            origin_status: None,
            ms: 0.0,
            scheme: None,
        }
    }

    /// What the pipeline learnt about the request, and the key fetches it made.
    pub(super) fn trace(&mut self, config: &'a Config, trace: Trace<'a>, report: FetchReport) {
        self.route = trace.route;
        self.issuer = trace
            .issuer
            .and_then(|i| config.issuers.get(i))
            .map(|i| i.url.as_str());
        self.kid = trace.kid;
        self.sub = trace.sub;
        self.scheme = trace.scheme;
        self.keys = report.key_source;
        self.keys_waited_ms = report.waited_ms;
        self.background_refresh = report.background;
        self.key_fetches = report.fetches;
    }

    /// The matched rule's pattern, when that is all there is to record.
    pub(super) fn route(&mut self, route: Option<&'a str>) {
        self.route = route;
    }

    /// A resource metadata document was asked for.
    pub(super) fn metadata(&mut self) {
        self.route = Some(crate::policy::resources::WELL_KNOWN);
    }

    pub(super) fn preflight(&mut self) {
        self.decision = "preflight";
    }

    pub(super) fn allowed(&mut self, origin_status: Option<u16>) {
        self.decision = "allow";
        self.origin_status = origin_status;
    }

    pub(super) fn refused(&mut self, error: &GatewayError) {
        self.decision = error.code();
        self.reason = Some(error.description().into_owned());
    }

    /// What the request's metric data point is made of (README "Metrics"); `ms`, the time it took.
    pub(super) fn observation(&self, ms: f64) -> Observation<'_> {
        Observation {
            method: self.method,
            route: self.route,
            decision: self.decision,
            reason: self.reason.as_deref(),
            issuer: self.issuer,
            key_source: self.keys,
            scheme: self.scheme,
            sub: self.sub.as_deref(),
            origin_status: self.origin_status,
            key_fetches: self.key_fetches.len(),
            key_fetch_ms: self.key_fetches.iter().map(|f| f.ms).sum(),
            ms,
        }
    }

    /// Prints the line as `REQUEST_LOGS` asks; `started` is the request's start in milliseconds.
    pub(super) fn emit(mut self, started: f64, wanted: RequestLogs) {
        // The clock is read only for a line that is printed: each read is a crossing into JavaScript.
        if wanted.includes(matches!(self.decision, "allow" | "preflight")) {
            self.ms = js_sys::Date::now() - started;
            print(&self);
        }
    }
}

/// The one log line of a key refresh outside any request: in the background or from the Cron Trigger.
#[derive(Serialize)]
pub(super) struct RefreshLog<'a> {
    /// `background` or `scheduled`.
    pub refresh: &'static str,
    pub issuer: &'a str,
    pub ok: bool,
    /// Where the key set kept came from: `cache`, `kv`, `idp`, or `memory` when the held one stays.
    pub keys: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub key_fetches: Vec<FetchRecord>,
    pub ms: f64,
}

impl RefreshLog<'_> {
    /// Prints the line as `REQUEST_LOGS` asks (a failed refresh counts as denied).
    pub(super) fn emit(mut self, started: f64, wanted: RequestLogs) {
        if wanted.includes(self.ok) {
            self.ms = js_sys::Date::now() - started;
            print(&self);
        }
    }
}

fn print(line: &impl Serialize) {
    if let Ok(line) = serde_json::to_string(line) {
        worker::console_log!("{line}");
    }
}
