//! Provisioned concurrency routes
//! (`/2019-09-30/functions/{F}/provisioned-concurrency`), the hand-over of
//! concurrency settings from the control plane to the invoker, and flint's
//! own concurrency view (`GET /_flint/concurrency`, behind `flint concurrency`).

use crate::body::{MAX_CONTROL_REQUEST, parse_json, read_limited};
use crate::error::ApiResponseError;
use crate::routes::{ApiResult, AppState, Query, blocking, function_ref, json_response};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use flint_control::{ControlPlane, ProvisionedEntry};
use flint_invoke::{Invoker, ProvisionSpec, ProvisionedStatus};
use flint_types::model::{ProvisionedConcurrencyConfig, PutProvisionedConcurrencyConfigRequest};
use flint_types::{ApiError, FunctionRef, Qualifier};
use serde_json::json;

/// Resolves a stored configuration to the version it keeps ready.
fn spec_for(
    control: &ControlPlane,
    entry: &ProvisionedEntry,
) -> flint_control::Result<ProvisionSpec> {
    let fref = FunctionRef {
        name: entry.function.clone(),
        qualifier: Some(Qualifier::parse(&entry.qualifier)?),
    };
    let resolved = control.resolve(&fref)?;
    let code_path = control
        .code_path(&resolved.code_blob)
        .ok_or_else(|| ApiError::Service("the function's code is not on local disk".into()))?;
    Ok(ProvisionSpec {
        config: resolved.config,
        code_blob: resolved.code_blob,
        code_path,
        arn: entry.arn.clone(),
        requested: entry.requested,
    })
}

/// Hands every stored reserved and provisioned concurrency setting to the
/// invoker (at start-up: provisioned environments are re-created from the
/// stored configuration). Returns how many configurations were provisioned.
pub fn restore_concurrency(
    control: &ControlPlane,
    invoker: &Invoker,
) -> flint_control::Result<usize> {
    for (name, reserved) in control.all_reserved_concurrency()? {
        invoker.set_reserved_concurrency(&name, u32::try_from(reserved).ok());
    }
    let entries = control.all_provisioned_concurrency()?;
    let n = entries.len();
    for entry in entries {
        match spec_for(control, &entry) {
            Ok(spec) => invoker.provision(&entry.qualifier, spec),
            Err(e) => {
                tracing::warn!(function = entry.function, qualifier = entry.qualifier, error = %e, "cannot restore provisioned concurrency")
            }
        }
    }
    Ok(n)
}

/// Re-provisions one alias or version from the store if it has a
/// configuration (its alias moved to another version, say).
pub(crate) async fn reprovision(s: &AppState, function: &str, qualifier: &str) {
    let Ok(invoker) = &s.invoker else { return };
    let fref = FunctionRef {
        name: function.to_string(),
        qualifier: Qualifier::parse(qualifier).ok(),
    };
    let found = blocking(s, move |c| {
        let entry = c.get_provisioned_concurrency(&fref)?;
        spec_for(c, &entry).map(|spec| (entry.qualifier, spec))
    })
    .await;
    if let Ok((qualifier, spec)) = found {
        invoker.provision(&qualifier, spec);
    }
}

/// Tells the invoker a function's reserved concurrency changed.
pub(crate) fn reserved_changed(s: &AppState, function: &str, reserved: Option<i64>) {
    if let Ok(invoker) = &s.invoker {
        invoker.set_reserved_concurrency(function, reserved.and_then(|n| u32::try_from(n).ok()));
    }
}

/// Drops the provisioned environments of one version or alias.
pub(crate) async fn unprovisioned(s: &AppState, function: &str, qualifier: &str) {
    if let Ok(invoker) = &s.invoker {
        invoker.unprovision(function, qualifier).await;
    }
}

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
    Path(function): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let fref = function_ref(&s, &function, 140, &Query::parse(q)?)?;
    let bytes = read_limited(
        &headers,
        body,
        MAX_CONTROL_REQUEST,
        "PutProvisionedConcurrencyConfig",
    )
    .await?;
    let req: PutProvisionedConcurrencyConfigRequest = parse_json(&bytes)?;
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

/// GET serves both GetProvisionedConcurrencyConfig (`?Qualifier=`) and
/// ListProvisionedConcurrencyConfigs (`?List=ALL`).
pub(crate) async fn get_provisioned(
    State(s): State<AppState>,
    Path(function): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let q = Query::parse(q)?;
    if let Some(list) = q.get("List") {
        if list != "ALL" {
            return Err(ApiError::enum_value(list, "list", &["ALL"]).into());
        }
        let fref = function_ref(&s, &function, 140, &Query(vec![]))?;
        let marker = q.get("Marker").map(str::to_string);
        let max = match q.get("MaxItems") {
            None => None,
            Some(v) => Some(v.parse::<i64>().map_err(|_| {
                ApiResponseError::from(ApiError::constraint(
                    v,
                    "maxItems",
                    "Member must be a number",
                ))
            })?),
        };
        let page = blocking(&s, move |c| {
            c.list_provisioned_concurrency(&fref, marker.as_deref(), max)
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
    let fref = function_ref(&s, &function, 140, &q)?;
    let entry = blocking(&s, move |c| c.get_provisioned_concurrency(&fref)).await?;
    let status = live_status(&s, &entry);
    Ok(json_response(
        StatusCode::OK,
        &render(&entry, status, false),
    ))
}

pub(crate) async fn delete_provisioned(
    State(s): State<AppState>,
    Path(function): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let fref = function_ref(&s, &function, 140, &Query::parse(q)?)?;
    let name = fref.name.clone();
    let qualifier = fref.qualifier.as_ref().map(|q| q.to_string());
    blocking(&s, move |c| c.delete_provisioned_concurrency(&fref)).await?;
    if let Some(q) = qualifier {
        unprovisioned(&s, &name, &q).await;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /_flint/concurrency`: in-flight invocations, reservations,
/// provisioned environments and throttles, per function and for the account.
pub(crate) async fn concurrency_view(State(s): State<AppState>) -> ApiResult {
    let invoker = s.host_invoker()?;
    Ok(json_response(StatusCode::OK, &invoker.concurrency()))
}

/// `GET /_flint/environments`: warm, pre-spawned and pre-spawning environments.
pub(crate) async fn environments_view(State(s): State<AppState>) -> ApiResult {
    let invoker = s.host_invoker()?;
    Ok(json_response(StatusCode::OK, &invoker.environments()))
}
