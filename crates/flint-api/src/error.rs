//! Rendering of [`ApiError`] as an HTTP response.

use crate::dispatch::DispatchError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flint_control::ControlError;
use flint_types::ApiError;

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiResponseError(pub ApiError);

impl From<ApiError> for ApiResponseError {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl From<ControlError> for ApiResponseError {
    fn from(e: ControlError) -> Self {
        if !matches!(e, ControlError::Api(_)) {
            tracing::error!(error = %e, "internal failure in the control plane");
        }
        Self(e.to_api())
    }
}

impl From<DispatchError> for ApiResponseError {
    fn from(e: DispatchError) -> Self {
        match e {
            DispatchError::Resolve(e) => e.into(),
            DispatchError::Invoke(e) => Self(e.to_api()),
            DispatchError::InvocationAborted(e) => {
                Self(ApiError::Service(format!("invocation failed: {e}")))
            }
            e @ (DispatchError::HostCannotRun(_)
            | DispatchError::ResolveAborted(_)
            | DispatchError::CodeMissing) => Self(ApiError::Service(e.to_string())),
        }
    }
}

impl IntoResponse for ApiResponseError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self.0.body()).expect("error bodies serialize");
        let mut resp = (status, body).into_response();
        let headers = resp.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert("x-amzn-ErrorType", HeaderValue::from_static(self.0.code()));
        resp
    }
}
