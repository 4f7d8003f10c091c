//! Bucket operations over HTTP: ListBuckets, CreateBucket, HeadBucket, DeleteBucket,
//! GetBucketLocation.

use monoio::io::{AsyncReadRent, AsyncWriteRent};
use shoal_http::{Operation, S3Error, S3ErrorCode};

use crate::handler::{Call, Reply, RequestBody, send};
use crate::s3_error::to_s3;

/// Largest CreateBucketConfiguration body accepted.
const CREATE_BUCKET_BODY_MAX_BYTES: usize = 64 << 10;

pub async fn handle<S: AsyncReadRent + AsyncWriteRent>(
    call: &Call<'_>,
    body: &mut RequestBody<'_, S>,
) -> Result<bool, S3Error> {
    let (ctx, route, request_id) = (call.ctx, call.route, call.request_id);
    let bucket = call.bucket();
    match route.operation {
        Operation::ListBuckets => {
            body.discard(0).await?;
            let buckets = ctx.store.list_buckets().await.map_err(|e| to_s3(&e))?;
            let xml = crate::s3_xml::list_buckets(&buckets, &ctx.credentials.access_key_id);
            send(ctx, body.conn, Reply::xml(xml), request_id, true).await
        }
        Operation::CreateBucket => {
            let config = body.read_to_vec(CREATE_BUCKET_BODY_MAX_BYTES).await?;
            if !config.is_empty() {
                let location = shoal_http::xml::parse_create_bucket_configuration(&config)?;
                if let Some(location) = location.filter(|l| !l.is_empty() && l != ctx.region()) {
                    return Err(S3Error::with_message(
                        S3ErrorCode::InvalidArgument,
                        format!("this server's region is {}, not {location}", ctx.region()),
                    ));
                }
            }
            ctx.store.make_bucket(bucket).await.map_err(|e| to_s3(&e))?;
            send(
                ctx,
                body.conn,
                Reply::new(200).header("Location", format!("/{bucket}")),
                request_id,
                true,
            )
            .await
        }
        Operation::HeadBucket => {
            body.discard(0).await?;
            ctx.store.head_bucket(bucket).await.map_err(|e| to_s3(&e))?;
            let mut reply = Reply::new(200).header("x-amz-bucket-region", ctx.region());
            reply.head_only = true;
            send(ctx, body.conn, reply, request_id, true).await
        }
        Operation::DeleteBucket => {
            body.discard(0).await?;
            ctx.store
                .delete_bucket(bucket)
                .await
                .map_err(|e| to_s3(&e))?;
            send(ctx, body.conn, Reply::new(204), request_id, true).await
        }
        Operation::GetBucketLocation => {
            body.discard(0).await?;
            ctx.store.head_bucket(bucket).await.map_err(|e| to_s3(&e))?;
            let xml = crate::s3_xml::location(ctx.region());
            send(ctx, body.conn, Reply::xml(xml), request_id, true).await
        }
        _ => Err(S3Error::new(S3ErrorCode::NotImplemented)),
    }
}
