//! Erasure layout of a pool: how many drives form a set, and how many of a set's chunks
//! are parity. Pure arithmetic (DESIGN.md §3, §4).
//!
//! Invariants: `1 <= data_chunks <= 16`, `parity_chunks <= data_chunks`,
//! `data_chunks + parity_chunks == set size`, and the pool's drive count is a multiple of
//! the set size.

use crate::error::{Error, Result};

/// Largest erasure set.
pub const SET_SIZE_MAX: usize = 16;

/// The erasure layout of one set: `data_chunks + parity_chunks` drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SetLayout {
    pub data_chunks: usize,
    pub parity_chunks: usize,
}

impl SetLayout {
    pub fn new(data_chunks: usize, parity_chunks: usize) -> Result<Self> {
        if data_chunks == 0
            || parity_chunks > data_chunks
            || data_chunks + parity_chunks > SET_SIZE_MAX
        {
            return Err(Error::Format(format!(
                "erasure layout {data_chunks}+{parity_chunks} is not supported: need 1 to 16 \
                 drives per set with parity at most half of them"
            )));
        }
        Ok(Self {
            data_chunks,
            parity_chunks,
        })
    }

    /// The default layout for a set of `set_size` drives (DESIGN.md §3).
    pub fn default_for_set_size(set_size: usize) -> Result<Self> {
        let parity_chunks = match set_size {
            0 => return Err(Error::Format("no drives given".into())),
            1 => 0,
            2 | 3 => 1,
            4 | 5 => 2,
            6 | 7 => 3,
            _ => 4,
        };
        Self::new(set_size.saturating_sub(parity_chunks), parity_chunks)
    }

    pub fn set_size(&self) -> usize {
        self.data_chunks + self.parity_chunks
    }

    /// Drives that must durably hold a write before it is acknowledged.
    pub fn write_quorum(&self) -> usize {
        if self.data_chunks == self.parity_chunks {
            self.data_chunks + 1
        } else {
            self.data_chunks
        }
    }

    /// Drives that must agree before metadata is believed, and chunks needed to decode.
    pub fn read_quorum(&self) -> usize {
        self.data_chunks
    }
}

/// How a pool's drives are divided into sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PoolLayout {
    pub set_count: usize,
    pub set: SetLayout,
}

impl PoolLayout {
    /// Chooses the largest set size in 2..=16 that divides `drive_count` (1 for a single
    /// drive), with the default parity, or `parity_chunks` when given.
    pub fn for_drives(drive_count: usize, parity_chunks: Option<usize>) -> Result<Self> {
        Self::with_set_size(drive_count, choose_set_size(drive_count)?, parity_chunks)
    }

    /// Sets of `set_size` drives (which must divide `drive_count`), with the default
    /// parity, or `parity_chunks` when given.
    pub fn with_set_size(
        drive_count: usize,
        set_size: usize,
        parity_chunks: Option<usize>,
    ) -> Result<Self> {
        assert!(set_size > 0 && drive_count.is_multiple_of(set_size));
        let set = match parity_chunks {
            None => SetLayout::default_for_set_size(set_size)?,
            Some(parity) if parity <= set_size / 2 => SetLayout::new(set_size - parity, parity)?,
            Some(parity) => {
                return Err(Error::Format(format!(
                    "parity {parity} is more than half of the set size {set_size}"
                )));
            }
        };
        Ok(Self {
            set_count: drive_count / set_size,
            set,
        })
    }

    pub fn drive_count(&self) -> usize {
        self.set_count * self.set.set_size()
    }
}

fn choose_set_size(drive_count: usize) -> Result<usize> {
    match drive_count {
        0 => Err(Error::Format("no drives given".into())),
        1 => Ok(1),
        n => (2..=SET_SIZE_MAX)
            .rev()
            .find(|size| n % size == 0)
            .ok_or_else(|| {
                Error::Format(format!(
                    "{n} drives cannot be divided into erasure sets of 2 to 16 drives"
                ))
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Default parity follows DESIGN.md §3 for every set size.
    #[test]
    fn default_parity_table() {
        let expected = [
            (1, 0),
            (2, 1),
            (3, 1),
            (4, 2),
            (5, 2),
            (6, 3),
            (7, 3),
            (8, 4),
            (16, 4),
        ];
        for (size, parity) in expected {
            let layout = SetLayout::default_for_set_size(size).unwrap();
            assert_eq!(layout.parity_chunks, parity, "set size {size}");
            assert_eq!(layout.set_size(), size);
        }
    }

    /// Set size is the largest divisor in 2..=16; odd pools that cannot split are refused.
    #[test]
    fn set_size_choice() {
        assert_eq!(PoolLayout::for_drives(4, None).unwrap().set_count, 1);
        let pool = PoolLayout::for_drives(32, None).unwrap();
        assert_eq!((pool.set_count, pool.set.set_size()), (2, 16));
        let pool = PoolLayout::for_drives(12, None).unwrap();
        assert_eq!((pool.set_count, pool.set.set_size()), (1, 12));
        assert_eq!(
            PoolLayout::for_drives(17, None).unwrap_err().to_string(),
            "17 drives cannot be divided into erasure sets of 2 to 16 drives"
        );
        assert!(PoolLayout::for_drives(4, Some(3)).is_err());
        assert_eq!(
            PoolLayout::for_drives(4, Some(0)).unwrap().set.data_chunks,
            4
        );
    }

    /// Quorums: data chunks to read; one more to write when data equals parity.
    #[test]
    fn quorums() {
        let l = SetLayout::new(2, 2).unwrap();
        assert_eq!((l.read_quorum(), l.write_quorum()), (2, 3));
        let l = SetLayout::new(4, 2).unwrap();
        assert_eq!((l.read_quorum(), l.write_quorum()), (4, 4));
    }
}
