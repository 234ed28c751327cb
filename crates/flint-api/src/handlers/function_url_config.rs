//! Function URL configurations (`/2021-10-31/functions/{F}/url(s)`): Create-, Update-, Get-,
//! Delete- and ListFunctionUrlConfig(s). The URLs themselves are served by the URL listener.

use crate::extract::{Function, JsonBody, QualifiedFunction};
use crate::operations::{CreateFunctionUrlConfig, UpdateFunctionUrlConfig};
use crate::query::Query;
use crate::response::json_response;
use crate::state::{ApiResult, AppState, blocking};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use flint_types::ApiError;
use serde_json::json;

pub(crate) async fn create(
    State(s): State<AppState>,
    QualifiedFunction(fref): QualifiedFunction<140>,
    JsonBody(req): JsonBody<CreateFunctionUrlConfig>,
) -> ApiResult {
    let config = blocking(&s, move |c| c.create_function_url(&fref, req)).await?;
    Ok(json_response(StatusCode::CREATED, &config))
}

pub(crate) async fn update(
    State(s): State<AppState>,
    QualifiedFunction(fref): QualifiedFunction<140>,
    JsonBody(req): JsonBody<UpdateFunctionUrlConfig>,
) -> ApiResult {
    let config = blocking(&s, move |c| c.update_function_url(&fref, req)).await?;
    Ok(json_response(StatusCode::OK, &config))
}

pub(crate) async fn get(
    State(s): State<AppState>,
    QualifiedFunction(fref): QualifiedFunction<140>,
) -> ApiResult {
    let config = blocking(&s, move |c| c.get_function_url(&fref)).await?;
    Ok(json_response(StatusCode::OK, &config))
}

pub(crate) async fn delete(
    State(s): State<AppState>,
    QualifiedFunction(fref): QualifiedFunction<140>,
) -> ApiResult {
    blocking(&s, move |c| c.delete_function_url(&fref)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn list(
    State(s): State<AppState>,
    q: Query,
    Function(fref): Function<140>,
) -> ApiResult {
    let marker = q.marker();
    // This operation answers a malformed MaxItems as InvalidParameterValue.
    let max_items = match q.get("MaxItems") {
        Some(v) => Some(
            v.parse::<i64>()
                .map_err(|_| ApiError::InvalidParameterValue(format!("Invalid MaxItems: {v}")))?,
        ),
        None => None,
    };
    let page = blocking(&s, move |c| {
        c.list_function_urls(&fref, marker.as_deref(), max_items)
    })
    .await?;
    let mut body = json!({ "FunctionUrlConfigs": page.configs });
    if let Some(m) = page.next_marker {
        body["NextMarker"] = json!(m);
    }
    Ok(json_response(StatusCode::OK, &body))
}
