//! Every integration suite of the store, as one test binary. Each suite is a module (its
//! file beside this one) instead of a binary of its own because the store is generic
//! over its drives and clock: each binary compiled and linked the whole store again, and
//! 29 of them were most of a cold `cargo test --workspace` (about 1,700 of 3,600 s of
//! compile time on 2 cores). One suite runs alone with a filter:
//! `cargo test -p shoal-shards --test suites -- sim_store::`.

mod common;
mod peer_examples;

mod audit;
mod beyond_quorum;
mod conditional;
mod copy;
mod drive_counts;
mod drive_identity;
mod fill;
mod heal;
mod heal_budget;
mod hung_member;
mod index_audit;
mod keys;
mod layers;
mod lease_fencing;
mod list_pages;
mod misplaced;
mod multipart;
mod multipart_hung;
mod peer_wire;
mod s3_sim;
mod scan;
mod short_versions;
mod sim_cluster;
mod sim_faults;
mod sim_store;
mod snapshot;
mod stale_versions;
mod store_suite;
mod tagging;
mod tombstones;
