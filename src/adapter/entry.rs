//! The exported fetch handler and the way its request waits for JavaScript.
//!
//! A request that needs neither credentials nor I/O is answered by the handler's first stage, with no
//! future (`super::arrive`). Most others never wait for I/O either (a token seen before, a new token under
//! cached keys), so their future is polled once, at once, and a response ready then is returned as it is. A
//! request that waits on a promise through [`settled`] (the rate limiter, a JSON-RPC body, the origin's
//! response, the Cache API, KV and the IdP) hands the promise to `entry.js`, which awaits it natively and
//! calls [`resume`] with the outcome: no `future_to_promise`, no closures, no microtask queue of
//! `wasm-bindgen-futures` (README "Performance"). A request pending on anything else (a timer, while it
//! waits for another request's key fetch) goes to `future_to_promise`, and from then on [`settled`] awaits
//! like `JsFuture`, as it does in background refreshes, which `waitUntil` runs outside any request.

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::wasm_bindgen_futures::{future_to_promise, JsFuture};
use worker::{worker_sys, Env};

use super::Arrived;

/// A request's future, from the handler's second stage.
pub(super) type Request = Pin<Box<dyn Future<Output = web_sys::Response>>>;

thread_local! {
    /// Requests waiting on a promise that `entry.js` awaits, by task number.
    static WAITING: RefCell<Vec<Option<Request>>> = const { RefCell::new(Vec::new()) };
    /// Set while this module polls a request: a [`settled`] then parks its promise in `PARKED`.
    static DRIVING: Cell<bool> = const { Cell::new(false) };
    static PARKED: RefCell<Option<js_sys::Promise>> = const { RefCell::new(None) };
    /// The outcome `resume` brings back, taken by the [`settled`] that parked its promise.
    static OUTCOME: RefCell<Option<Result<JsValue, JsValue>>> = const { RefCell::new(None) };
}

/// `fetch(request, env, ctx)`: a `Response`; or `[task, promise]`, on which `entry.js` calls `resume`
/// with the promise's outcome; or a promise of a `Response`. `env` and `ctx` are borrowed: wasm-bindgen
/// then holds them in its stack of references for the call, instead of a slot of its table each, taken
/// and freed on every request; a request that waits keeps its own (README "What each step bought").
#[wasm_bindgen]
pub fn fetch(req: web_sys::Request, env: &Env, ctx: &worker_sys::Context) -> JsValue {
    match super::arrive(req, env, ctx) {
        Arrived::Answered(response) => response.into(),
        Arrived::Waits(request) => drive(request, None),
    }
}

/// The outcome of the promise of `[task, promise]`: `ok`, the value it resolved to, else the reason it was
/// rejected with. Answers like [`fetch`].
#[wasm_bindgen]
pub fn resume(task: u32, value: JsValue, ok: bool) -> JsValue {
    let request = WAITING.with(|w| w.borrow_mut().get_mut(task as usize).and_then(Option::take));
    match request {
        Some(request) => drive(
            request,
            Some((task, if ok { Ok(value) } else { Err(value) })),
        ),
        // Not a task of this instance: a caller bug, answered like any internal error.
        None => super::internal_error().into(),
    }
}

/// Polls the request once; `task` is its slot when it comes back from `resume`.
fn drive(mut request: Request, resumed: Option<(u32, Result<JsValue, JsValue>)>) -> JsValue {
    let task = resumed.as_ref().map(|(task, _)| *task);
    OUTCOME.with(|o| *o.borrow_mut() = resumed.map(|(_, outcome)| outcome));
    let relay = Arc::new(Relay::default());
    let waker = Waker::from(relay.clone());
    DRIVING.with(|d| d.set(true));
    let poll = request.as_mut().poll(&mut Context::from_waker(&waker));
    DRIVING.with(|d| d.set(false));
    OUTCOME.with(|o| o.borrow_mut().take());
    let parked = PARKED.with(|p| p.borrow_mut().take());
    match (poll, parked) {
        (Poll::Ready(response), _) => response.into(),
        (Poll::Pending, Some(promise)) => {
            let task = park(request, task);
            js_sys::Array::of2(&JsValue::from(task), &promise).into()
        }
        (Poll::Pending, None) => future_to_promise(async move {
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

/// Keeps a waiting request in its slot (or a free one) and returns the slot. Slots are reused, so the
/// table is as long as the most requests that ever waited at once.
fn park(request: Request, task: Option<u32>) -> u32 {
    WAITING.with(|w| {
        let mut waiting = w.borrow_mut();
        let slot = task
            .map(|t| t as usize)
            .or_else(|| waiting.iter().position(Option::is_none))
            .unwrap_or(waiting.len());
        if slot == waiting.len() {
            waiting.push(None);
        }
        waiting[slot] = Some(request);
        slot as u32
    })
}

/// The outcome of a JavaScript call that returns a promise (its error when the call threw): awaited by
/// `entry.js` when this module drives the request, else like `JsFuture`. The request must wait on nothing
/// else meanwhile (it awaits one thing at a time).
pub(super) async fn settled(call: Result<js_sys::Promise, JsValue>) -> Result<JsValue, JsValue> {
    let promise = call?;
    if DRIVING.with(Cell::get) {
        PARKED.with(|p| *p.borrow_mut() = Some(promise));
        let mut parked = true;
        let outcome = poll_fn(|_| {
            if parked {
                parked = false;
                return Poll::Pending;
            }
            match OUTCOME.with(|o| o.borrow_mut().take()) {
                Some(outcome) => Poll::Ready(Some(outcome)),
                // Polled by another driver: the promise was handed to `entry.js` and its outcome
                // cannot come here.
                None => Poll::Ready(None),
            }
        })
        .await;
        return outcome.unwrap_or_else(|| Err(JsValue::from_str("promise outcome lost")));
    }
    JsFuture::from(promise).await
}

/// The waker of a poll by [`drive`]. Some futures keep the waker of their first poll only (`worker::Delay`
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
