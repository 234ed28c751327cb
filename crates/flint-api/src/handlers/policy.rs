//! Resource-based policy: AddPermission (`POST …/policy`), GetPolicy (`GET …/policy`)
//! and RemovePermission (`DELETE …/policy/{StatementId}`).

use crate::extract::{JsonBody, Path, QualifiedFunction};
use crate::operations::AddPermission;
use crate::query::Query;
use crate::response::json_response;
use crate::state::{ApiResult, AppState, blocking};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;

/// The `{statement}` path segment.
#[derive(Deserialize)]
pub(crate) struct StatementSegment {
    statement: String,
}

pub(crate) async fn add_permission(
    State(s): State<AppState>,
    QualifiedFunction(fref): QualifiedFunction<256>,
    JsonBody(req): JsonBody<AddPermission>,
) -> ApiResult {
    let statement = blocking(&s, move |c| c.add_permission(&fref, req)).await?;
    Ok(json_response(
        StatusCode::CREATED,
        &json!({ "Statement": statement }),
    ))
}

pub(crate) async fn get_policy(
    State(s): State<AppState>,
    QualifiedFunction(fref): QualifiedFunction<256>,
) -> ApiResult {
    let (policy, revision) = blocking(&s, move |c| c.get_policy(&fref)).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "Policy": policy, "RevisionId": revision }),
    ))
}

pub(crate) async fn remove_permission(
    State(s): State<AppState>,
    Path(StatementSegment { statement }): Path<StatementSegment>,
    q: Query,
    QualifiedFunction(fref): QualifiedFunction<256>,
) -> ApiResult {
    let revision = q.get("RevisionId").map(str::to_owned);
    blocking(&s, move |c| {
        c.remove_permission(&fref, &statement, revision.as_deref())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
