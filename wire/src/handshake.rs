//! The handshake that opens every peer connection, as two sans-IO state machines
//! (`Dialer`, `Listener`): frames in, frames out; randomness comes from the caller and
//! time is not needed (the link bounds how long a handshake may take).
//!
//! Both nodes hold the cluster secret, derived from the root credentials
//! (`ClusterSecret::derive`: HMAC-SHA256 keyed by the secret key over a fixed label and
//! the access key). The secret never travels; each side proves it knows it:
//!
//! ```text
//! dialer                                          listener
//!   Hello      c_d ─────────────────────────────►
//!              ◄──────────────────── c_l, proof_l  Challenge
//!   Proof      proof_d ─────────────────────────►
//!              ◄──────────────────────────────────  Welcome (or Refuse: reason)
//! ```
//!
//! Bodies (fixed length; any other length is refused as malformed):
//!
//! | frame     | body                                                   | bytes |
//! |-----------|--------------------------------------------------------|------:|
//! | Hello     | dialer challenge `c_d`                                 |    32 |
//! | Challenge | listener challenge `c_l`, then `proof_l`               |    64 |
//! | Proof     | `proof_d`                                              |    32 |
//! | Welcome   | the listener node's shard count (u32, little endian)   |     4 |
//! | Refuse    | `RefuseReason` code                                    |     1 |
//!
//! `proof = HMAC-SHA256(secret, PROOF_LABEL | deployment id (16) | c_d (32) | c_l (32) |
//! role (1) | frame kind (1))`. Both fresh challenges make a recorded proof useless in
//! another connection (no replay); the role and the frame kind make the listener's
//! proof useless as a dialer's (no reflection: a listener never computes a dialer's
//! proof, so an attacker cannot bounce a challenge to it and use the answer); the
//! deployment id makes a proof of one cluster useless in another that shares
//! credentials. Proofs are compared in constant time (`Mac::verify_slice`).
//!
//! The Hello's target shard names the core of the listener's node that the connection
//! is for (`Listener::target_shard`); the Welcome tells the dialer how many shards the
//! listener's node runs (`Dialer::peer_shards`, 1..=`SHARDS_MAX`), so it can send each
//! key's verbs to the key's owner shard there. Invariants: a machine is `established` only after
//! it verified the other side's proof; after any error it accepts no frame again.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::frame::{FrameHeader, FrameKind, FrameMeta, encode_frame_vec};

/// Bytes of a challenge (random, from the caller, fresh for every connection).
pub const CHALLENGE_BYTES: usize = 32;
/// Bytes of a proof (an HMAC-SHA256).
pub const PROOF_BYTES: usize = 32;
/// Bytes of a Welcome's body (the listener node's shard count).
pub const WELCOME_BYTES: usize = 4;
/// Most shards a node may announce (a route preamble names a shard in 16 bits).
pub const SHARDS_MAX: u32 = 1 << 16;
/// What the cluster secret is derived for; a new label gives a new secret.
const SECRET_LABEL: &[u8] = b"shoal peer cluster secret v1";
/// What a proof proves; never a prefix of `SECRET_LABEL`'s messages.
const PROOF_LABEL: &[u8] = b"shoal peer proof v1";

type HmacSha256 = Hmac<Sha256>;

/// The key both sides prove they hold. Never sent, logged or printed.
#[derive(Clone)]
pub struct ClusterSecret([u8; 32]);

impl ClusterSecret {
    /// The secret of the cluster whose root credentials these are.
    pub fn derive(access_key: &str, secret_key: &str) -> ClusterSecret {
        let mut mac = hmac(secret_key.as_bytes());
        mac.update(SECRET_LABEL);
        // Length-prefixed, so no two access keys give the same message.
        mac.update(&(access_key.len() as u64).to_le_bytes());
        mac.update(access_key.as_bytes());
        ClusterSecret(mac.finalize().into_bytes().into())
    }
}

impl std::fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterSecret(..)")
    }
}

/// Which end of the connection a proof speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Role {
    Dialer = 1,
    Listener = 2,
}

/// The two challenges of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Challenges {
    pub dialer: [u8; CHALLENGE_BYTES],
    pub listener: [u8; CHALLENGE_BYTES],
}

/// The proof that `role` knows `secret`, in frame `kind` of the connection with these
/// challenges in deployment `deployment_id`.
pub fn proof(
    secret: &ClusterSecret,
    deployment_id: &[u8; 16],
    challenges: &Challenges,
    role: Role,
    kind: FrameKind,
) -> [u8; PROOF_BYTES] {
    proof_mac(secret, deployment_id, challenges, role, kind)
        .finalize()
        .into_bytes()
        .into()
}

fn proof_mac(
    secret: &ClusterSecret,
    deployment_id: &[u8; 16],
    challenges: &Challenges,
    role: Role,
    kind: FrameKind,
) -> HmacSha256 {
    let mut mac = hmac(&secret.0);
    mac.update(PROOF_LABEL);
    mac.update(deployment_id);
    mac.update(&challenges.dialer);
    mac.update(&challenges.listener);
    mac.update(&[role as u8, kind as u8]);
    mac
}

/// Whether `claimed` is the proof expected, compared in constant time.
fn proof_matches(
    secret: &ClusterSecret,
    deployment_id: &[u8; 16],
    challenges: &Challenges,
    role: Role,
    kind: FrameKind,
    claimed: &[u8],
) -> bool {
    proof_mac(secret, deployment_id, challenges, role, kind)
        .verify_slice(claimed)
        .is_ok()
}

fn hmac(key: &[u8]) -> HmacSha256 {
    HmacSha256::new_from_slice(key).expect("HMAC takes a key of any length")
}

/// Why a handshake ended without a connection; the code travels in a Refuse frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefuseReason {
    WrongDeployment,
    WrongProof,
    UnexpectedFrame,
    Malformed,
    /// A code this version does not know (a newer peer's reason).
    Other(u8),
}

impl RefuseReason {
    pub fn code(self) -> u8 {
        match self {
            RefuseReason::WrongDeployment => 1,
            RefuseReason::WrongProof => 2,
            RefuseReason::UnexpectedFrame => 3,
            RefuseReason::Malformed => 4,
            RefuseReason::Other(code) => code,
        }
    }

    pub fn from_code(code: u8) -> RefuseReason {
        match code {
            1 => RefuseReason::WrongDeployment,
            2 => RefuseReason::WrongProof,
            3 => RefuseReason::UnexpectedFrame,
            4 => RefuseReason::Malformed,
            other => RefuseReason::Other(other),
        }
    }
}

/// Why a handshake failed. Each ends the connection; `reason` is what to tell the
/// other side (`refuse_frame`) before closing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeError {
    /// The other side is of another deployment.
    WrongDeployment { found: [u8; 16] },
    /// The other side's proof is not the one its secret would give: it does not hold
    /// the cluster secret (or replays or reflects a proof).
    WrongProof,
    /// A frame this side does not expect now (out of order, or after the end).
    Unexpected { kind: FrameKind },
    /// A handshake frame whose body has the wrong length.
    Malformed { kind: FrameKind },
    /// The other side refused the handshake.
    Refused { reason: RefuseReason },
}

impl HandshakeError {
    /// The reason a Refuse frame gives the other side for this failure; `None` when the
    /// other side refused first (nothing to tell it).
    pub fn reason(self) -> Option<RefuseReason> {
        match self {
            HandshakeError::WrongDeployment { .. } => Some(RefuseReason::WrongDeployment),
            HandshakeError::WrongProof => Some(RefuseReason::WrongProof),
            HandshakeError::Unexpected { .. } => Some(RefuseReason::UnexpectedFrame),
            HandshakeError::Malformed { .. } => Some(RefuseReason::Malformed),
            HandshakeError::Refused { .. } => None,
        }
    }
}

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HandshakeError::WrongDeployment { .. } => write!(f, "peer of another deployment"),
            HandshakeError::WrongProof => write!(f, "peer does not prove the cluster secret"),
            HandshakeError::Unexpected { kind } => write!(f, "unexpected {kind:?} frame"),
            HandshakeError::Malformed { kind } => write!(f, "malformed {kind:?} frame"),
            HandshakeError::Refused { reason } => write!(f, "peer refused: {reason:?}"),
        }
    }
}

impl std::error::Error for HandshakeError {}

/// What to do after a handshake frame was taken.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Send these bytes (one encoded frame), then wait for the next frame.
    Send(Vec<u8>),
    /// The other side is authenticated; send these bytes first if any.
    Established { send: Option<Vec<u8>> },
}

/// The frame that tells the other side why its handshake failed.
pub fn refuse_frame(deployment_id: [u8; 16], reason: RefuseReason) -> Vec<u8> {
    handshake_frame(FrameKind::Refuse, deployment_id, 0, &[reason.code()])
}

fn handshake_frame(
    kind: FrameKind,
    deployment_id: [u8; 16],
    target_shard: u32,
    body: &[u8],
) -> Vec<u8> {
    let mut meta = FrameMeta::new(kind, deployment_id);
    meta.target_shard = target_shard;
    encode_frame_vec(&meta, body, 0).expect("handshake frames are valid")
}

/// Checks what every handshake frame must be: this deployment's, of the kind expected
/// now, with a body of the kind's length. A Refuse is the other side's answer.
fn expect(
    header: &FrameHeader,
    body: &[u8],
    deployment_id: &[u8; 16],
    (kind, body_len_bytes): (FrameKind, usize),
) -> Result<(), HandshakeError> {
    if header.deployment_id != *deployment_id {
        return Err(HandshakeError::WrongDeployment {
            found: header.deployment_id,
        });
    }
    let wanted_len_bytes = match header.kind {
        FrameKind::Refuse => 1,
        found if found == kind => body_len_bytes,
        found => return Err(HandshakeError::Unexpected { kind: found }),
    };
    if body.len() != wanted_len_bytes || header.payload_len_bytes != 0 {
        return Err(HandshakeError::Malformed { kind: header.kind });
    }
    if header.kind == FrameKind::Refuse {
        return Err(HandshakeError::Refused {
            reason: RefuseReason::from_code(body[0]),
        });
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DialerState {
    Start,
    AwaitChallenge,
    AwaitWelcome,
    Established,
    Failed,
}

/// The side that opened the connection.
#[derive(Debug)]
pub struct Dialer {
    secret: ClusterSecret,
    deployment_id: [u8; 16],
    target_shard: u32,
    challenges: Challenges,
    state: DialerState,
    /// The listener node's shard count, from its Welcome.
    peer_shards: Option<u32>,
}

impl Dialer {
    /// A handshake to shard `target_shard` of a peer, with `challenge` fresh random
    /// bytes from the caller.
    pub fn new(
        secret: &ClusterSecret,
        deployment_id: [u8; 16],
        target_shard: u32,
        challenge: [u8; CHALLENGE_BYTES],
    ) -> Dialer {
        Dialer {
            secret: secret.clone(),
            deployment_id,
            target_shard,
            challenges: Challenges {
                dialer: challenge,
                listener: [0; CHALLENGE_BYTES],
            },
            state: DialerState::Start,
            peer_shards: None,
        }
    }

    /// The Hello frame that opens the handshake; called once, first.
    pub fn hello(&mut self) -> Vec<u8> {
        assert_eq!(self.state, DialerState::Start, "hello is sent once, first");
        self.state = DialerState::AwaitChallenge;
        handshake_frame(
            FrameKind::Hello,
            self.deployment_id,
            self.target_shard,
            &self.challenges.dialer,
        )
    }

    /// Takes the listener's next frame (decoded by the connection's `Decoder`).
    pub fn on_frame(&mut self, header: &FrameHeader, body: &[u8]) -> Result<Step, HandshakeError> {
        let step = match self.state {
            DialerState::AwaitChallenge => self.on_challenge(header, body),
            DialerState::AwaitWelcome => self.on_welcome(header, body),
            _ => Err(HandshakeError::Unexpected { kind: header.kind }),
        };
        if step.is_err() {
            self.state = DialerState::Failed;
        }
        step
    }

    /// Whether the listener proved the cluster secret and welcomed this side.
    pub fn is_established(&self) -> bool {
        self.state == DialerState::Established
    }

    /// How many shards the listener's node runs (known once established).
    pub fn peer_shards(&self) -> Option<u32> {
        self.peer_shards
    }

    fn on_challenge(&mut self, header: &FrameHeader, body: &[u8]) -> Result<Step, HandshakeError> {
        let wanted = (FrameKind::Challenge, CHALLENGE_BYTES + PROOF_BYTES);
        expect(header, body, &self.deployment_id, wanted)?;
        let (challenge, claimed) = body.split_at(CHALLENGE_BYTES);
        self.challenges.listener.copy_from_slice(challenge);
        let (secret, deployment_id) = (&self.secret, &self.deployment_id);
        let role = Role::Listener;
        if !proof_matches(
            secret,
            deployment_id,
            &self.challenges,
            role,
            FrameKind::Challenge,
            claimed,
        ) {
            return Err(HandshakeError::WrongProof);
        }
        let ours = proof(
            secret,
            deployment_id,
            &self.challenges,
            Role::Dialer,
            FrameKind::Proof,
        );
        self.state = DialerState::AwaitWelcome;
        Ok(Step::Send(handshake_frame(
            FrameKind::Proof,
            self.deployment_id,
            0,
            &ours,
        )))
    }

    fn on_welcome(&mut self, header: &FrameHeader, body: &[u8]) -> Result<Step, HandshakeError> {
        expect(
            header,
            body,
            &self.deployment_id,
            (FrameKind::Welcome, WELCOME_BYTES),
        )?;
        let shards = u32::from_le_bytes(body.try_into().expect("length checked"));
        if shards == 0 || shards > SHARDS_MAX {
            return Err(HandshakeError::Malformed { kind: header.kind });
        }
        self.peer_shards = Some(shards);
        self.state = DialerState::Established;
        Ok(Step::Established { send: None })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListenerState {
    AwaitHello,
    AwaitProof,
    Established,
    Failed,
}

/// The side that accepted the connection.
#[derive(Debug)]
pub struct Listener {
    secret: ClusterSecret,
    deployment_id: [u8; 16],
    challenges: Challenges,
    target_shard: Option<u32>,
    state: ListenerState,
    /// This node's shard count, told in the Welcome.
    shards: u32,
}

impl Listener {
    /// A handshake on an accepted connection of a node running `shards` shards (at
    /// least 1, at most `SHARDS_MAX`: clamped), with `challenge` fresh random bytes from
    /// the caller.
    pub fn new(
        secret: &ClusterSecret,
        deployment_id: [u8; 16],
        challenge: [u8; CHALLENGE_BYTES],
        shards: u32,
    ) -> Listener {
        Listener {
            secret: secret.clone(),
            deployment_id,
            challenges: Challenges {
                dialer: [0; CHALLENGE_BYTES],
                listener: challenge,
            },
            target_shard: None,
            state: ListenerState::AwaitHello,
            shards: shards.clamp(1, SHARDS_MAX),
        }
    }

    /// Takes the dialer's next frame (decoded by the connection's `Decoder`).
    pub fn on_frame(&mut self, header: &FrameHeader, body: &[u8]) -> Result<Step, HandshakeError> {
        let step = match self.state {
            ListenerState::AwaitHello => self.on_hello(header, body),
            ListenerState::AwaitProof => self.on_proof(header, body),
            _ => Err(HandshakeError::Unexpected { kind: header.kind }),
        };
        if step.is_err() {
            self.state = ListenerState::Failed;
        }
        step
    }

    /// Whether the dialer proved the cluster secret.
    pub fn is_established(&self) -> bool {
        self.state == ListenerState::Established
    }

    /// The shard of this node the dialer asked for (known once its Hello arrived).
    pub fn target_shard(&self) -> Option<u32> {
        self.target_shard
    }

    fn on_hello(&mut self, header: &FrameHeader, body: &[u8]) -> Result<Step, HandshakeError> {
        expect(
            header,
            body,
            &self.deployment_id,
            (FrameKind::Hello, CHALLENGE_BYTES),
        )?;
        self.challenges.dialer.copy_from_slice(body);
        self.target_shard = Some(header.target_shard);
        let ours = proof(
            &self.secret,
            &self.deployment_id,
            &self.challenges,
            Role::Listener,
            FrameKind::Challenge,
        );
        let mut reply = [0u8; CHALLENGE_BYTES + PROOF_BYTES];
        reply[..CHALLENGE_BYTES].copy_from_slice(&self.challenges.listener);
        reply[CHALLENGE_BYTES..].copy_from_slice(&ours);
        self.state = ListenerState::AwaitProof;
        Ok(Step::Send(handshake_frame(
            FrameKind::Challenge,
            self.deployment_id,
            0,
            &reply,
        )))
    }

    fn on_proof(&mut self, header: &FrameHeader, body: &[u8]) -> Result<Step, HandshakeError> {
        expect(
            header,
            body,
            &self.deployment_id,
            (FrameKind::Proof, PROOF_BYTES),
        )?;
        let (secret, deployment_id) = (&self.secret, &self.deployment_id);
        if !proof_matches(
            secret,
            deployment_id,
            &self.challenges,
            Role::Dialer,
            FrameKind::Proof,
            body,
        ) {
            return Err(HandshakeError::WrongProof);
        }
        self.state = ListenerState::Established;
        let shards = self.shards.to_le_bytes();
        let welcome = handshake_frame(FrameKind::Welcome, self.deployment_id, 0, &shards);
        Ok(Step::Established {
            send: Some(welcome),
        })
    }
}
