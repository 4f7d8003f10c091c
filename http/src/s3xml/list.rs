//! The listing documents: ListObjectsV2 and ListObjects (both `ListBucketResult`),
//! ListObjectVersions (`ListVersionsResult`), ListParts and ListMultipartUploads.
//!
//! Invariants: `encoding-type=url` encodes exactly the elements AWS encodes (keys,
//! prefixes, common prefixes, delimiter, and the key-valued markers) and nothing else;
//! tokens and upload IDs are never encoded. Elements AWS derives from the page
//! (KeyCount, NextMarker, NextPartNumberMarker) are derived here from the entries.
//!
//! URL encoding, as S3 does it (the s3-tests suite's `test_bucket_list_encoding_basic`
//! expects `quux%20ab/` and `asdf%2Bb`): each UTF-8 byte is kept if it is
//! `A-Z a-z 0-9 - _ . * /`, and every other byte, space included, is `%XX` with
//! upper-case hex (so a space is `%20`, `~` is `%7E` and `+` is `%2B`). A space is never
//! `+`: a client that decodes with a plain percent-decoder (Go's `PathUnescape`, the
//! Rust and JavaScript SDK users) would read `+` back as a plus and list a key that
//! does not exist; `%20` decodes to a space under both plain and `+`-aware decoders.

use super::{Checksums, Owner, XmlWriter};

/// The only `encoding-type` S3 defines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodingType {
    Url,
}

impl EncodingType {
    fn as_str(self) -> &'static str {
        match self {
            EncodingType::Url => "url",
        }
    }
}

/// Appends `text` URL-encoded as S3 encodes listing values (see the file comment).
pub(crate) fn url_encode_into(text: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &byte in text.as_bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'*' | b'/') {
            out.push(byte);
        } else {
            out.extend_from_slice(&[
                b'%',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0x0f)],
            ]);
        }
    }
}

/// One object of a ListObjects or ListObjectsV2 page (`<Contents>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Object<'a> {
    pub key: &'a str,
    pub last_modified_unix_nanos: u64,
    /// Unquoted; written quoted.
    pub etag: &'a str,
    pub size_bytes: u64,
    /// `STANDARD` for everything Shoal stores.
    pub storage_class: &'a str,
    /// Written by ListObjects always, by ListObjectsV2 only with `fetch-owner=true`.
    pub owner: Owner<'a>,
    /// The algorithm of the object's additional checksum, if it has one (`CRC64NVME`).
    pub checksum_algorithm: Option<&'a str>,
}

/// A rolled-up prefix (`<CommonPrefixes><Prefix/>`); keys and prefixes together are
/// in key order in every listing.
pub type CommonPrefix<'a> = &'a str;

/// ListObjectsV2 (`list-type=2`). KeyCount is derived: contents plus common prefixes.
#[derive(Clone, Copy, Debug)]
pub struct ListBucketResultV2<'a> {
    pub name: &'a str,
    /// The request's prefix, empty if none (AWS always writes `<Prefix>`).
    pub prefix: &'a str,
    pub delimiter: Option<&'a str>,
    pub max_keys: u32,
    pub is_truncated: bool,
    /// Echoed when the request carried one.
    pub continuation_token: Option<&'a str>,
    /// `Some` exactly when `is_truncated`.
    pub next_continuation_token: Option<&'a str>,
    /// Echoed when the request carried one.
    pub start_after: Option<&'a str>,
    pub encoding_type: Option<EncodingType>,
    pub fetch_owner: bool,
    pub contents: &'a [Object<'a>],
    pub common_prefixes: &'a [CommonPrefix<'a>],
}

/// ListObjectsV2: `<ListBucketResult>` with continuation tokens.
pub fn write_list_bucket_result_v2(doc: &ListBucketResultV2<'_>, out: &mut Vec<u8>) {
    assert_eq!(
        doc.is_truncated,
        doc.next_continuation_token.is_some(),
        "a truncated page, and only one, carries a NextContinuationToken"
    );
    let encoding = doc.encoding_type;
    let mut w = XmlWriter::document(out, "ListBucketResult");
    w.text("Name", doc.name);
    w.key_text("Prefix", doc.prefix, encoding);
    w.text_if("ContinuationToken", doc.continuation_token);
    w.text_if("NextContinuationToken", doc.next_continuation_token);
    let key_count = doc.contents.len() + doc.common_prefixes.len();
    w.number("KeyCount", key_count as u64);
    w.number("MaxKeys", u64::from(doc.max_keys));
    if let Some(delimiter) = doc.delimiter {
        w.key_text("Delimiter", delimiter, encoding);
    }
    if let Some(start_after) = doc.start_after {
        w.key_text("StartAfter", start_after, encoding);
    }
    write_encoding_type(&mut w, encoding);
    w.boolean("IsTruncated", doc.is_truncated);
    for object in doc.contents {
        write_object(&mut w, object, doc.fetch_owner, encoding);
    }
    write_common_prefixes(&mut w, doc.common_prefixes, encoding);
    w.finish("ListBucketResult");
}

/// ListObjects (version 1). NextMarker is derived, and written only when a delimiter
/// was given and the page is truncated, as AWS does; without a delimiter the client
/// continues from the last key.
#[derive(Clone, Copy, Debug)]
pub struct ListBucketResultV1<'a> {
    pub name: &'a str,
    pub prefix: &'a str,
    /// The request's marker, empty if none (AWS always writes `<Marker>`).
    pub marker: &'a str,
    pub delimiter: Option<&'a str>,
    pub max_keys: u32,
    pub is_truncated: bool,
    pub encoding_type: Option<EncodingType>,
    pub contents: &'a [Object<'a>],
    pub common_prefixes: &'a [CommonPrefix<'a>],
}

/// ListObjects: `<ListBucketResult>` with markers; Owner is always written.
pub fn write_list_bucket_result_v1(doc: &ListBucketResultV1<'_>, out: &mut Vec<u8>) {
    let encoding = doc.encoding_type;
    let mut w = XmlWriter::document(out, "ListBucketResult");
    w.text("Name", doc.name);
    w.key_text("Prefix", doc.prefix, encoding);
    w.key_text("Marker", doc.marker, encoding);
    if doc.delimiter.is_some() && doc.is_truncated {
        // The page's last entry: the greater of the last key and the last prefix.
        let last_key = doc.contents.last().map(|o| o.key);
        let next_marker = last_key.max(doc.common_prefixes.last().copied());
        w.key_text("NextMarker", next_marker.unwrap_or(""), encoding);
    }
    w.number("MaxKeys", u64::from(doc.max_keys));
    if let Some(delimiter) = doc.delimiter {
        w.key_text("Delimiter", delimiter, encoding);
    }
    w.boolean("IsTruncated", doc.is_truncated);
    write_encoding_type(&mut w, encoding);
    for object in doc.contents {
        write_object(&mut w, object, true, encoding);
    }
    write_common_prefixes(&mut w, doc.common_prefixes, encoding);
    w.finish("ListBucketResult");
}

fn write_encoding_type(w: &mut XmlWriter<'_>, encoding: Option<EncodingType>) {
    if let Some(encoding) = encoding {
        w.text("EncodingType", encoding.as_str());
    }
}

fn write_object(
    w: &mut XmlWriter<'_>,
    object: &Object<'_>,
    with_owner: bool,
    encoding: Option<EncodingType>,
) {
    w.open("Contents");
    w.key_text("Key", object.key, encoding);
    w.time("LastModified", object.last_modified_unix_nanos);
    w.etag_quoted(object.etag);
    w.text_if("ChecksumAlgorithm", object.checksum_algorithm);
    w.number("Size", object.size_bytes);
    if with_owner {
        w.owner("Owner", &object.owner);
    }
    w.text("StorageClass", object.storage_class);
    w.close("Contents");
}

fn write_common_prefixes(
    w: &mut XmlWriter<'_>,
    prefixes: &[CommonPrefix<'_>],
    encoding: Option<EncodingType>,
) {
    for prefix in prefixes {
        w.open("CommonPrefixes");
        w.key_text("Prefix", prefix, encoding);
        w.close("CommonPrefixes");
    }
}

/// One object version of ListObjectVersions. Unversioned buckets list each object
/// once, with version ID `null` and `is_latest`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Version<'a> {
    pub key: &'a str,
    pub version_id: &'a str,
    pub is_latest: bool,
    pub last_modified_unix_nanos: u64,
    /// Unquoted; written quoted.
    pub etag: &'a str,
    pub size_bytes: u64,
    pub storage_class: &'a str,
    pub owner: Owner<'a>,
    pub checksum_algorithm: Option<&'a str>,
}

/// A delete marker of ListObjectVersions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeleteMarker<'a> {
    pub key: &'a str,
    pub version_id: &'a str,
    pub is_latest: bool,
    pub last_modified_unix_nanos: u64,
    pub owner: Owner<'a>,
}

/// Versions and delete markers interleave in key-then-age order, so they share a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VersionEntry<'a> {
    Version(Version<'a>),
    DeleteMarker(DeleteMarker<'a>),
}

/// ListObjectVersions.
#[derive(Clone, Copy, Debug)]
pub struct ListVersionsResult<'a> {
    pub name: &'a str,
    pub prefix: &'a str,
    /// The request's markers, empty if none (AWS always writes both).
    pub key_marker: &'a str,
    pub version_id_marker: &'a str,
    /// Both `Some` exactly when `is_truncated`.
    pub next_key_marker: Option<&'a str>,
    pub next_version_id_marker: Option<&'a str>,
    pub max_keys: u32,
    pub delimiter: Option<&'a str>,
    pub is_truncated: bool,
    pub encoding_type: Option<EncodingType>,
    pub entries: &'a [VersionEntry<'a>],
    pub common_prefixes: &'a [CommonPrefix<'a>],
}

/// ListObjectVersions: `<ListVersionsResult>`.
pub fn write_list_versions_result(doc: &ListVersionsResult<'_>, out: &mut Vec<u8>) {
    assert_eq!(doc.is_truncated, doc.next_key_marker.is_some());
    assert_eq!(doc.is_truncated, doc.next_version_id_marker.is_some());
    let encoding = doc.encoding_type;
    let mut w = XmlWriter::document(out, "ListVersionsResult");
    w.text("Name", doc.name);
    w.key_text("Prefix", doc.prefix, encoding);
    w.key_text("KeyMarker", doc.key_marker, encoding);
    w.text("VersionIdMarker", doc.version_id_marker);
    if let Some(next_key_marker) = doc.next_key_marker {
        w.key_text("NextKeyMarker", next_key_marker, encoding);
    }
    w.text_if("NextVersionIdMarker", doc.next_version_id_marker);
    w.number("MaxKeys", u64::from(doc.max_keys));
    if let Some(delimiter) = doc.delimiter {
        w.key_text("Delimiter", delimiter, encoding);
    }
    w.boolean("IsTruncated", doc.is_truncated);
    write_encoding_type(&mut w, encoding);
    for entry in doc.entries {
        match entry {
            VersionEntry::Version(version) => write_version(&mut w, version, encoding),
            VersionEntry::DeleteMarker(marker) => write_delete_marker(&mut w, marker, encoding),
        }
    }
    write_common_prefixes(&mut w, doc.common_prefixes, encoding);
    w.finish("ListVersionsResult");
}

fn write_version(w: &mut XmlWriter<'_>, version: &Version<'_>, encoding: Option<EncodingType>) {
    w.open("Version");
    w.key_text("Key", version.key, encoding);
    w.text("VersionId", version.version_id);
    w.boolean("IsLatest", version.is_latest);
    w.time("LastModified", version.last_modified_unix_nanos);
    w.etag_quoted(version.etag);
    w.text_if("ChecksumAlgorithm", version.checksum_algorithm);
    w.number("Size", version.size_bytes);
    w.text("StorageClass", version.storage_class);
    w.owner("Owner", &version.owner);
    w.close("Version");
}

fn write_delete_marker(
    w: &mut XmlWriter<'_>,
    marker: &DeleteMarker<'_>,
    encoding: Option<EncodingType>,
) {
    w.open("DeleteMarker");
    w.key_text("Key", marker.key, encoding);
    w.text("VersionId", marker.version_id);
    w.boolean("IsLatest", marker.is_latest);
    w.time("LastModified", marker.last_modified_unix_nanos);
    w.owner("Owner", &marker.owner);
    w.close("DeleteMarker");
}

/// One uploaded part of ListParts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Part<'a> {
    pub part_number: u32,
    pub last_modified_unix_nanos: u64,
    /// Unquoted; written quoted.
    pub etag: &'a str,
    pub size_bytes: u64,
    pub checksums: Checksums<'a>,
}

/// ListParts. NextPartNumberMarker is derived: the last listed part, else the marker.
#[derive(Clone, Copy, Debug)]
pub struct ListPartsResult<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub upload_id: &'a str,
    pub part_number_marker: u32,
    pub max_parts: u32,
    pub is_truncated: bool,
    pub parts: &'a [Part<'a>],
    pub initiator: Owner<'a>,
    pub owner: Owner<'a>,
    pub storage_class: &'a str,
    pub checksum_algorithm: Option<&'a str>,
    pub checksum_type: Option<&'a str>,
}

/// ListParts: `<ListPartsResult>`.
pub fn write_list_parts_result(doc: &ListPartsResult<'_>, out: &mut Vec<u8>) {
    let mut w = XmlWriter::document(out, "ListPartsResult");
    w.text("Bucket", doc.bucket);
    w.text("Key", doc.key);
    w.text("UploadId", doc.upload_id);
    w.number("PartNumberMarker", u64::from(doc.part_number_marker));
    let next = doc
        .parts
        .last()
        .map_or(doc.part_number_marker, |p| p.part_number);
    w.number("NextPartNumberMarker", u64::from(next));
    w.number("MaxParts", u64::from(doc.max_parts));
    w.boolean("IsTruncated", doc.is_truncated);
    for part in doc.parts {
        w.open("Part");
        w.number("PartNumber", u64::from(part.part_number));
        w.time("LastModified", part.last_modified_unix_nanos);
        w.etag_quoted(part.etag);
        w.number("Size", part.size_bytes);
        w.checksums(&part.checksums);
        w.close("Part");
    }
    w.owner("Initiator", &doc.initiator);
    w.owner("Owner", &doc.owner);
    w.text("StorageClass", doc.storage_class);
    w.text_if("ChecksumAlgorithm", doc.checksum_algorithm);
    w.text_if("ChecksumType", doc.checksum_type);
    w.finish("ListPartsResult");
}

/// One in-progress upload of ListMultipartUploads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Upload<'a> {
    pub key: &'a str,
    pub upload_id: &'a str,
    pub initiator: Owner<'a>,
    pub owner: Owner<'a>,
    pub storage_class: &'a str,
    pub initiated_unix_nanos: u64,
    pub checksum_algorithm: Option<&'a str>,
}

/// ListMultipartUploads.
#[derive(Clone, Copy, Debug)]
pub struct ListMultipartUploadsResult<'a> {
    pub bucket: &'a str,
    /// The request's markers, empty if none (AWS always writes both).
    pub key_marker: &'a str,
    pub upload_id_marker: &'a str,
    /// Both `Some` exactly when `is_truncated`.
    pub next_key_marker: Option<&'a str>,
    pub next_upload_id_marker: Option<&'a str>,
    pub prefix: &'a str,
    pub delimiter: Option<&'a str>,
    pub max_uploads: u32,
    pub is_truncated: bool,
    pub encoding_type: Option<EncodingType>,
    pub uploads: &'a [Upload<'a>],
    pub common_prefixes: &'a [CommonPrefix<'a>],
}

/// ListMultipartUploads: `<ListMultipartUploadsResult>`.
pub fn write_list_multipart_uploads_result(
    doc: &ListMultipartUploadsResult<'_>,
    out: &mut Vec<u8>,
) {
    assert_eq!(doc.is_truncated, doc.next_key_marker.is_some());
    assert_eq!(doc.is_truncated, doc.next_upload_id_marker.is_some());
    let encoding = doc.encoding_type;
    let mut w = XmlWriter::document(out, "ListMultipartUploadsResult");
    w.text("Bucket", doc.bucket);
    w.key_text("KeyMarker", doc.key_marker, encoding);
    w.text("UploadIdMarker", doc.upload_id_marker);
    if let Some(next_key_marker) = doc.next_key_marker {
        w.key_text("NextKeyMarker", next_key_marker, encoding);
    }
    w.text_if("NextUploadIdMarker", doc.next_upload_id_marker);
    w.key_text("Prefix", doc.prefix, encoding);
    if let Some(delimiter) = doc.delimiter {
        w.key_text("Delimiter", delimiter, encoding);
    }
    w.number("MaxUploads", u64::from(doc.max_uploads));
    w.boolean("IsTruncated", doc.is_truncated);
    write_encoding_type(&mut w, encoding);
    for upload in doc.uploads {
        w.open("Upload");
        w.key_text("Key", upload.key, encoding);
        w.text("UploadId", upload.upload_id);
        w.owner("Initiator", &upload.initiator);
        w.owner("Owner", &upload.owner);
        w.text("StorageClass", upload.storage_class);
        w.time("Initiated", upload.initiated_unix_nanos);
        w.text_if("ChecksumAlgorithm", upload.checksum_algorithm);
        w.close("Upload");
    }
    write_common_prefixes(&mut w, doc.common_prefixes, encoding);
    w.finish("ListMultipartUploadsResult");
}

#[cfg(test)]
mod tests;
