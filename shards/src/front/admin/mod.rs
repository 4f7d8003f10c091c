//! Shoal's admin API, served under `shoal_http::route::ADMIN_PATH_PREFIX` to requests
//! signed with the root credentials (the one signature gate refuses anything else
//! before routing): `info` (what the node runs and how it is), `config` (the settings
//! that change at run time, `settings.rs`), `trace` (a live stream of requests) and
//! `heal` (heal a bucket's objects on demand, progress streamed).
//! `shoal admin` is its client. Answers are JSON objects; errors are S3 errors.

pub mod config;
pub mod heal;
pub mod info;
pub mod node;
pub mod trace;

use monoio::io::{AsyncReadRent, AsyncWriteRent};
use shoal_http::{Operation, S3Error, S3ErrorCode};

use crate::front::handler::{Call, Reply, RequestBody, send};

/// Runs one admin operation.
pub async fn handle<S: AsyncReadRent + AsyncWriteRent>(
    call: &Call<'_>,
    body: &mut RequestBody<'_, S>,
) -> Result<bool, S3Error> {
    match call.route.operation {
        Operation::AdminInfo => {
            body.discard(0).await?;
            let document = info::document(call.ctx).await?;
            send_json(call, body, document).await
        }
        Operation::AdminConfigGet => {
            body.discard(0).await?;
            let document = config::get(call.ctx, call.route)?;
            send_json(call, body, document).await
        }
        Operation::AdminConfigSet => {
            body.discard(0).await?;
            let document = config::set(call.ctx, call.route)?;
            send_json(call, body, document).await
        }
        Operation::AdminTrace => trace::stream(call, body).await,
        Operation::AdminHeal => heal::stream(call, body).await,
        _ => Err(S3Error::new(S3ErrorCode::InternalError)),
    }
}

async fn send_json<S: AsyncReadRent + AsyncWriteRent>(
    call: &Call<'_>,
    body: &mut RequestBody<'_, S>,
    mut document: String,
) -> Result<bool, S3Error> {
    document.push('\n');
    let mut reply = Reply::new(200).header("Content-Type", "application/json");
    reply.body = document.into_bytes();
    send(call.ctx, body.conn, reply, call.request_id, true).await
}
