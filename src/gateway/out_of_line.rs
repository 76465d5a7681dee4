//! A future polled by a function of its own.
//!
//! The compiler inlines an `async fn` awaited at one place into its caller's state machine, which would
//! make the whole request path one 44 KB function, called on every request. V8 compiles a wasm function
//! again in its optimising tier once it has run enough, and compiles all of it: a young isolate would pay
//! for the token, DPoP, JSON-RPC and proxy code on its first public requests. Awaited through
//! [`OutOfLine`], a step's code stays in one function of its own, compiled when that step runs often
//! (README "What each step bought"). wasm-opt inlines any function that has one caller, whatever
//! `#[inline(never)]` says: `Cargo.toml` passes it `--no-inline=*OutOfLine*`, which matches this `poll` by
//! its name while worker-build's pass runs.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_the_inner_output_through() {
        let answer = futures_executor::block_on(OutOfLine::new(async { 6 * 7 }));
        assert_eq!(answer, 42);
    }
}
