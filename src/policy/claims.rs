//! Claim rules on a route (README "Policy"): a claim that must equal a value, hold every one of a list,
//! or not start with a prefix, in the spirit of express-oauth2-jwt-bearer's `claimEquals`,
//! `claimIncludes` and `claimCheck`. A claim is named exactly, namespaced URLs included.

use serde::Deserialize;
use serde_json::{Map, Value};

/// One validated claim rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRule {
    pub claim: String,
    pub condition: Condition,
}

/// What a claim must satisfy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// The claim is exactly this JSON value (a string, number, boolean or null).
    Equals(Value),
    /// The claim, an array of strings or a space-separated string, holds every one of these.
    Includes(Vec<String>),
    /// The claim is a string that does not start with this (`anon@` refuses Auth0 anonymous sessions).
    NotPrefix(String),
}

/// Why a claim rule failed; the description names the claim, as Auth0's Node SDK does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimFailure {
    /// The token has no such claim.
    Missing,
    /// The claim has another value or type than the rule asks.
    Unexpected,
}

impl ClaimRule {
    /// Checks the rule against a token's claims.
    pub fn check(&self, claims: &Map<String, Value>) -> Result<(), ClaimFailure> {
        let value = claims.get(&self.claim).ok_or(ClaimFailure::Missing)?;
        let holds = match &self.condition {
            Condition::Equals(expected) => value == expected,
            Condition::Includes(wanted) => includes(value, wanted),
            Condition::NotPrefix(prefix) => value.as_str().is_some_and(|s| !s.starts_with(prefix)),
        };
        if holds {
            Ok(())
        } else {
            Err(ClaimFailure::Unexpected)
        }
    }
}

impl ClaimFailure {
    /// `Missing 'org_id' claim`, `Unexpected 'org_id' value`; `claim` comes from the configuration, never
    /// from the request.
    pub fn describe(self, claim: &str) -> String {
        match self {
            Self::Missing => format!("Missing '{claim}' claim"),
            Self::Unexpected => format!("Unexpected '{claim}' value"),
        }
    }
}

fn includes(value: &Value, wanted: &[String]) -> bool {
    match value {
        Value::Array(items) => wanted
            .iter()
            .all(|w| items.iter().any(|i| i.as_str() == Some(w.as_str()))),
        Value::String(s) => wanted.iter().all(|w| s.split(' ').any(|part| part == w)),
        _ => false,
    }
}

/// A claim rule as written in `ROUTES`: the claim and exactly one condition.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawClaimRule {
    claim: String,
    #[serde(default, deserialize_with = "present")]
    equals: Option<Value>,
    includes: Option<Vec<String>>,
    not_prefix: Option<String>,
}

/// `equals: null` is a condition (the claim is present and null), not an absent key.
fn present<'de, D: serde::Deserializer<'de>>(value: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(value).map(Some)
}

impl RawClaimRule {
    pub(super) fn validate(self) -> Result<ClaimRule, String> {
        let claim = self.claim;
        if claim.is_empty()
            || claim
                .chars()
                .any(|c| c.is_control() || c == '"' || c == '\\')
        {
            return Err(format!(
                "claim {claim:?} is empty or contains a quote, backslash or control character"
            ));
        }
        let condition = match (self.equals, self.includes, self.not_prefix) {
            (Some(v), None, None) if !v.is_array() && !v.is_object() => Condition::Equals(v),
            (Some(_), None, None) => {
                return Err(format!(
                    "claim {claim:?}: equals must be a string, number, boolean or null"
                ))
            }
            (None, Some(list), None) if list.is_empty() => {
                return Err(format!("claim {claim:?}: includes must not be empty"))
            }
            (None, Some(list), None) => Condition::Includes(list),
            (None, None, Some(prefix)) if prefix.is_empty() => {
                return Err(format!("claim {claim:?}: not_prefix must not be empty"))
            }
            (None, None, Some(prefix)) => Condition::NotPrefix(prefix),
            _ => {
                return Err(format!(
                    "claim {claim:?} needs exactly one of equals, includes, not_prefix"
                ))
            }
        };
        Ok(ClaimRule { claim, condition })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(json: Value) -> Result<ClaimRule, String> {
        serde_json::from_value::<RawClaimRule>(json)
            .map_err(|e| e.to_string())
            .and_then(RawClaimRule::validate)
    }

    fn claims(json: Value) -> Map<String, Value> {
        json.as_object().unwrap().clone()
    }

    #[test]
    fn equals_compares_json_values() {
        let r = rule(json!({"claim": "org_id", "equals": "org_1"})).unwrap();
        assert_eq!(r.check(&claims(json!({"org_id": "org_1"}))), Ok(()));
        assert_eq!(
            r.check(&claims(json!({"org_id": "org_2"}))),
            Err(ClaimFailure::Unexpected)
        );
        assert_eq!(
            r.check(&claims(json!({"org_id": ["org_1"]}))),
            Err(ClaimFailure::Unexpected)
        );
        assert_eq!(r.check(&claims(json!({}))), Err(ClaimFailure::Missing));
        let n = rule(json!({"claim": "tier", "equals": 3})).unwrap();
        assert_eq!(n.check(&claims(json!({"tier": 3}))), Ok(()));
        assert_eq!(
            n.check(&claims(json!({"tier": "3"}))),
            Err(ClaimFailure::Unexpected)
        );
        // `equals: null` is a condition of its own (found by tests/fuzz_claims.rs): present and null.
        let null = rule(json!({"claim": "tier", "equals": null})).unwrap();
        assert_eq!(null.check(&claims(json!({"tier": null}))), Ok(()));
        assert_eq!(null.check(&claims(json!({}))), Err(ClaimFailure::Missing));
        assert!(rule(json!({"claim": "a", "equals": null, "not_prefix": "x"})).is_err());
    }

    #[test]
    fn includes_needs_every_value_in_an_array_or_a_spaced_string() {
        let r = rule(json!({"claim": "https://example.com/roles", "includes": ["admin", "ops"]}))
            .unwrap();
        let ok = claims(json!({"https://example.com/roles": ["ops", "admin", "x"]}));
        assert_eq!(r.check(&ok), Ok(()));
        let spaced = claims(json!({"https://example.com/roles": "admin ops"}));
        assert_eq!(r.check(&spaced), Ok(()));
        for bad in [
            json!(["admin"]),
            json!("admin"),
            json!(["admin", 1]),
            json!(7),
        ] {
            let c = claims(json!({ "https://example.com/roles": bad }));
            assert_eq!(r.check(&c), Err(ClaimFailure::Unexpected), "{c:?}");
        }
        // Matched exactly: a claim of another name (no namespace) does not count.
        assert_eq!(
            r.check(&claims(json!({"roles": ["admin", "ops"]}))),
            Err(ClaimFailure::Missing)
        );
    }

    #[test]
    fn not_prefix_refuses_anonymous_sessions() {
        let r = rule(json!({"claim": "sub", "not_prefix": "anon@"})).unwrap();
        assert_eq!(r.check(&claims(json!({"sub": "auth0|1"}))), Ok(()));
        assert_eq!(
            r.check(&claims(json!({"sub": "anon@abc"}))),
            Err(ClaimFailure::Unexpected)
        );
        assert_eq!(
            r.check(&claims(json!({"sub": 5}))),
            Err(ClaimFailure::Unexpected)
        );
        assert_eq!(r.check(&claims(json!({}))), Err(ClaimFailure::Missing));
        assert_eq!(ClaimFailure::Missing.describe("sub"), "Missing 'sub' claim");
        assert_eq!(
            ClaimFailure::Unexpected.describe("sub"),
            "Unexpected 'sub' value"
        );
    }

    #[test]
    fn a_rule_has_one_condition_and_a_usable_claim_name() {
        for bad in [
            json!({"claim": "a"}),
            json!({"claim": "a", "equals": "x", "includes": ["x"]}),
            json!({"claim": "a", "includes": []}),
            json!({"claim": "a", "not_prefix": ""}),
            json!({"claim": "a", "equals": ["x"]}),
            json!({"claim": "a", "equals": {"k": 1}}),
            json!({"claim": "", "equals": "x"}),
            json!({"claim": "a\"b", "equals": "x"}),
            json!({"claim": "a", "equals": "x", "other": 1}),
            json!({"equals": "x"}),
        ] {
            assert!(rule(bad.clone()).is_err(), "{bad}");
        }
    }
}
