//! Fuzzing the `Authorization` header (proptest): `parse_authorization` yields at most one credential,
//! in a scheme the DPoP mode allows. How to run more cases: tests/common/fuzz.rs.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use auth0_edge_gateway::http::authorization::{parse_authorization, DpopMode, Scheme};
use common::fuzz::cases;
use proptest::prelude::*;
use proptest::sample::select;

fn authorization_value() -> BoxedStrategy<Option<String>> {
    let scheme = prop_oneof![
        6 => select(vec!["Bearer", "bearer", "BEARER", "DPoP", "dpop", "DPOP"]),
        1 => select(vec!["Basic", "Token", "Bearer,", "", "Bearer\u{a0}"]),
    ];
    let sep = prop_oneof![
        6 => select(vec![" ", "\t", "   ", " \t"]),
        1 => Just(""),
    ];
    let extra = prop_oneof![
        6 => Just(String::new()),
        2 => (
            select(vec![" ", ",", "\t", ", ", " ,"]),
            "[A-Za-z0-9._~+/= ,\t-]{0,8}",
        )
            .prop_map(|(a, b)| format!("{a}{b}")),
    ];
    let structured = (
        select(vec!["", "", " ", "\t", " \t "]),
        scheme,
        sep,
        "[A-Za-z0-9._~+/=-]{0,24}",
        extra,
        select(vec!["", "", " ", "\t"]),
    )
        .prop_map(|(lead, scheme, sep, token, extra, trail)| {
            format!("{lead}{scheme}{sep}{token}{extra}{trail}")
        });
    prop_oneof![
        1 => Just(None),
        3 => "(?s).{0,48}".prop_map(Some),
        8 => structured.prop_map(Some),
    ]
    .boxed()
}

proptest! {
    #![proptest_config(cases(8192))]

    #[test]
    fn authorization_header_yields_one_credential(
        header in authorization_value(),
        mode in select(vec![DpopMode::Allowed, DpopMode::Required, DpopMode::Disabled]),
    ) {
        match parse_authorization(header.as_deref(), mode) {
            Ok(credentials) => {
                prop_assert!(!credentials.token.is_empty());
                prop_assert!(!credentials.token.contains([' ', '\t', ',']), "{:?}", credentials.token);
                // The credential is the header's second word.
                let value = header.as_deref().unwrap();
                prop_assert!(value.trim_matches([' ', '\t']).ends_with(credentials.token));
                match (mode, credentials.scheme) {
                    (DpopMode::Required, Scheme::Bearer) | (DpopMode::Disabled, Scheme::Dpop) => {
                        prop_assert!(false, "{:?} accepted in mode {:?}", credentials.scheme, mode);
                    }
                    _ => {}
                }
            }
            Err((scheme, reason)) => {
                // A malformed header always names the scheme it was recognised by.
                prop_assert!(!reason.is_malformed() || scheme.is_some(), "{:?}", reason);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Regressions: each crash the Authorization header target finds goes here as a plain #[test] with its minimal input.
// None so far (20,000 cases per target, debug profile).
// ---------------------------------------------------------------------------------------------------
