//! Writes a request's data point to the `METRICS` Analytics Engine dataset (README "Metrics"). The
//! point is built in the core; a write that fails never changes the response.

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::Env;

use crate::config::names;
use crate::gateway::metrics::DataPoint;

// One call into JavaScript per request: the point's object is built on that side from plain arguments
// (strings are decoded by the glue code), instead of one boundary crossing per blob and double.
#[wasm_bindgen(inline_js = "
export function writePoint(env, binding, index, b1, b2, b3, b4, b5, b6, b7, b8, d1, d2, d3, d4) {
  env[binding].writeDataPoint({
    indexes: [index],
    blobs: [b1, b2, b3, b4, b5, b6, b7, b8],
    doubles: [d1, d2, d3, d4],
  });
}")]
extern "C" {
    #[allow(clippy::too_many_arguments)] // the point's fields, one argument each
    #[wasm_bindgen(js_name = writePoint, catch)]
    fn write_point(
        env: &JsValue,
        binding: &str,
        index: &str,
        b1: &str,
        b2: &str,
        b3: &str,
        b4: &str,
        b5: &str,
        b6: &str,
        b7: &str,
        b8: &str,
        d1: f64,
        d2: f64,
        d3: f64,
        d4: f64,
    ) -> Result<(), JsValue>;
}

pub(super) fn write(env: &Env, point: &DataPoint<'_>) {
    let [b1, b2, b3, b4, b5, b6, b7, b8] = point.blobs;
    let [d1, d2, d3, d4] = point.doubles;
    // Analytics Engine buffers the point and sends it after the response; a failure is not the client's.
    let _ = write_point(
        env,
        names::METRICS,
        point.index,
        b1,
        b2,
        b3,
        b4,
        b5,
        b6,
        b7,
        b8,
        d1,
        d2,
        d3,
        d4,
    );
}
