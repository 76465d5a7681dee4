//! Proxy mode in the Worker: the request goes to the origin with the headers the core chose, its body
//! streamed, never buffered (except on a route with JSON-RPC rules, whose body the gateway read: those
//! same bytes are sent); the origin's response comes back as it is, body streamed.

use js_sys::Uint8Array;
use wasm_bindgen::JsCast;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{Fetch, Headers, Method, Request, RequestInit, RequestRedirect, Response};

use crate::gateway::{Authorized, BodyError, BodySource};
use crate::http::proxy::{OriginError, ProxySettings};

/// The body of the runtime's request, read on demand and bounded (README "MCP servers").
pub(super) struct RequestBody<'r>(pub(super) &'r web_sys::Request);

impl BodySource for RequestBody<'_> {
    async fn read(&self, limit: usize) -> Result<Vec<u8>, BodyError> {
        // A declared length over the limit is refused before a byte is read.
        let declared = self.0.headers().get("content-length").ok().flatten();
        if declared
            .and_then(|l| l.trim().parse::<u64>().ok())
            .is_some_and(|l| l > limit as u64)
        {
            return Err(BodyError::TooLarge);
        }
        let Some(stream) = self.0.body() else {
            return Ok(Vec::new());
        };
        let reader: web_sys::ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
        let mut bytes = Vec::new();
        loop {
            let chunk: web_sys::ReadableStreamReadResult = JsFuture::from(reader.read())
                .await
                .map_err(|_| BodyError::Unreadable)?
                .unchecked_into();
            if chunk.get_done() == Some(true) {
                return Ok(bytes);
            }
            let chunk = Uint8Array::new(&chunk.get_value());
            let start = bytes.len();
            let end = start + chunk.length() as usize;
            if end > limit {
                // Stop the upload: nothing more of it is wanted.
                let _ = reader.cancel();
                return Err(BodyError::TooLarge);
            }
            bytes.resize(end, 0);
            chunk.copy_to(&mut bytes[start..]);
        }
    }
}

/// Sends an authorised request to the origin. `Err` says why it could not be sent (answered 502 by the
/// caller).
pub async fn forward(
    req: &web_sys::Request,
    proxy: &ProxySettings,
    authorized: &Authorized,
    query: Option<&str>,
) -> Result<Response, OriginError> {
    let target = proxy.target_url(&authorized.path, query);
    let incoming: Vec<(String, String)> = Headers(req.headers()).entries().collect();
    let headers = Headers::new();
    let identity = authorized.identity.as_ref().map(|i| i.for_origin());
    for (name, value) in proxy.forward_headers(&incoming, identity) {
        headers
            .append(&name, &value)
            .map_err(|_| OriginError::InvalidHeader)?;
    }
    let method = Method::from(req.method());
    let mut init = RequestInit::new();
    init.with_method(method.clone())
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual);
    match &authorized.body {
        // The bytes whose JSON-RPC messages were matched, and no others.
        Some(bytes) => {
            init.with_body(Some(Uint8Array::from(bytes.as_slice()).into()));
        }
        // The client's body stream itself: the Worker never holds the whole body.
        None if !matches!(method, Method::Get | Method::Head) => {
            init.with_body(req.body().map(Into::into));
        }
        None => {}
    }
    let request = Request::new_with_init(&target, &init).map_err(|_| OriginError::InvalidUrl)?;
    Fetch::Request(request)
        .send()
        .await
        .map_err(|_| OriginError::Unreachable)
}
