//! A future polled by a function of its own, and a branch or a step run as one.
//!
//! The compiler inlines an `async fn` awaited at one place into its caller's state machine, and a function
//! called at one place into its caller, which would make the whole request path one 44 KB function. V8
//! compiles a wasm function whole: with its baseline compiler on its first call, and again in its
//! optimising tier once it has run enough. A young isolate would pay for the token, DPoP, JSON-RPC and proxy
//! code on its first public request, and again when its first requests tier the path up. Awaited through
//! [`OutOfLine`], a step's code stays in one function of its own, compiled when that step runs; [`cold`]
//! and [`apart`] do the same for a branch and a step (README "What each step bought"). wasm-opt inlines any
//! function that has one caller, whatever `#[inline(never)]` says: `Cargo.toml` passes it
//! `--no-inline=*out_of_line*`, which matches this `poll`, `cold` and `apart` by their names while
//! worker-build's pass runs, and `scripts/build.sh` fails if no `poll` is left.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

pin_project_lite::pin_project! {
    pub(crate) struct OutOfLine<F> {
        #[pin]
        inner: F,
    }
}

impl<F: Future> OutOfLine<F> {
    pub(crate) fn new(inner: F) -> Self {
        Self { inner }
    }
}

impl<F: Future> Future for OutOfLine<F> {
    type Output = F::Output;

    #[inline(never)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().inner.poll(cx)
    }
}

/// Runs a step only some requests or configurations take (the DPoP proof's checks, which a Bearer request
/// never runs; the parsing of a setting an isolate may not have) in a function of its own. V8 compiles a
/// wasm function whole, on its first call: a step inside a function every request calls is compiled by the
/// first request of every isolate, whether it runs or not. Unlike [`cold`], this tells the compiler nothing
/// about how often the step runs: where it runs, it may run on every request.
#[inline(never)]
pub(crate) fn apart<R>(step: impl FnOnce() -> R) -> R {
    step()
}

/// Runs a branch few requests take (a metadata document, a preflight, a refusal, or what only some
/// configurations run: metrics, nonces) in a function of its own, so that the function every request runs
/// stays small for V8 to compile in its optimising tier.
#[cold]
#[inline(never)]
pub(crate) fn cold<R>(branch: impl FnOnce() -> R) -> R {
    branch()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_the_inner_output_through() {
        let answer = futures_executor::block_on(OutOfLine::new(async { 6 * 7 }));
        assert_eq!(answer, 42);
        assert_eq!(cold(|| 6 * 7), 42);
        assert_eq!(apart(|| 6 * 7), 42);
    }
}
