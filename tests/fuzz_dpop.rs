//! Fuzzing DPoP proofs (proptest): `dpop::parse_proof` and `ParsedProof::verify_signature` on
//! arbitrary strings, on byte-level mutations of a valid proof, and on random headers and claims signed
//! with the fixture key, against a reference written here (RFC 9449 section 4.3). How to run more
//! cases: tests/common/fuzz.rs.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::sync::OnceLock;

use auth0_edge_gateway::jose::dpop::{
    self, NoPreparedKeys, ProofTarget, ProofWindow, VerifiedProof,
};
use auth0_edge_gateway::state::proof_keys::ProofKeyCache;
use common::es256::p256_jwk;
use common::fuzz::{
    arb_json, assert_no_echo, cases, extras, member, mutate, mutation, object, random_compact,
    Absent, NOW,
};
use common::{access_token_hash, b64_decode, b64_encode, ec_thumbprint, with, TestDpopKey};
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{json, Map, Value};

const ACCESS_TOKEN: &str = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";
const REQUEST_URL: &str = "https://api.example.com/api/private?x=1";
const HTU: &str = "https://api.example.com/api/private";
const WINDOW: ProofWindow = ProofWindow {
    max_age: 300,
    max_skew: 30,
};

fn proof_target() -> ProofTarget<'static> {
    ProofTarget {
        method: "GET",
        url: REQUEST_URL,
        access_token: ACCESS_TOKEN,
        access_token_hash: None,
    }
}

struct DpopFixture {
    key: TestDpopKey,
    jwk: Value,
    /// A proof that verifies for `proof_target()` at `NOW`.
    proof: String,
    /// The cache of proof keys with this key prepared, as from its second proof on.
    keys: ProofKeyCache,
}

fn dpop_fixture() -> &'static DpopFixture {
    static FIXTURE: OnceLock<DpopFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let key = TestDpopKey::new(7);
        let jwk = key.public_jwk();
        let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk});
        let claims = json!({
            "jti": "e1j3V_bKic8-LAEB", "htm": "GET", "htu": HTU, "iat": NOW,
            "ath": access_token_hash(ACCESS_TOKEN),
        });
        let proof = key.sign_compact(&header.to_string(), &claims.to_string());
        let (_, prepared) = dpop::parse_proof(&proof, proof_target(), WINDOW, NOW, &NoPreparedKeys)
            .and_then(|p| p.verify_and_prepare())
            .expect("the base proof verifies");
        let mut keys = ProofKeyCache::default();
        keys.prepared(prepared);
        let found = dpop::parse_proof(&proof, proof_target(), WINDOW, NOW, &keys).unwrap();
        assert!(
            found.key_is_prepared(),
            "the key is found by its coordinates"
        );
        DpopFixture {
            key,
            jwk,
            proof,
            keys,
        }
    })
}

/// Runs a proof through the gateway, checking the invariants that hold for any input.
fn run_proof(proof: &str) -> Result<Option<VerifiedProof>, TestCaseError> {
    let outcome = match dpop::parse_proof(proof, proof_target(), WINDOW, NOW, &NoPreparedKeys) {
        Err(e) => Err(e),
        Ok(parsed) => {
            prop_assert!(proof.len() <= dpop::MAX_PROOF_BYTES);
            // The proof's own key prepared (as from its second proof on) and found by its coordinates
            // gives the same answer, the same refusal included.
            let mut keys = ProofKeyCache::default();
            keys.prepared(parsed.prepare_key());
            let plain = parsed.verify_signature();
            let found = dpop::parse_proof(proof, proof_target(), WINDOW, NOW, &keys);
            prop_assert!(found.as_ref().is_ok_and(|p| p.key_is_prepared()));
            prop_assert_eq!(&found.and_then(|p| p.verify_signature()), &plain);
            plain
        }
    };
    // With the fixture's key prepared, and found by the coordinates a proof sends, the same answer,
    // the same refusal included.
    let found = dpop::parse_proof(proof, proof_target(), WINDOW, NOW, &dpop_fixture().keys)
        .and_then(|p| p.verify_signature());
    prop_assert_eq!(&found, &outcome);
    match outcome {
        Ok(p) => Ok(Some(p)),
        Err(e) => {
            assert_no_echo(e.description(), proof)?;
            Ok(None)
        }
    }
}

/// What a proof with this header and these claims, signed with the fixture key, must yield: the `jkt`
/// and `jti` when it must verify, `None` when it must be refused (RFC 9449 section 4.3).
fn expected_proof(
    header: &Map<String, Value>,
    claims: &Map<String, Value>,
) -> Option<(String, String)> {
    if header.get("typ") != Some(&json!("dpop+jwt"))
        || header.get("alg") != Some(&json!("ES256"))
        || header.contains_key("crit")
    {
        return None;
    }
    let jwk = header.get("jwk")?.as_object()?;
    if jwk.get("kty") != Some(&json!("EC"))
        || jwk.get("crv") != Some(&json!("P-256"))
        || jwk.contains_key("d")
    {
        return None;
    }
    let (x, y) = (jwk.get("x")?.as_str()?, jwk.get("y")?.as_str()?);
    // Signed with the fixture key: it verifies only if the JWK is that key, coordinate for coordinate.
    let own = &dpop_fixture().jwk;
    if Some(x) != own["x"].as_str() || Some(y) != own["y"].as_str() {
        return None;
    }
    let jti = claims.get("jti")?.as_str()?;
    if jti.trim().is_empty() || jti.len() > 512 {
        return None;
    }
    if claims.get("htm")?.as_str()? != "GET" {
        return None;
    }
    let htu = dpop::normalize_htu(claims.get("htu")?.as_str()?)?;
    if Some(htu) != dpop::normalize_htu(REQUEST_URL) {
        return None;
    }
    let iat = claims.get("iat")?.as_f64()?;
    let now = NOW as f64;
    if iat < now - WINDOW.max_age as f64 || iat > now + WINDOW.max_skew as f64 {
        return None;
    }
    if claims.get("ath")?.as_str()? != access_token_hash(ACCESS_TOKEN) {
        return None;
    }
    if claims.get("nonce").is_some_and(|n| !n.is_string()) {
        return None;
    }
    Some((ec_thumbprint(x, y), jti.to_owned()))
}

/// A JWK: the fixture key (sometimes with harmless extra members), or a broken or foreign one.
fn proof_jwk() -> BoxedStrategy<Option<Value>> {
    let own = dpop_fixture().jwk.clone();
    let changed = |changes: Value| with(own.clone(), changes);
    let x = own["x"].clone();
    let y = own["y"].clone();
    let x_bytes = b64_decode(own["x"].as_str().unwrap()).unwrap();
    let sign_octet = b64_encode(&[&[0u8][..], &x_bytes].concat());
    prop_oneof![
        6 => Just(Some(own.clone())),
        2 => Just(Some(changed(json!({"kid": "k", "alg": "ES256", "use": "sig"})))),
        3 => select(vec![
            changed(json!({"d": "AAAA"})),
            changed(json!({"x": y, "y": x})),
            changed(json!({"x": sign_octet})),
            changed(json!({"x": format!("{}=", own["x"].as_str().unwrap())})),
            changed(json!({"kty": "RSA"})),
            changed(json!({"crv": "P-384"})),
            changed(json!({"crv": null})),
            changed(json!({"y": null})),
            changed(json!({"x": 1})),
        ])
        .prop_map(Some),
        // Another valid key, or a random (off-curve, almost surely) point.
        2 => any::<[u8; 32]>()
            .prop_filter_map("not a scalar", |s| {
                TestDpopKey::from_slice(&s).map(|k| Some(k.public_jwk()))
            }),
        1 => (any::<[u8; 32]>(), any::<[u8; 32]>()).prop_map(|(x, y)| {
            Some(p256_jwk(&x, &y))
        }),
        1 => Just(None),
        1 => arb_json().prop_map(Some),
    ]
    .boxed()
}

fn proof_header() -> BoxedStrategy<Map<String, Value>> {
    (
        member(
            Absent::Refused,
            vec![json!("dpop+jwt")],
            vec![json!("DPOP+JWT"), json!("JWT"), json!("at+jwt"), json!(1)],
        ),
        member(
            Absent::Refused,
            vec![json!("ES256")],
            vec![
                json!("es256"),
                json!("RS256"),
                json!("none"),
                json!("ES384"),
            ],
        ),
        proof_jwk(),
        prop::option::weighted(0.03, arb_json()),
        extras(),
    )
        .prop_map(|(typ, alg, jwk, crit, extras)| {
            object(
                extras,
                &[("typ", typ), ("alg", alg), ("jwk", jwk), ("crit", crit)],
            )
        })
        .boxed()
}

fn proof_claims() -> BoxedStrategy<Map<String, Value>> {
    let now = NOW as f64;
    (
        member(
            Absent::Refused,
            vec![
                json!("e1j3V_bKic8-LAEB"),
                json!("x"),
                json!("j".repeat(512)),
            ],
            vec![json!(""), json!("  "), json!("j".repeat(513)), json!(1)],
        ),
        member(
            Absent::Refused,
            vec![json!("GET")],
            vec![json!("get"), json!("POST"), json!(["GET"]), json!("GET ")],
        ),
        member(
            Absent::Refused,
            vec![
                json!(HTU),
                json!("HTTPS://API.Example.COM:443/api/private"),
                json!("https://api.example.com/api/private?y=2#f"),
            ],
            vec![
                json!("https://api.example.com/api/private/"),
                json!("https://api.example.com/api/other"),
                json!("http://api.example.com/api/private"),
                json!("https://api.example.com:8443/api/private"),
                json!("/api/private"),
                json!("https://user@api.example.com/api/private"),
                json!(1),
            ],
        ),
        member(
            Absent::Refused,
            vec![
                json!(NOW),
                json!(NOW - 300),
                json!(NOW + 30),
                json!(now + 0.5),
            ],
            vec![
                json!(NOW - 301),
                json!(NOW + 31),
                json!(now - 300.5),
                json!("1700000000"),
                Value::Null,
            ],
        ),
        member(
            Absent::Refused,
            vec![json!(access_token_hash(ACCESS_TOKEN))],
            vec![
                json!(access_token_hash("other")),
                json!(access_token_hash(ACCESS_TOKEN) + "="),
                json!(1),
            ],
        ),
        member(
            Absent::Fine,
            vec![json!("n1"), json!("")],
            vec![json!(1), Value::Null],
        ),
        extras(),
    )
        .prop_map(|(jti, htm, htu, iat, ath, nonce, extras)| {
            object(
                extras,
                &[
                    ("jti", jti),
                    ("htm", htm),
                    ("htu", htu),
                    ("iat", iat),
                    ("ath", ath),
                    ("nonce", nonce),
                ],
            )
        })
        .boxed()
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn proof_parser_survives_arbitrary_input(
        proof in prop_oneof![
            "(?s).{0,200}",
            "[A-Za-z0-9_.=+/ -]{0,300}",
            random_compact(),
            (dpop::MAX_PROOF_BYTES - 2..dpop::MAX_PROOF_BYTES + 3).prop_map(|n| "a.b.".to_owned() + &"c".repeat(n - 4)),
        ],
    ) {
        let verified = run_proof(&proof)?;
        prop_assert!(verified.is_none(), "an arbitrary string verified: {:?}", proof);
    }
}

proptest! {
    #![proptest_config(cases(1024))]

    /// Byte-level mutations of a valid proof never verify unless the proof is unchanged. (ECDSA is
    /// malleable: `(r, n - s)` also verifies, and the gateway accepts high-S signatures by design; random
    /// byte changes cannot produce it, and replay protection keys on `jti`, not on the signature.)
    #[test]
    fn mutated_proofs_never_verify(mutations in prop::collection::vec(mutation(), 1..5)) {
        let original = &dpop_fixture().proof;
        let proof = mutate(original, &mutations);
        let verified = run_proof(&proof)?.is_some();
        prop_assert!(!verified || proof == *original, "a mutated proof verified: {:?}", proof);
        if proof == *original {
            prop_assert!(verified);
        }
    }
}

proptest! {
    #![proptest_config(cases(512))]

    /// Random headers and claims signed with the fixture key: the gateway accepts exactly what the
    /// reference accepts, with the thumbprint computed here.
    #[test]
    fn signed_random_proofs_match_the_reference(header in proof_header(), claims in proof_claims()) {
        let fixture = dpop_fixture();
        let header_json = Value::Object(header.clone()).to_string();
        let claims_json = Value::Object(claims.clone()).to_string();
        let proof = fixture.key.sign_compact(&header_json, &claims_json);
        let expected = expected_proof(&header, &claims);
        let got = run_proof(&proof)?;
        match (&expected, &got) {
            (None, None) => {}
            (Some((jkt, jti)), Some(p)) => {
                prop_assert_eq!(&p.jkt, jkt);
                prop_assert_eq!(&p.jti, jti);
                prop_assert_eq!(p.nonce.as_deref(), claims.get("nonce").and_then(Value::as_str));
            }
            (Some(_), None) => {
                let reason = dpop::parse_proof(&proof, proof_target(), WINDOW, NOW, &NoPreparedKeys).err();
                prop_assert!(false, "refused ({:?}) a proof the reference accepts: {} {}", reason, header_json, claims_json);
            }
            (None, Some(_)) => {
                prop_assert!(false, "accepted a proof the reference refuses: {} {}", header_json, claims_json);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Regressions: each crash the proof targets finds goes here as a plain #[test] with its minimal input.
// None so far (20,000 cases per target, debug profile).
// ---------------------------------------------------------------------------------------------------
