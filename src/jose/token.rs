//! Access-token validation (README "Features", Access tokens): a compact JWS signed with RS256 (RFC 7515, RFC 7518
//! section 3.3) carrying JWT claims (RFC 7519 section 4.1), checked the way RFC 8725 (JWT BCP) and
//! RFC 9068 (JWT access tokens) ask.
//!
//! Validation runs in two steps so that the expensive one comes last: [`parse`] does the structural and
//! claim checks that need no key, then [`UnverifiedToken::verify`] checks the signature with the key
//! its `kid` names.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::json::{numeric_date, parse_object, Keys, StrictValue, StrictVisitor, Text};
use super::jwa::{Algorithm, Algorithms};
use super::jws::{parse_compact, CompactJws, JwsError};
use crate::jose::jwks::VerifyingKey;

/// Tokens longer than this are refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Why an access token is refused (401 `invalid_token`), by the member or step that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    TooLarge,
    /// Not three dot-separated parts (RFC 7515 section 7.1).
    Structure,
    Encoding,
    Header,
    Payload,
    Alg,
    KeyAlg,
    Crit,
    Typ,
    KidMissing,
    KidType,
    /// The issuer publishes no usable key with this `kid`.
    UnknownKid,
    IssMissing,
    IssType,
    IssNotAccepted,
    AudMissing,
    AudType,
    AudMismatch,
    ExpMissing,
    ExpType,
    Expired,
    NbfType,
    NotYetValid,
    IatType,
    SubType,
    ScopeType,
    ScpType,
    PermissionsType,
    CnfType,
    JktType,
    TypProfile,
    SubMissing,
    ClientIdMissing,
    ClientIdType,
    JtiMissing,
    JtiType,
    IatMissing,
    TooOld,
    Signature,
    /// RFC 9449 section 7.1: a downgrade.
    BoundTokenAsBearer,
    /// RFC 9449 section 6.1.
    JktMismatch,
    NotBound,
}

impl TokenError {
    /// What failed, for the error body, the challenge and the log; it never holds request bytes.
    pub fn description(self) -> &'static str {
        match self {
            Self::TooLarge => "the token is larger than 16 KiB",
            Self::Structure => "the token is not a compact JWS of three parts",
            Self::Encoding => "a token part is not unpadded base64url",
            Self::Header => "the token header is not a JSON object with unique members",
            Self::Payload => "the token payload is not a JSON object with unique members",
            Self::Alg => "alg: not an accepted algorithm (TOKEN_ALGORITHMS)",
            Self::KeyAlg => "alg: the signing key is for another algorithm",
            Self::Crit => "crit: no critical header extension is understood",
            Self::Typ => "typ: must be JWT or at+jwt",
            Self::KidMissing => "kid: missing from the token header",
            Self::KidType => "kid: must be a non-empty string",
            Self::UnknownKid => "kid: no signing key has this kid",
            Self::IssMissing => "iss: missing",
            Self::IssType => "iss: must be a string",
            Self::IssNotAccepted => "iss: not an accepted issuer",
            Self::AudMissing => "aud: missing",
            Self::AudType => "aud: must be a string or an array of strings",
            Self::AudMismatch => "aud: does not contain the configured audience",
            Self::ExpMissing => "exp: missing",
            Self::ExpType => "exp: must be a number",
            Self::Expired => "exp: the token has expired",
            Self::NbfType => "nbf: must be a number",
            Self::NotYetValid => "nbf: the token is not valid yet",
            Self::IatType => "iat: must be a number",
            Self::SubType => "sub: must be a string",
            Self::ScopeType => "scope: must be a space-delimited string",
            Self::ScpType => "scp: must be a string or an array of strings",
            Self::PermissionsType => "permissions: must be an array of strings",
            Self::CnfType => "cnf: must be an object",
            Self::JktType => "cnf: jkt must be a non-empty string",
            Self::TypProfile => "typ: must be at+jwt (TOKEN_PROFILE=rfc9068)",
            Self::SubMissing => "sub: missing",
            Self::ClientIdMissing => "client_id: missing",
            Self::ClientIdType => "client_id: must be a string",
            Self::JtiMissing => "jti: missing",
            Self::JtiType => "jti: must be a string",
            Self::IatMissing => "iat: missing",
            Self::TooOld => "iat: the token is older than MAX_TOKEN_AGE_SECONDS",
            Self::Signature => "signature: verification failed",
            Self::BoundTokenAsBearer => "cnf: a DPoP-bound token must be sent with the DPoP scheme",
            Self::JktMismatch => "cnf: jkt does not match the DPoP proof key",
            Self::NotBound => "cnf: the token is not bound to a DPoP key",
        }
    }
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.description())
    }
}

/// What a token must satisfy besides its signature.
#[derive(Debug)]
pub struct ClaimRules<'a, I> {
    /// Accepted issuers; `iss` must equal one exactly (RFC 7519 section 4.1.1; no normalisation).
    pub issuers: &'a [I],
    /// `TOKEN_ALGORITHMS`: the header's `alg` must be one of them.
    pub algorithms: Algorithms,
    /// Seconds of clock skew tolerated on `exp`, `nbf` and the token age.
    pub leeway: u64,
    pub profile: TokenProfile,
    /// `MAX_TOKEN_AGE_SECONDS`: `iat` required and at most this old.
    pub max_age: Option<u64>,
}

/// Which access-token profile is enforced (`TOKEN_PROFILE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProfile {
    /// RFC 7519 claims as Auth0 issues them by default: `typ` `JWT` or `at+jwt` when present.
    Standard,
    /// RFC 9068 section 2: `typ` `at+jwt`, and `sub`, `client_id`, `iat`, `jti` present.
    Rfc9068,
}

impl<I> Clone for ClaimRules<'_, I> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<I> Copy for ClaimRules<'_, I> {}

/// The identity a verified token carries, as the gateway uses it.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    /// Index of the token's issuer among the accepted ones, which selects its keys.
    pub issuer: usize,
    /// Shared with the log line and the metrics of each request that presents the token.
    pub sub: Option<Arc<str>>,
    /// `exp` in seconds since the epoch.
    pub exp: f64,
    /// `iat`, when present.
    pub iat: Option<f64>,
    /// Granted scopes: the union of `scope`, `scp` and `permissions`, without duplicates.
    pub scopes: Vec<String>,
    /// `cnf.jkt`: the thumbprint of the key the token is bound to (RFC 9449 section 6.1).
    pub jkt: Option<String>,
    /// Every claim, for identity headers in proxy mode.
    pub all: Map<String, Value>,
}

#[cfg(test)]
impl Claims {
    /// Claims made of `all` alone, its `sub` as the subject, for the tests of what consumes claims.
    pub(crate) fn from_all(all: Value) -> Claims {
        let all = all.as_object().cloned().unwrap_or_default();
        Claims {
            issuer: 0,
            sub: all.get("sub").and_then(Value::as_str).map(Arc::from),
            exp: 0.0,
            iat: None,
            scopes: Vec::new(),
            jkt: None,
            all,
        }
    }
}

/// A token whose structure, header and claims passed; its signature is not verified yet.
#[derive(Debug)]
pub struct UnverifiedToken<'a> {
    jws: CompactJws<'a>,
    alg: Algorithm,
    kid: Arc<str>,
    claims: Claims,
}

impl<'a> UnverifiedToken<'a> {
    /// The claims, whose signature is not verified yet.
    pub fn claims(&self) -> &Claims {
        &self.claims
    }

    /// The `kid` that names the verification key.
    pub fn kid(&self) -> &Arc<str> {
        &self.kid
    }

    /// Index of the token's issuer among the accepted ones (its `iss`, not yet verified).
    pub fn issuer(&self) -> usize {
        self.claims.issuer
    }

    /// Verifies the signature with the token's algorithm (RFC 7515 section 5.2 step 8) and returns the
    /// claims. A key that names its algorithm verifies only tokens of that algorithm (RFC 7517 section 4.4).
    pub fn verify(self, key: &VerifyingKey) -> Result<Claims, TokenError> {
        if key.alg.is_some_and(|alg| alg != self.alg) {
            return Err(TokenError::KeyAlg);
        }
        let input = self.jws.signing_input.as_bytes();
        if !self.alg.verify(&key.fast, input, &self.jws.signature) {
            return Err(TokenError::Signature);
        }
        Ok(self.claims)
    }
}

/// Runs every check that needs no key: size, structure, header and claims. `now` is seconds since the
/// epoch.
pub fn parse<'a>(
    token: &'a str,
    rules: ClaimRules<'_, impl AsRef<str>>,
    now: u64,
) -> Result<UnverifiedToken<'a>, TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::TooLarge);
    }
    let jws = parse_compact(token).map_err(|e| match e {
        JwsError::Structure => TokenError::Structure,
        JwsError::Encoding => TokenError::Encoding,
    })?;
    let header =
        serde_json::from_slice::<JoseHeader>(&jws.header).map_err(|_| TokenError::Header)?;
    let (alg, kid) = check_header(header, rules.algorithms, rules.profile)?;
    let payload = parse_object(&jws.payload).ok_or(TokenError::Payload)?;
    let claims = check_claims(payload, rules, now)?;
    Ok(UnverifiedToken {
        jws,
        alg,
        kid,
        claims,
    })
}

/// The members of a token's JOSE header that the gateway reads, strings borrowed from the decoded header
/// where they have no escapes. Every other member is checked like any JSON (unique names at any depth,
/// RFC 7515 section 5.2 step 4) and dropped: a header costs no map and no copy of what it holds.
#[derive(Default)]
struct JoseHeader<'de> {
    alg: Member<'de>,
    typ: Member<'de>,
    kid: Member<'de>,
    crit: bool,
}

/// One of those members: absent, a string, or another JSON value.
#[derive(Default)]
enum Member<'de> {
    #[default]
    Absent,
    Text(Cow<'de, str>),
    Other,
}

impl<'de> de::Deserialize<'de> for JoseHeader<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(JoseHeaderVisitor)
    }
}

struct JoseHeaderVisitor;

impl<'de> Visitor<'de> for JoseHeaderVisitor {
    type Value = JoseHeader<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JoseHeader<'de>, A::Error> {
        let duplicate = || de::Error::custom("duplicate member name");
        let mut header = JoseHeader::default();
        // The names of the other members, kept only to refuse a second one: a header of `alg`, `typ` and
        // `kid` alone keeps none.
        let mut others = Keys::default();
        while let Some(Text(name)) = map.next_key::<Text<'de>>()? {
            let slot = match name.as_ref() {
                "alg" => &mut header.alg,
                "typ" => &mut header.typ,
                "kid" => &mut header.kid,
                _ => {
                    header.crit |= name == "crit";
                    if !others.insert(name) {
                        return Err(duplicate());
                    }
                    map.next_value::<StrictValue>()?;
                    continue;
                }
            };
            // A member read before is no longer absent.
            if !matches!(slot, Member::Absent) {
                return Err(duplicate());
            }
            *slot = map.next_value_seed(MemberSeed)?;
        }
        Ok(header)
    }
}

struct MemberSeed;

impl<'de> DeserializeSeed<'de> for MemberSeed {
    type Value = Member<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Member<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MemberSeed {
    type Value = Member<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Member<'de>, E> {
        Ok(Member::Text(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Member<'de>, E> {
        Ok(Member::Text(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Member<'de>, E> {
        Ok(Member::Text(Cow::Owned(v)))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Member<'de>, E> {
        Ok(Member::Other)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Member<'de>, E> {
        Ok(Member::Other)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Member<'de>, E> {
        Ok(Member::Other)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Member<'de>, E> {
        Ok(Member::Other)
    }
    fn visit_unit<E>(self) -> Result<Member<'de>, E> {
        Ok(Member::Other)
    }
    // Arrays and objects are checked (unique member names inside too) as any JSON value.
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Member<'de>, A::Error> {
        StrictVisitor.visit_seq(seq).map(|_| Member::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Member<'de>, A::Error> {
        StrictVisitor.visit_map(map).map(|_| Member::Other)
    }
}

/// RFC 8725 section 3.1 (one algorithm, never `none`), RFC 7515 section 4.1.11 (`crit`), RFC 9068
/// section 2.1 (`typ`), RFC 7515 section 4.1.4 (`kid`).
fn check_header(
    header: JoseHeader<'_>,
    algorithms: Algorithms,
    profile: TokenProfile,
) -> Result<(Algorithm, Arc<str>), TokenError> {
    let alg = match &header.alg {
        Member::Text(alg) => algorithms.accepted(alg).ok_or(TokenError::Alg)?,
        _ => return Err(TokenError::Alg),
    };
    if header.crit {
        return Err(TokenError::Crit);
    }
    // RFC 9068 section 2.1: `at+jwt`, or its full media type; RFC 8725 section 3.11 otherwise.
    let at_jwt = |typ: &str| {
        typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt")
    };
    match (&header.typ, profile) {
        (Member::Text(typ), _) if at_jwt(typ) => {}
        (_, TokenProfile::Rfc9068) => return Err(TokenError::TypProfile),
        (Member::Absent, TokenProfile::Standard) => {}
        (Member::Text(typ), TokenProfile::Standard) if typ.eq_ignore_ascii_case("JWT") => {}
        (_, TokenProfile::Standard) => return Err(TokenError::Typ),
    }
    match header.kid {
        Member::Text(kid) if !kid.is_empty() && kid.len() <= 256 => Ok((alg, kid.into())),
        Member::Text(_) | Member::Other => Err(TokenError::KidType),
        Member::Absent => Err(TokenError::KidMissing),
    }
}

/// The claims the checks read, found in one pass over the payload's members. A lookup each would compare
/// names down the map's tree, a call to `memcmp` per comparison; here each name is matched byte by byte.
#[derive(Default)]
struct Registered<'a> {
    iss: Option<&'a Value>,
    aud: Option<&'a Value>,
    exp: Option<&'a Value>,
    nbf: Option<&'a Value>,
    iat: Option<&'a Value>,
    sub: Option<&'a Value>,
    jti: Option<&'a Value>,
    client_id: Option<&'a Value>,
    scope: Option<&'a Value>,
    scp: Option<&'a Value>,
    permissions: Option<&'a Value>,
    cnf: Option<&'a Value>,
}

impl<'a> Registered<'a> {
    fn find(all: &'a Map<String, Value>) -> Self {
        let mut found = Self::default();
        for (name, value) in all {
            let slot = match name.as_bytes() {
                [b'i', b's', b's'] => &mut found.iss,
                [b'a', b'u', b'd'] => &mut found.aud,
                [b'e', b'x', b'p'] => &mut found.exp,
                [b'n', b'b', b'f'] => &mut found.nbf,
                [b'i', b'a', b't'] => &mut found.iat,
                [b's', b'u', b'b'] => &mut found.sub,
                [b'j', b't', b'i'] => &mut found.jti,
                [b's', b'c', b'p'] => &mut found.scp,
                [b'c', b'n', b'f'] => &mut found.cnf,
                [b's', b'c', b'o', b'p', b'e'] => &mut found.scope,
                _ if name == "client_id" => &mut found.client_id,
                _ if name == "permissions" => &mut found.permissions,
                _ => continue,
            };
            *slot = Some(value);
        }
        found
    }
}

/// RFC 7519 section 4.1 and RFC 9068 section 4, in the order a client's mistake is most likely found;
/// a claim of the wrong JSON type fails.
fn check_claims(
    all: Map<String, Value>,
    rules: ClaimRules<'_, impl AsRef<str>>,
    now: u64,
) -> Result<Claims, TokenError> {
    let claims = Registered::find(&all);
    let issuer = check_issuer(claims.iss, rules.issuers)?;
    check_audience_type(claims.aud)?;
    let (exp, iat) = check_times(&claims, now as f64, rules.leeway as f64)?;
    check_age(iat, rules.max_age, now, rules.leeway)?;
    let sub = match claims.sub {
        None => None,
        Some(Value::String(sub)) => Some(sub.as_str().into()),
        Some(_) => return Err(TokenError::SubType),
    };
    if rules.profile == TokenProfile::Rfc9068 {
        check_rfc9068_claims(&claims, sub.is_some(), iat.is_some())?;
    }
    let scopes = granted_scopes(&claims)?;
    let jkt = confirmation_thumbprint(claims.cnf)?;
    Ok(Claims {
        issuer,
        sub,
        exp,
        iat,
        scopes,
        jkt,
        all,
    })
}

/// RFC 7519 section 4.1.1: `iss` equals an accepted issuer exactly; its index selects the keys.
fn check_issuer(iss: Option<&Value>, issuers: &[impl AsRef<str>]) -> Result<usize, TokenError> {
    match iss {
        Some(Value::String(iss)) => issuers
            .iter()
            .position(|i| i.as_ref() == iss)
            .ok_or(TokenError::IssNotAccepted),
        Some(_) => Err(TokenError::IssType),
        None => Err(TokenError::IssMissing),
    }
}

/// RFC 7519 section 4.1.3: `aud` is present, a string or an array of strings. Which audience it must
/// contain depends on the route ([`check_audience`]).
fn check_audience_type(aud: Option<&Value>) -> Result<(), TokenError> {
    match aud {
        Some(Value::String(_)) => Ok(()),
        Some(Value::Array(auds)) if auds.iter().all(Value::is_string) => Ok(()),
        Some(_) => Err(TokenError::AudType),
        None => Err(TokenError::AudMissing),
    }
}

/// RFC 7519 section 4.1.3 (and RFC 8707 for resources): `aud` contains one of `audiences`. The claims
/// passed [`parse`], so `aud` is a string or an array of strings.
pub fn check_audience(claims: &Claims, audiences: &[impl AsRef<str>]) -> Result<(), TokenError> {
    let accepted = |aud: &str| audiences.iter().any(|a| a.as_ref() == aud);
    let found = match claims.all.get("aud") {
        Some(Value::String(aud)) => accepted(aud),
        Some(Value::Array(auds)) => auds.iter().filter_map(Value::as_str).any(accepted),
        _ => false,
    };
    if found {
        Ok(())
    } else {
        Err(TokenError::AudMismatch)
    }
}

/// RFC 7519 sections 4.1.4-4.1.6: `exp` required and in the future, `nbf` not in the future, `iat` a
/// number; `leeway` seconds of clock skew on both bounds. Returns `exp` and `iat`.
fn check_times(
    claims: &Registered<'_>,
    now: f64,
    leeway: f64,
) -> Result<(f64, Option<f64>), TokenError> {
    let exp = match claims.exp {
        None => return Err(TokenError::ExpMissing),
        Some(v) => numeric_date(v).ok_or(TokenError::ExpType)?,
    };
    // The token must not be accepted on or after exp.
    if now >= exp + leeway {
        return Err(TokenError::Expired);
    }
    if let Some(v) = claims.nbf {
        let nbf = numeric_date(v).ok_or(TokenError::NbfType)?;
        if nbf > now + leeway {
            return Err(TokenError::NotYetValid);
        }
    }
    let iat = match claims.iat {
        None => None,
        Some(v) => Some(numeric_date(v).ok_or(TokenError::IatType)?),
    };
    Ok((exp, iat))
}

/// `MAX_TOKEN_AGE_SECONDS`: `iat` required and no older than the maximum (with the clock leeway).
/// Checked again on tokens from the verified-token cache, since age grows.
pub fn check_age(
    iat: Option<f64>,
    max_age: Option<u64>,
    now: u64,
    leeway: u64,
) -> Result<(), TokenError> {
    let Some(max_age) = max_age else {
        return Ok(());
    };
    let iat = iat.ok_or(TokenError::IatMissing)?;
    if now as f64 - iat > (max_age + leeway) as f64 {
        return Err(TokenError::TooOld);
    }
    Ok(())
}

/// RFC 9068 section 2.2: `sub`, `client_id`, `iat` and `jti` are required (`iss`, `exp`, `aud` always are).
fn check_rfc9068_claims(
    claims: &Registered<'_>,
    has_sub: bool,
    has_iat: bool,
) -> Result<(), TokenError> {
    if !has_sub {
        return Err(TokenError::SubMissing);
    }
    match claims.client_id {
        Some(Value::String(_)) => {}
        Some(_) => return Err(TokenError::ClientIdType),
        None => return Err(TokenError::ClientIdMissing),
    }
    if !has_iat {
        return Err(TokenError::IatMissing);
    }
    match claims.jti {
        Some(Value::String(_)) => Ok(()),
        Some(_) => Err(TokenError::JtiType),
        None => Err(TokenError::JtiMissing),
    }
}

/// The granted scopes, once each: `scope` (RFC 8693 section 4.2, a space-delimited string), Microsoft-style
/// `scp` (a string or an array of strings) and Auth0 RBAC `permissions` (an array of strings).
fn granted_scopes(claims: &Registered<'_>) -> Result<Vec<String>, TokenError> {
    let mut scopes: Vec<String> = Vec::new();
    let mut grant = |scope: &str| {
        if !scope.is_empty() && !scopes.iter().any(|s| s == scope) {
            scopes.push(scope.to_owned());
        }
    };
    match claims.scope {
        None => {}
        Some(Value::String(s)) => s.split(' ').for_each(&mut grant),
        Some(_) => return Err(TokenError::ScopeType),
    }
    match claims.scp {
        None => {}
        Some(Value::String(s)) => s.split(' ').for_each(&mut grant),
        Some(Value::Array(items)) => {
            for item in items {
                grant(item.as_str().ok_or(TokenError::ScpType)?);
            }
        }
        Some(_) => return Err(TokenError::ScpType),
    }
    match claims.permissions {
        None => {}
        Some(Value::Array(items)) => {
            for item in items {
                grant(item.as_str().ok_or(TokenError::PermissionsType)?);
            }
        }
        Some(_) => return Err(TokenError::PermissionsType),
    }
    Ok(scopes)
}

/// RFC 7800 section 3.1 / RFC 9449 section 6.1: `cnf.jkt`, the thumbprint of the key the token is bound to.
fn confirmation_thumbprint(cnf: Option<&Value>) -> Result<Option<String>, TokenError> {
    match cnf {
        None => Ok(None),
        Some(Value::Object(cnf)) => match cnf.get("jkt") {
            None => Ok(None),
            Some(Value::String(jkt)) if !jkt.is_empty() => Ok(Some(jkt.clone())),
            Some(_) => Err(TokenError::JktType),
        },
        Some(_) => Err(TokenError::CnfType),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idp::{parse_issuer, Issuer};
    use crate::jose::b64_encode;
    use crate::jose::jwks::parse_rsa_jwk;
    use crate::test_keys::{self, with};
    use serde_json::json;
    use std::sync::OnceLock;

    const NOW: u64 = 1_700_000_000;
    fn issuers() -> &'static [Issuer] {
        static ISSUERS: OnceLock<Vec<Issuer>> = OnceLock::new();
        ISSUERS.get_or_init(|| {
            vec![
                parse_issuer("tenant.auth0.com").unwrap(),
                parse_issuer("login.example.com").unwrap(),
            ]
        })
    }

    fn rules() -> ClaimRules<'static, Issuer> {
        ClaimRules {
            issuers: issuers(),
            algorithms: Algorithms::DEFAULT,
            leeway: 0,
            profile: TokenProfile::Standard,
            max_age: None,
        }
    }

    fn header() -> Value {
        json!({"alg": "RS256", "typ": "JWT", "kid": "k1"})
    }

    fn claims() -> Value {
        json!({
            "iss": "https://tenant.auth0.com/",
            "sub": "auth0|user",
            "aud": ["https://api.example.com", "https://tenant.auth0.com/userinfo"],
            "iat": NOW - 10,
            "exp": NOW + 3600,
            "scope": "openid read:messages",
            "permissions": ["read:messages", "write:messages"],
        })
    }

    fn key() -> VerifyingKey {
        parse_rsa_jwk(&test_keys::rsa_2048().public_jwk("k1")).unwrap()
    }

    fn check(token: &str) -> Result<Claims, TokenError> {
        let claims = parse(token, rules(), NOW)?.verify(&key())?;
        check_audience(&claims, &["https://api.example.com"])?;
        Ok(claims)
    }

    fn sign(header: Value, claims: Value) -> String {
        test_keys::rsa_2048().sign(&header, &claims)
    }

    #[test]
    fn a_valid_token_yields_its_claims() {
        let c = check(&sign(header(), claims())).unwrap();
        assert_eq!(c.sub.as_deref(), Some("auth0|user"));
        assert_eq!(c.scopes, ["openid", "read:messages", "write:messages"]);
        assert_eq!(c.exp, (NOW + 3600) as f64);
        assert_eq!(c.jkt, None);
        assert_eq!(c.issuer, 0);
        // Another accepted issuer (a custom domain of the tenant) is selected by iss.
        let other = with(claims(), json!({"iss": "https://login.example.com/"}));
        assert_eq!(check(&sign(header(), other)).unwrap().issuer, 1);
    }

    fn with_rules(token: &str, rules: ClaimRules<'_, Issuer>) -> Result<Claims, TokenError> {
        parse(token, rules, NOW)?.verify(&key())
    }

    #[test]
    fn rfc9068_profile_requires_its_typ_and_claims() {
        let strict = ClaimRules {
            profile: TokenProfile::Rfc9068,
            ..rules()
        };
        let at_jwt = with(header(), json!({"typ": "at+jwt"}));
        let full = with(claims(), json!({"client_id": "c1", "jti": "j1"}));
        assert!(with_rules(&sign(at_jwt.clone(), full.clone()), strict).is_ok());
        let media_type = with(header(), json!({"typ": "application/AT+JWT"}));
        assert!(with_rules(&sign(media_type, full.clone()), strict).is_ok());
        for typ in [json!("JWT"), Value::Null, json!(5)] {
            let h = with(header(), json!({ "typ": typ }));
            assert_eq!(
                with_rules(&sign(h, full.clone()), strict).unwrap_err(),
                TokenError::TypProfile,
                "{typ}"
            );
        }
        for (change, reason) in [
            (json!({"sub": null}), TokenError::SubMissing),
            (json!({"client_id": null}), TokenError::ClientIdMissing),
            (json!({"client_id": 1}), TokenError::ClientIdType),
            (json!({"iat": null}), TokenError::IatMissing),
            (json!({"jti": null}), TokenError::JtiMissing),
            (json!({"jti": 7}), TokenError::JtiType),
        ] {
            let token = sign(at_jwt.clone(), with(full.clone(), change.clone()));
            assert_eq!(with_rules(&token, strict).unwrap_err(), reason, "{change}");
        }
        // The standard profile asks none of it.
        assert!(check(&sign(header(), claims())).is_ok());
    }

    #[test]
    fn max_token_age() {
        let aged = ClaimRules {
            max_age: Some(60),
            leeway: 5,
            ..rules()
        };
        let at = |iat: u64| sign(header(), with(claims(), json!({ "iat": iat })));
        assert!(with_rules(&at(NOW - 65), aged).is_ok());
        assert_eq!(
            with_rules(&at(NOW - 66), aged).unwrap_err(),
            TokenError::TooOld
        );
        let no_iat = sign(header(), with(claims(), json!({"iat": null})));
        assert_eq!(
            with_rules(&no_iat, aged).unwrap_err(),
            TokenError::IatMissing
        );
        assert!(check(&no_iat).is_ok());
        assert_eq!(check_age(Some(0.0), None, NOW, 0), Ok(()));
    }

    #[test]
    fn typ_variants_and_string_audience_are_accepted() {
        for typ in [json!("at+jwt"), json!("AT+JWT"), json!("jwt"), Value::Null] {
            let h = with(header(), json!({ "typ": typ }));
            assert!(check(&sign(h, claims())).is_ok(), "typ {typ}");
        }
        let c = with(claims(), json!({"aud": "https://api.example.com"}));
        assert!(check(&sign(header(), c)).is_ok());
    }

    #[test]
    fn header_rules() {
        for (change, reason) in [
            (json!({"alg": "none"}), TokenError::Alg),
            (json!({"alg": "HS256"}), TokenError::Alg),
            (json!({"alg": "RS384"}), TokenError::Alg),
            (json!({"alg": "PS256"}), TokenError::Alg),
            (json!({"alg": "rs256"}), TokenError::Alg),
            (json!({"alg": ["RS256"]}), TokenError::Alg),
            (json!({"alg": null}), TokenError::Alg),
            (json!({"crit": ["exp"]}), TokenError::Crit),
            (json!({"typ": "JOSE+XYZ"}), TokenError::Typ),
            (json!({"typ": "dpop+jwt"}), TokenError::Typ),
            (json!({"typ": 1}), TokenError::Typ),
            (json!({"kid": null}), TokenError::KidMissing),
            (json!({"kid": ""}), TokenError::KidType),
            (json!({"kid": 5}), TokenError::KidType),
        ] {
            let token = sign(with(header(), change.clone()), claims());
            assert_eq!(check(&token).unwrap_err(), reason, "{change}");
        }
    }

    /// The header is read member by member without building a map: still strictly (RFC 7515 section 5.2
    /// step 4), names and strings read as their text whatever their escapes.
    #[test]
    fn header_json_is_read_strictly() {
        let payload = claims().to_string();
        let signed = |header: &str| test_keys::rsa_2048().sign_compact(header, &payload);
        for (header, reason) in [
            (r#"{"alg":"RS256","kid":"k1"}"#, None),
            (
                r#"{"\u0061lg":"RS\u0032\u00356","kid":"k\u0031","typ":"\u004aWT"}"#,
                None,
            ),
            (
                r#"{"alg":"RS256","kid":"k1","x5t":[{"a":{}}],"jku":null}"#,
                None,
            ),
            (r#"[]"#, Some(TokenError::Header)),
            (r#""alg""#, Some(TokenError::Header)),
            (r#"{"alg":"RS256","kid":"k1"} {}"#, Some(TokenError::Header)),
            (
                r#"{"alg":"RS256","kid":"k1","kid":"k1"}"#,
                Some(TokenError::Header),
            ),
            (
                r#"{"alg":"RS256","kid":"k1","k\u0069d":"k1"}"#,
                Some(TokenError::Header),
            ),
            (
                r#"{"alg":"RS256","kid":"k1","x":1,"x":1}"#,
                Some(TokenError::Header),
            ),
            (
                r#"{"alg":"RS256","\u0061lg":"RS256","kid":"k1"}"#,
                Some(TokenError::Header),
            ),
            (
                r#"{"alg":"RS256","kid":"k1","typ":"JWT","typ":"JWT"}"#,
                Some(TokenError::Header),
            ),
            (
                r#"{"alg":"RS256","kid":"k1","crit":[],"crit":[]}"#,
                Some(TokenError::Header),
            ),
            (
                r#"{"alg":"RS256","kid":"k1","jwk":{"e":"AQAB","e":"AQAB"}}"#,
                Some(TokenError::Header),
            ),
            (
                r#"{"alg":[{"a":1,"a":1}],"kid":"k1"}"#,
                Some(TokenError::Header),
            ),
            (
                r#"{"alg":"RS256","kid":"k1","cr\u0069t":[]}"#,
                Some(TokenError::Crit),
            ),
            (
                r#"{"alg":"RS256","kid":{"k1":1}}"#,
                Some(TokenError::KidType),
            ),
            (
                r#"{"alg":"RS256","kid":"k1","typ":{}}"#,
                Some(TokenError::Typ),
            ),
            (r#"{"alg":1,"kid":"k1"}"#, Some(TokenError::Alg)),
        ] {
            assert_eq!(check(&signed(header)).err(), reason, "{header}");
        }
    }

    #[test]
    fn token_algorithms_are_the_configured_ones_and_keys_keep_to_theirs() {
        use crate::jose::jwa::Algorithm;
        let all = ClaimRules {
            algorithms: Algorithms::new(&Algorithm::ALL),
            ..rules()
        };
        let k = parse_rsa_jwk(&with(
            test_keys::rsa_2048().public_jwk("k1"),
            json!({"alg": null}),
        ))
        .unwrap();
        for alg in Algorithm::ALL {
            let h = with(header(), json!({ "alg": alg.name() }));
            let token = test_keys::rsa_2048().sign_as(alg.name(), &h, &claims());
            assert!(
                parse(&token, all, NOW).unwrap().verify(&k).is_ok(),
                "{alg:?}"
            );
            // Not configured: refused before any key work.
            let only_other = ClaimRules {
                algorithms: Algorithms::new(&[if alg == Algorithm::Rs256 {
                    Algorithm::Ps256
                } else {
                    Algorithm::Rs256
                }]),
                ..rules()
            };
            assert_eq!(
                parse(&token, only_other, NOW).unwrap_err(),
                TokenError::Alg,
                "{alg:?}"
            );
        }
        // A PS256 signature presented as RS256, and the reverse, never verify.
        let ps = test_keys::rsa_2048().sign_as("PS256", &header(), &claims());
        assert_eq!(
            parse(&ps, all, NOW).unwrap().verify(&k).unwrap_err(),
            TokenError::Signature
        );
        // A key whose alg is RS256 verifies no PS256 token, even a well-signed one.
        let rs256_key = parse_rsa_jwk(&test_keys::rsa_2048().public_jwk("k1")).unwrap();
        assert_eq!(rs256_key.alg, Some(Algorithm::Rs256));
        let h = with(header(), json!({"alg": "PS256"}));
        let token = test_keys::rsa_2048().sign_as("PS256", &h, &claims());
        assert_eq!(
            parse(&token, all, NOW)
                .unwrap()
                .verify(&rs256_key)
                .unwrap_err(),
            TokenError::KeyAlg
        );
    }

    #[test]
    fn an_unsigned_or_hmac_token_never_verifies() {
        let h = b64_encode(br#"{"alg":"none","kid":"k1"}"#);
        let p = b64_encode(claims().to_string().as_bytes());
        assert_eq!(
            check(&format!("{h}.{p}.")).unwrap_err(),
            TokenError::Structure
        );
        // alg confusion: an HS256 MAC keyed with the public key (RFC 8725 section 2.1).
        let h = b64_encode(br#"{"alg":"HS256","kid":"k1"}"#);
        assert_eq!(
            check(&format!("{h}.{p}.AAAA")).unwrap_err(),
            TokenError::Alg
        );
    }

    #[test]
    fn claim_rules() {
        for (change, reason) in [
            (json!({"iss": null}), TokenError::IssMissing),
            (
                json!({"iss": "https://evil.auth0.com/"}),
                TokenError::IssNotAccepted,
            ),
            (
                json!({"iss": "https://tenant.auth0.com"}),
                TokenError::IssNotAccepted,
            ),
            (
                json!({"iss": "https://TENANT.auth0.com/"}),
                TokenError::IssNotAccepted,
            ),
            (
                json!({"iss": ["https://tenant.auth0.com/"]}),
                TokenError::IssType,
            ),
            (json!({"aud": null}), TokenError::AudMissing),
            (json!({"aud": "https://other"}), TokenError::AudMismatch),
            (json!({"aud": ["https://other"]}), TokenError::AudMismatch),
            (json!({"aud": []}), TokenError::AudMismatch),
            (
                json!({"aud": ["https://api.example.com", 1]}),
                TokenError::AudType,
            ),
            (json!({"aud": {"a": 1}}), TokenError::AudType),
            (json!({"exp": null}), TokenError::ExpMissing),
            (json!({"exp": "9999999999"}), TokenError::ExpType),
            (json!({"exp": true}), TokenError::ExpType),
            (json!({"exp": NOW}), TokenError::Expired),
            (json!({"exp": NOW - 1}), TokenError::Expired),
            (json!({"nbf": NOW + 1}), TokenError::NotYetValid),
            (json!({"nbf": "0"}), TokenError::NbfType),
            (json!({"iat": "0"}), TokenError::IatType),
            (json!({"iat": [1]}), TokenError::IatType),
            (json!({"sub": 42}), TokenError::SubType),
            (json!({"scope": ["read:messages"]}), TokenError::ScopeType),
            (
                json!({"permissions": "read:messages"}),
                TokenError::PermissionsType,
            ),
            (json!({"permissions": [1]}), TokenError::PermissionsType),
            (json!({"scp": 5}), TokenError::ScpType),
            (json!({"cnf": "x"}), TokenError::CnfType),
            (json!({"cnf": {"jkt": 5}}), TokenError::JktType),
        ] {
            let token = sign(header(), with(claims(), change.clone()));
            assert_eq!(check(&token).unwrap_err(), reason, "{change}");
        }
    }

    #[test]
    fn time_boundaries_and_leeway() {
        assert!(check(&sign(header(), with(claims(), json!({"exp": NOW + 1})))).is_ok());
        assert!(check(&sign(header(), with(claims(), json!({"nbf": NOW})))).is_ok());
        assert!(check(&sign(
            header(),
            with(claims(), json!({"exp": NOW as f64 + 0.5}))
        ))
        .is_ok());
        let lenient = ClaimRules {
            leeway: 5,
            ..rules()
        };
        let expired = sign(header(), with(claims(), json!({"exp": NOW - 4})));
        assert!(parse(&expired, lenient, NOW).is_ok());
        let early = sign(header(), with(claims(), json!({"nbf": NOW + 5})));
        assert!(parse(&early, lenient, NOW).is_ok());
        let too_early = sign(header(), with(claims(), json!({"nbf": NOW + 6})));
        assert_eq!(
            parse(&too_early, lenient, NOW).unwrap_err(),
            TokenError::NotYetValid
        );
    }

    #[test]
    fn scopes_come_from_scope_scp_and_permissions() {
        let c = with(
            claims(),
            json!({"scope": "a  b", "scp": ["c", "a"], "permissions": ["d"]}),
        );
        assert_eq!(
            check(&sign(header(), c)).unwrap().scopes,
            ["a", "b", "c", "d"]
        );
        let c = with(
            claims(),
            json!({"scope": null, "permissions": null, "scp": "x y"}),
        );
        assert_eq!(check(&sign(header(), c)).unwrap().scopes, ["x", "y"]);
    }

    #[test]
    fn cnf_jkt_is_read() {
        let c = with(claims(), json!({"cnf": {"jkt": "thumb"}}));
        assert_eq!(
            check(&sign(header(), c)).unwrap().jkt.as_deref(),
            Some("thumb")
        );
        let c = with(claims(), json!({"cnf": {"x5t#S256": "cert"}}));
        assert_eq!(check(&sign(header(), c)).unwrap().jkt, None);
    }

    #[test]
    fn signatures_are_checked() {
        let token = sign(header(), claims());
        let (signed, _) = token.rsplit_once('.').unwrap();
        let other = sign(header(), with(claims(), json!({"sub": "admin"})));
        let (_, other_sig) = other.rsplit_once('.').unwrap();
        // A valid signature of another payload.
        assert_eq!(
            check(&format!("{signed}.{other_sig}")).unwrap_err(),
            TokenError::Signature
        );
        // Truncated, extended and tiny signatures.
        let sig = crate::jose::b64_decode(token.rsplit_once('.').unwrap().1).unwrap();
        for bad in [&sig[..255], &[sig.as_slice(), &[0]].concat(), &[0][..]] {
            assert_eq!(
                check(&format!("{signed}.{}", b64_encode(bad))).unwrap_err(),
                TokenError::Signature
            );
        }
        assert_eq!(
            check(&format!("{signed}.AA")).unwrap_err(),
            TokenError::Signature
        );
        // Signed by another key with the same kid.
        let forged = test_keys::rsa_2048_b().sign(&header(), &claims());
        assert_eq!(check(&forged).unwrap_err(), TokenError::Signature);
    }

    /// RS256 with jwt-compact and the `rsa` crate, the stock path the fast one is checked against. The
    /// signature must be exactly as long as the modulus (RFC 8017 section 8.2.2 step 1).
    fn verify_rs256_reference(signing_input: &[u8], signature: &[u8]) -> bool {
        use jwt_compact::alg::{Rsa, RsaSignature};
        use jwt_compact::{Algorithm, AlgorithmSignature};
        use rsa::traits::PublicKeyParts;
        let key = test_keys::rsa_2048().private.to_public_key();
        if signature.len() != key.size() {
            return false;
        }
        match RsaSignature::try_from_slice(signature) {
            Ok(sig) => Rsa::rs256().verify_signature(&sig, &key, signing_input),
            Err(_) => false,
        }
    }

    #[test]
    fn fast_path_agrees_with_jwt_compact() {
        let k = key();
        let token = sign(header(), claims());
        let (input, sig) = token.rsplit_once('.').unwrap();
        let sig = crate::jose::b64_decode(sig).unwrap();
        assert!(Algorithm::Rs256.verify(&k.fast, input.as_bytes(), &sig));
        assert!(verify_rs256_reference(input.as_bytes(), &sig));
        for i in 0..sig.len() {
            let mut bad = sig.clone();
            bad[i] ^= 1 << (i % 8);
            assert_eq!(
                Algorithm::Rs256.verify(&k.fast, input.as_bytes(), &bad),
                verify_rs256_reference(input.as_bytes(), &bad),
                "byte {i}"
            );
        }
        for bad in [&sig[..255], &[0u8; 256][..], &[0xff; 256][..], &[][..]] {
            assert!(!Algorithm::Rs256.verify(&k.fast, input.as_bytes(), bad));
            assert!(!verify_rs256_reference(input.as_bytes(), bad));
        }
    }

    #[test]
    fn encoding_rules() {
        let token = sign(header(), claims());
        let parts: Vec<&str> = token.split('.').collect();
        for bad in [
            format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
            format!("{}.{}=.{}", parts[0], parts[1], parts[2]),
            format!("{}.{}.{}==", parts[0], parts[1], parts[2]),
            format!("{}.{}.{}", parts[0], parts[1].replace('-', "+"), parts[2]).replace('_', "/"),
            format!("{} .{}.{}", parts[0], parts[1], parts[2]),
        ] {
            if bad == token {
                continue;
            }
            assert_eq!(check(&bad).unwrap_err(), TokenError::Encoding, "{bad}");
        }
        assert_eq!(
            check(&format!("{token}.x.y")).unwrap_err(),
            TokenError::Structure
        );
        let not_json = b64_encode(b"{\"iss\":");
        assert_eq!(
            check(&format!("{}.{not_json}.{}", parts[0], parts[2])).unwrap_err(),
            TokenError::Payload
        );
        let duplicate = b64_encode(br#"{"sub":"a","sub":"b"}"#);
        assert_eq!(
            check(&format!("{}.{duplicate}.{}", parts[0], parts[2])).unwrap_err(),
            TokenError::Payload
        );
    }

    #[test]
    fn oversized_tokens_are_refused_before_parsing() {
        let big = with(claims(), json!({"pad": "x".repeat(MAX_TOKEN_BYTES)}));
        assert_eq!(
            check(&sign(header(), big)).unwrap_err(),
            TokenError::TooLarge
        );
        assert_eq!(
            parse(&"a".repeat(MAX_TOKEN_BYTES + 1), rules(), NOW).unwrap_err(),
            TokenError::TooLarge
        );
    }
}
