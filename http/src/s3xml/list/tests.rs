//! Tests of the listing documents: element presence and order, derived elements,
//! URL encoding and escaping, each parsed back strictly.

use super::*;
use crate::s3xml::tests::{Node, OWNER, parse};

fn object(key: &'static str) -> Object<'static> {
    Object {
        key,
        last_modified_unix_nanos: 1_255_369_830_000_000_000,
        etag: "fba9dede5f27731c9771645a39863328",
        size_bytes: 434_234,
        storage_class: "STANDARD",
        owner: OWNER,
        checksum_algorithm: None,
    }
}

fn v2<'a>(contents: &'a [Object<'a>], prefixes: &'a [CommonPrefix<'a>]) -> ListBucketResultV2<'a> {
    ListBucketResultV2 {
        name: "bucket",
        prefix: "",
        delimiter: None,
        max_keys: 1000,
        is_truncated: false,
        continuation_token: None,
        next_continuation_token: None,
        start_after: None,
        encoding_type: None,
        fetch_owner: false,
        contents,
        common_prefixes: prefixes,
    }
}

fn write(f: impl FnOnce(&mut Vec<u8>)) -> (String, Node) {
    let mut out = Vec::new();
    f(&mut out);
    let root = parse(&out);
    (String::from_utf8(out).unwrap(), root)
}

fn prefixes_of(root: &Node) -> Vec<&str> {
    root.all("CommonPrefixes")
        .map(|c| c.text_of("Prefix"))
        .collect()
}

#[test]
fn url_encoding_matches_s3() {
    // A space is `%20` (never `+`, which a plain percent-decoder keeps as a plus) and
    // `+` is `%2B`, so both kinds of decoder restore the key exactly.
    let mut out = Vec::new();
    url_encode_into("a b+c/d*e~f-g_h.i&é\u{1}%", &mut out);
    assert_eq!(out, b"a%20b%2Bc/d*e%7Ef-g_h.i%26%C3%A9%01%25");
}

#[test]
fn v2_minimal_page_has_only_mandatory_elements() {
    // No echoes, no owner, no tokens unless the request or the page calls for them.
    let contents = [object("a")];
    let (text, root) = write(|out| write_list_bucket_result_v2(&v2(&contents, &[]), out));
    assert_eq!(root.name, "ListBucketResult");
    assert_eq!(
        root.names(),
        [
            "Name",
            "Prefix",
            "KeyCount",
            "MaxKeys",
            "IsTruncated",
            "Contents"
        ]
    );
    let entry = root.get("Contents").unwrap();
    assert_eq!(
        entry.names(),
        ["Key", "LastModified", "ETag", "Size", "StorageClass"]
    );
    assert_eq!(entry.text_of("LastModified"), "2009-10-12T17:50:30.000Z");
    assert_eq!(entry.text_of("StorageClass"), "STANDARD");
    assert!(text.contains("<ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag>"));
}

#[test]
fn v2_full_page_echoes_and_derives() {
    // Every optional element appears when its condition holds; KeyCount counts prefixes.
    let mut with_sum = object("b");
    with_sum.checksum_algorithm = Some("CRC64NVME");
    let contents = [object("a"), with_sum];
    let prefixes = ["c/", "d/"];
    let doc = ListBucketResultV2 {
        delimiter: Some("/"),
        max_keys: 4,
        is_truncated: true,
        continuation_token: Some("t1"),
        next_continuation_token: Some("t2"),
        start_after: Some("0"),
        fetch_owner: true,
        ..v2(&contents, &prefixes)
    };
    let (_, root) = write(|out| write_list_bucket_result_v2(&doc, out));
    let names = [
        "Name",
        "Prefix",
        "ContinuationToken",
        "NextContinuationToken",
        "KeyCount",
        "MaxKeys",
        "Delimiter",
        "StartAfter",
        "IsTruncated",
        "Contents",
        "Contents",
        "CommonPrefixes",
        "CommonPrefixes",
    ];
    assert_eq!(root.names(), names);
    assert_eq!(root.text_of("KeyCount"), "4");
    let entries: Vec<&Node> = root.all("Contents").collect();
    assert_eq!(entries[0].text_of("Owner"), "");
    assert_eq!(entries[0].get("Owner").unwrap().text_of("ID"), OWNER.id);
    assert_eq!(entries[1].text_of("ChecksumAlgorithm"), "CRC64NVME");
    assert_eq!(prefixes_of(&root), ["c/", "d/"]);
}

#[test]
fn v2_url_encoding_covers_keys_prefixes_and_echoes() {
    // With encoding-type=url, exactly Key, Prefix, Delimiter, StartAfter are encoded.
    let contents = [object("a b&")];
    let prefixes = ["p q/"];
    let doc = ListBucketResultV2 {
        prefix: "p q",
        delimiter: Some("/"),
        start_after: Some("~"),
        continuation_token: Some("a b"),
        encoding_type: Some(EncodingType::Url),
        ..v2(&contents, &prefixes)
    };
    let (_, root) = write(|out| write_list_bucket_result_v2(&doc, out));
    assert_eq!(root.text_of("Prefix"), "p%20q");
    assert_eq!(root.text_of("Delimiter"), "/");
    assert_eq!(root.text_of("StartAfter"), "%7E");
    assert_eq!(root.text_of("ContinuationToken"), "a b");
    assert_eq!(root.text_of("EncodingType"), "url");
    assert_eq!(root.get("Contents").unwrap().text_of("Key"), "a%20b%26");
    assert_eq!(prefixes_of(&root), ["p%20q/"]);
}

#[test]
fn hostile_keys_are_escaped_in_listings() {
    // Keys with markup and control characters parse back to themselves.
    let keys = ["<a>&\"'", "\r\n\t\u{1}\u{8}\u{b}\u{1f}", "<Contents>"];
    let contents = keys.map(object);
    let (text, root) =
        write(|out| write_list_bucket_result_v2(&v2(&contents, &["</Prefix>"]), out));
    assert!(!text.contains("<a>"));
    let listed: Vec<&str> = root.all("Contents").map(|c| c.text_of("Key")).collect();
    assert_eq!(listed, keys);
    assert_eq!(prefixes_of(&root), ["</Prefix>"]);
}

#[test]
fn v1_writes_marker_and_next_marker_only_with_delimiter() {
    // NextMarker appears only for a truncated, delimited page: the greater last entry.
    let contents = [object("a"), object("b")];
    let prefixes = ["c/"];
    let doc = ListBucketResultV1 {
        name: "bucket",
        prefix: "",
        marker: "",
        delimiter: None,
        max_keys: 3,
        is_truncated: true,
        encoding_type: None,
        contents: &contents,
        common_prefixes: &[],
    };
    let (_, root) = write(|out| write_list_bucket_result_v1(&doc, out));
    assert_eq!(
        root.names(),
        [
            "Name",
            "Prefix",
            "Marker",
            "MaxKeys",
            "IsTruncated",
            "Contents",
            "Contents"
        ]
    );
    assert_eq!(root.text_of("Marker"), "");
    assert!(root.get("Contents").unwrap().get("Owner").is_some());
    let delimited = ListBucketResultV1 {
        delimiter: Some("/"),
        common_prefixes: &prefixes,
        ..doc
    };
    let (_, root) = write(|out| write_list_bucket_result_v1(&delimited, out));
    assert_eq!(root.text_of("NextMarker"), "c/");
    assert_eq!(root.text_of("Delimiter"), "/");
    let complete = ListBucketResultV1 {
        is_truncated: false,
        ..delimited
    };
    let (_, root) = write(|out| write_list_bucket_result_v1(&complete, out));
    assert!(root.get("NextMarker").is_none());
    let encoded = ListBucketResultV1 {
        marker: "m n",
        encoding_type: Some(EncodingType::Url),
        contents: &[object("z z")],
        ..delimited
    };
    let (_, root) = write(|out| write_list_bucket_result_v1(&encoded, out));
    assert_eq!(root.text_of("Marker"), "m%20n");
    assert_eq!(root.text_of("NextMarker"), "z%20z");
    assert_eq!(root.text_of("EncodingType"), "url");
}

#[test]
fn versions_interleave_versions_and_delete_markers() {
    // Unversioned objects list as version "null", latest; markers keep their place.
    let version = Version {
        key: "a&",
        version_id: "null",
        is_latest: true,
        last_modified_unix_nanos: 0,
        etag: "e",
        size_bytes: 1,
        storage_class: "STANDARD",
        owner: OWNER,
        checksum_algorithm: None,
    };
    let marker = DeleteMarker {
        key: "b",
        version_id: "v2",
        is_latest: true,
        last_modified_unix_nanos: 0,
        owner: OWNER,
    };
    let entries = [
        VersionEntry::Version(version),
        VersionEntry::DeleteMarker(marker),
    ];
    let doc = ListVersionsResult {
        name: "bucket",
        prefix: "",
        key_marker: "",
        version_id_marker: "",
        next_key_marker: None,
        next_version_id_marker: None,
        max_keys: 1000,
        delimiter: None,
        is_truncated: false,
        encoding_type: None,
        entries: &entries,
        common_prefixes: &[],
    };
    let (_, root) = write(|out| write_list_versions_result(&doc, out));
    assert_eq!(root.name, "ListVersionsResult");
    let names = [
        "Name",
        "Prefix",
        "KeyMarker",
        "VersionIdMarker",
        "MaxKeys",
        "IsTruncated",
        "Version",
        "DeleteMarker",
    ];
    assert_eq!(root.names(), names);
    let listed = root.get("Version").unwrap();
    let fields = [
        "Key",
        "VersionId",
        "IsLatest",
        "LastModified",
        "ETag",
        "Size",
        "StorageClass",
        "Owner",
    ];
    assert_eq!(listed.names(), fields);
    assert_eq!(listed.text_of("Key"), "a&");
    assert_eq!(listed.text_of("VersionId"), "null");
    assert_eq!(listed.text_of("IsLatest"), "true");
    assert_eq!(listed.text_of("ETag"), "\"e\"");
    let marker = root.get("DeleteMarker").unwrap();
    assert_eq!(
        marker.names(),
        ["Key", "VersionId", "IsLatest", "LastModified", "Owner"]
    );
    let truncated = ListVersionsResult {
        is_truncated: true,
        next_key_marker: Some("b c"),
        next_version_id_marker: Some("v2"),
        encoding_type: Some(EncodingType::Url),
        delimiter: Some("/"),
        common_prefixes: &["d/"],
        ..doc
    };
    let (_, root) = write(|out| write_list_versions_result(&truncated, out));
    assert_eq!(root.text_of("NextKeyMarker"), "b%20c");
    assert_eq!(root.text_of("NextVersionIdMarker"), "v2");
    assert_eq!(root.text_of("EncodingType"), "url");
    assert_eq!(prefixes_of(&root), ["d/"]);
}

#[test]
fn list_parts_derives_next_marker_and_quotes_etags() {
    // NextPartNumberMarker is the last part listed, or the request's marker if none.
    let parts = [
        Part {
            part_number: 2,
            etag: "p2",
            size_bytes: 5,
            ..Part::default()
        },
        Part {
            part_number: 5,
            etag: "p5",
            size_bytes: 6,
            checksums: Checksums {
                crc32: Some("c"),
                ..Checksums::default()
            },
            ..Part::default()
        },
    ];
    let doc = ListPartsResult {
        bucket: "bucket",
        key: "k<",
        upload_id: "u",
        part_number_marker: 1,
        max_parts: 2,
        is_truncated: true,
        parts: &parts,
        initiator: OWNER,
        owner: OWNER,
        storage_class: "STANDARD",
        checksum_algorithm: None,
        checksum_type: None,
    };
    let (_, root) = write(|out| write_list_parts_result(&doc, out));
    assert_eq!(root.name, "ListPartsResult");
    let names = [
        "Bucket",
        "Key",
        "UploadId",
        "PartNumberMarker",
        "NextPartNumberMarker",
        "MaxParts",
        "IsTruncated",
        "Part",
        "Part",
        "Initiator",
        "Owner",
        "StorageClass",
    ];
    assert_eq!(root.names(), names);
    assert_eq!(root.text_of("Key"), "k<");
    assert_eq!(root.text_of("NextPartNumberMarker"), "5");
    let listed: Vec<&Node> = root.all("Part").collect();
    assert_eq!(
        listed[0].names(),
        ["PartNumber", "LastModified", "ETag", "Size"]
    );
    assert_eq!(listed[1].text_of("ETag"), "\"p5\"");
    assert_eq!(listed[1].text_of("ChecksumCRC32"), "c");
    let empty = ListPartsResult {
        parts: &[],
        is_truncated: false,
        checksum_algorithm: Some("CRC32"),
        checksum_type: Some("COMPOSITE"),
        ..doc
    };
    let (_, root) = write(|out| write_list_parts_result(&empty, out));
    assert_eq!(root.text_of("NextPartNumberMarker"), "1");
    assert_eq!(root.text_of("ChecksumAlgorithm"), "CRC32");
    assert_eq!(root.text_of("ChecksumType"), "COMPOSITE");
}

#[test]
fn list_multipart_uploads_shape_and_encoding() {
    // Markers always echo; next markers only on truncation; keys encode, IDs never.
    let uploads = [Upload {
        key: "a b",
        upload_id: "x+y",
        initiator: OWNER,
        owner: OWNER,
        storage_class: "STANDARD",
        initiated_unix_nanos: 1_255_369_830_000_000_000,
        checksum_algorithm: None,
    }];
    let doc = ListMultipartUploadsResult {
        bucket: "bucket",
        key_marker: "",
        upload_id_marker: "",
        next_key_marker: None,
        next_upload_id_marker: None,
        prefix: "",
        delimiter: None,
        max_uploads: 1000,
        is_truncated: false,
        encoding_type: None,
        uploads: &uploads,
        common_prefixes: &[],
    };
    let (_, root) = write(|out| write_list_multipart_uploads_result(&doc, out));
    assert_eq!(root.name, "ListMultipartUploadsResult");
    let names = [
        "Bucket",
        "KeyMarker",
        "UploadIdMarker",
        "Prefix",
        "MaxUploads",
        "IsTruncated",
        "Upload",
    ];
    assert_eq!(root.names(), names);
    let upload = root.get("Upload").unwrap();
    let fields = [
        "Key",
        "UploadId",
        "Initiator",
        "Owner",
        "StorageClass",
        "Initiated",
    ];
    assert_eq!(upload.names(), fields);
    assert_eq!(upload.text_of("Initiated"), "2009-10-12T17:50:30.000Z");
    let truncated = ListMultipartUploadsResult {
        is_truncated: true,
        next_key_marker: Some("a b"),
        next_upload_id_marker: Some("x+y"),
        delimiter: Some("/"),
        encoding_type: Some(EncodingType::Url),
        common_prefixes: &["c d/"],
        ..doc
    };
    let (_, root) = write(|out| write_list_multipart_uploads_result(&truncated, out));
    assert_eq!(root.text_of("NextKeyMarker"), "a%20b");
    assert_eq!(root.text_of("NextUploadIdMarker"), "x+y");
    assert_eq!(root.get("Upload").unwrap().text_of("Key"), "a%20b");
    assert_eq!(root.get("Upload").unwrap().text_of("UploadId"), "x+y");
    assert_eq!(prefixes_of(&root), ["c%20d/"]);
}

#[test]
#[should_panic(expected = "NextContinuationToken")]
fn v2_truncation_without_token_is_a_programmer_error() {
    // A truncated page the client cannot continue is a bug in the caller, not input.
    let doc = ListBucketResultV2 {
        is_truncated: true,
        ..v2(&[], &[])
    };
    write_list_bucket_result_v2(&doc, &mut Vec::new());
}
