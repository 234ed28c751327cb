//! Provisioned concurrency (`/2019-09-30/functions/{F}/provisioned-concurrency`):
//! PutProvisionedConcurrencyConfig, GetProvisionedConcurrencyConfig,
//! ListProvisionedConcurrencyConfigs and DeleteProvisionedConcurrencyConfig.

use crate::error::ApiResponseError;
use crate::extract::{JsonBody, QualifiedFunction, function_ref, function_segment};
use crate::operations::PutProvisionedConcurrencyConfig;
use crate::provisioning::{spec_for, unprovisioned};
use crate::query::{Page, Query};
use crate::response::json_response;
use crate::state::{ApiResult, AppState, blocking};
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use flint_control::ProvisionedEntry;
use flint_invoke::ProvisionedStatus;
use flint_types::model::ProvisionedConcurrencyConfig;
use flint_types::{ApiError, FunctionRef};
use serde_json::json;

fn live_status(s: &AppState, entry: &ProvisionedEntry) -> ProvisionedStatus {
    match s.host_invoker() {
        Ok(invoker) => invoker
            .provisioned_status(&entry.function, &entry.qualifier)
            .unwrap_or(ProvisionedStatus {
                requested: entry.requested,
                allocated: 0,
                available: 0,
                status: "IN_PROGRESS",
                status_reason: None,
            }),
        Err(why) => ProvisionedStatus {
            requested: entry.requested,
            allocated: 0,
            available: 0,
            status: "FAILED",
            status_reason: Some(why.to_string()),
        },
    }
}

fn render(
    entry: &ProvisionedEntry,
    status: ProvisionedStatus,
    with_arn: bool,
) -> ProvisionedConcurrencyConfig {
    ProvisionedConcurrencyConfig {
        function_arn: with_arn.then(|| entry.arn.clone()),
        requested_provisioned_concurrent_executions: entry.requested,
        available_provisioned_concurrent_executions: status.available,
        allocated_provisioned_concurrent_executions: status.allocated,
        status: status.status.to_string(),
        status_reason: status.status_reason,
        last_modified: entry.last_modified.clone(),
    }
}

pub(crate) async fn put_provisioned(
    State(s): State<AppState>,
    QualifiedFunction(fref): QualifiedFunction<140>,
    JsonBody(req): JsonBody<PutProvisionedConcurrencyConfig>,
) -> ApiResult {
    let n = req.provisioned_concurrent_executions.ok_or_else(|| {
        ApiError::Validation(
            "1 validation error detected: Value null at 'provisionedConcurrentExecutions' failed to satisfy constraint: Member must not be null".into(),
        )
    })?;
    let (entry, spec) = blocking(&s, move |c| {
        let entry = c.put_provisioned_concurrency(&fref, n)?;
        let spec = spec_for(c, &entry)?;
        Ok((entry, spec))
    })
    .await?;
    if let Ok(invoker) = &s.invoker {
        invoker.provision(&entry.qualifier, spec);
    }
    // Lambda answers a Put while it allocates: IN_PROGRESS (READY only when
    // nothing is left to start, e.g. the same count again).
    let mut status = live_status(&s, &entry);
    if status.allocated < entry.requested {
        status.status = "IN_PROGRESS";
        status.status_reason = None;
    }
    Ok(json_response(
        StatusCode::ACCEPTED,
        &render(&entry, status, false),
    ))
}

/// The two operations `GET …/provisioned-concurrency` serves, told apart by the query:
/// `?List=ALL` lists the function's configurations, otherwise `?Qualifier=` names one.
pub(crate) enum ProvisionedGet {
    List { fref: FunctionRef, page: Page },
    One(FunctionRef),
}

impl FromRequestParts<AppState> for ProvisionedGet {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let raw = function_segment(parts, state).await?;
        let get = || -> Result<Self, ApiResponseError> {
            let q = Query::parse(parts.uri.query())?;
            let Some(list) = q.get("List") else {
                return Ok(Self::One(function_ref(
                    state,
                    &raw,
                    140,
                    q.get("Qualifier"),
                )?));
            };
            if list != "ALL" {
                return Err(ApiError::enum_value(list, "list", &["ALL"]).into());
            }
            // A listing is of the whole function: a `Qualifier` is not read.
            let fref = function_ref(state, &raw, 140, None)?;
            Ok(Self::List {
                fref,
                page: q.page()?,
            })
        };
        get().map_err(IntoResponse::into_response)
    }
}

pub(crate) async fn get_provisioned(State(s): State<AppState>, get: ProvisionedGet) -> ApiResult {
    let fref = match get {
        ProvisionedGet::One(fref) => fref,
        ProvisionedGet::List {
            fref,
            page: Page { marker, max_items },
        } => {
            let page = blocking(&s, move |c| {
                c.list_provisioned_concurrency(&fref, marker.as_deref(), max_items)
            })
            .await?;
            let configs: Vec<ProvisionedConcurrencyConfig> = page
                .entries
                .iter()
                .map(|e| render(e, live_status(&s, e), true))
                .collect();
            let mut body = json!({ "ProvisionedConcurrencyConfigs": configs });
            if let Some(m) = page.next_marker {
                body["NextMarker"] = json!(m);
            }
            return Ok(json_response(StatusCode::OK, &body));
        }
    };
    let entry = blocking(&s, move |c| c.get_provisioned_concurrency(&fref)).await?;
    let status = live_status(&s, &entry);
    Ok(json_response(
        StatusCode::OK,
        &render(&entry, status, false),
    ))
}

pub(crate) async fn delete_provisioned(
    State(s): State<AppState>,
    QualifiedFunction(fref): QualifiedFunction<140>,
) -> ApiResult {
    let name = fref.name.clone();
    let qualifier = fref.qualifier.as_ref().map(|q| q.to_string());
    blocking(&s, move |c| c.delete_provisioned_concurrency(&fref)).await?;
    if let Some(q) = qualifier {
        unprovisioned(&s, &name, &q).await;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::{Page, ProvisionedGet};
    use crate::test_support::test_state;
    use axum::http::{Request, StatusCode};
    use axum::routing::get;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn what(get: ProvisionedGet) -> String {
        match get {
            ProvisionedGet::List {
                fref,
                page: Page { marker, max_items },
            } => format!("list {} {marker:?} {max_items:?}", fref.name),
            ProvisionedGet::One(fref) => format!(
                "one {} {}",
                fref.name,
                fref.qualifier.map(|q| q.to_string()).unwrap_or_default()
            ),
        }
    }

    async fn answer(query: &str) -> (StatusCode, String) {
        let test = test_state();
        let app = axum::Router::new()
            .route("/p/{function}", get(what))
            .with_state(test.state.clone());
        let req = Request::get(format!("/p/f{query}"))
            .body(axum::body::Body::empty())
            .unwrap();
        let resp = app.oneshot(req).await.unwrap();
        let status = resp.status();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn the_query_tells_a_listing_from_one_configuration() {
        assert_eq!(answer("?Qualifier=live").await.1, "one f live");
        assert_eq!(
            answer("?List=ALL&Marker=m&MaxItems=5").await.1,
            "list f Some(\"m\") Some(5)"
        );
        // A listing is of the whole function: its qualifier is not read (nor checked).
        assert_eq!(
            answer("?List=ALL&Qualifier=%21").await.1,
            "list f None None"
        );
        let (status, body) = answer("?List=SOME").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            body.contains("Member must satisfy enum value set: [ALL]"),
            "{body}"
        );
        let (status, body) = answer("?List=ALL&MaxItems=x").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("Member must be a number"), "{body}");
    }
}
