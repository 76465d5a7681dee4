//! What one isolate remembers between requests: tokens it has verified, and DPoP proofs it has seen.

pub mod replay;
pub mod token_cache;
