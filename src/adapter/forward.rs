//! Proxy mode in the Worker: the request goes to the origin with the headers the core chose, its body
//! streamed, never buffered (except on a route with JSON-RPC rules, whose body the gateway read: those
//! same bytes are sent); the origin's response comes back as it is, body streamed.

use js_sys::Uint8Array;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use worker::{Env, Headers};

use super::outbound;
use crate::config::names;
use crate::gateway::{Authorized, BodyError, BodySource};
use crate::http::proxy::{OriginError, ProxySettings};
/// The body of the runtime's request, read on demand and bounded (README "MCP servers").
pub(super) struct RequestBody<'r>(pub(super) &'r web_sys::Request);

impl BodySource for RequestBody<'_> {
    async fn read(&self, limit: usize) -> Result<Vec<u8>, BodyError> {
        // A declared length over the limit is refused before a byte is read.
        let declared = (self.0.headers().get("content-length").ok().flatten())
            .and_then(|l| l.trim().parse::<u64>().ok());
        if declared.is_some_and(|l| l > limit as u64) {
            return Err(BodyError::TooLarge);
        }
        match super::entry::settled(read_body(self.0, limit as f64, declared.is_some())).await {
            Ok(bytes) if bytes.is_null() => Err(BodyError::TooLarge),
            Ok(bytes) => Ok(bytes.unchecked_into::<Uint8Array>().to_vec()),
            Err(_) => Err(BodyError::Unreadable),
        }
    }
}

// The whole body as one buffer, one promise for the request to wait on; null, the upload cancelled, as
// soon as it exceeds `limit` bytes. A body `framed` by a Content-Length (already checked against the limit)
// is read by the runtime in one call; only a body of unknown length is read chunk by chunk and counted.
#[wasm_bindgen(inline_js = "
export function readBody(request, limit, framed) {
  if (request.body === null) return Promise.resolve(new Uint8Array(0));
  if (framed) {
    return request.arrayBuffer().then((b) => (b.byteLength > limit ? null : new Uint8Array(b)));
  }
  return readChunks(request.body.getReader(), limit);
}

async function readChunks(reader, limit) {
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0];
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  return bytes;
}")]
extern "C" {
    // `catch`: a body already used or locked throws at `getReader`, and is unreadable like a failed read.
    #[wasm_bindgen(js_name = readBody, catch)]
    fn read_body(
        request: &web_sys::Request,
        limit: f64,
        framed: bool,
    ) -> Result<js_sys::Promise, JsValue>;
}

/// Sends an authorised request to the origin, `ORIGIN_URL` or the `ORIGIN_SERVICE` Worker. `Err` says
/// why it could not be sent (answered 502 by the caller).
pub async fn forward(
    req: &web_sys::Request,
    env: &Env,
    proxy: &ProxySettings,
    authorized: &Authorized<'_>,
    query: Option<&str>,
) -> Result<web_sys::Response, OriginError> {
    let target = if proxy.service {
        proxy.service_url(&req.url(), &authorized.path, query)
    } else {
        proxy.target_url(&authorized.path, query)
    };
    let incoming: Vec<(String, String)> = Headers(req.headers()).entries().collect();
    let headers = web_sys::Headers::new().map_err(|_| OriginError::InvalidHeader)?;
    let identity = authorized.identity.as_ref().map(|i| i.for_origin());
    for (name, value) in proxy.forward_headers(&incoming, identity) {
        headers
            .append(&name, &value)
            .map_err(|_| OriginError::InvalidHeader)?;
    }
    let method = req.method();
    let body: Option<JsValue> = match &authorized.body {
        // The bytes whose JSON-RPC messages were matched, and no others.
        Some(bytes) => Some(Uint8Array::from(bytes.as_slice()).into()),
        // The client's body stream itself: the Worker never holds the whole body.
        None if !matches!(method.as_str(), "GET" | "HEAD") => req.body().map(Into::into),
        None => None,
    };
    let request = outbound::request(&target, &method, Some(&headers), body.as_ref(), None)
        .map_err(|_| OriginError::InvalidUrl)?;
    // The same request, headers and streamed body to either; only the way it travels differs.
    let binding = if proxy.service {
        names::ORIGIN_SERVICE
    } else {
        ""
    };
    super::entry::settled(outbound::send(env, binding, &request))
        .await
        .map(JsCast::unchecked_into)
        .map_err(|_| OriginError::Unreachable)
}
