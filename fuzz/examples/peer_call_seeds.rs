//! Writes the seed corpus of the `peer_call` fuzz target (`fuzz/corpus/peer_call/`)
//! with the shards' own wire form (`member/peer/wire_form/`): every example request of
//! `shards/tests/peer_examples/` as a call, and its success, a `Stale` error and a
//! refusal as answers, so the seeds cover every verb both ways.
//!
//! A seed is what `fuzz_targets/peer_call.rs` reads: a selector byte (0 a call; for an
//! answer 1 | the asked request's index << 1), the body's length as a little-endian
//! u16, the body, then the payload. Each seed is decoded back before it is written (a
//! seed that does not decode panics here); seeds over `SEED_MAX_BYTES` are skipped
//! (the large-record examples), to keep the committed corpus small.
//!
//! Run from `fuzz/`: `cargo +nightly run --example peer_call_seeds` (`make_seeds.py`
//! does). Deterministic: re-running it changes nothing.

#[path = "../../shards/tests/peer_examples/mod.rs"]
mod peer_examples;

use std::path::Path;
use std::time::Duration;

use shoal_io::AlignedBuf;
use shoal_shards::member::MemberError;
use shoal_shards::member::peer::link::PeerCall;
use shoal_shards::member::peer::message::{PeerReply, PeerRequest};
use shoal_shards::member::peer::wire_form::{
    WireFormError, decode_answer, decode_call, encode_answer, encode_call, encode_refusal, verb_of,
};

/// Largest seed written.
const SEED_MAX_BYTES: usize = 100 << 10;

fn seed(selector: u8, body: &[u8], payload: Option<&AlignedBuf>) -> Vec<u8> {
    let len = u16::try_from(body.len()).expect("a seed body under 64 KiB");
    let mut bytes = vec![selector];
    bytes.extend_from_slice(&len.to_le_bytes());
    bytes.extend_from_slice(body);
    bytes.extend_from_slice(payload.map_or(&[][..], AlignedBuf::as_slice));
    bytes
}

fn write(folder: &Path, name: &str, bytes: &[u8]) {
    if bytes.len() <= SEED_MAX_BYTES {
        std::fs::write(folder.join(name), bytes).expect("write seed");
    }
}

fn blocks(len: usize) -> AlignedBuf {
    let mut buf = AlignedBuf::with_capacity(len);
    buf.extend_from_slice(&vec![0x5C; len]);
    buf
}

fn call_seed(folder: &Path, i: usize, request: &PeerRequest) {
    let chunks = matches!(request, PeerRequest::StageAppend { .. }).then(|| blocks(4096));
    let call = PeerCall {
        drive_index: (i % 4) as u32,
        request: request.clone(),
        deadline: Duration::from_secs(1),
        route: None,
    };
    let out = encode_call(call, chunks.as_ref().map_or(0, AlignedBuf::len)).expect("encodes");
    let payload = out.bulk.or(chunks);
    let bytes = seed(0, &out.body, payload.as_ref());
    let copy = payload.as_ref().map(|p| {
        let mut copy = AlignedBuf::with_capacity(p.len());
        copy.extend_from_slice(p.as_slice());
        copy
    });
    let decoded = decode_call(&out.body, copy).expect("a seed call decodes");
    assert_eq!(format!("{:?}", decoded.request), format!("{request:?}"));
    let name = format!("call_{i:02}_{}", verb_of(request).name());
    write(folder, &name, &bytes);
}

fn answer_seed(folder: &Path, (i, name): (usize, &str), request: &PeerRequest, reply: PeerReply) {
    let is_read = matches!(request, PeerRequest::ReadRecords { .. }) && reply == PeerReply::Done;
    let served = is_read.then(|| blocks(peer_examples::READ_BYTES as usize));
    let (body, payload) = encode_answer(verb_of(request), reply.clone(), served);
    let decoded = decode_answer(request, &body, payload.as_ref()).expect("a seed answer decodes");
    assert_eq!(decoded, reply);
    let selector = 1 | u8::try_from(i << 1).expect("under 128 requests");
    let name = format!("answer_{i:02}_{}_{name}", verb_of(request).name());
    write(folder, &name, &seed(selector, &body, payload.as_ref()));
}

fn main() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/peer_call");
    std::fs::create_dir_all(&folder).expect("create corpus/peer_call");
    for (i, request) in peer_examples::requests().iter().enumerate() {
        call_seed(&folder, i, request);
        let success = peer_examples::success(request);
        answer_seed(&folder, (i, "ok"), request, success);
        let stale = PeerReply::Failed(MemberError::Stale);
        answer_seed(&folder, (i, "stale"), request, stale);
        let refusal = encode_refusal(&WireFormError::Short { len_bytes: 2 });
        let selector = 1 | u8::try_from(i << 1).expect("under 128 requests");
        let name = format!("answer_{i:02}_{}_refused", verb_of(request).name());
        write(&folder, &name, &seed(selector, &refusal, None));
    }
}
