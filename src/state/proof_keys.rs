//! DPoP client keys this isolate has verified proofs with. A client signs every proof with one key, so a
//! key whose proof verified once is prepared once its next proof verifies ([`PreparedProofKey`]: its
//! combs kept, about one verification to make) and each proof after that verifies with it, in about half
//! the time.
//! A key seen once costs nothing more than before, and a proof with a bad signature leaves nothing here.
//!
//! The cache is direct-mapped: a key has one slot, chosen by its thumbprint (a SHA-256 output, so
//! honest keys spread evenly), and takes it from whichever key held it. No scan, no hashing, and a
//! bounded size: [`SLOTS`] entries, a prepared one some 9 KB. A client that grinds keys into another's
//! slot can only make that client's proofs verify as a new key's do, as they did before keys were kept.

use std::sync::Arc;

use crate::jose::dpop::PreparedProofKey;

/// Slots of the cache (a power of two).
const SLOTS: usize = 512;

/// What the cache knows of a key, by thumbprint.
#[derive(Debug)]
pub enum KnownKey {
    /// Not verified here (or since another key took its slot).
    Unknown,
    /// One proof verified with it.
    Seen,
    /// Prepared.
    Prepared(Arc<PreparedProofKey>),
}

/// One slot: a key's thumbprint, and its prepared form once it has one.
#[derive(Debug)]
struct Slot {
    jkt: String,
    prepared: Option<Arc<PreparedProofKey>>,
}

/// The keys of one isolate.
#[derive(Debug)]
pub struct ProofKeyCache {
    slots: Vec<Option<Slot>>,
}

impl Default for ProofKeyCache {
    fn default() -> Self {
        Self {
            slots: (0..SLOTS).map(|_| None).collect(),
        }
    }
}

impl ProofKeyCache {
    pub fn get(&self, jkt: &str) -> KnownKey {
        match &self.slots[slot_of(jkt)] {
            Some(slot) if slot.jkt == jkt => match &slot.prepared {
                None => KnownKey::Seen,
                Some(key) => KnownKey::Prepared(key.clone()),
            },
            _ => KnownKey::Unknown,
        }
    }

    /// A proof verified with the key `jkt`.
    pub fn saw(&mut self, jkt: &str) {
        self.slots[slot_of(jkt)] = Some(Slot {
            jkt: jkt.to_owned(),
            prepared: None,
        });
    }

    /// A proof verified with `key`, prepared for the next ones.
    pub fn prepared(&mut self, key: Arc<PreparedProofKey>) {
        let slot = slot_of(key.jkt());
        self.slots[slot] = Some(Slot {
            jkt: key.jkt().to_owned(),
            prepared: Some(key),
        });
    }

    /// Keys known, for the tests.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slots.iter().flatten().count()
    }
}

/// The slot of a thumbprint: a multiplicative (Fibonacci) hash of its last four octets, which for a
/// base64url SHA-256 are 24 random bits.
fn slot_of(jkt: &str) -> usize {
    let mut tail = [0u8; 4];
    let bytes = jkt.as_bytes();
    let n = bytes.len().min(4);
    tail[..n].copy_from_slice(&bytes[bytes.len() - n..]);
    let hash = u32::from_le_bytes(tail).wrapping_mul(0x9e37_79b1);
    (hash >> (32 - SLOTS.trailing_zeros())) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verified_key_is_seen() {
        let mut cache = ProofKeyCache::default();
        assert!(matches!(cache.get("k"), KnownKey::Unknown));
        cache.saw("k");
        assert!(matches!(cache.get("k"), KnownKey::Seen));
        assert!(matches!(cache.get("other"), KnownKey::Unknown));
        assert!(matches!(cache.get(""), KnownKey::Unknown));
    }

    #[test]
    fn bounded_and_a_slot_holds_one_key() {
        let mut cache = ProofKeyCache::default();
        for i in 0..10 * SLOTS {
            cache.saw(&format!("key-{i}"));
            assert!(matches!(cache.get(&format!("key-{i}")), KnownKey::Seen));
        }
        assert!(cache.len() <= SLOTS);
        assert!(cache.len() > SLOTS / 2, "keys spread: {}", cache.len());
        // Two keys of one slot: the later takes it, and the earlier is unknown again.
        let a = "key-a";
        let b = (0..)
            .map(|i| format!("key-b{i}"))
            .find(|b| slot_of(b) == slot_of(a))
            .expect("another key of the slot");
        let b = b.as_str();
        cache.saw(a);
        cache.saw(b);
        assert!(matches!(cache.get(a), KnownKey::Unknown));
        assert!(matches!(cache.get(b), KnownKey::Seen));
    }
}
