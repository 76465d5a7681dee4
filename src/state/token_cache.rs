//! Verified-token cache: a token seen before skips parsing and its RSA signature check, the most
//! expensive step of a request. Entries hold the whole token, compared byte for byte on every lookup, are
//! bounded in count and bytes, never outlive the token's `exp`, and are valid only while the key that
//! verified them is still the key the JWKS publishes for its `kid` (a key rotated away or a refreshed key
//! set invalidates them).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, OnceLock};

use crate::jose::dpop::access_token_hash;
use crate::jose::jwks::VerifyingKey;
use crate::jose::token::Claims;

/// A verified token's claims, with what decides whether they may still be used.
#[derive(Debug, Clone)]
pub struct CachedToken {
    pub claims: Arc<Claims>,
    pub kid: Arc<str>,
    /// The key that verified the signature; the entry is used only while the same key is current.
    pub key: Arc<VerifyingKey>,
    /// The token's `ath`, hashed on its first DPoP request: a client sends every proof with the same
    /// token, and its hash was most of a proof's SHA-256 work (README "What each step bought").
    pub(crate) ath: OnceLock<String>,
}

impl CachedToken {
    pub fn new(claims: Arc<Claims>, kid: Arc<str>, key: Arc<VerifyingKey>) -> Self {
        Self {
            claims,
            kid,
            key,
            ath: OnceLock::new(),
        }
    }

    /// `ath` (RFC 9449 section 4.2) of `token`, which must be the token this entry was found for.
    pub fn access_token_hash(&self, token: &str) -> &str {
        self.ath.get_or_init(|| access_token_hash(token))
    }
}

/// One entry: the token it was verified for, its verification, and the bytes it counts for.
#[derive(Debug)]
struct Entry {
    token: Box<str>,
    verified: Arc<CachedToken>,
    size: usize,
}

/// The cache of one isolate.
///
/// Entries are found by a fingerprint of the token's last 16 bytes, which fall in its signature: for a token
/// the issuer signed they are as good as random, so two cached tokens practically never share one, and a
/// token that does (one an attacker shaped) finds an entry whose token differs and counts as a miss. Only
/// verified tokens are inserted, so no one but the issuer chooses what the map holds. A cryptographic hash of
/// the whole token would be more than half of a token seen before's work in the gateway (README "What each
/// step bought").
#[derive(Debug)]
pub struct TokenCache {
    entries: HashMap<u64, Entry, BuildHasherDefault<Spread>>,
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
}

/// The fingerprint a token is filed under: its last 16 bytes (fewer for a shorter token), folded into 64
/// bits.
fn fingerprint(token: &str) -> u64 {
    let bytes = token.as_bytes();
    let mut tail = [0u8; 16];
    let take = bytes.len().min(16);
    tail[16 - take..].copy_from_slice(&bytes[bytes.len() - take..]);
    let [low, high] =
        [&tail[..8], &tail[8..]].map(|half| u64::from_le_bytes(half.try_into().expect("8 bytes")));
    low.rotate_left(32) ^ high ^ take as u64
}

/// The map's hash of a fingerprint: its bits spread by one multiplication, so that the bucket and the tag
/// the map takes from the low and high bits both depend on all of it. No keyed hash is needed, as nothing
/// but the issuer's signatures chooses what is inserted (see [`TokenCache`]); SipHash took a few hundred
/// instructions per lookup (README "What each step bought").
#[derive(Debug, Default)]
struct Spread(u64);

impl Hasher for Spread {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0 ^ x ^ (x >> 32)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Whether `a` and `b` are the same token, eight bytes at a time. `str`'s equality calls `memcmp`, which
/// on wasm32 compares one byte at a time, and a token seen before is compared whole on every request.
fn same_token(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let ((a_words, a_tail), (b_words, b_tail)) = (a.as_chunks::<8>(), b.as_chunks::<8>());
    let words = a_words.iter().zip(b_words).fold(0, |diff, (x, y)| {
        diff | (u64::from_ne_bytes(*x) ^ u64::from_ne_bytes(*y))
    });
    let tail = a_tail
        .iter()
        .zip(b_tail)
        .fold(0, |diff, (x, y)| diff | (x ^ y));
    words == 0 && tail == 0
}

impl TokenCache {
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        Self {
            entries: HashMap::default(),
            bytes: 0,
            max_entries: max_entries.max(1),
            max_bytes,
        }
    }

    /// A cached verification of `token`, unless it has expired at `now` (with `leeway`).
    pub fn get(&mut self, token: &str, now: u64, leeway: u64) -> Option<Arc<CachedToken>> {
        let id = fingerprint(token);
        let entry = self
            .entries
            .get(&id)
            .filter(|e| same_token(&e.token, token))?;
        // RFC 7519 section 4.1.4, as in token::check_claims.
        if now as f64 >= entry.verified.claims.exp + leeway as f64 {
            self.remove_id(id);
            return None;
        }
        Some(entry.verified.clone())
    }

    /// Forgets the entry of `token` (its key is no longer current).
    pub fn remove(&mut self, token: &str) {
        let id = fingerprint(token);
        if self
            .entries
            .get(&id)
            .is_some_and(|e| same_token(&e.token, token))
        {
            self.remove_id(id);
        }
    }

    fn remove_id(&mut self, id: u64) {
        if let Some(entry) = self.entries.remove(&id) {
            self.bytes -= entry.size;
        }
    }

    /// Records a verified token; its size is the token's length plus a fair measure of the rest.
    pub fn insert(&mut self, token: &str, verified: CachedToken, now: u64) {
        let size = token.len() + 128;
        if size > self.max_bytes {
            return;
        }
        if self.entries.len() >= self.max_entries || self.bytes + size > self.max_bytes {
            self.make_room(size, now);
        }
        let entry = Entry {
            token: token.into(),
            verified: Arc::new(verified),
            size,
        };
        if let Some(old) = self.entries.insert(fingerprint(token), entry) {
            self.bytes -= old.size;
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
        self.entries.retain(|_, e| now < e.verified.claims.exp);
        self.bytes = self.entries.values().map(|e| e.size).sum();
        let low_entries = self.max_entries - (self.max_entries / 4).max(1);
        let low_bytes = self.max_bytes - self.max_bytes / 4;
        let mut count = self.entries.len().saturating_sub(low_entries);
        let mut excess = (self.bytes + size).saturating_sub(low_bytes);
        let victims: Vec<u64> = self
            .entries
            .iter()
            .take_while(|(_, e)| {
                let take = count > 0 || excess > 0;
                count = count.saturating_sub(1);
                excess = excess.saturating_sub(e.size);
                take
            })
            .map(|(id, _)| *id)
            .collect();
        for id in victims {
            self.remove_id(id);
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

    /// A token of `len` bytes that ends with `name`.
    fn tok(name: &str, len: usize) -> String {
        format!("{name:x>len$}")
    }

    fn token(exp: f64, key: &Arc<VerifyingKey>) -> CachedToken {
        CachedToken::new(
            Arc::new(Claims {
                exp,
                ..Claims::from_all(json!({"sub": "s"}))
            }),
            "k1".into(),
            key.clone(),
        )
    }

    #[test]
    fn entries_never_outlive_exp() {
        let k = key();
        let mut cache = TokenCache::new(10, 1 << 20);
        let id = tok("t1", 100);
        cache.insert(&id, token(1000.0, &k), 900);
        assert!(cache.get(&id, 999, 0).is_some());
        assert!(cache.get(&id, 1000, 0).is_none());
        assert!(cache.is_empty(), "an expired entry is dropped");
        cache.insert(&id, token(1000.0, &k), 900);
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
            cache.insert(&tok(&i.to_string(), 100), token(1e12, &k), 0);
            assert!(cache.len() <= 100);
        }
        let mut small = TokenCache::new(1000, 10_000);
        for i in 0..1000 {
            small.insert(&tok(&i.to_string(), 1000), token(1e12, &k), 0);
            assert!(small.bytes <= 10_000, "{}", small.bytes);
        }
        // An entry larger than the whole budget is not kept.
        let huge = tok("huge", 20_000);
        small.insert(&huge, token(1e12, &k), 0);
        assert!(small.get(&huge, 0, 0).is_none());
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
                cache.insert(&tok(&i.to_string(), 100), token(1e12, &k), 0);
            }
            assert_eq!(cache.len(), 100);
            cache.insert(&tok("next", 100), token(1e12, &k), 0);
            let after = cache.len();
            assert!(
                after <= 76,
                "{after} entries: a quarter made room for the insert"
            );
            for i in 0..(100 - after) {
                cache.insert(&tok(&format!("more{i}"), 100), token(1e12, &k), 0);
                assert_eq!(cache.len(), after + i + 1, "insert {i} evicted an entry");
            }
        }
    }

    #[test]
    fn expired_entries_go_first() {
        let k = key();
        let mut cache = TokenCache::new(4, 1 << 20);
        for i in 0..3 {
            cache.insert(&tok(&format!("old{i}"), 10), token(10.0, &k), 0);
        }
        let live = tok("live", 10);
        cache.insert(&live, token(1e12, &k), 0);
        cache.insert(&tok("new", 10), token(1e12, &k), 20);
        assert!(cache.get(&live, 20, 0).is_some());
        assert_eq!(cache.len(), 2);
    }

    /// A token equals only itself, whatever its length and wherever another differs from it: in a whole
    /// word or in the tail past the last one.
    #[test]
    fn same_token_compares_every_byte() {
        for len in 0..40 {
            let token: String = (0..len)
                .map(|i| char::from(b'a' + (i % 26) as u8))
                .collect();
            assert!(same_token(&token, &token.clone()), "{len}");
            assert!(!same_token(&token, &format!("{token}a")), "{len}: longer");
            for at in 0..len {
                let mut other = token.clone().into_bytes();
                other[at] ^= 0x01;
                let other = String::from_utf8(other).expect("ASCII");
                assert!(!same_token(&token, &other), "{len}: byte {at}");
            }
        }
    }

    /// Tokens filed under one fingerprint (the same last 16 bytes) are told apart by their whole bytes: a
    /// token shaped to share a cached token's tail finds nothing and removes nothing.
    #[test]
    fn a_shared_tail_is_a_miss() {
        let k = key();
        let mut cache = TokenCache::new(10, 1 << 20);
        let tail = "0123456789abcdef";
        let (cached, shaped) = (format!("aaaa.{tail}"), format!("bbbb.{tail}"));
        assert_eq!(fingerprint(&cached), fingerprint(&shaped));
        cache.insert(&cached, token(1e12, &k), 0);
        assert!(cache.get(&shaped, 0, 0).is_none());
        cache.remove(&shaped);
        assert!(cache.get(&cached, 0, 0).is_some(), "the cached token stays");
        // The same tail differs for tokens of different lengths under 16 bytes, and an empty token has one.
        assert_ne!(fingerprint("ab"), fingerprint("\0ab"));
        assert!(cache.get("", 0, 0).is_none());
        // A second verified token under the fingerprint replaces the first, and the byte count follows.
        cache.insert(&shaped, token(1e12, &k), 0);
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.bytes, shaped.len() + 128);
        assert!(cache.get(&cached, 0, 0).is_none());
        assert!(cache.get(&shaped, 0, 0).is_some());
    }
}
