//! The chunked-encoding tokenizer shared by `Transfer-Encoding: chunked` and
//! `aws-chunked` (the wire format is drawn in `body.rs`): one state machine that turns
//! bytes into chunk headers, data slices, chunk ends, trailers and the end.
//!
//! Invariants: every call to `step` with non-empty input consumes at least one byte
//! (so callers' loops terminate); data slices borrow the input and are never copied;
//! only one line is buffered, at most [`CHUNK_LINE_MAX_BYTES`]; lines end in CRLF; a
//! chunk size is at most 16 hex digits; after `End` every further byte is an error.

use crate::base::digits::decode_hex32;
use crate::base::error::{S3Error, S3ErrorCode};

/// Longest chunk line or trailer line (including extensions) accepted.
pub const CHUNK_LINE_MAX_BYTES: usize = 4096;

/// One event of [`ChunkedFraming::step`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step<'a> {
    /// All input used inside a line; feed more.
    NeedMore,
    ChunkHeader {
        size_bytes: u64,
        signature: Option<[u8; 32]>,
    },
    Data(&'a [u8]),
    /// The CRLF after a chunk's data.
    ChunkEnd,
    Trailer(String, String),
    /// The blank line after the trailers: the chunked stream is over.
    End,
}

#[derive(Debug, Default)]
enum FramingState {
    #[default]
    SizeLine,
    Data {
        remaining_bytes: u64,
    },
    DataCr,
    DataLf,
    TrailerLine,
    End,
}

/// The chunked-encoding tokenizer shared by HTTP chunked and aws-chunked.
#[derive(Debug, Default)]
pub(crate) struct ChunkedFraming {
    state: FramingState,
    line: Vec<u8>,
}

fn malformed_chunk() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::IncompleteBody,
        "The chunked body is malformed.",
    )
}

impl ChunkedFraming {
    /// Consumes a prefix of `input` (at least one byte if `input` is non-empty).
    pub(crate) fn step<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Step<'a>), S3Error> {
        match self.state {
            FramingState::SizeLine | FramingState::TrailerLine => self.step_line(input),
            FramingState::Data { remaining_bytes } => {
                let take = usize::try_from(remaining_bytes)
                    .unwrap_or(usize::MAX)
                    .min(input.len());
                let left = remaining_bytes - take as u64;
                self.state = if left == 0 {
                    FramingState::DataCr
                } else {
                    FramingState::Data {
                        remaining_bytes: left,
                    }
                };
                Ok((take, Step::Data(input.get(..take).unwrap_or_default())))
            }
            FramingState::DataCr => match input.first() {
                Some(b'\r') => {
                    self.state = FramingState::DataLf;
                    Ok((1, Step::NeedMore))
                }
                Some(_) => Err(malformed_chunk()),
                None => Ok((0, Step::NeedMore)),
            },
            FramingState::DataLf => match input.first() {
                Some(b'\n') => {
                    self.state = FramingState::SizeLine;
                    Ok((1, Step::ChunkEnd))
                }
                Some(_) => Err(malformed_chunk()),
                None => Ok((0, Step::NeedMore)),
            },
            FramingState::End => Err(malformed_chunk()),
        }
    }

    /// Accumulates a CRLF-terminated line, then interprets it.
    fn step_line<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Step<'a>), S3Error> {
        let newline = input.iter().position(|b| *b == b'\n');
        let take = newline.map_or(input.len(), |i| i + 1);
        if self.line.len() + take > CHUNK_LINE_MAX_BYTES {
            return Err(S3Error::with_message(
                S3ErrorCode::IncompleteBody,
                "A chunk or trailer line is too long.",
            ));
        }
        self.line
            .extend_from_slice(input.get(..take).unwrap_or_default());
        if newline.is_none() {
            return Ok((take, Step::NeedMore));
        }
        let line = std::mem::take(&mut self.line);
        let text = line.strip_suffix(b"\r\n").ok_or_else(malformed_chunk)?;
        let step = match self.state {
            FramingState::SizeLine => self.on_size_line(text)?,
            _ => self.on_trailer_line(text)?,
        };
        self.line = line;
        self.line.clear();
        Ok((take, step))
    }

    fn on_size_line(&mut self, text: &[u8]) -> Result<Step<'static>, S3Error> {
        let text = std::str::from_utf8(text).map_err(|_| malformed_chunk())?;
        // Whitespace may only precede an extension (RFC 9112 `BWS ";"`): `5 ` alone
        // is not a size, nor is a sign, a `0x` or more hex digits than a u64 holds.
        let (size_text, extensions) = match text.split_once(';') {
            Some((size, extensions)) => (size.trim_end_matches([' ', '\t']), extensions),
            None => (text, ""),
        };
        if size_text.is_empty()
            || size_text.len() > 16
            || !size_text.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(malformed_chunk());
        }
        let size_bytes = u64::from_str_radix(size_text, 16).map_err(|_| malformed_chunk())?;
        let signature = extensions
            .split(';')
            .find_map(|ext| ext.trim().strip_prefix("chunk-signature="))
            .and_then(decode_hex32);
        self.state = if size_bytes == 0 {
            FramingState::TrailerLine
        } else {
            FramingState::Data {
                remaining_bytes: size_bytes,
            }
        };
        Ok(Step::ChunkHeader {
            size_bytes,
            signature,
        })
    }

    fn on_trailer_line(&mut self, text: &[u8]) -> Result<Step<'static>, S3Error> {
        if text.is_empty() {
            self.state = FramingState::End;
            return Ok(Step::End);
        }
        let malformed = || S3Error::new(S3ErrorCode::MalformedTrailerError);
        let text = std::str::from_utf8(text).map_err(|_| malformed())?;
        let (name, value) = text.split_once(':').ok_or_else(malformed)?;
        let name = name.trim();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(malformed());
        }
        Ok(Step::Trailer(
            name.to_ascii_lowercase(),
            value.trim().to_owned(),
        ))
    }
}
