//! DPoP proof verification (RFC 9449 section 4.3): an ES256-signed JWT that proves possession of the key
//! a token is bound to, for one method and URL, recently, once.
//!
//! Every check names the member and the reason. The replay check (step 12, `jti`) and the binding check
//! (section 6.1, `cnf.jkt`) need state or the token, and are done by the pipeline.

use std::sync::Arc;

use serde_json::{Map, Value};
use sha2::Digest;

use super::json::{numeric_date, parse_object};
use super::jws::{parse_compact, JwsError};
use super::{b64_decode, b64_encode};
use crate::crypto::p256::{P256Verifier, PreparedP256Verifier};
use crate::crypto::sha256::Sha256;
use crate::http::authority::{has_authority_chars, normalize_http_url};

/// Proofs longer than this are refused before parsing (a P-256 proof is about 600 bytes).
pub const MAX_PROOF_BYTES: usize = 8 * 1024;
/// The one proof algorithm accepted, as advertised in the `algs` challenge parameter.
pub const PROOF_ALGS: &str = "ES256";

/// Why a DPoP proof is refused (401 `invalid_dpop_proof`), by the member or step that failed (RFC 9449 section 4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofError {
    Missing,
    Several,
    TooLarge,
    Structure,
    Encoding,
    Header,
    Payload,
    Typ,
    Alg,
    Crit,
    JwkMissing,
    JwkKty,
    JwkCrv,
    JwkPrivate,
    JwkCoordinates,
    JwkNotOnCurve,
    SignatureFormat,
    Signature,
    JtiMissing,
    JtiType,
    JtiInvalid,
    /// RFC 9449 section 11.1.
    Replayed,
    HtmMissing,
    HtmType,
    HtmMismatch,
    HtuMissing,
    HtuType,
    HtuInvalid,
    HtuMismatch,
    IatMissing,
    IatType,
    IatTooOld,
    IatInFuture,
    AthMissing,
    AthType,
    AthMismatch,
    NonceType,
}

impl ProofError {
    /// What failed, for the error body, the challenge and the log; it never holds request bytes.
    pub fn description(self) -> &'static str {
        match self {
            Self::Missing => "DPoP: the DPoP header is missing",
            Self::Several => "DPoP: exactly one DPoP proof must be sent",
            Self::TooLarge => "the DPoP proof is larger than 8 KiB",
            Self::Structure => "the DPoP proof is not a compact JWS of three parts",
            Self::Encoding => "a DPoP proof part is not unpadded base64url",
            Self::Header => "the DPoP proof header is not a JSON object with unique members",
            Self::Payload => "the DPoP proof payload is not a JSON object with unique members",
            Self::Typ => "typ: the DPoP proof typ must be dpop+jwt",
            Self::Alg => "alg: the DPoP proof must use ES256",
            Self::Crit => "crit: no critical header extension is understood",
            Self::JwkMissing => "jwk: the DPoP proof header must carry the public key as a JWK",
            Self::JwkKty => "jwk: kty must be EC",
            Self::JwkCrv => "jwk: crv must be P-256",
            Self::JwkPrivate => "jwk: contains the private key member d",
            Self::JwkCoordinates => "jwk: x and y must be 32-byte base64url coordinates",
            Self::JwkNotOnCurve => "jwk: the point is not on P-256",
            Self::SignatureFormat => {
                "signature: not a 64-byte ES256 signature with r and s in [1, n-1]"
            }
            Self::Signature => "signature: the proof signature does not verify with its jwk",
            Self::JtiMissing => "jti: missing from the DPoP proof",
            Self::JtiType => "jti: must be a string",
            Self::JtiInvalid => "jti: must be a non-empty string of at most 512 bytes",
            Self::Replayed => "jti: this DPoP proof was already used",
            Self::HtmMissing => "htm: missing from the DPoP proof",
            Self::HtmType => "htm: must be a string",
            Self::HtmMismatch => "htm: does not match the request method",
            Self::HtuMissing => "htu: missing from the DPoP proof",
            Self::HtuType => "htu: must be a string",
            Self::HtuInvalid => "htu: not an absolute http(s) URL",
            Self::HtuMismatch => "htu: does not match the request URL",
            Self::IatMissing => "iat: missing from the DPoP proof",
            Self::IatType => "iat: must be a number",
            Self::IatTooOld => "iat: the DPoP proof is too old",
            Self::IatInFuture => "iat: the DPoP proof is from the future",
            Self::AthMissing => "ath: missing from the DPoP proof",
            Self::AthType => "ath: must be a string",
            Self::AthMismatch => "ath: does not match the hash of the access token",
            Self::NonceType => "nonce: must be a string",
        }
    }
}

impl std::fmt::Display for ProofError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.description())
    }
}

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
    /// That hash when it is known already (a token seen before keeps it: `CachedToken`), else `None` and
    /// it is computed.
    pub access_token_hash: Option<&'a str>,
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
    key: ProofKey,
    coordinates: Coordinates,
    signature: [u8; 64],
    signing_input: String,
    proof: VerifiedProof,
}

/// The key a proof is checked with.
#[derive(Debug)]
enum ProofKey {
    /// Decoded from the header's JWK, checked to be on the curve, and its thumbprint computed.
    Sent(P256Verifier),
    /// Prepared from an earlier proof whose JWK sent the same coordinates: the same key, already
    /// checked, with the same thumbprint.
    Prepared(Arc<PreparedProofKey>),
}

impl ProofKey {
    fn prepare(&self, jkt: &str, coordinates: Coordinates) -> Arc<PreparedProofKey> {
        match self {
            ProofKey::Sent(key) => Arc::new(PreparedProofKey {
                jkt: jkt.to_owned(),
                coordinates,
                verifier: key.prepare(),
            }),
            ProofKey::Prepared(key) => Arc::clone(key),
        }
    }
}

impl ParsedProof {
    /// The `nonce` claim, for the server-nonce check (RFC 9449 section 8).
    pub fn nonce(&self) -> Option<&str> {
        self.proof.nonce.as_deref()
    }

    /// RFC 7638 thumbprint of the key in the header.
    pub fn jkt(&self) -> &str {
        &self.proof.jkt
    }

    /// The key's coordinates as the header's JWK sent them.
    pub fn coordinates(&self) -> &Coordinates {
        &self.coordinates
    }

    /// Whether the key was found prepared ([`PreparedKeys`]) when the proof was parsed.
    pub fn key_is_prepared(&self) -> bool {
        matches!(self.key, ProofKey::Prepared(_))
    }

    /// The key in the header, prepared for the proofs its client will send next.
    pub fn prepare_key(&self) -> Arc<PreparedProofKey> {
        self.key.prepare(&self.proof.jkt, self.coordinates)
    }

    /// Step 7, then, once the signature verified, the key prepared for the proofs its client sends next:
    /// a bad signature costs one verification and prepares nothing.
    pub fn verify_and_prepare(self) -> Result<(VerifiedProof, Arc<PreparedProofKey>), ProofError> {
        self.check_signature()?;
        let prepared = self.prepare_key();
        Ok((self.proof, prepared))
    }

    /// RFC 9449 section 4.3 step 7: the signature verifies with the key in the header, or with the same
    /// key prepared when it was found by its coordinates ([`PreparedKeys`]), which does the arithmetic
    /// faster.
    pub fn verify_signature(self) -> Result<VerifiedProof, ProofError> {
        self.check_signature()?;
        Ok(self.proof)
    }

    /// Step 7, for [`ParsedProof::verify_signature`] and [`ParsedProof::verify_and_prepare`].
    fn check_signature(&self) -> Result<(), ProofError> {
        let message = self.signing_input.as_bytes();
        let valid = match &self.key {
            ProofKey::Prepared(key) => key.verifier.verify_sha256(message, &self.signature),
            ProofKey::Sent(key) => verify_es256(key, message, &self.signature),
        };
        if valid {
            Ok(())
        } else {
            Err(ProofError::Signature)
        }
    }
}

/// Whether what every prepared key's verification shares (G's combs) is made; [`make_shared_combs`] makes
/// it.
pub fn shared_combs_made() -> bool {
    crate::crypto::p256::base_combs_made()
}

/// Makes what every prepared key's verification shares, about 1 ms of work once per isolate, which the
/// adapter spends after a response rather than in the first verification with a prepared key.
pub fn make_shared_combs() {
    crate::crypto::p256::make_base_combs();
}

/// A DPoP key's JWK coordinates as sent: `x` then `y`, 43 characters each (32 bytes in unpadded
/// base64url). A key prepared from an earlier proof is found by them before anything is decoded or hashed:
/// the same text decodes to the same point and hashes to the same thumbprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coordinates([u8; 86]);

impl Coordinates {
    /// `x` and `y` as sent, when each is 43 bytes long.
    pub fn of(x: &str, y: &str) -> Option<Self> {
        let x: &[u8; 43] = x.as_bytes().try_into().ok()?;
        let y: &[u8; 43] = y.as_bytes().try_into().ok()?;
        let mut both = [0; 86];
        both[..43].copy_from_slice(x);
        both[43..].copy_from_slice(y);
        Some(Self(both))
    }

    pub fn as_bytes(&self) -> &[u8; 86] {
        &self.0
    }
}

/// Keys prepared from earlier proofs, found by their coordinates as sent.
pub trait PreparedKeys {
    fn find(&self, coordinates: &Coordinates) -> Option<Arc<PreparedProofKey>>;
}

/// No key prepared: each proof's key is decoded, checked on the curve and hashed.
pub struct NoPreparedKeys;

impl PreparedKeys for NoPreparedKeys {
    fn find(&self, _: &Coordinates) -> Option<Arc<PreparedProofKey>> {
        None
    }
}

/// A DPoP key with its combs precomputed ([`P256Verifier::prepare`]), under its thumbprint and
/// coordinates: a client signs every proof with one key, and each verification with the prepared key
/// costs less.
#[derive(Debug, Clone)]
pub struct PreparedProofKey {
    jkt: String,
    coordinates: Coordinates,
    verifier: PreparedP256Verifier,
}

impl PreparedProofKey {
    pub fn jkt(&self) -> &str {
        &self.jkt
    }

    pub fn coordinates(&self) -> &Coordinates {
        &self.coordinates
    }
}

/// RFC 9449 section 4.3 steps 1-11 but the signature: parses the proof and checks its header and claims
/// against the request. `now` is seconds since the epoch. A key in `keys` with the coordinates the header
/// sends is used as it is, its checks and thumbprint done when it was prepared.
pub fn parse_proof(
    proof: &str,
    target: ProofTarget<'_>,
    window: ProofWindow,
    now: u64,
    keys: &impl PreparedKeys,
) -> Result<ParsedProof, ProofError> {
    if proof.len() > MAX_PROOF_BYTES {
        return Err(ProofError::TooLarge);
    }
    let jws = parse_compact(proof).map_err(|e| match e {
        JwsError::Structure => ProofError::Structure,
        JwsError::Encoding => ProofError::Encoding,
    })?;
    let header = parse_object(&jws.header).ok_or(ProofError::Header)?;
    // Step 4: typ.
    if header.get("typ").and_then(Value::as_str) != Some("dpop+jwt") {
        return Err(ProofError::Typ);
    }
    // Step 5: an asymmetric algorithm this server supports.
    if header.get("alg").and_then(Value::as_str) != Some("ES256") {
        return Err(ProofError::Alg);
    }
    if header.contains_key("crit") {
        return Err(ProofError::Crit);
    }
    // Step 6: a public key, and only a public key.
    let jwk = match header.get("jwk") {
        Some(Value::Object(jwk)) => jwk,
        _ => return Err(ProofError::JwkMissing),
    };
    let (x, y, coordinates) = jwk_coordinates(jwk)?;
    let (key, jkt) = match keys.find(&coordinates) {
        Some(prepared) => {
            let jkt = prepared.jkt.clone();
            (ProofKey::Prepared(prepared), jkt)
        }
        None => {
            let (key, jkt) = p256_key_at(x, y)?;
            (ProofKey::Sent(key), jkt)
        }
    };
    let signature = es256_signature(&jws.signature)?;

    let claims = parse_object(&jws.payload).ok_or(ProofError::Payload)?;
    let proof = check_claims(&claims, target, window, now, jkt)?;
    Ok(ParsedProof {
        key,
        coordinates,
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
) -> Result<VerifiedProof, ProofError> {
    // Step 8 (RFC 9449 section 4.2): jti.
    let jti = match claims.get("jti") {
        Some(Value::String(jti)) if !jti.trim().is_empty() && jti.len() <= 512 => jti.clone(),
        Some(Value::String(_)) => return Err(ProofError::JtiInvalid),
        Some(_) => return Err(ProofError::JtiType),
        None => return Err(ProofError::JtiMissing),
    };
    // Step 9: htm, case-sensitive (RFC 9110 section 9.1).
    match claims.get("htm") {
        Some(Value::String(htm)) if htm == target.method => {}
        Some(Value::String(_)) => return Err(ProofError::HtmMismatch),
        Some(_) => return Err(ProofError::HtmType),
        None => return Err(ProofError::HtmMissing),
    }
    // Step 10: htu, without query and fragment (RFC 9449 section 4.3, 4.2).
    let htu = match claims.get("htu") {
        Some(Value::String(htu)) => htu,
        Some(_) => return Err(ProofError::HtuType),
        None => return Err(ProofError::HtuMissing),
    };
    let request = normalize_htu(target.url);
    if htu == target.url {
        // The same text normalises the same way: a client that signs the URL it sends costs one.
        if request.is_none() {
            return Err(ProofError::HtuInvalid);
        }
    } else {
        match (normalize_htu(htu), request) {
            (Some(a), Some(b)) if a == b => {}
            (None, _) => return Err(ProofError::HtuInvalid),
            _ => return Err(ProofError::HtuMismatch),
        }
    }
    // Step 11 (section 11.1): iat within the window.
    let iat = match claims.get("iat") {
        Some(v) => numeric_date(v).ok_or(ProofError::IatType)?,
        None => return Err(ProofError::IatMissing),
    };
    let now_f = now as f64;
    if iat < now_f - window.max_age as f64 {
        return Err(ProofError::IatTooOld);
    }
    if iat > now_f + window.max_skew as f64 {
        return Err(ProofError::IatInFuture);
    }
    // Step 12 (section 4.3, last item): ath binds the proof to this access token.
    let computed;
    let expected_ath = match target.access_token_hash {
        Some(known) => known,
        None => {
            computed = access_token_hash(target.access_token);
            &computed
        }
    };
    match claims.get("ath") {
        Some(Value::String(ath)) if ath == expected_ath => {}
        Some(Value::String(_)) => return Err(ProofError::AthMismatch),
        Some(_) => return Err(ProofError::AthType),
        None => return Err(ProofError::AthMissing),
    }
    let nonce = match claims.get("nonce") {
        None => None,
        Some(Value::String(n)) => Some(n.clone()),
        Some(_) => return Err(ProofError::NonceType),
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
pub fn es256_signature(bytes: &[u8]) -> Result<[u8; 64], ProofError> {
    let in_range = |scalar: &[u8]| scalar.iter().any(|&b| b != 0) && scalar < &P256_ORDER[..];
    match <[u8; 64]>::try_from(bytes) {
        Ok(sig) if in_range(&sig[..32]) && in_range(&sig[32..]) => Ok(sig),
        _ => Err(ProofError::SignatureFormat),
    }
}

/// ES256 verification: ECDSA P-256 over SHA-256 of `message`, with the verification-only fast path in
/// `fast_p256` (cross-checked against the `p256` crate and Wycheproof in tests/fast_p256.rs). High-S
/// signatures are valid ECDSA and accepted (RFC 9449's own example has one).
pub fn verify_es256(key: &P256Verifier, message: &[u8], signature: &[u8; 64]) -> bool {
    key.verify_sha256(message, signature)
}

/// Builds the P-256 key from a public JWK (RFC 7518 section 6.2.1) and its RFC 7638 thumbprint.
pub fn p256_public_key(jwk: &Map<String, Value>) -> Result<(P256Verifier, String), ProofError> {
    let (x, y, _) = jwk_coordinates(jwk)?;
    p256_key_at(x, y)
}

/// The members of a public P-256 JWK (RFC 7518 section 6.2.1), and its coordinates as sent.
fn jwk_coordinates(jwk: &Map<String, Value>) -> Result<(&str, &str, Coordinates), ProofError> {
    if jwk.get("kty").and_then(Value::as_str) != Some("EC") {
        return Err(ProofError::JwkKty);
    }
    if jwk.get("crv").and_then(Value::as_str) != Some("P-256") {
        return Err(ProofError::JwkCrv);
    }
    if jwk.contains_key("d") {
        return Err(ProofError::JwkPrivate);
    }
    let member = |name: &str| jwk.get(name).and_then(Value::as_str);
    let (x, y) = member("x")
        .zip(member("y"))
        .ok_or(ProofError::JwkCoordinates)?;
    let coordinates = Coordinates::of(x, y).ok_or(ProofError::JwkCoordinates)?;
    Ok((x, y, coordinates))
}

/// The key at the base64url coordinates `x_b64` and `y_b64`, checked on the curve, and its thumbprint.
fn p256_key_at(x_b64: &str, y_b64: &str) -> Result<(P256Verifier, String), ProofError> {
    let coordinate = |v: &str| b64_decode(v).and_then(|bytes| <[u8; 32]>::try_from(bytes).ok());
    let (Some(x), Some(y)) = (coordinate(x_b64), coordinate(y_b64)) else {
        return Err(ProofError::JwkCoordinates);
    };
    let key = P256Verifier::from_affine(&x, &y).ok_or(ProofError::JwkNotOnCurve)?;
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

/// Normalises a URL for `htu` comparison (RFC 9449 section 4.3 step 10, RFC 3986 section 6.2.3), the
/// same way for the claim and the request: see [`normalize_http_url`].
pub fn normalize_htu(url: &str) -> Option<String> {
    normalize_http_url(url)
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
            access_token_hash: None,
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

    fn check(proof: &str) -> Result<VerifiedProof, ProofError> {
        parse_proof(proof, target(), WINDOW, NOW, &NoPreparedKeys)?.verify_signature()
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
            access_token_hash: None,
        };
        let err = parse_proof(proof, target, window, 1_562_262_616, &NoPreparedKeys).unwrap_err();
        assert_eq!(err, ProofError::AthMissing);
        // The signature itself verifies.
        let jws = parse_compact(proof).unwrap();
        let header = parse_object(&jws.header).unwrap();
        let (key, jkt) = p256_public_key(header["jwk"].as_object().unwrap()).unwrap();
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
            (json!({"typ": null}), ProofError::Typ),
            (json!({"typ": "JWT"}), ProofError::Typ),
            (json!({"typ": "DPOP+JWT"}), ProofError::Typ),
            (json!({"typ": "application/dpop+jwt"}), ProofError::Typ),
            (json!({"alg": "RS256"}), ProofError::Alg),
            (json!({"alg": "none"}), ProofError::Alg),
            (json!({"alg": "HS256"}), ProofError::Alg),
            (json!({"crit": ["x"]}), ProofError::Crit),
            (json!({"jwk": null}), ProofError::JwkMissing),
            (json!({"jwk": "key"}), ProofError::JwkMissing),
            (
                json!({"jwk": {"kty": "RSA", "n": "x", "e": "AQAB"}}),
                ProofError::JwkKty,
            ),
            (
                json!({"jwk": {"kty": "EC", "crv": "P-384", "x": "a", "y": "b"}}),
                ProofError::JwkCrv,
            ),
            (
                json!({"jwk": {"kty": "EC", "crv": "P-256"}}),
                ProofError::JwkCoordinates,
            ),
            (
                json!({"jwk": {"kty": "EC", "crv": "P-256", "x": b64_encode(&[1; 32]), "y": b64_encode(&[2; 32])}}),
                ProofError::JwkNotOnCurve,
            ),
        ] {
            let proof = sign(&with(header(), change.clone()), &claims());
            assert_eq!(check(&proof).unwrap_err(), reason, "{change}");
        }
        let mut private = header();
        private["jwk"]["d"] = json!(b64_encode(&[7u8; 32]));
        assert_eq!(
            check(&sign(&private, &claims())).unwrap_err(),
            ProofError::JwkPrivate
        );
        // Signed by another key than the one in the header.
        let forged = sign_raw(&header().to_string(), &claims().to_string(), &other);
        assert_eq!(check(&forged).unwrap_err(), ProofError::Signature);
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
            ProofError::Header
        );
        let dup_jwk = h.replacen(r#""jwk":{"#, r#""jwk":{"kty":"RSA","#, 1);
        assert_eq!(
            check(&sign_raw(&dup_jwk, &claims().to_string(), &signing_key())).unwrap_err(),
            ProofError::Header
        );
        let dup_claims = claims().to_string().replacen('{', r#"{"htm":"POST","#, 1);
        assert_eq!(
            check(&sign_raw(&h, &dup_claims, &signing_key())).unwrap_err(),
            ProofError::Payload
        );
        // Any member twice, whether the checks read it or not, at any depth, whatever its first value; a
        // header or claims that are not one object.
        let c = claims().to_string();
        for (header, claims, reason) in [
            (
                h.replacen('{', r#"{"typ":null,"#, 1),
                c.clone(),
                ProofError::Header,
            ),
            (
                h.replacen('{', r#"{"jwk":1,"#, 1),
                c.clone(),
                ProofError::Header,
            ),
            (
                h.replacen('{', r#"{"crit":1,"crit":1,"#, 1),
                c.clone(),
                ProofError::Header,
            ),
            (
                h.replacen('{', r#"{"ext":{"a":1,"a":2},"#, 1),
                c.clone(),
                ProofError::Header,
            ),
            (
                h.replacen('{', r#"{"ext":[{"a":1,"a":2}],"#, 1),
                c.clone(),
                ProofError::Header,
            ),
            (
                h.replacen(r#""jwk":{"#, r#""jwk":{"d":1,"d":1,"#, 1),
                c.clone(),
                ProofError::Header,
            ),
            (
                h.replacen(r#""jwk":{"#, r#""jwk":{"e":{"b":1,"b":1},"#, 1),
                c.clone(),
                ProofError::Header,
            ),
            (
                h.clone(),
                c.replacen('{', r#"{"jti":1,"#, 1),
                ProofError::Payload,
            ),
            (
                h.clone(),
                c.replacen('{', r#"{"nonce":"a","nonce":"b","#, 1),
                ProofError::Payload,
            ),
            (
                h.clone(),
                c.replacen('{', r#"{"x":{"b":[1],"b":2},"#, 1),
                ProofError::Payload,
            ),
            (h.clone(), "[1]".to_owned(), ProofError::Payload),
            (h.clone(), format!("{c} 1"), ProofError::Payload),
            ("\"dpop+jwt\"".to_owned(), c.clone(), ProofError::Header),
        ] {
            assert_eq!(
                check(&sign_raw(&header, &claims, &signing_key())).unwrap_err(),
                reason,
                "{header} {claims}"
            );
        }
    }

    #[test]
    fn members_read_as_json_has_them() {
        // Escaped strings are read unescaped, numbers in any JSON form, other members ignored.
        let h = header()
            .to_string()
            .replacen(r#""dpop+jwt""#, r#""dpop\u002bjwt""#, 1);
        let c = claims()
            .to_string()
            .replacen('{', r#"{"ext":{"a":[1,{"b":null}]},"#, 1);
        assert!(check(&sign_raw(&h, &c, &signing_key())).is_ok());
        for iat in [json!(NOW as f64 + 0.5), json!(1.7e9)] {
            let claims = with(claims(), json!({ "iat": iat }));
            assert!(check(&sign(&header(), &claims)).is_ok(), "{iat}");
        }
        let exponent = claims().to_string().replace(&NOW.to_string(), "17e8");
        assert!(check(&sign_raw(&header().to_string(), &exponent, &signing_key())).is_ok());
        for (change, reason) in [
            (json!({"iat": true}), ProofError::IatType),
            (json!({"iat": [NOW]}), ProofError::IatType),
            (json!({"jti": {"a": 1}}), ProofError::JtiType),
            (json!({"htm": 1}), ProofError::HtmType),
            (json!({"htu": []}), ProofError::HtuType),
            (json!({"ath": 1.5}), ProofError::AthType),
            (json!({"nonce": false}), ProofError::NonceType),
        ] {
            let proof = sign(&header(), &with(claims(), change.clone()));
            assert_eq!(check(&proof).unwrap_err(), reason, "{change}");
        }
        for jwk in [json!([1]), json!(5), json!(true)] {
            let proof = sign(&with(header(), json!({ "jwk": jwk })), &claims());
            assert_eq!(check(&proof).unwrap_err(), ProofError::JwkMissing, "{jwk}");
        }
    }

    #[test]
    fn malformed_signatures_are_rejected() {
        let proof = sign(&header(), &claims());
        let (input, sig) = proof.rsplit_once('.').unwrap();
        let sig = b64_decode(sig).unwrap();
        // Psychic signature (CVE-2022-21449): r = s = 0.
        let zero = format!("{input}.{}", b64_encode(&[0u8; 64]));
        assert_eq!(check(&zero).unwrap_err(), ProofError::SignatureFormat);
        // DER encoding instead of r || s.
        let der = Signature::from_slice(&sig).unwrap().to_der();
        let der_proof = format!("{input}.{}", b64_encode(der.as_bytes()));
        assert_eq!(check(&der_proof).unwrap_err(), ProofError::SignatureFormat);
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
    fn htu_as_the_request_url_was_sent() {
        let check_at = |url: &str, htu: &str| {
            let proof = sign(&header(), &with(claims(), json!({ "htu": htu })));
            let target = ProofTarget { url, ..target() };
            parse_proof(&proof, target, WINDOW, NOW, &NoPreparedKeys).map(|_| ())
        };
        let url = "HTTPS://API.example.com:443/api/private";
        assert_eq!(check_at(url, url), Ok(()));
        assert_eq!(check_at(url, "https://api.example.com/api/private"), Ok(()));
        assert_eq!(check_at("https://api.example.com/api/private", url), Ok(()));
        assert_eq!(
            check_at(url, "https://api.example.com/api/other"),
            Err(ProofError::HtuMismatch)
        );
        // The same text is still refused when it is no absolute http(s) URL.
        for invalid in [
            "/api/private",
            "https://user@api.example.com/",
            "ftp://a/b",
            "https://a/ b",
        ] {
            assert_eq!(
                check_at(invalid, invalid),
                Err(ProofError::HtuInvalid),
                "{invalid}"
            );
        }
    }

    #[test]
    fn claim_rules() {
        for (change, reason) in [
            (json!({"jti": null}), ProofError::JtiMissing),
            (json!({"jti": ""}), ProofError::JtiInvalid),
            (json!({"jti": "  "}), ProofError::JtiInvalid),
            (json!({"jti": 5}), ProofError::JtiType),
            (json!({"htm": null}), ProofError::HtmMissing),
            (json!({"htm": "get"}), ProofError::HtmMismatch),
            (json!({"htm": "POST"}), ProofError::HtmMismatch),
            (json!({"htm": ["GET"]}), ProofError::HtmType),
            (json!({"htu": null}), ProofError::HtuMissing),
            (
                json!({"htu": "https://api.example.com/api/other"}),
                ProofError::HtuMismatch,
            ),
            (
                json!({"htu": "http://api.example.com/api/private"}),
                ProofError::HtuMismatch,
            ),
            (
                json!({"htu": "https://api.example.com/api/private/"}),
                ProofError::HtuMismatch,
            ),
            (
                json!({"htu": "https://evil.com/api/private"}),
                ProofError::HtuMismatch,
            ),
            (json!({"htu": "/api/private"}), ProofError::HtuInvalid),
            (json!({"htu": 1}), ProofError::HtuType),
            (json!({"iat": null}), ProofError::IatMissing),
            (json!({"iat": "1700000000"}), ProofError::IatType),
            (json!({"iat": NOW - 301}), ProofError::IatTooOld),
            (json!({"iat": NOW + 31}), ProofError::IatInFuture),
            (json!({"ath": null}), ProofError::AthMissing),
            (
                json!({"ath": access_token_hash("other")}),
                ProofError::AthMismatch,
            ),
            (json!({"ath": 1}), ProofError::AthType),
            (json!({"nonce": 1}), ProofError::NonceType),
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
        assert_eq!(check("a.b").unwrap_err(), ProofError::Structure);
        assert_eq!(
            check(&"a".repeat(MAX_PROOF_BYTES + 1)).unwrap_err(),
            ProofError::TooLarge
        );
        let proof = sign(&header(), &claims());
        assert_eq!(
            check(&format!("{proof}=")).unwrap_err(),
            ProofError::Encoding
        );
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
        Some(h) if has_authority_chars(h) => h,
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
