//! A small bounded cache of decode tables, one entry per loss pattern.
//!
//! Building decode tables (invert a k x k matrix, expand it to 32 bytes per
//! coefficient) costs about as much as decoding a few KiB, so a read path that keeps
//! losing the same drive must not rebuild them per stripe. Invariants: at most
//! `capacity` entries; when full, the oldest inserted entry is replaced (FIFO); each
//! slot's buffer is allocated once, at its first insertion, with the largest size any
//! pattern of this layout needs, so a warm cache never allocates.

pub(crate) struct DecodeCache {
    capacity: usize,
    slot_bytes: usize,
    keys: Vec<u64>,
    tables: Vec<Box<[u8]>>,
    /// The slot the next insertion overwrites once the cache is full.
    oldest: usize,
}

impl DecodeCache {
    /// An empty cache of `capacity` entries of `slot_bytes` each.
    pub fn new(capacity: usize, slot_bytes: usize) -> DecodeCache {
        assert!(capacity > 0);
        DecodeCache {
            capacity,
            slot_bytes,
            keys: Vec::with_capacity(capacity),
            tables: Vec::with_capacity(capacity),
            oldest: 0,
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// The tables cached for `key`, built by `fill` (into a zeroed-or-stale buffer of
    /// `slot_bytes`) on a miss.
    pub fn get_or_fill(&mut self, key: u64, fill: impl FnOnce(&mut [u8])) -> &[u8] {
        let slot = match self.keys.iter().position(|cached| *cached == key) {
            Some(slot) => slot,
            None => self.insert(key, fill),
        };
        &self.tables[slot]
    }

    fn insert(&mut self, key: u64, fill: impl FnOnce(&mut [u8])) -> usize {
        let slot = if self.keys.len() < self.capacity {
            self.keys.push(key);
            self.tables
                .push(vec![0u8; self.slot_bytes].into_boxed_slice());
            self.keys.len() - 1
        } else {
            let slot = self.oldest;
            self.oldest = (self.oldest + 1) % self.capacity;
            self.keys[slot] = key;
            slot
        };
        fill(&mut self.tables[slot]);
        slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hit returns the stored tables without calling `fill` again.
    #[test]
    fn hit_does_not_refill() {
        let mut cache = DecodeCache::new(2, 4);
        assert_eq!(cache.get_or_fill(7, |t| t.fill(7)), &[7; 4]);
        assert_eq!(cache.get_or_fill(7, |_| panic!("refilled")), &[7; 4]);
        assert_eq!(cache.len(), 1);
    }

    /// When full, the oldest entry is evicted first and the size stays bounded.
    #[test]
    fn evicts_oldest() {
        let mut cache = DecodeCache::new(2, 1);
        cache.get_or_fill(1, |t| t.fill(1));
        cache.get_or_fill(2, |t| t.fill(2));
        cache.get_or_fill(3, |t| t.fill(3));
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get_or_fill(2, |_| panic!("2 was evicted")), &[2]);
        assert_eq!(cache.get_or_fill(1, |t| t.fill(9)), &[9]);
        assert_eq!(cache.get_or_fill(3, |_| panic!("3 was evicted")), &[3]);
    }
}
