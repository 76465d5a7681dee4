//! DPoP proof verification (RFC 9449 section 4.3): an ES256-signed JWT that proves possession of the key
//! a token is bound to, for one method and URL, recently, once.
//!
//! Every check names the member and the reason. The replay check (step 12, `jti`) and the binding check
//! (section 6.1, `cnf.jkt`) need state or the token, and are done by the pipeline.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::json::{numeric_date, parse_object};
use super::jws::{parse_compact, JwsError};
use super::{b64_decode, b64_encode};
use crate::crypto::p256::P256Verifier;

/// Proofs longer than this are refused before parsing (a P-256 proof is about 600 bytes).
pub const MAX_PROOF_BYTES: usize = 8 * 1024;
/// The one proof algorithm accepted, as advertised in the `algs` challenge parameter.
pub const PROOF_ALGS: &str = "ES256";

/// Time window for a proof's `iat` (RFC 9449 section 11.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProofWindow {
    /// Oldest accepted `iat`, in seconds before now.
    pub max_age: u64,
    /// Newest accepted `iat`, in seconds after now (clock skew).
    pub max_skew: u64,
}

/// What the proof must match in the request.
#[derive(Debug, Clone, Copy)]
pub struct ProofTarget<'a> {
    /// The request method, compared case-sensitively with `htm`.
    pub method: &'a str,
    /// The request URL as the client sees it, compared with `htu` after normalising both.
    pub url: &'a str,
    /// The access token, whose hash `ath` must be.
    pub access_token: &'a str,
}

/// A proof that passed every stateless check.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedProof {
    /// RFC 7638 thumbprint of the proof key, to compare with the token's `cnf.jkt`.
    pub jkt: String,
    pub jti: String,
    pub iat: f64,
    pub nonce: Option<String>,
}

/// A proof whose claims passed; its signature is checked by [`ParsedProof::verify_signature`].
#[derive(Debug)]
pub struct ParsedProof {
    key: P256Verifier,
    signature: [u8; 64],
    signing_input: String,
    proof: VerifiedProof,
}

impl ParsedProof {
    /// The `nonce` claim, for the server-nonce check (RFC 9449 section 8).
    pub fn nonce(&self) -> Option<&str> {
        self.proof.nonce.as_deref()
    }

    /// RFC 9449 section 4.3 step 7: the signature verifies with the key in the header.
    pub fn verify_signature(self) -> Result<VerifiedProof, &'static str> {
        if !verify_es256(&self.key, self.signing_input.as_bytes(), &self.signature) {
            return Err("signature: the proof signature does not verify with its jwk");
        }
        Ok(self.proof)
    }
}

/// RFC 9449 section 4.3 steps 1-11 but the signature: parses the proof and checks its header and claims
/// against the request. `now` is seconds since the epoch.
pub fn parse_proof(
    proof: &str,
    target: ProofTarget<'_>,
    window: ProofWindow,
    now: u64,
) -> Result<ParsedProof, &'static str> {
    if proof.len() > MAX_PROOF_BYTES {
        return Err("the DPoP proof is larger than 8 KiB");
    }
    let jws = parse_compact(proof).map_err(|e| match e {
        JwsError::Structure => "the DPoP proof is not a compact JWS of three parts",
        JwsError::Encoding => "a DPoP proof part is not unpadded base64url",
        JwsError::Header => "the DPoP proof header is not a JSON object with unique members",
    })?;
    let header = &jws.header;
    // Step 4: typ.
    if header.get("typ").and_then(Value::as_str) != Some("dpop+jwt") {
        return Err("typ: the DPoP proof typ must be dpop+jwt");
    }
    // Step 5: an asymmetric algorithm this server supports.
    if header.get("alg").and_then(Value::as_str) != Some("ES256") {
        return Err("alg: the DPoP proof must use ES256");
    }
    if header.contains_key("crit") {
        return Err("crit: no critical header extension is understood");
    }
    // Step 6: a public key, and only a public key.
    let jwk = match header.get("jwk") {
        Some(Value::Object(jwk)) => jwk,
        _ => return Err("jwk: the DPoP proof header must carry the public key as a JWK"),
    };
    let (key, jkt) = p256_public_key(jwk)?;
    let signature = es256_signature(&jws.signature)?;

    let claims = parse_object(&jws.payload)
        .ok_or("the DPoP proof payload is not a JSON object with unique members")?;
    let proof = check_claims(&claims, target, window, now, jkt)?;
    Ok(ParsedProof {
        key,
        signature,
        signing_input: jws.signing_input.to_owned(),
        proof,
    })
}

fn check_claims(
    claims: &Map<String, Value>,
    target: ProofTarget<'_>,
    window: ProofWindow,
    now: u64,
    jkt: String,
) -> Result<VerifiedProof, &'static str> {
    // Step 8 (RFC 9449 section 4.2): jti.
    let jti = match claims.get("jti") {
        Some(Value::String(jti)) if !jti.trim().is_empty() && jti.len() <= 512 => jti.clone(),
        Some(Value::String(_)) => {
            return Err("jti: must be a non-empty string of at most 512 bytes")
        }
        Some(_) => return Err("jti: must be a string"),
        None => return Err("jti: missing from the DPoP proof"),
    };
    // Step 9: htm, case-sensitive (RFC 9110 section 9.1).
    match claims.get("htm") {
        Some(Value::String(htm)) if htm == target.method => {}
        Some(Value::String(_)) => return Err("htm: does not match the request method"),
        Some(_) => return Err("htm: must be a string"),
        None => return Err("htm: missing from the DPoP proof"),
    }
    // Step 10: htu, without query and fragment (RFC 9449 section 4.3, 4.2).
    let htu = match claims.get("htu") {
        Some(Value::String(htu)) => htu,
        Some(_) => return Err("htu: must be a string"),
        None => return Err("htu: missing from the DPoP proof"),
    };
    match (normalize_htu(htu), normalize_htu(target.url)) {
        (Some(a), Some(b)) if a == b => {}
        (None, _) => return Err("htu: not an absolute http(s) URL"),
        _ => return Err("htu: does not match the request URL"),
    }
    // Step 11 (section 11.1): iat within the window.
    let iat = match claims.get("iat") {
        Some(v) => numeric_date(v).ok_or("iat: must be a number")?,
        None => return Err("iat: missing from the DPoP proof"),
    };
    let now_f = now as f64;
    if iat < now_f - window.max_age as f64 {
        return Err("iat: the DPoP proof is too old");
    }
    if iat > now_f + window.max_skew as f64 {
        return Err("iat: the DPoP proof is from the future");
    }
    // Step 12 (section 4.3, last item): ath binds the proof to this access token.
    let expected_ath = access_token_hash(target.access_token);
    match claims.get("ath") {
        Some(Value::String(ath)) if *ath == expected_ath => {}
        Some(Value::String(_)) => return Err("ath: does not match the hash of the access token"),
        Some(_) => return Err("ath: must be a string"),
        None => return Err("ath: missing from the DPoP proof"),
    }
    let nonce = match claims.get("nonce") {
        None => None,
        Some(Value::String(n)) => Some(n.clone()),
        Some(_) => return Err("nonce: must be a string"),
    };
    Ok(VerifiedProof {
        jkt,
        jti,
        iat,
        nonce,
    })
}

/// Order n of the P-256 group, big-endian (SEC 2 section 2.4.2).
const P256_ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// Parses an ES256 signature: exactly 64 bytes, `r || s` (RFC 7518 section 3.4), each in [1, n - 1]
/// (SEC 1 section 4.1.4 step 1). DER encodings and r = s = 0 (CVE-2022-21449) are refused.
pub fn es256_signature(bytes: &[u8]) -> Result<[u8; 64], &'static str> {
    let in_range = |scalar: &[u8]| scalar.iter().any(|&b| b != 0) && scalar < &P256_ORDER[..];
    match <[u8; 64]>::try_from(bytes) {
        Ok(sig) if in_range(&sig[..32]) && in_range(&sig[32..]) => Ok(sig),
        _ => Err("signature: not a 64-byte ES256 signature with r and s in [1, n-1]"),
    }
}

/// ES256 verification: ECDSA P-256 over SHA-256 of `message`, with the verification-only fast path in
/// `fast_p256` (cross-checked against the `p256` crate and Wycheproof in tests/fast_p256.rs). High-S
/// signatures are valid ECDSA and accepted (RFC 9449's own example has one).
pub fn verify_es256(key: &P256Verifier, message: &[u8], signature: &[u8; 64]) -> bool {
    key.verify_sha256(message, signature)
}

/// Builds the P-256 key from a public JWK (RFC 7518 section 6.2.1) and its RFC 7638 thumbprint.
pub fn p256_public_key(jwk: &Map<String, Value>) -> Result<(P256Verifier, String), &'static str> {
    if jwk.get("kty").and_then(Value::as_str) != Some("EC") {
        return Err("jwk: kty must be EC");
    }
    if jwk.get("crv").and_then(Value::as_str) != Some("P-256") {
        return Err("jwk: crv must be P-256");
    }
    if jwk.contains_key("d") {
        return Err("jwk: contains the private key member d");
    }
    let coordinate = |name: &str| {
        jwk.get(name)
            .and_then(Value::as_str)
            .filter(|v| v.len() == 43)
            .and_then(|v| b64_decode(v).map(|bytes| (v, bytes)))
    };
    let ((x_b64, x), (y_b64, y)) = coordinate("x")
        .zip(coordinate("y"))
        .ok_or("jwk: x and y must be 32-byte base64url coordinates")?;
    let (Ok(x), Ok(y)) = (<[u8; 32]>::try_from(x), <[u8; 32]>::try_from(y)) else {
        return Err("jwk: x and y must be 32-byte base64url coordinates");
    };
    let key = P256Verifier::from_affine(&x, &y).ok_or("jwk: the point is not on P-256")?;
    Ok((key, ec_thumbprint(x_b64, y_b64)))
}

/// RFC 7638 section 3.2: SHA-256 over the required members in lexicographic order, no whitespace.
pub fn ec_thumbprint(x: &str, y: &str) -> String {
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    b64_encode(&Sha256::digest(canonical.as_bytes()))
}

/// `ath` (RFC 9449 section 4.2): base64url of the SHA-256 of the ASCII access token.
pub fn access_token_hash(token: &str) -> String {
    b64_encode(&Sha256::digest(token.as_bytes()))
}

/// Normalises a URL for `htu` comparison (RFC 9449 section 4.3 step 10, RFC 3986 section 6.2.3):
/// scheme and host lower-cased, default port dropped, query and fragment removed, empty path `/`;
/// the path is kept as is. `None` for anything but an absolute http(s) URL.
pub fn normalize_htu(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => "443",
        "http" => "80",
        _ => return None,
    };
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    if authority.is_empty()
        || authority.contains('@')
        || url.chars().any(|c| c.is_ascii_control() || c == ' ')
    {
        return None;
    }
    let authority = authority.to_ascii_lowercase();
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']')?;
        match &authority[end + 1..] {
            "" => (&authority[..=end], None),
            rest => (&authority[..=end], Some(rest.strip_prefix(':')?)),
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority.as_str(), None),
        }
    };
    if host.is_empty() || port.is_some_and(|p| !p.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    let host = match port {
        Some(port) if !port.is_empty() && port != default_port => format!("{host}:{port}"),
        _ => host.to_owned(),
    };
    Some(format!("{scheme}://{host}{path}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_keys::with;
    use p256::ecdsa::signature::Signer;
    use p256::ecdsa::{Signature, SigningKey};
    use serde_json::json;

    const NOW: u64 = 1_700_000_000;
    const WINDOW: ProofWindow = ProofWindow {
        max_age: 300,
        max_skew: 30,
    };
    const TOKEN: &str = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";

    fn signing_key() -> SigningKey {
        SigningKey::from_slice(&[7u8; 32]).unwrap()
    }

    fn public_jwk(key: &SigningKey) -> Value {
        let point = key.verifying_key().to_encoded_point(false);
        json!({
            "kty": "EC", "crv": "P-256",
            "x": b64_encode(point.x().unwrap()),
            "y": b64_encode(point.y().unwrap()),
        })
    }

    fn target() -> ProofTarget<'static> {
        ProofTarget {
            method: "GET",
            url: "https://api.example.com/api/private?x=1",
            access_token: TOKEN,
        }
    }

    fn header() -> Value {
        json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk(&signing_key())})
    }

    fn claims() -> Value {
        json!({
            "jti": "e1j3V_bKic8-LAEB", "htm": "GET", "htu": "https://api.example.com/api/private",
            "iat": NOW, "ath": access_token_hash(TOKEN),
        })
    }

    fn sign_raw(header: &str, claims: &str, key: &SigningKey) -> String {
        let input = format!(
            "{}.{}",
            b64_encode(header.as_bytes()),
            b64_encode(claims.as_bytes())
        );
        let sig: Signature = key.sign(input.as_bytes());
        format!("{input}.{}", b64_encode(&sig.to_bytes()))
    }

    fn sign(header: &Value, claims: &Value) -> String {
        sign_raw(&header.to_string(), &claims.to_string(), &signing_key())
    }

    fn check(proof: &str) -> Result<VerifiedProof, &'static str> {
        parse_proof(proof, target(), WINDOW, NOW)?.verify_signature()
    }

    #[test]
    fn a_valid_proof_verifies() {
        let p = check(&sign(&header(), &claims())).unwrap();
        let jwk = public_jwk(&signing_key());
        assert_eq!(
            p.jkt,
            ec_thumbprint(jwk["x"].as_str().unwrap(), jwk["y"].as_str().unwrap())
        );
        assert_eq!(p.jti, "e1j3V_bKic8-LAEB");
        assert_eq!(p.nonce, None);
        // Extra jwk members (kid, alg, use) do not change the thumbprint.
        let mut h = header();
        h["jwk"]["kid"] = json!("my-key");
        assert_eq!(check(&sign(&h, &claims())).unwrap().jkt, p.jkt);
    }

    #[test]
    fn rfc7638_thumbprint_example() {
        // RFC 7638 section 3.1 uses an RSA key; RFC 9449 section 6.1 gives this EC key and its jkt.
        assert_eq!(
            ec_thumbprint(
                "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
                "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA"
            ),
            "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
        );
    }

    #[test]
    fn rfc9449_example_proof_verifies_with_its_high_s_signature() {
        // RFC 9449 section 4.1, figure 3 (its signature has s > n/2). iat 1562262616.
        let proof = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6Ik\
VDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCR\
nMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JE\
QSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIj\
oiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwia\
WF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg\
4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg";
        let window = ProofWindow {
            max_age: 300,
            max_skew: 30,
        };
        // The example is for the token endpoint, so it has no ath: parse the claims up to there.
        let target = ProofTarget {
            method: "POST",
            url: "https://server.example.com/token",
            access_token: "",
        };
        let err = parse_proof(proof, target, window, 1_562_262_616).unwrap_err();
        assert_eq!(err, "ath: missing from the DPoP proof");
        // The signature itself verifies.
        let jws = parse_compact(proof).unwrap();
        let (key, jkt) = p256_public_key(jws.header["jwk"].as_object().unwrap()).unwrap();
        assert_eq!(jkt, "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I");
        let sig = es256_signature(&jws.signature).unwrap();
        assert!(
            Signature::from_slice(&sig).unwrap().normalize_s().is_some(),
            "the example signature is high-S"
        );
        assert!(verify_es256(&key, jws.signing_input.as_bytes(), &sig));
    }

    #[test]
    fn header_rules() {
        let other = SigningKey::from_slice(&[9u8; 32]).unwrap();
        for (change, reason) in [
            (
                json!({"typ": null}),
                "typ: the DPoP proof typ must be dpop+jwt",
            ),
            (
                json!({"typ": "JWT"}),
                "typ: the DPoP proof typ must be dpop+jwt",
            ),
            (
                json!({"typ": "DPOP+JWT"}),
                "typ: the DPoP proof typ must be dpop+jwt",
            ),
            (
                json!({"typ": "application/dpop+jwt"}),
                "typ: the DPoP proof typ must be dpop+jwt",
            ),
            (
                json!({"alg": "RS256"}),
                "alg: the DPoP proof must use ES256",
            ),
            (json!({"alg": "none"}), "alg: the DPoP proof must use ES256"),
            (
                json!({"alg": "HS256"}),
                "alg: the DPoP proof must use ES256",
            ),
            (
                json!({"crit": ["x"]}),
                "crit: no critical header extension is understood",
            ),
            (
                json!({"jwk": null}),
                "jwk: the DPoP proof header must carry the public key as a JWK",
            ),
            (
                json!({"jwk": "key"}),
                "jwk: the DPoP proof header must carry the public key as a JWK",
            ),
            (
                json!({"jwk": {"kty": "RSA", "n": "x", "e": "AQAB"}}),
                "jwk: kty must be EC",
            ),
            (
                json!({"jwk": {"kty": "EC", "crv": "P-384", "x": "a", "y": "b"}}),
                "jwk: crv must be P-256",
            ),
            (
                json!({"jwk": {"kty": "EC", "crv": "P-256"}}),
                "jwk: x and y must be 32-byte base64url coordinates",
            ),
            (
                json!({"jwk": {"kty": "EC", "crv": "P-256", "x": b64_encode(&[1; 32]), "y": b64_encode(&[2; 32])}}),
                "jwk: the point is not on P-256",
            ),
        ] {
            let proof = sign(&with(header(), change.clone()), &claims());
            assert_eq!(check(&proof).unwrap_err(), reason, "{change}");
        }
        let mut private = header();
        private["jwk"]["d"] = json!(b64_encode(&[7u8; 32]));
        assert_eq!(
            check(&sign(&private, &claims())).unwrap_err(),
            "jwk: contains the private key member d"
        );
        // Signed by another key than the one in the header.
        let forged = sign_raw(&header().to_string(), &claims().to_string(), &other);
        assert_eq!(
            check(&forged).unwrap_err(),
            "signature: the proof signature does not verify with its jwk"
        );
    }

    #[test]
    fn duplicate_members_are_rejected() {
        let h = header().to_string();
        let dup_header = h.replacen('{', r#"{"alg":"none","#, 1);
        assert_eq!(
            check(&sign_raw(
                &dup_header,
                &claims().to_string(),
                &signing_key()
            ))
            .unwrap_err(),
            "the DPoP proof header is not a JSON object with unique members"
        );
        let dup_jwk = h.replacen(r#""jwk":{"#, r#""jwk":{"kty":"RSA","#, 1);
        assert_eq!(
            check(&sign_raw(&dup_jwk, &claims().to_string(), &signing_key())).unwrap_err(),
            "the DPoP proof header is not a JSON object with unique members"
        );
        let dup_claims = claims().to_string().replacen('{', r#"{"htm":"POST","#, 1);
        assert_eq!(
            check(&sign_raw(&h, &dup_claims, &signing_key())).unwrap_err(),
            "the DPoP proof payload is not a JSON object with unique members"
        );
    }

    #[test]
    fn malformed_signatures_are_rejected() {
        let proof = sign(&header(), &claims());
        let (input, sig) = proof.rsplit_once('.').unwrap();
        let sig = b64_decode(sig).unwrap();
        // Psychic signature (CVE-2022-21449): r = s = 0.
        let zero = format!("{input}.{}", b64_encode(&[0u8; 64]));
        assert_eq!(
            check(&zero).unwrap_err(),
            "signature: not a 64-byte ES256 signature with r and s in [1, n-1]"
        );
        // DER encoding instead of r || s.
        let der = Signature::from_slice(&sig).unwrap().to_der();
        let der_proof = format!("{input}.{}", b64_encode(der.as_bytes()));
        assert_eq!(
            check(&der_proof).unwrap_err(),
            "signature: not a 64-byte ES256 signature with r and s in [1, n-1]"
        );
        // s replaced by n - s (the high-S twin) still verifies: ECDSA accepts both forms.
        let parsed = Signature::from_slice(&sig).unwrap();
        let (r, s) = parsed.split_scalars();
        let twin = Signature::from_scalars(r, -*s).unwrap();
        let twin_proof = format!("{input}.{}", b64_encode(&twin.to_bytes()));
        assert!(check(&twin_proof).is_ok());
        // A flipped bit does not.
        let mut flipped = sig.clone();
        flipped[10] ^= 1;
        assert!(check(&format!("{input}.{}", b64_encode(&flipped))).is_err());
    }

    #[test]
    fn claim_rules() {
        for (change, reason) in [
            (json!({"jti": null}), "jti: missing from the DPoP proof"),
            (
                json!({"jti": ""}),
                "jti: must be a non-empty string of at most 512 bytes",
            ),
            (
                json!({"jti": "  "}),
                "jti: must be a non-empty string of at most 512 bytes",
            ),
            (json!({"jti": 5}), "jti: must be a string"),
            (json!({"htm": null}), "htm: missing from the DPoP proof"),
            (
                json!({"htm": "get"}),
                "htm: does not match the request method",
            ),
            (
                json!({"htm": "POST"}),
                "htm: does not match the request method",
            ),
            (json!({"htm": ["GET"]}), "htm: must be a string"),
            (json!({"htu": null}), "htu: missing from the DPoP proof"),
            (
                json!({"htu": "https://api.example.com/api/other"}),
                "htu: does not match the request URL",
            ),
            (
                json!({"htu": "http://api.example.com/api/private"}),
                "htu: does not match the request URL",
            ),
            (
                json!({"htu": "https://api.example.com/api/private/"}),
                "htu: does not match the request URL",
            ),
            (
                json!({"htu": "https://evil.com/api/private"}),
                "htu: does not match the request URL",
            ),
            (
                json!({"htu": "/api/private"}),
                "htu: not an absolute http(s) URL",
            ),
            (json!({"htu": 1}), "htu: must be a string"),
            (json!({"iat": null}), "iat: missing from the DPoP proof"),
            (json!({"iat": "1700000000"}), "iat: must be a number"),
            (json!({"iat": NOW - 301}), "iat: the DPoP proof is too old"),
            (
                json!({"iat": NOW + 31}),
                "iat: the DPoP proof is from the future",
            ),
            (json!({"ath": null}), "ath: missing from the DPoP proof"),
            (
                json!({"ath": access_token_hash("other")}),
                "ath: does not match the hash of the access token",
            ),
            (json!({"ath": 1}), "ath: must be a string"),
            (json!({"nonce": 1}), "nonce: must be a string"),
        ] {
            let proof = sign(&header(), &with(claims(), change.clone()));
            assert_eq!(check(&proof).unwrap_err(), reason, "{change}");
        }
        for iat in [NOW - 300, NOW + 30] {
            assert!(check(&sign(&header(), &with(claims(), json!({"iat": iat})))).is_ok());
        }
        let p = check(&sign(&header(), &with(claims(), json!({"nonce": "n1"})))).unwrap();
        assert_eq!(p.nonce.as_deref(), Some("n1"));
    }

    #[test]
    fn structure_rules() {
        assert_eq!(
            check("a.b").unwrap_err(),
            "the DPoP proof is not a compact JWS of three parts"
        );
        assert_eq!(
            check(&"a".repeat(MAX_PROOF_BYTES + 1)).unwrap_err(),
            "the DPoP proof is larger than 8 KiB"
        );
        let proof = sign(&header(), &claims());
        assert_eq!(
            check(&format!("{proof}=")).unwrap_err(),
            "a DPoP proof part is not unpadded base64url"
        );
    }

    #[test]
    fn htu_normalisation_table() {
        for (a, b) in [
            ("https://api.example.com/a", "https://api.example.com/a"),
            ("HTTPS://API.Example.COM/a", "https://api.example.com/a"),
            ("https://api.example.com:443/a", "https://api.example.com/a"),
            ("http://api.example.com:80/a", "http://api.example.com/a"),
            (
                "https://api.example.com:8443/a",
                "https://api.example.com:8443/a",
            ),
            (
                "https://api.example.com/a?q=1#f",
                "https://api.example.com/a",
            ),
            ("https://api.example.com#f", "https://api.example.com/"),
            ("https://api.example.com", "https://api.example.com/"),
            ("https://api.example.com?x", "https://api.example.com/"),
            ("https://[::1]:443/a", "https://[::1]/a"),
            ("https://[::1]:8443/a", "https://[::1]:8443/a"),
            (
                "http://127.0.0.1:8787/api/private",
                "http://127.0.0.1:8787/api/private",
            ),
        ] {
            assert_eq!(normalize_htu(a).as_deref(), Some(b), "{a}");
        }
        // The path is compared as is.
        assert_ne!(normalize_htu("https://x/A"), normalize_htu("https://x/a"));
        assert_ne!(normalize_htu("https://x/%7e"), normalize_htu("https://x/~"));
        for bad in [
            "ftp://x/a",
            "//x/a",
            "https:///a",
            "https://user@x/a",
            "https://x:abc/a",
            "https://x /a",
            "https://::1/a",
            "x",
        ] {
            assert_eq!(normalize_htu(bad), None, "{bad}");
        }
    }
}

/// The URL the client addressed, for `htu`. Behind a trusted proxy (`TRUST_PROXY=true`), the scheme and
/// host come from the first `X-Forwarded-Proto` (only `http` or `https`) and `X-Forwarded-Host` values;
/// unusable values are ignored. The path is always the one received.
pub fn public_url(
    request_url: &str,
    forwarded_proto: Option<&str>,
    forwarded_host: Option<&str>,
) -> String {
    let Some((scheme, rest)) = request_url.split_once("://") else {
        return request_url.to_owned();
    };
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    fn first(v: Option<&str>) -> Option<&str> {
        v.and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }
    let scheme = match first(forwarded_proto).map(str::to_ascii_lowercase) {
        Some(p) if p == "http" || p == "https" => p,
        _ => scheme.to_owned(),
    };
    let authority = match first(forwarded_host) {
        Some(h)
            if h.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
            }) =>
        {
            h
        }
        _ => authority,
    };
    format!("{scheme}://{authority}{path}")
}

#[cfg(test)]
mod public_url_tests {
    use super::public_url;

    #[test]
    fn forwarded_headers_rebuild_the_public_url() {
        let url = "http://127.0.0.1:8787/api/private?x=1";
        assert_eq!(public_url(url, None, None), url);
        assert_eq!(
            public_url(url, Some("https"), Some("api.example.com")),
            "https://api.example.com/api/private?x=1"
        );
        assert_eq!(
            public_url(
                url,
                Some(" HTTPS , http"),
                Some("api.example.com, proxy.internal")
            ),
            "https://api.example.com/api/private?x=1"
        );
        assert_eq!(
            public_url(url, Some("ftp"), Some("evil.com/path")),
            url,
            "unusable values are ignored"
        );
        assert_eq!(public_url(url, Some(""), Some("user@evil.com")), url);
        assert_eq!(
            public_url(url, None, Some("api.example.com:8443")),
            "http://api.example.com:8443/api/private?x=1"
        );
    }
}
