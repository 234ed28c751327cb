//! Tags: ListTags, TagResource and UntagResource (`/2017-03-31/tags/{resource}`).

use crate::extract::{JsonBody, Path};
use crate::operations::TagResource;
use crate::query::Query;
use crate::response::json_response;
use crate::state::{ApiResult, AppState, blocking};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use flint_types::ApiError;
use serde_json::json;

pub(crate) async fn list_tags(
    State(s): State<AppState>,
    Path(resource): Path<String>,
) -> ApiResult {
    let tags = blocking(&s, move |c| c.list_tags(&resource)).await?;
    Ok(json_response(StatusCode::OK, &json!({ "Tags": tags })))
}

pub(crate) async fn tag_resource(
    State(s): State<AppState>,
    Path(resource): Path<String>,
    JsonBody(req): JsonBody<TagResource>,
) -> ApiResult {
    let tags = req
        .tags
        .ok_or_else(|| ApiError::InvalidParameterValue("Tags is required".into()))?;
    blocking(&s, move |c| c.tag_resource(&resource, tags)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn untag_resource(
    State(s): State<AppState>,
    Path(resource): Path<String>,
    q: Query,
) -> ApiResult {
    let keys = q.all("tagKeys");
    if keys.is_empty() {
        // The model requires tagKeys; no key at all is a null list to AWS
        // (recorded: TestLambdaTags::test_tag_exceptions).
        return Err(ApiError::Validation(
            "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null".into(),
        )
        .into());
    }
    blocking(&s, move |c| c.untag_resource(&resource, &keys)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
