//! Object operations over HTTP: PutObject, GetObject, HeadObject, DeleteObject,
//! DeleteObjects, GetObjectAttributes. Headers in, store calls, headers and bytes out.
//!
//! Requests for what Shoal does not implement (encryption, object lock, version ids
//! other than `null`, header values that cannot be echoed) never reach this file: the
//! router refuses them (`shoal_http::route`). DeleteObjects requires and verifies
//! `Content-MD5` or an `x-amz-checksum-*` header or trailer, as S3 does.

use monoio::io::{AsyncReadRent, AsyncWriteRent};
use shoal_http::route::version_id_refusal;
use shoal_http::time::format_imf_fixdate;
use shoal_http::{Operation, RequestHead, Route, S3Error, S3ErrorCode};

use crate::front::handler::{
    Call, Reply, RequestBody, base64_decode, base64_encode, head_bytes, send, unix_secs,
};
use crate::front::s3::error::to_s3;
use crate::object::condition::WriteCondition;
use crate::object::copy::{MetadataDirective, TaggingDirective};
use crate::object::get::ByteRange;
use crate::object::put::{BodySource, PutOptions};
use crate::record::checksum::{Checksum, ChecksumAlgorithm};
use crate::record::meta::{ChecksumType, ObjectInfo};

/// Content headers stored with an object and returned on GET/HEAD.
const CONTENT_HEADERS: [&str; 6] = [
    "content-type",
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "expires",
];

/// Largest DeleteObjects request body (1000 keys of 1024 bytes, XML around them).
const DELETE_OBJECTS_BODY_MAX_BYTES: usize = 2 << 20;

pub async fn handle<S: AsyncReadRent + AsyncWriteRent>(
    call: &Call<'_>,
    body: &mut RequestBody<'_, S>,
) -> Result<bool, S3Error> {
    let (bucket, key) = (call.bucket(), call.key());
    match call.route.operation {
        Operation::PutObject => put_object(call, body).await,
        Operation::GetObject | Operation::HeadObject => get_object(call, body).await,
        Operation::DeleteObject => {
            body.discard(0).await?;
            let if_match = call.head.header("if-match");
            let condition = WriteCondition::from_headers(None, if_match).map_err(|e| to_s3(&e))?;
            let store = &call.ctx.store;
            store
                .delete_object_if(bucket, key, &condition)
                .await
                .map_err(|e| to_s3(&e))?;
            call.send(body.conn, Reply::new(204)).await
        }
        Operation::DeleteObjects => delete_objects(call, body).await,
        Operation::CopyObject => copy_object(call, body).await,
        Operation::GetObjectAttributes => object_attributes(call, body).await,
        _ => Err(S3Error::new(S3ErrorCode::NotImplemented)),
    }
}

async fn put_object<S: AsyncReadRent + AsyncWriteRent>(
    call: &Call<'_>,
    body: &mut RequestBody<'_, S>,
) -> Result<bool, S3Error> {
    let (ctx, head, request_id) = (call.ctx, call.head, call.request_id);
    let (bucket, key) = (call.bucket(), call.key());
    let options = put_options(head)?;
    let info = ctx
        .store
        .put_object(bucket, key, &options, body)
        .await
        .map_err(|e| to_s3(&e))?;
    let mut reply = Reply::new(200).header("ETag", format!("\"{}\"", info.etag));
    if let Some(c) = &info.checksum {
        reply = reply.header(checksum_header(c.algorithm), base64_encode(&c.value));
    }
    send(ctx, body.conn, reply, request_id, true).await
}

/// What the request headers declare about the object.
pub(crate) fn put_options(head: &RequestHead) -> Result<PutOptions, S3Error> {
    let size_bytes = match (head.header("x-amz-decoded-content-length"), head.framing) {
        (Some(decoded), _) => Some(
            decoded
                .trim()
                .parse()
                .map_err(|_| invalid_argument("x-amz-decoded-content-length"))?,
        ),
        (None, shoal_http::BodyFraming::ContentLength(n)) => Some(n),
        (None, shoal_http::BodyFraming::None) => Some(0),
        (None, shoal_http::BodyFraming::Chunked) => None,
    };
    let content_md5 = content_md5(head)?;
    let (checksum_algorithm, expected_checksum) = declared_checksum(head)?;
    let condition =
        WriteCondition::from_headers(head.header("if-none-match"), head.header("if-match"))
            .map_err(|e| to_s3(&e))?;
    Ok(PutOptions {
        size_bytes,
        content_md5,
        checksum_algorithm,
        expected_checksum,
        headers: stored_headers(head),
        tags: tagging_header(head)?,
        condition,
    })
}

/// `Content-MD5`, decoded (`InvalidDigest` unless 16 bytes of base64).
fn content_md5(head: &RequestHead) -> Result<Option<[u8; 16]>, S3Error> {
    let Some(text) = head.header("content-md5") else {
        return Ok(None);
    };
    let bytes = base64_decode(text).ok_or_else(|| S3Error::new(S3ErrorCode::InvalidDigest))?;
    let md5 = bytes
        .try_into()
        .map_err(|_| S3Error::new(S3ErrorCode::InvalidDigest))?;
    Ok(Some(md5))
}

/// Tags from `x-amz-tagging` (none if absent).
pub fn tagging_header(head: &RequestHead) -> Result<Vec<(String, String)>, S3Error> {
    Ok(match head.header("x-amz-tagging") {
        Some(text) => shoal_http::xml::parse_tagging_header(text)?
            .into_iter()
            .map(|t| (t.key, t.value))
            .collect(),
        None => Vec::new(),
    })
}

/// The checksum algorithm asked for, and the value if sent as a header.
pub(crate) fn declared_checksum(
    head: &RequestHead,
) -> Result<(Option<ChecksumAlgorithm>, Option<Checksum>), S3Error> {
    for algorithm in ChecksumAlgorithm::ALL {
        if let Some(value) = head.header(checksum_header(algorithm)) {
            let value =
                base64_decode(value).ok_or_else(|| S3Error::new(S3ErrorCode::InvalidDigest))?;
            return Ok((Some(algorithm), Some(Checksum { algorithm, value })));
        }
    }
    let named = head
        .header("x-amz-trailer")
        .and_then(|t| {
            t.trim()
                .to_ascii_lowercase()
                .strip_prefix("x-amz-checksum-")
                .map(str::to_owned)
        })
        .or_else(|| {
            head.header("x-amz-sdk-checksum-algorithm")
                .map(str::to_owned)
        })
        .or_else(|| head.header("x-amz-checksum-algorithm").map(str::to_owned));
    match named {
        None => Ok((None, None)),
        Some(name) => match ChecksumAlgorithm::from_name(name.trim()) {
            Some(algorithm) => Ok((Some(algorithm), None)),
            None => Err(invalid_argument("checksum algorithm")),
        },
    }
}

/// An object's checksum as S3 sends it: base64, and for a composite checksum the part
/// count after a dash (`<base64>-<parts>`).
pub(crate) fn checksum_text(info: &ObjectInfo) -> Option<(ChecksumAlgorithm, String)> {
    let checksum = info.checksum.as_ref()?;
    let mut text = base64_encode(&checksum.value);
    if info.checksum_type == ChecksumType::Composite {
        text = format!("{text}-{}", info.parts.len());
    }
    Some((checksum.algorithm, text))
}

pub fn checksum_header(algorithm: ChecksumAlgorithm) -> &'static str {
    match algorithm {
        ChecksumAlgorithm::Crc32 => "x-amz-checksum-crc32",
        ChecksumAlgorithm::Crc32c => "x-amz-checksum-crc32c",
        ChecksumAlgorithm::Crc64Nvme => "x-amz-checksum-crc64nvme",
        ChecksumAlgorithm::Sha1 => "x-amz-checksum-sha1",
        ChecksumAlgorithm::Sha256 => "x-amz-checksum-sha256",
    }
}

/// Content headers and user metadata, as stored (lowercase names, in arrival order).
pub(crate) fn stored_headers(head: &RequestHead) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, value) in &head.headers {
        if name == "content-encoding" {
            // aws-chunked is the transfer of this request, not the object's encoding.
            let kept: Vec<&str> = value
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty() && *v != "aws-chunked")
                .collect();
            if !kept.is_empty() {
                out.push((name.clone(), kept.join(", ")));
            }
        } else if CONTENT_HEADERS.contains(&name.as_str()) || name.starts_with("x-amz-meta-") {
            out.push((name.clone(), value.clone()));
        }
    }
    out
}

fn invalid_argument(what: &str) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidArgument, format!("invalid {what}"))
}

/// GetObject and HeadObject. The version is opened once: preconditions, the part
/// number and the range are judged against the reader's own metadata, so the bytes
/// sent are always of the version the headers describe (issue 10, A3). A GET reads its
/// first piece before the status line: an object that cannot be read answers an error,
/// not `200` and a short body (A6).
async fn get_object<S: AsyncReadRent + AsyncWriteRent>(
    call: &Call<'_>,
    body: &mut RequestBody<'_, S>,
) -> Result<bool, S3Error> {
    let (ctx, head, request_id) = (call.ctx, call.head, call.request_id);
    let (bucket, key) = (call.bucket(), call.key());
    let route = call.route;
    body.discard(0).await?;
    let is_head = route.operation == Operation::HeadObject;
    let mut reader = ctx
        .store
        .open_object(bucket, key)
        .await
        .map_err(|e| to_s3(&e))?;
    if let Some(status) = check_conditions(head, reader.info())? {
        let mut reply = Reply::new(status)
            .header("ETag", format!("\"{}\"", reader.info().etag))
            .header("Last-Modified", http_date(reader.info()));
        reply.head_only = true;
        return send(ctx, body.conn, reply, request_id, true).await;
    }
    let part_number = requested_part_number(route)?;
    let range = requested_range(head, part_number, reader.info())?;
    reader.select(range).map_err(|e| to_s3(&e))?;
    let (start, end) = reader.range();
    // Unreadable (beyond parity): the error goes out instead of the status line.
    let first = if is_head {
        Vec::new()
    } else {
        let piece = reader.next_owned(Vec::new()).await;
        piece.map_err(|e| to_s3(&e))?.unwrap_or_default()
    };
    let info = reader.info().clone();
    let mut headers = object_headers(&info, route, head, range.is_none());
    if part_number.is_some() && !info.parts.is_empty() {
        headers.push(("x-amz-mp-parts-count", info.parts.len().to_string()));
    }
    if let Some(number) = part_number {
        headers.extend(crate::front::s3::multipart::part_checksum_headers(
            &info, number, head,
        ));
    }
    let status = if range.is_some() {
        headers.push((
            "Content-Range",
            format!(
                "bytes {start}-{}/{}",
                end.saturating_sub(1),
                info.size_bytes
            ),
        ));
        206
    } else {
        200
    };
    let out = head_bytes(ctx, status, &headers, request_id, true, end - start, true)?;
    let (result, _) = body.conn.write_all(out).await;
    result.map_err(|_| S3Error::new(S3ErrorCode::InternalError))?;
    if is_head {
        return Ok(true);
    }
    stream_object(reader, first, body.conn).await
}

/// `?partNumber=N`, checked (1..=10000).
fn requested_part_number(route: &Route) -> Result<Option<u32>, S3Error> {
    let Some(text) = route.query_value("partNumber") else {
        return Ok(None);
    };
    text.parse::<u32>()
        .ok()
        .filter(|n| (1..=crate::object::multipart::PART_NUMBER_MAX).contains(n))
        .map(Some)
        .ok_or_else(|| invalid_argument("partNumber (an integer between 1 and 10000)"))
}

/// The byte range asked for, by `Range` or by part number, within version `info`.
fn requested_range(
    head: &RequestHead,
    part_number: Option<u32>,
    info: &ObjectInfo,
) -> Result<Option<ByteRange>, S3Error> {
    Ok(match (head.header("range"), part_number) {
        (Some(_), Some(_)) => {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidRequest,
                "Cannot specify both Range header and partNumber query parameter",
            ));
        }
        (Some(text), None) => parse_range(text),
        (None, Some(n)) => crate::object::multipart::part_range(info, n)
            .map_err(|e| to_s3(&e))?
            .map(|(first, last)| ByteRange::FromTo { first, last }),
        (None, None) => None,
    })
}

/// Streams the object's bytes after the head, starting with `first` (already read).
/// Each piece is written as the buffer the reader gathered it in (two buffers take
/// turns: one at the socket, one being gathered), so it is not copied again here.
/// A failure now can only abort the connection: it is closed before the promised
/// length was sent, so the client sees an error, never a short body taken as whole.
async fn stream_object<S: AsyncReadRent + AsyncWriteRent>(
    mut reader: crate::object::get::ObjectReader<'_, shoal_io::AnyDrive, shoal_io::SystemClock>,
    first: Vec<u8>,
    conn: &mut crate::front::conn::Conn<S>,
) -> Result<bool, S3Error> {
    let mut out = first;
    loop {
        if !out.is_empty() {
            let (result, buf) = conn.write_all(out).await;
            out = buf;
            if result.is_err() {
                return Ok(false);
            }
        }
        match reader.next_owned(out).await {
            Ok(Some(piece)) => out = piece,
            Ok(None) => return Ok(true),
            // Not keep-alive: the connection closes with the body short of its
            // Content-Length, which every HTTP client reports as an error.
            Err(_) => return Ok(false),
        }
    }
}

/// The response headers describing an object (GET and HEAD).
/// `whole`: the response carries the whole object (a range gets no object checksum,
/// as in S3: it would not match the bytes sent).
fn object_headers<'a>(
    info: &'a ObjectInfo,
    route: &Route,
    head: &RequestHead,
    whole: bool,
) -> Vec<(&'a str, String)> {
    let mut headers: Vec<(&'a str, String)> = vec![
        ("ETag", format!("\"{}\"", info.etag)),
        ("Last-Modified", http_date(info)),
        ("Accept-Ranges", "bytes".to_owned()),
    ];
    if !info.headers.iter().any(|(n, _)| n == "content-type") {
        headers.push(("Content-Type", "binary/octet-stream".to_owned()));
    }
    for (name, value) in &info.headers {
        headers.push((name.as_str(), value.clone()));
    }
    if whole
        && head
            .header("x-amz-checksum-mode")
            .is_some_and(|m| m.eq_ignore_ascii_case("enabled"))
        && let Some((algorithm, text)) = checksum_text(info)
    {
        headers.push((checksum_header(algorithm), text));
        headers.push(("x-amz-checksum-type", info.checksum_type.name().to_owned()));
    }
    if !info.tags.is_empty() {
        headers.push(("x-amz-tagging-count", info.tags.len().to_string()));
    }
    for (param, name) in [
        ("response-content-type", "Content-Type"),
        ("response-content-language", "Content-Language"),
        ("response-expires", "Expires"),
        ("response-cache-control", "Cache-Control"),
        ("response-content-disposition", "Content-Disposition"),
        ("response-content-encoding", "Content-Encoding"),
    ] {
        if let Some(value) = route.query_value(param) {
            headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
            headers.push((name, value.to_owned()));
        }
    }
    headers
}

fn http_date(info: &ObjectInfo) -> String {
    let mut out = String::with_capacity(29);
    format_imf_fixdate(unix_secs(info.mod_time_unix_nanos), &mut out);
    out
}

/// Evaluates If-Match / If-None-Match / If-Modified-Since / If-Unmodified-Since as S3
/// does; `Some(304)` for not modified, `Err(PreconditionFailed)` for 412.
fn check_conditions(head: &RequestHead, info: &ObjectInfo) -> Result<Option<u16>, S3Error> {
    let modified_secs = unix_secs(info.mod_time_unix_nanos);
    let etag_matches = |list: &str| {
        list.split(',')
            .map(|t| t.trim().trim_matches('"'))
            .any(|t| t == "*" || t == info.etag)
    };
    let if_match = head.header("if-match");
    if let Some(list) = if_match {
        if !etag_matches(list) {
            return Err(S3Error::new(S3ErrorCode::PreconditionFailed));
        }
    } else if let Some(since) = head
        .header("if-unmodified-since")
        .and_then(shoal_http::time::parse_imf_fixdate)
        && modified_secs > since
    {
        return Err(S3Error::new(S3ErrorCode::PreconditionFailed));
    }
    if let Some(list) = head.header("if-none-match") {
        if etag_matches(list) {
            return Ok(Some(304));
        }
    } else if let Some(since) = head
        .header("if-modified-since")
        .and_then(shoal_http::time::parse_imf_fixdate)
        && modified_secs <= since
    {
        return Ok(Some(304));
    }
    Ok(None)
}

/// A single `bytes=` range; anything else (several ranges, other units, garbage) is
/// ignored and the whole object served, as HTTP allows.
pub fn parse_range(text: &str) -> Option<ByteRange> {
    let spec = text.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    match (first.is_empty(), last.is_empty()) {
        (true, false) => Some(ByteRange::Suffix {
            len: last.parse().ok()?,
        }),
        (false, true) => Some(ByteRange::From {
            first: first.parse().ok()?,
        }),
        (false, false) => Some(ByteRange::FromTo {
            first: first.parse().ok()?,
            last: last.parse().ok()?,
        }),
        (true, true) => None,
    }
}

async fn delete_objects<S: AsyncReadRent + AsyncWriteRent>(
    call: &Call<'_>,
    body: &mut RequestBody<'_, S>,
) -> Result<bool, S3Error> {
    let (ctx, request_id, bucket) = (call.ctx, call.request_id, call.bucket());
    let integrity = declared_integrity(call.head)?;
    let xml = body.read_to_vec(DELETE_OBJECTS_BODY_MAX_BYTES).await?;
    check_integrity(&integrity, &xml, body.trailer_checksum())?;
    let request = shoal_http::xml::parse_delete(&xml)?;
    ctx.store.head_bucket(bucket).await.map_err(|e| to_s3(&e))?;
    let mut results = Vec::with_capacity(request.objects.len());
    for object in &request.objects {
        let refusal = object.version_id.as_deref().and_then(version_id_refusal);
        let outcome = match refusal {
            // The live object is not the version named: it is left alone.
            Some(message) => Err(S3Error::with_message(S3ErrorCode::InvalidArgument, message)),
            None => ctx
                .store
                .delete_object(bucket, &object.key)
                .await
                .map(|_| ())
                .map_err(|e| to_s3(&e)),
        };
        results.push((object.key.clone(), object.version_id.clone(), outcome));
    }
    let xml = crate::front::s3::xml::delete_result(&results, request.quiet);
    send(ctx, body.conn, Reply::xml(xml), request_id, true).await
}

/// How a DeleteObjects body proves its integrity. S3 requires one of these, because a
/// body damaged in transit would delete other keys than the client named.
struct BodyIntegrity {
    content_md5: Option<[u8; 16]>,
    /// The algorithm of an `x-amz-checksum-*` header or trailer.
    algorithm: Option<ChecksumAlgorithm>,
    /// The value, when sent as a header (else it comes in the trailer).
    checksum: Option<Checksum>,
}

fn declared_integrity(head: &RequestHead) -> Result<BodyIntegrity, S3Error> {
    let content_md5 = content_md5(head)?;
    let (algorithm, checksum) = declared_checksum(head)?;
    let trailer = head
        .header("x-amz-trailer")
        .is_some_and(|t| t.trim().to_ascii_lowercase().starts_with("x-amz-checksum-"));
    if content_md5.is_none() && checksum.is_none() && !trailer {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidRequest,
            "Missing required header for this request: Content-MD5",
        ));
    }
    Ok(BodyIntegrity {
        content_md5,
        algorithm: algorithm.filter(|_| checksum.is_some() || trailer),
        checksum,
    })
}

/// `BadDigest` unless the body matches every digest the request declared.
fn check_integrity(
    integrity: &BodyIntegrity,
    body: &[u8],
    trailer: Option<Checksum>,
) -> Result<(), S3Error> {
    let mut hasher = crate::record::checksum::BodyHasher::new(integrity.algorithm);
    hasher.update(body);
    let (md5, computed) = hasher.finish();
    let md5_ok = integrity.content_md5.is_none_or(|sent| sent == md5);
    let expected = match (&integrity.checksum, integrity.algorithm) {
        (Some(header), _) => Some(header.clone()),
        (None, Some(_)) => Some(trailer.ok_or_else(|| {
            S3Error::with_message(
                S3ErrorCode::InvalidRequest,
                "the checksum named in x-amz-trailer was not sent",
            )
        })?),
        (None, None) => None,
    };
    if md5_ok && expected.is_none_or(|e| Some(e) == computed) {
        Ok(())
    } else {
        Err(S3Error::new(S3ErrorCode::BadDigest))
    }
}

async fn object_attributes<S: AsyncReadRent + AsyncWriteRent>(
    call: &Call<'_>,
    body: &mut RequestBody<'_, S>,
) -> Result<bool, S3Error> {
    let (ctx, head, request_id) = (call.ctx, call.head, call.request_id);
    let (bucket, key) = (call.bucket(), call.key());
    body.discard(0).await?;
    let wanted: Vec<String> = head
        .header_values("x-amz-object-attributes")
        .flat_map(|v| v.split(','))
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty())
        .collect();
    if wanted.is_empty() {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "x-amz-object-attributes is required",
        ));
    }
    let info = ctx
        .store
        .head_object(bucket, key)
        .await
        .map_err(|e| to_s3(&e))?;
    let number = |name: &str, default: usize| match head.header(name) {
        None => Ok(default),
        Some(text) => text
            .trim()
            .parse::<usize>()
            .map_err(|_| invalid_argument(name)),
    };
    let max_parts = number("x-amz-max-parts", 1000)?.min(1000);
    let marker = u32::try_from(number("x-amz-part-number-marker", 0)?)
        .map_err(|_| invalid_argument("x-amz-part-number-marker"))?;
    let xml = crate::front::s3::xml::object_attributes(&info, &wanted, (marker, max_parts));
    let reply = Reply::xml(xml).header("Last-Modified", http_date(&info));
    send(ctx, body.conn, reply, request_id, true).await
}

async fn copy_object<S: AsyncReadRent + AsyncWriteRent>(
    call: &Call<'_>,
    body: &mut RequestBody<'_, S>,
) -> Result<bool, S3Error> {
    body.discard(0).await?;
    let head = call.head;
    let (source_bucket, source_key) =
        parse_copy_source(head.header("x-amz-copy-source").unwrap_or_default())?;
    let directive = match head.header("x-amz-metadata-directive").map(str::trim) {
        None | Some("COPY") => MetadataDirective::Copy,
        Some("REPLACE") => MetadataDirective::Replace(stored_headers(head)),
        Some(_) => {
            return Err(invalid_argument(
                "x-amz-metadata-directive (COPY or REPLACE)",
            ));
        }
    };
    let tagging = match head.header("x-amz-tagging-directive").map(str::trim) {
        None | Some("COPY") => TaggingDirective::Copy,
        Some("REPLACE") => TaggingDirective::Replace(tagging_header(head)?),
        Some(_) => {
            return Err(invalid_argument(
                "x-amz-tagging-directive (COPY or REPLACE)",
            ));
        }
    };
    let condition =
        WriteCondition::from_headers(head.header("if-none-match"), head.header("if-match"))
            .map_err(|e| to_s3(&e))?;
    let checksum_algorithm = match head.header("x-amz-checksum-algorithm") {
        Some(name) => Some(
            ChecksumAlgorithm::from_name(name.trim())
                .ok_or_else(|| invalid_argument("checksum algorithm"))?,
        ),
        None => None,
    };
    let options = PutOptions {
        checksum_algorithm,
        condition,
        ..PutOptions::default()
    };
    let check = |info: &ObjectInfo| copy_source_conditions(head, info);
    let info = call
        .ctx
        .store
        .copy_object(
            (&source_bucket, &source_key),
            (call.bucket(), call.key()),
            (directive, tagging),
            check,
            options,
        )
        .await
        .map_err(|e| to_s3(&e))?;
    let xml = crate::front::s3::xml::copy_result(&info);
    call.send(body.conn, Reply::xml(xml)).await
}

/// `x-amz-copy-source`: `bucket/key` or `/bucket/key`, URL-encoded, optionally with
/// `?versionId=null` (the only version an unversioned bucket has); any other version id
/// is refused as invalid, so the live object is never copied in its place.
pub(crate) fn parse_copy_source(raw: &str) -> Result<(String, String), S3Error> {
    let (path, query) = raw.split_once('?').unwrap_or((raw, ""));
    if !query.is_empty() {
        let version_id = query.strip_prefix("versionId=").ok_or_else(|| {
            S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "x-amz-copy-source takes no query but ?versionId=",
            )
        })?;
        let version_id = shoal_http::uri::percent_decode(version_id)?;
        if let Some(message) = version_id_refusal(&version_id) {
            return Err(S3Error::with_message(S3ErrorCode::InvalidArgument, message));
        }
    }
    let decoded = shoal_http::uri::percent_decode(path.trim_start_matches('/'))?;
    match decoded.split_once('/') {
        Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => {
            Ok((bucket.to_owned(), key.to_owned()))
        }
        _ => Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "x-amz-copy-source must be bucket/key",
        )),
    }
}

/// `x-amz-copy-source-if-*`: the source version must satisfy them, else 412.
pub(crate) fn copy_source_conditions(
    head: &RequestHead,
    info: &ObjectInfo,
) -> crate::error::Result<()> {
    let modified_secs = unix_secs(info.mod_time_unix_nanos);
    let etag_matches = |list: &str| {
        list.split(',')
            .map(|t| t.trim().trim_matches('"'))
            .any(|t| t == "*" || t == info.etag)
    };
    let date = |name: &str| {
        head.header(name)
            .and_then(shoal_http::time::parse_imf_fixdate)
    };
    let failed = head
        .header("x-amz-copy-source-if-match")
        .is_some_and(|l| !etag_matches(l))
        || head
            .header("x-amz-copy-source-if-none-match")
            .is_some_and(etag_matches)
        || (head.header("x-amz-copy-source-if-match").is_none()
            && date("x-amz-copy-source-if-unmodified-since")
                .is_some_and(|since| modified_secs > since))
        || (head.header("x-amz-copy-source-if-none-match").is_none()
            && date("x-amz-copy-source-if-modified-since")
                .is_some_and(|since| modified_secs <= since));
    if failed {
        Err(crate::error::Error::PreconditionFailed)
    } else {
        Ok(())
    }
}
