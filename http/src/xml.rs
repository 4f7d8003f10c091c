//! XML for S3: escaping for response writers, and parsers for the small request bodies
//! (DeleteObjects, CompleteMultipartUpload, CreateBucketConfiguration, Tagging).
//!
//! Invariants: a body over its operation's byte limit is refused before parsing;
//! nesting deeper than [`DEPTH_MAX`] is refused; DTDs are refused (no entity tricks);
//! element names are matched by local name so namespaced and plain documents both
//! parse; anything malformed is `MalformedXML`, never a panic. Each parser builds a
//! small tree (bounded by the byte limit) and then reads typed fields from it.

use quick_xml::Reader;
use quick_xml::events::Event;

use crate::base::digits::parse_decimal_u64;
use crate::base::error::{S3Error, S3ErrorCode};

/// Deepest element nesting accepted; S3 request documents use at most 4.
pub const DEPTH_MAX: usize = 8;
/// DeleteObjects: 1000 keys of up to 1024 bytes plus markup.
pub const DELETE_XML_MAX_BYTES: usize = 2 * 1024 * 1024;
/// Keys per DeleteObjects request.
pub const DELETE_OBJECTS_MAX: usize = 1000;
/// CompleteMultipartUpload: 10000 parts with ETags and checksums.
pub const COMPLETE_XML_MAX_BYTES: usize = 4 * 1024 * 1024;
/// Highest part number S3 allows.
pub const PART_NUMBER_MAX: u32 = 10_000;
/// CreateBucketConfiguration and Tagging documents are small.
pub const SMALL_XML_MAX_BYTES: usize = 64 * 1024;
/// Tags on one object (S3 limit); a bucket allows [`BUCKET_TAGS_MAX`].
pub const OBJECT_TAGS_MAX: usize = 10;
pub const BUCKET_TAGS_MAX: usize = 50;
const TAG_KEY_MAX_CHARS: usize = 128;
const TAG_VALUE_MAX_CHARS: usize = 256;

/// One element of a parsed request document: its local name, its text and children.
#[derive(Debug, Default)]
struct Element {
    name: String,
    text: String,
    children: Vec<Element>,
}

impl Element {
    fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }
}

fn malformed() -> S3Error {
    S3Error::new(S3ErrorCode::MalformedXML)
}

fn local_name(raw: &[u8]) -> Result<String, S3Error> {
    let local = raw.rsplit(|b| *b == b':').next().unwrap_or(raw);
    String::from_utf8(local.to_vec()).map_err(|_| malformed())
}

/// Parses `body` into a tree whose root must be named `root`.
fn parse_tree(body: &[u8], max_bytes: usize, root: &str) -> Result<Element, S3Error> {
    if body.len() > max_bytes {
        return Err(malformed());
    }
    let mut reader = Reader::from_reader(body);
    let config = reader.config_mut();
    // No trimming: whitespace in a key or tag is part of it (see the file comment).
    config.trim_text(false);
    config.expand_empty_elements = true;
    config.check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut done: Option<Element> = None;
    loop {
        match reader.read_event().map_err(|_| malformed())? {
            Event::Start(start) => {
                if done.is_some() || stack.len() >= DEPTH_MAX {
                    return Err(malformed());
                }
                let name = local_name(start.name().as_ref())?;
                stack.push(Element {
                    name,
                    ..Element::default()
                });
            }
            Event::End(_) => {
                let element = stack.pop().ok_or_else(malformed)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None => done = Some(element),
                }
            }
            Event::Text(text) => {
                let text = text.unescape().map_err(|_| malformed())?;
                push_text(stack.last_mut(), &text)?;
            }
            Event::CData(data) => {
                let text = std::str::from_utf8(data.as_ref()).map_err(|_| malformed())?;
                push_text(stack.last_mut(), text)?;
            }
            Event::DocType(_) => return Err(malformed()),
            Event::Eof => break,
            Event::Empty(_) | Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
        }
    }
    let tree = done.ok_or_else(malformed)?;
    if !stack.is_empty() || tree.name != root {
        return Err(malformed());
    }
    Ok(tree)
}

/// Appends text to the open element; outside the root only whitespace (the line
/// breaks around the declaration and the root) is allowed.
fn push_text(current: Option<&mut Element>, text: &str) -> Result<(), S3Error> {
    match current {
        Some(element) => element.text.push_str(text),
        None if text.bytes().all(|b| b.is_ascii_whitespace()) => {}
        None => return Err(malformed()),
    }
    Ok(())
}

/// One key (and optional version) named in a DeleteObjects request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectIdentifier {
    pub key: String,
    pub version_id: Option<String>,
}

/// A parsed DeleteObjects body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delete {
    pub quiet: bool,
    pub objects: Vec<ObjectIdentifier>,
}

/// `<Delete><Quiet>true</Quiet><Object><Key/><VersionId/></Object>...</Delete>`:
/// 1 to 1000 objects, each with a key.
pub fn parse_delete(body: &[u8]) -> Result<Delete, S3Error> {
    let tree = parse_tree(body, DELETE_XML_MAX_BYTES, "Delete")?;
    let quiet = match tree.child_text("Quiet") {
        None => false,
        Some(text) => parse_bool(text)?,
    };
    let mut objects = Vec::new();
    for object in tree.children_named("Object") {
        let key = object.child_text("Key").ok_or_else(malformed)?.to_owned();
        let version_id = object.child_text("VersionId").map(str::to_owned);
        objects.push(ObjectIdentifier { key, version_id });
    }
    if objects.is_empty() || objects.len() > DELETE_OBJECTS_MAX {
        return Err(malformed());
    }
    Ok(Delete { quiet, objects })
}

fn parse_bool(text: &str) -> Result<bool, S3Error> {
    match text {
        "true" | "True" | "TRUE" => Ok(true),
        "false" | "False" | "FALSE" => Ok(false),
        _ => Err(malformed()),
    }
}

/// One part named in a CompleteMultipartUpload request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompletedPart {
    pub part_number: u32,
    /// The ETag without surrounding quotes.
    pub etag: String,
    pub checksum_crc32: Option<String>,
    pub checksum_crc32c: Option<String>,
    pub checksum_crc64nvme: Option<String>,
    pub checksum_sha1: Option<String>,
    pub checksum_sha256: Option<String>,
}

/// `<CompleteMultipartUpload><Part><PartNumber/><ETag/>...</Part>...`: at least one
/// part, numbers in 1..=10000 and strictly ascending (`InvalidPartOrder`).
pub fn parse_complete_multipart_upload(body: &[u8]) -> Result<Vec<CompletedPart>, S3Error> {
    let tree = parse_tree(body, COMPLETE_XML_MAX_BYTES, "CompleteMultipartUpload")?;
    let mut parts: Vec<CompletedPart> = Vec::new();
    for part in tree.children_named("Part") {
        let number_text = part.child_text("PartNumber").ok_or_else(malformed)?;
        let part_number = parse_decimal_u64(number_text)
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| (1..=PART_NUMBER_MAX).contains(n))
            .ok_or_else(|| {
                S3Error::with_message(
                    S3ErrorCode::InvalidArgument,
                    "Part number must be an integer between 1 and 10000, inclusive.",
                )
            })?;
        if parts
            .last()
            .is_some_and(|last| last.part_number >= part_number)
        {
            return Err(S3Error::new(S3ErrorCode::InvalidPartOrder));
        }
        let etag = part.child_text("ETag").ok_or_else(malformed)?;
        let text = |name: &str| part.child_text(name).map(str::to_owned);
        parts.push(CompletedPart {
            part_number,
            etag: etag.trim_matches('"').to_owned(),
            checksum_crc32: text("ChecksumCRC32"),
            checksum_crc32c: text("ChecksumCRC32C"),
            checksum_crc64nvme: text("ChecksumCRC64NVME"),
            checksum_sha1: text("ChecksumSHA1"),
            checksum_sha256: text("ChecksumSHA256"),
        });
    }
    if parts.is_empty() {
        return Err(malformed());
    }
    Ok(parts)
}

/// The LocationConstraint of a CreateBucket body; an empty body or an empty
/// constraint both mean the default region (`None`).
pub fn parse_create_bucket_configuration(body: &[u8]) -> Result<Option<String>, S3Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let tree = parse_tree(body, SMALL_XML_MAX_BYTES, "CreateBucketConfiguration")?;
    Ok(tree
        .child_text("LocationConstraint")
        .filter(|c| !c.is_empty())
        .map(str::to_owned))
}

/// One tag of a Tagging document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// `<Tagging><TagSet><Tag><Key/><Value/></Tag>...</TagSet></Tagging>` with at most
/// `tags_max` tags ([`OBJECT_TAGS_MAX`] or [`BUCKET_TAGS_MAX`]), unique keys of 1..=128
/// characters and values of at most 256 (`InvalidTag` otherwise).
pub fn parse_tagging(body: &[u8], tags_max: usize) -> Result<Vec<Tag>, S3Error> {
    let tree = parse_tree(body, SMALL_XML_MAX_BYTES, "Tagging")?;
    let tag_set = tree.child("TagSet").ok_or_else(malformed)?;
    let mut tags: Vec<Tag> = Vec::new();
    for tag in tag_set.children_named("Tag") {
        let key = tag.child_text("Key").ok_or_else(malformed)?;
        let value = tag.child_text("Value").ok_or_else(malformed)?;
        push_tag(&mut tags, key, value, tags_max)?;
    }
    Ok(tags)
}

/// The `x-amz-tagging` header of PutObject, CopyObject and CreateMultipartUpload:
/// URL query form (`k1=v1&k2=v2`, `+` for space), with the limits of [`parse_tagging`]
/// for an object.
pub fn parse_tagging_header(text: &str) -> Result<Vec<Tag>, S3Error> {
    let form = text.trim().replace('+', " ");
    let pairs = crate::base::uri::parse_query(&form).map_err(|_| {
        S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "The x-amz-tagging header is not valid URL query form.",
        )
    })?;
    let mut tags = Vec::with_capacity(pairs.len());
    for (key, value) in &pairs {
        push_tag(&mut tags, key, value, OBJECT_TAGS_MAX)?;
    }
    Ok(tags)
}

/// Appends one tag after checking S3's limits against the tags so far.
fn push_tag(tags: &mut Vec<Tag>, key: &str, value: &str, tags_max: usize) -> Result<(), S3Error> {
    let invalid = |message: &'static str| S3Error::with_message(S3ErrorCode::InvalidTag, message);
    if key.is_empty() || key.chars().count() > TAG_KEY_MAX_CHARS {
        return Err(invalid("The TagKey you have provided is invalid."));
    }
    if value.chars().count() > TAG_VALUE_MAX_CHARS {
        return Err(invalid("The TagValue you have provided is invalid."));
    }
    if tags.iter().any(|t| t.key == key) {
        return Err(invalid("Cannot provide multiple Tags with the same key."));
    }
    if tags.len() == tags_max {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidTag,
            format!("Tags cannot be more than {tags_max}."),
        ));
    }
    tags.push(Tag {
        key: key.to_owned(),
        value: value.to_owned(),
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header form decodes escapes and `+`, and keeps the XML form's limits.
    #[test]
    fn tagging_header() {
        let tags = parse_tagging_header("team=ml+ops&path=a%2Fb&empty=").unwrap();
        let pairs: Vec<(&str, &str)> = tags
            .iter()
            .map(|t| (t.key.as_str(), t.value.as_str()))
            .collect();
        assert_eq!(pairs, [("team", "ml ops"), ("path", "a/b"), ("empty", "")]);
        assert!(parse_tagging_header("").unwrap().is_empty());
        let eleven: Vec<String> = (0..11).map(|i| format!("k{i}=v")).collect();
        for bad in [
            "a=1&a=2".to_owned(),
            "=v".to_owned(),
            format!("k={}", "v".repeat(257)),
            format!("{}=v", "k".repeat(129)),
            eleven.join("&"),
        ] {
            let e = parse_tagging_header(&bad).unwrap_err();
            assert_eq!(e.code(), S3ErrorCode::InvalidTag, "{bad}");
        }
        let e = parse_tagging_header("a=%zz").unwrap_err();
        assert_eq!(e.code(), S3ErrorCode::InvalidArgument);
    }

    #[test]
    fn parses_a_delete_objects_body_with_namespace() {
        // boto3 sends the namespace, aws-cli sometimes not; both must parse.
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
            <Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet>
            <Object><Key>a&amp;b</Key></Object><Object><Key>c</Key><VersionId>v1</VersionId></Object>
            </Delete>"#;
        let delete = parse_delete(body).unwrap();
        assert!(delete.quiet);
        assert_eq!(
            delete.objects[0],
            ObjectIdentifier {
                key: "a&b".into(),
                version_id: None
            }
        );
        assert_eq!(delete.objects[1].version_id.as_deref(), Some("v1"));
    }

    #[test]
    fn delete_limits_and_shape_are_enforced() {
        // Empty, oversized and mis-rooted documents are MalformedXML.
        assert_eq!(
            parse_delete(b"<Delete></Delete>").unwrap_err().code(),
            S3ErrorCode::MalformedXML
        );
        assert_eq!(
            parse_delete(b"<Other/>").unwrap_err().code(),
            S3ErrorCode::MalformedXML
        );
        assert_eq!(
            parse_delete(b"<Delete><Object/></Delete>")
                .unwrap_err()
                .code(),
            S3ErrorCode::MalformedXML
        );
        let objects = "<Object><Key>k</Key></Object>".repeat(DELETE_OBJECTS_MAX + 1);
        let many = format!("<Delete>{objects}</Delete>");
        assert_eq!(
            parse_delete(many.as_bytes()).unwrap_err().code(),
            S3ErrorCode::MalformedXML
        );
    }

    #[test]
    fn parses_complete_multipart_upload_and_checks_order() {
        // Part order is a client error S3 reports before looking at any part.
        let body = br#"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"abc"</ETag></Part>
            <Part><ETag>def</ETag><PartNumber>3</PartNumber><ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part>
            </CompleteMultipartUpload>"#;
        let parts = parse_complete_multipart_upload(body).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].etag, "abc");
        assert_eq!(parts[1].part_number, 3);
        assert_eq!(parts[1].checksum_crc32.as_deref(), Some("AAAAAA=="));
        let unordered =
            b"<CompleteMultipartUpload><Part><PartNumber>2</PartNumber><ETag>a</ETag></Part>\
            <Part><PartNumber>2</PartNumber><ETag>b</ETag></Part></CompleteMultipartUpload>";
        let code = parse_complete_multipart_upload(unordered)
            .unwrap_err()
            .code();
        assert_eq!(code, S3ErrorCode::InvalidPartOrder);
        let zero = b"<CompleteMultipartUpload><Part><PartNumber>0</PartNumber><ETag>a</ETag></Part></CompleteMultipartUpload>";
        let code = parse_complete_multipart_upload(zero).unwrap_err().code();
        assert_eq!(code, S3ErrorCode::InvalidArgument);
    }

    #[test]
    fn parses_location_constraint() {
        // An empty body is the common case (us-east-1) and must not be an error.
        assert_eq!(parse_create_bucket_configuration(b"").unwrap(), None);
        let body = b"<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
            <LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>";
        assert_eq!(
            parse_create_bucket_configuration(body).unwrap().as_deref(),
            Some("eu-west-1")
        );
    }

    #[test]
    fn parses_tagging_with_limits() {
        // Tag limits are S3's, and duplicate keys are refused.
        let body = b"<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag><Tag><Key>e</Key><Value></Value></Tag></TagSet></Tagging>";
        let tags = parse_tagging(body, OBJECT_TAGS_MAX).unwrap();
        assert_eq!(
            tags[1],
            Tag {
                key: "e".into(),
                value: String::new()
            }
        );
        let dup = b"<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag><Tag><Key>k</Key><Value>w</Value></Tag></TagSet></Tagging>";
        assert_eq!(
            parse_tagging(dup, OBJECT_TAGS_MAX).unwrap_err().code(),
            S3ErrorCode::InvalidTag
        );
        assert_eq!(
            parse_tagging(body, 1).unwrap_err().code(),
            S3ErrorCode::InvalidTag
        );
    }

    #[test]
    fn delete_keys_keep_whitespace_entities_and_cdata() {
        // A key is the exact text: `a ` is not `a`, and escapes decode to one character.
        let body = "<?xml version=\"1.0\"?>\n<Delete>\n  <Object><Key>a </Key></Object>\n\
            <Object><Key> a</Key></Object><Object><Key>a\n</Key></Object>\
            <Object><Key>a&amp;b</Key></Object><Object><Key>&#13;&#x41;&lt;</Key></Object>\
            <Object><Key><![CDATA[ <x> ]]></Key></Object><Object><Key>\t</Key></Object>\n</Delete>\n";
        let keys: Vec<String> = parse_delete(body.as_bytes())
            .unwrap()
            .objects
            .into_iter()
            .map(|o| o.key)
            .collect();
        assert_eq!(keys, ["a ", " a", "a\n", "a&b", "\rA<", " <x> ", "\t"]);
        // Text outside the root is only whitespace.
        assert!(parse_delete(b"x<Delete><Object><Key>a</Key></Object></Delete>").is_err());
    }

    #[test]
    fn complete_and_tagging_keep_text_exactly() {
        // ETags, checksums, tag keys and values are not trimmed either.
        let body = b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>\
            <ETag>\"e \"</ETag><ChecksumCRC32> x</ChecksumCRC32></Part></CompleteMultipartUpload>";
        let parts = parse_complete_multipart_upload(body).unwrap();
        assert_eq!(parts[0].etag, "e ");
        assert_eq!(parts[0].checksum_crc32.as_deref(), Some(" x"));
        let body = b"<Tagging><TagSet><Tag><Key> k</Key><Value>v </Value></Tag></TagSet></Tagging>";
        let tags = parse_tagging(body, OBJECT_TAGS_MAX).unwrap();
        assert_eq!((tags[0].key.as_str(), tags[0].value.as_str()), (" k", "v "));
    }

    #[test]
    fn part_numbers_are_plain_decimal() {
        // `+5`, ` 5` and `05 ` are not part numbers; S3 parses digits only.
        for bad in ["+5", " 5", "5 ", "-1", "0x5", "", "99999999999999999999"] {
            let body = format!(
                "<CompleteMultipartUpload><Part><PartNumber>{bad}</PartNumber><ETag>a</ETag></Part></CompleteMultipartUpload>"
            );
            let code = parse_complete_multipart_upload(body.as_bytes())
                .unwrap_err()
                .code();
            assert_eq!(code, S3ErrorCode::InvalidArgument, "{bad:?}");
        }
    }

    #[test]
    fn hostile_documents_are_malformed() {
        // DTDs, deep nesting, bad nesting and trailing roots never reach a parser.
        let dtd =
            b"<!DOCTYPE d [<!ENTITY x \"y\">]><Delete><Object><Key>&x;</Key></Object></Delete>";
        assert!(parse_delete(dtd).is_err());
        let deep = format!("<Delete>{}{}</Delete>", "<a>".repeat(20), "</a>".repeat(20));
        assert!(parse_delete(deep.as_bytes()).is_err());
        assert!(parse_delete(b"<Delete><Object><Key>a</Object></Key></Delete>").is_err());
        assert!(parse_delete(b"<Delete><Object><Key>a</Key></Object></Delete><Delete/>").is_err());
        assert!(parse_delete(b"<Delete><Object><Key>a</Key></Object>").is_err());
    }
}
