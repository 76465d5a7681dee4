//! What one isolate remembers between requests: tokens it has verified, DPoP proofs it has seen, and
//! the DPoP keys it has verified proofs with.

use std::cell::RefCell;

pub mod proof_keys;
pub mod replay;
pub mod token_cache;

use proof_keys::ProofKeyCache;
use token_cache::TokenCache;

/// What spares later requests of one isolate work: verified tokens and prepared DPoP keys.
#[derive(Debug)]
pub struct Caches {
    pub tokens: RefCell<TokenCache>,
    pub proof_keys: RefCell<ProofKeyCache>,
}

impl Caches {
    pub fn new(tokens: TokenCache, proof_keys: ProofKeyCache) -> Self {
        Self {
            tokens: RefCell::new(tokens),
            proof_keys: RefCell::new(proof_keys),
        }
    }
}
