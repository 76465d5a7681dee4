//! Fuzzing the path normaliser (proptest): whatever `path::normalize` accepts comes out canonical and
//! is a fixed point. How to run more cases: tests/common/fuzz.rs.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use auth0_edge_gateway::http::path;
use common::fuzz::cases;
use proptest::prelude::*;
use proptest::sample::select;

fn raw_path() -> BoxedStrategy<String> {
    let benign = select(vec![
        "/", "/", "/", "a", "B", "~", "-", "%41", "%7e", "%7E", "%25", "%20", "%c3%a9", "é", ".",
        "..", ":", "@", "!", "*", ";", "=",
    ]);
    let hostile = select(vec![
        "%", "%2", "%2e", "%2E", "%2f", "%2F", "%5c", "%5C", "%00", "%1f", "%7f", "%zz", "\\",
        "\u{85}", "\0", "\n", "//", "%252F", "%%", "%c3%",
    ]);
    let piece = prop_oneof![8 => benign, 1 => hostile];
    prop_oneof![
        6 => prop::collection::vec(piece, 0..12).prop_map(|p| format!("/{}", p.concat())),
        1 => "(?s).{0,64}",
        1 => "/(?s).{0,64}",
        2 => "(/([a-zA-Z0-9._~-]|%[0-9a-fA-F]{2}|%){0,6}){1,5}",
    ]
    .boxed()
}

proptest! {
    #![proptest_config(cases(16384))]

    #[test]
    fn normalised_paths_are_canonical(raw in raw_path()) {
        if let Ok(out) = path::normalize(&raw) {
            prop_assert!(out.starts_with('/'), "{:?} -> {:?}", raw, out);
            for bad in ["//", "/../", "/./", "\\", "%2F", "%2f", "%5C", "%5c"] {
                prop_assert!(!out.contains(bad), "{:?} -> {:?} contains {:?}", raw, out, bad);
            }
            prop_assert!(
                !out.split('/').any(|s| s == "." || s == ".."),
                "{:?} -> {:?} keeps a dot segment", raw, out
            );
            prop_assert!(!out.chars().any(char::is_control), "{:?} -> {:?}", raw, out);
            // Escapes are upper-case and never of an unreserved character.
            let bytes = out.as_bytes();
            for (i, _) in out.match_indices('%') {
                let hex = bytes.get(i + 1..i + 3).unwrap_or_default();
                prop_assert!(
                    hex.len() == 2 && hex.iter().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(b)),
                    "{:?} -> {:?}", raw, out
                );
                let value = u8::from_str_radix(std::str::from_utf8(hex).unwrap(), 16).unwrap();
                prop_assert!(
                    !(value.is_ascii_alphanumeric() || b"-._~".contains(&value)),
                    "{:?} -> {:?} escapes an unreserved character", raw, out
                );
            }
            prop_assert_eq!(path::normalize(&out), Ok(out.clone()), "not a fixed point: {:?}", raw);
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Regressions: each crash the path normaliser target finds goes here as a plain #[test] with its minimal input.
// None so far (20,000 cases per target, debug profile).
// ---------------------------------------------------------------------------------------------------
