//! `POST /_flint/clock {"AdvanceSeconds": n}`: moves the test clock (only when the server
//! was started with `--test-clock`).

use crate::error::ApiResponseError;
use crate::extract::JsonBody;
use crate::operations::AdvanceClock;
use crate::response::json_response;
use crate::state::{ApiResult, AppState};
use axum::extract::State;
use axum::http::StatusCode;
use flint_types::ApiError;
use serde_json::json;

pub(crate) async fn advance_clock(
    State(s): State<AppState>,
    body: Result<JsonBody<AdvanceClock>, ApiResponseError>,
) -> ApiResult {
    // Without a test clock the path is no operation at all, whatever the body.
    let Some(clock) = &s.test_clock else {
        return Err(ApiError::UnknownOperation(
            "No Lambda operation matches POST /_flint/clock".into(),
        )
        .into());
    };
    let JsonBody(v) = body?;
    let secs = v["AdvanceSeconds"].as_f64().unwrap_or(0.0).max(0.0);
    let now = clock.advance((secs * 1000.0) as u64);
    if let Some(q) = &s.events {
        q.wake();
    }
    Ok(json_response(StatusCode::OK, &json!({ "NowMs": now })))
}
