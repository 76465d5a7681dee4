//! Requests the Worker sends: to the IdP, the origin and the replay Durable Object. They are built on the
//! runtime's own `Request` and `RequestInit`, not `worker`'s wrappers, whose conversion serialises `cf`
//! options the gateway never sets and brings `serde_wasm_bindgen` into the module (README "Size").

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::Env;

/// A request with redirects left to the caller (never followed): `body` a byte array or a stream,
/// `signal` the caller's timeout.
pub(super) fn request(
    url: &str,
    method: &str,
    headers: Option<&web_sys::Headers>,
    body: Option<&JsValue>,
    signal: Option<&web_sys::AbortSignal>,
) -> Result<web_sys::Request, JsValue> {
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    if let Some(headers) = headers {
        init.set_headers(headers);
    }
    init.set_redirect(web_sys::RequestRedirect::Manual);
    if let Some(body) = body {
        init.set_body(body);
    }
    init.set_signal(signal);
    web_sys::Request::new_with_str_and_init(url, &init)
}

// The request sent: through the service binding named `binding`, or with the global `fetch` when it is "".
#[wasm_bindgen(inline_js = "
export function send(env, binding, request) {
  return binding === '' ? globalThis.fetch(request) : env[binding].fetch(request);
}")]
extern "C" {
    #[wasm_bindgen(catch)]
    pub(super) fn send(
        env: &Env,
        binding: &str,
        request: &web_sys::Request,
    ) -> Result<js_sys::Promise, JsValue>;
}
