//! Fuzzing claim rules (README "Policy"): rules written in `ROUTES` are read by `RouteTable::from_json` and
//! checked against random claim sets; the outcome must agree with a reference written here from the rule's
//! JSON, configuration refusals included. How to run more cases: tests/common/fuzz.rs.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::collections::HashSet;

use auth0_edge_gateway::policy::{ClaimFailure, RouteTable};
use common::fuzz::{arb_json, cases};
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{json, Map, Value};

/// Claim names of every shape a rule names: plain, namespaced URL, registered.
const CLAIMS: [&str; 4] = ["org_id", "https://example.com/roles", "sub", "tier"];
/// A small alphabet, so that rules and claims often meet.
const WORDS: [&str; 6] = ["admin", "ops", "org_1", "anon@x", "anon@", ""];

fn word() -> BoxedStrategy<String> {
    select(WORDS.to_vec()).prop_map(str::to_owned).boxed()
}

/// A claim value: often a word, a space-separated list or an array of words; sometimes any JSON.
fn claim_value() -> BoxedStrategy<Value> {
    prop_oneof![
        3 => word().prop_map(Value::String),
        2 => prop::collection::vec(word(), 0..4).prop_map(|w| Value::String(w.join(" "))),
        3 => prop::collection::vec(word(), 0..4).prop_map(|w| json!(w)),
        1 => prop::collection::vec(prop_oneof![word().prop_map(Value::String), arb_json()], 0..3)
            .prop_map(Value::Array),
        1 => select(vec![json!(1), json!(1.0), json!(true), json!(null), json!({"a": "admin"})]),
        1 => arb_json(),
    ]
    .boxed()
}

fn claims() -> BoxedStrategy<Map<String, Value>> {
    prop::collection::btree_map(select(CLAIMS.to_vec()), claim_value(), 0..4)
        .prop_map(|m| m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
        .boxed()
}

/// A claim rule as an operator writes it, valid or not: one condition, two, none, empty lists, arrays
/// where a scalar belongs.
fn rule() -> BoxedStrategy<Value> {
    let equals = prop_oneof![
        word().prop_map(Value::String),
        select(vec![
            json!(1),
            json!(1.0),
            json!(true),
            json!(null),
            json!(["admin"])
        ]),
    ];
    let includes = prop::collection::vec(word(), 0..3).prop_map(|w| json!(w));
    let prefix = word().prop_map(Value::String);
    (
        select(CLAIMS.to_vec()),
        prop::option::weighted(0.4, equals),
        prop::option::weighted(0.4, includes),
        prop::option::weighted(0.4, prefix),
    )
        .prop_map(|(claim, equals, includes, prefix)| {
            let mut rule = json!({ "claim": claim });
            for (key, value) in [
                ("equals", equals),
                ("includes", includes),
                ("not_prefix", prefix),
            ] {
                if let Some(value) = value {
                    rule[key] = value;
                }
            }
            rule
        })
        .boxed()
}

/// What the README says a rule means: `None` when the configuration must be refused, else whether the
/// claims satisfy it and, if not, whether the claim was missing.
fn reference(rule: &Value, claims: &Map<String, Value>) -> Option<Result<(), ClaimFailure>> {
    let conditions: Vec<(&String, &Value)> = rule
        .as_object()?
        .iter()
        .filter(|(k, _)| *k != "claim")
        .collect();
    let [(kind, wanted)] = conditions[..] else {
        return None;
    };
    let valid = match kind.as_str() {
        "equals" => !wanted.is_array() && !wanted.is_object(),
        "includes" => wanted.as_array().is_some_and(|w| !w.is_empty()),
        _ => wanted.as_str().is_some_and(|p| !p.is_empty()),
    };
    if !valid {
        return None;
    }
    let Some(value) = claims.get(rule["claim"].as_str()?) else {
        return Some(Err(ClaimFailure::Missing));
    };
    let holds = match kind.as_str() {
        "equals" => value == wanted,
        "includes" => {
            let held: HashSet<&str> = match value {
                Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
                Value::String(s) => s.split(' ').collect(),
                _ => return Some(Err(ClaimFailure::Unexpected)),
            };
            wanted
                .as_array()?
                .iter()
                .all(|w| w.as_str().is_some_and(|w| held.contains(w)))
        }
        _ => value
            .as_str()
            .is_some_and(|s| !s.starts_with(wanted.as_str().unwrap_or_default())),
    };
    Some(if holds {
        Ok(())
    } else {
        Err(ClaimFailure::Unexpected)
    })
}

proptest! {
    #![proptest_config(cases(2048))]

    /// A rule the README allows is accepted and judges every claim set like the reference; any other is
    /// refused with an error naming the rule's claim.
    #[test]
    fn claim_rules_agree_with_the_reference(rule in rule(), claims in claims()) {
        let table = json!([{ "path": "/x", "auth": "required", "claims": [rule.clone()] }]).to_string();
        let parsed = RouteTable::from_json(&table);
        match (reference(&rule, &claims), parsed) {
            (None, Ok(_)) => prop_assert!(false, "accepted {rule}"),
            (None, Err(error)) => {
                let claim = rule["claim"].as_str().unwrap_or_default();
                prop_assert!(error.contains(claim), "{error} does not name {claim}");
            }
            (Some(_), Err(error)) => prop_assert!(false, "refused {rule}: {error}"),
            (Some(expected), Ok(table)) => {
                let route = table.find("GET", "/x").expect("the rule's route");
                prop_assert_eq!(route.claims.len(), 1);
                prop_assert_eq!(route.claims[0].check(&claims), expected, "{} on {:?}", rule, claims);
            }
        }
    }

    /// Several rules on one route: the request passes only if every rule passes, and the first failure is
    /// the one reported.
    #[test]
    fn every_rule_of_a_route_must_hold(rules in prop::collection::vec(rule(), 1..4), claims in claims()) {
        let expected: Option<Vec<Result<(), ClaimFailure>>> =
            rules.iter().map(|r| reference(r, &claims)).collect();
        let table = RouteTable::from_json(&json!([{ "path": "/x", "auth": "required", "claims": rules }]).to_string());
        prop_assert_eq!(expected.is_some(), table.is_ok());
        if let (Some(expected), Ok(table)) = (expected, table) {
            let route = table.find("GET", "/x").expect("the rule's route");
            let got: Vec<_> = route.claims.iter().map(|r| r.check(&claims)).collect();
            prop_assert_eq!(got, expected);
        }
    }
}
