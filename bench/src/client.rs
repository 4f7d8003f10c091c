//! The S3 client the modes drive: HTTP/1.1 framing, connections (plain or TLS), SigV4
//! signing, object bodies with their checksums, S3 requests and their XML. It knows
//! nothing of modes, workers or reports.

pub mod conn;
pub mod http1;
pub mod payload;
pub mod s3;
pub mod s3_multipart;
pub mod s3xml;
pub mod signer;
pub mod tls;
