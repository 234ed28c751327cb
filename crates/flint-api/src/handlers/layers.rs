//! Layers (`/2018-10-31/layers...`): PublishLayerVersion, ListLayers, GetLayerVersionByArn
//! (`GET /layers?find=LayerVersion&Arn=...`), ListLayerVersions, GetLayerVersion,
//! DeleteLayerVersion and the layer version's policy (Add/RemoveLayerVersionPermission,
//! GetLayerVersionPolicy). The routes are declared here and merged into the route table.

use crate::clock::unix_seconds;
use crate::extract::{JsonBody, Path};
use crate::operations::{AddLayerVersionPermission, PublishLayerVersion};
use crate::query::{Page, Query};
use crate::response::json_response;
use crate::state::{ApiResult, AppState, blocking};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use flint_control::LayerFilter;
use flint_types::layers::{LayerName, version_number};
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// The layer routes, merged into `routes::router`.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/2018-10-31/layers", get(list_layers))
        .route("/2018-10-31/layers/", get(list_layers))
        .route(
            "/2018-10-31/layers/{layer}/versions",
            post(publish_layer_version).get(list_layer_versions),
        )
        .route(
            "/2018-10-31/layers/{layer}/versions/{version}",
            get(get_layer_version).delete(delete_layer_version),
        )
        .route(
            "/2018-10-31/layers/{layer}/versions/{version}/policy",
            post(add_permission).get(get_policy),
        )
        .route(
            "/2018-10-31/layers/{layer}/versions/{version}/policy/{statement}",
            delete(remove_permission),
        )
}

#[derive(Deserialize)]
struct LayerSegment {
    layer: String,
}

#[derive(Deserialize)]
struct VersionSegments {
    layer: String,
    version: String,
}

#[derive(Deserialize)]
struct StatementSegments {
    layer: String,
    version: String,
    statement: String,
}

fn filter(q: &Query) -> LayerFilter {
    LayerFilter {
        runtime: q.get("CompatibleRuntime").map(str::to_owned),
        architecture: q.get("CompatibleArchitecture").map(str::to_owned),
    }
}

/// `{"<key>": items, "NextMarker"?}`: the marker only when there is a next page.
fn page(key: &str, items: Value, next_marker: Option<String>) -> Value {
    let mut out = Map::new();
    out.insert(key.into(), items);
    if let Some(m) = next_marker {
        out.insert("NextMarker".into(), m.into());
    }
    Value::Object(out)
}

async fn publish_layer_version(
    State(s): State<AppState>,
    Path(LayerSegment { layer }): Path<LayerSegment>,
    JsonBody(req): JsonBody<PublishLayerVersion>,
) -> ApiResult {
    let layer = LayerName::parse(&layer)?;
    let now = unix_seconds();
    let out = blocking(&s, move |c| c.publish_layer_version(&layer, req, now)).await?;
    Ok(json_response(StatusCode::CREATED, &out))
}

/// ListLayers, or GetLayerVersionByArn when `find=LayerVersion`.
async fn list_layers(State(s): State<AppState>, q: Query) -> ApiResult {
    if q.get("find") == Some("LayerVersion") {
        let arn = q.get("Arn").unwrap_or_default().to_string();
        let now = unix_seconds();
        let out = blocking(&s, move |c| c.get_layer_version_by_arn(&arn, now)).await?;
        return Ok(json_response(StatusCode::OK, &out));
    }
    let filter = filter(&q);
    let Page { marker, max_items } = q.page()?;
    let list = blocking(&s, move |c| {
        c.list_layers(filter, marker.as_deref(), max_items)
    })
    .await?;
    Ok(json_response(
        StatusCode::OK,
        &page("Layers", json!(list.layers), list.next_marker),
    ))
}

async fn list_layer_versions(
    State(s): State<AppState>,
    Path(LayerSegment { layer }): Path<LayerSegment>,
    q: Query,
) -> ApiResult {
    let layer = LayerName::parse(&layer)?;
    let filter = filter(&q);
    let Page { marker, max_items } = q.page()?;
    let list = blocking(&s, move |c| {
        c.list_layer_versions(&layer, filter, marker.as_deref(), max_items)
    })
    .await?;
    Ok(json_response(
        StatusCode::OK,
        &page("LayerVersions", json!(list.versions), list.next_marker),
    ))
}

fn target(layer: &str, version: &str) -> Result<(LayerName, u64), crate::error::ApiResponseError> {
    Ok((LayerName::parse(layer)?, version_number(version)?))
}

async fn get_layer_version(
    State(s): State<AppState>,
    Path(VersionSegments { layer, version }): Path<VersionSegments>,
) -> ApiResult {
    let (layer, version) = target(&layer, &version)?;
    let now = unix_seconds();
    let out = blocking(&s, move |c| c.get_layer_version(&layer, version, now)).await?;
    Ok(json_response(StatusCode::OK, &out))
}

async fn delete_layer_version(
    State(s): State<AppState>,
    Path(VersionSegments { layer, version }): Path<VersionSegments>,
) -> ApiResult {
    let (layer, version) = target(&layer, &version)?;
    blocking(&s, move |c| c.delete_layer_version(&layer, version)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn add_permission(
    State(s): State<AppState>,
    Path(VersionSegments { layer, version }): Path<VersionSegments>,
    q: Query,
    JsonBody(req): JsonBody<AddLayerVersionPermission>,
) -> ApiResult {
    let (layer, version) = target(&layer, &version)?;
    let revision = q.get("RevisionId").map(str::to_owned);
    let (statement, revision) = blocking(&s, move |c| {
        c.add_layer_version_permission(&layer, version, req, revision.as_deref())
    })
    .await?;
    Ok(json_response(
        StatusCode::CREATED,
        &json!({ "Statement": statement, "RevisionId": revision }),
    ))
}

async fn get_policy(
    State(s): State<AppState>,
    Path(VersionSegments { layer, version }): Path<VersionSegments>,
) -> ApiResult {
    let (layer, version) = target(&layer, &version)?;
    let (policy, revision) =
        blocking(&s, move |c| c.get_layer_version_policy(&layer, version)).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "Policy": policy, "RevisionId": revision }),
    ))
}

async fn remove_permission(
    State(s): State<AppState>,
    Path(StatementSegments {
        layer,
        version,
        statement,
    }): Path<StatementSegments>,
    q: Query,
) -> ApiResult {
    let (layer, version) = target(&layer, &version)?;
    let revision = q.get("RevisionId").map(str::to_owned);
    blocking(&s, move |c| {
        c.remove_layer_version_permission(&layer, version, &statement, revision.as_deref())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
