//! The one S3 error type of the HTTP edge: a code spelled as AWS spells it, its HTTP
//! status, and a message.
//!
//! Invariants: every code maps to exactly one status and one default message, both
//! `'static` and fixed by the table below; a message given by the caller replaces the
//! default but never the code or the status. Rendering writes the
//! `<Error><Code/><Message/><Resource/><RequestId/></Error>` document AWS clients parse,
//! with every text escaped, into a caller buffer (no allocation besides its growth).

use std::borrow::Cow;
use std::fmt;

use crate::base::escape::escape_text_into;

/// Declares `S3ErrorCode` with its spelling, status and default message in one table,
/// so the three can never drift apart.
macro_rules! s3_error_codes {
    ($($code:ident => $status:literal, $message:literal;)+) => {
        /// An S3 error code. The variant name is the code string on the wire.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum S3ErrorCode {
            $($code,)+
        }

        impl S3ErrorCode {
            /// Every code, for tests and for exhaustive tables.
            pub const ALL: &'static [S3ErrorCode] = &[$(S3ErrorCode::$code,)+];

            /// The code as AWS spells it in `<Code>`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(S3ErrorCode::$code => stringify!($code),)+
                }
            }

            /// The HTTP status AWS answers with for this code.
            pub fn status(self) -> u16 {
                match self {
                    $(S3ErrorCode::$code => $status,)+
                }
            }

            /// The message AWS sends when nothing more specific is known.
            pub fn default_message(self) -> &'static str {
                match self {
                    $(S3ErrorCode::$code => $message,)+
                }
            }
        }
    };
}

s3_error_codes! {
    AccessDenied => 403, "Access Denied";
    AuthorizationHeaderMalformed => 400, "The authorization header you provided is invalid.";
    AuthorizationQueryParametersError => 400, "Error parsing the X-Amz-Credential parameter.";
    BadDigest => 400, "The Content-MD5 or checksum value that you specified did not match what the server received.";
    BucketAlreadyExists => 409, "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Select a different name and try again.";
    BucketAlreadyOwnedByYou => 409, "The bucket that you tried to create already exists, and you own it.";
    BucketNotEmpty => 409, "The bucket that you tried to delete is not empty.";
    EntityTooLarge => 400, "Your proposed upload exceeds the maximum allowed size.";
    EntityTooSmall => 400, "Your proposed upload is smaller than the minimum allowed object size.";
    IncompleteBody => 400, "You did not provide the number of bytes specified by the Content-Length HTTP header.";
    InternalError => 500, "We encountered an internal error. Please try again.";
    InvalidAccessKeyId => 403, "The AWS access key ID that you provided does not exist in our records.";
    InvalidArgument => 400, "Invalid Argument";
    InvalidBucketName => 400, "The specified bucket is not valid.";
    InvalidDigest => 400, "The Content-MD5 or checksum value that you specified is not valid.";
    InvalidPart => 400, "One or more of the specified parts could not be found. The part might not have been uploaded, or the specified ETag might not have matched the uploaded part's ETag.";
    InvalidPartNumber => 416, "The requested partnumber is not satisfiable.";
    InvalidPartOrder => 400, "The list of parts was not in ascending order. The parts list must be specified in order by part number.";
    InvalidRange => 416, "The requested range is not satisfiable.";
    InvalidRequest => 400, "Invalid Request";
    InvalidStorageClass => 400, "The storage class that you specified is not valid.";
    InvalidTag => 400, "The tag provided was not a valid tag.";
    InvalidURI => 400, "The specified URI couldn't be parsed.";
    KeyTooLongError => 400, "Your key is too long.";
    MalformedPOSTRequest => 400, "The body of your POST request is not well-formed multipart/form-data.";
    MalformedTrailerError => 400, "The request contained trailing data that was not well-formed or did not conform to our published schema.";
    MalformedXML => 400, "The XML that you provided was not well-formed or did not validate against our published schema.";
    MetadataTooLarge => 400, "Your metadata headers exceed the maximum allowed metadata size.";
    MethodNotAllowed => 405, "The specified method is not allowed against this resource.";
    MissingContentLength => 411, "You must provide the Content-Length HTTP header.";
    MissingRequestBodyError => 400, "Request body is empty.";
    NoSuchBucket => 404, "The specified bucket does not exist.";
    NoSuchKey => 404, "The specified key does not exist.";
    NoSuchTagSet => 404, "The specified tag set does not exist.";
    NoSuchUpload => 404, "The specified multipart upload does not exist. The upload ID might be invalid, or the multipart upload might have been aborted or completed.";
    NoSuchVersion => 404, "The version ID specified in the request does not match an existing version.";
    NotImplemented => 501, "A header or query you provided implies functionality that is not implemented.";
    NotModified => 304, "Not Modified";
    PreconditionFailed => 412, "At least one of the preconditions that you specified did not hold.";
    RequestHeaderSectionTooLarge => 400, "Your request header section exceeds the maximum allowed size.";
    RequestTimeTooSkewed => 403, "The difference between the request time and the server's time is too large.";
    RequestTimeout => 400, "Your socket connection to the server was not read from or written to within the timeout period.";
    ServiceUnavailable => 503, "Service is unable to handle request.";
    SignatureDoesNotMatch => 403, "The request signature that the server calculated does not match the signature that you provided. Check your AWS secret access key and signing method.";
    SlowDown => 503, "Please reduce your request rate.";
    XAmzContentSHA256Mismatch => 400, "The provided 'x-amz-content-sha256' header does not match what was computed.";
    // Not an AWS code (S3 has none for full drives): MinIO's, which its clients and
    // tools already know; 507 is HTTP's Insufficient Storage, which SDKs do not retry.
    XMinioStorageFull => 507, "The drives have no space left for this write; free space or add drives, then retry.";
}

impl fmt::Display for S3ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An S3 error: a code and, optionally, a message more specific than the default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Error {
    code: S3ErrorCode,
    message: Option<Cow<'static, str>>,
}

impl S3Error {
    pub fn new(code: S3ErrorCode) -> Self {
        S3Error {
            code,
            message: None,
        }
    }

    pub fn with_message(code: S3ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        S3Error {
            code,
            message: Some(message.into()),
        }
    }

    pub fn code(&self) -> S3ErrorCode {
        self.code
    }

    pub fn status(&self) -> u16 {
        self.code.status()
    }

    pub fn message(&self) -> &str {
        self.message
            .as_deref()
            .unwrap_or(self.code.default_message())
    }

    /// Appends the XML error document. `resource` is the request path; HEAD responses
    /// and 304 carry no body, which is the caller's decision (see `response.rs`).
    pub fn render_xml(&self, resource: &str, request_id: &str, out: &mut Vec<u8>) {
        // The same escaping as every other document (control characters included).
        out.extend_from_slice(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>");
        out.extend_from_slice(self.code.as_str().as_bytes());
        out.extend_from_slice(b"</Code><Message>");
        escape_text_into(self.message(), out);
        out.extend_from_slice(b"</Message><Resource>");
        escape_text_into(resource, out);
        out.extend_from_slice(b"</Resource><RequestId>");
        escape_text_into(request_id, out);
        out.extend_from_slice(b"</RequestId></Error>");
    }
}

impl From<S3ErrorCode> for S3Error {
    fn from(code: S3ErrorCode) -> Self {
        S3Error::new(code)
    }
}

impl fmt::Display for S3Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message())
    }
}

impl std::error::Error for S3Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_spelled_as_aws_spells_them() {
        // Clients switch on these strings; a typo is an interoperability bug.
        assert_eq!(
            S3ErrorCode::XAmzContentSHA256Mismatch.as_str(),
            "XAmzContentSHA256Mismatch"
        );
        assert_eq!(S3ErrorCode::NoSuchKey.as_str(), "NoSuchKey");
        assert_eq!(S3ErrorCode::MalformedXML.as_str(), "MalformedXML");
        assert_eq!(S3ErrorCode::InvalidURI.as_str(), "InvalidURI");
    }

    #[test]
    fn statuses_match_the_s3_error_table() {
        // The status is what SDK retry logic keys on (503 retried, 4xx not).
        let expected = [
            (S3ErrorCode::NoSuchBucket, 404),
            (S3ErrorCode::AccessDenied, 403),
            (S3ErrorCode::BucketNotEmpty, 409),
            (S3ErrorCode::InvalidRange, 416),
            (S3ErrorCode::MethodNotAllowed, 405),
            (S3ErrorCode::MissingContentLength, 411),
            (S3ErrorCode::PreconditionFailed, 412),
            (S3ErrorCode::NotModified, 304),
            (S3ErrorCode::NotImplemented, 501),
            (S3ErrorCode::SlowDown, 503),
            (S3ErrorCode::InternalError, 500),
            (S3ErrorCode::RequestTimeTooSkewed, 403),
            (S3ErrorCode::XMinioStorageFull, 507),
        ];
        for (code, status) in expected {
            assert_eq!(code.status(), status, "{code}");
        }
        for code in S3ErrorCode::ALL {
            assert!((300..600).contains(&code.status()));
            assert!(!code.default_message().is_empty());
        }
    }

    #[test]
    fn renders_the_error_document_escaped() {
        // Resource and message come from the client and must not break the XML.
        let err = S3Error::with_message(S3ErrorCode::NoSuchKey, "no <key>");
        let mut out = Vec::new();
        err.render_xml("/b/a&b", "req-1", &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with(
            "<Error><Code>NoSuchKey</Code><Message>no &lt;key&gt;</Message>\
             <Resource>/b/a&amp;b</Resource><RequestId>req-1</RequestId></Error>"
        ));
    }
}
