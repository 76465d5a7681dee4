//! Building responses: the core renders errors and chooses headers; this only writes them.

use worker::{Headers, Response, ResponseBuilder, Result};

use crate::error::{ChallengeContext, GatewayError, ResourceChallenge};
use crate::gateway::METADATA_HEADERS;
use crate::http::authorization::DpopMode;
use crate::jose::dpop::PROOF_ALGS;

pub(super) fn json(status: u16, body: String) -> Result<Response> {
    let response = ResponseBuilder::new()
        .with_status(status)
        .with_header("content-type", "application/json")?
        .with_header("cache-control", "no-store")?
        .fixed(body.into_bytes());
    Ok(response)
}

pub(super) fn empty(status: u16, headers: &[(&'static str, String)]) -> Result<Response> {
    let mut builder = ResponseBuilder::new().with_status(status);
    for (name, value) in headers {
        builder = builder.with_header(name, value)?;
    }
    Ok(builder.empty())
}

/// A resource metadata document (README "MCP servers"); a HEAD gets the headers alone.
pub(super) fn metadata(document: &str, method: &str) -> Result<Response> {
    let mut builder = ResponseBuilder::new().with_status(200);
    for (name, value) in METADATA_HEADERS {
        builder = builder.with_header(name, value)?;
    }
    Ok(match method {
        "HEAD" => builder.empty(),
        _ => builder.fixed(document.as_bytes().to_vec()),
    })
}

pub(super) fn error(
    error: &GatewayError,
    mode: DpopMode,
    resource: Option<ResourceChallenge<'_>>,
) -> Result<Response> {
    let rendered = error.render(ChallengeContext {
        mode,
        dpop_algs: PROOF_ALGS,
        resource,
    });
    let mut builder = ResponseBuilder::new().with_status(rendered.status);
    for (name, value) in &rendered.headers {
        builder = builder.with_header(name, value)?;
    }
    Ok(builder.fixed(rendered.body.into_bytes()))
}

/// Adds headers to a response; a response from the origin has immutable headers, so it is rebuilt
/// around the same streamed body.
pub(super) fn with_headers(
    response: Response,
    extra: &[(&'static str, String)],
) -> Result<Response> {
    if extra.is_empty() {
        return Ok(response);
    }
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
