//! The operations `node benches/crypto-ab.mjs` times, exported from a plain wasm32 module. Inputs are
//! written by the script into [`input`]'s buffer; every export answers how many of its calls verified.

#[cfg(feature = "a")]
use crypto_a as crypto;
#[cfg(feature = "b")]
use crypto_b as crypto;

use std::cell::RefCell;

use crypto::p256::{P256Verifier, PreparedP256Verifier};
use crypto::rsa::{Hash, RsaVerifier};

const INPUT: usize = 16 * 1024;

thread_local! {
    static BUFFER: RefCell<Vec<u8>> = RefCell::new(vec![0; INPUT]);
    static RSA: RefCell<Option<RsaVerifier>> = const { RefCell::new(None) };
    static P256: RefCell<Option<(P256Verifier, PreparedP256Verifier)>> = const { RefCell::new(None) };
}

/// The input buffer (16 KiB) the script writes to.
#[no_mangle]
pub extern "C" fn input() -> *mut u8 {
    BUFFER.with(|b| b.borrow_mut().as_mut_ptr())
}

fn with_input<T>(f: impl FnOnce(&[u8]) -> T) -> T {
    BUFFER.with(|b| f(&b.borrow()))
}

/// The input holds the modulus (`len` octets): 1 if it is a key the fast path takes.
#[no_mangle]
pub extern "C" fn rsa_key(len: usize) -> u32 {
    let verifier = with_input(|b| RsaVerifier::new(&b[..len]));
    let ok = verifier.is_some();
    RSA.with(|r| *r.borrow_mut() = verifier);
    ok.into()
}

/// The input holds the modulus (`len` octets), the signature (`len` octets) and the message
/// (`message_len`): `calls` verifications, PKCS#1 v1.5 with SHA-256 (`mode` 0), PSS with SHA-256 (1)
/// or PKCS#1 v1.5 with SHA-512 (2).
#[no_mangle]
pub extern "C" fn rsa_verify(len: usize, message_len: usize, mode: u32, calls: u32) -> u32 {
    RSA.with(|r| {
        let r = r.borrow();
        let Some(verifier) = r.as_ref() else { return 0 };
        with_input(|b| {
            let (signature, message) = (&b[len..2 * len], &b[2 * len..2 * len + message_len]);
            (0..calls)
                .filter(|_| match mode {
                    1 => verifier.verify_pss(Hash::Sha256, message, signature),
                    2 => verifier.verify_pkcs1v15(Hash::Sha512, message, signature),
                    _ => verifier.verify_pkcs1v15(Hash::Sha256, message, signature),
                })
                .count() as u32
        })
    })
}

/// The input holds x and y (32 octets each): 1 if the point is a key; the key is also prepared, and G's
/// combs made, as the gateway does before a prepared key's verifications.
#[no_mangle]
pub extern "C" fn p256_key() -> u32 {
    let key = with_input(|b| {
        P256Verifier::from_affine(b[..32].try_into().unwrap(), b[32..64].try_into().unwrap())
    });
    crypto::p256::make_base_combs();
    let ok = key.is_some();
    P256.with(|p| *p.borrow_mut() = key.map(|key| (key, key.prepare())));
    ok.into()
}

/// The input holds x, y, the signature r || s (64 octets) and the message (`message_len`): `calls`
/// ES256 verifications with the key as it comes (`prepared` 0) or prepared (1).
#[no_mangle]
pub extern "C" fn p256_verify(message_len: usize, prepared: u32, calls: u32) -> u32 {
    P256.with(|p| {
        let p = p.borrow();
        let Some((key, prepared_key)) = p.as_ref() else { return 0 };
        with_input(|b| {
            let signature: &[u8; 64] = b[64..128].try_into().unwrap();
            let message = &b[128..128 + message_len];
            (0..calls)
                .filter(|_| match prepared {
                    1 => prepared_key.verify_sha256(message, signature),
                    _ => key.verify_sha256(message, signature),
                })
                .count() as u32
        })
    })
}
