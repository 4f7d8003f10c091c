//! One suite run against every engine: each must produce exactly the naive reference
//! engine's parity and rebuild exactly the lost bytes, for random layouts, chunk
//! lengths and loss patterns; and every call that cannot succeed must return an
//! error without touching the chunks.

use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, RngCore, SeedableRng};
use shoal_erasure::{Coder, DATA_CHUNKS_MAX, EngineKind, Error};

const ENGINES: [EngineKind; 2] = [EngineKind::Naive, EngineKind::IsaL];

/// A stripe: `k` random data chunks and the naive engine's `m` parity chunks.
fn reference_stripe(rng: &mut SmallRng, k: usize, m: usize, len: usize) -> Vec<Vec<u8>> {
    let mut chunks: Vec<Vec<u8>> = (0..k + m).map(|_| vec![0u8; len]).collect();
    for chunk in &mut chunks[..k] {
        rng.fill_bytes(chunk);
    }
    let (data, parity) = chunks.split_at_mut(k);
    let data: Vec<&[u8]> = data.iter().map(Vec::as_slice).collect();
    let mut parity: Vec<&mut [u8]> = parity.iter_mut().map(Vec::as_mut_slice).collect();
    let naive = Coder::with_engine(EngineKind::Naive, k, m).unwrap();
    naive.encode(&data, &mut parity).unwrap();
    chunks
}

fn as_mut_slices(chunks: &mut [Vec<u8>]) -> Vec<&mut [u8]> {
    chunks.iter_mut().map(Vec::as_mut_slice).collect()
}

/// Marks `lost` random chunks missing and overwrites them with garbage.
fn lose(rng: &mut SmallRng, chunks: &mut [Vec<u8>], lost: usize) -> Vec<bool> {
    let mut indices: Vec<usize> = (0..chunks.len()).collect();
    indices.shuffle(rng);
    let mut present = vec![true; chunks.len()];
    for &index in &indices[..lost] {
        present[index] = false;
        rng.fill_bytes(&mut chunks[index]);
    }
    present
}

/// Checks one engine on one stripe: encode, then a loss pattern of each size.
fn check_engine(rng: &mut SmallRng, kind: EngineKind, expected: &[Vec<u8>], k: usize, m: usize) {
    let mut coder = Coder::with_engine(kind, k, m).unwrap();
    let mut chunks = expected.to_vec();
    for chunk in &mut chunks[k..] {
        rng.fill_bytes(chunk);
    }
    let (data, parity) = chunks.split_at_mut(k);
    let data: Vec<&[u8]> = data.iter().map(Vec::as_slice).collect();
    coder.encode(&data, &mut as_mut_slices(parity)).unwrap();
    assert!(
        chunks == expected,
        "{kind:?} {k}+{m}: parity differs from naive"
    );

    let mut lost_counts = vec![0, m, m + 1, rng.gen_range(0..=m)];
    lost_counts.push(rng.gen_range(m + 1..=k + m));
    for lost in lost_counts {
        check_reconstruct(rng, &mut coder, expected, lost, false);
        check_reconstruct(rng, &mut coder, expected, lost, true);
    }
}

fn check_reconstruct(
    rng: &mut SmallRng,
    coder: &mut Coder,
    expected: &[Vec<u8>],
    lost: usize,
    data_only: bool,
) {
    let (k, m) = (coder.data_chunks(), coder.parity_chunks());
    let mut chunks = expected.to_vec();
    let present = lose(rng, &mut chunks, lost);
    let before = chunks.clone();
    let result = if data_only {
        coder.reconstruct_data(&mut as_mut_slices(&mut chunks), &present)
    } else {
        coder.reconstruct(&mut as_mut_slices(&mut chunks), &present)
    };
    let what = format!("{:?} {k}+{m} lost {lost} {present:?}", coder.engine());
    if lost > m {
        let error = Error::TooManyLost {
            lost,
            parity_chunks: m,
        };
        assert_eq!(result, Err(error), "{what}");
        assert!(chunks == before, "{what}: chunks touched on error");
        return;
    }
    result.unwrap();
    let checked = if data_only { k } else { k + m };
    for index in 0..checked {
        assert!(
            chunks[index] == expected[index],
            "{what}: chunk {index} wrong"
        );
    }
}

/// Chunk lengths worth testing for a stripe of `k` data chunks.
fn chunk_lengths(rng: &mut SmallRng, k: usize) -> Vec<usize> {
    vec![
        0,
        1,
        rng.gen_range(2..200) | 1,
        rng.gen_range(200..5000) | 1,
        64 * 1024,
        (1 << 20) / k,
    ]
}

/// Every engine matches the reference on every k, sampled m, and many lengths.
#[test]
fn every_engine_matches_naive() {
    let mut rng = SmallRng::seed_from_u64(0x5EED);
    for k in 1..=DATA_CHUNKS_MAX {
        let mut parities = vec![0, 1, k];
        parities.push(rng.gen_range(0..=k));
        parities.dedup();
        for m in parities {
            for len in chunk_lengths(&mut rng, k) {
                let expected = reference_stripe(&mut rng, k, m, len);
                for kind in ENGINES {
                    check_engine(&mut rng, kind, &expected, k, m);
                }
            }
        }
    }
}

/// More loss patterns than the decode cache holds, visited twice: evictions and hits
/// both still rebuild the right bytes.
#[test]
fn decode_cache_churn_stays_correct() {
    let mut rng = SmallRng::seed_from_u64(7);
    let (k, m) = (12, 4);
    let expected = reference_stripe(&mut rng, k, m, 999);
    let mut coder = Coder::new(k, m).unwrap();
    let patterns: Vec<Vec<usize>> = (0..100)
        .map(|_| {
            let mut indices: Vec<usize> = (0..k + m).collect();
            indices.shuffle(&mut rng);
            indices.truncate(rng.gen_range(1..=m));
            indices
        })
        .collect();
    for pattern in patterns.iter().chain(&patterns) {
        let mut chunks = expected.clone();
        let mut present = vec![true; k + m];
        for &index in pattern {
            present[index] = false;
            chunks[index].fill(0xAA);
        }
        coder
            .reconstruct(&mut as_mut_slices(&mut chunks), &present)
            .unwrap();
        assert!(chunks == expected, "pattern {pattern:?}");
    }
}

/// Layouts outside 1 <= k <= 16, m <= k are refused by every engine.
#[test]
fn invalid_layouts_are_refused() {
    for kind in ENGINES {
        for (k, m) in [(0, 0), (17, 0), (4, 5), (16, 17), (17, 15)] {
            let error = Coder::with_engine(kind, k, m).unwrap_err();
            assert_eq!(
                error,
                Error::InvalidLayout {
                    data_chunks: k,
                    parity_chunks: m
                }
            );
        }
        assert!(Coder::with_engine(kind, 16, 16).is_ok());
        assert!(Coder::with_engine(kind, 1, 0).is_ok());
    }
}

/// Wrong chunk counts and mixed lengths are errors, never panics.
#[test]
fn malformed_calls_are_errors() {
    for kind in ENGINES {
        let mut coder = Coder::with_engine(kind, 2, 1).unwrap();
        let (first, second) = ([1u8; 4], [2u8; 4]);
        let mut parity = [0u8; 4];
        let mut short = [0u8; 3];
        let count = Error::ChunkCountMismatch {
            expected: 2,
            got: 1,
        };
        assert_eq!(coder.encode(&[&first], &mut [&mut parity]), Err(count));
        assert_eq!(
            coder.encode(&[&first, &second], &mut [&mut short]),
            Err(Error::ChunkSizeMismatch)
        );
        let (mut zero, mut one, mut long) = ([0u8; 4], [0u8; 4], [0u8; 5]);
        let present = [true, false, true];
        let mut chunks: [&mut [u8]; 3] = [&mut zero, &mut one, &mut long];
        assert_eq!(
            coder.reconstruct(&mut chunks, &present),
            Err(Error::ChunkSizeMismatch)
        );
        let count = Error::ChunkCountMismatch {
            expected: 3,
            got: 2,
        };
        assert_eq!(coder.reconstruct(&mut chunks, &present[..2]), Err(count));
    }
}

/// With no parity, encode is a no-op and only a complete stripe "reconstructs".
#[test]
fn zero_parity() {
    for kind in ENGINES {
        let mut coder = Coder::with_engine(kind, 3, 0).unwrap();
        let data = [[1u8; 8], [2; 8], [3; 8]];
        coder
            .encode(&[&data[0], &data[1], &data[2]], &mut [])
            .unwrap();
        let mut chunks = data;
        let [a, b, c] = &mut chunks;
        let mut slices: [&mut [u8]; 3] = [a, b, c];
        coder.reconstruct(&mut slices, &[true; 3]).unwrap();
        let error = Error::TooManyLost {
            lost: 1,
            parity_chunks: 0,
        };
        assert_eq!(
            coder.reconstruct(&mut slices, &[true, false, true]),
            Err(error)
        );
        assert_eq!(chunks, data);
    }
}
