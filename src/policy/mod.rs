//! Route policy: which requests need a token, and what it must carry: scopes, an audience, claims.

pub mod claims;
pub mod jsonrpc;
pub mod resources;
pub mod routes;

pub use claims::{ClaimFailure, ClaimRule};
pub use resources::Resource;
pub use routes::{Access, RouteRule, RouteTable, ScopeMatch};
