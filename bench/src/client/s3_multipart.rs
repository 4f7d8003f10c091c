//! The multipart operations of the client: CreateMultipartUpload, UploadPart,
//! CompleteMultipartUpload, AbortMultipartUpload, and GetObject of one part.
//!
//! With `--checksum`, the upload is created with `x-amz-checksum-algorithm` (and
//! `x-amz-checksum-type: FULL_OBJECT` for `-FO` and CRC64NVME), every part carries its
//! checksum like a PUT does, and CompleteMultipartUpload names each part's checksum,
//! as S3 requires of uploads created with an algorithm.

use crate::client::payload::Payload;
use crate::client::s3::{Client, Outcome, Request, RequestBody, decimal};
use crate::client::s3xml::{self, CompletedPart};

impl Client {
    /// Starts an upload of `key`; returns its upload id.
    pub async fn create_multipart_upload(&self, key: &str) -> Result<String, String> {
        let outcome = self.send(self.create_multipart_upload_request(key)).await?;
        s3xml::parse_initiate_multipart_upload(&outcome.body)
    }

    fn create_multipart_upload_request<'a>(&self, key: &'a str) -> Request<'a> {
        let mut request = Request::new("POST", key);
        request.query = &[("uploads", "")];
        request
            .headers
            .push("content-type", "application/octet-stream");
        if let Some(choice) = self.checksum {
            request
                .headers
                .push("x-amz-checksum-algorithm", choice.algorithm.name());
            if choice.full_object {
                request.headers.push("x-amz-checksum-type", "FULL_OBJECT");
            }
        }
        request.expect.keep_body = true;
        request
    }

    /// Uploads part `part_number` (1..=10000); the outcome carries the part's ETag.
    pub async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u32,
        payload: &Payload<'_>,
    ) -> Result<Outcome, String> {
        let mut digits = [0u8; 20];
        let number = decimal(part_number as usize, &mut digits);
        let query = [("partNumber", number), ("uploadId", upload_id)];
        let mut request = Request::new("PUT", key);
        request.query = &query;
        request.body = RequestBody::Object(payload);
        request.expect.keep_etag = true;
        let outcome = self.send(request).await?;
        if outcome.etag.as_deref().is_none_or(str::is_empty) {
            return Err(format!("UploadPart {part_number}: no ETag in the response"));
        }
        Ok(outcome)
    }

    /// Completes the upload with `parts` (sorted by number); an error document after a
    /// 200 is an error.
    pub async fn complete_multipart_upload(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<Outcome, String> {
        assert!(
            parts
                .windows(2)
                .all(|w| w[0].part_number < w[1].part_number),
            "S3 takes parts in ascending order"
        );
        let xml = s3xml::write_complete_multipart_upload(
            parts,
            self.checksum.map(|choice| choice.algorithm),
        );
        let query = [("uploadId", upload_id)];
        let mut request = Request::new("POST", key);
        request.query = &query;
        request.headers.push("content-type", "application/xml");
        request.body = RequestBody::Small(xml);
        request.expect.keep_body = true;
        let outcome = self.send(request).await?;
        s3xml::parse_complete_multipart_upload(&outcome.body)?;
        Ok(outcome)
    }

    pub async fn abort_multipart_upload(
        &self,
        key: &str,
        upload_id: &str,
    ) -> Result<Outcome, String> {
        let query = [("uploadId", upload_id)];
        let mut request = Request::new("DELETE", key);
        request.query = &query;
        self.send(request).await
    }

    /// GET of part `part_number` of a multipart object.
    pub async fn get_object_part(&self, key: &str, part_number: u32) -> Result<Outcome, String> {
        let mut digits = [0u8; 20];
        let number = decimal(part_number as usize, &mut digits);
        let query = [("partNumber", number)];
        let mut request = Request::new("GET", key);
        request.query = &query;
        self.send(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::payload::{ObjectBody, parse_checksum};
    use crate::client::s3::tests::{client, server_decode, wire};
    use shoal_http::{Operation, RouteConfig, route};

    /// The route and decoded body the server sees for `request`.
    fn server_view(
        client: &Client,
        request: &Request<'_>,
    ) -> (
        Operation,
        shoal_http::RequestHead,
        Vec<u8>,
        Vec<(String, String)>,
    ) {
        let (head, body, trailers) = server_decode(&wire(client, request), "benchsecret").unwrap();
        let operation = route(&head, &RouteConfig::default()).unwrap().operation;
        (operation, head, body, trailers)
    }

    /// Each multipart request reaches the server's operation with its parameters,
    /// signed (upload ids with reserved characters included).
    #[test]
    fn requests_route_to_their_operations() {
        let client = client(false, None);
        let upload_id = "a/b+c=d e";
        let body = ObjectBody::random(100_000, 3, false, None);
        let payload = body.whole();
        let part_query = [("partNumber", "7"), ("uploadId", upload_id)];
        let upload_query = [("uploadId", upload_id)];
        let mut create = Request::new("POST", "dir/obj");
        create.query = &[("uploads", "")];
        let mut part = Request::new("PUT", "dir/obj");
        part.query = &part_query;
        part.body = RequestBody::Object(&payload);
        let mut complete = Request::new("POST", "dir/obj");
        complete.query = &upload_query;
        complete.body = RequestBody::Small(b"<CompleteMultipartUpload/>".to_vec());
        let mut abort = Request::new("DELETE", "dir/obj");
        abort.query = &upload_query;
        let mut get = Request::new("GET", "dir/obj");
        get.query = &[("partNumber", "3")];
        let cases = [
            (create, Operation::CreateMultipartUpload),
            (part, Operation::UploadPart),
            (complete, Operation::CompleteMultipartUpload),
            (abort, Operation::AbortMultipartUpload),
            (get, Operation::GetObject),
        ];
        for (request, expected) in &cases {
            let (operation, head, _, _) = server_view(&client, request);
            assert_eq!(operation, *expected);
            if request.query.iter().any(|(name, _)| *name == "uploadId") {
                let query = shoal_http::uri::parse_query(head.raw_query()).unwrap();
                assert!(query.contains(&("uploadId".to_owned(), upload_id.to_owned())));
            }
        }
        let (_, _, decoded, _) = server_view(&client, &cases[1].0);
        assert_eq!(decoded, &body.data[..]);
    }

    /// With a checksum, the upload declares the algorithm (and FULL_OBJECT for -FO),
    /// and each part carries its checksum as a signed trailer.
    #[test]
    fn checksummed_uploads_declare_and_carry_the_checksum() {
        for (name, full_object) in [("CRC32C", false), ("CRC32C-FO", true), ("CRC64NVME", true)] {
            let choice = parse_checksum(name).unwrap();
            let client = client(false, Some(choice));
            let create = client.create_multipart_upload_request("k");
            let (operation, head, _, _) = server_view(&client, &create);
            assert_eq!(operation, Operation::CreateMultipartUpload);
            assert_eq!(
                head.header("x-amz-checksum-algorithm"),
                Some(choice.algorithm.name())
            );
            assert_eq!(
                head.header("x-amz-checksum-type").is_some(),
                full_object,
                "{name}"
            );
            let body = ObjectBody::random(70_000, 4, false, Some(choice.algorithm));
            let payload = body.whole();
            let mut part = Request::new("PUT", "k");
            part.query = &[("partNumber", "1"), ("uploadId", "u")];
            part.body = RequestBody::Object(&payload);
            let (_, _, _, trailers) = server_view(&client, &part);
            let value = &payload.checksum.as_ref().unwrap().1;
            assert_eq!(
                trailers,
                vec![(choice.algorithm.header().to_owned(), value.to_string())]
            );
        }
    }
}
