//! Versions: PublishVersion and ListVersionsByFunction.

use crate::extract::{Function, JsonBody};
use crate::operations::PublishVersion;
use crate::query::{Page, Query};
use crate::response::json_response;
use crate::state::{ApiResult, AppState, blocking};
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::json;

pub(crate) async fn publish_version(
    State(s): State<AppState>,
    Function(fref): Function<140>,
    JsonBody(req): JsonBody<PublishVersion>,
) -> ApiResult {
    let config = blocking(&s, move |c| c.publish_version(&fref, req)).await?;
    Ok(json_response(StatusCode::CREATED, &config))
}

pub(crate) async fn list_versions(
    State(s): State<AppState>,
    q: Query,
    Function(fref): Function<256>,
) -> ApiResult {
    let Page { marker, max_items } = q.page()?;
    let page = blocking(&s, move |c| {
        c.list_versions(&fref, marker.as_deref(), max_items)
    })
    .await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"Versions": page.functions, "NextMarker": page.next_marker}),
    ))
}
