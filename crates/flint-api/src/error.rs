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
            DispatchError::RecursiveLoop(_) => Self(ApiError::RecursiveInvocation(
                "Lambda has detected your function being invoked in a recursive loop and stopped your function's invocation. To allow it, set its RecursiveLoop to Allow (PutFunctionRecursionConfig).".into(),
            )),
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

#[cfg(test)]
mod tests {
    use super::*;
    use flint_invoke::InvokeError;

    fn rendered(e: DispatchError) -> (u16, &'static str, String) {
        let ApiResponseError(api) = e.into();
        (api.status(), api.code(), api.to_string())
    }

    #[test]
    fn an_invocation_that_did_not_run_is_answered_as_lambda_does() {
        assert_eq!(
            rendered(DispatchError::HostCannotRun(
                crate::dispatch::HostCannotRun("no namespaces".into())
            )),
            (
                500,
                "ServiceException",
                "flint cannot run functions on this host: no namespaces".into()
            )
        );
        assert_eq!(
            rendered(DispatchError::CodeMissing),
            (
                500,
                "ServiceException",
                "the function's code is not on local disk".into()
            )
        );
        assert_eq!(
            rendered(DispatchError::Invoke(InvokeError::Throttled {
                reason: "ConcurrentInvocationLimitExceeded"
            })),
            (429, "TooManyRequestsException", "Rate Exceeded.".into())
        );
        let (status, code, _) = rendered(DispatchError::Invoke(InvokeError::Runtime {
            runtime: "python3.12".into(),
            reason: "no interpreter".into(),
        }));
        assert_eq!((status, code), (502, "InvalidRuntimeException"));
        let (status, code, message) = rendered(DispatchError::Resolve(ControlError::Api(
            ApiError::function_not_found("arn:aws:lambda:us-east-1:000000000000:function:f"),
        )));
        assert_eq!((status, code), (404, "ResourceNotFoundException"));
        assert!(message.ends_with(":function:f"), "{message}");
    }
}
