//! The headers of an invoke operation: `X-Amz-Invocation-Type`, `X-Amz-Log-Type` and
//! `X-Amz-Client-Context`, checked in that order, and the caller's `X-Amzn-Trace-Id`.

use crate::error::ApiResponseError;
use crate::operations::{InvocationType, InvokeOperation};
use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use base64::Engine;
use flint_types::ApiError;
use std::marker::PhantomData;

/// Largest `X-Amz-Client-Context` (base64).
const MAX_CLIENT_CONTEXT: usize = 3583;

/// The checked headers of invoke operation `O`.
pub(crate) struct InvokeHeaders<O> {
    /// `RequestResponse` when the header is absent; one of `O::INVOCATION_TYPES`.
    pub invocation_type: InvocationType,
    /// `X-Amz-Log-Type: Tail`: the answer carries the log tail.
    pub tail_logs: bool,
    /// The decoded client context JSON.
    pub client_context: Option<String>,
    /// The caller's `X-Amzn-Trace-Id`, continued by the invocation's trace.
    pub trace_header: Option<String>,
    operation: PhantomData<O>,
}

impl<S: Send + Sync, O: InvokeOperation> FromRequestParts<S> for InvokeHeaders<O> {
    type Rejection = ApiResponseError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self {
            invocation_type: invocation_type(&parts.headers, O::INVOCATION_TYPES)?,
            tail_logs: tail_logs(&parts.headers)?,
            client_context: client_context(&parts.headers)?,
            trace_header: header(&parts.headers, "X-Amzn-Trace-Id").map(|v| v.into_owned()),
            operation: PhantomData,
        })
    }
}

/// A header's value as text: one that is not visible ASCII is read lossily, so it is refused
/// by the header's own check rather than taken as absent.
fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<std::borrow::Cow<'a, str>> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()))
}

/// `X-Amz-Invocation-Type` (default `RequestResponse`), one of `allowed`.
fn invocation_type(
    headers: &HeaderMap,
    allowed: &[InvocationType],
) -> Result<InvocationType, ApiResponseError> {
    let t = header(headers, "X-Amz-Invocation-Type").unwrap_or("RequestResponse".into());
    allowed
        .iter()
        .copied()
        .find(|a| a.name() == t.as_ref())
        .ok_or_else(|| {
            let names: Vec<&str> = allowed.iter().map(|a| a.name()).collect();
            ApiError::enum_value(&t, "invocationType", &names).into()
        })
}

/// Whether `X-Amz-Log-Type: Tail` asks for the log tail.
fn tail_logs(headers: &HeaderMap) -> Result<bool, ApiResponseError> {
    match header(headers, "X-Amz-Log-Type").as_deref() {
        None | Some("None") => Ok(false),
        Some("Tail") => Ok(true),
        Some(other) => Err(ApiError::enum_value(other, "logType", &["None", "Tail"]).into()),
    }
}

fn client_context(headers: &HeaderMap) -> Result<Option<String>, ApiResponseError> {
    let Some(raw) = header(headers, "X-Amz-Client-Context") else {
        return Ok(None);
    };
    let invalid = || {
        ApiResponseError::from(ApiError::InvalidParameterValue(
            "Client context must be a valid Base64-encoded JSON object.".into(),
        ))
    };
    if raw.len() > MAX_CLIENT_CONTEXT {
        return Err(ApiError::InvalidParameterValue(format!(
            "Client context must be at most {MAX_CLIENT_CONTEXT} bytes (base64-encoded)."
        ))
        .into());
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(raw.as_bytes())
        .map_err(|_| invalid())?;
    let text = String::from_utf8(decoded).map_err(|_| invalid())?;
    serde_json::from_str::<serde_json::Value>(&text).map_err(|_| invalid())?;
    Ok(Some(text))
}
