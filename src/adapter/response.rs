//! Building responses: the core renders errors and chooses headers; this only writes them.
//!
//! A response the gateway makes itself stays in Rust until it leaves, then becomes the runtime's
//! `Response` in one call into JavaScript. The runtime copies an init's `Headers` into each new `Response`,
//! so the JSON answers (the demo endpoints) share one `Headers` object made once per isolate: making a
//! `Headers` object is the costly part of a small response, not the crossings (README "What each step
//! bought").

use std::borrow::Cow;

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::{Error, Result};

use crate::error::{ChallengeContext, GatewayError, ResourceChallenge};
use crate::gateway::METADATA_HEADERS;
use crate::http::authorization::DpopMode;
use crate::jose::dpop::PROOF_ALGS;

/// What a request is answered with.
pub(super) enum Answer {
    /// A response the gateway made.
    Made(Made),
    /// The origin's response (proxy mode), passed on as it came, its body streamed.
    Passed(web_sys::Response),
}

impl Answer {
    /// The runtime's `Response` for this answer.
    pub(super) fn into_response(self) -> Result<web_sys::Response> {
        match self {
            Answer::Made(made) => made.into_response(),
            Answer::Passed(response) => Ok(response),
        }
    }
}

impl From<Made> for Answer {
    fn from(made: Made) -> Self {
        Answer::Made(made)
    }
}

/// A response the gateway makes: status, headers in order, body.
pub(super) struct Made {
    status: u16,
    /// Whether the headers start with [`JSON_HEADERS`], which `headers` then leaves out: the answer shares
    /// the JSON answers' `Headers` object in JavaScript, and no list is allocated for them.
    json: bool,
    /// The headers, after the JSON answers' two when `json`.
    headers: HeaderList,
    /// A demo endpoint's answer to an anonymous request, or a metadata document, is borrowed as it is.
    body: Option<Cow<'static, str>>,
}

type HeaderList = Vec<(&'static str, Cow<'static, str>)>;

/// The headers of a JSON answer: the set `jsonResponse` below holds in JavaScript.
const JSON_HEADERS: [(&str, &str); 2] = [
    ("content-type", "application/json"),
    ("cache-control", "no-store"),
];

impl Made {
    fn new(status: u16, mut headers: HeaderList) -> Self {
        let json = headers
            .iter()
            .map(|(n, v)| (*n, &**v))
            .take(JSON_HEADERS.len())
            .eq(JSON_HEADERS);
        if json {
            headers.drain(..JSON_HEADERS.len());
        }
        Made {
            status,
            json,
            headers,
            body: None,
        }
    }

    fn with_body(mut self, body: impl Into<Cow<'static, str>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Adds a header, replacing one of the same name, except `Vary`, which lists what the response
    /// depends on and is added to.
    fn set(&mut self, name: &'static str, value: String) {
        if self.json && JSON_HEADERS.iter().any(|(n, _)| *n == name) {
            // The shared set no longer fits: it is written out, to be changed.
            self.write_out_json_headers();
        }
        match self.headers.iter().position(|(n, _)| *n == name) {
            Some(at) if name != "vary" => self.headers[at].1 = value.into(),
            _ => self.headers.push((name, value.into())),
        }
    }

    /// Puts the JSON answers' two headers, when the answer starts with them, into its own list.
    fn write_out_json_headers(&mut self) {
        if self.json {
            self.headers.splice(..0, list(JSON_HEADERS));
            self.json = false;
        }
    }

    /// The runtime's `Response`, made in one call.
    fn into_response(mut self) -> Result<web_sys::Response> {
        let body = self.body.take();
        let made = match (body.as_deref(), self.json) {
            (Some(body), true) if self.headers.is_empty() => json_answer(self.status, body),
            (Some(body), true) => json_response(self.status, &header_lines(&self.headers)?, body),
            (body, _) => {
                self.write_out_json_headers();
                make_response(self.status, &header_lines(&self.headers)?, body)
            }
        };
        made.map_err(Error::from)
    }
}

/// `name\nvalue\n` per header, in order. A value with a line break, which the runtime would refuse
/// anyway, is an error rather than a shifted list.
fn header_lines(headers: &[(&'static str, Cow<'static, str>)]) -> Result<String> {
    let mut lines = String::new();
    for (name, value) in headers {
        if value.contains(['\n', '\r']) {
            return Err(Error::RustError(format!("a line break in {name}")));
        }
        for part in [*name, value] {
            lines.push_str(part);
            lines.push('\n');
        }
    }
    Ok(lines)
}

// A body comes as a string, which the runtime encodes into a buffer of its own: bytes would be a view into
// wasm memory, copied (`slice`) into an `ArrayBuffer` the runtime then holds, which costs more (README
// "What each step bought"). The shared `Headers` object is never handed out: the runtime copies it into
// each `Response`. `addLines` adds header lines as `Made::set` does: `Vary` is added to, any other name
// replaced.
#[wasm_bindgen(inline_js = "
let jsonHeaders;
function addLines(headers, lines) {
  const parts = lines.split('\\n');
  for (let i = 0; i + 1 < parts.length; i += 2) {
    if (parts[i] === 'vary') headers.append(parts[i], parts[i + 1]);
    else headers.set(parts[i], parts[i + 1]);
  }
  return headers;
}
function sharedJsonHeaders() {
  return (jsonHeaders ??= new Headers([['content-type', 'application/json'], ['cache-control', 'no-store']]));
}
export function jsonAnswer(status, body) {
  return new Response(body, { status, headers: sharedJsonHeaders() });
}
export function jsonResponse(status, lines, body) {
  return new Response(body, { status, headers: addLines(new Headers(sharedJsonHeaders()), lines) });
}
export function makeResponse(status, lines, body) {
  const headers = addLines(new Headers(), lines);
  return new Response(body ?? null, { status, headers });
}
export function withOriginHeaders(response, lines) {
  const headers = addLines(new Headers(response.headers), lines);
  const init = { status: response.status, statusText: response.statusText, headers };
  if (response.webSocket) init.webSocket = response.webSocket;
  if (response.cf) init.cf = response.cf;
  return new Response(response.body, init);
}")]
extern "C" {
    #[wasm_bindgen(js_name = jsonAnswer, catch)]
    fn json_answer(status: u16, body: &str) -> std::result::Result<web_sys::Response, JsValue>;
    #[wasm_bindgen(js_name = jsonResponse, catch)]
    fn json_response(
        status: u16,
        lines: &str,
        body: &str,
    ) -> std::result::Result<web_sys::Response, JsValue>;
    #[wasm_bindgen(js_name = withOriginHeaders, catch)]
    fn with_origin_headers(
        response: &web_sys::Response,
        lines: &str,
    ) -> std::result::Result<web_sys::Response, JsValue>;
    #[wasm_bindgen(js_name = makeResponse, catch)]
    fn make_response(
        status: u16,
        lines: &str,
        body: Option<&str>,
    ) -> std::result::Result<web_sys::Response, JsValue>;
}

fn list<V: Into<Cow<'static, str>>>(
    headers: impl IntoIterator<Item = (&'static str, V)>,
) -> HeaderList {
    headers.into_iter().map(|(n, v)| (n, v.into())).collect()
}

pub(super) fn json(status: u16, body: impl Into<Cow<'static, str>>) -> Made {
    Made {
        status,
        json: true,
        headers: Vec::new(),
        body: Some(body.into()),
    }
}

pub(super) fn empty(status: u16, headers: Vec<(&'static str, String)>) -> Made {
    Made::new(status, list(headers))
}

/// A resource metadata document (README "MCP servers"); a HEAD gets the headers alone.
pub(super) fn metadata(document: &'static str, method: &str) -> Made {
    let made = Made::new(200, list(METADATA_HEADERS));
    match method {
        "HEAD" => made,
        _ => made.with_body(document),
    }
}

pub(super) fn error(
    error: &GatewayError,
    mode: DpopMode,
    resource: Option<ResourceChallenge<'_>>,
) -> Made {
    let rendered = error.render(ChallengeContext {
        mode,
        dpop_algs: PROOF_ALGS,
        resource,
    });
    Made::new(rendered.status, list(rendered.headers)).with_body(rendered.body)
}

/// Adds headers to an answer. A response from the origin has immutable headers: with headers to add, it
/// is remade around the same streamed body, in one call.
pub(super) fn with_headers(answer: Answer, extra: Vec<(&'static str, String)>) -> Result<Answer> {
    match answer {
        Answer::Made(mut made) => {
            for (name, value) in extra {
                made.set(name, value);
            }
            Ok(Answer::Made(made))
        }
        Answer::Passed(response) if extra.is_empty() => Ok(Answer::Passed(response)),
        Answer::Passed(response) => {
            let lines = header_lines(&list(extra))?;
            let remade = with_origin_headers(&response, &lines).map_err(Error::from)?;
            Ok(Answer::Passed(remade))
        }
    }
}
