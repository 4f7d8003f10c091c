//! The one authentication gate: every request passes through it, and it dispatches to
//! exactly one mechanism, SigV4 ([`crate::auth::sigv4`]) or SigV2
//! ([`crate::auth::sigv2`]), each in its header and its presigned form.
//!
//! Invariants:
//! - Every request passes through [`authenticate_with_routes`] (or [`authenticate`]);
//!   it returns `Ok` only for a request whose signature was recomputed from the head
//!   and compared in constant time. Anonymous requests are `AccessDenied` (Shoal has
//!   no public buckets yet). A request carrying more than one mechanism (header, V4
//!   query, V2 query) is `InvalidArgument`.
//! - SigV2 is accepted only by [`authenticate_with_routes`], which is given the
//!   router's [`RouteConfig`]: V2 does not sign `Host`, so the signed bucket must be
//!   found exactly as routing finds it. [`authenticate`] does not know the routes and
//!   refuses V2 as it always has.
//! - The body is not authenticated here: the returned
//!   [`PayloadMode`](crate::auth::common::PayloadMode) says how the body
//!   decoder must verify it (whole-body SHA-256, chained chunk signatures, or nothing).

use crate::auth::common::{Authenticated, SecretKeys};
use crate::auth::{sigv2, sigv4};
use crate::base::error::{S3Error, S3ErrorCode};
use crate::base::uri::parse_query;
use crate::message::request::RequestHead;
use crate::route::RouteConfig;

/// The gate for servers that route path style only, or that have not yet passed their
/// [`RouteConfig`]: SigV4 in every form; SigV2 is refused (see the file header).
pub fn authenticate(
    head: &RequestHead,
    keys: &impl SecretKeys,
    region: &str,
    now_unix_secs: i64,
) -> Result<Authenticated, S3Error> {
    gate(head, keys, region, None, now_unix_secs)
}

/// The gate: SigV4 and SigV2 in every form. `routes` must be the configuration the
/// request is routed with. See the file header for what `Ok` guarantees.
pub fn authenticate_with_routes(
    head: &RequestHead,
    keys: &impl SecretKeys,
    region: &str,
    routes: &RouteConfig,
    now_unix_secs: i64,
) -> Result<Authenticated, S3Error> {
    gate(head, keys, region, Some(routes), now_unix_secs)
}

/// Dispatches to exactly one mechanism; `v2_routes` is `None` when SigV2 is refused.
fn gate(
    head: &RequestHead,
    keys: &impl SecretKeys,
    region: &str,
    v2_routes: Option<&RouteConfig>,
    now_unix_secs: i64,
) -> Result<Authenticated, S3Error> {
    let query = parse_query(head.raw_query())?;
    let presigned_v4 = query
        .iter()
        .any(|(name, _)| name == "X-Amz-Algorithm" || name == "X-Amz-Signature");
    let presigned_v2 = v2_routes.is_some() && sigv2::is_presigned(&query);
    let authorization = head.header("authorization");
    let mechanisms = usize::from(authorization.is_some())
        + usize::from(presigned_v4)
        + usize::from(presigned_v2);
    if mechanisms > 1 {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified",
        ));
    }
    if let Some(authorization) = authorization {
        return match v2_routes {
            Some(routes) if authorization.starts_with(sigv2::AUTHORIZATION_PREFIX) => {
                sigv2::authenticate_header(head, authorization, &query, keys, routes, now_unix_secs)
            }
            _ => {
                sigv4::authenticate_header(head, authorization, &query, keys, region, now_unix_secs)
            }
        };
    }
    match v2_routes {
        _ if presigned_v4 => {
            sigv4::authenticate_presigned(head, &query, keys, region, now_unix_secs)
        }
        Some(routes) if presigned_v2 => {
            sigv2::authenticate_presigned(head, &query, keys, routes, now_unix_secs)
        }
        _ => Err(S3Error::with_message(
            S3ErrorCode::AccessDenied,
            "Anonymous access is not allowed.",
        )),
    }
}
