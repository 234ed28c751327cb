//! Asynchronous invocation settings (`/2019-09-25/functions/{F}/event-invoke-config`):
//! Put-, Update-, Get-, Delete- and ListFunctionEventInvokeConfig(s).

use crate::extract::{Function, JsonBody, QualifiedFunction};
use crate::operations::{PutFunctionEventInvokeConfig, UpdateFunctionEventInvokeConfig};
use crate::query::{Page, Query};
use crate::response::json_response;
use crate::state::{ApiResult, AppState, blocking};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use flint_types::FunctionRef;
use flint_types::model::EventInvokeConfigRequest;
use serde_json::json;

/// Put replaces the settings, Update merges into them.
async fn write_config(
    s: AppState,
    fref: FunctionRef,
    req: EventInvokeConfigRequest,
    merge: bool,
) -> ApiResult {
    let config = blocking(&s, move |c| c.write_event_invoke_config(&fref, req, merge)).await?;
    Ok(json_response(StatusCode::OK, &config))
}

pub(crate) async fn put_config(
    State(s): State<AppState>,
    QualifiedFunction(fref): QualifiedFunction<256>,
    JsonBody(req): JsonBody<PutFunctionEventInvokeConfig>,
) -> ApiResult {
    write_config(s, fref, req, false).await
}

pub(crate) async fn update_config(
    State(s): State<AppState>,
    QualifiedFunction(fref): QualifiedFunction<256>,
    JsonBody(req): JsonBody<UpdateFunctionEventInvokeConfig>,
) -> ApiResult {
    write_config(s, fref, req, true).await
}

pub(crate) async fn get_config(
    State(s): State<AppState>,
    QualifiedFunction(fref): QualifiedFunction<256>,
) -> ApiResult {
    let config = blocking(&s, move |c| c.get_event_invoke_config(&fref)).await?;
    Ok(json_response(StatusCode::OK, &config))
}

pub(crate) async fn delete_config(
    State(s): State<AppState>,
    QualifiedFunction(fref): QualifiedFunction<256>,
) -> ApiResult {
    blocking(&s, move |c| c.delete_event_invoke_config(&fref)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn list_configs(
    State(s): State<AppState>,
    q: Query,
    Function(fref): Function<256>,
) -> ApiResult {
    let Page { marker, max_items } = q.page()?;
    let page = blocking(&s, move |c| {
        c.list_event_invoke_configs(&fref, marker.as_deref(), max_items)
    })
    .await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"FunctionEventInvokeConfigs": page.configs, "NextMarker": page.next_marker}),
    ))
}
