//! Reserved concurrency: PutFunctionConcurrency, GetFunctionConcurrency and
//! DeleteFunctionConcurrency.

use crate::extract::{Function, JsonBody};
use crate::operations::PutFunctionConcurrency;
use crate::provisioning;
use crate::response::json_response;
use crate::state::{ApiResult, AppState, blocking};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use flint_types::ApiError;
use serde_json::json;

pub(crate) async fn put_concurrency(
    State(s): State<AppState>,
    Function(fref): Function<140>,
    JsonBody(req): JsonBody<PutFunctionConcurrency>,
) -> ApiResult {
    let n = req.reserved_concurrent_executions.ok_or_else(|| {
        ApiError::InvalidParameterValue("ReservedConcurrentExecutions is required".into())
    })?;
    let name = fref.name.clone();
    let n = blocking(&s, move |c| c.put_function_concurrency(&fref, n)).await?;
    provisioning::reserved_changed(&s, &name, Some(n));
    Ok(json_response(
        StatusCode::OK,
        &json!({ "ReservedConcurrentExecutions": n }),
    ))
}

pub(crate) async fn get_concurrency(
    State(s): State<AppState>,
    Function(fref): Function<140>,
) -> ApiResult {
    let n = blocking(&s, move |c| c.get_function_concurrency(&fref)).await?;
    let body = match n {
        Some(n) => json!({ "ReservedConcurrentExecutions": n }),
        None => json!({}),
    };
    Ok(json_response(StatusCode::OK, &body))
}

pub(crate) async fn delete_concurrency(
    State(s): State<AppState>,
    Function(fref): Function<140>,
) -> ApiResult {
    let name = fref.name.clone();
    blocking(&s, move |c| c.delete_function_concurrency(&fref)).await?;
    provisioning::reserved_changed(&s, &name, None);
    Ok(StatusCode::NO_CONTENT.into_response())
}
