//! Golden vectors: the on-disk coding frozen forever.
//!
//! For fixed inputs (from a tiny generator defined here, so no dependency upgrade can
//! change them) at layouts 2+1, 4+2, 8+4, 12+4 and 16+16, the SHA-256 of all parity
//! bytes is hard-coded below. These hashes are FROZEN FOREVER: the on-disk coding must
//! never change, because every chunk ever written is decoded with it. If a test here
//! fails, the change that broke it is wrong; do not update the hashes.

use sha2::{Digest, Sha256};
use shoal_erasure::{Coder, EngineKind};

/// Odd, so SIMD kernels also run their tail paths.
const CHUNK_BYTES: usize = 4099;

/// (data chunks, parity chunks, SHA-256 of the parity chunks in order).
/// Frozen forever: the on-disk coding must never change. Computed once with the naive
/// engine; ISA-L produced the same bytes.
const GOLDEN: [(usize, usize, &str); 5] = [
    (
        2,
        1,
        "285ddab4f046a93eb417d1f19ea2554f3eae2adb042c036b8c2469c7aa1cd4ed",
    ),
    (
        4,
        2,
        "272c977d693f966350ebb900e0ebd1d82369d673c5213def4627de217de97963",
    ),
    (
        8,
        4,
        "88b03372d4b397f0b328f29e45d42ebacb8897f2d0ce9b3d2f699fed4b7c28af",
    ),
    (
        12,
        4,
        "41fd03a84229e002a8c999a3e847df2ae4d15aaa0a2f9ffdc74330b3a5fd8923",
    ),
    (
        16,
        16,
        "10e62c5bc2fce936daafff62291fa7fc05a398a7a156006362d47b40d0750feb",
    ),
];

/// SplitMix64: fixed here so the inputs can never change under us.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The data chunks of the golden stripe for layout k+m.
fn golden_data(k: usize, m: usize) -> Vec<Vec<u8>> {
    let mut state = ((k as u64) << 8) | m as u64;
    (0..k)
        .map(|_| {
            (0..CHUNK_BYTES)
                .map(|_| splitmix64(&mut state) as u8)
                .collect()
        })
        .collect()
}

fn parity_hash(kind: EngineKind, k: usize, m: usize) -> String {
    let data = golden_data(k, m);
    let data: Vec<&[u8]> = data.iter().map(Vec::as_slice).collect();
    let mut parity = vec![vec![0u8; CHUNK_BYTES]; m];
    let mut parity_slices: Vec<&mut [u8]> = parity.iter_mut().map(Vec::as_mut_slice).collect();
    let coder = Coder::with_engine(kind, k, m).unwrap();
    coder.encode(&data, &mut parity_slices).unwrap();
    let mut hasher = Sha256::new();
    for chunk in &parity {
        hasher.update(chunk);
    }
    hex::encode(hasher.finalize())
}

/// Every engine writes exactly the frozen parity bytes for every golden layout.
#[test]
fn parity_matches_frozen_vectors() {
    for (k, m, expected) in GOLDEN {
        for kind in [EngineKind::Naive, EngineKind::IsaL] {
            assert_eq!(parity_hash(kind, k, m), expected, "{kind:?} {k}+{m}");
        }
    }
}
