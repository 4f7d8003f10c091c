//! Placement: which set of a pool holds an object, and which drive of the set holds
//! each chunk. A pure function of (deployment id, bucket, key) — nothing is looked up.
//!
//! `hash = SipHash-2-4(key = deployment id, "bucket/key")`; `set = hash mod sets`;
//! `rotation = (hash >> 32) mod set_size`; chunk `i` lives on set drive
//! `(i + rotation) mod set_size`. The rotation is also recorded in each object's
//! metadata so a reader can tell a misplaced drive from a good one.
//!
//! Invariant: the formula never changes for an existing deployment; golden values in the
//! tests freeze it.

use std::hash::Hasher;

use siphasher::sip::SipHasher24;

/// A deployment's identity; keys the placement hash.
pub type DeploymentId = [u8; 16];

/// The 64-bit placement hash of an object.
pub fn object_hash(deployment_id: &DeploymentId, bucket: &str, key: &str) -> u64 {
    let (k0, k1) = deployment_id.split_at(8);
    let mut hasher = SipHasher24::new_with_keys(
        u64::from_le_bytes(k0.try_into().expect("8 bytes")),
        u64::from_le_bytes(k1.try_into().expect("8 bytes")),
    );
    hasher.write(bucket.as_bytes());
    hasher.write(b"/");
    hasher.write(key.as_bytes());
    hasher.finish()
}

/// Where an object's chunks live inside a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub set_index: usize,
    pub rotation: usize,
}

impl Placement {
    pub fn of(hash: u64, set_count: usize, set_size: usize) -> Self {
        assert!(set_count > 0 && set_size > 0);
        Self {
            set_index: (hash % set_count as u64) as usize,
            rotation: ((hash >> 32) % set_size as u64) as usize,
        }
    }

    /// The set drive holding chunk `chunk_index`.
    pub fn drive_of_chunk(&self, chunk_index: usize, set_size: usize) -> usize {
        (chunk_index + self.rotation) % set_size
    }

    /// The chunk held by set drive `drive_index`.
    pub fn chunk_of_drive(&self, drive_index: usize, set_size: usize) -> usize {
        (drive_index + set_size - self.rotation % set_size) % set_size
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Frozen values: changing the placement formula would orphan every stored object.
    #[test]
    fn golden_placement() {
        let id = *b"0123456789abcdef";
        let hash = object_hash(&id, "bucket", "photos/cat.jpg");
        assert_eq!(hash, GOLDEN_HASH);
        assert_eq!(Placement::of(hash, 3, 12), GOLDEN_PLACEMENT);
    }

    const GOLDEN_HASH: u64 = 5_189_391_708_901_473_112;
    const GOLDEN_PLACEMENT: Placement = Placement {
        set_index: 1,
        rotation: 11,
    };

    proptest! {
        /// Chunk → drive is a bijection on the set, and the inverse is exact.
        #[test]
        fn chunk_drive_bijection(hash: u64, set_count in 1usize..8, set_size in 1usize..=16) {
            let p = Placement::of(hash, set_count, set_size);
            prop_assert!(p.set_index < set_count);
            let mut seen = vec![false; set_size];
            for chunk in 0..set_size {
                let drive = p.drive_of_chunk(chunk, set_size);
                prop_assert!(!seen[drive]);
                seen[drive] = true;
                prop_assert_eq!(p.chunk_of_drive(drive, set_size), chunk);
            }
        }

        /// Placement is deterministic and depends on the deployment id.
        #[test]
        fn deterministic(bucket in "[a-z]{3,10}", key in ".{0,40}") {
            let a = object_hash(&[1; 16], &bucket, &key);
            prop_assert_eq!(a, object_hash(&[1; 16], &bucket, &key));
            prop_assert_ne!(a, object_hash(&[2; 16], &bucket, &key));
        }
    }

    /// Keys spread over sets and rotations roughly evenly.
    #[test]
    fn spreads_evenly() {
        let mut per_set = [0usize; 4];
        let mut per_rotation = [0usize; 8];
        for i in 0..8000 {
            let p = Placement::of(object_hash(&[7; 16], "b", &format!("key-{i}")), 4, 8);
            per_set[p.set_index] += 1;
            per_rotation[p.rotation] += 1;
        }
        assert!(
            per_set.iter().all(|&n| (1700..2300).contains(&n)),
            "{per_set:?}"
        );
        assert!(
            per_rotation.iter().all(|&n| (800..1200).contains(&n)),
            "{per_rotation:?}"
        );
    }
}
