//! Stateless DPoP server nonces (RFC 9449 section 8): an HMAC-SHA256 over a time slot under a secret,
//! so every isolate can issue and check them without shared state. A nonce is accepted during its slot
//! and the next one, so rotation never strands a client that just received one.

use crate::crypto::sha256::Sha256;
use crate::jose::{b64_decode, b64_encode};
use hmac::{Hmac, Mac};

/// Bytes of the MAC kept in a nonce (128 bits).
const TAG_BYTES: usize = 16;

/// The secret and slot length that nonces are made with.
#[derive(Clone)]
pub struct NonceKey {
    secret: Vec<u8>,
    /// Seconds per slot: how often the current nonce changes.
    lifetime: u64,
}

impl std::fmt::Debug for NonceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("NonceKey")
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

impl NonceKey {
    pub fn new(secret: &[u8], lifetime: u64) -> Self {
        Self {
            secret: secret.to_vec(),
            lifetime: lifetime.max(1),
        }
    }

    /// The nonce of the current slot.
    pub fn issue(&self, now: u64) -> String {
        let slot = now / self.lifetime;
        let mut raw = slot.to_be_bytes().to_vec();
        raw.extend_from_slice(&self.tag(slot)[..TAG_BYTES]);
        b64_encode(&raw)
    }

    /// True when `nonce` was issued by this key in the current or the previous slot.
    pub fn accepts(&self, nonce: &str, now: u64) -> bool {
        let Some(raw) = b64_decode(nonce).filter(|r| r.len() == 8 + TAG_BYTES) else {
            return false;
        };
        let mut slot_bytes = [0u8; 8];
        slot_bytes.copy_from_slice(&raw[..8]);
        let slot = u64::from_be_bytes(slot_bytes);
        let current = now / self.lifetime;
        if slot != current && slot.saturating_add(1) != current {
            return false;
        }
        let mut mac = self.mac();
        mac.update(b"dpop-nonce");
        mac.update(&slot.to_be_bytes());
        mac.verify_truncated_left(&raw[8..]).is_ok()
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC accepts keys of any length.
        Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes any key length")
    }

    fn tag(&self, slot: u64) -> Vec<u8> {
        let mut mac = self.mac();
        mac.update(b"dpop-nonce");
        mac.update(&slot.to_be_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_rotate_and_expire() {
        let key = NonceKey::new(b"0123456789abcdef0123456789abcdef", 300);
        let now = 1_700_000_100; // a slot boundary: 300 * 5_666_667
        let nonce = key.issue(now + 10);
        assert!(key.accepts(&nonce, now));
        assert!(
            key.accepts(&nonce, now + 599),
            "the next slot still accepts it"
        );
        assert!(
            !key.accepts(&nonce, now + 600),
            "two slots later it is gone"
        );
        assert!(!key.accepts(&nonce, now - 300), "not before its slot");
        assert_ne!(key.issue(now + 300), nonce, "a new slot gives a new nonce");
    }

    #[test]
    fn nonces_are_bound_to_the_secret() {
        let a = NonceKey::new(b"0123456789abcdef0123456789abcdef", 300);
        let b = NonceKey::new(b"fedcba9876543210fedcba9876543210", 300);
        let now = 1_700_000_000;
        assert!(!b.accepts(&a.issue(now), now));
        for bad in [
            "",
            "x",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            &a.issue(now)[1..],
        ] {
            assert!(!a.accepts(bad, now), "{bad}");
        }
        // A forged nonce for the current slot with a guessed tag.
        let mut raw = (now / 300).to_be_bytes().to_vec();
        raw.extend_from_slice(&[0u8; TAG_BYTES]);
        assert!(!a.accepts(&b64_encode(&raw), now));
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let key = NonceKey::new(b"super-secret-value-that-must-not-leak", 60);
        assert!(!format!("{key:?}").contains("super-secret"));
    }
}
