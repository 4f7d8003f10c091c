//! The one error type of `shoal-erasure`: operating errors a caller can act on.
//!
//! Every variant is a value the object service turns into a decision (rebuild, fail
//! the read with 503, refuse a layout). Misuse that can only be a bug (a decode
//! matrix that is not invertible, for example) is an assertion instead.

use std::fmt;

/// What went wrong when building a [`crate::Coder`] or coding a stripe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The layout is outside `1 <= k <= 16`, `0 <= m <= k`, `k + m <= 32`.
    InvalidLayout {
        data_chunks: usize,
        parity_chunks: usize,
    },
    /// A list of chunks (or of presence flags) has the wrong length.
    ChunkCountMismatch { expected: usize, got: usize },
    /// The chunks of one stripe are not all the same length.
    ChunkSizeMismatch,
    /// More chunks are lost than parity can rebuild; nothing was written.
    TooManyLost { lost: usize, parity_chunks: usize },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidLayout {
                data_chunks,
                parity_chunks,
            } => write!(
                f,
                "invalid erasure layout {data_chunks}+{parity_chunks}: need 1 <= data <= 16, \
                 parity <= data, data + parity <= 32"
            ),
            Error::ChunkCountMismatch { expected, got } => {
                write!(f, "expected {expected} chunks, got {got}")
            }
            Error::ChunkSizeMismatch => write!(f, "chunks of one stripe differ in length"),
            Error::TooManyLost {
                lost,
                parity_chunks,
            } => write!(
                f,
                "{lost} chunks lost but only {parity_chunks} parity chunks: cannot rebuild"
            ),
        }
    }
}

impl std::error::Error for Error {}
