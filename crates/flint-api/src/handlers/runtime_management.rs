//! PutRuntimeManagementConfig and GetRuntimeManagementConfig
//! (`/2021-07-20/functions/{function}/runtime-management-config?Qualifier=`).

use crate::extract::{JsonBody, QualifiedFunction};
use crate::operations::PutRuntimeManagementConfig;
use crate::response::json_response;
use crate::state::{ApiResult, AppState, blocking};
use axum::extract::State;
use axum::http::StatusCode;
use flint_control::RuntimeManagement;
use serde_json::{Value, json};

fn body(r: &RuntimeManagement) -> Value {
    let mut body = json!({
        "UpdateRuntimeOn": r.update_runtime_on,
        "FunctionArn": r.function_arn,
    });
    if let Some(arn) = &r.runtime_version_arn {
        body["RuntimeVersionArn"] = json!(arn);
    }
    body
}

pub(crate) async fn put_config(
    State(s): State<AppState>,
    QualifiedFunction(fref): QualifiedFunction<256>,
    JsonBody(req): JsonBody<PutRuntimeManagementConfig>,
) -> ApiResult {
    let r = blocking(&s, move |c| {
        c.put_runtime_management_config(
            &fref,
            req.update_runtime_on.as_deref(),
            req.runtime_version_arn.as_deref(),
        )
    })
    .await?;
    Ok(json_response(StatusCode::OK, &body(&r)))
}

pub(crate) async fn get_config(
    State(s): State<AppState>,
    QualifiedFunction(fref): QualifiedFunction<256>,
) -> ApiResult {
    let r = blocking(&s, move |c| c.get_runtime_management_config(&fref)).await?;
    Ok(json_response(StatusCode::OK, &body(&r)))
}
