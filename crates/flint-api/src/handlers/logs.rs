//! `GET /_flint/logs/{function}?offset=N`, behind `flint logs`: a page of a function's stored
//! log records from `offset` (at most `flint_invoke::PAGE_BYTES` of them), with the offset of
//! the next page and whether more records follow now.

use crate::extract::Function;
use crate::query::Query;
use crate::response::json_response;
use crate::state::{ApiResult, AppState, blocking};
use axum::extract::State;
use axum::http::StatusCode;
use flint_invoke::PAGE_BYTES;
use flint_types::ApiError;
use serde_json::json;

pub(crate) async fn read_logs(
    State(s): State<AppState>,
    q: Query,
    Function(fref): Function<140>,
) -> ApiResult {
    let offset = q.get("offset").and_then(|v| v.parse().ok()).unwrap_or(0);
    let name = fref.name.clone();
    // A log is only shown for a function that exists.
    blocking(&s, move |c| c.get_function_configuration(&fref)).await?;
    let invoker = s.host_invoker()?;
    invoker.logs().flush().await;
    let logs = invoker.logs().clone();
    let page = tokio::task::spawn_blocking(move || logs.read(&name, offset, PAGE_BYTES))
        .await
        .map_err(|e| ApiError::Service(format!("reading logs: {e}")))?
        .map_err(|e| ApiError::Service(format!("reading logs: {e}")))?;
    let records: Vec<_> = page
        .records
        .into_iter()
        .map(|r| json!({"time": r.time, "stream": r.stream, "message": r.message}))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"records": records, "nextOffset": page.next_offset, "more": page.more}),
    ))
}
