//! The answer to a path that matches no Lambda operation.

use crate::error::ApiResponseError;
use axum::extract::Request;
use flint_types::ApiError;

pub(crate) async fn unknown_operation(req: Request) -> ApiResponseError {
    ApiError::UnknownOperation(format!(
        "No Lambda operation matches {} {}",
        req.method(),
        req.uri().path()
    ))
    .into()
}
