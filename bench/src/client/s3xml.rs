//! The few S3 XML documents the client reads (error documents, ListObjectsV2 pages,
//! InitiateMultipartUploadResult, CompleteMultipartUploadResult) and writes
//! (DeleteObjects, CompleteMultipartUpload).
//!
//! Reading is by tag search, not a full parser: S3 servers write these documents with
//! no attributes on the tags read here and no CDATA, and the benchmark needs a handful
//! of values from each. Anything unexpected is an error value, never a panic.
//! Text is unescaped for the five XML entities and the numeric CR/LF ones S3 emits.

use shoal_http::s3xml::escape_text_into;

use crate::client::payload::ChecksumAlgorithm;

/// One page of ListObjectsV2.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ListPage {
    pub keys: Vec<String>,
    pub next_continuation_token: Option<String>,
}

/// A part as CompleteMultipartUpload names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompletedPart {
    pub part_number: u32,
    /// As UploadPart returned it (quoted).
    pub etag: String,
    /// The part's checksum (base64), when the upload has a checksum algorithm.
    pub checksum: Option<String>,
}

/// The unescaped text of the first `<tag>...</tag>` in `xml`.
pub fn tag_text(xml: &[u8], tag: &str) -> Option<String> {
    let xml = std::str::from_utf8(xml).ok()?;
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    Some(xml_unescape(&xml[start..end]))
}

/// How many times `needle` occurs in `xml`.
pub fn count_tag(xml: &[u8], needle: &str) -> usize {
    std::str::from_utf8(xml).map_or(0, |xml| xml.matches(needle).count())
}

/// `STATUS Code: Message` of an S3 error document (or the status alone).
pub fn error_message(status: u16, body: &[u8]) -> String {
    let code = tag_text(body, "Code").unwrap_or_else(|| "(no S3 error code)".to_owned());
    let message = tag_text(body, "Message").unwrap_or_default();
    format!("{status} {code}: {message}")
        .trim_end_matches([' ', ':'])
        .to_owned()
}

/// Keys and continuation of a ListObjectsV2 result.
pub fn parse_list_page(xml: &[u8]) -> Result<ListPage, String> {
    let text = std::str::from_utf8(xml).map_err(|_| "listing is not UTF-8".to_owned())?;
    if !text.contains("<ListBucketResult") {
        return Err("response is not a ListBucketResult".to_owned());
    }
    let mut page = ListPage::default();
    let mut rest = text;
    while let Some(start) = rest.find("<Key>") {
        let after = &rest[start + 5..];
        let end = after
            .find("</Key>")
            .ok_or_else(|| "unterminated <Key>".to_owned())?;
        page.keys.push(xml_unescape(&after[..end]));
        rest = &after[end..];
    }
    let truncated = tag_text(xml, "IsTruncated").is_some_and(|t| t == "true");
    page.next_continuation_token = tag_text(xml, "NextContinuationToken").filter(|_| truncated);
    if truncated && page.next_continuation_token.is_none() {
        return Err("truncated listing without NextContinuationToken".to_owned());
    }
    Ok(page)
}

/// The upload id of an InitiateMultipartUploadResult.
pub fn parse_initiate_multipart_upload(xml: &[u8]) -> Result<String, String> {
    if count_tag(xml, "<InitiateMultipartUploadResult") == 0 {
        return Err("response is not an InitiateMultipartUploadResult".to_owned());
    }
    tag_text(xml, "UploadId")
        .filter(|id| !id.is_empty())
        .ok_or_else(|| "InitiateMultipartUploadResult without UploadId".to_owned())
}

/// The ETag of a CompleteMultipartUploadResult. S3 may answer 200 and then an error
/// document (the error happened after the response began): that is an error here.
pub fn parse_complete_multipart_upload(xml: &[u8]) -> Result<String, String> {
    if count_tag(xml, "<Error>") > 0 {
        return Err(error_message(200, xml));
    }
    if count_tag(xml, "<CompleteMultipartUploadResult") == 0 {
        return Err("response is not a CompleteMultipartUploadResult".to_owned());
    }
    tag_text(xml, "ETag").ok_or_else(|| "CompleteMultipartUploadResult without ETag".to_owned())
}

/// `<Delete><Quiet>true</Quiet><Object><Key>..</Key></Object>...</Delete>`.
pub fn write_delete(keys: &[String]) -> Vec<u8> {
    let mut xml = b"<Delete><Quiet>true</Quiet>".to_vec();
    for key in keys {
        xml.extend_from_slice(b"<Object><Key>");
        escape_text_into(key, &mut xml);
        xml.extend_from_slice(b"</Key></Object>");
    }
    xml.extend_from_slice(b"</Delete>");
    xml
}

/// `<CompleteMultipartUpload><Part><PartNumber/><ETag/>[<ChecksumX/>]</Part>...`, the
/// parts in the order given (callers sort them by number, as S3 requires).
pub fn write_complete_multipart_upload(
    parts: &[CompletedPart],
    algorithm: Option<ChecksumAlgorithm>,
) -> Vec<u8> {
    let mut xml = Vec::with_capacity(64 + parts.len() * 96);
    xml.extend_from_slice(b"<CompleteMultipartUpload>");
    for part in parts {
        xml.extend_from_slice(b"<Part><PartNumber>");
        xml.extend_from_slice(part.part_number.to_string().as_bytes());
        xml.extend_from_slice(b"</PartNumber><ETag>");
        escape_text_into(&part.etag, &mut xml);
        xml.extend_from_slice(b"</ETag>");
        if let (Some(algorithm), Some(checksum)) = (algorithm, &part.checksum) {
            let tag = format!("Checksum{}", algorithm.name());
            xml.extend_from_slice(format!("<{tag}>").as_bytes());
            escape_text_into(checksum, &mut xml);
            xml.extend_from_slice(format!("</{tag}>").as_bytes());
        }
        xml.extend_from_slice(b"</Part>");
    }
    xml.extend_from_slice(b"</CompleteMultipartUpload>");
    xml
}

fn xml_unescape(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#13;", "\r")
        .replace("&#10;", "\n")
        .replace("&#34;", "\"")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys are unescaped; the token is taken only from a truncated page.
    #[test]
    fn parses_list_pages() {
        let xml = b"<ListBucketResult><IsTruncated>true</IsTruncated><Contents><Key>a&amp;b</Key></Contents>\
            <Contents><Key>c</Key></Contents><NextContinuationToken>t1</NextContinuationToken></ListBucketResult>";
        let page = parse_list_page(xml).unwrap();
        assert_eq!(page.keys, vec!["a&b", "c"]);
        assert_eq!(page.next_continuation_token.as_deref(), Some("t1"));
        let last = parse_list_page(
            b"<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>",
        )
        .unwrap();
        assert_eq!(last, ListPage::default());
        assert!(parse_list_page(b"<Error/>").is_err());
    }

    /// The upload id is read from the server's own InitiateMultipartUploadResult.
    #[test]
    fn parses_the_servers_initiate_result() {
        use shoal_http::s3xml::{
            InitiateMultipartUploadResult, write_initiate_multipart_upload_result,
        };
        let mut xml = Vec::new();
        write_initiate_multipart_upload_result(
            &InitiateMultipartUploadResult {
                bucket: "b",
                key: "k&1",
                upload_id: "u-1/2+3",
            },
            &mut xml,
        );
        assert_eq!(parse_initiate_multipart_upload(&xml).unwrap(), "u-1/2+3");
        assert!(parse_initiate_multipart_upload(b"<InitiateMultipartUploadResult/>").is_err());
        assert!(parse_initiate_multipart_upload(b"<Error><Code>x</Code></Error>").is_err());
    }

    /// The ETag is read from the server's own result; an error document after a 200
    /// is an error carrying its code.
    #[test]
    fn parses_the_servers_complete_result() {
        use shoal_http::s3xml::{
            CompleteMultipartUploadResult, write_complete_multipart_upload_result,
        };
        let mut xml = Vec::new();
        write_complete_multipart_upload_result(
            &CompleteMultipartUploadResult {
                location: "http://h/b/k",
                bucket: "b",
                key: "k",
                etag: "0123456789abcdef0123456789abcdef-10000",
                ..CompleteMultipartUploadResult::default()
            },
            &mut xml,
        );
        assert_eq!(
            parse_complete_multipart_upload(&xml).unwrap(),
            "\"0123456789abcdef0123456789abcdef-10000\""
        );
        let late_error = b"<?xml version=\"1.0\"?>\n\n<Error><Code>InternalError</Code><Message>oops</Message></Error>";
        let error = parse_complete_multipart_upload(late_error).unwrap_err();
        assert_eq!(error, "200 InternalError: oops");
    }

    /// The server's own parser reads our CompleteMultipartUpload body back exactly:
    /// numbers, quoted ETags and per-part checksums, for 10,000 parts.
    #[test]
    fn complete_body_round_trips_through_the_server_parser() {
        let parts: Vec<CompletedPart> = (1..=10_000)
            .map(|n| CompletedPart {
                part_number: n,
                etag: format!("\"{n:032x}\""),
                checksum: Some("AAAAAA==".to_owned()),
            })
            .collect();
        let xml = write_complete_multipart_upload(&parts, Some(ChecksumAlgorithm::Crc32c));
        let parsed = shoal_http::xml::parse_complete_multipart_upload(&xml).unwrap();
        assert_eq!(parsed.len(), 10_000);
        for (ours, theirs) in parts.iter().zip(&parsed) {
            assert_eq!(theirs.part_number, ours.part_number);
            assert_eq!(theirs.etag.trim_matches('"'), ours.etag.trim_matches('"'));
            assert_eq!(theirs.checksum_crc32c, ours.checksum);
        }
        let plain = write_complete_multipart_upload(&parts[..1], None);
        assert_eq!(
            String::from_utf8(plain).unwrap(),
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>\
             <ETag>&quot;00000000000000000000000000000001&quot;</ETag></Part></CompleteMultipartUpload>"
        );
    }

    /// DeleteObjects bodies escape keys; the server's parser reads them back.
    #[test]
    fn delete_body_round_trips() {
        let keys = vec!["a<b".to_owned(), "c&d".to_owned()];
        let parsed = shoal_http::xml::parse_delete(&write_delete(&keys)).unwrap();
        assert!(parsed.quiet);
        let names: Vec<&str> = parsed.objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(names, vec!["a<b", "c&d"]);
    }
}
