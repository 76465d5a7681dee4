//! The exported fetch handler. Most requests never wait for I/O (a public route, a token seen before, a
//! new token under cached keys), so the request's future is polled once, at once: a response ready then is
//! returned as it is, without the promise, the microtask and the closures `future_to_promise` costs on
//! every request (README "Performance"). Only a request still pending is handed to `future_to_promise`.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::wasm_bindgen_futures::future_to_promise;
use worker::{worker_sys, Env};

/// `fetch(request, env, ctx)`: a `Response`, or a promise of one when the request waits for I/O.
#[wasm_bindgen]
pub fn fetch(req: web_sys::Request, env: Env, ctx: worker_sys::Context) -> JsValue {
    let mut request: Pin<Box<dyn Future<Output = web_sys::Response>>> =
        Box::pin(super::serve_request(req, env, worker::Context::new(ctx)));
    let relay = Arc::new(Relay::default());
    let waker = Waker::from(relay.clone());
    match request.as_mut().poll(&mut Context::from_waker(&waker)) {
        Poll::Ready(response) => response.into(),
        Poll::Pending => future_to_promise(async move {
            let response = poll_fn(|cx| {
                relay.forward_to(cx.waker());
                request.as_mut().poll(cx)
            })
            .await;
            Ok(response.into())
        })
        .into(),
    }
}

/// The waker of the first poll. Some futures keep the waker of their first poll only (`worker::Delay`
/// does), so a wake-up it receives is passed on to the task that drives the request afterwards.
#[derive(Default)]
struct Relay(Mutex<Option<Waker>>);

impl Relay {
    fn forward_to(&self, task: &Waker) {
        if let Ok(mut slot) = self.0.lock() {
            slot.replace(task.clone());
        }
    }
}

impl Wake for Relay {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Before the task exists there is nothing to wake: its first poll polls the request anyway.
        if let Some(task) = self.0.lock().ok().and_then(|slot| slot.clone()) {
            task.wake();
        }
    }
}
