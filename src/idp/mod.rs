//! The identity provider: the accepted issuers, their OIDC discovery documents, the key cache that
//! decides when keys are fetched, and the refresh plan that decides where they come from (the Workers
//! adapter performs the reads and fetches).

pub mod discovery;
pub mod issuer;
pub mod key_cache;
pub mod refresh;

use std::sync::Arc;

use crate::jose::jwks::VerifyingKey;

pub use issuer::{parse_issuer, Issuer};
pub use key_cache::KeyError;

/// Where verification keys come from: the isolate cache backed by the IdP in the Worker, a fixed set in
/// tests.
#[allow(async_fn_in_trait)] // Workers run one thread per isolate; futures need not be Send.
pub trait KeySource {
    /// The key named `kid` of the accepted issuer at index `issuer` (see [`crate::config::Config::issuers`]).
    async fn key(&self, issuer: usize, kid: &str) -> Result<Arc<VerifyingKey>, KeyError>;
}
