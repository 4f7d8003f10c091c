//! Per-core runtime and the object service.
#![forbid(unsafe_code)]
