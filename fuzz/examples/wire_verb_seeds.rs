//! Writes the seed corpus of the `wire_verbs` fuzz target (`fuzz/corpus/wire_verbs/`)
//! from shoal-wire's own encoder: every example request and reply of the codec's tests
//! (`wire/tests/verb_examples/mod.rs`, included here), so the seeds cover every verb
//! and follow the format the encoder writes today.
//!
//! A seed is what `fuzz_targets/wire_verbs.rs` reads: a selector byte (0 request,
//! 1 reply), the body's length as a little-endian u16, the body, then the bulk. Each
//! seed is decoded back before it is written; a seed that does not decode to its value
//! panics here instead of being written.
//!
//! Run from `fuzz/`: `cargo +nightly run --example wire_verb_seeds` (`make_seeds.py`
//! does). Deterministic: re-running it changes nothing.

use std::path::Path;

use shoal_wire::verb::{Message, decode_reply, decode_request, encode_reply, encode_request};

#[path = "../../wire/tests/verb_examples/mod.rs"]
mod verb_examples;

/// The seed bytes of one message.
fn seed(selector: u8, message: &Message) -> Vec<u8> {
    let len = u16::try_from(message.body.len()).expect("a seed body under 64 KiB");
    let mut bytes = vec![selector];
    bytes.extend_from_slice(&len.to_le_bytes());
    bytes.extend_from_slice(&message.body);
    bytes.extend_from_slice(&message.bulk);
    bytes
}

fn main() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/wire_verbs");
    std::fs::create_dir_all(&folder).expect("create corpus/wire_verbs");
    for (i, request) in verb_examples::requests().iter().enumerate() {
        let message = encode_request(request).expect("an example encodes");
        let decoded = decode_request(&message.body, message.bulk.to_vec());
        assert_eq!(decoded.as_ref(), Ok(request));
        let name = format!("request_{i:02}_{}", request.kind().name());
        std::fs::write(folder.join(name), seed(0, &message)).expect("write seed");
    }
    for (i, reply) in verb_examples::replies().iter().enumerate() {
        let message = encode_reply(reply).expect("an example encodes");
        let decoded = decode_reply(&message.body, message.bulk.to_vec());
        assert_eq!(decoded.as_ref(), Ok(reply));
        let kind = reply.kind().map_or("Error", |kind| kind.name());
        let name = format!("reply_{i:02}_{kind}");
        std::fs::write(folder.join(name), seed(1, &message)).expect("write seed");
    }
}
