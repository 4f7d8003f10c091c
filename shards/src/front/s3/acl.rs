//! GetBucketAcl and GetObjectAcl: the one ACL Shoal has. There is a single owner (the
//! root credentials) with full control of every bucket and object, and no grants; the
//! answer says exactly that. Writing an ACL is refused in routing (501), so this
//! document never differs from what Shoal enforces.

use monoio::io::{AsyncReadRent, AsyncWriteRent};
use shoal_http::s3xml::escape_text_into;
use shoal_http::{Operation, S3Error};

use crate::front::handler::{Call, Reply, RequestBody, send};
use crate::front::s3::error::to_s3;

pub async fn handle<S: AsyncReadRent + AsyncWriteRent>(
    call: &Call<'_>,
    body: &mut RequestBody<'_, S>,
) -> Result<bool, S3Error> {
    let (ctx, request_id) = (call.ctx, call.request_id);
    body.discard(0).await?;
    let bucket = call.bucket();
    match call.route.operation {
        Operation::GetObjectAcl => {
            ctx.store
                .head_object(bucket, call.key())
                .await
                .map_err(|e| to_s3(&e))?;
        }
        _ => ctx.store.head_bucket(bucket).await.map_err(|e| to_s3(&e))?,
    }
    let document = owner_full_control(&ctx.credentials.access_key_id);
    send(ctx, body.conn, Reply::xml(document), request_id, true).await
}

/// The AccessControlPolicy of a resource owned by `owner_id` with no other grant.
fn owner_full_control(owner_id: &str) -> Vec<u8> {
    let mut id = Vec::new();
    escape_text_into(owner_id, &mut id);
    let id = String::from_utf8(id).expect("escaping keeps UTF-8");
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <AccessControlPolicy xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
         <Owner><ID>{id}</ID><DisplayName>{id}</DisplayName></Owner>\
         <AccessControlList><Grant>\
         <Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
         xsi:type=\"CanonicalUser\"><ID>{id}</ID><DisplayName>{id}</DisplayName></Grantee>\
         <Permission>FULL_CONTROL</Permission>\
         </Grant></AccessControlList></AccessControlPolicy>"
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owner_has_full_control_and_nobody_else() {
        // One grant, to the owner, with the id escaped as XML text.
        let doc = String::from_utf8(owner_full_control("a<b")).unwrap();
        assert_eq!(doc.matches("<Grant>").count(), 1);
        assert!(doc.contains("<Owner><ID>a&lt;b</ID>"));
        assert!(doc.contains("<Permission>FULL_CONTROL</Permission>"));
    }
}
