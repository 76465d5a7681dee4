//! One Analytics Engine data point per request (README "Metrics"), built from what the log line already
//! holds: no JSON, no new string work beyond copying a handful of short labels.
//!
//! A point carries only labels the gateway chose (decision, method, scheme, key source), text from the
//! configuration (route pattern, issuer) or from a typed refusal reason, and numbers. Never a header
//! value, token, proof, key id or secret; the caller's `sub` only with `METRICS_INCLUDE_SUB=true`.

use crate::config::Metrics;
use crate::http::authorization::Scheme;

/// What a request's data point is made from.
#[derive(Debug, Clone, Default)]
pub struct Observation<'a> {
    /// The request method as received; only known methods are recorded.
    pub method: &'a str,
    /// The matched rule's pattern.
    pub route: Option<&'a str>,
    /// `allow`, `preflight` or the error code.
    pub decision: &'a str,
    /// The refusal reason (`GatewayError::description`).
    pub reason: Option<&'a str>,
    /// The issuer URL of the token, from the configuration.
    pub issuer: Option<&'a str>,
    /// Where the signing key came from: `memory` or `refreshed`.
    pub key_source: Option<&'static str>,
    pub scheme: Option<Scheme>,
    pub sub: Option<&'a str>,
    pub origin_status: Option<u16>,
    pub key_fetches: usize,
    /// Total time of the key fetches, in milliseconds.
    pub key_fetch_ms: f64,
    /// Time the request took, in milliseconds.
    pub ms: f64,
}

/// An Analytics Engine data point: blobs and doubles in the fixed order the README's queries name
/// (`blob1`..`blob8`, `double1`..`double4`). Its index (the sampling key) is the route, `blob1`:
/// Analytics Engine samples per index, so a busy route never hides a quiet one.
#[derive(Debug, Clone, PartialEq)]
pub struct DataPoint<'a> {
    /// route, decision, reason, issuer, key source, scheme, method, sub.
    pub blobs: [&'a str; 8],
    /// duration ms, origin status, key fetches, key fetch ms.
    pub doubles: [f64; 4],
}

/// Methods recorded as they are; any other is `OTHER` (a method is request bytes).
const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

impl<'a> Observation<'a> {
    /// The data point of this request.
    pub fn data_point(&self, settings: Metrics) -> DataPoint<'a> {
        let method = METHODS
            .into_iter()
            .find(|m| *m == self.method)
            .unwrap_or("OTHER");
        let scheme = match self.scheme {
            Some(Scheme::Bearer) => "bearer",
            Some(Scheme::Dpop) => "dpop",
            None => "",
        };
        let sub = if settings.include_sub { self.sub } else { None };
        let route = self.route.unwrap_or("");
        DataPoint {
            blobs: [
                route,
                self.decision,
                self.reason.unwrap_or(""),
                self.issuer.unwrap_or(""),
                self.key_source.unwrap_or(""),
                scheme,
                method,
                sub.unwrap_or(""),
            ],
            doubles: [
                self.ms,
                f64::from(self.origin_status.unwrap_or(0)),
                self.key_fetches as f64,
                self.key_fetch_ms,
            ],
        }
    }
}

impl DataPoint<'_> {
    /// The blobs as one string, and where each ends in it in UTF-16 code units (JavaScript string
    /// indices): the adapter hands JavaScript one string to cut instead of eight to decode.
    pub fn joined_blobs(&self) -> (String, [u32; 8]) {
        let mut joined = String::with_capacity(self.blobs.iter().map(|b| b.len()).sum());
        let mut ends = [0u32; 8];
        let mut end = 0usize;
        for (blob, slot) in self.blobs.iter().zip(&mut ends) {
            joined.push_str(blob);
            end += if blob.is_ascii() {
                blob.len()
            } else {
                blob.encode_utf16().count()
            };
            *slot = u32::try_from(end).unwrap_or(u32::MAX);
        }
        (joined, ends)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_and_doubles_in_documented_order() {
        let observation = Observation {
            method: "GET",
            route: Some("/api/*"),
            decision: "allow",
            issuer: Some("https://tenant.auth0.com/"),
            key_source: Some("refreshed"),
            scheme: Some(Scheme::Dpop),
            sub: Some("auth0|alice"),
            origin_status: Some(204),
            key_fetches: 2,
            key_fetch_ms: 12.5,
            ms: 3.0,
            ..Observation::default()
        };
        let point = observation.data_point(Metrics { include_sub: false });
        assert_eq!(
            point,
            DataPoint {
                blobs: [
                    "/api/*",
                    "allow",
                    "",
                    "https://tenant.auth0.com/",
                    "refreshed",
                    "dpop",
                    "GET",
                    ""
                ],
                doubles: [3.0, 204.0, 2.0, 12.5],
            }
        );
        let with_sub = observation.data_point(Metrics { include_sub: true });
        assert_eq!(with_sub.blobs[7], "auth0|alice");
    }

    #[test]
    fn joined_blobs_cut_back_into_the_blobs() {
        let point = DataPoint {
            blobs: [
                "/api/*",
                "",
                "bad \u{e9}t\u{e9}",
                "https://t/",
                "",
                "dpop",
                "GET",
                "auth0|\u{1f600}x",
            ],
            doubles: [0.0; 4],
        };
        let (joined, ends) = point.joined_blobs();
        let units: Vec<u16> = joined.encode_utf16().collect();
        let mut start = 0;
        for (blob, end) in point.blobs.iter().zip(ends) {
            let end = end as usize;
            assert_eq!(String::from_utf16(&units[start..end]).unwrap(), *blob);
            start = end;
        }
        assert_eq!(start, units.len());
    }

    #[test]
    fn unknown_methods_are_not_recorded() {
        let observation = Observation {
            method: "eyJhbGciOiJSUzI1NiJ9",
            decision: "not_found",
            ..Observation::default()
        };
        let point = observation.data_point(Metrics { include_sub: true });
        assert_eq!(point.blobs[6], "OTHER");
        assert_eq!(point.blobs[0], "");
    }
}
