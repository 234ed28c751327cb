//! Resource-based policy routes: AddPermission (`POST …/policy`), GetPolicy (`GET …/policy`)
//! and RemovePermission (`DELETE …/policy/{StatementId}`).

use crate::body::{MAX_CONTROL_REQUEST, parse_json, read_limited};
use crate::routes::{ApiResult, AppState, Query, blocking, function_ref, json_response};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use flint_types::policy::AddPermissionRequest;
use serde_json::json;

pub(crate) async fn add_permission(
    State(s): State<AppState>,
    Path(function): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let fref = function_ref(&s, &function, 256, &Query::parse(q)?)?;
    let bytes = read_limited(&headers, body, MAX_CONTROL_REQUEST, "AddPermission").await?;
    let req: AddPermissionRequest = parse_json(&bytes)?;
    let statement = blocking(&s, move |c| c.add_permission(&fref, req)).await?;
    Ok(json_response(
        StatusCode::CREATED,
        &json!({ "Statement": statement }),
    ))
}

pub(crate) async fn get_policy(
    State(s): State<AppState>,
    Path(function): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let fref = function_ref(&s, &function, 256, &Query::parse(q)?)?;
    let (policy, revision) = blocking(&s, move |c| c.get_policy(&fref)).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "Policy": policy, "RevisionId": revision }),
    ))
}

pub(crate) async fn remove_permission(
    State(s): State<AppState>,
    Path((function, statement_id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let q = Query::parse(q)?;
    let fref = function_ref(&s, &function, 256, &q)?;
    let revision = q.get("RevisionId").map(str::to_owned);
    blocking(&s, move |c| {
        c.remove_permission(&fref, &statement_id, revision.as_deref())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
