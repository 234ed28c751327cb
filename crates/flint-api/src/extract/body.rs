//! Bounded request bodies and JSON parsing with AWS's answers.

use crate::error::ApiResponseError;
use crate::operations::{JsonOperation, Operation};
use axum::extract::{FromRequest, Request};
use bytes::Bytes;
use flint_types::ApiError;
use http_body_util::{BodyExt, Limited};
use serde::de::DeserializeOwned;
use std::marker::PhantomData;

/// The body of operation `O`, at most `O::MAX_BODY` bytes: a larger one (declared or actual)
/// is refused with a 413 without reading the rest into memory.
pub(crate) struct Bounded<O>(pub Bytes, pub PhantomData<O>);

/// The JSON body of operation `O`, parsed (an empty body is `{}`).
pub(crate) struct JsonBody<O: JsonOperation>(pub O::Input);

/// The event of an invoke operation `O`: bounded as [`Bounded`], and JSON (an empty body is
/// the empty object), as [`function_payload`] checks it.
pub(crate) struct Payload<O>(pub Bytes, pub PhantomData<O>);

impl<S: Send + Sync, O: Operation> FromRequest<S> for Bounded<O> {
    type Rejection = ApiResponseError;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        read_limited(req, O::MAX_BODY, O::NAME)
            .await
            .map(|bytes| Self(bytes, PhantomData))
    }
}

impl<S: Send + Sync, O: JsonOperation> FromRequest<S> for JsonBody<O> {
    type Rejection = ApiResponseError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Bounded(bytes, _) = Bounded::<O>::from_request(req, state).await?;
        parse_json(&bytes).map(Self)
    }
}

impl<S: Send + Sync, O: Operation> FromRequest<S> for Payload<O> {
    type Rejection = ApiResponseError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Bounded(bytes, _) = Bounded::<O>::from_request(req, state).await?;
        function_payload(bytes).map(|payload| Self(payload, PhantomData))
    }
}

fn too_large(limit: usize, operation: &str) -> ApiResponseError {
    ApiError::RequestEntityTooLarge(format!(
        "Request must be smaller than {limit} bytes for the {operation} operation"
    ))
    .into()
}

/// Reads at most `limit` bytes of the body.
async fn read_limited(
    req: Request,
    limit: usize,
    operation: &str,
) -> Result<Bytes, ApiResponseError> {
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large(limit, operation));
    }
    match Limited::new(req.into_body(), limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large(limit, operation)),
        Err(e) => {
            Err(ApiError::InvalidRequestContent(format!("Could not read request body: {e}")).into())
        }
    }
}

/// Parses a JSON request body. An empty body is `{}` (SDKs send none for
/// operations whose input members all sit in the path or query).
fn parse_json<T: DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, ApiResponseError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::InvalidRequestContent(format!("Could not parse request body into json: {e}"))
            .into()
    })
}

/// The payload a function receives: JSON as sent, or `{}` for an empty body.
pub(crate) fn function_payload(payload: Bytes) -> Result<Bytes, ApiResponseError> {
    if payload.iter().all(u8::is_ascii_whitespace) {
        // An empty payload reaches the function as an empty JSON object.
        return Ok(Bytes::from_static(b"{}"));
    }
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&payload) {
        return Err(ApiError::InvalidRequestContent(format!(
            "Could not parse request body into json: Could not parse payload into json: {e}"
        ))
        .into());
    }
    Ok(payload)
}
