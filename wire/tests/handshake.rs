//! The handshake as two nodes meet it, every frame going through the encoder and a
//! connection's `Decoder`: peers holding the cluster secret connect; a wrong secret, a
//! wrong deployment, a replayed or reflected proof, and frames out of order are refused
//! with their reason.

use shoal_wire::decoder::{Decoded, Decoder, Event};
use shoal_wire::frame::{FrameError, FrameHeader, FrameKind, FrameMeta, encode_frame_vec};
use shoal_wire::handshake::{
    CHALLENGE_BYTES, Challenges, ClusterSecret, Dialer, HandshakeError, Listener, RefuseReason,
    Role, SHARDS_MAX, Step, proof, refuse_frame,
};

const DEPLOYMENT_ID: [u8; 16] = *b"test-deployment!";
const OTHER_DEPLOYMENT_ID: [u8; 16] = *b"other-deployment";
const ACCESS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

fn secret() -> ClusterSecret {
    ClusterSecret::derive(ACCESS_KEY, SECRET_KEY)
}

fn challenge(seed: u8) -> [u8; CHALLENGE_BYTES] {
    std::array::from_fn(|i| seed.wrapping_mul(31).wrapping_add(i as u8))
}

/// One frame's bytes decoded as the receiving connection does (`deployment_id`'s).
fn receive(bytes: &[u8], deployment_id: [u8; 16]) -> Result<(FrameHeader, Vec<u8>), FrameError> {
    let mut decoder = Decoder::new(deployment_id);
    let Decoded {
        consumed_bytes,
        event: Event::Header(header),
    } = decoder.decode(bytes)?
    else {
        panic!("a whole frame yields its header first");
    };
    let Decoded {
        event: Event::Body(body),
        ..
    } = decoder.decode(&bytes[consumed_bytes..])?
    else {
        panic!("then its body");
    };
    Ok((header, body.to_vec()))
}

fn to_listener(listener: &mut Listener, bytes: &[u8]) -> Result<Step, HandshakeError> {
    let (header, body) = receive(bytes, DEPLOYMENT_ID).expect("a valid frame");
    listener.on_frame(&header, &body)
}

fn to_dialer(dialer: &mut Dialer, bytes: &[u8]) -> Result<Step, HandshakeError> {
    let (header, body) = receive(bytes, DEPLOYMENT_ID).expect("a valid frame");
    dialer.on_frame(&header, &body)
}

fn sent(step: Result<Step, HandshakeError>) -> Vec<u8> {
    match step {
        Ok(Step::Send(bytes) | Step::Established { send: Some(bytes) }) => bytes,
        other => panic!("expected a frame to send, got {other:?}"),
    }
}

/// The frames of one honest handshake: Hello, Challenge, Proof, Welcome.
fn honest_frames(dialer_seed: u8, listener_seed: u8) -> [Vec<u8>; 4] {
    let mut dialer = Dialer::new(&secret(), DEPLOYMENT_ID, 0, challenge(dialer_seed));
    let mut listener = Listener::new(&secret(), DEPLOYMENT_ID, challenge(listener_seed), 3);
    let hello = dialer.hello();
    let challenge_frame = sent(to_listener(&mut listener, &hello));
    let proof_frame = sent(to_dialer(&mut dialer, &challenge_frame));
    let welcome = sent(to_listener(&mut listener, &proof_frame));
    [hello, challenge_frame, proof_frame, welcome]
}

fn frame(kind: FrameKind, body: &[u8]) -> Vec<u8> {
    encode_frame_vec(&FrameMeta::new(kind, DEPLOYMENT_ID), body, 0).unwrap()
}

/// Two nodes with the same credentials authenticate each other; each side is
/// established only once it verified the other's proof.
#[test]
fn peers_with_the_cluster_secret_connect() {
    let mut dialer = Dialer::new(&secret(), DEPLOYMENT_ID, 7, challenge(1));
    let mut listener = Listener::new(&secret(), DEPLOYMENT_ID, challenge(2), 3);
    let hello = dialer.hello();
    let challenge_frame = sent(to_listener(&mut listener, &hello));
    assert_eq!(listener.target_shard(), Some(7));
    assert!(!listener.is_established());
    let proof_frame = sent(to_dialer(&mut dialer, &challenge_frame));
    assert!(!dialer.is_established(), "not before the Welcome");
    let step = to_listener(&mut listener, &proof_frame);
    assert!(listener.is_established());
    let welcome = sent(step);
    assert_eq!(
        to_dialer(&mut dialer, &welcome),
        Ok(Step::Established { send: None })
    );
    assert!(dialer.is_established());
    assert_eq!(
        dialer.peer_shards(),
        Some(3),
        "the Welcome tells the shard count"
    );
}

/// A Welcome that announces no shards, or more than a route can name, is malformed:
/// the dialer could not route by it.
#[test]
fn a_welcome_without_a_usable_shard_count_is_refused() {
    for shards in [0, SHARDS_MAX + 1] {
        let mut dialer = Dialer::new(&secret(), DEPLOYMENT_ID, 0, challenge(1));
        let mut listener = Listener::new(&secret(), DEPLOYMENT_ID, challenge(2), 3);
        let challenge_frame = sent(to_listener(&mut listener, &dialer.hello()));
        sent(to_dialer(&mut dialer, &challenge_frame));
        let welcome = frame(FrameKind::Welcome, &shards.to_le_bytes());
        assert_eq!(
            to_dialer(&mut dialer, &welcome),
            Err(HandshakeError::Malformed {
                kind: FrameKind::Welcome
            })
        );
        assert!(!dialer.is_established() && dialer.peer_shards().is_none());
    }
    // A listener asked to announce none says one (every node runs at least one).
    let mut dialer = Dialer::new(&secret(), DEPLOYMENT_ID, 0, challenge(1));
    let mut listener = Listener::new(&secret(), DEPLOYMENT_ID, challenge(2), 0);
    let challenge_frame = sent(to_listener(&mut listener, &dialer.hello()));
    let proof_frame = sent(to_dialer(&mut dialer, &challenge_frame));
    let welcome = sent(to_listener(&mut listener, &proof_frame));
    to_dialer(&mut dialer, &welcome).unwrap();
    assert_eq!(dialer.peer_shards(), Some(1));
}

/// A dialer with other credentials refuses the listener's proof, and a proof made with
/// another secret is refused by the listener; the Refuse frame tells the dialer why.
#[test]
fn a_wrong_secret_is_refused_by_both_sides() {
    let wrong = ClusterSecret::derive(ACCESS_KEY, "not the secret key");
    let mut dialer = Dialer::new(&wrong, DEPLOYMENT_ID, 0, challenge(1));
    let mut listener = Listener::new(&secret(), DEPLOYMENT_ID, challenge(2), 3);
    let challenge_frame = sent(to_listener(&mut listener, &dialer.hello()));
    assert_eq!(
        to_dialer(&mut dialer, &challenge_frame),
        Err(HandshakeError::WrongProof)
    );
    assert!(!dialer.is_established());

    // A dialer that ignores the listener's proof and answers with the wrong secret.
    let challenges = Challenges {
        dialer: challenge(1),
        listener: challenge(2),
    };
    let forged = proof(
        &wrong,
        &DEPLOYMENT_ID,
        &challenges,
        Role::Dialer,
        FrameKind::Proof,
    );
    let refusal = to_listener(&mut listener, &frame(FrameKind::Proof, &forged));
    assert_eq!(refusal, Err(HandshakeError::WrongProof));
    assert!(!listener.is_established());

    let mut dialer = Dialer::new(&wrong, DEPLOYMENT_ID, 0, challenge(1));
    dialer.hello();
    let reason = refusal.unwrap_err().reason().unwrap();
    let told = to_dialer(&mut dialer, &refuse_frame(DEPLOYMENT_ID, reason));
    assert_eq!(
        told,
        Err(HandshakeError::Refused {
            reason: RefuseReason::WrongProof
        })
    );
}

/// Another access key gives another secret, and so a refused proof.
#[test]
fn another_access_key_is_another_secret() {
    let wrong = ClusterSecret::derive("AKIAOTHERACCESSKEY00", SECRET_KEY);
    let mut dialer = Dialer::new(&wrong, DEPLOYMENT_ID, 0, challenge(1));
    let mut listener = Listener::new(&secret(), DEPLOYMENT_ID, challenge(2), 3);
    let challenge_frame = sent(to_listener(&mut listener, &dialer.hello()));
    assert_eq!(
        to_dialer(&mut dialer, &challenge_frame),
        Err(HandshakeError::WrongProof)
    );
}

/// A node of another deployment is refused: by the connection's decoder, and by the
/// handshake itself for a frame that reached it another way.
#[test]
fn another_deployment_is_refused() {
    let mut dialer = Dialer::new(&secret(), OTHER_DEPLOYMENT_ID, 0, challenge(1));
    let hello = dialer.hello();
    assert_eq!(
        receive(&hello, DEPLOYMENT_ID),
        Err(FrameError::WrongDeployment {
            found: OTHER_DEPLOYMENT_ID
        })
    );
    let (header, body) = receive(&hello, OTHER_DEPLOYMENT_ID).unwrap();
    let mut listener = Listener::new(&secret(), DEPLOYMENT_ID, challenge(2), 3);
    assert_eq!(
        listener.on_frame(&header, &body),
        Err(HandshakeError::WrongDeployment {
            found: OTHER_DEPLOYMENT_ID
        })
    );
    assert_eq!(listener.target_shard(), None);
}

/// A proof recorded from one connection is refused in another: the listener's fresh
/// challenge is in every proof, and so is the dialer's.
#[test]
fn a_replayed_proof_is_refused() {
    let [hello, challenge_frame, proof_frame, _] = honest_frames(1, 2);
    let mut listener = Listener::new(&secret(), DEPLOYMENT_ID, challenge(3), 3);
    sent(to_listener(&mut listener, &hello));
    assert_eq!(
        to_listener(&mut listener, &proof_frame),
        Err(HandshakeError::WrongProof)
    );

    let mut dialer = Dialer::new(&secret(), DEPLOYMENT_ID, 0, challenge(4));
    dialer.hello();
    assert_eq!(
        to_dialer(&mut dialer, &challenge_frame),
        Err(HandshakeError::WrongProof)
    );
}

/// The listener's own proof sent back to it as the dialer's is refused, and so is a
/// dialer's proof presented to a dialer as a listener's (the role and kind differ).
#[test]
fn a_reflected_proof_is_refused() {
    let mut dialer = Dialer::new(&secret(), DEPLOYMENT_ID, 0, challenge(1));
    let mut listener = Listener::new(&secret(), DEPLOYMENT_ID, challenge(2), 3);
    let challenge_frame = sent(to_listener(&mut listener, &dialer.hello()));
    let (_, body) = receive(&challenge_frame, DEPLOYMENT_ID).unwrap();
    let listener_proof = &body[CHALLENGE_BYTES..];
    let reflected = to_listener(&mut listener, &frame(FrameKind::Proof, listener_proof));
    assert_eq!(reflected, Err(HandshakeError::WrongProof));

    // A Challenge carrying the proof a dialer would give for the same challenges.
    let challenges = Challenges {
        dialer: challenge(1),
        listener: challenge(2),
    };
    let dialer_proof = proof(
        &secret(),
        &DEPLOYMENT_ID,
        &challenges,
        Role::Dialer,
        FrameKind::Proof,
    );
    let mut body = challenge(2).to_vec();
    body.extend_from_slice(&dialer_proof);
    let reflected = to_dialer(&mut dialer, &frame(FrameKind::Challenge, &body));
    assert_eq!(reflected, Err(HandshakeError::WrongProof));
}

/// Frames out of order are refused, and a machine that failed or finished accepts
/// nothing more.
#[test]
fn frames_out_of_order_are_refused() {
    let [hello, challenge_frame, proof_frame, welcome] = honest_frames(1, 2);
    let unexpected = |kind| Err(HandshakeError::Unexpected { kind });

    let mut listener = Listener::new(&secret(), DEPLOYMENT_ID, challenge(2), 3);
    assert_eq!(
        to_listener(&mut listener, &proof_frame),
        unexpected(FrameKind::Proof)
    );
    assert_eq!(
        to_listener(&mut listener, &hello),
        unexpected(FrameKind::Hello),
        "failed stays failed"
    );

    let mut listener = Listener::new(&secret(), DEPLOYMENT_ID, challenge(2), 3);
    sent(to_listener(&mut listener, &hello));
    assert_eq!(
        to_listener(&mut listener, &hello),
        unexpected(FrameKind::Hello)
    );

    let mut request = FrameMeta::new(FrameKind::Request, DEPLOYMENT_ID);
    request.deadline_ms = 100;
    let request = encode_frame_vec(&request, b"verb", 0).unwrap();
    let mut listener = Listener::new(&secret(), DEPLOYMENT_ID, challenge(2), 3);
    assert_eq!(
        to_listener(&mut listener, &request),
        unexpected(FrameKind::Request)
    );

    let mut dialer = Dialer::new(&secret(), DEPLOYMENT_ID, 0, challenge(1));
    assert_eq!(
        to_dialer(&mut dialer, &challenge_frame),
        unexpected(FrameKind::Challenge),
        "before hello"
    );
    let mut dialer = Dialer::new(&secret(), DEPLOYMENT_ID, 0, challenge(1));
    dialer.hello();
    assert_eq!(
        to_dialer(&mut dialer, &welcome),
        unexpected(FrameKind::Welcome)
    );

    let mut dialer = Dialer::new(&secret(), DEPLOYMENT_ID, 0, challenge(1));
    let mut listener = Listener::new(&secret(), DEPLOYMENT_ID, challenge(2), 3);
    let challenge_frame = sent(to_listener(&mut listener, &dialer.hello()));
    let proof_frame = sent(to_dialer(&mut dialer, &challenge_frame));
    let welcome = sent(to_listener(&mut listener, &proof_frame));
    to_dialer(&mut dialer, &welcome).unwrap();
    assert!(dialer.is_established() && listener.is_established());
    // A handshake frame after the end is a broken peer: the connection must close.
    assert_eq!(
        to_listener(&mut listener, &proof_frame),
        unexpected(FrameKind::Proof)
    );
    assert_eq!(
        to_dialer(&mut dialer, &welcome),
        unexpected(FrameKind::Welcome)
    );
    assert!(!dialer.is_established() && !listener.is_established());
}

/// A handshake frame whose body has the wrong length is refused as malformed.
#[test]
fn malformed_bodies_are_refused() {
    let mut listener = Listener::new(&secret(), DEPLOYMENT_ID, challenge(2), 3);
    let short = frame(FrameKind::Hello, &[0; CHALLENGE_BYTES - 1]);
    assert_eq!(
        to_listener(&mut listener, &short),
        Err(HandshakeError::Malformed {
            kind: FrameKind::Hello
        })
    );
    let mut dialer = Dialer::new(&secret(), DEPLOYMENT_ID, 0, challenge(1));
    dialer.hello();
    let refuse = frame(FrameKind::Refuse, &[1, 2]);
    assert_eq!(
        to_dialer(&mut dialer, &refuse),
        Err(HandshakeError::Malformed {
            kind: FrameKind::Refuse
        })
    );
}

/// Every refusal reason survives the trip in a Refuse frame; a code from a newer peer
/// is kept as it is.
#[test]
fn refuse_reasons_travel() {
    let errors = [
        HandshakeError::WrongDeployment {
            found: OTHER_DEPLOYMENT_ID,
        },
        HandshakeError::WrongProof,
        HandshakeError::Unexpected {
            kind: FrameKind::Ping,
        },
        HandshakeError::Malformed {
            kind: FrameKind::Hello,
        },
    ];
    for error in errors {
        let reason = error.reason().unwrap();
        let mut listener = Listener::new(&secret(), DEPLOYMENT_ID, challenge(2), 3);
        let told = to_listener(&mut listener, &refuse_frame(DEPLOYMENT_ID, reason));
        assert_eq!(told, Err(HandshakeError::Refused { reason }));
    }
    assert_eq!(RefuseReason::from_code(200), RefuseReason::Other(200));
    assert_eq!(RefuseReason::Other(200).code(), 200);
    assert_eq!(
        HandshakeError::Refused {
            reason: RefuseReason::WrongProof
        }
        .reason(),
        None
    );
}

/// The derivation of the secret and the proof are frozen (nodes of different builds
/// must agree): golden values computed independently with Python's hmac module.
#[test]
fn secret_and_proofs_are_frozen() {
    let challenges = Challenges {
        dialer: std::array::from_fn(|i| i as u8),
        listener: std::array::from_fn(|i| 32 + i as u8),
    };
    let dialer = proof(
        &secret(),
        &DEPLOYMENT_ID,
        &challenges,
        Role::Dialer,
        FrameKind::Proof,
    );
    let listener = proof(
        &secret(),
        &DEPLOYMENT_ID,
        &challenges,
        Role::Listener,
        FrameKind::Challenge,
    );
    assert_eq!(
        hex(&dialer),
        "37c04249e774e2007ce7161d4e087b76a9f042629614588953639d80c928d233"
    );
    assert_eq!(
        hex(&listener),
        "316fa4a65c40a2768b17673cf8a8364adeef255b88631f0a093049e34cba4640"
    );
}

/// The secret is never printed.
#[test]
fn the_secret_does_not_print() {
    assert_eq!(format!("{:?}", secret()), "ClusterSecret(..)");
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut out, b| {
        write!(out, "{b:02x}").unwrap();
        out
    })
}

/// The handshake seed of the fuzz corpus, computed by `fuzz/make_seeds.py` with
/// Python's hmac from the description in `handshake.rs`, is what this code computes:
/// a dialer given its Challenge answers with exactly its Proof frame.
#[test]
fn an_independent_implementation_agrees() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fuzz/corpus/wire_frame/handshake"
    );
    let seed = std::fs::read(path).expect("seed written by make_seeds.py");
    let deployment_id = *b"fuzz-deployment!";
    let mut decoder = Decoder::new(deployment_id);
    let mut frames = Vec::new();
    let mut rest = &seed[1..];
    while !rest.is_empty() {
        let start = rest;
        let Decoded {
            consumed_bytes,
            event: Event::Header(header),
        } = decoder.decode(rest).unwrap()
        else {
            panic!("a header");
        };
        rest = &rest[consumed_bytes..];
        let Decoded {
            consumed_bytes,
            event: Event::Body(body),
        } = decoder.decode(rest).unwrap()
        else {
            panic!("a body");
        };
        let body = body.to_vec();
        rest = &rest[consumed_bytes..];
        frames.push((header, body, start[..start.len() - rest.len()].to_vec()));
    }
    let [
        _,
        (challenge_header, challenge_body, _),
        (_, _, proof_bytes),
        _,
    ] = frames.as_slice()
    else {
        panic!("four frames");
    };
    let mut dialer = Dialer::new(&secret(), deployment_id, 3, [1; CHALLENGE_BYTES]);
    assert_eq!(dialer.hello(), frames[0].2);
    let answer = dialer.on_frame(challenge_header, challenge_body);
    assert_eq!(answer, Ok(Step::Send(proof_bytes.clone())));
}
