//! `fast_rsa::RsaVerifier` on wasm32, run in Node by wasm-bindgen-test-runner: the cross-check against
//! the `rsa` crate on a fixture key, and the timing of both in V8. For meaningful numbers:
//!
//! ```sh
//! . target/tools.env && CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER="$WASM_BINDGEN_TEST_RUNNER" \
//!   cargo test --release --target wasm32-unknown-unknown --test fast_rsa_wasm -- --nocapture
//! ```
#![cfg(target_arch = "wasm32")]

mod common;

use std::hint::black_box;

use auth0_edge_gateway::crypto::rsa::RsaVerifier;
use common::rs256::{i2osp, rsa_crate_verify as stock_verify};
use common::rsa_2048;
use rsa::traits::PublicKeyParts;
use rsa::BigUint;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::{console_log, wasm_bindgen_test};

/// `performance.now()` in milliseconds, sub-millisecond resolution in Node.
fn now_ms() -> f64 {
    let global = js_sys::global();
    let performance = js_sys::Reflect::get(&global, &"performance".into()).unwrap();
    let now: js_sys::Function = js_sys::Reflect::get(&performance, &"now".into())
        .unwrap()
        .dyn_into()
        .unwrap();
    now.call0(&performance).unwrap().as_f64().unwrap()
}

/// This process' CPU time in milliseconds from Node's `process.cpuUsage()`, when there is one: on a
/// machine shared with other jobs it is steadier than the wall clock.
fn cpu_ms() -> Option<f64> {
    let process = js_sys::Reflect::get(&js_sys::global(), &"process".into()).ok()?;
    let cpu_usage: js_sys::Function = js_sys::Reflect::get(&process, &"cpuUsage".into())
        .ok()?
        .dyn_into()
        .ok()?;
    let usage = cpu_usage.call0(&process).ok()?;
    let field = |name: &str| js_sys::Reflect::get(&usage, &name.into()).ok()?.as_f64();
    Some((field("user")? + field("system")?) / 1000.0)
}

/// Microseconds per run of `f`, by the wall clock and (in Node) by CPU time.
fn time_us(runs: u32, mut f: impl FnMut()) -> (f64, Option<f64>) {
    let (wall, cpu) = (now_ms(), cpu_ms());
    for _ in 0..runs {
        f();
    }
    let wall_us = (now_ms() - wall) * 1000.0 / f64::from(runs);
    let cpu_us = cpu
        .zip(cpu_ms())
        .map(|(a, b)| (b - a) * 1000.0 / f64::from(runs));
    (wall_us, cpu_us)
}

fn show((wall, cpu): (f64, Option<f64>)) -> String {
    match cpu {
        Some(cpu) => format!("{wall:.1} µs wall, {cpu:.1} µs CPU"),
        None => format!("{wall:.1} µs"),
    }
}

#[wasm_bindgen_test]
fn agrees_with_rsa_crate_on_wasm32() {
    let key = rsa_2048();
    let public = key.private.to_public_key();
    let fast = RsaVerifier::new(&public.n().to_bytes_be()).unwrap();
    let k = public.size();
    assert_eq!(fast.len(), k);
    // Node runs these with relaxed SIMD (scripts/test.sh), on machines that fuse multiply-add.
    assert!(
        fast.uses_fma(),
        "the fused multiply-add arithmetic is not in use"
    );
    let fast = fast.arithmetics();
    let n = public.n().clone();
    let one = BigUint::from(1u8);
    let (mut accepted, mut rejected) = (0, 0);
    let mut check = |message: &[u8], signature: &[u8], expected: bool, case: &str| {
        for fast in &fast {
            let got = (
                stock_verify(&public, message, signature),
                fast.verify_pkcs1v15_sha256(message, signature),
            );
            let fma = fast.uses_fma();
            assert_eq!(
                got,
                (expected, expected),
                "{case}: (stock, fast with fma {fma})"
            );
        }
        if expected {
            accepted += 1;
        } else {
            rejected += 1;
        }
    };
    for i in 0..5u8 {
        let message = format!("eyJhbGciOiJSUzI1NiJ9.{}", "x".repeat(37 * usize::from(i)));
        let message = message.as_bytes();
        let signature = key.sign_bytes(message);
        check(message, &signature, true, "valid");
        for bit in [0, 7, 1000 + usize::from(i), 8 * k - 1] {
            let mut flipped = signature.clone();
            flipped[bit / 8] ^= 0x80 >> (bit % 8);
            check(message, &flipped, false, "bit flipped");
        }
        let s = BigUint::from_bytes_be(&signature);
        for (case, x) in [
            ("s + 1", &s + &one),
            ("s + n", &s + &n),
            ("0", BigUint::from(0u8)),
            ("1", one.clone()),
            ("n - 1", &n - &one),
            ("n", n.clone()),
        ] {
            if let Some(bytes) = i2osp(&x, k) {
                check(message, &bytes, false, case);
            }
        }
        check(message, &vec![0; k], false, "all zeros");
        check(message, &vec![0xff; k], false, "all FF");
        let mut longer = vec![0];
        longer.extend_from_slice(&signature);
        check(message, &longer, false, "k + 1 octets");
        check(message, &signature[1..], false, "k - 1 octets");
        let mut other = message.to_vec();
        other[0] ^= 1;
        check(&other, &signature, false, "message changed");
    }
    console_log!(
        "fast_rsa wasm32 cross-check: {accepted} accepted by both, {rejected} rejected by both"
    );
}

#[wasm_bindgen_test]
fn timing_on_wasm32() {
    let key = rsa_2048();
    let public = key.private.to_public_key();
    let message = b"eyJhbGciOiJSUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiJ0aW1pbmcifQ";
    let signature = key.sign_bytes(message);
    let n = public.n().to_bytes_be();
    let fast = RsaVerifier::new(&n).unwrap();

    // Warm up so that V8 has tiered both up from its baseline compiler (Liftoff) to TurboFan: with only
    // 10 warm-up runs the rsa crate still measured about 1.5x slower than its steady state.
    for _ in 0..100 {
        assert!(fast.verify_pkcs1v15_sha256(message, &signature));
    }
    for _ in 0..60 {
        assert!(stock_verify(&public, message, &signature));
        assert!(RsaVerifier::new(&n).is_some());
    }

    let (fast_runs, stock_runs) = (200, 20);
    let fast_time = time_us(fast_runs, || {
        assert!(black_box(&fast).verify_pkcs1v15_sha256(black_box(message), black_box(&signature)));
    });
    let stock_time = time_us(stock_runs, || {
        assert!(stock_verify(
            black_box(&public),
            black_box(message),
            black_box(&signature)
        ));
    });
    let new_time = time_us(stock_runs, || {
        assert!(RsaVerifier::new(black_box(&n)).is_some());
    });
    // By the wall clock: Node's CPU time also counts V8's background compiler threads.
    let speedup = stock_time.0 / fast_time.0;
    console_log!(
        "wasm32 in V8{}, RS256 2048-bit verify (SHA-256 included): fast_rsa {} ({fast_runs} runs); rsa crate {} ({stock_runs} runs); {speedup:.1}x faster; RsaVerifier::new {}",
        if cfg!(debug_assertions) { " (debug build, not meaningful)" } else { "" },
        show(fast_time),
        show(stock_time),
        show(new_time),
    );
}
