//! `fast_p256` compiled to wasm32 and run in Node (wasm-bindgen-test-runner): agreement with `p256` on a
//! few fixed keys, and the cost of one verification on both paths. For the numbers that matter, run in
//! release mode:
//!
//! ```sh
//! . target/tools.env && CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER="$WASM_BINDGEN_TEST_RUNNER" \
//!   cargo test --release --target wasm32-unknown-unknown --test fast_p256_wasm -- --nocapture
//! ```
#![cfg(target_arch = "wasm32")]

mod common;

use auth0_edge_gateway::crypto::p256::P256Verifier;
use common::es256::{es256_sign as sign, p256_crate_verify as reference_verify, P256_N as N};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, SigningKey};
use sha2::{Digest, Sha256};
use wasm_bindgen_test::{console_log, wasm_bindgen_test};

/// A fixed key: the private scalar is SHA-256 of a label (below n for these labels).
fn signing_key(label: &str) -> SigningKey {
    let d: [u8; 32] = Sha256::digest(label.as_bytes()).into();
    SigningKey::from_bytes(&d.into()).expect("SHA-256 of the label is a valid scalar")
}

fn fast_key(key: &SigningKey) -> P256Verifier {
    let point = key.verifying_key().to_encoded_point(false);
    P256Verifier::from_affine(point.x().unwrap().as_ref(), point.y().unwrap().as_ref())
        .expect("a valid point")
}

/// n - s, big-endian.
fn negate_s(sig: &[u8; 64]) -> [u8; 64] {
    let mut out = *sig;
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = i16::from(N[i]) - i16::from(sig[32 + i]) - borrow;
        out[32 + i] = d.rem_euclid(256) as u8;
        borrow = i16::from(d < 0);
    }
    out
}

#[wasm_bindgen_test]
fn agrees_with_p256_on_fixed_keys() {
    let mut cases = 0;
    for label in ["key a", "key b", "key c", "key d"] {
        let signing = signing_key(label);
        let (reference, fast) = (*signing.verifying_key(), fast_key(&signing));
        let prepared = fast.prepare();
        for i in 0..4u8 {
            let message = format!("{label}: message {i}").into_bytes();
            let sig = sign(&signing, &message);
            let mut variants = vec![(sig, true), (negate_s(&sig), true)];
            for bit in [0usize, 100, 255, 256, 300, 511] {
                let mut flipped = sig;
                flipped[bit / 8] ^= 1 << (bit % 8);
                variants.push((flipped, false));
            }
            let mut swapped = [0u8; 64];
            swapped[..32].copy_from_slice(&sig[32..]);
            swapped[32..].copy_from_slice(&sig[..32]);
            variants.push((swapped, false));
            for (variant, expected) in variants {
                let fast_result = fast.verify_sha256(&message, &variant);
                assert_eq!(
                    fast_result,
                    reference_verify(&reference, &message, &variant)
                );
                assert_eq!(fast_result, expected);
                assert_eq!(prepared.verify_sha256(&message, &variant), expected);
                cases += 1;
            }
            assert!(!fast.verify_sha256(b"another message", &sig));
            assert!(!prepared.verify_sha256(b"another message", &sig));
        }
    }
    console_log!("fast_p256 on wasm32: {cases} cases agreed with p256, the key plain and prepared");
}

/// Node's process CPU time in microseconds (`process.cpuUsage()`), less disturbed than the wall clock
/// by other work on the machine; `None` outside Node.
fn cpu_micros() -> Option<f64> {
    use js_sys::{Function, Reflect};
    use wasm_bindgen::JsCast;
    let process = Reflect::get(&js_sys::global(), &"process".into()).ok()?;
    let cpu_usage: Function = Reflect::get(&process, &"cpuUsage".into())
        .ok()?
        .dyn_into()
        .ok()?;
    let usage = cpu_usage.call0(&process).ok()?;
    let field = |name: &str| Reflect::get(&usage, &name.into()).ok()?.as_f64();
    Some(field("user")? + field("system")?)
}

/// Microseconds per run of `f`, by the wall clock (`Date.now()`) and by process CPU time.
fn time_per_run(runs: u32, mut f: impl FnMut()) -> (f64, Option<f64>) {
    let (wall, cpu) = (js_sys::Date::now(), cpu_micros());
    for _ in 0..runs {
        f();
    }
    let wall_us = (js_sys::Date::now() - wall) * 1000.0 / f64::from(runs);
    let cpu_us = cpu
        .zip(cpu_micros())
        .map(|(a, b)| (b - a) / f64::from(runs));
    (wall_us, cpu_us)
}

#[wasm_bindgen_test]
fn timing_fast_path_vs_p256() {
    use std::hint::black_box;
    let signing = signing_key("timing key");
    let (reference, fast) = (*signing.verifying_key(), fast_key(&signing));
    let message = b"eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2In0.eyJodG0iOiJHRVQiLCJodHUiOiJodHRwczovL2FwaS5leGFtcGxlLmNvbS8ifQ";
    let sig = sign(&signing, message);
    let typed = Signature::from_slice(&sig).unwrap();
    let point = signing.verifying_key().to_encoded_point(false);
    let (x, y) = (point.x().unwrap(), point.y().unwrap());

    // The first calls run V8's baseline code (Liftoff), before the optimising tier takes over: the cost
    // of the first request in a fresh isolate.
    let (first_us, first_cpu) = time_per_run(1, || assert!(fast.verify_sha256(message, &sig)));
    let (second_us, second_cpu) = time_per_run(1, || assert!(fast.verify_sha256(message, &sig)));
    // Warm-up, so that V8 has optimised both paths before they are timed.
    for _ in 0..20 {
        assert!(black_box(&fast).verify_sha256(black_box(message), &sig));
    }
    for _ in 0..3 {
        assert!(black_box(&reference).verify(message, &typed).is_ok());
    }

    // Rounds of FAST_RUNS and P256_RUNS verifications, interleaved; the best round is the least disturbed
    // by other work on the machine, the median is printed too.
    const FAST_RUNS: u32 = 200;
    const P256_RUNS: u32 = 20;
    const ROUNDS: usize = 11;
    let (mut fast_wall, mut fast_cpu, mut p256_wall, mut p256_cpu) =
        (vec![], vec![], vec![], vec![]);
    for _ in 0..ROUNDS {
        let (wall, cpu) = time_per_run(FAST_RUNS, || {
            assert!(black_box(&fast).verify_sha256(black_box(message), black_box(&sig)));
        });
        fast_wall.push(wall);
        fast_cpu.extend(cpu);
        let (wall, cpu) = time_per_run(P256_RUNS, || {
            assert!(black_box(&reference)
                .verify(black_box(message), black_box(&typed))
                .is_ok());
        });
        p256_wall.push(wall);
        p256_cpu.extend(cpu);
    }
    let (key_wall, _) = time_per_run(2000, || {
        assert!(P256Verifier::from_affine(black_box(x.as_ref()), black_box(y.as_ref())).is_some());
    });

    let build = if cfg!(debug_assertions) {
        "debug build: not representative"
    } else {
        "release"
    };
    let best = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    console_log!(
        "P-256 ECDSA verify in V8 (wasm32, {build}), {ROUNDS} rounds of {FAST_RUNS} fast_p256 and \
         {P256_RUNS} p256 verifications, microseconds per verification:"
    );
    console_log!(
        "  wall clock (Date.now), best round: fast_p256 {:.1} us, p256 {:.1} us, {:.1}x faster \
         (median round: {:.1} us vs {:.1} us)",
        best(&fast_wall),
        best(&p256_wall),
        best(&p256_wall) / best(&fast_wall),
        median(&fast_wall),
        median(&p256_wall)
    );
    let ratios: Vec<f64> = p256_wall
        .iter()
        .zip(&fast_wall)
        .map(|(p, f)| p / f)
        .collect();
    console_log!(
        "  per-round ratio p256 / fast_p256 (wall clock): median {:.1}x",
        median(&ratios)
    );
    if fast_cpu.len() == ROUNDS && p256_cpu.len() == ROUNDS {
        let ratios: Vec<f64> = p256_cpu.iter().zip(&fast_cpu).map(|(p, f)| p / f).collect();
        console_log!(
            "  per-round ratio p256 / fast_p256 (CPU time): median {:.1}x",
            median(&ratios)
        );
        console_log!(
            "  process CPU time (process.cpuUsage), best round: fast_p256 {:.1} us, p256 {:.1} us, \
             {:.1}x faster (median round: {:.1} us vs {:.1} us)",
            best(&fast_cpu),
            best(&p256_cpu),
            best(&p256_cpu) / best(&fast_cpu),
            median(&fast_cpu),
            median(&p256_cpu)
        );
    }
    console_log!(
        "  first fast_p256 call {first_us:.0} us, second call {second_us:.0} us (baseline code, \
         Date.now has 1 ms steps; process CPU time {:.0} us and {:.0} us); \
         P256Verifier::from_affine: {key_wall:.1} us",
        first_cpu.unwrap_or(f64::NAN),
        second_cpu.unwrap_or(f64::NAN)
    );
}
