//! Structured RSA signature cases for the native and wasm32 tests: encoded blocks built here, well formed
//! or malformed in one named way, and signed for real with the private key (m^d mod n), so that the
//! verifiers under test see exactly that block after RSAVP1, as a forger's would be. Random bit flips in
//! a signature give random blocks that any parser rejects; these are the near misses a lax parser lets
//! through: PKCS#1 v1.5 (RFC 8017 section 9.2) with garbage after the hash, another DigestInfo, block
//! types 00 and 02, short padding; PSS (section 9.1) with another trailer, the leftmost bits set, another
//! salt length, no 0x01 separator, a wrong H.
//!
//! Every case names the JWA algorithm (RFC 7518 sections 3.3 and 3.5) it is presented under and the
//! answer both verifiers must give. The `rsa` crate 0.9 accepts one kind of invalid PSS signature
//! (for modBits = 1 mod 8, a nonzero octet in front of the emLen-octet block, which section 8.1.2 step
//! 2c refuses): those cases are marked, and only the verifier under test is held to the rejection.

use rsa::pkcs8::DecodePrivateKey;
use rsa::rand_core::CryptoRngCore;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Pkcs1v15Sign, Pss, RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256, Sha384, Sha512};

use super::rs256::i2osp;

/// The JWA RSA algorithms.
pub const ALGS: [&str; 6] = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"];

/// hLen of a JWA RSA algorithm, from its name.
pub fn hash_len(alg: &str) -> usize {
    match &alg[2..] {
        "256" => 32,
        "384" => 48,
        _ => 64,
    }
}

/// The hash of the concatenation of `parts` with the hash of that length (SHA-256, -384 or -512).
pub fn digest(h_len: usize, parts: &[&[u8]]) -> Vec<u8> {
    fn run<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
        let mut d = D::new();
        for part in parts {
            d.update(part);
        }
        d.finalize().to_vec()
    }
    match h_len {
        32 => run::<Sha256>(parts),
        48 => run::<Sha384>(parts),
        _ => run::<Sha512>(parts),
    }
}

pub fn pkcs1_scheme(h_len: usize) -> Pkcs1v15Sign {
    match h_len {
        32 => Pkcs1v15Sign::new::<Sha256>(),
        48 => Pkcs1v15Sign::new::<Sha384>(),
        _ => Pkcs1v15Sign::new::<Sha512>(),
    }
}

pub fn pss_scheme(h_len: usize, salt_len: usize) -> Pss {
    match h_len {
        32 => Pss::new_with_salt::<Sha256>(salt_len),
        48 => Pss::new_with_salt::<Sha384>(salt_len),
        _ => Pss::new_with_salt::<Sha512>(salt_len),
    }
}

/// The `rsa` crate's verification of `signature` over `message` under a JWA RSA algorithm (PSS with the
/// salt as long as the hash, RFC 7518 section 3.5).
pub fn stock_verify(key: &RsaPublicKey, alg: &str, message: &[u8], signature: &[u8]) -> bool {
    let h_len = hash_len(alg);
    let hashed = digest(h_len, &[message]);
    if alg.starts_with("PS") {
        key.verify(pss_scheme(h_len, h_len), &hashed, signature)
    } else {
        key.verify(pkcs1_scheme(h_len), &hashed, signature)
    }
    .is_ok()
}

/// MGF1 (RFC 8017 section B.2.1), written independently of the code under test.
pub fn mgf1(h_len: usize, seed: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut counter = 0u32;
    while out.len() < len {
        out.extend(digest(h_len, &[seed, &counter.to_be_bytes()]));
        counter += 1;
    }
    out.truncate(len);
    out
}

/// EMSA-PSS-ENCODE (RFC 8017 section 9.1.1) with the given salt, of any length.
pub fn pss_encode(h_len: usize, message: &[u8], salt: &[u8], em_bits: usize) -> Vec<u8> {
    let em_len = em_bits.div_ceil(8);
    let mut db = vec![0u8; em_len - salt.len() - h_len - 2];
    db.push(0x01);
    db.extend_from_slice(salt);
    let h = pss_h(h_len, message, salt);
    pss_mask(h_len, db, &h, em_bits)
}

/// H = Hash(0x00 x 8 || mHash || salt) (RFC 8017 section 9.1.1 steps 5 and 6).
fn pss_h(h_len: usize, message: &[u8], salt: &[u8]) -> Vec<u8> {
    digest(h_len, &[&[0u8; 8], &digest(h_len, &[message]), salt])
}

/// maskedDB || H || 0xbc from DB and H (section 9.1.1 steps 9 to 12).
fn pss_mask(h_len: usize, mut db: Vec<u8>, h: &[u8], em_bits: usize) -> Vec<u8> {
    let em_len = em_bits.div_ceil(8);
    let mask = mgf1(h_len, h, db.len());
    for (d, m) in db.iter_mut().zip(mask) {
        *d ^= m;
    }
    db[0] &= 0xff >> (8 * em_len - em_bits);
    db.extend_from_slice(h);
    db.push(0xbc);
    db
}

/// The signature whose RSAVP1 output is `encoded` (big-endian, any length up to k): m^d mod n (RSASP1,
/// RFC 8017 section 5.2.1, through the `rsa` crate's CRT code), or `None` when m >= n.
pub fn raw_sign(key: &RsaPrivateKey, encoded: &[u8]) -> Option<Vec<u8>> {
    let m = BigUint::from_bytes_be(encoded);
    if &m >= key.n() {
        return None;
    }
    let s = rsa::hazmat::rsa_decrypt::<dyn CryptoRngCore>(None, key, &m).expect("m < n");
    i2osp(&s, key.size())
}

/// Deterministic filler octets (salts, padding), never zero: SHA-256 in counter mode over a label.
fn filler(label: &str, len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut counter = 0u32;
    while out.len() < len {
        out.extend(digest(32, &[label.as_bytes(), &counter.to_be_bytes()]));
        counter += 1;
    }
    out.truncate(len);
    for byte in &mut out {
        *byte |= 0x10;
    }
    out
}

/// The DER DigestInfo prefix of a hash (RFC 8017 section 9.2 note 1), from its length.
fn digest_info(h_len: usize) -> Vec<u8> {
    let oid_last = match h_len {
        32 => 0x01,
        48 => 0x02,
        _ => 0x03,
    };
    let mut info = vec![0x30, 0x11 + h_len as u8, 0x30, 0x0d, 0x06, 0x09];
    info.extend([0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, oid_last]);
    info.extend([0x05, 0x00, 0x04, h_len as u8]);
    info
}

/// 0x00 || `block_type` || PS || 0x00 || T, k octets: PS as long as it must be, of `pad` octets.
fn pkcs1_block(k: usize, block_type: u8, pad: u8, t: &[u8]) -> Vec<u8> {
    let mut em = vec![0x00, block_type];
    em.resize(k - t.len() - 1, pad);
    em.push(0x00);
    em.extend_from_slice(t);
    em
}

/// One encoded block, signed, under one algorithm.
pub struct RsaCase {
    pub what: String,
    pub alg: &'static str,
    pub message: Vec<u8>,
    pub signature: Vec<u8>,
    pub expected: bool,
    /// An invalid signature the `rsa` crate 0.9 accepts (see the module documentation).
    pub stock_lax: bool,
}

/// The PKCS#1 v1.5 blocks for `alg` (RS256, RS384, RS512) under `key`.
fn pkcs1_cases(key: &RsaPrivateKey, alg: &'static str, cases: &mut Vec<RsaCase>) {
    let (k, h_len) = (key.size(), hash_len(alg));
    let message = format!("{alg} structured blocks, {}-bit key", key.n().bits()).into_bytes();
    let h = digest(h_len, &[&message]);
    let info = digest_info(h_len);
    let t = [&info[..], &h].concat();
    let mut blocks: Vec<(&str, Vec<u8>, bool)> =
        vec![("well formed", pkcs1_block(k, 1, 0xff, &t), true)];
    let mut add = |what, em: Vec<u8>| blocks.push((what, em, false));
    add("block type 00", pkcs1_block(k, 0, 0xff, &t));
    add("block type 00, zero padding", pkcs1_block(k, 0, 0x00, &t));
    let mut type2 = pkcs1_block(k, 2, 0xff, &t);
    let random_pad = filler("block type 02", k - t.len() - 3);
    type2[2..k - t.len() - 1].copy_from_slice(&random_pad);
    add("block type 02 (encryption padding)", type2);
    let mut zero_in_ps = pkcs1_block(k, 1, 0xff, &t);
    zero_in_ps[10] = 0x00;
    add("a zero octet in PS", zero_in_ps);
    let mut fe_in_ps = pkcs1_block(k, 1, 0xff, &t);
    fe_in_ps[k / 2] = 0xfe;
    add("an FE octet in PS", fe_in_ps);
    let mut no_separator = pkcs1_block(k, 1, 0xff, &t);
    no_separator[k - t.len() - 1] = 0xff;
    add("no 00 separator", no_separator);
    // PS of 8 octets, the minimum, then T, then garbage to fill k octets.
    let mut garbage = vec![0x00, 0x01];
    garbage.extend([0xff; 8]);
    garbage.push(0x00);
    garbage.extend_from_slice(&t);
    let short = garbage.clone();
    garbage.extend(filler("garbage", k - short.len()));
    add("short padding, garbage after the hash", garbage);
    let mut zeros_after = short.clone();
    zeros_after.resize(k, 0x00);
    add("short padding, zeros after the hash", zeros_after);
    // The block shifted right: leading zero octets, PS of 7 octets (below the minimum of 8) and of none.
    let mut seven = vec![0x00; k - t.len() - 10];
    seven.push(0x01);
    seven.extend([0xff; 7]);
    seven.push(0x00);
    seven.extend_from_slice(&t);
    add("PS of 7 octets, leading zeros", seven);
    let mut none = vec![0x00; k - t.len() - 2];
    none.push(0x01);
    none.push(0x00);
    none.extend_from_slice(&t);
    add("no PS, leading zeros", none);
    // DigestInfo variants.
    let mut no_null = info.clone();
    no_null[1] -= 2;
    no_null[3] -= 2;
    no_null.drain(15..17);
    add(
        "DigestInfo without the NULL parameters",
        pkcs1_block(k, 1, 0xff, &[&no_null[..], &h].concat()),
    );
    let mut other_oid = info.clone();
    other_oid[14] = if h_len == 32 { 0x03 } else { 0x01 };
    add(
        "DigestInfo with another hash's OID",
        pkcs1_block(k, 1, 0xff, &[&other_oid[..], &h].concat()),
    );
    let mut sha1_oid = vec![0x30, 0x0d + h_len as u8, 0x30, 0x09, 0x06, 0x05];
    sha1_oid.extend([0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, h_len as u8]);
    add(
        "DigestInfo with SHA-1's OID",
        pkcs1_block(k, 1, 0xff, &[&sha1_oid[..], &h].concat()),
    );
    let mut long_form = vec![0x30, 0x81];
    long_form.extend_from_slice(&info[1..]);
    add(
        "DigestInfo length in long form (BER, not DER)",
        pkcs1_block(k, 1, 0xff, &[&long_form[..], &h].concat()),
    );
    add("no DigestInfo, the bare hash", pkcs1_block(k, 1, 0xff, &h));
    add(
        "the hash of another message",
        pkcs1_block(
            k,
            1,
            0xff,
            &[&info[..], &digest(h_len, &[b"another"])].concat(),
        ),
    );
    add(
        "the hash truncated by one octet",
        pkcs1_block(k, 1, 0xff, &[&info[..], &h[..h_len - 1]].concat()),
    );
    let other_len = if h_len == 32 { 64 } else { 32 };
    add(
        "another hash under its own DigestInfo",
        pkcs1_block(
            k,
            1,
            0xff,
            &[&digest_info(other_len)[..], &digest(other_len, &[&message])].concat(),
        ),
    );
    let mut top = pkcs1_block(k, 1, 0xff, &t);
    top[0] = 0x01;
    add("first octet 01 (where below n)", top);
    for (what, em, expected) in blocks {
        if let Some(signature) = raw_sign(key, &em) {
            cases.push(RsaCase {
                what: what.to_string(),
                alg,
                message: message.clone(),
                signature,
                expected,
                stock_lax: false,
            });
        }
    }
}

/// The PSS blocks for `alg` (PS256, PS384, PS512) under `key`.
fn pss_cases(key: &RsaPrivateKey, alg: &'static str, cases: &mut Vec<RsaCase>) {
    let h_len = hash_len(alg);
    let mod_bits = key.n().bits();
    let em_bits = mod_bits - 1;
    let em_len = em_bits.div_ceil(8);
    let message = format!("{alg} structured blocks, {mod_bits}-bit key").into_bytes();
    let salt = filler(&format!("{alg} salt"), h_len);
    let well_formed = pss_encode(h_len, &message, &salt, em_bits);
    let mut blocks: Vec<(String, Vec<u8>, bool, bool)> =
        vec![("well formed".into(), well_formed.clone(), true, false)];
    let mut add = |what: &str, em: Vec<u8>| blocks.push((what.into(), em, false, false));
    for trailer in [0xbd, 0x00, 0xbc ^ 0x80, 0xcc] {
        let mut bad = well_formed.clone();
        *bad.last_mut().expect("not empty") = trailer;
        add(&format!("trailer {trailer:#04x}"), bad);
    }
    for salt_len in [0, 20, h_len - 1, h_len + 1, 2 * h_len] {
        let salt = filler(&format!("{alg} salt {salt_len}"), salt_len);
        add(
            &format!("salt of {salt_len} octets"),
            pss_encode(h_len, &message, &salt, em_bits),
        );
    }
    // DB = PS || separator || salt, with the separator or PS spoiled; H over the real salt.
    let db_len = em_len - h_len - 1;
    let h = pss_h(h_len, &message, &salt);
    let db = |separator: u8, ps_octet: Option<(usize, u8)>| {
        let mut db = vec![0u8; db_len - h_len - 1];
        if let Some((at, value)) = ps_octet {
            db[at] = value;
        }
        db.push(separator);
        db.extend_from_slice(&salt);
        db
    };
    add(
        "DB separator 0x00 (missing)",
        pss_mask(h_len, db(0x00, None), &h, em_bits),
    );
    add(
        "DB separator 0x02",
        pss_mask(h_len, db(0x02, None), &h, em_bits),
    );
    add(
        "a nonzero octet in PS",
        pss_mask(h_len, db(0x01, Some((db_len / 2, 0x01))), &h, em_bits),
    );
    add(
        "H over another salt",
        pss_mask(
            h_len,
            db(0x01, None),
            &pss_h(h_len, &message, &[0; 4]),
            em_bits,
        ),
    );
    add(
        "H over the message hash without the eight zero octets",
        pss_mask(
            h_len,
            db(0x01, None),
            &digest(h_len, &[&digest(h_len, &[&message]), &salt]),
            em_bits,
        ),
    );
    let mut unmasked = db(0x01, None);
    unmasked.extend_from_slice(&h);
    unmasked.push(0xbc);
    add("DB not masked", unmasked);
    // The leftmost bit that must be zero (bit modBits - 1 of m) set on an otherwise valid block: in
    // EM's first octet, or for modBits = 1 mod 8 an octet 0x01 in front of EM (emLen = k - 1). m < n
    // only for some salts.
    let found = (0..200).find_map(|attempt| {
        let salt = filler(&format!("{alg} top bit {attempt}"), h_len);
        let mut em = pss_encode(h_len, &message, &salt, em_bits);
        if em_bits.is_multiple_of(8) {
            em.insert(0, 0x01);
        } else {
            em[0] |= 1 << (em_bits % 8);
        }
        (BigUint::from_bytes_be(&em) < *key.n()).then_some(em)
    });
    let em = found.expect("a salt with m < n");
    blocks.push((
        "bit modBits - 1 set".into(),
        em,
        false,
        em_bits.is_multiple_of(8),
    ));
    for (what, em, expected, stock_lax) in blocks {
        let signature = raw_sign(key, &em).expect("EM < 2^(modBits - 1) <= n, or checked above");
        cases.push(RsaCase {
            what,
            alg,
            message: message.clone(),
            signature,
            expected,
            stock_lax,
        });
    }
}

/// Every case under `key`, for every JWA RSA algorithm.
pub fn rsa_cases(key: &RsaPrivateKey) -> Vec<RsaCase> {
    let mut cases = Vec::new();
    for alg in ALGS {
        if alg.starts_with("PS") {
            pss_cases(key, alg, &mut cases);
        } else {
            pkcs1_cases(key, alg, &mut cases);
        }
    }
    cases
}

/// The cases under `key` through `fast` (alg, message, signature -> accepted) and the `rsa` crate:
/// both must give the expected answer (the `rsa` crate's known laxity aside). Returns (cases, accepted).
pub fn check_rsa_cases(
    key: &RsaPrivateKey,
    label: &str,
    fast: impl Fn(&str, &[u8], &[u8]) -> bool,
) -> (usize, usize) {
    let public = key.to_public_key();
    let cases = rsa_cases(key);
    let mut accepted = 0;
    for case in &cases {
        let what = format!("{label}, {}: {}", case.alg, case.what);
        let fast = fast(case.alg, &case.message, &case.signature);
        assert_eq!(fast, case.expected, "{what}: the fast path");
        let stock = stock_verify(&public, case.alg, &case.message, &case.signature);
        if !case.stock_lax {
            assert_eq!(stock, case.expected, "{what}: the rsa crate");
        }
        accepted += usize::from(fast);
    }
    (cases.len(), accepted)
}

/// An odd-sized fixture key (tests/fixtures/rsa-BITS.pem, generated by the `rsa` crate), by modulus
/// size in bits: 2049 and 2057 (1 mod 8: for PSS, emLen = k - 1); 2095 and 4095; 2072 = 28 * 74 and
/// 2073, where the fast path's top 28-bit limb is empty or holds one bit; 2096 and 4056, where its
/// R = 2^(28 L) is the closest to 4 n it gets (28 L = 8 k + 4).
pub fn odd_key(bits: usize) -> RsaPrivateKey {
    let pem = match bits {
        2049 => include_str!("../fixtures/rsa-2049.pem"),
        2057 => include_str!("../fixtures/rsa-2057.pem"),
        2072 => include_str!("../fixtures/rsa-2072.pem"),
        2073 => include_str!("../fixtures/rsa-2073.pem"),
        2095 => include_str!("../fixtures/rsa-2095.pem"),
        2096 => include_str!("../fixtures/rsa-2096.pem"),
        3552 => include_str!("../fixtures/rsa-3552.pem"),
        3560 => include_str!("../fixtures/rsa-3560.pem"),
        4056 => include_str!("../fixtures/rsa-4056.pem"),
        4095 => include_str!("../fixtures/rsa-4095.pem"),
        2128 => include_str!("../fixtures/rsa-2128.pem"),
        _ => panic!("no {bits}-bit fixture key"),
    };
    let key = RsaPrivateKey::from_pkcs8_pem(pem).expect("the fixture key parses");
    assert_eq!(key.n().bits(), bits);
    key
}
