//! Fuzzing access tokens (proptest): `token::parse` and `UnverifiedToken::verify` on arbitrary
//! strings, on byte-level mutations of a valid token, and on random headers and payloads signed with
//! the fixture key, against a reference written here. How to run more cases: tests/common/fuzz.rs.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::sync::OnceLock;

use auth0_edge_gateway::idp::Issuer;
use auth0_edge_gateway::jose::jwks::{self, VerifyingKey};
use auth0_edge_gateway::jose::token::{self, ClaimRules, Claims, MAX_TOKEN_BYTES};
use common::fuzz::{
    arb_json, assert_no_echo, cases, extras, member, mutate, mutation, object, random_compact,
    Absent, NOW,
};
use common::{b64_decode, b64_encode, rsa_2048, TestRsaKey};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

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
        algorithms: auth0_edge_gateway::jose::jwa::Algorithms::DEFAULT,
        leeway,
        profile: token::TokenProfile::Standard,
        max_age: None,
    }
}

struct RsaFixture {
    key: &'static TestRsaKey,
    public: VerifyingKey,
    /// A token that verifies: the base of the mutation targets.
    token: String,
}

fn rsa_fixture() -> &'static RsaFixture {
    static FIXTURE: OnceLock<RsaFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let key = rsa_2048();
        let public =
            jwks::parse_rsa_jwk(&key.public_jwk("k1")).expect("the fixture key is usable");
        let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": "k1"});
        let claims = json!({
            "iss": ISSUER_A, "sub": "auth0|user", "aud": [AUDIENCE, "https://tenant.auth0.com/userinfo"],
            "iat": NOW - 10, "exp": NOW + 3600, "scope": "openid read:messages",
            "permissions": ["read:messages"], "cnf": {"jkt": "thumb"},
        });
        let token = key.sign_compact(&header.to_string(), &claims.to_string());
        let fixture = RsaFixture { key, public, token };
        let claims = token::parse(&fixture.token, rules(0), NOW)
            .and_then(|t| t.verify(&fixture.public))
            .expect("the base token verifies");
        assert_eq!(claims.scopes, ["openid", "read:messages"]);
        fixture
    })
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
            // The audience is the route's business; these targets use one audience for every route.
            let verified = unverified
                .verify(&rsa_fixture().public)
                .and_then(|claims| token::check_audience(&claims, &[AUDIENCE]).map(|()| claims));
            match verified {
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
        // RFC 9068 section 2.1 names the media type `application/at+jwt`; `at+jwt` is its short form.
        Some(Value::String(t))
            if ["jwt", "at+jwt", "application/at+jwt"]
                .contains(&t.to_ascii_lowercase().as_str()) => {}
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
            vec![
                json!("JWT"),
                json!("at+jwt"),
                json!("AT+JWT"),
                json!("jwt"),
                json!("application/at+jwt"),
            ],
            vec![
                json!("dpop+jwt"),
                json!("application/jwt"),
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
        let token = fixture.key.sign_compact(&header_json, &payload_json);
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
                prop_assert_eq!(c.sub.as_deref(), e.sub.as_deref());
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
// Regressions: each crash the token targets finds goes here as a plain #[test] with its minimal input.
// None so far (20,000 cases per target, debug profile).
// ---------------------------------------------------------------------------------------------------
