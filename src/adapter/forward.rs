//! Proxy mode in the Worker: the request goes to the origin with the headers the core chose, its body
//! streamed, never buffered; the origin's response comes back as it is, body streamed.

use worker::{Fetch, Headers, Method, Request, RequestInit, RequestRedirect, Response};

use crate::gateway::Authorized;
use crate::http::proxy::{OriginIdentity, ProxySettings};

/// Sends an authorised request to the origin. `Err` carries a reason for the log when the origin cannot
/// be reached (answered 502 by the caller).
pub async fn forward(
    req: &web_sys::Request,
    proxy: &ProxySettings,
    authorized: &Authorized<'_>,
    query: Option<&str>,
) -> Result<Response, &'static str> {
    let target = proxy.target_url(&authorized.path, query);
    let incoming: Vec<(String, String)> = Headers(req.headers()).entries().collect();
    let headers = Headers::new();
    let identity = authorized.identity.as_ref().map(|id| OriginIdentity {
        sub: id.claims.sub.as_deref(),
        scopes: &id.claims.scopes,
        claims: &id.claims.all,
    });
    for (name, value) in proxy.forward_headers(&incoming, identity) {
        headers
            .append(&name, &value)
            .map_err(|_| "a forwarded header is invalid")?;
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
    let request =
        Request::new_with_init(&target, &init).map_err(|_| "the origin URL is invalid")?;
    Fetch::Request(request)
        .send()
        .await
        .map_err(|_| "the origin is unreachable")
}
