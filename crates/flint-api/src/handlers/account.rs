//! GetAccountSettings (`GET /2016-08-19/account-settings`).

use crate::response::json_response;
use crate::state::{ApiResult, AppState, blocking};
use axum::extract::State;
use axum::http::StatusCode;

pub(crate) async fn account_settings(State(s): State<AppState>) -> ApiResult {
    let settings = blocking(&s, |c| c.account_settings()).await?;
    Ok(json_response(StatusCode::OK, &settings))
}
