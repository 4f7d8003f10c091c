//! Tagging over HTTP: Put/Get/DeleteObjectTagging and Put/Get/DeleteBucketTagging.

use monoio::io::{AsyncReadRent, AsyncWriteRent};
use shoal_http::xml::{BUCKET_TAGS_MAX, OBJECT_TAGS_MAX, Tag};
use shoal_http::{Operation, S3Error, S3ErrorCode};

use crate::front::handler::{Call, Reply, RequestBody};
use crate::front::s3::error::to_s3;

/// Largest Tagging document accepted (50 tags of 128 + 256 characters, with XML).
const TAGGING_BODY_MAX_BYTES: usize = 64 << 10;

pub async fn handle<S: AsyncReadRent + AsyncWriteRent>(
    call: &Call<'_>,
    body: &mut RequestBody<'_, S>,
) -> Result<bool, S3Error> {
    let store = &call.ctx.store;
    let (bucket, key) = (call.bucket(), call.key());
    let reply = match call.route.operation {
        Operation::GetObjectTagging => {
            body.discard(0).await?;
            let (_, tags) = store
                .object_tags(bucket, key)
                .await
                .map_err(|e| to_s3(&e))?;
            Reply::xml(tagging_xml(tags))
        }
        Operation::PutObjectTagging => {
            let tags = read_tags(body, OBJECT_TAGS_MAX).await?;
            store
                .set_object_tags(bucket, key, tags)
                .await
                .map_err(|e| to_s3(&e))?;
            Reply::new(200)
        }
        Operation::DeleteObjectTagging => {
            body.discard(0).await?;
            store
                .set_object_tags(bucket, key, Vec::new())
                .await
                .map_err(|e| to_s3(&e))?;
            Reply::new(204)
        }
        Operation::GetBucketTagging => {
            body.discard(0).await?;
            let tags = store.bucket_tags(bucket).await.map_err(|e| to_s3(&e))?;
            if tags.is_empty() {
                return Err(S3Error::new(S3ErrorCode::NoSuchTagSet));
            }
            Reply::xml(tagging_xml(tags))
        }
        Operation::PutBucketTagging => {
            let tags = read_tags(body, BUCKET_TAGS_MAX).await?;
            store
                .set_bucket_tags(bucket, &tags)
                .await
                .map_err(|e| to_s3(&e))?;
            Reply::new(204)
        }
        Operation::DeleteBucketTagging => {
            body.discard(0).await?;
            store
                .set_bucket_tags(bucket, &[])
                .await
                .map_err(|e| to_s3(&e))?;
            Reply::new(204)
        }
        _ => return Err(S3Error::new(S3ErrorCode::NotImplemented)),
    };
    call.send(body.conn, reply).await
}

async fn read_tags<S: AsyncReadRent + AsyncWriteRent>(
    body: &mut RequestBody<'_, S>,
    tags_max: usize,
) -> Result<Vec<(String, String)>, S3Error> {
    let xml = body.read_to_vec(TAGGING_BODY_MAX_BYTES).await?;
    Ok(shoal_http::xml::parse_tagging(&xml, tags_max)?
        .into_iter()
        .map(|t| (t.key, t.value))
        .collect())
}

fn tagging_xml(tags: Vec<(String, String)>) -> Vec<u8> {
    let tags: Vec<Tag> = tags
        .into_iter()
        .map(|(key, value)| Tag { key, value })
        .collect();
    let mut out = Vec::new();
    shoal_http::s3xml::write_tagging(&tags, &mut out);
    out
}
