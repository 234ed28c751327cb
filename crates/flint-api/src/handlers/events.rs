//! flint's own views of the asynchronous-invocation queue, behind `flint events`.

use crate::query::Query;
use crate::response::json_response;
use crate::state::{ApiResult, AppState};
use axum::extract::State;
use axum::http::StatusCode;
use flint_types::ApiError;
use serde_json::json;

/// `GET /_flint/events`: queue depth, age of the oldest event, per function.
pub(crate) async fn stats(State(s): State<AppState>) -> ApiResult {
    Ok(json_response(StatusCode::OK, &s.queue()?.stats()))
}

/// `GET /_flint/events/undelivered?Marker=&MaxItems=`: records whose
/// destination is not a function of this server.
pub(crate) async fn undelivered(State(s): State<AppState>, q: Query) -> ApiResult {
    let queue = s.queue()?.clone();
    let marker = q.marker();
    let limit = q
        .get("MaxItems")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(100)
        .clamp(1, 1000);
    let (records, next) =
        tokio::task::spawn_blocking(move || queue.undelivered(marker.as_deref(), limit))
            .await
            .map_err(|e| ApiError::Service(e.to_string()))?
            .map_err(|e| ApiError::Service(e.to_string()))?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"Records": records, "NextMarker": next}),
    ))
}
