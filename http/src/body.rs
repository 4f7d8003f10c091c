//! Request body decoders: HTTP framing (`Content-Length` or `Transfer-Encoding:
//! chunked`) and, inside it, the content encoding (plain or `aws-chunked` in all three
//! streaming modes), as state machines fed with whatever bytes have arrived.
//!
//! ```text
//! chunked / aws-chunked wire format (the two share one parser, ChunkedFraming):
//!   <hex size>[;name=value]*\r\n      chunk line; aws signed: ;chunk-signature=<64 hex>
//!   <size bytes of data>\r\n
//!   ...
//!   0[;chunk-signature=<64 hex>]\r\n  final chunk
//!   [name:value\r\n]*                 trailers (x-amz-checksum-*, x-amz-trailer-signature)
//!   \r\n
//! ```
//!
//! Invariants:
//! - [`BodyDecoder::feed`] consumes every input byte unless the body ends inside it;
//!   then `consumed_bytes` is where the next request starts. Payload bytes are passed to
//!   the sink in order and never exceed the input fed, so a caller can bound a feed by
//!   the free space of its destination buffer. Only chunk lines and trailer lines are
//!   buffered here, each at most [`CHUNK_LINE_MAX_BYTES`].
//! - Verification timing (the choice for signed aws-chunked): a chunk's bytes go to the
//!   sink as they arrive, before that chunk's signature is checked at its end; a bad
//!   signature fails the feed that completes the chunk. `done` is reported only after
//!   every chunk signature, the final chunk, the trailer signature, the decoded length
//!   (`x-amz-decoded-content-length`) and a whole-body SHA-256 (if one was signed) all
//!   verified. The store therefore must not commit an object before `done`.
//! - Checksum trailers are surfaced, not verified: the store computes checksums in the
//!   pass that already touches every byte.
//! - One pass over the payload: the SHA-256 being verified and, when the caller asks
//!   ([`BodyDecoder::hash_md5`]), the body's MD5 are computed block by block together
//!   (`base::hash_pair`), a piece of at most [`PIECE_BYTES`] at a time just before the
//!   sink gets that piece, so the sink's copy reads bytes that are still in L1.

use sha2::{Digest, Sha256};

use crate::auth::common::{PayloadMode, constant_time_eq};
use crate::auth::signing::ChunkSigning;
use crate::base::digits::{decode_hex32, parse_decimal_u64};
use crate::base::error::{S3Error, S3ErrorCode};
use crate::base::hash_pair::HashPair;
use crate::message::chunked::{ChunkedFraming, Step};
use crate::message::request::{BodyFraming, RequestHead};

pub use crate::message::chunked::CHUNK_LINE_MAX_BYTES;
/// Most trailer lines accepted after the final chunk.
pub const TRAILER_LINES_MAX: usize = 16;
/// Trailer names an aws-chunked body may carry (besides the trailer signature).
pub const CHECKSUM_TRAILERS: [&str; 5] = [
    "x-amz-checksum-crc32",
    "x-amz-checksum-crc32c",
    "x-amz-checksum-crc64nvme",
    "x-amz-checksum-sha1",
    "x-amz-checksum-sha256",
];
const TRAILER_SIGNATURE: &str = "x-amz-trailer-signature";
/// Most payload bytes hashed before the sink gets them: well inside L1d (48 KiB on the
/// machines measured), so the sink's copy after the hashes reads from L1.
pub const PIECE_BYTES: usize = 16 << 10;

/// Result of one [`BodyDecoder::feed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Input bytes used; less than the input only when the body ended inside it.
    pub consumed_bytes: usize,
    /// The body is complete and every verification passed.
    pub done: bool,
}

/// One request body decoder; build it after authentication.
#[derive(Debug)]
pub struct BodyDecoder {
    framing: Framing,
    content: Content,
    /// The SHA-256 being verified (the whole payload's, or the current aws-chunked
    /// chunk's) and the MD5 if asked for, over the payload bytes.
    hashes: HashPair,
    /// Payload bytes given to the sink so far.
    payload_bytes: u64,
    /// Trailers of the HTTP chunked framing and of aws-chunked, in arrival order.
    trailers: Vec<(String, String)>,
    done: bool,
}

#[derive(Debug)]
enum Framing {
    Length { remaining_bytes: u64 },
    Chunked(ChunkedFraming),
}

#[derive(Debug)]
enum Content {
    /// The signed payload hash, if any, which the SHA-256 lane is checked against.
    Plain {
        expected_sha256: Option<[u8; 32]>,
    },
    AwsChunked(Box<AwsChunked>),
}

impl BodyDecoder {
    /// The decoder for `head` whose payload mode `authenticate` returned.
    pub fn new(head: &RequestHead, payload: &PayloadMode) -> Result<BodyDecoder, S3Error> {
        let framing = match head.framing {
            BodyFraming::None => Framing::Length { remaining_bytes: 0 },
            BodyFraming::ContentLength(length) => Framing::Length {
                remaining_bytes: length,
            },
            BodyFraming::Chunked => Framing::Chunked(ChunkedFraming::default()),
        };
        let content = match payload {
            PayloadMode::Unsigned => Content::Plain {
                expected_sha256: None,
            },
            PayloadMode::Sha256(expected) => Content::Plain {
                expected_sha256: Some(*expected),
            },
            PayloadMode::StreamingSigned { signing, trailer } => Content::AwsChunked(Box::new(
                AwsChunked::new(head, Some(signing.clone()), *trailer)?,
            )),
            PayloadMode::StreamingUnsignedTrailer => {
                Content::AwsChunked(Box::new(AwsChunked::new(head, None, true)?))
            }
        };
        let sha256 = match &content {
            Content::Plain { expected_sha256 } => expected_sha256.is_some(),
            Content::AwsChunked(aws) => aws.signing.is_some(),
        };
        Ok(BodyDecoder {
            framing,
            content,
            hashes: HashPair::new(sha256, false),
            payload_bytes: 0,
            trailers: Vec::new(),
            done: false,
        })
    }

    /// Computes the MD5 of the payload too (an object's ETag), in the pass that verifies
    /// its SHA-256. False once payload was decoded: the MD5 would miss its start.
    pub fn hash_md5(&mut self) -> bool {
        if self.payload_bytes > 0 {
            return false;
        }
        self.hashes.start_md5();
        true
    }

    /// The MD5 of the payload decoded so far (the body's once `done`), if
    /// [`Self::hash_md5`] started it.
    pub fn payload_md5(&self) -> Option<[u8; 16]> {
        self.hashes.md5()
    }

    /// Feeds the next received bytes; payload goes to `sink`.
    pub fn feed(&mut self, input: &[u8], mut sink: impl FnMut(&[u8])) -> Result<Progress, S3Error> {
        if self.done {
            return Ok(Progress {
                consumed_bytes: 0,
                done: true,
            });
        }
        let payload_bytes = &mut self.payload_bytes;
        let mut sink = |payload: &[u8]| {
            *payload_bytes += payload.len() as u64;
            sink(payload);
        };
        let consumed_bytes = match &mut self.framing {
            Framing::Length { remaining_bytes } => {
                let take = usize::try_from(*remaining_bytes)
                    .unwrap_or(usize::MAX)
                    .min(input.len());
                let payload = input.get(..take).unwrap_or_default();
                self.content
                    .feed(payload, &mut self.hashes, &mut self.trailers, &mut sink)?;
                *remaining_bytes -= take as u64;
                self.done = *remaining_bytes == 0;
                take
            }
            Framing::Chunked(framing) => {
                let (used, ended) = feed_http_chunked(
                    framing,
                    input,
                    &mut self.content,
                    &mut self.hashes,
                    &mut self.trailers,
                    &mut sink,
                )?;
                self.done = ended;
                used
            }
        };
        if self.done {
            self.content.finish(&mut self.hashes, &self.trailers)?;
        }
        Ok(Progress {
            consumed_bytes,
            done: self.done,
        })
    }

    /// Trailers received so far (complete once `done`), names lowercase.
    pub fn trailers(&self) -> &[(String, String)] {
        &self.trailers
    }

    /// The value of one trailer, e.g. `x-amz-checksum-crc32c`.
    pub fn trailer(&self, name: &str) -> Option<&str> {
        self.trailers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn feed_http_chunked(
    framing: &mut ChunkedFraming,
    input: &[u8],
    content: &mut Content,
    hashes: &mut HashPair,
    trailers: &mut Vec<(String, String)>,
    sink: &mut dyn FnMut(&[u8]),
) -> Result<(usize, bool), S3Error> {
    let mut used = 0;
    while let Some(rest) = input.get(used..).filter(|r| !r.is_empty()) {
        let (n, step) = framing.step(rest)?;
        used += n;
        match step {
            Step::Data(payload) => content.feed(payload, hashes, trailers, sink)?,
            Step::Trailer(name, value) => push_trailer(trailers, name, value)?,
            Step::End => return Ok((used, true)),
            Step::NeedMore | Step::ChunkHeader { .. } | Step::ChunkEnd => {}
        }
    }
    Ok((used, false))
}

fn push_trailer(
    trailers: &mut Vec<(String, String)>,
    name: String,
    value: String,
) -> Result<(), S3Error> {
    if trailers.len() >= TRAILER_LINES_MAX {
        return Err(S3Error::with_message(
            S3ErrorCode::MalformedTrailerError,
            "Too many trailers.",
        ));
    }
    trailers.push((name, value));
    Ok(())
}

/// Hashes `payload` and hands it to the sink a piece at a time, each piece while the
/// hashes just brought it into L1.
fn pass_on(payload: &[u8], hashes: &mut HashPair, sink: &mut dyn FnMut(&[u8])) {
    for piece in payload.chunks(PIECE_BYTES) {
        hashes.update(piece);
        sink(piece);
    }
}

impl Content {
    fn feed(
        &mut self,
        payload: &[u8],
        hashes: &mut HashPair,
        trailers: &mut Vec<(String, String)>,
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<(), S3Error> {
        match self {
            Content::Plain { .. } => {
                pass_on(payload, hashes, sink);
                Ok(())
            }
            Content::AwsChunked(aws) => aws.feed(payload, hashes, trailers, sink),
        }
    }

    /// Called once when the framing ends.
    fn finish(
        &mut self,
        hashes: &mut HashPair,
        trailers: &[(String, String)],
    ) -> Result<(), S3Error> {
        match self {
            Content::Plain {
                expected_sha256: Some(expected),
            } => {
                let actual = hashes
                    .finish_sha256()
                    .expect("a signed payload hash has its lane");
                if constant_time_eq(&actual, expected) {
                    Ok(())
                } else {
                    Err(S3Error::new(S3ErrorCode::XAmzContentSHA256Mismatch))
                }
            }
            Content::Plain {
                expected_sha256: None,
            } => Ok(()),
            Content::AwsChunked(aws) => aws.finish(trailers),
        }
    }
}

fn incomplete(message: &'static str) -> S3Error {
    S3Error::with_message(S3ErrorCode::IncompleteBody, message)
}

fn bad_chunk_signature() -> S3Error {
    S3Error::new(S3ErrorCode::SignatureDoesNotMatch)
}

/// The aws-chunked content decoder (one of the three streaming modes).
#[derive(Debug)]
struct AwsChunked {
    framing: ChunkedFraming,
    /// `Some` in the two signed modes.
    signing: Option<ChunkSigning>,
    trailer_mode: bool,
    /// The trailer announced by `x-amz-trailer`, which must then arrive.
    declared_trailer: Option<String>,
    previous_signature: [u8; 32],
    pending_signature: Option<[u8; 32]>,
    decoded_bytes: u64,
    decoded_length_bytes: u64,
    trailer_signature: Option<[u8; 32]>,
    /// Canonical trailers (`name:value\n` each), hashed for the trailer signature.
    canonical_trailers: String,
    ended: bool,
}

impl AwsChunked {
    fn new(
        head: &RequestHead,
        signing: Option<ChunkSigning>,
        trailer_mode: bool,
    ) -> Result<AwsChunked, S3Error> {
        let decoded_length_bytes = head
            .header("x-amz-decoded-content-length")
            .ok_or_else(|| {
                S3Error::with_message(
                    S3ErrorCode::MissingContentLength,
                    "aws-chunked requires x-amz-decoded-content-length.",
                )
            })
            .and_then(|v| {
                parse_decimal_u64(v).ok_or_else(|| {
                    S3Error::with_message(
                        S3ErrorCode::InvalidArgument,
                        "x-amz-decoded-content-length is not a number.",
                    )
                })
            })?;
        let declared_trailer = head.header("x-amz-trailer").map(str::to_ascii_lowercase);
        if declared_trailer
            .as_deref()
            .is_some_and(|t| !CHECKSUM_TRAILERS.contains(&t))
        {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidRequest,
                "x-amz-trailer names an unsupported trailer.",
            ));
        }
        let previous_signature = signing
            .as_ref()
            .map(ChunkSigning::seed_signature)
            .unwrap_or_default();
        Ok(AwsChunked {
            framing: ChunkedFraming::default(),
            signing,
            trailer_mode,
            declared_trailer,
            previous_signature,
            pending_signature: None,
            decoded_bytes: 0,
            decoded_length_bytes,
            trailer_signature: None,
            canonical_trailers: String::new(),
            ended: false,
        })
    }

    fn feed(
        &mut self,
        input: &[u8],
        hashes: &mut HashPair,
        trailers: &mut Vec<(String, String)>,
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<(), S3Error> {
        let mut used = 0;
        while let Some(rest) = input.get(used..).filter(|r| !r.is_empty()) {
            if self.ended {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidRequest,
                    "Data after the end of the aws-chunked body.",
                ));
            }
            let (n, step) = self.framing.step(rest)?;
            used += n;
            match step {
                Step::ChunkHeader {
                    size_bytes,
                    signature,
                } => self.on_chunk_header(size_bytes, signature, hashes)?,
                Step::Data(payload) => {
                    self.decoded_bytes += payload.len() as u64;
                    pass_on(payload, hashes, sink);
                }
                Step::ChunkEnd => self.verify_chunk(hashes)?,
                Step::Trailer(name, value) => self.on_trailer(name, value, trailers)?,
                Step::End => self.on_end()?,
                Step::NeedMore => {}
            }
        }
        Ok(())
    }

    fn on_chunk_header(
        &mut self,
        size_bytes: u64,
        signature: Option<[u8; 32]>,
        hashes: &mut HashPair,
    ) -> Result<(), S3Error> {
        let total = self
            .decoded_bytes
            .checked_add(size_bytes)
            .ok_or_else(|| incomplete("Chunk size overflows."))?;
        if total > self.decoded_length_bytes {
            return Err(incomplete(
                "The aws-chunked body is longer than x-amz-decoded-content-length.",
            ));
        }
        if self.signing.is_some() {
            self.pending_signature = Some(signature.ok_or_else(bad_chunk_signature)?);
        }
        if size_bytes == 0 {
            // The final chunk carries no data and no data CRLF: verify it now.
            self.verify_chunk(hashes)?;
        }
        Ok(())
    }

    /// Checks the chunk that just ended against its signature; the SHA-256 lane starts
    /// over for the next chunk.
    fn verify_chunk(&mut self, hashes: &mut HashPair) -> Result<(), S3Error> {
        let Some(signing) = &self.signing else {
            return Ok(());
        };
        let chunk_sha256 = hashes
            .finish_sha256()
            .expect("a signed aws-chunked body has a SHA-256 lane");
        let expected = signing.chunk_signature(&self.previous_signature, &chunk_sha256);
        let received = self
            .pending_signature
            .take()
            .ok_or_else(bad_chunk_signature)?;
        if !constant_time_eq(&expected, &received) {
            return Err(bad_chunk_signature());
        }
        self.previous_signature = received;
        Ok(())
    }

    fn on_trailer(
        &mut self,
        name: String,
        value: String,
        trailers: &mut Vec<(String, String)>,
    ) -> Result<(), S3Error> {
        let malformed = |message: &'static str| {
            S3Error::with_message(S3ErrorCode::MalformedTrailerError, message)
        };
        if !self.trailer_mode {
            return Err(malformed("Trailers are not allowed in this payload mode."));
        }
        if name == TRAILER_SIGNATURE {
            let signature = decode_hex32(&value).ok_or_else(bad_chunk_signature)?;
            if self.trailer_signature.replace(signature).is_some() {
                return Err(malformed("Duplicate trailer signature."));
            }
            return Ok(());
        }
        if !CHECKSUM_TRAILERS.contains(&name.as_str()) || self.trailer_signature.is_some() {
            return Err(malformed("Unexpected trailer."));
        }
        self.canonical_trailers.push_str(&name);
        self.canonical_trailers.push(':');
        self.canonical_trailers.push_str(&value);
        self.canonical_trailers.push('\n');
        push_trailer(trailers, name, value)
    }

    fn on_end(&mut self) -> Result<(), S3Error> {
        if let (Some(signing), true) = (&self.signing, self.trailer_mode) {
            let received = self.trailer_signature.ok_or_else(bad_chunk_signature)?;
            let trailers_sha256: [u8; 32] =
                Sha256::digest(self.canonical_trailers.as_bytes()).into();
            let expected = signing.trailer_signature(&self.previous_signature, &trailers_sha256);
            if !constant_time_eq(&expected, &received) {
                return Err(bad_chunk_signature());
            }
        }
        self.ended = true;
        Ok(())
    }

    fn finish(&self, trailers: &[(String, String)]) -> Result<(), S3Error> {
        if !self.ended {
            return Err(incomplete(
                "The aws-chunked body ended before its final chunk.",
            ));
        }
        if self.decoded_bytes != self.decoded_length_bytes {
            return Err(incomplete(
                "The aws-chunked body is shorter than x-amz-decoded-content-length.",
            ));
        }
        if let Some(declared) = &self.declared_trailer
            && !trailers.iter().any(|(name, _)| name == declared)
        {
            return Err(S3Error::with_message(
                S3ErrorCode::MalformedTrailerError,
                "The trailer named by x-amz-trailer is missing.",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::digits::decode_hex32;
    use crate::message::request::{HeadParser, HeadStatus};

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const SEED: &str = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";

    fn head(wire: &str) -> RequestHead {
        match HeadParser::new().parse(wire.as_bytes()).unwrap() {
            HeadStatus::Complete { head, .. } => head,
            HeadStatus::Partial => panic!("incomplete test head"),
        }
    }

    fn signing() -> ChunkSigning {
        ChunkSigning::new(
            SECRET,
            "20130524T000000Z",
            "us-east-1",
            decode_hex32(SEED).unwrap(),
        )
        .unwrap()
    }

    /// Feeds `body` in pieces of `piece` bytes; returns the payload and the decoder.
    fn decode_in_pieces(
        mut decoder: BodyDecoder,
        body: &[u8],
        piece: usize,
    ) -> (Result<Vec<u8>, S3Error>, BodyDecoder) {
        let mut payload = Vec::new();
        let mut offset = 0;
        while offset < body.len() || offset == 0 {
            let end = (offset + piece).min(body.len());
            match decoder.feed(&body[offset..end], |p| payload.extend_from_slice(p)) {
                Ok(progress) if progress.done => {
                    assert_eq!(
                        offset + progress.consumed_bytes,
                        body.len(),
                        "body must end exactly"
                    );
                    return (Ok(payload), decoder);
                }
                Ok(progress) => offset += progress.consumed_bytes,
                Err(e) => return (Err(e), decoder),
            }
            if end == body.len() {
                break;
            }
        }
        (Err(incomplete("ran out of input")), decoder)
    }

    fn aws_example_body() -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(b"10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n");
        body.extend(std::iter::repeat_n(b'a', 65_536));
        body.extend_from_slice(b"\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n");
        body.extend(std::iter::repeat_n(b'a', 1024));
        body.extend_from_slice(b"\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n");
        body
    }

    fn aws_example_head() -> RequestHead {
        head(
            "PUT /examplebucket/chunkObject.txt HTTP/1.1\r\nContent-Length: 66824\r\nx-amz-decoded-content-length: 66560\r\n\r\n",
        )
    }

    #[test]
    fn aws_example_chunk_signatures_verify_in_any_piece_size() {
        // sigv4-streaming "Example: PUT Object": three chained chunk signatures.
        let body = aws_example_body();
        assert_eq!(body.len(), 66_824);
        for piece in [1, 7, 4096, 65_536, body.len()] {
            let mode = PayloadMode::StreamingSigned {
                signing: signing(),
                trailer: false,
            };
            let decoder = BodyDecoder::new(&aws_example_head(), &mode).unwrap();
            let (payload, _) = decode_in_pieces(decoder, &body, piece);
            assert_eq!(payload.unwrap(), vec![b'a'; 66_560], "piece {piece}");
        }
    }

    #[test]
    fn a_tampered_chunk_fails_its_signature() {
        // Changing one payload byte must break the chain before `done`.
        let mut body = aws_example_body();
        body[200] = b'b';
        let mode = PayloadMode::StreamingSigned {
            signing: signing(),
            trailer: false,
        };
        let decoder = BodyDecoder::new(&aws_example_head(), &mode).unwrap();
        let (result, _) = decode_in_pieces(decoder, &body, 4096);
        assert_eq!(
            result.unwrap_err().code(),
            S3ErrorCode::SignatureDoesNotMatch
        );
    }

    #[test]
    fn decoded_length_must_match() {
        // x-amz-decoded-content-length is what the store sizes the object by.
        let short = head(
            "PUT / HTTP/1.1\r\nContent-Length: 66824\r\nx-amz-decoded-content-length: 66559\r\n\r\n",
        );
        let mode = PayloadMode::StreamingSigned {
            signing: signing(),
            trailer: false,
        };
        let (result, _) = decode_in_pieces(
            BodyDecoder::new(&short, &mode).unwrap(),
            &aws_example_body(),
            100_000,
        );
        assert_eq!(result.unwrap_err().code(), S3ErrorCode::IncompleteBody);
        let missing = head("PUT / HTTP/1.1\r\nContent-Length: 66824\r\n\r\n");
        assert_eq!(
            BodyDecoder::new(&missing, &mode).unwrap_err().code(),
            S3ErrorCode::MissingContentLength
        );
    }

    /// Encodes `chunks` as a signed aws-chunked body with a checksum trailer, the way an
    /// SDK does in STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER mode.
    fn signed_trailer_body(chunks: &[&[u8]], trailer: &str) -> Vec<u8> {
        let signing = signing();
        let mut previous = signing.seed_signature();
        let mut body = Vec::new();
        for chunk in chunks.iter().chain(std::iter::once(&&b""[..])) {
            let signature = signing.chunk_signature(&previous, &Sha256::digest(chunk).into());
            body.extend_from_slice(
                format!(
                    "{:x};chunk-signature={}\r\n",
                    chunk.len(),
                    hex::encode(signature)
                )
                .as_bytes(),
            );
            if !chunk.is_empty() {
                body.extend_from_slice(chunk);
                body.extend_from_slice(b"\r\n");
            }
            previous = signature;
        }
        let canonical = format!("{trailer}\n");
        let trailer_signature =
            signing.trailer_signature(&previous, &Sha256::digest(canonical.as_bytes()).into());
        body.extend_from_slice(
            format!(
                "{trailer}\r\nx-amz-trailer-signature:{}\r\n\r\n",
                hex::encode(trailer_signature)
            )
            .as_bytes(),
        );
        body
    }

    #[test]
    fn signed_trailer_mode_verifies_and_surfaces_the_checksum() {
        // The trailer signature binds the checksum to the chunk chain.
        let body = signed_trailer_body(&[b"hello ", b"world"], "x-amz-checksum-crc32c:crUfeA==");
        let wire = format!(
            "PUT / HTTP/1.1\r\nContent-Length: {}\r\nx-amz-decoded-content-length: 11\r\nx-amz-trailer: x-amz-checksum-crc32c\r\n\r\n",
            body.len()
        );
        let mode = PayloadMode::StreamingSigned {
            signing: signing(),
            trailer: true,
        };
        for piece in [1, 3, body.len()] {
            let (payload, decoder) =
                decode_in_pieces(BodyDecoder::new(&head(&wire), &mode).unwrap(), &body, piece);
            assert_eq!(payload.unwrap(), b"hello world");
            assert_eq!(decoder.trailer("x-amz-checksum-crc32c"), Some("crUfeA=="));
        }
        let forged = signed_trailer_body(&[b"hello ", b"world"], "x-amz-checksum-crc32c:crUfeA==")
            .iter()
            .map(|b| if *b == b'U' { b'V' } else { *b })
            .collect::<Vec<u8>>();
        let (result, _) =
            decode_in_pieces(BodyDecoder::new(&head(&wire), &mode).unwrap(), &forged, 5);
        assert_eq!(
            result.unwrap_err().code(),
            S3ErrorCode::SignatureDoesNotMatch
        );
    }

    #[test]
    fn unsigned_trailer_mode_over_http_chunked() {
        // boto3 with flexible checksums: aws-chunked inside Transfer-Encoding: chunked.
        let inner = b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n";
        let mut outer = Vec::new();
        for piece in inner.chunks(10) {
            outer.extend_from_slice(format!("{:X}\r\n", piece.len()).as_bytes());
            outer.extend_from_slice(piece);
            outer.extend_from_slice(b"\r\n");
        }
        outer.extend_from_slice(b"0\r\n\r\nGET /next HTTP/1.1\r\n\r\n");
        let wire = "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nx-amz-decoded-content-length: 5\r\nx-amz-trailer: x-amz-checksum-crc32\r\n\r\n";
        let mut decoder =
            BodyDecoder::new(&head(wire), &PayloadMode::StreamingUnsignedTrailer).unwrap();
        let mut payload = Vec::new();
        let progress = decoder
            .feed(&outer, |p| payload.extend_from_slice(p))
            .unwrap();
        assert!(progress.done);
        assert_eq!(
            &outer[progress.consumed_bytes..],
            b"GET /next HTTP/1.1\r\n\r\n"
        );
        assert_eq!(payload, b"hello");
        assert_eq!(decoder.trailer("x-amz-checksum-crc32"), Some("NhCmhg=="));
    }

    /// The MD5 asked for is the payload's in every payload mode and piece size, beside
    /// the SHA-256 verified in the same pass; it cannot start after payload went by.
    #[test]
    fn payload_md5_in_every_mode() {
        use md5::{Digest as _, Md5};
        let (large, odd) = (vec![b'x'; 100_000], vec![b'z'; 8_191]);
        let chunks: [&[u8]; 3] = [&large, b"hello ", &odd];
        let payload = chunks.concat();
        let signed = signed_trailer_body(&chunks, "x-amz-checksum-crc32c:AAAAAA==");
        let signed_wire = format!(
            "PUT / HTTP/1.1\r\nContent-Length: {}\r\nx-amz-decoded-content-length: {}\r\n\r\n",
            signed.len(),
            payload.len()
        );
        let plain_wire = format!(
            "PUT / HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            payload.len()
        );
        let cases = [
            (
                signed_wire.as_str(),
                PayloadMode::StreamingSigned {
                    signing: signing(),
                    trailer: true,
                },
                &signed,
            ),
            (
                plain_wire.as_str(),
                PayloadMode::Sha256(Sha256::digest(&payload).into()),
                &payload,
            ),
            (plain_wire.as_str(), PayloadMode::Unsigned, &payload),
        ];
        for (wire, mode, body) in cases {
            for piece in [1, 63, 4096, 65_537, body.len()] {
                let mut decoder = BodyDecoder::new(&head(wire), &mode).unwrap();
                assert!(decoder.hash_md5());
                let (decoded, decoder) = decode_in_pieces(decoder, body, piece);
                assert_eq!(decoded.unwrap(), payload, "{mode:?} piece {piece}");
                assert_eq!(
                    decoder.payload_md5().unwrap()[..],
                    Md5::digest(&payload)[..],
                    "{mode:?} piece {piece}"
                );
            }
        }
        let mut late = BodyDecoder::new(&head(&plain_wire), &PayloadMode::Unsigned).unwrap();
        late.feed(&payload[..10], |_| {}).unwrap();
        assert!(
            !late.hash_md5(),
            "an MD5 missing the first bytes is refused"
        );
        assert_eq!(late.payload_md5(), None);
    }

    #[test]
    fn content_length_body_with_signed_sha256() {
        // A signed single-chunk payload is verified before `done`.
        let wire = "PUT / HTTP/1.1\r\nContent-Length: 21\r\n\r\n";
        let good = decode_hex32("44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")
            .unwrap();
        let body = b"Welcome to Amazon S3.extra";
        let mut decoder = BodyDecoder::new(&head(wire), &PayloadMode::Sha256(good)).unwrap();
        let mut payload = Vec::new();
        let progress = decoder
            .feed(body, |p| payload.extend_from_slice(p))
            .unwrap();
        assert_eq!(
            progress,
            Progress {
                consumed_bytes: 21,
                done: true
            }
        );
        let mut bad = BodyDecoder::new(&head(wire), &PayloadMode::Sha256([0; 32])).unwrap();
        assert_eq!(
            bad.feed(body, |_| {}).unwrap_err().code(),
            S3ErrorCode::XAmzContentSHA256Mismatch
        );
    }

    #[test]
    fn no_body_is_done_at_once() {
        // A GET has no body; the loop must not wait for one.
        let mut decoder =
            BodyDecoder::new(&head("GET / HTTP/1.1\r\n\r\n"), &PayloadMode::Unsigned).unwrap();
        assert_eq!(
            decoder.feed(b"GET /", |_| {}).unwrap(),
            Progress {
                consumed_bytes: 0,
                done: true
            }
        );
    }

    #[test]
    fn malformed_chunked_bodies_fail() {
        // Framing errors are errors, and lines cannot grow without bound.
        let wire = "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
        for bad in [
            &b"zz\r\n"[..],
            b"5\r\nhelloX",
            b"5\nhello\r\n",
            b"11111111111111111\r\n",
            b"0\r\nbad trailer\r\n",
        ] {
            let mut decoder = BodyDecoder::new(&head(wire), &PayloadMode::Unsigned).unwrap();
            assert!(decoder.feed(bad, |_| {}).is_err(), "{bad:?}");
        }
        let mut decoder = BodyDecoder::new(&head(wire), &PayloadMode::Unsigned).unwrap();
        let long = vec![b'1'; CHUNK_LINE_MAX_BYTES + 1];
        assert!(decoder.feed(&long, |_| {}).is_err());
    }
}
