//! HTTP/1.1 messages as bytes: the request-head parser, the chunked-encoding tokenizer
//! the body decoders share, and the response-head writer.
//!
//! Invariant: this layer knows HTTP framing only; it imports from [`crate::base`] and
//! from nothing above it (no routing, no signatures, no S3 documents).

pub(crate) mod chunked;
pub mod request;
pub mod response;
