//! Authentication: AWS Signature Version 4 and Version 2 in both of their request
//! forms, behind one gate.
//!
//! Invariant: this layer sits above HTTP messages and routing (SigV2 must derive the
//! signed bucket exactly as routing does) and below the body decoders, which verify
//! what the gate's payload mode asks for.

pub mod sigv2;
pub mod sigv4;
