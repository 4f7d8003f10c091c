//! Multipart uploads over HTTP: CreateMultipartUpload, UploadPart, UploadPartCopy,
//! CompleteMultipartUpload, AbortMultipartUpload, ListParts, ListMultipartUploads.
//! Headers and query in, store calls, S3 documents out.

use monoio::io::{AsyncReadRent, AsyncWriteRent};
use shoal_http::s3xml::{self, EncodingType, Owner};
use shoal_http::xml::{COMPLETE_XML_MAX_BYTES, CompletedPart};
use shoal_http::{Operation, RequestHead, S3Error, S3ErrorCode};

use crate::front::handler::{Call, Reply, RequestBody, base64_decode, base64_encode};
use crate::front::s3::error::to_s3;
use crate::front::s3::object::{
    checksum_header, checksum_text, copy_source_conditions, parse_copy_source, put_options,
    stored_headers, tagging_header,
};
use crate::front::s3::xml::checksums_of;
use crate::object::condition::WriteCondition;
use crate::object::get::ByteRange;
use crate::object::multipart::{
    CompleteExpectations, CompletePart, UploadInfo, UploadOptions, UploadsQuery, part_checksum,
};
use crate::record::checksum::{Checksum, ChecksumAlgorithm};
use crate::record::meta::{ChecksumType, ObjectInfo, PARTS_MAX};

/// Most parts or uploads one listing page returns (S3).
const PAGE_MAX: usize = 1000;
const STORAGE_CLASS: &str = "STANDARD";

pub async fn handle<S: AsyncReadRent + AsyncWriteRent>(
    call: &Call<'_>,
    body: &mut RequestBody<'_, S>,
) -> Result<bool, S3Error> {
    match call.route.operation {
        Operation::CreateMultipartUpload => create(call, body).await,
        Operation::UploadPart => upload_part(call, body).await,
        Operation::UploadPartCopy => upload_part_copy(call, body).await,
        Operation::CompleteMultipartUpload => complete(call, body).await,
        Operation::AbortMultipartUpload => {
            body.discard(0).await?;
            call.ctx
                .store
                .abort_multipart_upload(call.bucket(), call.key(), upload_id(call))
                .await
                .map_err(|e| to_s3(&e))?;
            call.send(body.conn, Reply::new(204)).await
        }
        Operation::ListParts => list_parts(call, body).await,
        Operation::ListMultipartUploads => list_uploads(call, body).await,
        _ => Err(S3Error::new(S3ErrorCode::NotImplemented)),
    }
}

fn upload_id<'a>(call: &'a Call<'_>) -> &'a str {
    call.route.query_value("uploadId").unwrap_or_default()
}

fn owner<'a>(call: &'a Call<'_>) -> Owner<'a> {
    let id = call.ctx.credentials.access_key_id.as_str();
    Owner {
        id,
        display_name: id,
    }
}

async fn create<S: AsyncReadRent + AsyncWriteRent>(
    call: &Call<'_>,
    body: &mut RequestBody<'_, S>,
) -> Result<bool, S3Error> {
    body.discard(0).await?;
    let head = call.head;
    let checksum_algorithm = match head.header("x-amz-checksum-algorithm") {
        Some(name) => Some(ChecksumAlgorithm::from_name(name.trim()).ok_or_else(|| {
            invalid_argument(
                "x-amz-checksum-algorithm must be CRC32, CRC32C, CRC64NVME, SHA1 or SHA256",
            )
        })?),
        None => None,
    };
    let checksum_type = checksum_type(head)?;
    let options = UploadOptions {
        headers: stored_headers(head),
        tags: tagging_header(head)?,
        checksum_algorithm,
        checksum_type,
    };
    let upload = call
        .ctx
        .store
        .create_multipart_upload(call.bucket(), call.key(), &options)
        .await
        .map_err(|e| to_s3(&e))?;
    let mut xml = Vec::new();
    s3xml::write_initiate_multipart_upload_result(
        &s3xml::InitiateMultipartUploadResult {
            bucket: &upload.bucket,
            key: &upload.key,
            upload_id: &upload.upload_id,
        },
        &mut xml,
    );
    let mut reply = Reply::xml(xml);
    if let Some(algorithm) = upload.checksum_algorithm {
        reply = reply
            .header(
                "x-amz-checksum-algorithm",
                algorithm.name().to_ascii_uppercase(),
            )
            .header("x-amz-checksum-type", upload.checksum_type.name());
    }
    call.send(body.conn, reply).await
}

/// `x-amz-checksum-type` (on Create and Complete), if sent.
fn checksum_type(head: &RequestHead) -> Result<Option<ChecksumType>, S3Error> {
    match head.header("x-amz-checksum-type").map(str::trim) {
        None => Ok(None),
        Some(t) if t.eq_ignore_ascii_case("COMPOSITE") => Ok(Some(ChecksumType::Composite)),
        Some(t) if t.eq_ignore_ascii_case("FULL_OBJECT") => Ok(Some(ChecksumType::FullObject)),
        Some(_) => Err(invalid_argument(
            "x-amz-checksum-type must be COMPOSITE or FULL_OBJECT",
        )),
    }
}

/// `partNumber` as S3 checks it: an integer in 1..=10000.
fn part_number(call: &Call<'_>) -> Result<u32, S3Error> {
    call.route
        .query_value("partNumber")
        .and_then(|n| n.parse::<u32>().ok())
        .filter(|n| (1..=crate::object::multipart::PART_NUMBER_MAX).contains(n))
        .ok_or_else(|| {
            invalid_argument("Part number must be an integer between 1 and 10000, inclusive")
        })
}

async fn upload_part<S: AsyncReadRent + AsyncWriteRent>(
    call: &Call<'_>,
    body: &mut RequestBody<'_, S>,
) -> Result<bool, S3Error> {
    let number = part_number(call)?;
    let options = put_options(call.head)?;
    let (part, algorithm) = call
        .ctx
        .store
        .upload_part_checked(
            (call.bucket(), call.key(), upload_id(call)),
            number,
            &options,
            body,
        )
        .await
        .map_err(|e| to_s3(&e))?;
    let mut reply = Reply::new(200).header("ETag", format!("\"{}\"", hex::encode(part.md5)));
    if let Some(algorithm) = algorithm.filter(|_| !part.checksum.is_empty()) {
        reply = reply.header(checksum_header(algorithm), base64_encode(&part.checksum));
    }
    call.send(body.conn, reply).await
}

async fn upload_part_copy<S: AsyncReadRent + AsyncWriteRent>(
    call: &Call<'_>,
    body: &mut RequestBody<'_, S>,
) -> Result<bool, S3Error> {
    body.discard(0).await?;
    let head = call.head;
    let number = part_number(call)?;
    let (source_bucket, source_key) =
        parse_copy_source(head.header("x-amz-copy-source").unwrap_or_default())?;
    let range = match head.header("x-amz-copy-source-range") {
        Some(text) => Some(parse_copy_range(text)?),
        None => None,
    };
    let check = |info: &crate::record::meta::ObjectInfo| copy_source_conditions(head, info);
    let part = call
        .ctx
        .store
        .upload_part_copy(
            (&source_bucket, &source_key),
            range,
            check,
            (call.bucket(), call.key(), upload_id(call)),
            number,
        )
        .await
        .map_err(|e| to_s3(&e))?;
    let etag = hex::encode(part.md5);
    // The part's checksum is in the upload's algorithm, which the part alone does not
    // name (CRC32 and CRC32C have one length).
    let algorithm = if part.checksum.is_empty() {
        None
    } else {
        call.ctx
            .store
            .upload_info(call.bucket(), call.key(), upload_id(call))
            .await
            .ok()
            .and_then(|upload| upload.checksum_algorithm)
    };
    let sum = base64_encode(&part.checksum);
    let mut xml = Vec::new();
    s3xml::write_copy_part_result(
        &s3xml::CopyResult {
            last_modified_unix_nanos: part.seq,
            etag: &etag,
            checksums: algorithm.map_or_else(s3xml::Checksums::default, |a| checksums_of(a, &sum)),
        },
        &mut xml,
    );
    call.send(body.conn, Reply::xml(xml)).await
}

/// `x-amz-copy-source-range: bytes=first-last`, both offsets required.
fn parse_copy_range(text: &str) -> Result<ByteRange, S3Error> {
    let bad = || {
        invalid_argument(
            "The x-amz-copy-source-range value must be of the form bytes=first-last where \
             first and last are the zero-based offsets of the first and last bytes to copy",
        )
    };
    let spec = text.trim().strip_prefix("bytes=").ok_or_else(bad)?;
    let (first, last) = spec.split_once('-').ok_or_else(bad)?;
    let first: u64 = first.trim().parse().map_err(|_| bad())?;
    let last: u64 = last.trim().parse().map_err(|_| bad())?;
    if first > last {
        return Err(bad());
    }
    Ok(ByteRange::FromTo { first, last })
}

async fn complete<S: AsyncReadRent + AsyncWriteRent>(
    call: &Call<'_>,
    body: &mut RequestBody<'_, S>,
) -> Result<bool, S3Error> {
    let head = call.head;
    let xml = body.read_to_vec(COMPLETE_XML_MAX_BYTES).await?;
    let requested = shoal_http::xml::parse_complete_multipart_upload(&xml)?;
    let parts: Vec<CompletePart> = requested
        .iter()
        .map(complete_part)
        .collect::<Result<_, _>>()?;
    let condition =
        WriteCondition::from_headers(head.header("if-none-match"), head.header("if-match"))
            .map_err(|e| to_s3(&e))?;
    let expected = complete_expectations(head)?;
    let info = call
        .ctx
        .store
        .complete_multipart_upload_expecting(
            (call.bucket(), call.key(), upload_id(call)),
            &parts,
            &expected,
            &condition,
        )
        .await
        .map_err(|e| to_s3(&e))?;
    let mut location = format!("/{}/", call.bucket());
    shoal_http::uri::uri_encode_into(info.key.as_bytes(), false, &mut location);
    let checksum = checksum_text(&info);
    let checksums = checksum
        .as_ref()
        .map(|(algorithm, text)| checksums_of(*algorithm, text))
        .unwrap_or_default();
    let mut out = Vec::new();
    s3xml::write_complete_multipart_upload_result(
        &s3xml::CompleteMultipartUploadResult {
            location: &location,
            bucket: &info.bucket,
            key: &info.key,
            etag: &info.etag,
            checksums,
            checksum_type: checksum.as_ref().map(|_| info.checksum_type.name()),
        },
        &mut out,
    );
    call.send(body.conn, Reply::xml(out)).await
}

/// What the Complete request's headers declare about the object: its checksum (a
/// composite one as `<base64>-<parts>`), checksum type and size.
fn complete_expectations(head: &RequestHead) -> Result<CompleteExpectations, S3Error> {
    if let Some((name, _)) = head.headers.iter().find(|(name, _)| {
        name.strip_prefix("x-amz-checksum-").is_some_and(|rest| {
            ChecksumAlgorithm::from_name(rest).is_none() && !["type", "algorithm"].contains(&rest)
        })
    }) {
        return Err(S3Error::with_message(
            S3ErrorCode::NotImplemented,
            format!(
                "{name} is not implemented; Shoal checks CRC32, CRC32C, CRC64NVME, SHA1 and SHA256"
            ),
        ));
    }
    let mut expected = CompleteExpectations {
        checksum_type: checksum_type(head)?,
        ..CompleteExpectations::default()
    };
    for algorithm in ChecksumAlgorithm::ALL {
        let Some(text) = head.header(checksum_header(algorithm)) else {
            continue;
        };
        if expected.checksum.is_some() {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidRequest,
                "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
            ));
        }
        let (value, parts) = parse_object_checksum(algorithm, text)?;
        expected.checksum = Some(Checksum { algorithm, value });
        expected.checksum_parts = parts;
    }
    if let Some(text) = head.header("x-amz-mp-object-size") {
        let digits = text.trim();
        let size = digits
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| digits.parse::<u64>().ok())
            .flatten()
            .ok_or_else(|| {
                invalid_argument("x-amz-mp-object-size must be a non-negative integer")
            })?;
        expected.size_bytes = Some(size);
    }
    Ok(expected)
}

/// An object checksum header's value: base64 of the algorithm's length, and for a
/// composite checksum optionally `-<parts>` after it (base64 has no `-`).
fn parse_object_checksum(
    algorithm: ChecksumAlgorithm,
    text: &str,
) -> Result<(Vec<u8>, Option<usize>), S3Error> {
    let bad = || {
        S3Error::with_message(
            S3ErrorCode::InvalidRequest,
            format!(
                "Value for {} header is invalid.",
                checksum_header(algorithm)
            ),
        )
    };
    let text = text.trim();
    let (encoded, parts) = match text.split_once('-') {
        None => (text, None),
        Some((encoded, count)) => {
            let count = (!count.is_empty() && count.bytes().all(|b| b.is_ascii_digit()))
                .then(|| count.parse::<usize>().ok())
                .flatten()
                .filter(|n| (1..=PARTS_MAX).contains(n))
                .ok_or_else(bad)?;
            (encoded, Some(count))
        }
    };
    let value = base64_decode(encoded)
        .filter(|v| v.len() == algorithm.len_bytes())
        .ok_or_else(bad)?;
    Ok((value, parts))
}

/// The checksum headers of a GET or HEAD of part `number` when checksum mode is on:
/// that part's own checksum, which is what the bytes sent can be checked against.
pub(crate) fn part_checksum_headers(
    info: &ObjectInfo,
    number: u32,
    head: &RequestHead,
) -> Vec<(&'static str, String)> {
    let enabled = head
        .header("x-amz-checksum-mode")
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("enabled"));
    match part_checksum(info, number).filter(|_| enabled) {
        Some(checksum) => vec![
            (
                checksum_header(checksum.algorithm),
                base64_encode(&checksum.value),
            ),
            ("x-amz-checksum-type", info.checksum_type.name().to_owned()),
        ],
        None => Vec::new(),
    }
}

/// A part of the Complete body, with the checksum it names (at most one).
fn complete_part(part: &CompletedPart) -> Result<CompletePart, S3Error> {
    let sent = [
        (ChecksumAlgorithm::Crc32, &part.checksum_crc32),
        (ChecksumAlgorithm::Crc32c, &part.checksum_crc32c),
        (ChecksumAlgorithm::Crc64Nvme, &part.checksum_crc64nvme),
        (ChecksumAlgorithm::Sha1, &part.checksum_sha1),
        (ChecksumAlgorithm::Sha256, &part.checksum_sha256),
    ];
    let mut checksum = None;
    for (algorithm, value) in sent {
        let Some(text) = value else { continue };
        let value = base64_decode(text.trim()).ok_or_else(|| {
            S3Error::with_message(
                S3ErrorCode::InvalidPart,
                format!(
                    "part {}: the checksum is not valid base64",
                    part.part_number
                ),
            )
        })?;
        checksum = Some(Checksum { algorithm, value });
    }
    Ok(CompletePart {
        number: part.part_number,
        etag: part.etag.clone(),
        checksum,
    })
}

async fn list_parts<S: AsyncReadRent + AsyncWriteRent>(
    call: &Call<'_>,
    body: &mut RequestBody<'_, S>,
) -> Result<bool, S3Error> {
    body.discard(0).await?;
    let route = call.route;
    let marker = match route.query_value("part-number-marker") {
        None => 0,
        Some(text) => text
            .parse::<u32>()
            .map_err(|_| invalid_argument("part-number-marker must be an integer"))?,
    };
    let max_parts = page_size(route.query_value("max-parts"), "max-parts")?;
    let page = call
        .ctx
        .store
        .list_parts(
            (call.bucket(), call.key(), upload_id(call)),
            marker,
            max_parts,
        )
        .await
        .map_err(|e| to_s3(&e))?;
    let algorithm = page.upload.checksum_algorithm;
    let etags: Vec<String> = page.parts.iter().map(|p| hex::encode(p.md5)).collect();
    let sums: Vec<String> = page
        .parts
        .iter()
        .map(|p| base64_encode(&p.checksum))
        .collect();
    let parts: Vec<s3xml::Part<'_>> = page
        .parts
        .iter()
        .zip(etags.iter().zip(&sums))
        .map(|(p, (etag, sum))| s3xml::Part {
            part_number: p.number,
            last_modified_unix_nanos: p.seq,
            etag,
            size_bytes: p.size_bytes,
            checksums: match algorithm {
                Some(a) if !p.checksum.is_empty() => checksums_of(a, sum),
                _ => s3xml::Checksums::default(),
            },
        })
        .collect();
    let algorithm_name = algorithm.map(|a| a.name().to_ascii_uppercase());
    let mut out = Vec::new();
    s3xml::write_list_parts_result(
        &s3xml::ListPartsResult {
            bucket: call.bucket(),
            key: call.key(),
            upload_id: upload_id(call),
            part_number_marker: marker,
            max_parts: u32::try_from(max_parts).unwrap_or(u32::MAX),
            is_truncated: page.is_truncated,
            parts: &parts,
            initiator: owner(call),
            owner: owner(call),
            storage_class: STORAGE_CLASS,
            checksum_algorithm: algorithm_name.as_deref(),
            checksum_type: algorithm.map(|_| page.upload.checksum_type.name()),
        },
        &mut out,
    );
    call.send(body.conn, Reply::xml(out)).await
}

/// `max-parts` / `max-uploads`: a non-negative integer, capped at 1000.
fn page_size(text: Option<&str>, name: &str) -> Result<usize, S3Error> {
    match text {
        None => Ok(PAGE_MAX),
        Some(t) => t
            .parse::<usize>()
            .map(|n| n.min(PAGE_MAX))
            .map_err(|_| invalid_argument(&format!("{name} must be a non-negative integer"))),
    }
}

async fn list_uploads<S: AsyncReadRent + AsyncWriteRent>(
    call: &Call<'_>,
    body: &mut RequestBody<'_, S>,
) -> Result<bool, S3Error> {
    body.discard(0).await?;
    let route = call.route;
    let q = |name: &str| route.query_value(name).unwrap_or_default().to_owned();
    let encoding = match route.query_value("encoding-type") {
        None => None,
        Some(e) if e.eq_ignore_ascii_case("url") => Some(EncodingType::Url),
        Some(_) => return Err(invalid_argument("encoding-type must be url")),
    };
    let query = UploadsQuery {
        prefix: q("prefix"),
        delimiter: route
            .query_value("delimiter")
            .filter(|d| !d.is_empty())
            .map(str::to_owned),
        key_marker: q("key-marker"),
        upload_id_marker: q("upload-id-marker"),
        max_uploads: page_size(route.query_value("max-uploads"), "max-uploads")?,
    };
    let page = call
        .ctx
        .store
        .list_multipart_uploads(call.bucket(), &query)
        .await
        .map_err(|e| to_s3(&e))?;
    let algorithms: Vec<Option<String>> = page
        .uploads
        .iter()
        .map(|u| u.checksum_algorithm.map(|a| a.name().to_ascii_uppercase()))
        .collect();
    let uploads: Vec<s3xml::Upload<'_>> = page
        .uploads
        .iter()
        .zip(&algorithms)
        .map(|(u, algorithm): (&UploadInfo, _)| s3xml::Upload {
            key: &u.key,
            upload_id: &u.upload_id,
            initiator: owner(call),
            owner: owner(call),
            storage_class: STORAGE_CLASS,
            initiated_unix_nanos: u.initiated_unix_nanos,
            checksum_algorithm: algorithm.as_deref(),
        })
        .collect();
    let prefixes: Vec<s3xml::CommonPrefix<'_>> =
        page.common_prefixes.iter().map(String::as_str).collect();
    let mut out = Vec::new();
    s3xml::write_list_multipart_uploads_result(
        &s3xml::ListMultipartUploadsResult {
            bucket: call.bucket(),
            key_marker: &query.key_marker,
            upload_id_marker: &query.upload_id_marker,
            next_key_marker: page.next_key_marker.as_deref(),
            next_upload_id_marker: page.next_upload_id_marker.as_deref(),
            prefix: &query.prefix,
            delimiter: query.delimiter.as_deref(),
            max_uploads: u32::try_from(query.max_uploads).unwrap_or(u32::MAX),
            is_truncated: page.is_truncated,
            encoding_type: encoding,
            uploads: &uploads,
            common_prefixes: &prefixes,
        },
        &mut out,
    );
    call.send(body.conn, Reply::xml(out)).await
}

fn invalid_argument(message: &str) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidArgument, message.to_owned())
}
