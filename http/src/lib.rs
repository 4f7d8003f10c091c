//! Sans-IO HTTP/1.1 and the S3 protocol: bytes in, events out. No sockets, no clocks.
//!
//! This crate depends on no workspace crate and never will. It does no I/O and reads no
//! clock: the caller owns the socket and the buffers and passes the current time in as
//! unix seconds. Nothing that arrives from the network may panic it; every failure is an
//! [`S3Error`] the caller renders and, for failures of framing, follows by closing the
//! connection.
//!
//! One request, as a server loop drives it (here with AWS's published aws-chunked
//! example, fed in 1 KiB reads):
//!
//! ```
//! use shoal_http::{authenticate, route, BodyDecoder, HeadParser, HeadStatus, Operation, RouteConfig};
//! # let mut wire = Vec::new();
//! # wire.extend_from_slice(b"PUT /examplebucket/chunkObject.txt HTTP/1.1\r\nHost: s3.amazonaws.com\r\n\
//! #   x-amz-date: 20130524T000000Z\r\nx-amz-storage-class: REDUCED_REDUNDANCY\r\n\
//! #   Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9\r\n\
//! #   x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD\r\nContent-Encoding: aws-chunked\r\n\
//! #   x-amz-decoded-content-length: 66560\r\nContent-Length: 66824\r\n\r\n");
//! # wire.extend_from_slice(b"10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n");
//! # wire.extend(std::iter::repeat_n(b'a', 65_536));
//! # wire.extend_from_slice(b"\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n");
//! # wire.extend(std::iter::repeat_n(b'a', 1024));
//! # wire.extend_from_slice(b"\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n");
//! # let mut socket = wire.chunks(1024);
//! let secrets = |id: &str| (id == "AKIAIOSFODNN7EXAMPLE").then(|| "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_owned());
//! let now_unix_secs = 1_369_353_600; // from the shard's clock, passed in
//! let mut buffer: Vec<u8> = Vec::new();
//! let mut parser = HeadParser::new();
//!
//! // 1. Read until the head is complete (limits are enforced while it arrives).
//! let (head, head_bytes) = loop {
//!     buffer.extend_from_slice(socket.next().expect("client closed")); // socket read
//!     if let HeadStatus::Complete { head, consumed_bytes } = parser.parse(&buffer)? {
//!         break (head, consumed_bytes);
//!     }
//! };
//! buffer.drain(..head_bytes);
//!
//! // 2. Authenticate (every route), then route.
//! let auth = authenticate(&head, &secrets, "us-east-1", now_unix_secs)?;
//! let route = route(&head, &RouteConfig::default())?;
//! // Shoal stores one storage class: this REDUCED_REDUNDANCY PUT is refused (501),
//! // and its body is still read to keep the connection in step.
//! assert!(matches!(route.operation, Operation::NotImplemented { .. }));
//! // (if head.expect_continue: write shoal_http::response::CONTINUE_100 now)
//!
//! // 3. Stream the body; commit only once `done` (all signatures verified).
//! let mut body = BodyDecoder::new(&head, &auth.payload)?;
//! let mut object = Vec::new();
//! loop {
//!     let progress = body.feed(&buffer, |payload| object.extend_from_slice(payload))?;
//!     buffer.drain(..progress.consumed_bytes); // what is left belongs to the next request
//!     if progress.done {
//!         break;
//!     }
//!     buffer.extend_from_slice(socket.next().expect("IncompleteBody")); // socket read
//! }
//! assert_eq!(object.len(), 66_560);
//! # Ok::<(), shoal_http::S3Error>(())
//! ```
#![forbid(unsafe_code)]

// The layers, bottom up; each imports only from the layers below it:
//   base (S3 error, encodings) <- message (HTTP/1.1) <- route <- auth (SigV4, SigV2)
//   <- body (payload decoding and verification); xml (request documents) and s3xml
//   (response documents) stand on base alone.
pub mod auth;
pub mod base;
pub mod body;
pub mod message;
pub mod route;
pub mod s3xml;
pub mod xml;

// Kept for callers: the module paths from before the layer folders (`shoal_http::uri`,
// `shoal_http::sigv4`, ...), which the other crates and the fuzz targets use.
pub use auth::sigv2;
pub use base::{base64, error, time, uri};
pub use message::{request, response};

pub use auth::bearer::{TokenError, sign_prometheus_token, verify_prometheus_token};
pub use auth::common::{Authenticated, PayloadMode, SecretKeys};
pub use auth::gate::{authenticate, authenticate_with_routes};
pub use base::error::{S3Error, S3ErrorCode};
pub use body::{BodyDecoder, Progress};
pub use message::request::{BodyFraming, HeadParser, HeadStatus, Method, RequestHead, Version};
pub use message::response::{
    ResponseBody, ResponseHead, write_error_response, write_response_head,
};
pub use route::{AdminRoute, Operation, RESERVED_BUCKET, Route, RouteConfig, admin_route, route};
pub use s3xml::{
    write_complete_multipart_upload_result, write_copy_object_result, write_copy_part_result,
    write_delete_result, write_get_object_attributes_response,
    write_initiate_multipart_upload_result, write_list_all_my_buckets_result,
    write_list_bucket_result_v1, write_list_bucket_result_v2, write_list_multipart_uploads_result,
    write_list_parts_result, write_list_versions_result, write_location_constraint, write_tagging,
};
// The signing half of SigV4, for clients (shoal-bench signs with these, so the
// workspace has one implementation of the algorithm).
pub use auth::signing::{
    ChunkSigning, chunk_signature, credential_scope, request_signature, signing_key,
    trailer_signature, write_canonical_headers, write_canonical_query,
};

/// Kept for callers: SigV4 as one module, at the path it had before `auth/` split it
/// into the gate, the shared types and the signing primitives.
pub mod sigv4 {
    pub use crate::auth::common::{
        Authenticated, CLOCK_SKEW_MAX_SECS, PRESIGN_EXPIRES_MAX_SECS, PayloadMode, SecretKeys,
        constant_time_eq,
    };
    pub use crate::auth::gate::{authenticate, authenticate_with_routes};
    pub use crate::auth::signing::{
        ChunkSigning, EMPTY_SHA256_HEX, chunk_signature, credential_scope, request_signature,
        signing_key, trailer_signature, write_canonical_headers, write_canonical_query,
    };
    pub use crate::base::digits::{decode_hex32, hex32};
}
