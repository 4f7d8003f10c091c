//! From store types to the S3 response documents `shoal_http::s3xml` writes.

use shoal_http::S3Error;
use shoal_http::s3xml::{self, EncodingType, Owner};

use crate::front::handler::base64_encode;
use crate::object::bucket::BucketInfo;
use crate::object::list::{ListPage, ListQuery, ListedObject};
use crate::record::checksum::ChecksumAlgorithm;
use crate::record::meta::ObjectInfo;

const STORAGE_CLASS: &str = "STANDARD";

/// ListAllMyBucketsResult; `next_token` (S3's `ContinuationToken`) when more buckets
/// remain, `prefix` echoed when the request gave one.
pub fn list_buckets(
    buckets: &[BucketInfo],
    owner_id: &str,
    next_token: Option<&str>,
    prefix: Option<&str>,
) -> Vec<u8> {
    let entries: Vec<s3xml::Bucket<'_>> = buckets
        .iter()
        .map(|b| s3xml::Bucket {
            name: &b.name,
            creation_date_unix_nanos: b.created_unix_nanos,
            bucket_region: None,
        })
        .collect();
    let doc = s3xml::ListAllMyBucketsResult {
        owner: Owner {
            id: owner_id,
            display_name: owner_id,
        },
        buckets: &entries,
        continuation_token: next_token,
        prefix,
    };
    let mut out = Vec::new();
    s3xml::write_list_all_my_buckets_result(&doc, &mut out);
    out
}

pub fn location(region: &str) -> Vec<u8> {
    let mut out = Vec::new();
    s3xml::write_location_constraint(region, &mut out);
    out
}

/// One DeleteObjects entry: the key, the version id it named, and what became of it.
pub type DeleteOutcome = (String, Option<String>, Result<(), S3Error>);

/// Per key: deleted, or the error it got (with the version id the request named).
pub fn delete_result(results: &[DeleteOutcome], quiet: bool) -> Vec<u8> {
    let deleted: Vec<s3xml::Deleted<'_>> = results
        .iter()
        .filter(|(_, _, r)| r.is_ok())
        .map(|(key, version_id, _)| s3xml::Deleted {
            key,
            version_id: version_id.as_deref(),
        })
        .collect();
    let errors: Vec<s3xml::DeleteError<'_>> = results
        .iter()
        .filter_map(|(key, version_id, r)| r.as_ref().err().map(|e| (key, version_id, e)))
        .map(|(key, version_id, e)| s3xml::DeleteError {
            key,
            version_id: version_id.as_deref(),
            code: e.code(),
            message: e.message(),
        })
        .collect();
    let mut out = Vec::new();
    s3xml::write_delete_result(
        &s3xml::DeleteResult {
            quiet,
            deleted: &deleted,
            errors: &errors,
        },
        &mut out,
    );
    out
}

/// GetObjectAttributes for the attributes named in `x-amz-object-attributes`; parts of
/// a multipart object are paged by `(part number marker, max parts)`.
pub fn object_attributes(
    info: &ObjectInfo,
    wanted: &[String],
    parts_page: (u32, usize),
) -> Vec<u8> {
    let wants = |name: &str| wanted.iter().any(|w| w.eq_ignore_ascii_case(name));
    let checksum = crate::front::s3::object::checksum_text(info);
    let checksums = checksum.as_ref().map(|(a, v)| checksums_of(*a, v));
    let (marker, max_parts) = parts_page;
    let algorithm = info.checksum.as_ref().map(|c| c.algorithm);
    let part_sums: Vec<String> = info
        .parts
        .iter()
        .map(|p| base64_encode(&p.checksum))
        .collect();
    let listed: Vec<s3xml::ObjectPart<'_>> = info
        .parts
        .iter()
        .zip(&part_sums)
        .filter(|(p, _)| p.number > marker)
        .take(max_parts)
        .map(|(p, sum)| s3xml::ObjectPart {
            part_number: p.number,
            size_bytes: p.size_bytes,
            checksums: match algorithm {
                Some(a) if !p.checksum.is_empty() => checksums_of(a, sum),
                _ => s3xml::Checksums::default(),
            },
        })
        .collect();
    let after_marker = info.parts.iter().filter(|p| p.number > marker).count();
    let object_parts =
        (wants("ObjectParts") && !info.parts.is_empty()).then(|| s3xml::ObjectParts {
            parts_count: u32::try_from(info.parts.len()).unwrap_or(u32::MAX),
            part_number_marker: marker,
            max_parts: u32::try_from(max_parts).unwrap_or(u32::MAX),
            is_truncated: after_marker > listed.len(),
            parts: &listed,
        });
    let doc = s3xml::GetObjectAttributesResponse {
        etag: wants("ETag").then_some(info.etag.as_str()),
        checksum: checksums.filter(|_| wants("Checksum")),
        checksum_type: checksums
            .filter(|_| wants("Checksum"))
            .map(|_| info.checksum_type.name()),
        object_parts,
        storage_class: wants("StorageClass").then_some(STORAGE_CLASS),
        object_size_bytes: wants("ObjectSize").then_some(info.size_bytes),
    };
    let mut out = Vec::new();
    s3xml::write_get_object_attributes_response(&doc, &mut out);
    out
}

pub(crate) fn checksums_of(algorithm: ChecksumAlgorithm, value: &str) -> s3xml::Checksums<'_> {
    let mut c = s3xml::Checksums::default();
    match algorithm {
        ChecksumAlgorithm::Crc32 => c.crc32 = Some(value),
        ChecksumAlgorithm::Crc32c => c.crc32c = Some(value),
        ChecksumAlgorithm::Crc64Nvme => c.crc64nvme = Some(value),
        ChecksumAlgorithm::Sha1 => c.sha1 = Some(value),
        ChecksumAlgorithm::Sha256 => c.sha256 = Some(value),
    }
    c
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListingStyle {
    V1,
    V2,
    Versions,
}

/// What a listing request asked, for echoing back.
pub struct ListingParams<'a> {
    pub style: ListingStyle,
    pub bucket: &'a str,
    pub query: &'a ListQuery,
    pub encoding_url: bool,
    pub fetch_owner: bool,
    pub owner_id: &'a str,
    pub continuation_token: Option<String>,
    pub next_continuation_token: Option<String>,
    pub start_after: Option<String>,
    pub marker: Option<String>,
}

pub fn listing(params: &ListingParams<'_>, page: &ListPage) -> Vec<u8> {
    let owner = Owner {
        id: params.owner_id,
        display_name: params.owner_id,
    };
    let prefixes: Vec<&str> = page.common_prefixes.iter().map(String::as_str).collect();
    let encoding_type = params.encoding_url.then_some(EncodingType::Url);
    let max_keys = u32::try_from(params.query.max_keys).unwrap_or(u32::MAX);
    let delimiter = params.query.delimiter.as_deref();
    let mut out = Vec::new();
    match params.style {
        ListingStyle::V2 | ListingStyle::V1 => {
            let contents: Vec<s3xml::Object<'_>> = page
                .objects
                .iter()
                .map(|o| object_entry(o, owner))
                .collect();
            if params.style == ListingStyle::V2 {
                let doc = s3xml::ListBucketResultV2 {
                    name: params.bucket,
                    prefix: &params.query.prefix,
                    delimiter,
                    max_keys,
                    is_truncated: page.is_truncated,
                    continuation_token: params.continuation_token.as_deref(),
                    next_continuation_token: params.next_continuation_token.as_deref(),
                    start_after: params.start_after.as_deref(),
                    encoding_type,
                    fetch_owner: params.fetch_owner,
                    contents: &contents,
                    common_prefixes: &prefixes,
                };
                s3xml::write_list_bucket_result_v2(&doc, &mut out);
            } else {
                let doc = s3xml::ListBucketResultV1 {
                    name: params.bucket,
                    prefix: &params.query.prefix,
                    marker: params.marker.as_deref().unwrap_or_default(),
                    delimiter,
                    max_keys,
                    is_truncated: page.is_truncated,
                    encoding_type,
                    contents: &contents,
                    common_prefixes: &prefixes,
                };
                s3xml::write_list_bucket_result_v1(&doc, &mut out);
            }
        }
        ListingStyle::Versions => {
            let entries: Vec<s3xml::VersionEntry<'_>> = page
                .objects
                .iter()
                .map(|o| s3xml::VersionEntry::Version(version_entry(o, owner)))
                .collect();
            let next = page
                .next_start_after
                .as_deref()
                .filter(|_| page.is_truncated);
            let doc = s3xml::ListVersionsResult {
                name: params.bucket,
                prefix: &params.query.prefix,
                key_marker: params.marker.as_deref().unwrap_or_default(),
                version_id_marker: "",
                next_key_marker: next,
                next_version_id_marker: next.map(|_| "null"),
                max_keys,
                delimiter,
                is_truncated: page.is_truncated,
                encoding_type,
                entries: &entries,
                common_prefixes: &prefixes,
            };
            s3xml::write_list_versions_result(&doc, &mut out);
        }
    }
    out
}

fn object_entry<'a>(info: &'a ListedObject, owner: Owner<'a>) -> s3xml::Object<'a> {
    s3xml::Object {
        key: &info.key,
        last_modified_unix_nanos: info.mod_time_unix_nanos,
        etag: &info.etag,
        size_bytes: info.size_bytes,
        storage_class: STORAGE_CLASS,
        owner,
        checksum_algorithm: info.checksum_algorithm.map(algorithm_name),
    }
}

fn version_entry<'a>(info: &'a ListedObject, owner: Owner<'a>) -> s3xml::Version<'a> {
    s3xml::Version {
        key: &info.key,
        version_id: "null",
        is_latest: true,
        last_modified_unix_nanos: info.mod_time_unix_nanos,
        etag: &info.etag,
        size_bytes: info.size_bytes,
        storage_class: STORAGE_CLASS,
        owner,
        checksum_algorithm: info.checksum_algorithm.map(algorithm_name),
    }
}

/// The algorithm as S3 names it in listings (`CRC64NVME`).
fn algorithm_name(algorithm: ChecksumAlgorithm) -> &'static str {
    match algorithm {
        ChecksumAlgorithm::Crc32 => "CRC32",
        ChecksumAlgorithm::Crc32c => "CRC32C",
        ChecksumAlgorithm::Crc64Nvme => "CRC64NVME",
        ChecksumAlgorithm::Sha1 => "SHA1",
        ChecksumAlgorithm::Sha256 => "SHA256",
    }
}

pub fn copy_result(info: &ObjectInfo) -> Vec<u8> {
    let value = info.checksum.as_ref().map(|c| base64_encode(&c.value));
    let checksums = match (&info.checksum, value.as_deref()) {
        (Some(c), Some(v)) => checksums_of(c.algorithm, v),
        _ => s3xml::Checksums::default(),
    };
    let doc = s3xml::CopyResult {
        last_modified_unix_nanos: info.mod_time_unix_nanos,
        etag: &info.etag,
        checksums,
    };
    let mut out = Vec::new();
    s3xml::write_copy_object_result(&doc, &mut out);
    out
}
