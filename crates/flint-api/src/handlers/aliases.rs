//! Aliases: CreateAlias, ListAliases, GetAlias, UpdateAlias and DeleteAlias.

use crate::extract::{Function, JsonBody, Path};
use crate::operations::{CreateAlias, UpdateAlias};
use crate::provisioning;
use crate::query::{Page, Query};
use crate::response::json_response;
use crate::state::{ApiResult, AppState, blocking};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use flint_types::ApiError;
use serde::Deserialize;
use serde_json::json;

/// The `{alias}` path segment.
#[derive(Deserialize)]
pub(crate) struct AliasSegment {
    alias: String,
}

pub(crate) async fn create_alias(
    State(s): State<AppState>,
    Function(fref): Function<140>,
    JsonBody(req): JsonBody<CreateAlias>,
) -> ApiResult {
    let alias = blocking(&s, move |c| c.create_alias(&fref, req)).await?;
    Ok(json_response(StatusCode::CREATED, &alias))
}

pub(crate) async fn list_aliases(
    State(s): State<AppState>,
    q: Query,
    Function(fref): Function<140>,
) -> ApiResult {
    let version = q.get("FunctionVersion").map(str::to_string);
    if let Some(v) = &version {
        let numeric = !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
        if !(numeric || v == "$LATEST" || v == "$LATEST.PUBLISHED") {
            return Err(ApiError::pattern(
                v,
                "functionVersion",
                "(\\$LATEST(\\.PUBLISHED)?|[0-9]+)",
            )
            .into());
        }
    }
    let Page { marker, max_items } = q.page()?;
    let page = blocking(&s, move |c| {
        c.list_aliases(&fref, version.as_deref(), marker.as_deref(), max_items)
    })
    .await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"Aliases": page.aliases, "NextMarker": page.next_marker}),
    ))
}

pub(crate) async fn get_alias(
    State(s): State<AppState>,
    Function(fref): Function<140>,
    Path(AliasSegment { alias }): Path<AliasSegment>,
) -> ApiResult {
    let alias = blocking(&s, move |c| c.get_alias(&fref, &alias)).await?;
    Ok(json_response(StatusCode::OK, &alias))
}

pub(crate) async fn update_alias(
    State(s): State<AppState>,
    Function(fref): Function<140>,
    Path(AliasSegment { alias }): Path<AliasSegment>,
    JsonBody(req): JsonBody<UpdateAlias>,
) -> ApiResult {
    let name = fref.name.clone();
    let alias = blocking(&s, move |c| c.update_alias(&fref, &alias, req)).await?;
    // Its provisioned environments follow the alias to its new version.
    provisioning::reprovision(&s, &name, &alias.name).await;
    Ok(json_response(StatusCode::OK, &alias))
}

pub(crate) async fn delete_alias(
    State(s): State<AppState>,
    Function(fref): Function<140>,
    Path(AliasSegment { alias }): Path<AliasSegment>,
) -> ApiResult {
    let name = fref.name.clone();
    let alias_name = alias.clone();
    blocking(&s, move |c| c.delete_alias(&fref, &alias)).await?;
    provisioning::unprovisioned(&s, &name, &alias_name).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}
