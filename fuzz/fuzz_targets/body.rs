//! Request bodies: Content-Length, HTTP chunked (with trailers), and aws-chunked in
//! every payload mode (signed chunks, signed and unsigned trailers), fed as a server
//! feeds them: in reads of input-chosen sizes, the unconsumed rest kept for the next.
//!
//! Input: one byte choosing the payload mode, one choosing the read size, then a
//! request head and the body bytes after it.
//!
//! Beyond "no panic": `feed` never consumes more than it was given, has never handed
//! out more payload than it consumed in all, and once `done` consumes nothing more.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shoal_http::sigv4::ChunkSigning;
use shoal_http::{BodyDecoder, HeadParser, HeadStatus, PayloadMode};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
/// The seed signature of AWS's aws-chunked example (2013-05-24, us-east-1).
const SEED_SIGNATURE_HEX: &str = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
const FEEDS_MAX: usize = 100_000;

fn payload_mode(selector: u8) -> PayloadMode {
    let mut seed = [0u8; 32];
    for (i, byte) in seed.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&SEED_SIGNATURE_HEX[i * 2..i * 2 + 2], 16).unwrap_or(0);
    }
    let signing =
        || ChunkSigning::new(SECRET, "20130524T000000Z", "us-east-1", seed).expect("valid date");
    match selector % 5 {
        0 => PayloadMode::Unsigned,
        1 => PayloadMode::Sha256([0; 32]),
        2 => PayloadMode::StreamingSigned {
            signing: signing(),
            trailer: false,
        },
        3 => PayloadMode::StreamingSigned {
            signing: signing(),
            trailer: true,
        },
        _ => PayloadMode::StreamingUnsignedTrailer,
    }
}

fuzz_target!(|data: &[u8]| {
    let [mode, read_size, wire @ ..] = data else {
        return;
    };
    let Ok(HeadStatus::Complete {
        head,
        consumed_bytes,
    }) = HeadParser::new().parse(wire)
    else {
        return;
    };
    let Ok(mut decoder) = BodyDecoder::new(&head, &payload_mode(*mode)) else {
        return;
    };
    let mut socket = wire[consumed_bytes..].chunks(usize::from(*read_size).max(1));
    let mut buffer: Vec<u8> = Vec::new();
    let (mut payload_bytes, mut consumed_bytes) = (0, 0);
    for _ in 0..FEEDS_MAX {
        let Ok(progress) = decoder.feed(&buffer, |p| payload_bytes += p.len()) else {
            return;
        };
        assert!(progress.consumed_bytes <= buffer.len());
        consumed_bytes += progress.consumed_bytes;
        assert!(payload_bytes <= consumed_bytes);
        buffer.drain(..progress.consumed_bytes);
        if progress.done {
            let after = decoder.feed(&buffer, |_| panic!("payload after done"));
            assert_eq!(after.map(|p| p.consumed_bytes).ok(), Some(0));
            return;
        }
        match socket.next() {
            Some(read) => buffer.extend_from_slice(read),
            None if progress.consumed_bytes == 0 => return,
            None => {}
        }
    }
});
