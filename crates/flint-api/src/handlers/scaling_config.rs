//! PutFunctionScalingConfig and GetFunctionScalingConfig
//! (`/2025-11-30/functions/{function}/function-scaling-config?Qualifier=`): Lambda Managed
//! Instances only, which flint does not run (see `flint_control`'s `scaling_config.rs`).

use crate::extract::{Function, JsonBody};
use crate::operations::PutFunctionScalingConfig;
use crate::query::Query;
use crate::state::{ApiResult, AppState, blocking};
use axum::extract::State;

pub(crate) async fn put_config(
    State(s): State<AppState>,
    q: Query,
    Function(fref): Function<140>,
    JsonBody(req): JsonBody<PutFunctionScalingConfig>,
) -> ApiResult {
    let qualifier = q.get("Qualifier").map(str::to_string);
    let never = blocking(&s, move |c| {
        c.function_scaling_config(
            &fref,
            qualifier.as_deref(),
            req.function_scaling_config.as_ref(),
        )
    })
    .await?;
    // No flint function has a scaling configuration: the call above always refuses.
    match never {}
}

pub(crate) async fn get_config(
    State(s): State<AppState>,
    q: Query,
    Function(fref): Function<140>,
) -> ApiResult {
    let qualifier = q.get("Qualifier").map(str::to_string);
    let never = blocking(&s, move |c| {
        c.function_scaling_config(&fref, qualifier.as_deref(), None)
    })
    .await?;
    // No flint function has a scaling configuration: the call above always refuses.
    match never {}
}
