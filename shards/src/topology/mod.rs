//! Geometry of a pool: set size, parity and quorums (`layout`), and where an object
//! lives (`placement`: SipHash of bucket and key, chunk rotation). Pure functions.

pub mod layout;
pub mod placement;
