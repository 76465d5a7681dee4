//! Entry points for the micro-benchmarks (`benches/run.mjs`), built only with the `bench` feature into a
//! Node module, so the costs measured are those of the wasm32 build in V8. Not part of the worker.

use std::cell::RefCell;
use std::sync::Arc;

use wasm_bindgen::prelude::wasm_bindgen;

use crate::gateway::verify_proof_signature;
use crate::idp::{parse_issuer, Issuer};
use crate::jose::dpop::{
    self, NoPreparedKeys, ParsedProof, PreparedKeys, ProofError, ProofTarget, ProofWindow,
};
use crate::jose::jwa::{Algorithm, Algorithms};
use crate::jose::jwks::{parse_jwks, KeySet};
use crate::jose::token::{self, ClaimRules, TokenProfile};
use crate::policy::{jsonrpc, RouteTable};
use crate::state::proof_keys::ProofKeyCache;
use crate::state::token_cache::{CachedToken, TokenCache};

/// Keys, accepted issuers and audience loaded by [`bench_load`].
type Loaded = (Arc<KeySet>, Vec<Issuer>, String);

/// The benchmarks verify RS256 and PS256 tokens (README "Performance": PS256 against RS256).
const ALGORITHMS: [Algorithm; 2] = [Algorithm::Rs256, Algorithm::Ps256];

thread_local! {
    static KEYS: RefCell<Option<Loaded>> = const { RefCell::new(None) };
    static TOKENS: RefCell<TokenCache> = RefCell::new(TokenCache::new(10_000, 8 << 20));
    static ROUTES: RefCell<Option<RouteTable>> = const { RefCell::new(None) };
    static MCP_ROUTES: RouteTable = RouteTable::from_json(
        r#"[{"path": "/mcp", "scopes": ["mcp:use"], "jsonrpc": [
              {"method": "tools/call", "name": "delete_*", "scopes": ["repo:admin"]},
              {"method": "resources/read", "name": "file:///secrets/*", "scopes": ["secrets:read"]}]}]"#,
    )
    .expect("the benchmark routes are valid");
}

/// Parses a JWKS document; returns the number of usable keys.
#[wasm_bindgen]
pub fn bench_parse_jwks(jwks: &str) -> usize {
    parse_jwks(jwks.as_bytes(), Algorithms::DEFAULT).map_or(0, |set| set.len())
}

/// Loads the keys, issuer and audience the token benchmarks use.
#[wasm_bindgen]
pub fn bench_load(jwks: &str, domain: &str, audience: &str) -> bool {
    match (
        parse_jwks(jwks.as_bytes(), Algorithms::new(&ALGORITHMS)),
        parse_issuer(domain),
    ) {
        (Ok(keys), Ok(issuer)) => {
            KEYS.with(|k| {
                *k.borrow_mut() = Some((Arc::new(keys), vec![issuer], audience.to_owned()))
            });
            ROUTES.with(|r| *r.borrow_mut() = policy_route(audience));
            true
        }
        _ => false,
    }
}

/// A route with two audiences (the benchmark's second) and three claim rules.
fn policy_route(audience: &str) -> Option<RouteTable> {
    let rules = serde_json::json!([{
        "path": "/api/orgs", "auth": "required",
        "audience": ["https://other.example.com", audience],
        "claims": [
            {"claim": "org_id", "equals": "org_1"},
            {"claim": "https://example.com/roles", "includes": ["admin"]},
            {"claim": "sub", "not_prefix": "anon@"},
        ],
    }]);
    RouteTable::from_json(&rules.to_string()).ok()
}

/// Parses and verifies a token with the loaded keys: what a request pays for a token never seen.
fn verify(token: &str, now: f64) -> Option<CachedToken> {
    KEYS.with(|k| {
        let guard = k.borrow();
        let (keys, issuers, audience) = guard.as_ref()?;
        let rules = ClaimRules {
            issuers,
            algorithms: Algorithms::new(&ALGORITHMS),
            leeway: 0,
            profile: TokenProfile::Standard,
            max_age: None,
        };
        let unverified = token::parse(token, rules, now as u64).ok()?;
        token::check_audience(unverified.claims(), std::slice::from_ref(audience)).ok()?;
        let key = keys.get(unverified.kid())?.clone();
        let kid = unverified.kid().to_owned();
        let claims = unverified.verify(&key).ok()?;
        Some(CachedToken::new(Arc::new(claims), kid, key))
    })
}

/// Full validation of a token never seen: parse, claims, RS256 or PS256 signature.
#[wasm_bindgen]
pub fn bench_verify_token(token: &str, now: f64) -> bool {
    verify(token, now).is_some()
}

/// A token seen before: the verified-token cache path (hash, lookup, expiry check).
#[wasm_bindgen]
pub fn bench_verify_cached(token: &str, now: f64) -> bool {
    cached(token, now).is_some()
}

/// A token seen before on a route with its own audiences and claim rules, which are checked again on
/// every request (README "Policy"): what that re-check adds to [`bench_verify_cached`].
#[wasm_bindgen]
pub fn bench_verify_cached_with_policy(token: &str, now: f64) -> bool {
    let Some(entry) = cached(token, now) else {
        return false;
    };
    ROUTES.with(|routes| {
        let routes = routes.borrow();
        let Some(rule) = routes.as_ref().and_then(|r| r.find("GET", "/api/orgs")) else {
            return false;
        };
        let audiences = rule.audiences.as_deref().unwrap_or_default();
        token::check_audience(&entry.claims, audiences).is_ok()
            && rule
                .claims
                .iter()
                .all(|c| c.check(&entry.claims.all).is_ok())
    })
}

fn cached(token: &str, now: f64) -> Option<Arc<CachedToken>> {
    if let Some(entry) = TOKENS.with(|t| t.borrow_mut().get(token, now as u64, 0)) {
        return Some(entry);
    }
    let entry = verify(token, now)?;
    TOKENS.with(|t| t.borrow_mut().insert(token, entry, now as u64));
    TOKENS.with(|t| t.borrow_mut().get(token, now as u64, 0))
}

thread_local! {
    static PROOF_KEYS: RefCell<ProofKeyCache> = RefCell::new(ProofKeyCache::default());
}

/// A DPoP proof: parse, claims against the request, ES256 signature, with the key as the gateway has it
/// (README "DPoP"): `form` 0, a key not seen before; 1, the gateway's step 4b, so a key prepared from
/// its second call on and found by its coordinates; 2, a key on its second proof, verified and then
/// prepared.
#[wasm_bindgen]
pub fn bench_verify_proof(
    proof: &str,
    method: &str,
    url: &str,
    token: &str,
    now: f64,
    form: u8,
) -> bool {
    match form {
        0 => parse_proof(proof, method, url, token, now, &NoPreparedKeys)
            .and_then(ParsedProof::verify_signature)
            .is_ok(),
        1 => PROOF_KEYS.with(|keys| {
            let parsed = parse_proof(proof, method, url, token, now, &*keys.borrow());
            parsed
                .and_then(|parsed| verify_proof_signature(keys, parsed))
                .is_ok()
        }),
        _ => parse_proof(proof, method, url, token, now, &NoPreparedKeys)
            .and_then(ParsedProof::verify_and_prepare)
            .is_ok(),
    }
}

/// A proof for `method` and `url` with `token`, parsed and its claims checked as the gateway's default
/// window does.
fn parse_proof(
    proof: &str,
    method: &str,
    url: &str,
    token: &str,
    now: f64,
    keys: &impl PreparedKeys,
) -> Result<ParsedProof, ProofError> {
    let target = ProofTarget {
        method,
        url,
        access_token: token,
        access_token_hash: None,
    };
    let window = ProofWindow {
        max_age: 300,
        max_skew: 30,
    };
    dpop::parse_proof(proof, target, window, now as u64, keys)
}

/// What a guarded JSON-RPC call adds to a request (README "MCP servers"): parse the body, check the
/// `Mcp-*` headers, collect the scopes of the matching entries. Returns their number, or -1 when refused.
#[wasm_bindgen]
pub fn bench_jsonrpc(body: &[u8], mcp_method: &str, mcp_name: &str) -> i32 {
    MCP_ROUTES.with(|routes| {
        let rule = &routes.rules()[0];
        let Ok(parsed) = jsonrpc::parse(body) else {
            return -1;
        };
        if jsonrpc::check_headers(&parsed, Some(mcp_method), Some(mcp_name)).is_err() {
            return -1;
        }
        jsonrpc::matching_scopes(&rule.jsonrpc, &parsed).len() as i32
    })
}
