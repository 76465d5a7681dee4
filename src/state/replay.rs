//! DPoP replay detection (RFC 9449 section 11.1): a proof's (key thumbprint, `jti`) may be used once
//! while the proof is valid.
//!
//! The in-isolate cache is bounded and cannot be flushed: when it is full it refuses new proofs (503)
//! rather than forget live entries, so a flood never re-opens a replay window. Each key may hold at most
//! a quarter of the capacity, so one client flooding with its own key cannot lock others out.

use std::collections::HashMap;

use sha2::Digest;

use crate::crypto::sha256::Sha256;

/// Where DPoP proofs are recorded against replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayStoreKind {
    /// In this isolate's memory, bounded to `capacity` live proofs.
    Isolate { capacity: usize },
    /// In a Durable Object (binding `DPOP_REPLAY`), shared by every isolate.
    DurableObject,
}

/// Why a proof cannot be recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayError {
    /// This (thumbprint, jti) was seen while still valid.
    Replayed,
    /// The store is full of live entries (or this key used its share).
    Full,
    /// The shared store cannot be reached: fail closed.
    Unavailable,
}

/// Where seen proofs are recorded.
#[allow(async_fn_in_trait)] // Workers run one thread per isolate; futures need not be Send.
pub trait ReplayStore {
    /// Records (jkt, jti) until `expires_at`, or fails if it is already recorded.
    async fn check_and_record(
        &self,
        jkt: &str,
        jti: &str,
        expires_at: u64,
        now: u64,
    ) -> Result<(), ReplayError>;
}

/// A bounded in-memory record of seen proofs, for one isolate.
#[derive(Debug)]
pub struct ReplayCache {
    /// SHA-256 of (jkt, jti) to expiry.
    entries: HashMap<[u8; 32], (u64, [u8; 8])>,
    /// Live entries per key ([`key_id`]).
    per_key: HashMap<[u8; 8], usize>,
    capacity: usize,
    per_key_limit: usize,
    last_sweep: u64,
}

impl ReplayCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            per_key: HashMap::new(),
            capacity: capacity.max(1),
            per_key_limit: (capacity / 4).max(1),
            last_sweep: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Records (jkt, jti) until `expires_at` unless it is already recorded and live.
    pub fn check_and_record(
        &mut self,
        jkt: &str,
        jti: &str,
        expires_at: u64,
        now: u64,
    ) -> Result<(), ReplayError> {
        let id = entry_id(jkt, jti);
        if let Some(&(expiry, _)) = self.entries.get(&id) {
            if expiry > now {
                return Err(ReplayError::Replayed);
            }
        }
        let key = key_id(jkt);
        if self.entries.len() >= self.capacity
            || self.per_key.get(&key).copied().unwrap_or(0) >= self.per_key_limit
        {
            self.sweep(now);
            if self.entries.len() >= self.capacity
                || self.per_key.get(&key).copied().unwrap_or(0) >= self.per_key_limit
            {
                return Err(ReplayError::Full);
            }
        }
        if self.entries.insert(id, (expires_at, key)).is_none() {
            *self.per_key.entry(key).or_default() += 1;
        }
        Ok(())
    }

    /// Drops expired entries; at most once per second, so a full cache under load costs little.
    fn sweep(&mut self, now: u64) {
        if now == self.last_sweep {
            return;
        }
        self.last_sweep = now;
        let per_key = &mut self.per_key;
        self.entries.retain(|_, (expiry, key)| {
            let live = *expiry > now;
            if !live {
                if let Some(count) = per_key.get_mut(key) {
                    *count -= 1;
                }
            }
            live
        });
        per_key.retain(|_, count| *count > 0);
    }
}

impl ReplayStore for std::cell::RefCell<ReplayCache> {
    async fn check_and_record(
        &self,
        jkt: &str,
        jti: &str,
        expires_at: u64,
        now: u64,
    ) -> Result<(), ReplayError> {
        self.borrow_mut()
            .check_and_record(jkt, jti, expires_at, now)
    }
}

/// The record id of (jkt, jti): a hash, so that stored ids reveal neither.
pub fn entry_id(jkt: &str, jti: &str) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update((jkt.len() as u64).to_be_bytes());
    hash.update(jkt.as_bytes());
    hash.update(jti.as_bytes());
    hash.finalize().into()
}

/// The key a proof's share of the cache is counted under: the thumbprint's first eight characters, 48
/// bits of SHA-256 output. Making a key that shares them with another client's is a 2^48 search, and
/// would only let that client's share fill sooner, which four keys of one's own can do to the whole cache.
fn key_id(jkt: &str) -> [u8; 8] {
    let mut id = [0u8; 8];
    let n = jkt.len().min(8);
    id[..n].copy_from_slice(&jkt.as_bytes()[..n]);
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proof_is_accepted_once_while_valid() {
        let mut cache = ReplayCache::new(100);
        assert_eq!(cache.check_and_record("k", "j1", 400, 100), Ok(()));
        assert_eq!(
            cache.check_and_record("k", "j1", 400, 399),
            Err(ReplayError::Replayed)
        );
        assert_eq!(
            cache.check_and_record("other", "j1", 400, 100),
            Ok(()),
            "jti is per key"
        );
        // Once expired, the proof itself is too old; recording again is harmless.
        assert_eq!(cache.check_and_record("k", "j1", 800, 400), Ok(()));
    }

    #[test]
    fn a_flood_never_evicts_live_entries() {
        let mut cache = ReplayCache::new(100);
        for key in 0..4 {
            for i in 0..25 {
                cache
                    .check_and_record(&format!("k{key}"), &format!("j{i}"), 400, 100)
                    .unwrap();
            }
        }
        assert_eq!(cache.len(), 100);
        // Full of live entries: new proofs are refused, old ones stay recorded.
        assert_eq!(
            cache.check_and_record("attacker", "x", 400, 101),
            Err(ReplayError::Full)
        );
        assert_eq!(
            cache.check_and_record("k0", "j0", 400, 102),
            Err(ReplayError::Replayed)
        );
        // Once they expire, room comes back.
        assert_eq!(cache.check_and_record("attacker", "x", 800, 400), Ok(()));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn one_key_cannot_take_the_whole_cache() {
        let mut cache = ReplayCache::new(100);
        for i in 0..25 {
            cache
                .check_and_record("flooder", &i.to_string(), 400, 100)
                .unwrap();
        }
        assert_eq!(
            cache.check_and_record("flooder", "26", 400, 100),
            Err(ReplayError::Full)
        );
        assert_eq!(cache.check_and_record("victim", "1", 400, 100), Ok(()));
    }

    #[test]
    fn a_share_is_counted_by_the_thumbprints_first_characters() {
        let mut cache = ReplayCache::new(8);
        for jti in ["1", "2"] {
            assert_eq!(cache.check_and_record("abcdefgh-1", jti, 400, 100), Ok(()));
        }
        assert_eq!(
            cache.check_and_record("abcdefgh-2", "3", 400, 100),
            Err(ReplayError::Full)
        );
        assert_eq!(cache.check_and_record("abcdefgX-2", "3", 400, 100), Ok(()));
    }
}
