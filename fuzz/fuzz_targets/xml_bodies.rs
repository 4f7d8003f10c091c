//! Every XML request body reader (DeleteObjects, CompleteMultipartUpload,
//! CreateBucketConfiguration, Tagging for objects and buckets) and the `x-amz-tagging`
//! header form.
//!
//! Beyond "no panic": text is kept exactly. A parsed Delete or Tagging document written
//! back with Shoal's own XML escaping parses to the same keys, versions, tags and
//! values (no trimming, entities and CDATA decoded once); completed parts are strictly
//! ascending within 1..=10000.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shoal_http::s3xml::escape_text_into;
use shoal_http::xml::{
    BUCKET_TAGS_MAX, Delete, OBJECT_TAGS_MAX, PART_NUMBER_MAX, parse_complete_multipart_upload,
    parse_create_bucket_configuration, parse_delete, parse_tagging, parse_tagging_header,
};

/// Characters XML 1.0 cannot carry even as references: Shoal writes them as references
/// anyway (as AWS does, see `escape_text_into`), and a strict reader refuses them, so
/// round trips are checked only for text without them.
fn xml_representable(text: &str) -> bool {
    text.chars().all(|c| {
        !matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}')
    })
}

fn element(name: &str, text: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(format!("<{name}>").as_bytes());
    escape_text_into(text, out);
    out.extend_from_slice(format!("</{name}>").as_bytes());
}

fn write_delete(delete: &Delete) -> Vec<u8> {
    let mut out = b"<Delete>".to_vec();
    element(
        "Quiet",
        if delete.quiet { "true" } else { "false" },
        &mut out,
    );
    for object in &delete.objects {
        out.extend_from_slice(b"<Object>");
        element("Key", &object.key, &mut out);
        if let Some(version_id) = &object.version_id {
            element("VersionId", version_id, &mut out);
        }
        out.extend_from_slice(b"</Object>");
    }
    out.extend_from_slice(b"</Delete>");
    out
}

fn check_delete(data: &[u8]) {
    let Ok(delete) = parse_delete(data) else {
        return;
    };
    let texts = delete
        .objects
        .iter()
        .flat_map(|o| std::iter::once(&o.key).chain(o.version_id.as_ref()));
    if texts.clone().all(|t| xml_representable(t)) {
        assert_eq!(parse_delete(&write_delete(&delete)).ok(), Some(delete));
    }
}

fn check_tagging(data: &[u8]) {
    for tags_max in [OBJECT_TAGS_MAX, BUCKET_TAGS_MAX] {
        let Ok(tags) = parse_tagging(data, tags_max) else {
            continue;
        };
        assert!(tags.len() <= tags_max);
        if tags
            .iter()
            .all(|t| xml_representable(&t.key) && xml_representable(&t.value))
        {
            let mut out = Vec::new();
            shoal_http::write_tagging(&tags, &mut out);
            assert_eq!(parse_tagging(&out, tags_max).ok(), Some(tags));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check_delete(data);
    check_tagging(data);
    if let Ok(parts) = parse_complete_multipart_upload(data) {
        assert!(
            parts
                .windows(2)
                .all(|w| w[0].part_number < w[1].part_number)
        );
        assert!(
            parts
                .iter()
                .all(|p| (1..=PART_NUMBER_MAX).contains(&p.part_number))
        );
    }
    let _ = parse_create_bucket_configuration(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_tagging_header(text);
    }
});
