//! Fuzzing the route table and matcher (proptest): `RouteTable::from_json` on random JSON, random rules
//! and mutated text, and `find` against a reference matcher written here. How to run more cases:
//! tests/common/fuzz.rs.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::borrow::Cow;
use std::collections::BTreeMap;

use auth0_edge_gateway::http::path;
use auth0_edge_gateway::policy::RouteTable;
use common::fuzz::{arb_json, cases, mutate, mutation, object};
use proptest::prelude::*;
use proptest::sample::{select, subsequence};
use serde_json::{json, Value};

const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// A rule as the reference matcher sees it, read from the JSON that produced the table.
#[derive(Debug)]
struct RefRule {
    /// `Ok(exact path)` or `Err(prefix)` for `prefix/*`.
    path: Result<String, String>,
    methods: Option<Vec<String>>,
}

impl RefRule {
    fn from_json(rule: &Value) -> RefRule {
        let pattern = rule["path"]
            .as_str()
            .expect("a valid rule has a string path");
        let path = match pattern.strip_suffix("/*") {
            Some(prefix) => Err(prefix.to_owned()),
            None => Ok(pattern.to_owned()),
        };
        let methods = rule.get("methods").and_then(Value::as_array).map(|list| {
            list.iter()
                .map(|m| m.as_str().unwrap().to_ascii_uppercase())
                .collect()
        });
        RefRule { path, methods }
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        let path_ok = match &self.path {
            Ok(exact) => path == exact,
            // `/p/*` covers `/p` and everything under `/p/`; `/*` covers everything.
            Err(prefix) => path == prefix || path.starts_with(&format!("{prefix}/")),
        };
        path_ok
            && self
                .methods
                .as_ref()
                .is_none_or(|list| list.iter().any(|m| m == method))
    }

    /// True when `self` is strictly more specific than `other` (both matching one request).
    fn beats(&self, other: &RefRule) -> bool {
        match (&self.path, &other.path) {
            (Ok(_), Err(_)) => true,
            (Err(_), Ok(_)) => false,
            (Err(a), Err(b)) if a != b => a.len() > b.len(),
            // Same path: a rule naming the method beats one for every method.
            _ => self.methods.is_some() && other.methods.is_none(),
        }
    }
}

/// The most specific matching rule: the one no other matching rule beats. Validated tables have no
/// ties, so exactly one such rule exists when any rule matches.
fn reference_find(rules: &[RefRule], method: &str, path: &str) -> Option<usize> {
    let matching: Vec<usize> = (0..rules.len())
        .filter(|&i| rules[i].matches(method, path))
        .collect();
    let best: Vec<usize> = matching
        .iter()
        .copied()
        .filter(|&i| !matching.iter().any(|&j| rules[j].beats(&rules[i])))
        .collect();
    assert!(
        matching.is_empty() || best.len() == 1,
        "ambiguous rules {best:?} for {method} {path} in {rules:?}"
    );
    best.first().copied()
}

const PATTERNS: [&str; 14] = [
    "/", "/a", "/a/", "/a/b", "/a/b/c", "/b", "/A", "/a-b", "/*", "/a/*", "/a/b/*", "/b/*",
    "/a//*", "/a-b/*",
];

/// A rule that is valid on its own: a pattern, maybe methods, an access variant.
fn plausible_rule() -> BoxedStrategy<Value> {
    let methods =
        prop::option::weighted(0.5, (subsequence(METHODS.to_vec(), 1..=3), any::<bool>()))
            .prop_map(|m| {
                m.map(|(list, lower)| {
                    list.iter()
                        .map(|m| {
                            if lower {
                                m.to_ascii_lowercase()
                            } else {
                                (*m).to_owned()
                            }
                        })
                        .collect::<Vec<_>>()
                })
            });
    let access = select(vec![
        json!({"auth": "none"}),
        json!({"auth": "required"}),
        json!({"scopes": ["a"]}),
        json!({"scopes": ["a", "b"], "match": "any"}),
        json!({"auth": "required", "scopes": ["x"], "match": "all"}),
    ]);
    (select(PATTERNS.to_vec()), methods, access)
        .prop_map(|(path, methods, mut rule)| {
            rule["path"] = json!(path);
            if let Some(methods) = methods {
                rule["methods"] = json!(methods);
            }
            rule
        })
        .boxed()
}

/// Whether a table of plausible rules must validate: no two rules with one pattern and a common method.
fn plausible_table_is_valid(rules: &[Value]) -> bool {
    let refs: Vec<RefRule> = rules.iter().map(RefRule::from_json).collect();
    for (i, a) in refs.iter().enumerate() {
        for b in &refs[i + 1..] {
            let overlap = match (&a.methods, &b.methods) {
                (None, None) => true,
                (Some(x), Some(y)) => x.iter().any(|m| y.contains(m)),
                _ => false,
            };
            if a.path == b.path && overlap {
                return false;
            }
        }
    }
    true
}

/// A rule object with random members and values, plausible or not.
fn random_rule() -> BoxedStrategy<Value> {
    let path = prop_oneof![
        48 => select(PATTERNS.to_vec()).prop_map(Value::from),
        6 => select(vec!["", "a", "/a/../b", "/%61", "/a/*/b", "/**", "/a\\b", "//", "/a/./b", "/*/"])
            .prop_map(Value::from),
        1 => arb_json(),
    ];
    let method = prop_oneof![
        18 => select(METHODS.to_vec()),
        3 => select(vec!["get", "Post", "FETCH", "", "GET "]),
    ];
    let methods = prop_oneof![
        36 => subsequence(METHODS.to_vec(), 1..=3).prop_map(|m| json!(m)),
        12 => prop::collection::vec(method, 0..4).prop_map(|m| json!(m)),
        1 => arb_json(),
    ];
    let auth = prop_oneof![
        48 => select(vec!["none", "required"]).prop_map(Value::from),
        6 => select(vec!["maybe", "NONE", ""]).prop_map(Value::from),
        1 => arb_json(),
    ];
    let scope = prop_oneof![
        18 => select(vec!["a", "b", "read:x"]),
        3 => select(vec!["a b", "", "q\"", "x\\y", "\u{1}"]),
    ];
    let scopes = prop_oneof![
        36 => prop::collection::vec(scope, 0..4).prop_map(|s| json!(s)),
        1 => arb_json(),
    ];
    let mode = prop_oneof![
        36 => select(vec!["all", "any"]).prop_map(Value::from),
        6 => select(vec!["some", "ALL"]).prop_map(Value::from),
        1 => arb_json(),
    ];
    (
        prop::option::weighted(0.97, path),
        prop::option::weighted(0.4, methods),
        prop::option::weighted(0.8, auth),
        prop::option::weighted(0.3, scopes),
        prop::option::weighted(0.15, mode),
        prop::option::weighted(0.03, ("[a-z]{1,6}", arb_json())),
    )
        .prop_map(|(path, methods, auth, scopes, mode, extra)| {
            let mut rule = object(
                BTreeMap::new(),
                &[
                    ("path", path),
                    ("methods", methods),
                    ("auth", auth),
                    ("scopes", scopes),
                    ("match", mode),
                ],
            );
            if let Some((k, v)) = extra {
                rule.insert(k, v);
            }
            Value::Object(rule)
        })
        .boxed()
}

/// A request path, normalised as the gateway does before matching.
fn request_path() -> BoxedStrategy<String> {
    let structured = (
        prop::collection::vec(
            select(vec!["a", "b", "c", "A", "a-b", "%61", ".", "x", "%2e"]),
            0..4,
        ),
        any::<bool>(),
    )
        .prop_map(|(segments, slash)| {
            let mut p = String::new();
            for s in segments {
                p.push('/');
                p.push_str(s);
            }
            if slash || p.is_empty() {
                p.push('/');
            }
            p
        });
    prop_oneof![4 => structured, 1 => "(?s)/.{0,16}"]
        .prop_filter_map("not a normalisable path", |p| {
            path::normalize(&p).ok().map(Cow::into_owned)
        })
        .boxed()
}

fn request_method() -> BoxedStrategy<String> {
    prop_oneof![
        8 => select(METHODS.to_vec()).prop_map(str::to_owned),
        1 => select(vec!["get", "FETCH", "", "GET "]).prop_map(str::to_owned),
        1 => "[A-Za-z]{0,8}",
    ]
    .boxed()
}

/// `find` on a validated table must pick the rule the reference picks.
fn check_find(
    table: &RouteTable,
    rules_json: &[Value],
    requests: &[(String, String)],
) -> Result<(), TestCaseError> {
    let refs: Vec<RefRule> = rules_json.iter().map(RefRule::from_json).collect();
    prop_assert_eq!(table.rules().len(), refs.len());
    for (method, path) in requests {
        let got = table.find(method, path).map(|found| {
            table
                .rules()
                .iter()
                .position(|r| std::ptr::eq(r, found))
                .unwrap()
        });
        let expected = reference_find(&refs, method, path);
        prop_assert_eq!(
            got,
            expected,
            "{} {} in {}",
            method,
            path,
            Value::Array(rules_json.to_vec())
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases(1024))]

    /// Random JSON, random rule objects and mutated JSON text: `from_json` never panics, and a table it
    /// accepts matches like the reference.
    #[test]
    fn route_tables_from_random_json(
        input in prop_oneof![
            10 => prop::collection::vec(random_rule(), 1..5).prop_map(Value::Array),
            1 => Just(json!([])),
            1 => arb_json(),
        ],
        requests in prop::collection::vec((request_method(), request_path()), 1..8),
    ) {
        let text = input.to_string();
        if let Ok(table) = RouteTable::from_json(&text) {
            let rules = input.as_array().expect("a valid table is an array");
            check_find(&table, rules, &requests)?;
        }
    }

    #[test]
    fn route_table_text_survives_mutation(
        rules in prop::collection::vec(plausible_rule(), 1..4),
        mutations in prop::collection::vec(mutation(), 1..4),
        raw in "(?s).{0,64}",
    ) {
        let text = Value::Array(rules).to_string();
        let _ = RouteTable::from_json(&mutate(&text, &mutations));
        let _ = RouteTable::from_json(&raw);
    }

    /// Tables of individually valid rules: valid exactly when no two rules share a pattern and a method,
    /// and then `find` picks the rule the reference picks.
    #[test]
    fn plausible_route_tables_match_the_reference(
        rules in prop::collection::vec(plausible_rule(), 1..7),
        requests in prop::collection::vec((request_method(), request_path()), 1..12),
    ) {
        let text = Value::Array(rules.clone()).to_string();
        let result = RouteTable::from_json(&text);
        prop_assert_eq!(
            result.is_ok(),
            plausible_table_is_valid(&rules),
            "{} -> {:?}",
            text,
            result.as_ref().err()
        );
        if let Ok(table) = result {
            check_find(&table, &rules, &requests)?;
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Regressions: each crash the route table targets finds goes here as a plain #[test] with its minimal input.
// None so far (20,000 cases per target, debug profile).
// ---------------------------------------------------------------------------------------------------
