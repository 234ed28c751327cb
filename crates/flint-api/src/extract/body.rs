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

/// The payload a function receives: JSON as sent, or `{}` for an empty body. Lambda reads it
/// as UTF-8 text, so invalid UTF-8 anywhere (even inside a string, which a JSON syntax check
/// alone lets through) is refused before anything runs, with Lambda's (Jackson's) message.
pub(crate) fn function_payload(payload: Bytes) -> Result<Bytes, ApiResponseError> {
    if let Err(e) = std::str::from_utf8(&payload) {
        return Err(invalid_payload(&utf8_error_message(&payload, &e)));
    }
    if payload.iter().all(u8::is_ascii_whitespace) {
        // An empty payload reaches the function as an empty JSON object.
        return Ok(Bytes::from_static(b"{}"));
    }
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&payload) {
        return Err(invalid_payload(&e.to_string()));
    }
    Ok(payload)
}

/// `InvalidRequestContentException` for a payload that is not JSON text.
pub(crate) fn invalid_payload(why: &str) -> ApiResponseError {
    ApiError::InvalidRequestContent(format!(
        "Could not parse request body into json: Could not parse payload into json: {why}"
    ))
    .into()
}

/// What Lambda's JSON reader (Jackson) says about the first invalid UTF-8 byte of `bytes`:
/// `Invalid UTF-8 start byte 0x87` (a byte no character starts with) or `Invalid UTF-8 middle
/// byte 0xd7` (a character cut short), then where, as Jackson counts: the line, and the
/// 1-based column just past the offending byte.
pub(crate) fn utf8_error_message(bytes: &[u8], e: &std::str::Utf8Error) -> String {
    let start = e.valid_up_to();
    let (kind, at) = match e.error_len() {
        // A lone continuation byte or one that starts nothing (0xf8..).
        Some(_) if !(0xc0..0xf8).contains(&bytes[start]) => ("start", start),
        // A lead byte whose sequence breaks off at the byte after its valid part.
        Some(n) => ("middle", (start + n).min(bytes.len() - 1)),
        // The input ends inside a character.
        None => ("middle", bytes.len() - 1),
    };
    let line_start = bytes[..at]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let line = 1 + bytes[..at].iter().filter(|&&b| b == b'\n').count();
    let column = at - line_start + 2;
    format!(
        "Invalid UTF-8 {kind} byte 0x{:02x}\n at [Source: REDACTED (`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION` disabled); line: {line}, column: {column}]",
        bytes[at]
    )
}
