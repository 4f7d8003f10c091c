//! One file per family of S3 operations: headers and query in, a store call, headers
//! and XML out; plus the S3 error mapping and the XML writers.

pub mod acl;
pub mod bucket;
pub mod error;
pub mod list;
pub mod multipart;
pub mod object;
pub mod tagging;
pub mod xml;
