//! Writes a request's data point to the `METRICS` Analytics Engine dataset (README "Metrics"). The
//! point is built in the core; a write that fails never changes the response.

use worker::{AnalyticsEngineDataPointBuilder, Env};

use crate::config::names;
use crate::gateway::metrics::DataPoint;

pub(super) fn write(env: &Env, point: &DataPoint<'_>) {
    let Ok(dataset) = env.analytics_engine(names::METRICS) else {
        return;
    };
    // Analytics Engine buffers the point and sends it after the response; the call itself is cheap.
    let _ = AnalyticsEngineDataPointBuilder::new()
        .indexes([point.index])
        .blobs(point.blobs)
        .doubles(point.doubles)
        .write_to(&dataset);
}
