//! Bucket operations over HTTP: ListBuckets (paged by `max-buckets` and
//! `continuation-token`, filtered by `prefix` and `bucket-region`), CreateBucket,
//! HeadBucket, DeleteBucket, GetBucketLocation, and GetBucketVersioning (never enabled).

use monoio::io::{AsyncReadRent, AsyncWriteRent};
use shoal_http::{Operation, S3Error, S3ErrorCode};

use crate::front::handler::{Call, Reply, RequestBody, base64_decode, base64_encode, send};
use crate::front::s3::error::to_s3;

/// Largest CreateBucketConfiguration body accepted.
const CREATE_BUCKET_BODY_MAX_BYTES: usize = 64 << 10;
/// Most buckets in one ListBuckets page (S3's limit, and its page size when paging).
const MAX_BUCKETS_LIMIT: usize = 10_000;
/// GetBucketVersioning of a bucket whose versioning was never enabled, as S3 answers it.
const VERSIONING_NEVER_ENABLED: &[u8] = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
    <VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"/>";

pub async fn handle<S: AsyncReadRent + AsyncWriteRent>(
    call: &Call<'_>,
    body: &mut RequestBody<'_, S>,
) -> Result<bool, S3Error> {
    let (ctx, route, request_id) = (call.ctx, call.route, call.request_id);
    let bucket = call.bucket();
    match route.operation {
        Operation::ListBuckets => {
            body.discard(0).await?;
            let page = list_buckets_page(call).await?;
            send(ctx, body.conn, Reply::xml(page), request_id, true).await
        }
        Operation::GetBucketVersioning => {
            body.discard(0).await?;
            ctx.store.head_bucket(bucket).await.map_err(|e| to_s3(&e))?;
            let reply = Reply::xml(VERSIONING_NEVER_ENABLED.to_vec());
            send(ctx, body.conn, reply, request_id, true).await
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
            let xml = crate::front::s3::xml::location(ctx.region());
            send(ctx, body.conn, Reply::xml(xml), request_id, true).await
        }
        _ => Err(S3Error::new(S3ErrorCode::NotImplemented)),
    }
}

/// One ListBuckets page: buckets after the continuation token that start with `prefix`,
/// at most `max-buckets`; the next token (the last name sent) when more remain.
async fn list_buckets_page(call: &Call<'_>) -> Result<Vec<u8>, S3Error> {
    let (ctx, route) = (call.ctx, call.route);
    let max_buckets = match route.query_value("max-buckets") {
        None => MAX_BUCKETS_LIMIT,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_BUCKETS_LIMIT).contains(n))
            .ok_or_else(|| invalid("max-buckets must be an integer between 1 and 10000"))?,
    };
    let after = match route.query_value("continuation-token") {
        None | Some("") => None,
        Some(token) => Some(
            base64_decode(token)
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| invalid("the continuation token is not valid"))?,
        ),
    };
    let prefix = route.query_value("prefix");
    let in_region = route
        .query_value("bucket-region")
        .is_none_or(|region| region == ctx.region());
    let mut buckets = ctx.store.list_buckets().await.map_err(|e| to_s3(&e))?;
    buckets.retain(|b| {
        in_region
            && b.name.starts_with(prefix.unwrap_or_default())
            && after.as_ref().is_none_or(|after| b.name > *after)
    });
    let next = (buckets.len() > max_buckets).then(|| {
        buckets.truncate(max_buckets);
        base64_encode(buckets[max_buckets - 1].name.as_bytes())
    });
    Ok(crate::front::s3::xml::list_buckets(
        &buckets,
        &ctx.credentials.access_key_id,
        next.as_deref(),
        prefix,
    ))
}

fn invalid(message: &'static str) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidArgument, message)
}
