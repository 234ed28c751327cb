//! Bounded request bodies and JSON parsing with AWS's answers.

use crate::error::ApiResponseError;
use axum::body::Body;
use axum::http::HeaderMap;
use bytes::Bytes;
use flint_types::ApiError;
use http_body_util::{BodyExt, Limited};
use serde::de::DeserializeOwned;

/// Largest CreateFunction / UpdateFunctionCode request Lambda accepts
/// (a 50 MB zip, base64-encoded, plus the rest of the JSON).
pub const MAX_CODE_REQUEST: usize = 70_167_211;
/// Largest body of any other control-plane request.
pub const MAX_CONTROL_REQUEST: usize = 6_291_456;

fn too_large(limit: usize, operation: &str) -> ApiResponseError {
    ApiError::RequestEntityTooLarge(format!(
        "Request must be smaller than {limit} bytes for the {operation} operation"
    ))
    .into()
}

/// Reads at most `limit` bytes; a larger body (declared or actual) is
/// refused without reading the rest into memory.
pub async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    operation: &str,
) -> Result<Bytes, ApiResponseError> {
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large(limit, operation));
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large(limit, operation)),
        Err(e) => {
            Err(ApiError::InvalidRequestContent(format!("Could not read request body: {e}")).into())
        }
    }
}

/// Parses a JSON request body. An empty body is `{}` (SDKs send none for
/// operations whose input members all sit in the path or query).
pub fn parse_json<T: DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, ApiResponseError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::InvalidRequestContent(format!("Could not parse request body into json: {e}"))
            .into()
    })
}
