//! What a run measured and how it is shown: one record per operation, the warp-style
//! summary and report, ratios to the machine's baseline, and the `cmp` and `plot` of
//! saved runs.

pub mod cmp;
pub mod plot;
pub mod ratios;
pub mod record;
pub mod summary;
