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
use shoal_http::{
    Operation, ResponseBody, ResponseHead, S3Error, S3ErrorCode, write_response_head,
};

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

/// Starts a streamed answer: a 200 head with a chunked body of `content_type`, the
/// connection closed after it (`trace`, `heal`).
async fn start_stream<S: AsyncReadRent + AsyncWriteRent>(
    call: &Call<'_>,
    body: &mut RequestBody<'_, S>,
    content_type: &str,
) -> Result<(), S3Error> {
    let headers = [("Content-Type", content_type)];
    let head = ResponseHead {
        status: 200,
        date_unix_secs: call.ctx.now_unix_secs(),
        request_id: call.request_id,
        headers: &headers,
        body: ResponseBody::Chunked,
        keep_alive: false,
    };
    let mut out = Vec::with_capacity(256);
    write_response_head(&head, &mut out);
    let (written, _) = body.conn.write_all(out).await;
    written.map_err(|_| S3Error::new(S3ErrorCode::InternalError))
}

/// Sends `data` as one chunk of a streamed answer; whether the client still reads.
async fn write_chunk<S: AsyncReadRent + AsyncWriteRent>(
    body: &mut RequestBody<'_, S>,
    data: &[u8],
) -> bool {
    let mut out = Vec::with_capacity(data.len() + 16);
    shoal_http::response::write_chunk_header(data.len(), &mut out);
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    let (written, _) = body.conn.write_all(out).await;
    written.is_ok()
}

/// Ends a streamed answer (its last, empty chunk).
async fn end_stream<S: AsyncReadRent + AsyncWriteRent>(body: &mut RequestBody<'_, S>) {
    let (_, _) = body
        .conn
        .write_all(shoal_http::response::LAST_CHUNK.to_vec())
        .await;
}
