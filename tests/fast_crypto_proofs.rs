//! The fast crypto paths on inputs built to reach what random inputs do not, natively and on wasm32 in
//! Node (where the RSA arithmetic takes its SIMD path); the case builders are in tests/common:
//!
//! - P-256 (`p256_cases`): valid signatures whose u1 G + u2 Q meets an equal point, an opposite point
//!   (the point at infinity mid-chain, then doubled), or ends on x(R) >= n. Both the `p256` crate and the
//!   fast path accept each, and the fast path's branch counters (feature `branch-counters`, on in test
//!   builds only) show the branch taken; once with the key as it comes, once prepared (combs of G and Q,
//!   with cases of their own for their chain).
//! - RSA (`rsa_cases`): encoded blocks, well formed or malformed in one named way, signed with the private
//!   key of the 2048-bit fixture and of the odd-sized and limb-boundary fixture keys, under every JWA RSA
//!   algorithm: the fast path and the `rsa` crate give the expected answer on each.
//! - SHA-256 (`crypto::sha256`, under RS256, PS256, ES256, the DPoP hashes and the nonces' HMAC): the same
//!   digests as `sha2` on every length across several blocks, fed whole and in parts, and the same HMAC.
//!
//! ```sh
//! cargo test --test fast_crypto_proofs -- --nocapture
//! . target/tools.env; CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=$WASM_BINDGEN_TEST_RUNNER \
//!   cargo test --release --target wasm32-unknown-unknown --test fast_crypto_proofs -- --nocapture
//! ```

mod common;

use auth0_edge_gateway::crypto::p256::branches::{self, Branches};
use auth0_edge_gateway::crypto::p256::P256Verifier;
use auth0_edge_gateway::crypto::rsa::RsaVerifier;
use auth0_edge_gateway::crypto::sha256::Sha256;
use auth0_edge_gateway::jose::jwa::Algorithm;
use common::p256_cases::{branch_cases, check_branch_cases};
use common::rsa_2048;
use common::rsa_cases::{check_rsa_cases, odd_key};
use common::tally::say;
use hmac::{Hmac, Mac};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use sha2::Digest;

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn p256_valid_signatures_reach_every_special_branch() {
    let cases = special_branches(false);
    say!("fast_p256 special branches: {cases} valid signatures, each reaching its branch");
}

/// The same with the key prepared (a DPoP key from its second proof on): another chain, over the combs of
/// G and Q, whose additions meet the exceptional cases too.
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn p256_prepared_keys_reach_every_special_branch() {
    let cases = special_branches(true);
    say!("fast_p256 special branches, prepared keys: {cases} valid signatures, each reaching its branch");
}

/// The cases for a key as it comes or `prepared`, through the fast path with its branch counters.
fn special_branches(prepared: bool) -> usize {
    check_branch_cases(
        branch_cases(prepared),
        |case, message, signature| {
            let key = P256Verifier::from_affine(&case.x, &case.y).expect("a valid key");
            if prepared {
                let key = key.prepare();
                branches::count(|| key.verify_sha256(message, signature))
            } else {
                branches::count(|| key.verify_sha256(message, signature))
            }
        },
        Branches::get,
    )
}

/// The structured blocks under `key`, every JWA RSA algorithm.
fn structured_blocks(key: &RsaPrivateKey, label: &str) {
    let fast = RsaVerifier::new(&key.n().to_bytes_be()).expect("a usable key");
    let fast = fast.arithmetics();
    let (cases, accepted) = check_rsa_cases(key, label, |alg, message, signature| {
        let alg = Algorithm::from_name(alg).expect("a JWA algorithm");
        let answers: Vec<bool> = fast
            .iter()
            .map(|key| alg.verify(key, message, signature))
            .collect();
        assert!(
            answers.iter().all(|&a| a == answers[0]),
            "{label}: {alg:?}: the arithmetics disagree"
        );
        answers[0]
    });
    say!("fast_rsa {label}: {cases} structured blocks, {accepted} well formed, agreed with the rsa crate");
}

/// The odd-sized fixture keys of `sizes`. On wasm32 with debug assertions on (the dev profile, where
/// this takes minutes, and release-checked) only the 2049 and 2073-bit keys (emLen = k - 1; one bit in
/// the top 28-bit limb, none in the top 52-bit one) and the 2128-bit key (the fullest top 52-bit limb);
/// the release run takes them all.
fn odd_keys(sizes: &[usize]) {
    for &bits in sizes {
        if cfg!(all(target_arch = "wasm32", debug_assertions))
            && ![2049, 2073, 2128].contains(&bits)
        {
            continue;
        }
        structured_blocks(&odd_key(bits), &format!("{bits}-bit fixture key"));
    }
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn rsa_structured_blocks_2048_bit_fixture() {
    structured_blocks(&rsa_2048().private, "2048-bit fixture key a");
}

/// 2049 and 2057 bits: modBits = 1 mod 8, so for PSS emLen = k - 1.
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn rsa_structured_blocks_2049_2057() {
    odd_keys(&[2049, 2057]);
}

/// 2072 = 28 * 74 and 2073 bits: the top 28-bit limb empty, or holding one bit.
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn rsa_structured_blocks_limb_boundary_2072_2073() {
    odd_keys(&[2072, 2073]);
}

/// 2095 bits; 2096, where R = 2^(28 L) = 2^2100 is the closest to 4 n it gets.
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn rsa_structured_blocks_2095_2096() {
    odd_keys(&[2095, 2096]);
}

/// 3552 bits (L = 127, the largest key whose Montgomery columns are summed in 64 bits) and 3560 (L = 128,
/// the smallest summed in 128).
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn rsa_structured_blocks_column_sum_boundary_3552_3560() {
    odd_keys(&[3552, 3560]);
}

/// 2128 bits: on the fused multiply-add arithmetic's 52-bit limbs, 48 bits in the top limb (the most any
/// key size puts there) and R = 2^2132 = 16 n. Its 2073 and 4056-bit keys leave that top limb empty.
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn rsa_structured_blocks_fma_top_limb_2128() {
    odd_keys(&[2128]);
}

/// 4056 bits (R = 2^4060) and 4095 bits.
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn rsa_structured_blocks_4056_4095() {
    odd_keys(&[4056, 4095]);
}

/// Every length from 0 to 300 bytes (the padding's boundaries at 55, 56, 63 and 64 bytes, and their
/// multiples, over five blocks), fed whole and in two parts split every seventh byte, then lengths up to
/// past the 16 KiB token limit, against `sha2`.
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn sha256_gives_sha2s_digests() {
    let data: Vec<u8> = (0..300u32).map(|i| (i * 131 + 7) as u8).collect();
    let mut compared = 0;
    for len in 0..=data.len() {
        let message = &data[..len];
        let expected = sha2::Sha256::digest(message);
        assert_eq!(Sha256::digest(message), expected, "length {len}");
        for split in (0..=len).step_by(7) {
            let mut hasher = Sha256::new();
            hasher.update(&message[..split]);
            hasher.update(&message[split..]);
            assert_eq!(hasher.finalize(), expected, "length {len} split at {split}");
            compared += 1;
        }
    }
    // Messages as long as the longest token the gateway reads (16 KiB), split off the block boundaries.
    let long: Vec<u8> = (0..16_500u32).map(|i| ((i * 7919) >> 3) as u8).collect();
    for len in [1000, 4095, 4096, 4097, 16_383, 16_384, 16_385, 16_500] {
        let message = &long[..len];
        let expected = sha2::Sha256::digest(message);
        for split in [0, 1, 63, 65, 1000, len / 3, len - 1, len] {
            let mut hasher = Sha256::new();
            hasher.update(&message[..split]);
            hasher.update(&message[split..]);
            assert_eq!(hasher.finalize(), expected, "length {len} split at {split}");
            compared += 1;
        }
    }
    // HMAC (the DPoP nonces' MAC) over it, with a key longer than a block, which is hashed first.
    for key_len in [0, 20, 64, 65, 131] {
        let key = &data[..key_len];
        let ours = Hmac::<Sha256>::new_from_slice(key)
            .unwrap()
            .chain_update(&data)
            .finalize();
        let theirs = Hmac::<sha2::Sha256>::new_from_slice(key)
            .unwrap()
            .chain_update(&data)
            .finalize();
        assert_eq!(
            ours.into_bytes(),
            theirs.into_bytes(),
            "key length {key_len}"
        );
    }
    say!("sha256: {compared} messages and 5 HMAC keys, the same as sha2");
}
