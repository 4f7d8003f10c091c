//! Tests of the non-listing documents, and the parse-back helper every s3xml test
//! uses: a strict quick-xml read of the output into a small tree.

use quick_xml::Reader;
use quick_xml::events::Event;

use super::*;

/// One parsed element: name, unescaped text, children in order.
#[derive(Debug, Default)]
pub(crate) struct Node {
    pub(crate) name: String,
    pub(crate) text: String,
    pub(crate) children: Vec<Node>,
}

impl Node {
    pub(crate) fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The text of the one child `name`; panics if it is absent or repeated.
    pub(crate) fn text_of(&self, name: &str) -> &str {
        assert_eq!(
            self.all(name).count(),
            1,
            "exactly one <{name}> in <{}>",
            self.name
        );
        &self.get(name).unwrap().text
    }

    pub(crate) fn names(&self) -> Vec<&str> {
        self.children.iter().map(|c| c.name.as_str()).collect()
    }
}

/// Parses `out` strictly: declaration first, one root in the S3 namespace, matched end
/// tags, valid references. Returns the root.
pub(crate) fn parse(out: &[u8]) -> Node {
    let text = std::str::from_utf8(out).expect("UTF-8");
    assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    reader.config_mut().expand_empty_elements = true;
    let mut stack: Vec<Node> = Vec::new();
    let mut root = None;
    loop {
        match reader.read_event().expect("well-formed") {
            Event::Start(start) => {
                let name = String::from_utf8(start.name().as_ref().to_vec()).unwrap();
                if stack.is_empty() {
                    assert!(root.is_none(), "one root");
                    let xmlns = start.try_get_attribute("xmlns").unwrap().expect("xmlns");
                    assert_eq!(xmlns.value.as_ref(), S3_NAMESPACE.as_bytes());
                }
                stack.push(Node {
                    name,
                    ..Node::default()
                });
            }
            Event::End(_) => {
                let node = stack.pop().unwrap();
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => root = Some(node),
                }
            }
            Event::Text(t) => {
                let unescaped = t.unescape().expect("valid references");
                match stack.last_mut() {
                    Some(node) => node.text.push_str(&unescaped),
                    None => assert!(unescaped.trim().is_empty(), "text outside the root"),
                }
            }
            Event::Eof => break,
            Event::Decl(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(stack.is_empty());
    root.expect("a root element")
}

pub(crate) const OWNER: Owner<'static> = Owner {
    id: "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a",
    display_name: "webfile",
};

fn to_vec(write: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::new();
    write(&mut out);
    out
}

fn timestamp(unix_nanos: u64) -> String {
    String::from_utf8(to_vec(|out| write_timestamp(unix_nanos, out))).unwrap()
}

#[test]
fn timestamps_match_s3_on_known_dates() {
    // S3's XML times carry milliseconds, truncated, and the calendar must be right on
    // leap days, century years and far dates.
    assert_eq!(timestamp(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(
        timestamp(1_255_369_830_000_000_000),
        "2009-10-12T17:50:30.000Z"
    );
    assert_eq!(
        timestamp(1_255_369_830_999_999_999),
        "2009-10-12T17:50:30.999Z"
    );
    assert_eq!(
        timestamp(951_782_400_000_000_000),
        "2000-02-29T00:00:00.000Z"
    );
    assert_eq!(
        timestamp(951_868_799_123_000_000),
        "2000-02-29T23:59:59.123Z"
    );
    assert_eq!(
        timestamp(1_709_164_800_001_000_000),
        "2024-02-29T00:00:00.001Z"
    );
    assert_eq!(
        timestamp(1_709_251_200_000_000_000),
        "2024-03-01T00:00:00.000Z"
    );
    assert_eq!(
        timestamp(4_107_542_400_000_000_000),
        "2100-03-01T00:00:00.000Z"
    );
    assert_eq!(
        timestamp(1_704_067_199_999_000_000),
        "2023-12-31T23:59:59.999Z"
    );
    assert_eq!(timestamp(u64::MAX), "2554-07-21T23:34:33.709Z");
}

#[test]
fn escapes_specials_and_control_characters() {
    // A key may hold any of these; each must come back from a parser unchanged.
    let key = "a<b>&\"'\r\n\t\u{1}\u{1f}é€/";
    let out = to_vec(|out| escape_text_into(key, out));
    assert_eq!(
        std::str::from_utf8(&out).unwrap(),
        "a&lt;b&gt;&amp;&quot;&apos;&#13;&#10;&#9;&#1;&#31;é€/"
    );
    let out = to_vec(|out| {
        write_initiate_multipart_upload_result(
            &InitiateMultipartUploadResult {
                bucket: "b",
                key,
                upload_id: "u",
            },
            out,
        );
    });
    assert_eq!(parse(&out).text_of("Key"), key);
}

#[test]
fn list_all_my_buckets_result_has_owner_and_buckets() {
    // The element shape SDKs deserialize ListBuckets from, with optional echoes absent.
    let buckets = [
        Bucket {
            name: "a",
            creation_date_unix_nanos: 1_255_369_830_000_000_000,
            bucket_region: None,
        },
        Bucket {
            name: "b",
            creation_date_unix_nanos: 0,
            bucket_region: Some("eu-west-1"),
        },
    ];
    let doc = ListAllMyBucketsResult {
        owner: OWNER,
        buckets: &buckets,
        continuation_token: None,
        prefix: None,
    };
    let root = parse(&to_vec(|out| write_list_all_my_buckets_result(&doc, out)));
    assert_eq!(root.name, "ListAllMyBucketsResult");
    assert_eq!(root.names(), ["Owner", "Buckets"]);
    assert_eq!(root.get("Owner").unwrap().text_of("ID"), OWNER.id);
    assert_eq!(root.get("Owner").unwrap().text_of("DisplayName"), "webfile");
    let listed: Vec<&Node> = root.get("Buckets").unwrap().all("Bucket").collect();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].names(), ["Name", "CreationDate"]);
    assert_eq!(
        listed[0].text_of("CreationDate"),
        "2009-10-12T17:50:30.000Z"
    );
    assert_eq!(listed[1].text_of("BucketRegion"), "eu-west-1");
    let paged = ListAllMyBucketsResult {
        continuation_token: Some("t"),
        prefix: Some("p&"),
        ..doc
    };
    let root = parse(&to_vec(|out| write_list_all_my_buckets_result(&paged, out)));
    assert_eq!(root.text_of("ContinuationToken"), "t");
    assert_eq!(root.text_of("Prefix"), "p&");
}

#[test]
fn delete_result_honours_quiet_mode() {
    // Quiet mode reports only failures; verbose mode reports both, versions only when set.
    let deleted = [
        Deleted {
            key: "a<",
            version_id: None,
        },
        Deleted {
            key: "b",
            version_id: Some("null"),
        },
    ];
    let errors = [DeleteError {
        key: "c&",
        version_id: None,
        code: S3ErrorCode::AccessDenied,
        message: "Access Denied",
    }];
    let verbose = DeleteResult {
        quiet: false,
        deleted: &deleted,
        errors: &errors,
    };
    let root = parse(&to_vec(|out| write_delete_result(&verbose, out)));
    assert_eq!(root.names(), ["Deleted", "Deleted", "Error"]);
    assert_eq!(root.children[0].names(), ["Key"]);
    assert_eq!(root.children[0].text_of("Key"), "a<");
    assert_eq!(root.children[1].text_of("VersionId"), "null");
    let error = root.get("Error").unwrap();
    assert_eq!(error.names(), ["Key", "Code", "Message"]);
    assert_eq!(error.text_of("Key"), "c&");
    assert_eq!(error.text_of("Code"), "AccessDenied");
    let quiet = DeleteResult {
        quiet: true,
        ..verbose
    };
    let root = parse(&to_vec(|out| write_delete_result(&quiet, out)));
    assert_eq!(root.names(), ["Error"]);
    let none = DeleteResult {
        quiet: true,
        deleted: &deleted,
        errors: &[],
    };
    assert!(
        parse(&to_vec(|out| write_delete_result(&none, out)))
            .children
            .is_empty()
    );
}

#[test]
fn location_constraint_is_empty_for_us_east_1() {
    // AWS answers us-east-1 with an empty element; SDKs map that back to us-east-1.
    let out = to_vec(|out| write_location_constraint("us-east-1", out));
    let root = parse(&out);
    assert_eq!(
        (root.name.as_str(), root.text.as_str()),
        ("LocationConstraint", "")
    );
    let root = parse(&to_vec(|out| write_location_constraint("eu-west-1", out)));
    assert_eq!(root.text, "eu-west-1");
}

#[test]
fn get_object_attributes_writes_only_what_was_asked() {
    // Each attribute appears only when requested; the ETag here is bare, unlike elsewhere.
    let only_etag = GetObjectAttributesResponse {
        etag: Some("abc"),
        ..GetObjectAttributesResponse::default()
    };
    let out = to_vec(|out| write_get_object_attributes_response(&only_etag, out));
    assert!(
        std::str::from_utf8(&out)
            .unwrap()
            .contains("<ETag>abc</ETag>")
    );
    let root = parse(&out);
    assert_eq!(root.name, "GetObjectAttributesResponse");
    assert_eq!(root.names(), ["ETag"]);

    let parts = [ObjectPart {
        part_number: 3,
        size_bytes: 5,
        checksums: Checksums {
            crc32: Some("AAAAAA=="),
            ..Checksums::default()
        },
    }];
    let all = GetObjectAttributesResponse {
        etag: Some("abc-2"),
        checksum: Some(Checksums {
            crc64nvme: Some("AAAAAAAAAAA="),
            ..Checksums::default()
        }),
        checksum_type: Some("FULL_OBJECT"),
        object_parts: Some(ObjectParts {
            parts_count: 2,
            part_number_marker: 2,
            max_parts: 1,
            is_truncated: true,
            parts: &parts,
        }),
        storage_class: Some("STANDARD"),
        object_size_bytes: Some(10),
    };
    let root = parse(&to_vec(|out| {
        write_get_object_attributes_response(&all, out);
    }));
    let names = [
        "ETag",
        "Checksum",
        "ObjectParts",
        "StorageClass",
        "ObjectSize",
    ];
    assert_eq!(root.names(), names);
    let checksum = root.get("Checksum").unwrap();
    assert_eq!(checksum.names(), ["ChecksumCRC64NVME", "ChecksumType"]);
    let object_parts = root.get("ObjectParts").unwrap();
    assert_eq!(object_parts.text_of("NextPartNumberMarker"), "3");
    assert_eq!(object_parts.text_of("PartsCount"), "2");
    assert_eq!(object_parts.text_of("IsTruncated"), "true");
    let part = object_parts.get("Part").unwrap();
    assert_eq!(part.names(), ["ChecksumCRC32", "PartNumber", "Size"]);
    assert_eq!(root.text_of("ObjectSize"), "10");
}

#[test]
fn copy_results_quote_the_etag() {
    // Copy answers are LastModified then a quoted ETag, under two different roots.
    let doc = CopyResult {
        last_modified_unix_nanos: 1_255_369_830_000_000_000,
        etag: "9b2cf535f27731c974343645a3985328",
        checksums: Checksums::default(),
    };
    let out = to_vec(|out| write_copy_object_result(&doc, out));
    let text = std::str::from_utf8(&out).unwrap();
    assert!(text.contains("<ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag>"));
    let root = parse(&out);
    assert_eq!(root.name, "CopyObjectResult");
    assert_eq!(root.names(), ["LastModified", "ETag"]);
    assert_eq!(root.text_of("ETag"), "\"9b2cf535f27731c974343645a3985328\"");
    let with_sum = CopyResult {
        checksums: Checksums {
            sha256: Some("x"),
            ..Checksums::default()
        },
        ..doc
    };
    let root = parse(&to_vec(|out| write_copy_part_result(&with_sum, out)));
    assert_eq!(root.name, "CopyPartResult");
    assert_eq!(root.names(), ["LastModified", "ETag", "ChecksumSHA256"]);
}

#[test]
fn multipart_initiate_and_complete_results() {
    // The upload ID and the final multipart ETag are what clients read from these.
    let initiate = InitiateMultipartUploadResult {
        bucket: "b",
        key: "k",
        upload_id: "VXBsb2FkIElE",
    };
    let root = parse(&to_vec(|out| {
        write_initiate_multipart_upload_result(&initiate, out);
    }));
    assert_eq!(root.name, "InitiateMultipartUploadResult");
    assert_eq!(root.names(), ["Bucket", "Key", "UploadId"]);
    let complete = CompleteMultipartUploadResult {
        location: "http://localhost/b/a%26b",
        bucket: "b",
        key: "a&b",
        etag: "3858f62230ac3c915f300c664312c11f-9",
        ..CompleteMultipartUploadResult::default()
    };
    let root = parse(&to_vec(|out| {
        write_complete_multipart_upload_result(&complete, out);
    }));
    assert_eq!(root.name, "CompleteMultipartUploadResult");
    assert_eq!(root.names(), ["Location", "Bucket", "Key", "ETag"]);
    assert_eq!(root.text_of("Key"), "a&b");
    assert_eq!(
        root.text_of("ETag"),
        "\"3858f62230ac3c915f300c664312c11f-9\""
    );
    let with_type = CompleteMultipartUploadResult {
        checksum_type: Some("COMPOSITE"),
        checksums: Checksums {
            crc32c: Some("c"),
            ..Checksums::default()
        },
        ..complete
    };
    let root = parse(&to_vec(|out| {
        write_complete_multipart_upload_result(&with_type, out);
    }));
    let names = [
        "Location",
        "Bucket",
        "Key",
        "ETag",
        "ChecksumCRC32C",
        "ChecksumType",
    ];
    assert_eq!(root.names(), names);
}

#[test]
fn tagging_round_trips_through_the_request_parser() {
    // What GetObjectTagging writes, PutObjectTagging must read back identically.
    let tags = vec![
        Tag {
            key: "a<&>\"'".into(),
            value: "v\r\n".into(),
        },
        Tag {
            key: "e".into(),
            value: String::new(),
        },
    ];
    let out = to_vec(|out| write_tagging(&tags, out));
    let root = parse(&out);
    assert_eq!(root.names(), ["TagSet"]);
    assert_eq!(root.get("TagSet").unwrap().all("Tag").count(), 2);
    let parsed = crate::xml::parse_tagging(&out, crate::xml::OBJECT_TAGS_MAX).unwrap();
    assert_eq!(parsed, tags);
    let empty = parse(&to_vec(|out| write_tagging(&[], out)));
    assert!(empty.get("TagSet").unwrap().children.is_empty());
}

proptest::proptest! {
    #[test]
    fn any_key_parses_back_unchanged(key in "\\PC*|[\\x01-\\x1f<>&\"' a-z\u{fffe}\u{ffff}]{0,40}") {
        // Whatever a client names an object, the listing returns the same name (NUL
        // aside: no XML parser accepts it, which is what encoding-type=url is for).
        let doc = InitiateMultipartUploadResult { bucket: "b", key: &key, upload_id: "u" };
        let root = parse(&to_vec(|out| write_initiate_multipart_upload_result(&doc, out)));
        proptest::prop_assert_eq!(root.text_of("Key"), key.as_str());
    }
}
