//! `InvokeWithResponseStream` (`POST /2021-11-15/functions/{name}/response-streaming-invocations`):
//! the event-stream adapter of the invocation dispatch.

use crate::dispatch::{Call, ResponseStream, StreamingAnswer};
use crate::eventstream::{invoke_complete, payload_chunk};
use crate::extract::{InvokeHeaders, Payload, QualifiedFunction};
use crate::operations::{InvocationType, InvokeWithResponseStream};
use crate::response::{ChannelBody, set_request_id};
use crate::state::{ApiResult, AppState};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use flint_invoke::StreamPart;
use flint_types::FunctionRef;

/// `InvokeWithResponseStream` (`POST /2021-11-15/functions/{name}/response-streaming-invocations`):
/// the same checks and invocation as `Invoke`, with the response as an event stream:
/// `PayloadChunk` events as the function writes (one with the whole body for a function that
/// does not stream), then `InvokeComplete` (`ErrorCode`/`ErrorDetails` when it failed,
/// `LogResult` with `Tail`).
pub(crate) async fn invoke_with_response_stream(
    State(s): State<AppState>,
    QualifiedFunction(fref): QualifiedFunction<170>,
    headers: InvokeHeaders<InvokeWithResponseStream>,
    Payload(payload, _): Payload<InvokeWithResponseStream>,
) -> Response {
    // The invocation's own id, in `x-amzn-RequestId` of whatever the answer is (see `Invoke`).
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut resp = match stream_as(&s, fref, headers, payload, &request_id).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    };
    set_request_id(&mut resp, &request_id);
    resp
}

async fn stream_as(
    s: &AppState,
    fref: FunctionRef,
    headers: InvokeHeaders<InvokeWithResponseStream>,
    payload: Bytes,
    request_id: &str,
) -> ApiResult {
    let dispatcher = s.dispatcher();
    let resolved = dispatcher.resolve(&fref).await?;
    if headers.invocation_type == InvocationType::DryRun {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let executed_version = resolved.config.version.clone();
    let call = Call {
        payload,
        client_context: headers.client_context,
        tail_logs: headers.tail_logs,
        request_id: Some(request_id.to_string()),
        trace_header: headers.trace_header,
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
                    .send(invoke_complete(
                        Some(&code),
                        Some(&details),
                        output.log_result.as_deref(),
                    ))
                    .await;
            } else {
                let _ = tx.send(payload_chunk(&output.body)).await;
                let _ = tx
                    .send(invoke_complete(None, None, output.log_result.as_deref()))
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
                open = tx.send(payload_chunk(&chunk)).await.is_ok();
            }
        }
        let complete = match running.finish().await {
            Ok(output) if output.function_error => {
                let (code, details) = stream_error(&output.body);
                invoke_complete(Some(&code), Some(&details), output.log_result.as_deref())
            }
            Ok(output) => invoke_complete(None, None, output.log_result.as_deref()),
            Err(e) => invoke_complete(Some("ServiceException"), Some(&e.to_string()), None),
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
