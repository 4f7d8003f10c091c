//! Writers for the S3 response documents: each a pure function from a plain borrowed
//! struct to UTF-8 XML appended to a caller's `Vec<u8>`. Listings live in `list.rs`.
//!
//! Invariants: every document starts with the XML declaration and a root element in
//! the S3 namespace, spelled and ordered as AWS sends it; every text is escaped by
//! [`escape_text_into`], which also writes control
//! characters as character references so a key holding `\r` or `\x01` can never
//! change or break the document; times are unix nanoseconds rendered as S3 renders
//! them (`2009-10-12T17:50:30.000Z`, milliseconds truncated); ETags are passed without
//! quotes and written quoted (`&quot;abc&quot;`) everywhere AWS quotes them. Optional
//! elements appear exactly when AWS sends them: an `Option` field or a `bool` states
//! the condition, and values AWS derives from the rest (KeyCount, NextMarker,
//! NextPartNumberMarker) are derived here, never passed in. No writer reads a clock,
//! allocates beyond `out`'s growth, or fails.

mod list;

use std::io::Write as _;

// Kept for callers (shards escapes text into its own documents through this path).
use crate::base::error::S3ErrorCode;
pub use crate::base::escape::escape_text_into;
use crate::base::time::DateTime;
use crate::xml::Tag;

pub use list::{
    CommonPrefix, DeleteMarker, EncodingType, ListBucketResultV1, ListBucketResultV2,
    ListMultipartUploadsResult, ListPartsResult, ListVersionsResult, Object, Part, Upload, Version,
    VersionEntry, write_list_bucket_result_v1, write_list_bucket_result_v2,
    write_list_multipart_uploads_result, write_list_parts_result, write_list_versions_result,
};

/// The namespace of every S3 document since the 2006-03-01 API.
pub const S3_NAMESPACE: &str = "http://s3.amazonaws.com/doc/2006-03-01/";
const DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
const NANOS_PER_SEC: u64 = 1_000_000_000;
const NANOS_PER_MILLI: u64 = 1_000_000;
/// The region whose LocationConstraint AWS writes as an empty element.
const DEFAULT_REGION: &str = "us-east-1";

/// Appends unix nanoseconds as S3's XML timestamp, `2009-10-12T17:50:30.000Z`
/// (ISO 8601, UTC, milliseconds truncated as AWS truncates them).
pub fn write_timestamp(unix_nanos: u64, out: &mut Vec<u8>) {
    let unix_secs = i64::try_from(unix_nanos / NANOS_PER_SEC).expect("u64::MAX / 10^9 fits i64");
    let millis = unix_nanos % NANOS_PER_SEC / NANOS_PER_MILLI;
    let t = DateTime::from_unix_secs(unix_secs);
    // Writing into a Vec cannot fail.
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    );
}

/// An owner or initiator: the canonical user ID and its display name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner<'a> {
    pub id: &'a str,
    pub display_name: &'a str,
}

/// The additional checksums of an object or part, base64 as on the wire; `None` ones
/// are left out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Checksums<'a> {
    pub crc32: Option<&'a str>,
    pub crc32c: Option<&'a str>,
    pub crc64nvme: Option<&'a str>,
    pub sha1: Option<&'a str>,
    pub sha256: Option<&'a str>,
}

/// Element-level writing shared by every document. Control flow stays in the
/// document functions; this only appends.
pub(crate) struct XmlWriter<'o> {
    out: &'o mut Vec<u8>,
}

impl<'o> XmlWriter<'o> {
    /// Writes the declaration and opens `root` in the S3 namespace.
    pub(crate) fn document(out: &'o mut Vec<u8>, root: &str) -> Self {
        out.extend_from_slice(DECLARATION.as_bytes());
        let mut writer = XmlWriter { out };
        writer.raw(&["<", root, " xmlns=\"", S3_NAMESPACE, "\">"]);
        writer
    }

    fn raw(&mut self, parts: &[&str]) {
        for part in parts {
            self.out.extend_from_slice(part.as_bytes());
        }
    }

    pub(crate) fn open(&mut self, name: &str) {
        self.raw(&["<", name, ">"]);
    }

    pub(crate) fn close(&mut self, name: &str) {
        self.raw(&["</", name, ">"]);
    }

    pub(crate) fn text(&mut self, name: &str, text: &str) {
        self.open(name);
        escape_text_into(text, self.out);
        self.close(name);
    }

    pub(crate) fn text_if(&mut self, name: &str, text: Option<&str>) {
        if let Some(text) = text {
            self.text(name, text);
        }
    }

    pub(crate) fn number(&mut self, name: &str, value: u64) {
        self.open(name);
        // Writing into a Vec cannot fail.
        let _ = write!(self.out, "{value}");
        self.close(name);
    }

    pub(crate) fn boolean(&mut self, name: &str, value: bool) {
        self.text(name, if value { "true" } else { "false" });
    }

    pub(crate) fn time(&mut self, name: &str, unix_nanos: u64) {
        self.open(name);
        write_timestamp(unix_nanos, self.out);
        self.close(name);
    }

    /// An ETag in quotes, escaped: `<ETag>&quot;abc&quot;</ETag>` as AWS sends it.
    pub(crate) fn etag_quoted(&mut self, etag: &str) {
        assert!(!etag.contains('"'), "ETags are stored without quotes");
        self.open("ETag");
        self.out.extend_from_slice(b"&quot;");
        escape_text_into(etag, self.out);
        self.out.extend_from_slice(b"&quot;");
        self.close("ETag");
    }

    /// A key-like value, URL-encoded first when the client asked for `encoding-type`.
    pub(crate) fn key_text(&mut self, name: &str, text: &str, encoding: Option<EncodingType>) {
        match encoding {
            None => self.text(name, text),
            Some(EncodingType::Url) => {
                self.open(name);
                // The encoding's output is XML-safe ASCII; nothing left to escape.
                list::url_encode_into(text, self.out);
                self.close(name);
            }
        }
    }

    pub(crate) fn owner(&mut self, name: &str, owner: &Owner<'_>) {
        self.open(name);
        self.text("ID", owner.id);
        self.text("DisplayName", owner.display_name);
        self.close(name);
    }

    pub(crate) fn checksums(&mut self, checksums: &Checksums<'_>) {
        self.text_if("ChecksumCRC32", checksums.crc32);
        self.text_if("ChecksumCRC32C", checksums.crc32c);
        self.text_if("ChecksumCRC64NVME", checksums.crc64nvme);
        self.text_if("ChecksumSHA1", checksums.sha1);
        self.text_if("ChecksumSHA256", checksums.sha256);
    }

    pub(crate) fn finish(mut self, root: &str) {
        self.close(root);
    }
}

/// One bucket of a ListBuckets answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bucket<'a> {
    pub name: &'a str,
    pub creation_date_unix_nanos: u64,
    /// Sent by AWS only to clients that pass `bucket-region`; `None` leaves it out.
    pub bucket_region: Option<&'a str>,
}

/// ListBuckets.
#[derive(Clone, Copy, Debug)]
pub struct ListAllMyBucketsResult<'a> {
    pub owner: Owner<'a>,
    pub buckets: &'a [Bucket<'a>],
    /// Present only when the listing was paginated and is truncated.
    pub continuation_token: Option<&'a str>,
    /// Echoed only when the request gave a `prefix`.
    pub prefix: Option<&'a str>,
}

/// ListBuckets: `<ListAllMyBucketsResult><Owner/><Buckets><Bucket/>...</Buckets>`.
pub fn write_list_all_my_buckets_result(doc: &ListAllMyBucketsResult<'_>, out: &mut Vec<u8>) {
    let mut w = XmlWriter::document(out, "ListAllMyBucketsResult");
    w.owner("Owner", &doc.owner);
    w.open("Buckets");
    for bucket in doc.buckets {
        w.open("Bucket");
        w.text("Name", bucket.name);
        w.time("CreationDate", bucket.creation_date_unix_nanos);
        w.text_if("BucketRegion", bucket.bucket_region);
        w.close("Bucket");
    }
    w.close("Buckets");
    w.text_if("ContinuationToken", doc.continuation_token);
    w.text_if("Prefix", doc.prefix);
    w.finish("ListAllMyBucketsResult");
}

/// One key removed by DeleteObjects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deleted<'a> {
    pub key: &'a str,
    /// Echoed only when the request named a version.
    pub version_id: Option<&'a str>,
}

/// One key DeleteObjects could not remove.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeleteError<'a> {
    pub key: &'a str,
    pub version_id: Option<&'a str>,
    pub code: S3ErrorCode,
    pub message: &'a str,
}

/// DeleteObjects. In quiet mode AWS reports only the failures.
#[derive(Clone, Copy, Debug)]
pub struct DeleteResult<'a> {
    pub quiet: bool,
    pub deleted: &'a [Deleted<'a>],
    pub errors: &'a [DeleteError<'a>],
}

/// DeleteObjects: `<DeleteResult><Deleted/>...<Error/>...</DeleteResult>`.
pub fn write_delete_result(doc: &DeleteResult<'_>, out: &mut Vec<u8>) {
    let mut w = XmlWriter::document(out, "DeleteResult");
    if !doc.quiet {
        for deleted in doc.deleted {
            w.open("Deleted");
            w.text("Key", deleted.key);
            w.text_if("VersionId", deleted.version_id);
            w.close("Deleted");
        }
    }
    for error in doc.errors {
        w.open("Error");
        w.text("Key", error.key);
        w.text_if("VersionId", error.version_id);
        w.text("Code", error.code.as_str());
        w.text("Message", error.message);
        w.close("Error");
    }
    w.finish("DeleteResult");
}

/// GetBucketLocation: the region, except that us-east-1 (and an empty region) is an
/// empty `<LocationConstraint/>`, as AWS keeps it for compatibility with the first API.
pub fn write_location_constraint(region: &str, out: &mut Vec<u8>) {
    let w = XmlWriter::document(out, "LocationConstraint");
    if region != DEFAULT_REGION {
        escape_text_into(region, w.out);
    }
    w.finish("LocationConstraint");
}

/// One part of a multipart object in GetObjectAttributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObjectPart<'a> {
    pub part_number: u32,
    pub size_bytes: u64,
    pub checksums: Checksums<'a>,
}

/// The `ObjectParts` page of GetObjectAttributes; NextPartNumberMarker is derived.
/// AWS lists `Part`s only for objects with an additional checksum; for the others the
/// caller passes no parts and the page carries only the counts.
#[derive(Clone, Copy, Debug)]
pub struct ObjectParts<'a> {
    pub parts_count: u32,
    pub part_number_marker: u32,
    pub max_parts: u32,
    pub is_truncated: bool,
    pub parts: &'a [ObjectPart<'a>],
}

/// GetObjectAttributes: each field is `Some` exactly when the client asked for that
/// attribute in `x-amz-object-attributes` (and, for `object_parts`, the object was
/// uploaded in parts).
#[derive(Clone, Copy, Debug, Default)]
pub struct GetObjectAttributesResponse<'a> {
    /// Unquoted: this document is the one place AWS sends the ETag bare.
    pub etag: Option<&'a str>,
    pub checksum: Option<Checksums<'a>>,
    /// `FULL_OBJECT` or `COMPOSITE`, written inside `Checksum`.
    pub checksum_type: Option<&'a str>,
    pub object_parts: Option<ObjectParts<'a>>,
    pub storage_class: Option<&'a str>,
    pub object_size_bytes: Option<u64>,
}

/// GetObjectAttributes, in the element order of the AWS reference.
pub fn write_get_object_attributes_response(
    doc: &GetObjectAttributesResponse<'_>,
    out: &mut Vec<u8>,
) {
    let mut w = XmlWriter::document(out, "GetObjectAttributesResponse");
    w.text_if("ETag", doc.etag);
    if let Some(checksums) = &doc.checksum {
        w.open("Checksum");
        w.checksums(checksums);
        w.text_if("ChecksumType", doc.checksum_type);
        w.close("Checksum");
    }
    if let Some(parts) = &doc.object_parts {
        w.open("ObjectParts");
        w.boolean("IsTruncated", parts.is_truncated);
        w.number("MaxParts", u64::from(parts.max_parts));
        let next = parts.parts.last().map_or(0, |p| p.part_number);
        w.number("NextPartNumberMarker", u64::from(next));
        w.number("PartNumberMarker", u64::from(parts.part_number_marker));
        for part in parts.parts {
            w.open("Part");
            w.checksums(&part.checksums);
            w.number("PartNumber", u64::from(part.part_number));
            w.number("Size", part.size_bytes);
            w.close("Part");
        }
        w.number("PartsCount", u64::from(parts.parts_count));
        w.close("ObjectParts");
    }
    w.text_if("StorageClass", doc.storage_class);
    if let Some(size_bytes) = doc.object_size_bytes {
        w.number("ObjectSize", size_bytes);
    }
    w.finish("GetObjectAttributesResponse");
}

/// The outcome of CopyObject or UploadPartCopy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CopyResult<'a> {
    pub last_modified_unix_nanos: u64,
    /// Unquoted; written quoted.
    pub etag: &'a str,
    pub checksums: Checksums<'a>,
}

/// CopyObject: `<CopyObjectResult><LastModified/><ETag/>...`.
pub fn write_copy_object_result(doc: &CopyResult<'_>, out: &mut Vec<u8>) {
    write_copy(doc, "CopyObjectResult", out);
}

/// UploadPartCopy: `<CopyPartResult><LastModified/><ETag/>...`.
pub fn write_copy_part_result(doc: &CopyResult<'_>, out: &mut Vec<u8>) {
    write_copy(doc, "CopyPartResult", out);
}

fn write_copy(doc: &CopyResult<'_>, root: &str, out: &mut Vec<u8>) {
    let mut w = XmlWriter::document(out, root);
    w.time("LastModified", doc.last_modified_unix_nanos);
    w.etag_quoted(doc.etag);
    w.checksums(&doc.checksums);
    w.finish(root);
}

/// CreateMultipartUpload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InitiateMultipartUploadResult<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub upload_id: &'a str,
}

/// CreateMultipartUpload: `<InitiateMultipartUploadResult><Bucket/><Key/><UploadId/>`.
pub fn write_initiate_multipart_upload_result(
    doc: &InitiateMultipartUploadResult<'_>,
    out: &mut Vec<u8>,
) {
    let mut w = XmlWriter::document(out, "InitiateMultipartUploadResult");
    w.text("Bucket", doc.bucket);
    w.text("Key", doc.key);
    w.text("UploadId", doc.upload_id);
    w.finish("InitiateMultipartUploadResult");
}

/// CompleteMultipartUpload.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompleteMultipartUploadResult<'a> {
    /// The object's URL, e.g. `http://host/bucket/key`, already percent-encoded.
    pub location: &'a str,
    pub bucket: &'a str,
    pub key: &'a str,
    /// Unquoted multipart ETag (`<md5 of md5s>-<parts>`); written quoted.
    pub etag: &'a str,
    pub checksums: Checksums<'a>,
    pub checksum_type: Option<&'a str>,
}

/// CompleteMultipartUpload: `<CompleteMultipartUploadResult><Location/><Bucket/><Key/><ETag/>`.
pub fn write_complete_multipart_upload_result(
    doc: &CompleteMultipartUploadResult<'_>,
    out: &mut Vec<u8>,
) {
    let mut w = XmlWriter::document(out, "CompleteMultipartUploadResult");
    w.text("Location", doc.location);
    w.text("Bucket", doc.bucket);
    w.text("Key", doc.key);
    w.etag_quoted(doc.etag);
    w.checksums(&doc.checksums);
    w.text_if("ChecksumType", doc.checksum_type);
    w.finish("CompleteMultipartUploadResult");
}

/// GetObjectTagging and GetBucketTagging: `<Tagging><TagSet><Tag><Key/><Value/>`.
/// Takes the tags as [`crate::xml::parse_tagging`] returns them, so a stored set
/// round-trips through the same type.
pub fn write_tagging(tags: &[Tag], out: &mut Vec<u8>) {
    let mut w = XmlWriter::document(out, "Tagging");
    w.open("TagSet");
    for tag in tags {
        w.open("Tag");
        w.text("Key", &tag.key);
        w.text("Value", &tag.value);
        w.close("Tag");
    }
    w.close("TagSet");
    w.finish("Tagging");
}

#[cfg(test)]
pub(crate) mod tests;
