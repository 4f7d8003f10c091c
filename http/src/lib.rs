//! Sans-IO HTTP/1.1 and the S3 protocol: bytes in, events out. No sockets, no clocks.
//!
//! This crate depends on no workspace crate and never will. It does no I/O and reads no
//! clock: the caller owns the socket and the buffers and passes the current time in as
//! unix seconds. Nothing that arrives from the network may panic it; every failure is an
//! [`S3Error`] the caller renders and, for failures of framing, follows by closing the
//! connection.
#![forbid(unsafe_code)]

pub mod body;
pub mod error;
pub mod request;
pub mod response;
pub mod route;
pub mod sigv4;
pub mod time;
pub mod uri;
pub mod xml;

pub use body::{BodyDecoder, Progress};
pub use error::{S3Error, S3ErrorCode};
pub use request::{BodyFraming, HeadParser, HeadStatus, Method, RequestHead, Version};
pub use response::{ResponseBody, ResponseHead, write_error_response, write_response_head};
pub use route::{Operation, Route, RouteConfig, route};
pub use sigv4::{Authenticated, ChunkSigning, PayloadMode, SecretKeys, authenticate};
