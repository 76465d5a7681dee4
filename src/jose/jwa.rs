//! The access-token signature algorithms (RFC 7518 section 3.1) the gateway verifies: RSASSA-PKCS1-v1_5
//! (RS256, RS384, RS512, section 3.3) and RSASSA-PSS (PS256, PS384, PS512, section 3.5) with SHA-2, all on
//! the verification-only fast path of `crypto::rsa`. `TOKEN_ALGORITHMS` chooses which are accepted.

use crate::crypto::rsa::{Hash, RsaVerifier};

/// One RSA signature algorithm of JWA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
}

impl Algorithm {
    pub const ALL: [Self; 6] = [
        Self::Rs256,
        Self::Rs384,
        Self::Rs512,
        Self::Ps256,
        Self::Ps384,
        Self::Ps512,
    ];

    /// The `alg` value (RFC 7518 section 3.1), matched exactly: `rs256` is not `RS256`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Rs384 => "RS384",
            Self::Rs512 => "RS512",
            Self::Ps256 => "PS256",
            Self::Ps384 => "PS384",
            Self::Ps512 => "PS512",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Verifies `signature` over `signing_input` with `key` (RFC 7515 section 5.2 step 8).
    pub fn verify(self, key: &RsaVerifier, signing_input: &[u8], signature: &[u8]) -> bool {
        match self {
            Self::Rs256 => key.verify_pkcs1v15(Hash::Sha256, signing_input, signature),
            Self::Rs384 => key.verify_pkcs1v15(Hash::Sha384, signing_input, signature),
            Self::Rs512 => key.verify_pkcs1v15(Hash::Sha512, signing_input, signature),
            Self::Ps256 => key.verify_pss(Hash::Sha256, signing_input, signature),
            Self::Ps384 => key.verify_pss(Hash::Sha384, signing_input, signature),
            Self::Ps512 => key.verify_pss(Hash::Sha512, signing_input, signature),
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of algorithms (`TOKEN_ALGORITHMS`), small enough to copy into every check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Algorithms(u8);

impl Algorithms {
    /// RS256 only: what Auth0 signs API tokens with unless told otherwise.
    pub const DEFAULT: Self = Self(1);

    pub fn new(list: &[Algorithm]) -> Self {
        Self(list.iter().fold(0, |bits, a| bits | a.bit()))
    }

    pub fn contains(self, alg: Algorithm) -> bool {
        self.0 & alg.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The accepted algorithm named `name`, if any.
    pub fn accepted(self, name: &str) -> Option<Algorithm> {
        Algorithm::from_name(name).filter(|a| self.contains(*a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_exact() {
        for alg in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(alg.name()), Some(alg));
        }
        for bad in ["rs256", "HS256", "ES256", "none", "PS256 ", ""] {
            assert_eq!(Algorithm::from_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn sets() {
        assert_eq!(Algorithms::DEFAULT, Algorithms::new(&[Algorithm::Rs256]));
        let set = Algorithms::new(&[Algorithm::Ps256, Algorithm::Rs512]);
        assert_eq!(set.accepted("PS256"), Some(Algorithm::Ps256));
        assert_eq!(set.accepted("RS256"), None);
        assert!(set.contains(Algorithm::Rs512) && !set.contains(Algorithm::Ps512));
        assert!(Algorithms::new(&[]).is_empty());
    }
}
