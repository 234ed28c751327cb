//! Recursive loop detection settings: PutFunctionRecursionConfig and
//! GetFunctionRecursionConfig (`/2024-08-31/functions/{function}/recursion-config`). What
//! they decide is enforced by the invocation dispatch (`recursion_guard.rs`).

use crate::extract::{Function, JsonBody};
use crate::operations::PutFunctionRecursionConfig;
use crate::response::json_response;
use crate::state::{ApiResult, AppState, blocking};
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::json;

pub(crate) async fn put_recursion_config(
    State(s): State<AppState>,
    Function(fref): Function<140>,
    JsonBody(req): JsonBody<PutFunctionRecursionConfig>,
) -> ApiResult {
    let value = blocking(&s, move |c| {
        c.put_function_recursion_config(&fref, req.recursive_loop.as_deref())
    })
    .await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "RecursiveLoop": value }),
    ))
}

pub(crate) async fn get_recursion_config(
    State(s): State<AppState>,
    Function(fref): Function<140>,
) -> ApiResult {
    let value = blocking(&s, move |c| c.get_function_recursion_config(&fref)).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "RecursiveLoop": value }),
    ))
}
