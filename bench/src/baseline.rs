//! This machine's ceilings and micro-benchmarks: loopback network, memory, hashes and
//! O_DIRECT drive figures (`baseline`), and erasure coding on one core (`erasure`).

pub mod ceilings;
pub mod disk;
pub mod erasure;
pub mod net;
