//! The peer handshake (`shoal_wire::handshake`) against an attacker who does not hold
//! the cluster secret: alone (any frames, sent to a listener and to a dialer), or in
//! the middle of an honest handshake (frames passed, corrupted or replaced).
//!
//! Input: one mode byte, then the attack. Mode bit 0: 0 = attacker alone, the rest of
//! the input a stream of frames (checksums made right, `wire_common.rs`); 1 = man in
//! the middle, the rest: two challenge seeds, then per honest frame one operation byte
//! (0 passes it; otherwise xor its byte at the next input byte's position with it, and
//! make checksums right again when odd). Mode bit 1: the two nodes' secrets differ.
//! Mode bit 2: the two nodes' deployments differ.
//!
//! Beyond "no panic": no side is established without the secret (the lone attacker
//! never; nodes with different secrets or deployments never), and an untouched
//! handshake between nodes with the same secret always establishes both.
#![no_main]

#[path = "wire_common.rs"]
mod wire_common;

use libfuzzer_sys::fuzz_target;
use shoal_wire::decoder::{Decoded, Decoder, Event};
use shoal_wire::frame::FrameHeader;
use shoal_wire::handshake::{ClusterSecret, Dialer, HandshakeError, Listener, Step};

const DEPLOYMENT_ID: [u8; 16] = *b"fuzz-deployment!";
const OTHER_DEPLOYMENT_ID: [u8; 16] = *b"fuzz-deployment?";
const ACCESS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
/// Frames an attacker may send in one run.
const FRAMES_MAX: usize = 64;

/// Every whole frame of `stream` for a connection of `deployment_id`, until a refusal.
fn frames(stream: &[u8], deployment_id: [u8; 16]) -> Vec<(FrameHeader, Vec<u8>)> {
    let mut decoder = Decoder::new(deployment_id);
    let mut out = Vec::new();
    let mut pending = None;
    let mut rest = stream;
    while out.len() < FRAMES_MAX {
        let Ok(Decoded {
            consumed_bytes,
            event,
        }) = decoder.decode(rest)
        else {
            break;
        };
        rest = &rest[consumed_bytes..];
        match event {
            Event::NeedMore => break,
            Event::Header(header) => pending = Some(header),
            Event::Body(body) => out.push((pending.take().expect("header first"), body.to_vec())),
            Event::Payload { remaining_bytes } => {
                let taken = rest.len().min(remaining_bytes as usize);
                if taken == 0 {
                    break;
                }
                decoder.payload_read(taken);
                rest = &rest[taken..];
            }
        }
    }
    out
}

fn attacker_alone(stream: &[u8]) {
    let mut stream = stream.to_vec();
    wire_common::repair_checksums(&mut stream);
    let secret = ClusterSecret::derive(ACCESS_KEY, SECRET_KEY);
    let mut listener = Listener::new(&secret, DEPLOYMENT_ID, [7; 32], 4);
    let mut dialer = Dialer::new(&secret, DEPLOYMENT_ID, 0, [9; 32]);
    dialer.hello();
    for (header, body) in frames(&stream, DEPLOYMENT_ID) {
        let _ = listener.on_frame(&header, &body);
        let _ = dialer.on_frame(&header, &body);
        assert!(
            !listener.is_established(),
            "a listener accepted a forged proof"
        );
        assert!(!dialer.is_established(), "a dialer accepted a forged proof");
    }
}

/// The attacker's hand on one frame in flight; whether it changed a byte.
fn tamper(frame: &mut Vec<u8>, ops: &mut impl Iterator<Item = u8>) -> bool {
    let op = ops.next().unwrap_or(0);
    if op == 0 || frame.is_empty() {
        return false;
    }
    let at = ops.next().unwrap_or(0) as usize % frame.len();
    frame[at] ^= op;
    if op & 1 == 1 {
        wire_common::repair_checksums(frame);
    }
    true
}

/// Delivers one frame's bytes: decoded by the receiver's connection, then taken by its
/// machine. `None` when the frame or the handshake was refused.
fn deliver(
    bytes: &[u8],
    deployment_id: [u8; 16],
    take: impl FnOnce(&FrameHeader, &[u8]) -> Result<Step, HandshakeError>,
) -> Option<Step> {
    let (header, body) = frames(bytes, deployment_id).into_iter().next()?;
    take(&header, &body).ok()
}

fn step_bytes(step: Step) -> Option<Vec<u8>> {
    match step {
        Step::Send(bytes) | Step::Established { send: Some(bytes) } => Some(bytes),
        Step::Established { send: None } => None,
    }
}

fn man_in_the_middle(mode: u8, input: &[u8]) {
    let mut input = input.iter().copied();
    let same_secret = mode & 2 == 0;
    let same_deployment = mode & 4 == 0;
    let ours = ClusterSecret::derive(ACCESS_KEY, SECRET_KEY);
    let theirs = if same_secret {
        ours.clone()
    } else {
        ClusterSecret::derive(ACCESS_KEY, "other")
    };
    let dialer_deployment = if same_deployment {
        DEPLOYMENT_ID
    } else {
        OTHER_DEPLOYMENT_ID
    };
    let (seed_d, seed_l) = (input.next().unwrap_or(1), input.next().unwrap_or(2));
    let mut dialer = Dialer::new(&theirs, dialer_deployment, 0, [seed_d; 32]);
    let mut listener = Listener::new(&ours, DEPLOYMENT_ID, [seed_l; 32], 4);
    let mut tampered = false;

    let mut frame = dialer.hello();
    // Hello, Challenge, Proof, Welcome: the listener takes even steps, the dialer odd.
    for step in 0..4 {
        tampered |= tamper(&mut frame, &mut input);
        let next = if step % 2 == 0 {
            deliver(&frame, DEPLOYMENT_ID, |h, b| listener.on_frame(h, b))
        } else {
            deliver(&frame, dialer_deployment, |h, b| dialer.on_frame(h, b))
        };
        match next.and_then(step_bytes) {
            Some(bytes) => frame = bytes,
            None => break,
        }
    }
    if !same_secret || !same_deployment {
        assert!(
            !listener.is_established() && !dialer.is_established(),
            "established without the secret"
        );
    } else if !tampered {
        assert!(
            listener.is_established() && dialer.is_established(),
            "an honest handshake failed"
        );
        assert_eq!(
            dialer.peer_shards(),
            Some(4),
            "the Welcome told the shard count"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        attacker_alone(rest);
    } else {
        man_in_the_middle(mode, rest);
    }
});
