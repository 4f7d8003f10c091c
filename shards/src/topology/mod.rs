//! Geometry of a pool: the drive arguments parsed (`endpoints`: ranges, URLs, pools), the
//! nodes and sets derived from them (`cluster`), which node this process is
//! (`this_node`), set size, parity and quorums (`layout`), and where an object lives
//! (`placement`: SipHash of bucket and key, chunk rotation); how its nodes agree on one
//! deployment id (`agreement`). Pure functions.

pub mod agreement;
pub mod cluster;
pub mod endpoints;
pub mod layout;
pub mod placement;
pub mod this_node;
