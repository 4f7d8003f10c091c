//! Listing over HTTP: ListObjectsV2, ListObjects (v1) and ListObjectVersions (answered
//! for unversioned buckets: every object is its single `null` version, because tools
//! call it to empty buckets).

use monoio::io::{AsyncReadRent, AsyncWriteRent};
use shoal_http::{Operation, S3Error, S3ErrorCode};

use crate::front::handler::{Call, Reply, RequestBody, base64_decode, base64_encode, send};
use crate::front::s3::error::to_s3;
use crate::front::s3::xml::{ListingParams, ListingStyle};
use crate::object::list::{ListPage, ListQuery, MAX_KEYS_LIMIT};

pub async fn handle<S: AsyncReadRent + AsyncWriteRent>(
    call: &Call<'_>,
    body: &mut RequestBody<'_, S>,
) -> Result<bool, S3Error> {
    let (ctx, route, request_id) = (call.ctx, call.route, call.request_id);
    body.discard(0).await?;
    let bucket = route.bucket.as_deref().unwrap_or_default();
    let q = |name: &str| route.query_value(name).map(str::to_owned);
    let max_keys = match q("max-keys") {
        None => MAX_KEYS_LIMIT,
        Some(text) => text
            .parse::<usize>()
            .map_err(|_| invalid("max-keys must be a non-negative integer"))?,
    };
    let encoding_url = match q("encoding-type").as_deref() {
        None => false,
        Some(e) if e.eq_ignore_ascii_case("url") => true,
        Some(_) => return Err(invalid("encoding-type must be url")),
    };
    let style = match route.operation {
        Operation::ListObjectsV2 => ListingStyle::V2,
        Operation::ListObjects => ListingStyle::V1,
        Operation::ListObjectVersions => ListingStyle::Versions,
        _ => return Err(S3Error::new(S3ErrorCode::NotImplemented)),
    };
    let continuation = match (style, q("continuation-token")) {
        (ListingStyle::V2, Some(token)) => Some(decode_token(&token)?),
        _ => None,
    };
    let marker = match style {
        ListingStyle::V2 => continuation
            .clone()
            .or_else(|| q("start-after"))
            .unwrap_or_default(),
        ListingStyle::V1 => q("marker").unwrap_or_default(),
        ListingStyle::Versions => q("key-marker").unwrap_or_default(),
    };
    let query = ListQuery {
        prefix: q("prefix").unwrap_or_default(),
        delimiter: q("delimiter").filter(|d| !d.is_empty()),
        start_after: marker,
        max_keys,
    };
    let page = if max_keys == 0 {
        ctx.store.head_bucket(bucket).await.map_err(|e| to_s3(&e))?;
        ListPage::default()
    } else {
        ctx.store
            .list_objects(bucket, &query)
            .await
            .map_err(|e| to_s3(&e))?
    };
    let params = ListingParams {
        style,
        bucket,
        query: &query,
        encoding_url,
        fetch_owner: q("fetch-owner").is_some_and(|v| v == "true") || style != ListingStyle::V2,
        owner_id: &ctx.credentials.access_key_id,
        continuation_token: q("continuation-token"),
        next_continuation_token: page
            .next_start_after
            .as_deref()
            .filter(|_| page.is_truncated)
            .map(|k| base64_encode(k.as_bytes())),
        start_after: q("start-after"),
        marker: q(if style == ListingStyle::Versions {
            "key-marker"
        } else {
            "marker"
        }),
    };
    let xml = crate::front::s3::xml::listing(&params, &page);
    send(ctx, body.conn, Reply::xml(xml), request_id, true).await
}

fn decode_token(token: &str) -> Result<String, S3Error> {
    base64_decode(token)
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| invalid("the continuation token is not valid"))
}

fn invalid(message: &'static str) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidArgument, message)
}
