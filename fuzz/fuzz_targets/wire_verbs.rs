//! The verb messages of the peer wire (`wire/src/verb/`): a request or reply body and
//! its bulk as they arrive from another node.
//!
//! Input: one selector byte (bit 0: 0 request, 1 reply), a little-endian u16 body
//! length (cut to what follows), the body, then the rest as the bulk (the frame's
//! payload).
//!
//! Beyond "no panic": where the bytes decode, the verb the body alone names
//! (`request_kind`/`reply_kind`) is the decoded value's; the value encodes again
//! (everything decoded is within the limits) and that decodes to the same value; and
//! encoding is canonical (encoding the second decode gives the same bytes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use shoal_wire::verb::{
    decode_reply, decode_request, encode_reply, encode_request, reply_kind, request_kind,
};

/// Splits the input after the selector into body and bulk.
fn split(rest: &[u8]) -> (&[u8], &[u8]) {
    let Some((len, rest)) = rest.split_first_chunk::<2>() else {
        return (rest, &[]);
    };
    let len = usize::from(u16::from_le_bytes(*len)).min(rest.len());
    rest.split_at(len)
}

fn request(body: &[u8], bulk: &[u8]) {
    let kind = request_kind(body);
    let Ok(request) = decode_request(body, bulk.to_vec()) else {
        return;
    };
    assert_eq!(kind, Ok(request.kind()));
    let message = encode_request(&request).expect("a decoded request encodes");
    let again = decode_request(&message.body, message.bulk.to_vec()).expect("decodes again");
    assert_eq!(again, request);
    assert_eq!(encode_request(&again).expect("encodes"), message);
}

fn reply(body: &[u8], bulk: &[u8]) {
    let kind = reply_kind(body);
    let Ok(reply) = decode_reply(body, bulk.to_vec()) else {
        return;
    };
    assert_eq!(kind, Ok(reply.kind()));
    let message = encode_reply(&reply).expect("a decoded reply encodes");
    let again = decode_reply(&message.body, message.bulk.to_vec()).expect("decodes again");
    assert_eq!(again, reply);
    assert_eq!(encode_reply(&again).expect("encodes"), message);
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (body, bulk) = split(rest);
    if selector & 1 == 0 {
        request(body, bulk);
    } else {
        reply(body, bulk);
    }
});
