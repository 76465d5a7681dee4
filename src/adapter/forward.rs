//! Proxy mode in the Worker: the request goes to the origin with the headers the core chose, its body
//! streamed, never buffered; the origin's response comes back as it is, body streamed.

use worker::{Env, Fetch, Headers, Method, Request, RequestInit, RequestRedirect, Response};

use crate::config::names;
use crate::gateway::Authorized;
use crate::http::proxy::{OriginError, ProxySettings};

/// Sends an authorised request to the origin, `ORIGIN_URL` or the `ORIGIN_SERVICE` Worker. `Err` says
/// why it could not be sent (answered 502 by the caller).
pub async fn forward(
    req: &web_sys::Request,
    env: &Env,
    proxy: &ProxySettings,
    authorized: &Authorized,
    query: Option<&str>,
) -> Result<Response, OriginError> {
    let target = if proxy.service {
        proxy.service_url(&req.url(), &authorized.path, query)
    } else {
        proxy.target_url(&authorized.path, query)
    };
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
    if !matches!(method, Method::Get | Method::Head) {
        // The client's body stream itself: the Worker never holds the whole body.
        init.with_body(req.body().map(Into::into));
    }
    let request = Request::new_with_init(&target, &init).map_err(|_| OriginError::InvalidUrl)?;
    let sent = if proxy.service {
        // The same request, headers and streamed body; only the way it travels differs.
        match env.service(names::ORIGIN_SERVICE) {
            Ok(origin) => origin.fetch_request(request).await,
            Err(error) => Err(error),
        }
    } else {
        Fetch::Request(request).send().await
    };
    sent.map_err(|_| OriginError::Unreachable)
}
