//! Authentication: AWS Signature Version 4 and Version 2 in both of their request
//! forms, behind one gate.
//!
//! Invariant: this layer sits above HTTP messages and routing (SigV2 must derive the
//! signed bucket exactly as routing does) and below the body decoders, which verify
//! what the gate's payload mode asks for. Inside, the arrows point one way too:
//! `signing` (SigV4 primitives) <- `common` (what both versions share) <- `sigv4`,
//! `sigv2` (each unaware of the other) <- `gate` (the one entry point).

pub mod bearer;
pub mod common;
pub mod gate;
pub mod signing;
pub mod sigv2;
pub mod sigv4;
