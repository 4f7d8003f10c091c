//! The listing index's decoders (shards/src/member/local/index/): a whole run file
//! (header, block index, blocks), one block made valid around the input so its entries
//! are reached past the checksum, bare entries, and the clean marker.
//!
//! Beyond "no panic": the decoders bound every length, so no input makes them allocate
//! more than a small multiple of its own size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shoal_shards::member::local::fuzz_index_decoders;

fuzz_target!(|data: &[u8]| {
    fuzz_index_decoders(data);
});
