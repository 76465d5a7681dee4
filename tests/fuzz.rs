//! Property-based fuzzing (proptest) of the gateway's parsers: access tokens, DPoP proofs, the
//! `Authorization` header, the route table and matcher, the path normaliser and the configuration.
//!
//! Every target asserts that nothing panics, plus the invariants written on it. Where an independent
//! reference is cheap (token claims, DPoP proof checks, route matching), the test computes the expected
//! outcome itself and compares.
//!
//! Case counts are small by default, so that the whole file runs in seconds in the debug test profile.
//! `FUZZ_CASES=N` runs N cases for every target instead, e.g.
//! `FUZZ_CASES=20000 cargo test --release --test fuzz`.
//!
//! A crash found here becomes a plain `#[test]` in the "regressions" section at the end.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use auth0_edge_gateway::config::{self, Config};
use auth0_edge_gateway::http::authorization::parse_authorization;
use auth0_edge_gateway::http::authorization::DpopMode;
use auth0_edge_gateway::http::authorization::Scheme;
use auth0_edge_gateway::http::path;
use auth0_edge_gateway::idp::Issuer;
use auth0_edge_gateway::jose::dpop::{self, ProofTarget, ProofWindow, VerifiedProof};
use auth0_edge_gateway::jose::jwks::{self, VerifyingKey};
use auth0_edge_gateway::jose::token::{self, ClaimRules, Claims, MAX_TOKEN_BYTES};
use auth0_edge_gateway::jose::{b64_decode, b64_encode};
use auth0_edge_gateway::policy::RouteTable;
use jwt_compact::alg::Rsa;
use jwt_compact::{Algorithm, AlgorithmSignature};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use proptest::prelude::*;
use proptest::sample::{select, subsequence, Index};
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

// ---------------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------------

/// `cases` cases, or `FUZZ_CASES` when set.
fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

const NOW: u64 = 1_700_000_000;

/// An error description must not carry 8 or more consecutive bytes of the input (it never echoes it).
fn assert_no_echo(error: &str, input: &str) -> Result<(), TestCaseError> {
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
fn arb_json() -> BoxedStrategy<Value> {
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
enum Absent {
    Fine,
    Refused,
}

/// Chance that a member gets a bad value. With a dozen members, most objects come out entirely good and
/// each member is corrupted alone often enough to reach its own check.
const CORRUPT: f64 = 0.06;

/// A member: a good value (or absent, where that is fine), or, now and then, a bad value, anything at
/// all, or absent where that is refused.
fn member(absent: Absent, good: Vec<Value>, bad: Vec<Value>) -> BoxedStrategy<Option<Value>> {
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
fn extras() -> BoxedStrategy<BTreeMap<String, Value>> {
    prop::collection::btree_map("[a-z_]{1,6}", arb_json(), 0..3).boxed()
}

/// Builds an object: the extras, then each known member set or removed.
fn object(
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
enum Mutation {
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

fn mutation() -> BoxedStrategy<Mutation> {
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
fn mutate(original: &str, mutations: &[Mutation]) -> String {
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
fn random_compact() -> BoxedStrategy<String> {
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

// ---------------------------------------------------------------------------------------------------
// 1. Access tokens: token::parse and UnverifiedToken::verify
// ---------------------------------------------------------------------------------------------------

const ISSUER_A: &str = "https://tenant.auth0.com/";
const ISSUER_B: &str = "https://login.example.com/";
const AUDIENCE: &str = "https://api.example.com";

fn issuers() -> &'static [Issuer] {
    static ISSUERS: OnceLock<Vec<Issuer>> = OnceLock::new();
    ISSUERS.get_or_init(|| {
        let list = vec![
            auth0_edge_gateway::idp::parse_issuer("tenant.auth0.com").unwrap(),
            auth0_edge_gateway::idp::parse_issuer("login.example.com").unwrap(),
        ];
        assert_eq!(list[0].url, ISSUER_A);
        assert_eq!(list[1].url, ISSUER_B);
        list
    })
}

fn rules(leeway: u64) -> ClaimRules<'static, Issuer> {
    ClaimRules {
        issuers: issuers(),
        audience: AUDIENCE,
        leeway,
    }
}

struct RsaFixture {
    private: RsaPrivateKey,
    public: VerifyingKey,
    /// A token that verifies: the base of the mutation targets.
    token: String,
}

fn rsa_fixture() -> &'static RsaFixture {
    static FIXTURE: OnceLock<RsaFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let private = RsaPrivateKey::from_pkcs8_pem(include_str!("fixtures/rsa-2048-a.pem"))
            .expect("the fixture key parses");
        let public = jwks::parse_rsa_jwk(&json!({
            "kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256",
            "n": b64_encode(&private.n().to_bytes_be()),
            "e": b64_encode(&private.e().to_bytes_be()),
        }))
        .expect("the fixture key is usable");
        let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": "k1"});
        let claims = json!({
            "iss": ISSUER_A, "sub": "auth0|user", "aud": [AUDIENCE, "https://tenant.auth0.com/userinfo"],
            "iat": NOW - 10, "exp": NOW + 3600, "scope": "openid read:messages",
            "permissions": ["read:messages"], "cnf": {"jkt": "thumb"},
        });
        let token = sign_rs256(&private, &header.to_string(), &claims.to_string());
        let fixture = RsaFixture {
            private,
            public,
            token,
        };
        let claims = token::parse(&fixture.token, rules(0), NOW)
            .and_then(|t| t.verify(&fixture.public))
            .expect("the base token verifies");
        assert_eq!(claims.scopes, ["openid", "read:messages"]);
        fixture
    })
}

fn sign_rs256(private: &RsaPrivateKey, header: &str, payload: &str) -> String {
    let input = format!(
        "{}.{}",
        b64_encode(header.as_bytes()),
        b64_encode(payload.as_bytes())
    );
    let signature = Rsa::rs256().sign(private, input.as_bytes());
    format!("{input}.{}", b64_encode(&signature.as_bytes()))
}

/// The header's `alg`, decoded independently of the gateway's JOSE code paths.
fn header_alg(token: &str) -> Option<String> {
    let header = b64_decode(token.split('.').next()?)?;
    let header: Value = serde_json::from_slice(&header).ok()?;
    header.get("alg")?.as_str().map(str::to_owned)
}

/// Runs a token through the gateway with the fixture key, checking the invariants that hold for any
/// input; returns the claims when it verified.
fn run_token(token: &str, leeway: u64) -> Result<Option<Claims>, TestCaseError> {
    match token::parse(token, rules(leeway), NOW) {
        Err(e) => {
            assert_no_echo(e.description(), token)?;
            Ok(None)
        }
        Ok(unverified) => {
            prop_assert!(
                token.len() <= MAX_TOKEN_BYTES,
                "accepted an oversized token"
            );
            let alg = header_alg(token);
            prop_assert_eq!(alg.as_deref(), Some("RS256"));
            prop_assert!(!unverified.kid().is_empty());
            match unverified.verify(&rsa_fixture().public) {
                Ok(claims) => Ok(Some(claims)),
                Err(e) => {
                    assert_no_echo(e.description(), token)?;
                    Ok(None)
                }
            }
        }
    }
}

/// What a token with this header and payload must yield, per RFC 7519 / RFC 8725 / RFC 9068 as the
/// gateway's contract states them: `None` when it must be refused.
struct ExpectedClaims {
    issuer: usize,
    sub: Option<String>,
    exp: f64,
    scopes: Vec<String>,
    jkt: Option<String>,
}

fn expected_claims(
    header: &Map<String, Value>,
    payload: &Map<String, Value>,
    token_len: usize,
    leeway: u64,
) -> Option<ExpectedClaims> {
    if token_len > MAX_TOKEN_BYTES {
        return None;
    }
    // Header.
    if header.get("alg") != Some(&json!("RS256")) || header.contains_key("crit") {
        return None;
    }
    match header.get("typ") {
        None => {}
        Some(Value::String(t)) if ["jwt", "at+jwt"].contains(&t.to_ascii_lowercase().as_str()) => {}
        Some(_) => return None,
    }
    match header.get("kid") {
        Some(Value::String(k)) if !k.is_empty() && k.len() <= 256 => {}
        _ => return None,
    }
    // Claims.
    let issuer = match payload.get("iss")?.as_str()? {
        ISSUER_A => 0,
        ISSUER_B => 1,
        _ => return None,
    };
    let audiences: Vec<&str> = match payload.get("aud")? {
        Value::String(a) => vec![a.as_str()],
        Value::Array(items) => items.iter().map(Value::as_str).collect::<Option<_>>()?,
        _ => return None,
    };
    if !audiences.contains(&AUDIENCE) {
        return None;
    }
    let (now, leeway) = (NOW as f64, leeway as f64);
    let exp = payload.get("exp")?.as_f64()?;
    if exp + leeway <= now {
        return None;
    }
    if let Some(nbf) = payload.get("nbf") {
        if nbf.as_f64()? > now + leeway {
            return None;
        }
    }
    if let Some(iat) = payload.get("iat") {
        iat.as_f64()?;
    }
    let sub = match payload.get("sub") {
        None => None,
        Some(v) => Some(v.as_str()?.to_owned()),
    };
    let mut granted: Vec<String> = Vec::new();
    let mut scopes: Vec<&str> = Vec::new();
    match payload.get("scope") {
        None => {}
        Some(v) => scopes.extend(v.as_str()?.split(' ')),
    }
    match payload.get("scp") {
        None => {}
        Some(Value::String(s)) => scopes.extend(s.split(' ')),
        Some(Value::Array(items)) => {
            for item in items {
                scopes.push(item.as_str()?);
            }
        }
        Some(_) => return None,
    }
    match payload.get("permissions") {
        None => {}
        Some(v) => {
            for item in v.as_array()? {
                scopes.push(item.as_str()?);
            }
        }
    }
    for scope in scopes {
        if !scope.is_empty() && !granted.iter().any(|g| g == scope) {
            granted.push(scope.to_owned());
        }
    }
    let jkt = match payload.get("cnf") {
        None => None,
        Some(cnf) => match cnf.as_object()?.get("jkt") {
            None => None,
            Some(Value::String(j)) if !j.is_empty() => Some(j.clone()),
            Some(_) => return None,
        },
    };
    Some(ExpectedClaims {
        issuer,
        sub,
        exp,
        scopes: granted,
        jkt,
    })
}

fn token_header() -> BoxedStrategy<Map<String, Value>> {
    (
        member(
            Absent::Refused,
            vec![json!("RS256")],
            vec![
                json!("rs256"),
                json!("none"),
                json!("HS256"),
                json!("RS384"),
                json!("PS256"),
                json!("ES256"),
                json!("RS256 "),
                json!(["RS256"]),
            ],
        ),
        member(
            Absent::Fine,
            vec![json!("JWT"), json!("at+jwt"), json!("AT+JWT"), json!("jwt")],
            vec![
                json!("dpop+jwt"),
                json!("application/at+jwt"),
                json!("JOSE"),
                json!(1),
            ],
        ),
        member(
            Absent::Refused,
            vec![json!("k1"), json!("another"), json!("x".repeat(256))],
            vec![json!(""), json!("x".repeat(257)), json!(5), Value::Null],
        ),
        prop::option::weighted(0.03, arb_json()),
        extras(),
    )
        .prop_map(|(alg, typ, kid, crit, extras)| {
            object(
                extras,
                &[("alg", alg), ("typ", typ), ("kid", kid), ("crit", crit)],
            )
        })
        .boxed()
}

fn token_payload() -> BoxedStrategy<Map<String, Value>> {
    let now = NOW as f64;
    let registered = (
        member(
            Absent::Refused,
            vec![json!(ISSUER_A), json!(ISSUER_B)],
            vec![
                json!("https://tenant.auth0.com"),
                json!("https://TENANT.auth0.com/"),
                json!(""),
                json!([ISSUER_A]),
            ],
        ),
        member(
            Absent::Refused,
            vec![
                json!(AUDIENCE),
                json!([AUDIENCE]),
                json!([AUDIENCE, "other"]),
                json!(["other", AUDIENCE]),
            ],
            vec![
                json!("other"),
                json!([]),
                json!(["other"]),
                json!([AUDIENCE, 1]),
                json!(1),
                json!({ "a": AUDIENCE }),
            ],
        ),
        member(
            Absent::Refused,
            vec![
                json!(NOW + 1),
                json!(NOW + 3600),
                json!(now + 0.5),
                json!(1e12),
                json!(u64::MAX),
            ],
            vec![
                json!(NOW),
                json!(NOW - 1),
                json!(NOW - 300),
                json!(now - 0.5),
                json!(-1),
                json!("1700003600"),
                Value::Null,
            ],
        ),
        member(
            Absent::Fine,
            vec![json!(NOW), json!(NOW - 100), json!(0), json!(-5)],
            vec![
                json!(NOW + 1),
                json!(NOW + 300),
                json!(NOW + 301),
                json!("0"),
                json!(true),
            ],
        ),
        member(
            Absent::Fine,
            vec![json!(NOW), json!(NOW - 10), json!(1.5), json!(1e300)],
            vec![json!("x"), Value::Null, json!([])],
        ),
        member(
            Absent::Fine,
            vec![json!("auth0|user"), json!("")],
            vec![json!(1), Value::Null, json!({})],
        ),
    );
    let grants = (
        member(
            Absent::Fine,
            vec![json!("openid read"), json!("a  b"), json!(""), json!(" x ")],
            vec![json!(["a"]), json!(1), Value::Null],
        ),
        member(
            Absent::Fine,
            vec![json!("x y"), json!(["c", "a"]), json!([])],
            vec![json!([1]), json!(1), json!({})],
        ),
        member(
            Absent::Fine,
            vec![
                json!(["read:messages", "write"]),
                json!([]),
                json!(["a", "a", ""]),
            ],
            vec![json!("read"), json!([null]), json!({})],
        ),
        member(
            Absent::Fine,
            vec![json!({"jkt": "thumb"}), json!({}), json!({"x5t#S256": "c"})],
            vec![
                json!({"jkt": ""}),
                json!({"jkt": 1}),
                json!("jkt"),
                json!([]),
            ],
        ),
        extras(),
        prop::option::weighted(0.1, 11_800usize..12_600),
    );
    (registered, grants)
        .prop_map(
            |((iss, aud, exp, nbf, iat, sub), (scope, scp, permissions, cnf, extras, pad))| {
                let pad = pad.map(|n| json!("p".repeat(n)));
                object(
                    extras,
                    &[
                        ("iss", iss),
                        ("aud", aud),
                        ("exp", exp),
                        ("nbf", nbf),
                        ("iat", iat),
                        ("sub", sub),
                        ("scope", scope),
                        ("scp", scp),
                        ("permissions", permissions),
                        ("cnf", cnf),
                        ("pad", pad),
                    ],
                )
            },
        )
        .boxed()
}

fn leeway() -> BoxedStrategy<u64> {
    prop_oneof![Just(0u64), 0u64..=300].boxed()
}

proptest! {
    #![proptest_config(cases(512))]

    /// (a) Arbitrary strings and compact-shaped garbage.
    #[test]
    fn token_parser_survives_arbitrary_input(
        token in prop_oneof![
            "(?s).{0,200}",
            "[A-Za-z0-9_.=+/ -]{0,300}",
            random_compact(),
            (MAX_TOKEN_BYTES - 2..MAX_TOKEN_BYTES + 3).prop_map(|n| "a.b.".to_owned() + &"c".repeat(n - 4)),
        ],
        leeway in leeway(),
    ) {
        let claims = run_token(&token, leeway)?;
        prop_assert!(claims.is_none(), "an arbitrary string verified: {:?}", token);
    }
}

proptest! {
    #![proptest_config(cases(1024))]

    /// (b) Byte-level mutations of a valid token never verify unless the token is unchanged.
    #[test]
    fn mutated_tokens_never_verify(mutations in prop::collection::vec(mutation(), 1..5)) {
        let original = &rsa_fixture().token;
        let token = mutate(original, &mutations);
        let verified = run_token(&token, 0)?.is_some();
        prop_assert!(!verified || token == *original, "a mutated token verified: {:?}", token);
        if token == *original {
            prop_assert!(verified);
        }
    }
}

proptest! {
    #![proptest_config(cases(256))]

    /// (b) Random headers and payloads, correctly signed: the gateway accepts exactly what the
    /// reference accepts, with the same claims; the same token with its signature part replaced by
    /// random bytes never verifies.
    #[test]
    fn signed_random_tokens_match_the_reference(
        header in token_header(),
        payload in token_payload(),
        leeway in leeway(),
        bad_signature in prop_oneof![
            prop::collection::vec(any::<u8>(), 256),
            prop::collection::vec(any::<u8>(), 0..300),
        ],
    ) {
        let fixture = rsa_fixture();
        let header_json = Value::Object(header.clone()).to_string();
        let payload_json = Value::Object(payload.clone()).to_string();
        let token = sign_rs256(&fixture.private, &header_json, &payload_json);
        // The reference reads the JSON as sent: serde_json may parse a float back a unit in the last
        // place away from the generated one.
        let header: Map<String, Value> = serde_json::from_str(&header_json).unwrap();
        let payload: Map<String, Value> = serde_json::from_str(&payload_json).unwrap();
        let expected = expected_claims(&header, &payload, token.len(), leeway);
        let got = run_token(&token, leeway)?;
        match (&expected, &got) {
            (None, None) => {}
            (Some(e), Some(c)) => {
                prop_assert_eq!(c.issuer, e.issuer);
                prop_assert_eq!(&c.sub, &e.sub);
                prop_assert_eq!(c.exp, e.exp);
                prop_assert_eq!(&c.scopes, &e.scopes);
                prop_assert_eq!(&c.jkt, &e.jkt);
                prop_assert_eq!(&c.all, &payload);
            }
            (Some(_), None) => {
                let reason = token::parse(&token, rules(leeway), NOW).err();
                prop_assert!(false, "refused ({:?}) a token the reference accepts: {} {}", reason, header_json, payload_json);
            }
            (None, Some(_)) => {
                prop_assert!(false, "accepted a token the reference refuses: {} {}", header_json, payload_json);
            }
        }
        let (signed, _) = token.rsplit_once('.').unwrap();
        let forged = format!("{signed}.{}", b64_encode(&bad_signature));
        prop_assert!(run_token(&forged, leeway)?.is_none(), "random signature bytes verified");
    }
}

// ---------------------------------------------------------------------------------------------------
// 2. DPoP proofs: dpop::parse_proof and ParsedProof::verify_signature
// ---------------------------------------------------------------------------------------------------

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
    }
}

/// `ath`, computed here: base64url(SHA-256(token)).
fn ath(token: &str) -> String {
    b64_encode(&Sha256::digest(token.as_bytes()))
}

fn p256_jwk(key: &SigningKey) -> Value {
    let point = key.verifying_key().to_encoded_point(false);
    json!({
        "kty": "EC", "crv": "P-256",
        "x": b64_encode(point.x().unwrap()),
        "y": b64_encode(point.y().unwrap()),
    })
}

fn sign_es256(key: &SigningKey, header: &str, claims: &str) -> String {
    let input = format!(
        "{}.{}",
        b64_encode(header.as_bytes()),
        b64_encode(claims.as_bytes())
    );
    let signature: Signature = key.sign(input.as_bytes());
    format!("{input}.{}", b64_encode(&signature.to_bytes()))
}

struct DpopFixture {
    key: SigningKey,
    jwk: Value,
    /// A proof that verifies for `proof_target()` at `NOW`.
    proof: String,
}

fn dpop_fixture() -> &'static DpopFixture {
    static FIXTURE: OnceLock<DpopFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let key = SigningKey::from_slice(&[7u8; 32]).expect("a valid scalar");
        let jwk = p256_jwk(&key);
        let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk});
        let claims = json!({
            "jti": "e1j3V_bKic8-LAEB", "htm": "GET", "htu": HTU, "iat": NOW,
            "ath": ath(ACCESS_TOKEN),
        });
        let proof = sign_es256(&key, &header.to_string(), &claims.to_string());
        dpop::parse_proof(&proof, proof_target(), WINDOW, NOW)
            .and_then(|p| p.verify_signature())
            .expect("the base proof verifies");
        DpopFixture { key, jwk, proof }
    })
}

/// Runs a proof through the gateway, checking the invariants that hold for any input.
fn run_proof(proof: &str) -> Result<Option<VerifiedProof>, TestCaseError> {
    match dpop::parse_proof(proof, proof_target(), WINDOW, NOW) {
        Err(e) => {
            assert_no_echo(e.description(), proof)?;
            Ok(None)
        }
        Ok(parsed) => {
            prop_assert!(proof.len() <= dpop::MAX_PROOF_BYTES);
            match parsed.verify_signature() {
                Ok(p) => Ok(Some(p)),
                Err(e) => {
                    assert_no_echo(e.description(), proof)?;
                    Ok(None)
                }
            }
        }
    }
}

/// RFC 7638 thumbprint of a P-256 JWK, computed here.
fn thumbprint(x: &str, y: &str) -> String {
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    b64_encode(&Sha256::digest(canonical.as_bytes()))
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
    if claims.get("ath")?.as_str()? != ath(ACCESS_TOKEN) {
        return None;
    }
    if claims.get("nonce").is_some_and(|n| !n.is_string()) {
        return None;
    }
    Some((thumbprint(x, y), jti.to_owned()))
}

/// A JWK: the fixture key (sometimes with harmless extra members), or a broken or foreign one.
fn proof_jwk() -> BoxedStrategy<Option<Value>> {
    let own = dpop_fixture().jwk.clone();
    let with = |changes: Value| {
        let mut jwk = dpop_fixture().jwk.clone();
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                jwk.as_object_mut().unwrap().remove(k);
            } else {
                jwk[k] = v.clone();
            }
        }
        jwk
    };
    let x = own["x"].clone();
    let y = own["y"].clone();
    let x_bytes = b64_decode(own["x"].as_str().unwrap()).unwrap();
    let sign_octet = b64_encode(&[&[0u8][..], &x_bytes].concat());
    prop_oneof![
        6 => Just(Some(own.clone())),
        2 => Just(Some(with(json!({"kid": "k", "alg": "ES256", "use": "sig"})))),
        3 => select(vec![
            with(json!({"d": "AAAA"})),
            with(json!({"x": y, "y": x})),
            with(json!({"x": sign_octet})),
            with(json!({"x": format!("{}=", own["x"].as_str().unwrap())})),
            with(json!({"kty": "RSA"})),
            with(json!({"crv": "P-384"})),
            with(json!({"crv": null})),
            with(json!({"y": null})),
            with(json!({"x": 1})),
        ])
        .prop_map(Some),
        // Another valid key, or a random (off-curve, almost surely) point.
        2 => any::<[u8; 32]>()
            .prop_filter_map("not a scalar", |s| {
                SigningKey::from_slice(&s).ok().map(|k| Some(p256_jwk(&k)))
            }),
        1 => (any::<[u8; 32]>(), any::<[u8; 32]>()).prop_map(|(x, y)| {
            Some(json!({"kty": "EC", "crv": "P-256", "x": b64_encode(&x), "y": b64_encode(&y)}))
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
            vec![json!(ath(ACCESS_TOKEN))],
            vec![
                json!(ath("other")),
                json!(ath(ACCESS_TOKEN) + "="),
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
        let proof = sign_es256(&fixture.key, &header_json, &claims_json);
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
                let reason = dpop::parse_proof(&proof, proof_target(), WINDOW, NOW).err();
                prop_assert!(false, "refused ({:?}) a proof the reference accepts: {} {}", reason, header_json, claims_json);
            }
            (None, Some(_)) => {
                prop_assert!(false, "accepted a proof the reference refuses: {} {}", header_json, claims_json);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// 3. The Authorization header
// ---------------------------------------------------------------------------------------------------

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
// 4. The route table and matcher
// ---------------------------------------------------------------------------------------------------

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
        .prop_filter_map("not a normalisable path", |p| path::normalize(&p).ok())
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
// 5. The path normaliser
// ---------------------------------------------------------------------------------------------------

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
// 6. The configuration
// ---------------------------------------------------------------------------------------------------

/// Every setting name.
const SETTINGS: [&str; config::names::ALL.len()] = config::names::ALL;

const BAD_DOMAINS: &[&str] = &[
    "http://evil.com",
    "tenant.auth0.com:0",
    "tenant.auth0.com:99999",
    "[::1]",
    "[]",
    "[",
    "a..b",
    "ftp://x",
    "x/y",
    "é.example.com",
    "login.example.com, login.example.com",
];

/// Values a person might set for a setting: (accepted, refused).
fn setting_values(name: &str) -> (Vec<String>, Vec<String>) {
    let (good, bad): (&[&str], &[&str]) = match name {
        "AUTH0_DOMAIN" => (
            &[
                "tenant.auth0.com",
                "https://tenant.auth0.com/",
                " TENANT.Auth0.com// ",
                "tenant.auth0.com:8443",
                "http://localhost:8788",
                "http://[::1]:9000",
            ],
            BAD_DOMAINS,
        ),
        "AUTH0_ADDITIONAL_DOMAINS" => (
            &[
                "login.example.com",
                "https://id.example.com/",
                "login.example.com, id.example.com,",
                "127.0.0.1:8443",
            ],
            BAD_DOMAINS,
        ),
        "AUTH0_AUDIENCE" => (&["https://api.example.com", " padded "], &[" ", "\t"]),
        "DPOP_MODE" => (
            &["allowed", "required", "disabled", " allowed "],
            &["Required", "on"],
        ),
        "ROUTES" => (
            &[r#"[{"path": "/api/*", "auth": "required"}]"#],
            &[
                r#"[{"path": "/a", "auth": "none"}, {"path": "/a", "auth": "none"}]"#,
                "[]",
                "{}",
                "not json",
            ],
        ),
        "ORIGIN_URL" => (
            &[
                "https://origin.example.com",
                "https://origin.example.com/base/",
                "http://localhost:8080",
                "HTTPS://Origin.Example.com",
                "https://[::1]:8443/x",
            ],
            &[
                "http://origin.example.com",
                "https://",
                "https://[::1",
                "https://[",
                "https://a/../b",
                "https://user@x",
                "ftp://x",
                "https://é",
                "https://:80",
            ],
        ),
        "DPOP_NONCE_SECRET" => (
            &["0123456789abcdef0123456789abcdef"],
            &["short", "0123456789abcdef"],
        ),
        "ORIGIN_SHARED_SECRET" => (
            &["0123456789abcdef", "0123456789abcdef0123456789abcdef"],
            &["short", "with space 0123456789abcdef", "ééééééééééééééééé"],
        ),
        "DPOP_REPLAY_STORE" => (
            &["isolate", "durable-object", " isolate "],
            &["kv", "Isolate"],
        ),
        "TRUST_PROXY" | "FORWARD_CREDENTIALS" => {
            (&["true", "false", " true "], &["yes", "TRUE", "1"])
        }
        "CLAIM_HEADERS" => (
            &[r#"{"email": "x-user-email"}"#, "{}"],
            &[
                r#"{"email": "X-User-Email", "name": "x-user-email"}"#,
                r#"{"email": "host"}"#,
                r#"{"email": "cf-x"}"#,
                r#"{"email": 1}"#,
                r#"{"email": ""}"#,
                "[]",
            ],
        ),
        "ORIGIN_SHARED_SECRET_HEADER" => (&["x-gateway-secret", "X-Secret"], &["bad header", "é"]),
        "CORS_ALLOWED_ORIGINS" => (
            &[
                "https://app.example.com",
                "*",
                "https://a.example.com, http://localhost:3000",
            ],
            &["https://a.example.com/", "null", "https://", ",x"],
        ),
        "CORS_ALLOWED_METHODS" => (&["GET, POST", "get"], &["FETCH", "GET,,POST"]),
        "CORS_ALLOWED_HEADERS" => (&["Authorization, DPoP", "x"], &["bad header", "a,,b"]),
        "DPOP_NONCE_LIFETIME_SECONDS" => (&["10", "300", "3600"], &["9", "3601", "-1"]),
        "DPOP_REPLAY_CACHE_SIZE" => (&["10", "50000", "1000000"], &["9", "1000001"]),
        "FETCH_TIMEOUT_MS" => (&["1", "5000", "60000"], &["0", "60001"]),
        // The other numeric settings: every one accepts 0 to 300.
        _ => (
            &["0", "1", "30", " 5 ", "300"],
            &["-1", "1e3", "+5", "5s", "18446744073709551616", "99999999"],
        ),
    };
    let owned = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect();
    (owned(good), owned(bad))
}

/// A setting: unset or an accepted value, or, now and then, a refused or random value.
fn setting(name: &'static str) -> BoxedStrategy<Option<String>> {
    let (good, bad) = setting_values(name);
    let clean = if matches!(name, "AUTH0_DOMAIN" | "AUTH0_AUDIENCE") {
        select(good).prop_map(Some).boxed()
    } else {
        prop_oneof![2 => Just(None), 1 => select(good).prop_map(Some)].boxed()
    };
    let dirty = prop_oneof![
        4 => select(bad).prop_map(Some),
        1 => "(?s).{0,24}".prop_map(Some),
        1 => Just(None),
    ];
    (clean, dirty, prop::bool::weighted(0.04))
        .prop_map(|(clean, dirty, corrupt)| if corrupt { dirty } else { clean })
        .boxed()
}

fn settings() -> BoxedStrategy<HashMap<&'static str, String>> {
    let strategies: Vec<BoxedStrategy<Option<String>>> =
        SETTINGS.iter().map(|n| setting(n)).collect();
    strategies
        .prop_map(|values| {
            SETTINGS
                .iter()
                .zip(values)
                .filter_map(|(name, v)| v.map(|v| (*name, v)))
                .collect()
        })
        .boxed()
}

proptest! {
    #![proptest_config(cases(4096))]

    #[test]
    fn configuration_errors_name_a_setting(vars in settings()) {
        let asked = RefCell::new(Vec::new());
        let result = Config::from_lookup(|name| {
            asked.borrow_mut().push(name.to_owned());
            vars.get(name).cloned()
        });
        for name in asked.borrow().iter() {
            prop_assert!(SETTINGS.contains(&name.as_str()), "looked up an unknown setting {}", name);
        }
        match result {
            Err(e) => {
                prop_assert!(SETTINGS.contains(&e.setting), "unknown setting {:?} in {}", e.setting, e);
                prop_assert!(e.to_string().starts_with(e.setting));
                // Secrets never appear in errors.
                for secret in ["DPOP_NONCE_SECRET", "ORIGIN_SHARED_SECRET"] {
                    if let Some(value) = vars.get(secret).map(|v| v.trim()).filter(|v| v.len() >= 8) {
                        let elsewhere = vars.iter().any(|(n, v)| *n != secret && v.contains(value));
                        prop_assert!(elsewhere || !e.to_string().contains(value), "{} leaks {}", e, secret);
                    }
                }
            }
            Ok(c) => {
                prop_assert!(!c.issuers.is_empty());
                for issuer in &c.issuers {
                    prop_assert!(issuer.url.ends_with('/'));
                    prop_assert!(issuer.url.starts_with("https://") || issuer.is_loopback_http);
                }
                prop_assert!(!c.audience.trim().is_empty());
                prop_assert!(c.clock_leeway <= 300);
                prop_assert!((1..=60_000).contains(&c.cache.fetch_timeout_ms));
                prop_assert!(c.dpop.window.max_age <= 3_600 && c.dpop.window.max_skew <= 300);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Regressions: each crash a target above finds goes here as a plain #[test] with its minimal input.
// None so far (20,000 cases per target, debug profile).
// ---------------------------------------------------------------------------------------------------
