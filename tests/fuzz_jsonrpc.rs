//! Fuzzing the JSON-RPC body matcher (proptest): `jsonrpc::parse`, `check_headers` and `matching_scopes`
//! on structured messages and batches (good and bad members, duplicates, deep nesting), on mutated text
//! and on random bytes, against a reference written here over `serde_json::Value`. How to run more
//! cases: tests/common/fuzz.rs.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use auth0_edge_gateway::jose::json::parse_strict;
use auth0_edge_gateway::policy::jsonrpc::{
    check_headers, matching_scopes, parse, JsonRpcError, MAX_DEPTH,
};
use auth0_edge_gateway::policy::RouteTable;
use common::fuzz::{arb_json, cases, member, mutate, mutation, object, Absent};
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{json, Value};

const METHODS: [&str; 6] = [
    "tools/call",
    "tools/list",
    "prompts/get",
    "resources/read",
    "notifications/initialized",
    "initialize",
];
const NAMES: [&str; 5] = ["delete_repo", "delete_", "read", "file:///a", ""];

/// What the reference expects of one message: its method and name.
type RefCall = (Option<String>, Option<String>);

/// Nesting depth of arrays and objects (a scalar is 0).
fn depth(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// JSON-RPC 2.0 as README "MCP servers" reads it, over a parsed value.
fn reference_message(m: &Value) -> Option<RefCall> {
    let map = m.as_object()?;
    let known = ["jsonrpc", "method", "id", "params", "result", "error"];
    if map.keys().any(|k| !known.contains(&k.as_str())) || map.get("jsonrpc")? != "2.0" {
        return None;
    }
    if map
        .get("id")
        .is_some_and(|id| !(id.is_string() || id.is_number() || id.is_null()))
    {
        return None;
    }
    let params = map.get("params");
    if params.is_some_and(|p| !(p.is_object() || p.is_array())) {
        return None;
    }
    if map.get("error").is_some_and(|e| !e.is_object()) {
        return None;
    }
    let has = |k: &str| map.contains_key(k);
    let method = match map.get("method") {
        Some(Value::String(m)) if !has("result") && !has("error") => m.clone(),
        Some(_) => return None,
        None if has("id") && !has("params") && has("result") != has("error") => {
            return Some((None, None))
        }
        None => return None,
    };
    let member = |k: &str| params.and_then(|p| p.get(k)).and_then(Value::as_str);
    let name = match method.as_str() {
        "tools/call" | "prompts/get" => Some(member("name")?.to_owned()),
        "resources/read" => Some(member("uri")?.to_owned()),
        _ => None,
    };
    Some((Some(method), name))
}

/// The reference outcome: `None` for a refused body, else the messages and whether they are a batch.
fn reference(body: &[u8]) -> Option<(Vec<RefCall>, bool)> {
    let value = parse_strict(body).ok()?;
    if depth(&value) > MAX_DEPTH {
        return None;
    }
    match &value {
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(reference_message)
            .collect::<Option<Vec<_>>>()
            .map(|calls| (calls, true)),
        Value::Object(_) => reference_message(&value).map(|call| (vec![call], false)),
        _ => None,
    }
}

fn message() -> BoxedStrategy<Value> {
    let s = |v: &[&str]| v.iter().map(|x| json!(x)).collect::<Vec<_>>();
    let params = (
        prop::option::weighted(0.8, select(NAMES.to_vec())),
        prop::option::weighted(0.3, select(NAMES.to_vec())),
        prop::option::weighted(0.3, arb_json()),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(name, uri, arguments, positional)| {
            if positional {
                return json!([name, uri]);
            }
            let mut p = serde_json::Map::new();
            if let Some(n) = name {
                p.insert("name".into(), json!(n));
            }
            if let Some(u) = uri {
                p.insert("uri".into(), json!(u));
            }
            if let Some(a) = arguments {
                p.insert("arguments".into(), a);
            }
            Value::Object(p)
        });
    let response = prop::bool::weighted(0.15);
    (
        member(Absent::Refused, s(&["2.0"]), s(&["1.0", "2", ""])),
        member(Absent::Fine, s(&METHODS), vec![json!(1), json!(null)]),
        member(
            Absent::Fine,
            vec![json!(1), json!("a"), json!(null)],
            vec![json!(true), json!([])],
        ),
        prop::option::weighted(0.8, params),
        response,
        prop::option::weighted(0.02, ("[a-z]{1,6}", arb_json())),
    )
        .prop_map(|(jsonrpc, method, id, params, response, extra)| {
            let mut m = if response {
                object(
                    Default::default(),
                    &[
                        ("jsonrpc", jsonrpc),
                        ("id", id.or(Some(json!(1)))),
                        ("result", Some(json!({}))),
                    ],
                )
            } else {
                object(
                    Default::default(),
                    &[
                        ("jsonrpc", jsonrpc),
                        ("method", method),
                        ("id", id),
                        ("params", params),
                    ],
                )
            };
            if let Some((k, v)) = extra {
                m.insert(k, v);
            }
            Value::Object(m)
        })
        .boxed()
}

/// A body: one message or a batch, serialised, sometimes with a member repeated or nested deeply.
fn body() -> BoxedStrategy<String> {
    let shape = prop_oneof![
        4 => message(),
        1 => prop::collection::vec(message(), 0..4).prop_map(Value::Array),
    ];
    (
        shape,
        prop::bool::weighted(0.05),
        prop::option::weighted(0.05, MAX_DEPTH - 4..MAX_DEPTH + 2),
    )
        .prop_map(|(value, repeat, deep)| {
            let mut text = value.to_string();
            if repeat {
                // Repeats the first member of the first object.
                if let Some(start) = text.find('{') {
                    if let Some(end) = text[start..].find(',') {
                        let member = text[start + 1..start + end].to_owned();
                        text.insert_str(start + 1, &format!("{member},"));
                    }
                }
            }
            if let Some(n) = deep {
                // Into the first params object, where any member is allowed.
                if let Some(at) = text.find(r#""params":{"#).map(|i| i + 10) {
                    let comma = if text[at..].starts_with('}') { "" } else { "," };
                    let nested = format!(r#""deep":{}0{}{comma}"#, "[".repeat(n), "]".repeat(n));
                    text.insert_str(at, &nested);
                }
            }
            text
        })
        .boxed()
}

/// Entries with patterns over the names above, as a route's `jsonrpc` list.
fn entries() -> BoxedStrategy<Value> {
    let pattern = |list: &[&'static str]| select(list.to_vec());
    let entry = (
        pattern(&[
            "tools/call",
            "tools/*",
            "*",
            "prompts/get",
            "resources/read",
            "initialize",
        ]),
        prop::option::weighted(
            0.6,
            pattern(&["delete_*", "delete_repo", "read", "*", "file:*"]),
        ),
        select(vec!["a", "b", "c"]),
    )
        .prop_map(|(method, name, scope)| {
            let mut e = json!({"method": method, "scopes": [scope]});
            if let Some(n) = name {
                e["name"] = json!(n);
            }
            e
        });
    prop::collection::vec(entry, 1..5)
        .prop_map(Value::Array)
        .boxed()
}

fn pattern_matches(pattern: &str, text: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => text.starts_with(prefix),
        None => pattern == text,
    }
}

/// The scopes of every entry matching a message, each once, in entry order.
fn reference_scopes(entries: &Value, calls: &[RefCall]) -> Vec<String> {
    let mut scopes = Vec::new();
    for e in entries.as_array().unwrap() {
        let hit = calls.iter().any(|(method, name)| {
            method
                .as_deref()
                .is_some_and(|m| pattern_matches(e["method"].as_str().unwrap(), m))
                && e.get("name").is_none_or(|p| {
                    name.as_deref()
                        .is_some_and(|n| pattern_matches(p.as_str().unwrap(), n))
                })
        });
        if hit {
            let s = e["scopes"][0].as_str().unwrap().to_owned();
            if !scopes.contains(&s) {
                scopes.push(s);
            }
        }
    }
    scopes
}

/// Checks the parser against the reference on `body`; on agreement, the matcher and the headers too.
fn check(
    body: &[u8],
    entries: &Value,
    headers: (Option<&str>, Option<&str>),
) -> Result<(), TestCaseError> {
    let expected = reference(body);
    let parsed = parse(body);
    let (calls, batch) = match (&parsed, expected) {
        (Err(_), None) => return Ok(()),
        (Ok(p), Some((calls, batch))) => {
            let got: Vec<RefCall> = p
                .calls
                .iter()
                .map(|c| {
                    (
                        c.method.as_deref().map(str::to_owned),
                        c.name.as_deref().map(str::to_owned),
                    )
                })
                .collect();
            prop_assert_eq!(&got, &calls);
            prop_assert_eq!(p.batch, batch);
            (calls, batch)
        }
        (got, want) => {
            return Err(TestCaseError::fail(format!(
                "parser {got:?}, reference {want:?} for {:?}",
                String::from_utf8_lossy(body)
            )))
        }
    };
    let parsed = parsed.unwrap();
    let rules = RouteTable::from_json(
        &json!([{"path": "/mcp", "auth": "required", "jsonrpc": entries}]).to_string(),
    )
    .unwrap();
    let rule = &rules.rules()[0];
    prop_assert_eq!(
        matching_scopes(&rule.jsonrpc, &parsed),
        reference_scopes(entries, &calls)
    );
    let agrees = match headers {
        (None, None) => true,
        _ if batch => false,
        (m, n) => {
            m.is_none_or(|m| calls[0].0.as_deref() == Some(m))
                && n.is_none_or(|n| calls[0].1.as_deref() == Some(n))
        }
    };
    let outcome = check_headers(&parsed, headers.0, headers.1);
    prop_assert_eq!(outcome.is_ok(), agrees, "{:?}", outcome);
    if batch && !agrees {
        prop_assert_eq!(outcome, Err(JsonRpcError::HeaderOnBatch));
    }
    Ok(())
}

fn header() -> BoxedStrategy<Option<&'static str>> {
    prop::option::weighted(0.3, select([METHODS.as_slice(), NAMES.as_slice()].concat())).boxed()
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn structured_bodies_agree_with_the_reference(
        body in body(), entries in entries(), m in header(), n in header()
    ) {
        check(body.as_bytes(), &entries, (m, n))?;
    }

    #[test]
    fn mutated_bodies_agree_with_the_reference(
        body in body(), mutations in prop::collection::vec(mutation(), 1..4), entries in entries()
    ) {
        check(mutate(&body, &mutations).as_bytes(), &entries, (None, None))?;
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256), entries in entries()) {
        check(&bytes, &entries, (None, None))?;
    }
}
