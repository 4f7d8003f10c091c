//! Empty on purpose: this crate exists for its integration tests in `tests/`, which start
//! the real `shoal` binary and drive it with real S3 client SDKs. See `tests/aws_sdk.rs`.
#![forbid(unsafe_code)]
