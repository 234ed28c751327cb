//! Asynchronous invocation in the API: accepting an `Event` invocation, the
//! EventInvokeConfig operations, and flint's own queue endpoints
//! (`/_flint/events`, and `/_flint/clock` when the server runs on the test clock).

use crate::body::{MAX_CONTROL_REQUEST, parse_json, read_limited};
use crate::error::ApiResponseError;
use crate::routes::{ApiResult, AppState, Query, blocking, function_ref, json_response};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use bytes::Bytes;
use flint_types::model::EventInvokeConfigRequest;
use flint_types::{ApiError, FunctionRef};
use serde_json::json;
use std::sync::Arc;

fn queue(s: &AppState) -> Result<&Arc<flint_events::EventQueue>, ApiResponseError> {
    s.events.as_ref().ok_or_else(|| {
        ApiError::Service("asynchronous invocation is not enabled on this server".into()).into()
    })
}

/// Accepts an `Event` invocation: durable first, then 202.
pub(crate) async fn enqueue(
    s: &AppState,
    fref: &FunctionRef,
    payload: Bytes,
) -> Result<String, ApiResponseError> {
    let queue = queue(s)?;
    let id = uuid::Uuid::new_v4().to_string();
    let payload = String::from_utf8(payload.to_vec()).map_err(|_| {
        ApiError::InvalidRequestContent(
            "Could not parse request body into json: Could not parse payload into json: invalid UTF-8"
                .into(),
        )
    })?;
    queue
        .enqueue(
            id.clone(),
            fref.name.clone(),
            fref.qualifier.as_ref().map(|q| q.to_string()),
            payload,
        )
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "could not queue an asynchronous event");
            ApiError::Service("An internal error occurred in flint. See the server log.".into())
        })?;
    Ok(id)
}

async fn write_config(
    s: AppState,
    function: String,
    q: Option<String>,
    headers: HeaderMap,
    body: Body,
    merge: bool,
) -> ApiResult {
    let fref = function_ref(&s, &function, 256, &Query::parse(q)?)?;
    let operation = if merge {
        "UpdateFunctionEventInvokeConfig"
    } else {
        "PutFunctionEventInvokeConfig"
    };
    let bytes = read_limited(&headers, body, MAX_CONTROL_REQUEST, operation).await?;
    let req: EventInvokeConfigRequest = parse_json(&bytes)?;
    let config = blocking(&s, move |c| c.write_event_invoke_config(&fref, req, merge)).await?;
    Ok(json_response(StatusCode::OK, &config))
}

pub(crate) async fn put_config(
    State(s): State<AppState>,
    Path(function): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    write_config(s, function, q, headers, body, false).await
}

pub(crate) async fn update_config(
    State(s): State<AppState>,
    Path(function): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    write_config(s, function, q, headers, body, true).await
}

pub(crate) async fn get_config(
    State(s): State<AppState>,
    Path(function): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let fref = function_ref(&s, &function, 256, &Query::parse(q)?)?;
    let config = blocking(&s, move |c| c.get_event_invoke_config(&fref)).await?;
    Ok(json_response(StatusCode::OK, &config))
}

pub(crate) async fn delete_config(
    State(s): State<AppState>,
    Path(function): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let fref = function_ref(&s, &function, 256, &Query::parse(q)?)?;
    blocking(&s, move |c| c.delete_event_invoke_config(&fref)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn list_configs(
    State(s): State<AppState>,
    Path(function): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let q = Query::parse(q)?;
    let fref = function_ref(&s, &function, 256, &Query(vec![]))?;
    let marker = q.get("Marker").map(str::to_string);
    let max = match q.get("MaxItems") {
        None => None,
        Some(v) => Some(
            v.parse::<i64>()
                .map_err(|_| ApiError::constraint(v, "maxItems", "Member must be a number"))?,
        ),
    };
    let page = blocking(&s, move |c| {
        c.list_event_invoke_configs(&fref, marker.as_deref(), max)
    })
    .await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"FunctionEventInvokeConfigs": page.configs, "NextMarker": page.next_marker}),
    ))
}

/// `GET /_flint/events`: queue depth, age of the oldest event, per function.
pub(crate) async fn stats(State(s): State<AppState>) -> ApiResult {
    Ok(json_response(StatusCode::OK, &queue(&s)?.stats()))
}

/// `GET /_flint/events/undelivered?Marker=&MaxItems=`: records whose
/// destination is not a function of this server.
pub(crate) async fn undelivered(State(s): State<AppState>, RawQuery(q): RawQuery) -> ApiResult {
    let q = Query::parse(q)?;
    let queue = queue(&s)?.clone();
    let marker = q.get("Marker").map(str::to_string);
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

/// `POST /_flint/clock {"AdvanceSeconds": n}`: moves the test clock (only
/// routed when the server was started with `--test-clock`).
pub(crate) async fn advance_clock(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let Some(clock) = &s.test_clock else {
        return Err(ApiError::UnknownOperation(
            "No Lambda operation matches POST /_flint/clock".into(),
        )
        .into());
    };
    let bytes = read_limited(&headers, body, 4096, "AdvanceClock").await?;
    let v: serde_json::Value = parse_json(&bytes)?;
    let secs = v["AdvanceSeconds"].as_f64().unwrap_or(0.0).max(0.0);
    let now = clock.advance((secs * 1000.0) as u64);
    if let Some(q) = &s.events {
        q.wake();
    }
    Ok(json_response(StatusCode::OK, &json!({ "NowMs": now })))
}
