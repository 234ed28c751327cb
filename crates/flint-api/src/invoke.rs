//! `Invoke` (`POST /2015-03-31/functions/{name}/invocations`) and the log
//! reading endpoint behind `flint logs`.

use crate::body::read_limited;
use crate::dispatch::{Call, ResponseStream, StreamingAnswer};
use crate::error::ApiResponseError;
use crate::routes::{ApiResult, AppState, Query, blocking, function_ref, json_response};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use bytes::Bytes;
use flint_invoke::StreamPart;
use flint_types::ApiError;
use serde_json::json;

/// Largest synchronous request payload.
pub const MAX_INVOKE_REQUEST: usize = 6_291_456;
/// Largest asynchronous (`Event`) payload: 1 MB in Lambda's current model.
pub const MAX_EVENT_PAYLOAD: usize = 1_048_576;
/// Largest `InvokeAsync` (2014-11-13) payload: 256 KB, that API's historical limit.
pub const MAX_INVOKE_ASYNC_ARGS: usize = 262_144;
/// Largest `X-Amz-Client-Context` (base64).
const MAX_CLIENT_CONTEXT: usize = 3583;

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `X-Amz-Invocation-Type` (default `RequestResponse`), one of `allowed`.
fn invocation_type<'a>(
    headers: &'a HeaderMap,
    allowed: &[&str],
) -> Result<&'a str, ApiResponseError> {
    let t = header(headers, "X-Amz-Invocation-Type").unwrap_or("RequestResponse");
    if allowed.contains(&t) {
        Ok(t)
    } else {
        Err(ApiError::enum_value(t, "invocationType", allowed).into())
    }
}

/// Whether `X-Amz-Log-Type: Tail` asks for the log tail.
fn tail_logs(headers: &HeaderMap) -> Result<bool, ApiResponseError> {
    match header(headers, "X-Amz-Log-Type") {
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
        .decode(raw)
        .map_err(|_| invalid())?;
    let text = String::from_utf8(decoded).map_err(|_| invalid())?;
    serde_json::from_str::<serde_json::Value>(&text).map_err(|_| invalid())?;
    Ok(Some(text))
}

/// A response body fed by a channel: each item is written as soon as it is received.
pub(crate) struct ChannelBody(pub(crate) tokio::sync::mpsc::Receiver<Bytes>);

impl futures_core::Stream for ChannelBody {
    type Item = Result<Bytes, std::convert::Infallible>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|item| item.map(Ok))
    }
}

/// `InvokeWithResponseStream` (`POST /2021-11-15/functions/{name}/response-streaming-invocations`):
/// the same checks and invocation as `Invoke`, with the response as an event stream:
/// `PayloadChunk` events as the function writes (one with the whole body for a function that
/// does not stream), then `InvokeComplete` (`ErrorCode`/`ErrorDetails` when it failed,
/// `LogResult` with `Tail`).
pub async fn invoke_with_response_stream(
    State(s): State<AppState>,
    Path(function): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let fref = function_ref(&s, &function, 170, &Query::parse(q)?)?;
    let invocation_type = invocation_type(&headers, &["RequestResponse", "DryRun"])?;
    let tail = tail_logs(&headers)?;
    let client_context = client_context(&headers)?;
    let payload = read_limited(
        &headers,
        body,
        MAX_INVOKE_REQUEST,
        "InvokeWithResponseStream",
    )
    .await?;
    let payload = json_payload(payload)?;
    let dispatcher = s.dispatcher();
    let resolved = dispatcher.resolve(&fref).await?;
    if invocation_type == "DryRun" {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let executed_version = resolved.config.version.clone();
    let call = Call {
        payload,
        client_context,
        tail_logs: tail,
        request_id: None,
    };
    let ResponseStream {
        content_type: stream_content_type,
        mut parts,
        running,
    } = match dispatcher.invoke_streaming(resolved, call).await? {
        StreamingAnswer::Stream(stream) => stream,
        StreamingAnswer::Whole(output) => {
            // Admission refusals keep their own status and error body, as on Lambda.
            let output = output?;
            let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(2);
            if output.function_error {
                let (code, details) = stream_error(&output.body);
                let _ = tx
                    .send(crate::eventstream::invoke_complete(
                        Some(&code),
                        Some(&details),
                        output.log_result.as_deref(),
                    ))
                    .await;
            } else {
                let _ = tx
                    .send(crate::eventstream::payload_chunk(&output.body))
                    .await;
                let _ = tx
                    .send(crate::eventstream::invoke_complete(
                        None,
                        None,
                        output.log_result.as_deref(),
                    ))
                    .await;
            }
            let content_type = output.content_type.as_deref().unwrap_or("application/json");
            return Ok(stream_response(rx, &output.executed_version, content_type));
        }
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    tokio::spawn(async move {
        let mut open = true;
        while let Some(part) = parts.recv().await {
            if let (StreamPart::Chunk(chunk), true) = (part, open) {
                // A caller that went away stops nothing: the invocation finishes (and is
                // logged) while the rest is read and dropped.
                open = tx
                    .send(crate::eventstream::payload_chunk(&chunk))
                    .await
                    .is_ok();
            }
        }
        let complete = match running.finish().await {
            Ok(output) if output.function_error => {
                let (code, details) = stream_error(&output.body);
                crate::eventstream::invoke_complete(
                    Some(&code),
                    Some(&details),
                    output.log_result.as_deref(),
                )
            }
            Ok(output) => {
                crate::eventstream::invoke_complete(None, None, output.log_result.as_deref())
            }
            Err(e) => crate::eventstream::invoke_complete(
                Some("ServiceException"),
                Some(&e.to_string()),
                None,
            ),
        };
        let _ = tx.send(complete).await;
    });
    let content_type = stream_content_type.unwrap_or_else(|| "application/octet-stream".into());
    Ok(stream_response(rx, &executed_version, &content_type))
}

/// `InvokeComplete`'s `ErrorCode` (the error body's `errorType`, else `Unhandled`) and
/// `ErrorDetails` (the error body) for a failed invocation.
fn stream_error(body: &[u8]) -> (String, String) {
    let code = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["errorType"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "Unhandled".into());
    (code, String::from_utf8_lossy(body).into_owned())
}

/// The event stream's HTTP response. Its `Content-Type` is the function's own stream content
/// type: the model binds that header to `ResponseStreamContentType`, and the SDKs read the
/// body as an event stream whatever it says.
fn stream_response(
    rx: tokio::sync::mpsc::Receiver<Bytes>,
    executed_version: &str,
    content_type: &str,
) -> Response {
    let mut resp = Response::new(Body::from_stream(ChannelBody(rx)));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    if let Ok(v) = HeaderValue::from_str(executed_version) {
        h.insert("X-Amz-Executed-Version", v);
    }
    resp
}

/// The payload a function receives: JSON as sent, or `{}` for an empty body.
fn json_payload(payload: Bytes) -> Result<Bytes, ApiResponseError> {
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

/// `InvokeAsync` (`POST /2014-11-13/functions/{name}/invoke-async/`), Lambda's deprecated
/// asynchronous API: the body is the event, queued exactly as an `Event` invoke of the
/// unqualified function (`$LATEST`), answered `202` once durable.
pub async fn invoke_async(
    State(s): State<AppState>,
    Path(function): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let fref = function_ref(&s, &function, 170, &Query(vec![]))?;
    let payload = read_limited(&headers, body, MAX_INVOKE_ASYNC_ARGS, "InvokeAsync").await?;
    let payload = json_payload(payload)?;
    // 404 for a function (or version) that does not exist, before anything is queued.
    s.dispatcher().resolve(&fref).await?;
    let id = crate::events::enqueue(&s, &fref, payload).await?;
    let mut resp = json_response(StatusCode::ACCEPTED, &json!({"Status": 202}));
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-amzn-RequestId", v);
    }
    Ok(resp)
}

pub async fn invoke(
    State(s): State<AppState>,
    Path(function): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let fref = function_ref(&s, &function, 256, &Query::parse(q)?)?;
    let invocation_type = invocation_type(&headers, &["Event", "RequestResponse", "DryRun"])?;
    let tail = tail_logs(&headers)?;
    let client_context = client_context(&headers)?;
    let payload = read_limited(&headers, body, MAX_INVOKE_REQUEST, "InvokeFunction").await?;
    if invocation_type == "Event" && payload.len() > MAX_EVENT_PAYLOAD {
        return Err(ApiError::RequestEntityTooLarge(format!(
            "{} byte payload is too large for the Event invocation type (limit {MAX_EVENT_PAYLOAD} bytes)",
            payload.len()
        ))
        .into());
    }
    let payload = json_payload(payload)?;

    let dispatcher = s.dispatcher();
    let resolved = dispatcher.resolve(&fref).await?;
    if invocation_type == "DryRun" {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    if invocation_type == "Event" {
        // 202 only once the event is durable; the id is the one the
        // function and the destinations see.
        let id = crate::events::enqueue(&s, &fref, payload).await?;
        let mut resp = StatusCode::ACCEPTED.into_response();
        if let Ok(v) = HeaderValue::from_str(&id) {
            resp.headers_mut().insert("x-amzn-RequestId", v);
        }
        return Ok(resp);
    }
    let call = Call {
        payload,
        client_context,
        tail_logs: tail,
        request_id: None,
    };
    let output = dispatcher.invoke(resolved, call).await?;

    let mut resp = (StatusCode::OK, output.body).into_response();
    let h = resp.headers_mut();
    let content_type = output.content_type.as_deref().unwrap_or("application/json");
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("application/json")),
    );
    if let Ok(v) = HeaderValue::from_str(&output.executed_version) {
        h.insert("X-Amz-Executed-Version", v);
    }
    if output.function_error {
        h.insert(
            "X-Amz-Function-Error",
            HeaderValue::from_static("Unhandled"),
        );
    }
    if let Some(tail) = output.log_result
        && let Ok(v) = HeaderValue::from_str(&tail)
    {
        h.insert("X-Amz-Log-Result", v);
    }
    Ok(resp)
}

/// `GET /_flint/logs/{function}?offset=N`: stored log records from `offset`.
pub async fn read_logs(
    State(s): State<AppState>,
    Path(function): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiResponseError> {
    let q = Query::parse(q)?;
    let fref = function_ref(&s, &function, 140, &Query(vec![]))?;
    let offset = q.get("offset").and_then(|v| v.parse().ok()).unwrap_or(0);
    let name = fref.name.clone();
    // A log is only shown for a function that exists.
    blocking(&s, move |c| c.get_function_configuration(&fref)).await?;
    let invoker = s.host_invoker()?;
    invoker.logs().flush().await;
    let (records, next) = invoker
        .logs()
        .read(&name, offset)
        .map_err(|e| ApiError::Service(format!("reading logs: {e}")))?;
    let records: Vec<_> = records
        .into_iter()
        .map(|r| json!({"time": r.time, "stream": r.stream, "message": r.message}))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"records": records, "nextOffset": next}),
    ))
}
