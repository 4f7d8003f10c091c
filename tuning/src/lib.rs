//! Host measurement and the tuning profile. See `tuning/README.md` for what it will do.
#![forbid(unsafe_code)]
