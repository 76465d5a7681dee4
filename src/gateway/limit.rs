//! Whose budget a request on a rate-limited route counts against (README "Rate limits"): the verified
//! `sub`, else the verified `client_id`, else `azp`. Only claims of a verified token are read, so a
//! caller cannot spend another's budget, and the source is part of the key, so a `client_id` never
//! shares a budget with a `sub` that happens to be spelled the same.

use crate::jose::token::Claims;

/// The claim a rate-limit key was taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKeySource {
    Sub,
    ClientId,
    Azp,
    /// A token with none of them: such tokens share one budget rather than go unlimited.
    Shared,
}

impl LimitKeySource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sub => "sub",
            Self::ClientId => "client_id",
            Self::Azp => "azp",
            Self::Shared => "shared",
        }
    }
}

/// The key a verified caller is counted under, and where it came from.
pub fn limit_key(claims: &Claims) -> (LimitKeySource, String) {
    let claim = |name: &str| claims.all.get(name).and_then(|v| v.as_str());
    let (source, value) = match claims.sub.as_deref().filter(|s| !s.is_empty()) {
        Some(sub) => (LimitKeySource::Sub, sub),
        None => match claim("client_id").filter(|s| !s.is_empty()) {
            Some(client) => (LimitKeySource::ClientId, client),
            None => match claim("azp").filter(|s| !s.is_empty()) {
                Some(azp) => (LimitKeySource::Azp, azp),
                None => (LimitKeySource::Shared, ""),
            },
        },
    };
    (source, format!("{}:{value}", source.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn claims(all: Value) -> Claims {
        Claims::from_all(all)
    }

    #[test]
    fn sub_then_client_id_then_azp() {
        for (all, source, key) in [
            (
                json!({"sub": "auth0|alice", "client_id": "c1", "azp": "a1"}),
                LimitKeySource::Sub,
                "sub:auth0|alice",
            ),
            (
                json!({"client_id": "c1", "azp": "a1"}),
                LimitKeySource::ClientId,
                "client_id:c1",
            ),
            (json!({"azp": "a1"}), LimitKeySource::Azp, "azp:a1"),
            // Empty or non-string values are not identities.
            (
                json!({"sub": "", "client_id": 7, "azp": "a1"}),
                LimitKeySource::Azp,
                "azp:a1",
            ),
            (json!({}), LimitKeySource::Shared, "shared:"),
        ] {
            assert_eq!(
                limit_key(&claims(all.clone())),
                (source, key.into()),
                "{all}"
            );
        }
    }

    #[test]
    fn a_client_id_never_shares_a_sub_budget() {
        let by_sub = limit_key(&claims(json!({"sub": "m2m"}))).1;
        let by_client = limit_key(&claims(json!({"client_id": "m2m"}))).1;
        assert_ne!(by_sub, by_client);
    }
}
