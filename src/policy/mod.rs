//! Route policy: which requests need a token, and which scopes they need.

pub mod routes;

pub use routes::{Access, RouteRule, RouteTable, ScopeMatch};
