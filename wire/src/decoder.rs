//! `Decoder`: frames out of a byte stream fed in pieces as they arrive, any split (one
//! byte at a time included), sans-IO.
//!
//! For each frame it yields, in order: `Event::Header` once the 80 header bytes are in
//! and checked (magic, version, checksum, reserved bytes, kind, flags, limits, this
//! connection's deployment) — no byte past the header is consumed before that; then
//! `Event::Body` with the whole body once its checksum matched (held in a buffer grown
//! to the largest body announced so far, at most `BODY_MAX_BYTES`, so a connection that
//! sent only small frames, such as a handshake's, holds only their size); then, while payload bytes remain,
//! `Event::Payload` with how many: the caller moves them itself (from the bytes it
//! already holds, or straight from the socket into its own aligned buffer) and says how
//! many it took with `payload_read`. The decoder never buffers or copies payload. Then
//! the next frame.
//!
//! Invariants: at most `FRAME_HEADER_BYTES + BODY_MAX_BYTES` bytes are ever held; once
//! a frame is refused the decoder answers that refusal forever (a stream whose framing
//! is in doubt cannot be resynchronised: the connection must close); the events do not
//! depend on how the stream was split.

use crate::frame::{FRAME_HEADER_BYTES, FrameError, FrameHeader, body_checksum};

/// What the decoder found in the bytes it was given.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// Every byte given was taken and no event is complete: feed more.
    NeedMore,
    /// A checked header; its body comes next (`Event::Body`, also when empty).
    Header(FrameHeader),
    /// The whole body of the last header, its checksum matched.
    Body(&'a [u8]),
    /// This many payload bytes of the current frame are still to come: the caller takes
    /// them itself and reports each piece with `payload_read`. Nothing was consumed.
    Payload { remaining_bytes: u32 },
}

/// One step of decoding: how many input bytes were taken, and what they completed.
#[derive(Debug, PartialEq, Eq)]
pub struct Decoded<'a> {
    pub consumed_bytes: usize,
    pub event: Event<'a>,
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// Gathering header bytes (`header_have` of them so far).
    Header,
    /// Gathering the body of this header.
    Body(FrameHeader),
    /// The caller is taking this many payload bytes.
    Payload { remaining_bytes: u32 },
}

/// The receiving side of one connection's frames.
pub struct Decoder {
    deployment_id: [u8; 16],
    state: State,
    header_bytes: [u8; FRAME_HEADER_BYTES],
    header_have: usize,
    body: Vec<u8>,
    refused: Option<FrameError>,
}

impl Decoder {
    /// A decoder for a connection of deployment `deployment_id`: frames naming another
    /// are refused (`FrameError::WrongDeployment`).
    pub fn new(deployment_id: [u8; 16]) -> Decoder {
        Decoder {
            deployment_id,
            state: State::Header,
            header_bytes: [0; FRAME_HEADER_BYTES],
            header_have: 0,
            body: Vec::new(),
            refused: None,
        }
    }

    /// Takes what it can of `input` (a prefix) and says what it completed. Call again
    /// with the bytes not consumed; `Event::NeedMore` means all were consumed.
    pub fn decode(&mut self, input: &[u8]) -> Result<Decoded<'_>, FrameError> {
        if let Some(refusal) = self.refused {
            return Err(refusal);
        }
        match self.state {
            State::Header => self.take_header(input),
            State::Body(header) => self.take_body(header, input),
            State::Payload { remaining_bytes } => Ok(Decoded {
                consumed_bytes: 0,
                event: Event::Payload { remaining_bytes },
            }),
        }
    }

    /// The caller took `len_bytes` of the current frame's payload. More than remain is a
    /// defect of the caller (it was told how many).
    pub fn payload_read(&mut self, len_bytes: usize) {
        let State::Payload { remaining_bytes } = self.state else {
            panic!("payload_read outside a payload");
        };
        assert!(
            len_bytes <= remaining_bytes as usize,
            "payload read past its frame"
        );
        let remaining_bytes = remaining_bytes - len_bytes as u32;
        self.state = if remaining_bytes == 0 {
            State::Header
        } else {
            State::Payload { remaining_bytes }
        };
    }

    /// Whether the stream is at a frame boundary (so an end of stream here is clean).
    pub fn is_between_frames(&self) -> bool {
        matches!(self.state, State::Header) && self.header_have == 0 && self.refused.is_none()
    }

    fn take_header(&mut self, input: &[u8]) -> Result<Decoded<'_>, FrameError> {
        let wanted = FRAME_HEADER_BYTES - self.header_have;
        let taken = wanted.min(input.len());
        self.header_bytes[self.header_have..self.header_have + taken]
            .copy_from_slice(&input[..taken]);
        self.header_have += taken;
        if self.header_have < FRAME_HEADER_BYTES {
            return Ok(need_more(taken));
        }
        self.header_have = 0;
        let header = FrameHeader::decode(&self.header_bytes)
            .and_then(|header| self.check_deployment(header))
            .map_err(|refusal| self.refuse(refusal))?;
        self.body.clear();
        self.state = State::Body(header);
        Ok(Decoded {
            consumed_bytes: taken,
            event: Event::Header(header),
        })
    }

    fn take_body(&mut self, header: FrameHeader, input: &[u8]) -> Result<Decoded<'_>, FrameError> {
        let wanted = header.body_len_bytes as usize - self.body.len();
        let taken = wanted.min(input.len());
        // Grown once per larger body, exactly (bounded: the header was checked).
        self.body.reserve_exact(wanted);
        self.body.extend_from_slice(&input[..taken]);
        if self.body.len() < header.body_len_bytes as usize {
            return Ok(need_more(taken));
        }
        if body_checksum(&self.body) != header.body_checksum {
            return Err(self.refuse(FrameError::BodyChecksum));
        }
        self.state = match header.payload_len_bytes {
            0 => State::Header,
            remaining_bytes => State::Payload { remaining_bytes },
        };
        Ok(Decoded {
            consumed_bytes: taken,
            event: Event::Body(&self.body),
        })
    }

    fn check_deployment(&self, header: FrameHeader) -> Result<FrameHeader, FrameError> {
        if header.deployment_id == self.deployment_id {
            Ok(header)
        } else {
            Err(FrameError::WrongDeployment {
                found: header.deployment_id,
            })
        }
    }

    fn refuse(&mut self, refusal: FrameError) -> FrameError {
        self.refused = Some(refusal);
        refusal
    }
}

fn need_more(consumed_bytes: usize) -> Decoded<'static> {
    Decoded {
        consumed_bytes,
        event: Event::NeedMore,
    }
}
