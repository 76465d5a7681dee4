//! Writes a request's data point to the `METRICS` Analytics Engine dataset (README "Metrics"). The
//! point is built in the core; a write that fails never changes the response.

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::Env;

use crate::config::names;
use crate::gateway::metrics::DataPoint;

// One call into JavaScript per request, with the blobs in one string that JavaScript cuts at their ends
// (UTF-16 indices): one string decoded by the glue code instead of one per blob.
#[wasm_bindgen(inline_js = "
export function writePoint(env, binding, blobs, e1, e2, e3, e4, e5, e6, e7, d1, d2, d3, d4) {
  const route = blobs.slice(0, e1);
  env[binding].writeDataPoint({
    indexes: [route],
    blobs: [route, blobs.slice(e1, e2), blobs.slice(e2, e3), blobs.slice(e3, e4), blobs.slice(e4, e5),
      blobs.slice(e5, e6), blobs.slice(e6, e7), blobs.slice(e7)],
    doubles: [d1, d2, d3, d4],
  });
}")]
extern "C" {
    #[allow(clippy::too_many_arguments)] // the point's cut points and doubles, one argument each
    #[wasm_bindgen(js_name = writePoint, catch)]
    fn write_point(
        env: &JsValue,
        binding: &JsValue,
        blobs: &str,
        e1: u32,
        e2: u32,
        e3: u32,
        e4: u32,
        e5: u32,
        e6: u32,
        e7: u32,
        d1: f64,
        d2: f64,
        d3: f64,
        d4: f64,
    ) -> Result<(), JsValue>;
}

thread_local! {
    /// The binding's name as a JavaScript string, made once per isolate.
    static BINDING: JsValue = JsValue::from_str(names::METRICS);
}

/// Writes the point; its index is the route, the first blob (see `DataPoint`).
pub(super) fn write(env: &Env, point: &DataPoint<'_>) {
    let (blobs, [e1, e2, e3, e4, e5, e6, e7, _]) = point.joined_blobs();
    let [d1, d2, d3, d4] = point.doubles;
    // Analytics Engine buffers the point and sends it after the response; a failure is not the client's.
    let _ = BINDING.with(|binding| {
        write_point(
            env, binding, &blobs, e1, e2, e3, e4, e5, e6, e7, d1, d2, d3, d4,
        )
    });
}
