//! DPoP client keys this isolate has verified proofs with. A client signs every proof with one key, so a
//! key whose proof verified once is prepared once its next proof verifies ([`PreparedProofKey`]: its
//! combs kept, about one verification to make) and each proof after that verifies with it, in about half
//! the time.
//! A key seen once costs nothing more than before, and a proof with a bad signature leaves nothing here.
//!
//! The cache is direct-mapped: a key has one slot, chosen by its coordinates as its JWK sends them, and
//! takes it from whichever key held it. No scan, no hashing, and a bounded size: [`SLOTS`] entries, a
//! prepared one some 9 KB. A client that grinds keys into another's slot can only make that client's
//! proofs verify as a new key's do, as they did before keys were kept.
//!
//! A prepared key is found by those coordinates when its next proof is parsed ([`PreparedKeys`]), before
//! they are decoded, checked on the curve or hashed into the thumbprint: the same text gives the same key
//! and thumbprint.

use std::sync::Arc;

use crate::jose::dpop::{Coordinates, PreparedKeys, PreparedProofKey};

/// Slots of the cache (a power of two).
const SLOTS: usize = 512;

/// What the cache knows of a key, by its coordinates.
#[derive(Debug)]
pub enum KnownKey {
    /// Not verified here (or since another key took its slot).
    Unknown,
    /// One proof verified with it.
    Seen,
    /// Prepared.
    Prepared(Arc<PreparedProofKey>),
}

/// One slot: a key's coordinates, and its prepared form once it has one.
#[derive(Debug)]
struct Slot {
    coordinates: Coordinates,
    prepared: Option<Arc<PreparedProofKey>>,
}

/// The keys of one isolate.
#[derive(Debug, Default)]
pub struct ProofKeyCache {
    /// Empty until the isolate keeps its first key, then [`SLOTS`] long (some 48 KB): an isolate that
    /// never verifies a proof never makes them.
    slots: Vec<Option<Slot>>,
}

impl ProofKeyCache {
    pub fn get(&self, coordinates: &Coordinates) -> KnownKey {
        match self.slots.get(slot_of(coordinates)) {
            Some(Some(slot)) if slot.coordinates == *coordinates => match &slot.prepared {
                None => KnownKey::Seen,
                Some(key) => KnownKey::Prepared(key.clone()),
            },
            _ => KnownKey::Unknown,
        }
    }

    /// A proof verified with the key at `coordinates`.
    pub fn saw(&mut self, coordinates: &Coordinates) {
        *self.slot_mut(coordinates) = Some(Slot {
            coordinates: *coordinates,
            prepared: None,
        });
    }

    /// A proof verified with `key`, prepared for the next ones.
    pub fn prepared(&mut self, key: Arc<PreparedProofKey>) {
        let coordinates = *key.coordinates();
        *self.slot_mut(&coordinates) = Some(Slot {
            coordinates,
            prepared: Some(key),
        });
    }

    /// The slot of `coordinates`, the slots made if this is the isolate's first key.
    fn slot_mut(&mut self, coordinates: &Coordinates) -> &mut Option<Slot> {
        if self.slots.is_empty() {
            self.slots = (0..SLOTS).map(|_| None).collect();
        }
        &mut self.slots[slot_of(coordinates)]
    }

    /// Keys known, for the tests.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slots.iter().flatten().count()
    }
}

impl PreparedKeys for ProofKeyCache {
    fn find(&self, coordinates: &Coordinates) -> Option<Arc<PreparedProofKey>> {
        match self.get(coordinates) {
            KnownKey::Prepared(key) => Some(key),
            KnownKey::Unknown | KnownKey::Seen => None,
        }
    }
}

/// The slot of a key: a multiplicative (Fibonacci) hash of the first four characters of `x`, which for
/// an honest key are 24 random bits.
fn slot_of(coordinates: &Coordinates) -> usize {
    let [a, b, c, d, ..] = *coordinates.as_bytes();
    let hash = u32::from_le_bytes([a, b, c, d]).wrapping_mul(0x9e37_79b1);
    (hash >> (32 - SLOTS.trailing_zeros())) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Coordinates made from `name`, padded to 43 characters for `x`, and a fixed `y`.
    fn key(name: &str) -> Coordinates {
        Coordinates::of(&format!("{name:_<43}"), &"y".repeat(43)).expect("43 characters each")
    }

    #[test]
    fn a_verified_key_is_seen() {
        let mut cache = ProofKeyCache::default();
        assert!(matches!(cache.get(&key("k")), KnownKey::Unknown));
        assert!(cache.slots.is_empty(), "no slots before the first key");
        cache.saw(&key("k"));
        assert_eq!(cache.slots.len(), SLOTS);
        assert!(matches!(cache.get(&key("k")), KnownKey::Seen));
        assert!(matches!(cache.get(&key("other")), KnownKey::Unknown));
        assert!(matches!(cache.get(&key("")), KnownKey::Unknown));
        assert!(cache.find(&key("k")).is_none(), "seen is not prepared");
    }

    #[test]
    fn bounded_and_a_slot_holds_one_key() {
        let mut cache = ProofKeyCache::default();
        for i in 0..10 * SLOTS {
            // Four varied characters, as the first four of an honest key's x are.
            let name = format!("{:04x}", (i as u32).wrapping_mul(0x9e37_79b1) >> 16);
            cache.saw(&key(&name));
            assert!(matches!(cache.get(&key(&name)), KnownKey::Seen));
        }
        assert!(cache.len() <= SLOTS);
        assert!(cache.len() > SLOTS / 2, "keys spread: {}", cache.len());
        // Two keys of one slot: the later takes it, and the earlier is unknown again.
        let a = key("key-a");
        let b = (0..)
            .map(|i| key(&format!("{i:04}")))
            .find(|b| slot_of(b) == slot_of(&a))
            .expect("another key of the slot");
        cache.saw(&a);
        cache.saw(&b);
        assert!(matches!(cache.get(&a), KnownKey::Unknown));
        assert!(matches!(cache.get(&b), KnownKey::Seen));
    }

    #[test]
    fn a_slot_matches_every_character_of_both_coordinates() {
        let mut cache = ProofKeyCache::default();
        let x = "x".repeat(43);
        let y = "y".repeat(43);
        cache.saw(&Coordinates::of(&x, &y).unwrap());
        for at in 0..86 {
            let (mut x2, mut y2) = (x.clone(), y.clone());
            let (text, i) = if at < 43 {
                (&mut x2, at)
            } else {
                (&mut y2, at - 43)
            };
            text.replace_range(i..=i, "Z");
            let other = Coordinates::of(&x2, &y2).unwrap();
            assert!(matches!(cache.get(&other), KnownKey::Unknown), "at {at}");
        }
    }
}
