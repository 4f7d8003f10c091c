//! Sans-IO HTTP/1.1 and the S3 protocol: bytes in, events out. No sockets, no clocks.
//!
//! Empty until Foundation II; it depends on no workspace crate and never will.
#![forbid(unsafe_code)]
