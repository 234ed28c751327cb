//! Functions: CreateFunction, ListFunctions, GetFunction, GetFunctionConfiguration,
//! DeleteFunction, UpdateFunctionConfiguration and UpdateFunctionCode.

use crate::clock::unix_seconds;
use crate::extract::{Function, JsonBody, QualifiedFunction};
use crate::operations::{CreateFunction, UpdateFunctionCode, UpdateFunctionConfiguration};
use crate::provisioning;
use crate::query::{Page, Query};
use crate::response::json_response;
use crate::state::{ApiResult, AppState, blocking};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use flint_types::{ApiError, Qualifier};
use serde_json::json;

pub(crate) async fn create_function(
    State(s): State<AppState>,
    JsonBody(req): JsonBody<CreateFunction>,
) -> ApiResult {
    let config = blocking(&s, move |c| c.create_function(req)).await?;
    Ok(json_response(StatusCode::CREATED, &config))
}

/// `MasterRegion`: `ALL|[a-z]{2}(-gov)?-[a-z]+-\d{1}`.
fn is_master_region(region: &str) -> bool {
    let lower = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase());
    let digit = |n: &str| n.len() == 1 && n.bytes().all(|c| c.is_ascii_digit());
    let parts: Vec<&str> = region.split('-').collect();
    region == "ALL"
        || match parts.as_slice() {
            [a, b, n] | [a, "gov", b, n] => a.len() == 2 && lower(a) && lower(b) && digit(n),
            _ => false,
        }
}

pub(crate) async fn list_functions(State(s): State<AppState>, q: Query) -> ApiResult {
    let all = match q.get("FunctionVersion") {
        None => false,
        Some("ALL") => true,
        Some(other) => {
            return Err(ApiError::enum_value(other, "functionVersion", &["ALL"]).into());
        }
    };
    if let Some(region) = q.get("MasterRegion")
        && !is_master_region(region)
    {
        return Err(
            ApiError::pattern(region, "masterRegion", "ALL|[a-z]{2}(-gov)?-[a-z]+-\\d{1}").into(),
        );
    }
    let Page { marker, max_items } = q.page()?;
    let page = blocking(&s, move |c| {
        c.list_functions(marker.as_deref(), max_items, all)
    })
    .await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"Functions": page.functions, "NextMarker": page.next_marker}),
    ))
}

pub(crate) async fn get_function(
    State(s): State<AppState>,
    QualifiedFunction(fref): QualifiedFunction<256>,
) -> ApiResult {
    let resp = blocking(&s, move |c| c.get_function(&fref, unix_seconds())).await?;
    Ok(json_response(StatusCode::OK, &resp))
}

pub(crate) async fn get_function_configuration(
    State(s): State<AppState>,
    QualifiedFunction(fref): QualifiedFunction<256>,
) -> ApiResult {
    let config = blocking(&s, move |c| c.get_function_configuration(&fref)).await?;
    Ok(json_response(StatusCode::OK, &config))
}

pub(crate) async fn delete_function(
    State(s): State<AppState>,
    QualifiedFunction(fref): QualifiedFunction<256>,
) -> ApiResult {
    let whole_function = fref.qualifier.is_none().then(|| fref.name.clone());
    let version = match &fref.qualifier {
        Some(q @ Qualifier::Version(_)) => Some((fref.name.clone(), q.to_string())),
        _ => None,
    };
    blocking(&s, move |c| c.delete_function(&fref)).await?;
    if let Some((name, v)) = version {
        provisioning::unprovisioned(&s, &name, &v).await;
    }
    if let (Some(name), Ok(invoker)) = (whole_function, &s.invoker) {
        // Nothing of a deleted function keeps running.
        invoker.drop_function(&name).await;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn update_function_configuration(
    State(s): State<AppState>,
    Function(fref): Function<140>,
    JsonBody(req): JsonBody<UpdateFunctionConfiguration>,
) -> ApiResult {
    let config = blocking(&s, move |c| c.update_function_configuration(&fref, req)).await?;
    retire_latest(&s, &config.function_name).await;
    Ok(json_response(StatusCode::OK, &config))
}

pub(crate) async fn update_function_code(
    State(s): State<AppState>,
    Function(fref): Function<140>,
    JsonBody(req): JsonBody<UpdateFunctionCode>,
) -> ApiResult {
    let dry_run = req.dry_run;
    let config = blocking(&s, move |c| c.update_function_code(&fref, req)).await?;
    if !dry_run {
        retire_latest(&s, &config.function_name).await;
    }
    Ok(json_response(StatusCode::OK, &config))
}

/// `$LATEST` changed: its warm environments must not serve the new code.
async fn retire_latest(s: &AppState, function: &str) {
    if let Ok(invoker) = &s.invoker {
        invoker.retire(function, "$LATEST").await;
    }
}

#[cfg(test)]
mod tests {
    use super::is_master_region;

    #[test]
    fn master_regions_follow_lambdas_pattern() {
        for ok in ["ALL", "us-east-1", "eu-west-3", "us-gov-west-1"] {
            assert!(is_master_region(ok), "{ok}");
        }
        for bad in [
            "",
            "all",
            "us-east",
            "us-east-12",
            "USA-east-1",
            "u-east-1",
            "us--1",
            "us-east-x",
        ] {
            assert!(!is_master_region(bad), "{bad}");
        }
    }
}
