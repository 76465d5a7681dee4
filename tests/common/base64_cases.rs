//! The gateway's base64 decoders against the `base64` crate's, on the same inputs natively (where every
//! group is decoded alone) and on wasm32 (where blocks of sixteen characters go through SIMD).

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;

/// Decodes or fails, as the gateway's decoders do.
type Decoder<'a> = &'a dyn Fn(&str) -> Option<Vec<u8>>;

/// Asserts that `url` (unpadded base64url) and `padded` (base64 with canonical padding) decode every
/// case as the crate does, or fail where it fails.
pub fn assert_decoders_agree(url: Decoder<'_>, padded: Decoder<'_>) {
    for case in cases() {
        assert_eq!(url(&case), URL_SAFE_NO_PAD.decode(&case).ok(), "{case:?}");
        assert_eq!(padded(&case), STANDARD.decode(&case).ok(), "{case:?}");
    }
}

/// Every string of up to four characters from both alphabets' edges and what is not in them; every
/// prefix of the encodings of all 256 octets, in both alphabets; and a 64-character encoding with
/// each character in turn replaced by every ASCII character and two others.
fn cases() -> Vec<String> {
    let sample = [
        'A', 'B', 'Q', 'Z', 'a', 'g', 'z', '0', '9', '-', '_', '+', '/', '=', ' ', '.', 'é',
    ];
    let mut cases = vec![String::new()];
    let mut shorter = vec![String::new()];
    for _ in 0..4 {
        shorter = shorter
            .iter()
            .flat_map(|s| sample.iter().map(move |&c| format!("{s}{c}")))
            .collect();
        cases.extend(shorter.iter().cloned());
    }
    let octets: Vec<u8> = (0..=255).collect();
    for encoded in [URL_SAFE_NO_PAD.encode(&octets), STANDARD.encode(&octets)] {
        cases.extend((0..=encoded.len()).map(|end| encoded[..end].to_string()));
    }
    let block = URL_SAFE_NO_PAD.encode(&octets[100..148]);
    let others = (0..=127u8).map(char::from).chain(['\u{80}', 'ÿ']);
    for (position, c) in (0..block.len()).flat_map(|p| others.clone().map(move |c| (p, c))) {
        let mut case = block.clone();
        case.replace_range(position..=position, c.encode_utf8(&mut [0; 4]));
        cases.push(case);
    }
    cases
}
