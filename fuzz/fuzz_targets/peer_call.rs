//! The peer messages in their wire form (`shards/src/member/peer/wire_form/`): a
//! Request frame's body and payload as the far side reads them (`decode_call`), and a
//! Reply frame's as the dialer reads them for a request it asked (`decode_answer`).
//!
//! Input: one selector byte (bit 0: 0 a call, 1 an answer; bits 1.. pick the request
//! asked, among `shards/tests/peer_examples/`), a little-endian u16 body length (cut to
//! what follows), the body, then the rest as the payload (none when empty).
//!
//! Beyond "no panic": a decoded call encodes again and decodes to the same drive index,
//! request and blocks; a decoded answer that is not an error encodes again (as the far
//! side would) and decodes to the same answer, and an error answer stays an error.
#![no_main]

#[path = "../../shards/tests/peer_examples/mod.rs"]
mod peer_examples;

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use shoal_io::AlignedBuf;
use shoal_shards::member::peer::link::PeerCall;
use shoal_shards::member::peer::message::{PeerReply, PeerRequest};
use shoal_shards::member::peer::wire_form::{
    decode_answer, decode_call, encode_answer, encode_call, verb_of,
};

thread_local! {
    /// The requests an answer may be to (built once: the examples hold large records).
    static ASKED: Vec<PeerRequest> = peer_examples::requests();
}

/// Splits the input after the selector into body and payload.
fn split(rest: &[u8]) -> (&[u8], &[u8]) {
    let Some((len, rest)) = rest.split_first_chunk::<2>() else {
        return (rest, &[]);
    };
    let len = usize::from(u16::from_le_bytes(*len)).min(rest.len());
    rest.split_at(len)
}

/// The payload as the link reads it: into an aligned buffer; none when empty.
fn aligned(bytes: &[u8]) -> Option<AlignedBuf> {
    if bytes.is_empty() {
        return None;
    }
    let mut buf = AlignedBuf::with_capacity(bytes.len());
    buf.extend_from_slice(bytes);
    Some(buf)
}

fn call(body: &[u8], payload: &[u8]) {
    let Ok(incoming) = decode_call(body, aligned(payload)) else {
        return;
    };
    let shown = format!("{:?}", incoming.request);
    let chunks_len = incoming.chunks.as_ref().map_or(0, AlignedBuf::len);
    let again = PeerCall {
        drive_index: incoming.drive_index,
        request: incoming.request,
        deadline: Duration::from_secs(1),
        route: None,
    };
    let out = encode_call(again, chunks_len).expect("a decoded call encodes");
    let again = decode_call(&out.body, out.bulk.or(incoming.chunks)).expect("decodes again");
    assert_eq!(again.drive_index, incoming.drive_index);
    assert_eq!(again.verb, incoming.verb);
    assert_eq!(format!("{:?}", again.request), shown);
}

fn answer(request: &PeerRequest, body: &[u8], payload: &[u8]) {
    let received = aligned(payload);
    let Ok(reply) = decode_answer(request, body, received.as_ref()) else {
        return;
    };
    let is_read = matches!(request, PeerRequest::ReadRecords { .. });
    let served = if is_read { received } else { None };
    let (body, payload) = encode_answer(verb_of(request), reply.clone(), served);
    let again = decode_answer(request, &body, payload.as_ref()).expect("decodes again");
    match (&reply, &again) {
        (PeerReply::Failed(_), PeerReply::Failed(_)) => {}
        // A list of shared strings may grow past the bulk limit when written out
        // plainly: the far side then answers an I/O error instead.
        (_, PeerReply::Failed(_)) => {}
        _ => assert_eq!(again, reply),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (body, payload) = split(rest);
    if selector & 1 == 0 {
        call(body, payload);
    } else {
        ASKED.with(|asked| {
            let request = &asked[usize::from(selector >> 1) % asked.len()];
            answer(request, body, payload);
        });
    }
});
