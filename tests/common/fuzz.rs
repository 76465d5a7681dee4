//! Shared pieces of the property-based fuzzing (proptest) of the gateway's parsers, one test file per
//! target: `fuzz_token` (access tokens), `fuzz_dpop` (DPoP proofs), `fuzz_authorization` (the
//! `Authorization` header), `fuzz_routes` (the route table and matcher), `fuzz_path` (the path
//! normaliser) and `fuzz_config` (the configuration).
//!
//! Every target asserts that nothing panics, plus the invariants written on it. Where an independent
//! reference is cheap (token claims, DPoP proof checks, route matching), the test computes the expected
//! outcome itself and compares.
//!
//! Case counts are small by default, so that every target runs in seconds in the debug test profile.
//! `FUZZ_CASES=N` runs N cases for every target instead, e.g.
//! `FUZZ_CASES=20000 cargo test --release --test 'fuzz_*'`, or one file: `--test fuzz_token`.
//!
//! A crash found by a target becomes a plain `#[test]` in the "regressions" section at the end of its
//! file.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::sample::{select, Index};
use serde_json::{json, Map, Value};

use super::{b64_decode, b64_encode};

/// `cases` cases, or `FUZZ_CASES` when set.
pub fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

/// The time (Unix seconds) every target runs at.
pub const NOW: u64 = 1_700_000_000;

/// An error description must not carry 8 or more consecutive bytes of the input (it never echoes it).
pub fn assert_no_echo(error: &str, input: &str) -> Result<(), TestCaseError> {
    let input = input.as_bytes();
    for window in error.as_bytes().windows(8) {
        prop_assert!(
            !input.windows(8).any(|w| w == window),
            "the error {:?} echoes input bytes {:?}",
            error,
            String::from_utf8_lossy(window)
        );
    }
    Ok(())
}

/// A JSON value of any shape, a few levels deep, with strings that sometimes are the interesting ones.
pub fn arb_json() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "(?s).{0,12}".prop_map(Value::String),
        select(vec![
            "RS256",
            "ES256",
            "JWT",
            "at+jwt",
            "dpop+jwt",
            "k1",
            "",
            " ",
            "GET",
            "none",
            "https://tenant.auth0.com/",
            "https://api.example.com",
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
    .boxed()
}

/// Whether a member may be left out.
#[derive(Clone, Copy, PartialEq)]
pub enum Absent {
    Fine,
    Refused,
}

/// Chance that a member gets a bad value. With a dozen members, most objects come out entirely good and
/// each member is corrupted alone often enough to reach its own check.
pub const CORRUPT: f64 = 0.06;

/// A member: a good value (or absent, where that is fine), or, now and then, a bad value, anything at
/// all, or absent where that is refused.
pub fn member(absent: Absent, good: Vec<Value>, bad: Vec<Value>) -> BoxedStrategy<Option<Value>> {
    let good = select(good).prop_map(Some);
    let clean = match absent {
        Absent::Fine => prop_oneof![1 => Just(None), 2 => good].boxed(),
        Absent::Refused => good.boxed(),
    };
    let dirty = match absent {
        Absent::Fine => prop_oneof![
            3 => select(bad).prop_map(Some),
            1 => arb_json().prop_map(Some),
        ]
        .boxed(),
        Absent::Refused => prop_oneof![
            3 => select(bad).prop_map(Some),
            1 => arb_json().prop_map(Some),
            1 => Just(None),
        ]
        .boxed(),
    };
    (clean, dirty, prop::bool::weighted(CORRUPT))
        .prop_map(|(clean, dirty, corrupt)| if corrupt { dirty } else { clean })
        .boxed()
}

/// Extra members with random names (which may collide with the known ones; the known ones win).
pub fn extras() -> BoxedStrategy<BTreeMap<String, Value>> {
    prop::collection::btree_map("[a-z_]{1,6}", arb_json(), 0..3).boxed()
}

/// Builds an object: the extras, then each known member set or removed.
pub fn object(
    extras: BTreeMap<String, Value>,
    members: &[(&str, Option<Value>)],
) -> Map<String, Value> {
    let mut map: Map<String, Value> = extras.into_iter().collect();
    for (name, value) in members {
        match value {
            Some(v) => map.insert((*name).to_owned(), v.clone()),
            None => map.remove(*name),
        };
    }
    map
}

/// A byte-level change to a compact JWS.
#[derive(Debug, Clone)]
pub enum Mutation {
    Flip(Index, u8),
    Set(Index, u8),
    Insert(Index, u8),
    Delete(Index),
    DeleteRun(Index, usize),
    DuplicateRun(Index, usize),
    /// Replaces part N (split on '.') with the base64url of these bytes.
    ReplacePart(usize, Vec<u8>),
    SwapParts(usize, usize),
    Truncate(Index),
    AppendPart(Vec<u8>),
    /// Flips a bit in the decoded bytes of part N and re-encodes it, so that the token stays well-formed
    /// base64url and the change reaches the JSON, claim and signature checks.
    FlipDecoded(usize, Index, u8),
}

pub fn mutation() -> BoxedStrategy<Mutation> {
    let byte = || prop_oneof![any::<u8>(), select(b".=+/-_ \t%A0{}\",".to_vec())];
    prop_oneof![
        (any::<Index>(), 0u8..8).prop_map(|(i, bit)| Mutation::Flip(i, bit)),
        (any::<Index>(), byte()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (any::<Index>(), byte()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<Index>().prop_map(Mutation::Delete),
        (any::<Index>(), 1usize..16).prop_map(|(i, n)| Mutation::DeleteRun(i, n)),
        (any::<Index>(), 1usize..16).prop_map(|(i, n)| Mutation::DuplicateRun(i, n)),
        (0usize..3, prop::collection::vec(any::<u8>(), 0..80))
            .prop_map(|(p, raw)| Mutation::ReplacePart(p, raw)),
        (0usize..3, 0usize..3).prop_map(|(a, b)| Mutation::SwapParts(a, b)),
        any::<Index>().prop_map(Mutation::Truncate),
        prop::collection::vec(any::<u8>(), 0..8).prop_map(Mutation::AppendPart),
        (0usize..3, any::<Index>(), 0u8..8)
            .prop_map(|(p, i, bit)| Mutation::FlipDecoded(p, i, bit)),
        (0usize..3, any::<Index>(), 0u8..8)
            .prop_map(|(p, i, bit)| Mutation::FlipDecoded(p, i, bit)),
        (0usize..3, any::<Index>(), 0u8..8)
            .prop_map(|(p, i, bit)| Mutation::FlipDecoded(p, i, bit)),
    ]
    .boxed()
}

fn split_parts(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes.split(|&b| b == b'.').map(<[u8]>::to_vec).collect()
}

/// Applies the mutations in order; invalid UTF-8 is replaced (the parsers take `&str`).
pub fn mutate(original: &str, mutations: &[Mutation]) -> String {
    let mut bytes = original.as_bytes().to_vec();
    for m in mutations {
        let len = bytes.len();
        match m {
            Mutation::Flip(i, bit) if len > 0 => bytes[i.index(len)] ^= 1 << bit,
            Mutation::Set(i, b) if len > 0 => bytes[i.index(len)] = *b,
            Mutation::Insert(i, b) => bytes.insert(i.index(len + 1), *b),
            Mutation::Delete(i) if len > 0 => {
                bytes.remove(i.index(len));
            }
            Mutation::DeleteRun(i, n) if len > 0 => {
                let start = i.index(len);
                bytes.drain(start..(start + n).min(len));
            }
            Mutation::DuplicateRun(i, n) if len > 0 => {
                let start = i.index(len);
                let end = (start + n).min(len);
                let run = bytes[start..end].to_vec();
                bytes.splice(end..end, run);
            }
            Mutation::ReplacePart(p, raw) => {
                let mut parts = split_parts(&bytes);
                if let Some(part) = parts.get_mut(*p) {
                    *part = b64_encode(raw).into_bytes();
                }
                bytes = parts.join(&b'.');
            }
            Mutation::SwapParts(a, b) => {
                let mut parts = split_parts(&bytes);
                if *a < parts.len() && *b < parts.len() {
                    parts.swap(*a, *b);
                }
                bytes = parts.join(&b'.');
            }
            Mutation::Truncate(i) => bytes.truncate(i.index(len + 1)),
            Mutation::AppendPart(raw) => {
                bytes.push(b'.');
                bytes.extend_from_slice(b64_encode(raw).as_bytes());
            }
            Mutation::FlipDecoded(p, i, bit) => {
                let mut parts = split_parts(&bytes);
                let decoded = parts
                    .get(*p)
                    .and_then(|part| b64_decode(std::str::from_utf8(part).ok()?))
                    .filter(|d| !d.is_empty());
                if let Some(mut decoded) = decoded {
                    let at = i.index(decoded.len());
                    decoded[at] ^= 1 << bit;
                    parts[*p] = b64_encode(&decoded).into_bytes();
                    bytes = parts.join(&b'.');
                }
            }
            _ => {}
        }
    }
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// A compact-JWS-shaped string from random parts: base64url of random bytes or JSON, or raw text.
pub fn random_compact() -> BoxedStrategy<String> {
    let part = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64).prop_map(|b| b64_encode(&b)),
        arb_json().prop_map(|v| b64_encode(v.to_string().as_bytes())),
        "[A-Za-z0-9_=+/.-]{0,40}",
        "(?s).{0,16}",
    ];
    prop::collection::vec(part, 0..6)
        .prop_map(|parts| parts.join("."))
        .boxed()
}
