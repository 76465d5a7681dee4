//! Verified-token cache: a token seen before skips parsing and its RSA signature check, the most
//! expensive step of a request. Entries are keyed by SHA-256 of the whole token, bounded in count and
//! bytes, never outlive the token's `exp`, and are valid only while the key that verified them is still the
//! key the JWKS publishes for its `kid` (a key rotated away or a refreshed key set invalidates them).

use std::collections::HashMap;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::jose::jwks::VerifyingKey;
use crate::jose::token::Claims;

/// A verified token's claims, with what decides whether they may still be used.
#[derive(Debug, Clone)]
pub struct CachedToken {
    pub claims: Arc<Claims>,
    pub kid: String,
    /// The key that verified the signature; the entry is used only while the same key is current.
    pub key: Arc<VerifyingKey>,
}

/// The cache of one isolate.
#[derive(Debug)]
pub struct TokenCache {
    entries: HashMap<[u8; 32], (Arc<CachedToken>, usize)>,
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
}

impl TokenCache {
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        Self {
            entries: HashMap::new(),
            bytes: 0,
            max_entries: max_entries.max(1),
            max_bytes,
        }
    }

    /// The cache key of a token.
    pub fn key_of(token: &str) -> [u8; 32] {
        Sha256::digest(token.as_bytes()).into()
    }

    /// A cached verification of `id`, unless it has expired at `now` (with `leeway`).
    pub fn get(&mut self, id: &[u8; 32], now: u64, leeway: u64) -> Option<Arc<CachedToken>> {
        let (entry, _) = self.entries.get(id)?;
        // RFC 7519 section 4.1.4, as in token::check_claims.
        if now as f64 >= entry.claims.exp + leeway as f64 {
            self.remove(id);
            return None;
        }
        Some(entry.clone())
    }

    /// Forgets an entry (its key is no longer current).
    pub fn remove(&mut self, id: &[u8; 32]) {
        if let Some((_, size)) = self.entries.remove(id) {
            self.bytes -= size;
        }
    }

    /// Records a verified token; `size` approximates its memory (the token length is a fair measure).
    pub fn insert(&mut self, id: [u8; 32], token: CachedToken, size: usize, now: u64) {
        let size = size + 128;
        if size > self.max_bytes {
            return;
        }
        if self.entries.len() >= self.max_entries || self.bytes + size > self.max_bytes {
            self.make_room(size, now);
        }
        if let Some((_, old)) = self.entries.insert(id, (Arc::new(token), size)) {
            self.bytes -= old;
        }
        self.bytes += size;
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Drops expired entries, then arbitrary ones (picked in one pass) until the cache is at three quarters
    /// of both budgets with `size` more bytes. Emptying a quarter at a time keeps the scans rare: a cache
    /// full of live tokens under a stream of new ones scans once per many inserts, not once per insert.
    fn make_room(&mut self, size: usize, now: u64) {
        let now = now as f64;
        self.entries.retain(|_, (t, _)| now < t.claims.exp);
        self.bytes = self.entries.values().map(|(_, s)| s).sum();
        let low_entries = self.max_entries - (self.max_entries / 4).max(1);
        let low_bytes = self.max_bytes - self.max_bytes / 4;
        let mut count = self.entries.len().saturating_sub(low_entries);
        let mut excess = (self.bytes + size).saturating_sub(low_bytes);
        let victims: Vec<[u8; 32]> = self
            .entries
            .iter()
            .take_while(|(_, (_, s))| {
                let take = count > 0 || excess > 0;
                count = count.saturating_sub(1);
                excess = excess.saturating_sub(*s);
                take
            })
            .map(|(id, _)| *id)
            .collect();
        for id in victims {
            self.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::jwks::parse_rsa_jwk;
    use crate::test_keys;
    use serde_json::json;

    fn key() -> Arc<VerifyingKey> {
        Arc::new(parse_rsa_jwk(&test_keys::rsa_2048().public_jwk("k1")).unwrap())
    }

    fn token(exp: f64, key: &Arc<VerifyingKey>) -> CachedToken {
        CachedToken {
            claims: Arc::new(Claims {
                exp,
                ..Claims::from_all(json!({"sub": "s"}))
            }),
            kid: "k1".into(),
            key: key.clone(),
        }
    }

    #[test]
    fn entries_never_outlive_exp() {
        let k = key();
        let mut cache = TokenCache::new(10, 1 << 20);
        let id = TokenCache::key_of("t1");
        cache.insert(id, token(1000.0, &k), 100, 900);
        assert!(cache.get(&id, 999, 0).is_some());
        assert!(cache.get(&id, 1000, 0).is_none());
        assert!(cache.is_empty(), "an expired entry is dropped");
        cache.insert(id, token(1000.0, &k), 100, 900);
        assert!(
            cache.get(&id, 1004, 5).is_some(),
            "the clock leeway applies as for fresh tokens"
        );
    }

    #[test]
    fn bounded_in_entries_and_bytes() {
        let k = key();
        let mut cache = TokenCache::new(100, 1 << 20);
        for i in 0..1000 {
            cache.insert(TokenCache::key_of(&i.to_string()), token(1e12, &k), 100, 0);
            assert!(cache.len() <= 100);
        }
        let mut small = TokenCache::new(1000, 10_000);
        for i in 0..1000 {
            small.insert(TokenCache::key_of(&i.to_string()), token(1e12, &k), 1000, 0);
            assert!(small.bytes <= 10_000, "{}", small.bytes);
        }
        // An entry larger than the whole budget is not kept.
        small.insert(TokenCache::key_of("huge"), token(1e12, &k), 20_000, 0);
        assert!(small.get(&TokenCache::key_of("huge"), 0, 0).is_none());
    }

    /// Under a stream of new tokens, a full cache empties a quarter of a budget at once, so that the next
    /// inserts up to that quarter evict nothing: one scan of the entries per many inserts.
    #[test]
    fn eviction_makes_room_for_many_inserts() {
        let k = key();
        // Bound by bytes: 100 entries of 100 + 128 bytes fill 22_800.
        let mut by_bytes = TokenCache::new(1000, 22_800);
        // Bound by count.
        let mut by_count = TokenCache::new(100, 1 << 20);
        for cache in [&mut by_bytes, &mut by_count] {
            for i in 0..100 {
                cache.insert(TokenCache::key_of(&i.to_string()), token(1e12, &k), 100, 0);
            }
            assert_eq!(cache.len(), 100);
            cache.insert(TokenCache::key_of("next"), token(1e12, &k), 100, 0);
            let after = cache.len();
            assert!(
                after <= 76,
                "{after} entries: a quarter made room for the insert"
            );
            for i in 0..(100 - after) {
                cache.insert(
                    TokenCache::key_of(&format!("more{i}")),
                    token(1e12, &k),
                    100,
                    0,
                );
                assert_eq!(cache.len(), after + i + 1, "insert {i} evicted an entry");
            }
        }
    }

    #[test]
    fn expired_entries_go_first() {
        let k = key();
        let mut cache = TokenCache::new(4, 1 << 20);
        for i in 0..3 {
            cache.insert(
                TokenCache::key_of(&format!("old{i}")),
                token(10.0, &k),
                10,
                0,
            );
        }
        let live = TokenCache::key_of("live");
        cache.insert(live, token(1e12, &k), 10, 0);
        cache.insert(TokenCache::key_of("new"), token(1e12, &k), 10, 20);
        assert!(cache.get(&live, 20, 0).is_some());
        assert_eq!(cache.len(), 2);
    }
}
