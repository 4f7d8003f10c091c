//! Reed-Solomon erasure coding over GF(2^8) and bitrot checksums. Pure compute.
#![deny(unsafe_code)]
