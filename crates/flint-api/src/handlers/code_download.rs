//! `GET /_flint/code/{blob}`: the target of `Code.Location`, a signed, expiring download
//! link, like the presigned S3 URL Lambda returns.

use crate::blocking::on_blocking_pool;
use crate::clock::unix_seconds;
use crate::extract::Path;
use crate::query::Query;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

pub(crate) async fn download_code(
    State(s): State<AppState>,
    Path(blob): Path<String>,
    q: Query,
) -> Response {
    let expires = q.get("expires").and_then(|v| v.parse::<i64>().ok());
    let signature = q.get("signature");
    let valid = match (expires, signature) {
        (Some(exp), Some(sig)) => s.control.signer().verify(&blob, exp, sig, unix_seconds()),
        _ => false,
    };
    if !valid {
        // S3's answer to a bad or expired presigned URL.
        return (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, "application/xml")],
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code><Message>Request has expired or the signature does not match</Message></Error>",
        )
            .into_response();
    }
    match on_blocking_pool(&s.control, move |c| c.code_bytes(&blob)).await {
        Ok(Ok(bytes)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/zip")],
            bytes,
        )
            .into_response(),
        _ => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "application/xml")],
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>",
        )
            .into_response(),
    }
}
