//! flint's own views of the invoker, behind `flint concurrency` and `flint environments`.

use crate::response::json_response;
use crate::state::{ApiResult, AppState};
use axum::extract::State;
use axum::http::StatusCode;

/// `GET /_flint/concurrency`: in-flight invocations, reservations,
/// provisioned environments and throttles, per function and for the account.
pub(crate) async fn concurrency_view(State(s): State<AppState>) -> ApiResult {
    Ok(json_response(
        StatusCode::OK,
        &s.host_invoker()?.concurrency(),
    ))
}

/// `GET /_flint/environments`: warm, pre-spawned and pre-spawning environments.
pub(crate) async fn environments_view(State(s): State<AppState>) -> ApiResult {
    Ok(json_response(
        StatusCode::OK,
        &s.host_invoker()?.environments(),
    ))
}
