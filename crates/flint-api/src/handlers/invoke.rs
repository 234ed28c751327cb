//! `Invoke` (`POST /2015-03-31/functions/{name}/invocations`) and the deprecated
//! `InvokeAsync`: the HTTP adapter of the invocation dispatch. A synchronous invoke runs
//! through the dispatch and answers with the function's output; an `Event` invoke (and
//! `InvokeAsync`) is queued, and the asynchronous executor runs it later.

use crate::dispatch::Call;
use crate::error::ApiResponseError;
use crate::extract::{
    Bounded, Function, InvokeHeaders, Payload, QualifiedFunction, function_payload,
    invalid_payload, utf8_error_message,
};
use crate::operations::{InvocationType, InvokeAsync, InvokeFunction, MAX_EVENT_PAYLOAD};
use crate::response::{json_response, set_request_id};
use crate::state::{ApiResult, AppState};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use flint_invoke::InvokeOutput;
use flint_types::{ApiError, FunctionRef};
use serde_json::json;

pub(crate) async fn invoke(
    State(s): State<AppState>,
    QualifiedFunction(fref): QualifiedFunction<256>,
    headers: InvokeHeaders<InvokeFunction>,
    Bounded(payload, _): Bounded<InvokeFunction>,
) -> Response {
    // One id for the whole request: the invocation runs under it (context,
    // `Lambda-Runtime-Aws-Request-Id`, START/END/REPORT), an Event is queued under it, and
    // the answer carries it in `x-amzn-RequestId`, whether it succeeded or not.
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut resp = match invoke_as(&s, fref, headers, payload, &request_id).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    };
    set_request_id(&mut resp, &request_id);
    resp
}

async fn invoke_as(
    s: &AppState,
    fref: FunctionRef,
    headers: InvokeHeaders<InvokeFunction>,
    payload: Bytes,
    request_id: &str,
) -> ApiResult {
    if headers.invocation_type == InvocationType::Event && payload.len() > MAX_EVENT_PAYLOAD {
        return Err(ApiError::RequestEntityTooLarge(format!(
            "{} byte payload is too large for the Event invocation type (limit {MAX_EVENT_PAYLOAD} bytes)",
            payload.len()
        ))
        .into());
    }
    let payload = function_payload(payload)?;
    let dispatcher = s.dispatcher();
    let resolved = dispatcher.resolve(&fref).await?;
    match headers.invocation_type {
        InvocationType::DryRun => return Ok(StatusCode::NO_CONTENT.into_response()),
        InvocationType::Event => {
            // 202 only once the event is durable; the id is the one the
            // function and the destinations see.
            enqueue(
                s,
                &fref,
                payload,
                request_id.to_string(),
                headers.trace_header,
            )
            .await?;
            return Ok(StatusCode::ACCEPTED.into_response());
        }
        InvocationType::RequestResponse => {}
    }
    let call = Call {
        payload,
        client_context: headers.client_context,
        tail_logs: headers.tail_logs,
        request_id: Some(request_id.to_string()),
        trace_header: headers.trace_header,
    };
    let output = dispatcher.invoke(resolved, call).await?;
    Ok(invoke_response(output))
}

/// Invoke's answer: the function's output as the body, its metadata as headers.
fn invoke_response(output: InvokeOutput) -> axum::response::Response {
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
    resp
}

/// `InvokeAsync` (`POST /2014-11-13/functions/{name}/invoke-async/`), Lambda's deprecated
/// asynchronous API: the body is the event, queued exactly as an `Event` invoke of the
/// unqualified function (`$LATEST`), answered `202` once durable.
pub(crate) async fn invoke_async(
    State(s): State<AppState>,
    Function(fref): Function<170>,
    Payload(payload, _): Payload<InvokeAsync>,
) -> ApiResult {
    // 404 for a function (or version) that does not exist, before anything is queued.
    s.dispatcher().resolve(&fref).await?;
    let id = uuid::Uuid::new_v4().to_string();
    enqueue(&s, &fref, payload, id.clone(), None).await?;
    let mut resp = json_response(StatusCode::ACCEPTED, &json!({"Status": 202}));
    set_request_id(&mut resp, &id);
    Ok(resp)
}

/// Accepts an `Event` invocation under request id `id`: durable first, then 202.
async fn enqueue(
    s: &AppState,
    fref: &FunctionRef,
    payload: Bytes,
    id: String,
    trace_header: Option<String>,
) -> Result<(), ApiResponseError> {
    let queue = s.queue()?;
    // Checked by `function_payload` already; the queue stores text.
    let payload = String::from_utf8(payload.to_vec())
        .map_err(|e| invalid_payload(&utf8_error_message(e.as_bytes(), &e.utf8_error())))?;
    queue
        .enqueue_traced(
            id,
            fref.name.clone(),
            fref.qualifier.as_ref().map(|q| q.to_string()),
            payload,
            trace_header,
        )
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "could not queue an asynchronous event");
            ApiError::Service("An internal error occurred in flint. See the server log.".into())
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::routes::router;
    use crate::test_support::{NO_INVOKER, create_function, test_state};
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn invoke(invocation_type: &str, function: &str) -> (StatusCode, serde_json::Value) {
        let test = test_state();
        create_function(&test.state.control, "f");
        let req = Request::post(format!("/2015-03-31/functions/{function}/invocations"))
            .header("X-Amz-Invocation-Type", invocation_type)
            .body(Body::from("{}"))
            .unwrap();
        let resp = router(test.state.clone()).oneshot(req).await.unwrap();
        let status = resp.status();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&body).unwrap_or_default())
    }

    #[tokio::test]
    async fn a_dry_run_resolves_without_running_anything() {
        assert_eq!(invoke("DryRun", "f").await.0, StatusCode::NO_CONTENT);
        assert_eq!(invoke("DryRun", "g").await.0, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn a_host_that_cannot_run_functions_says_why() {
        let (status, body) = invoke("RequestResponse", "f").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            body["Message"],
            format!("flint cannot run functions on this host: {NO_INVOKER}")
        );
    }

    #[tokio::test]
    async fn an_event_needs_the_queue() {
        let (status, body) = invoke("Event", "f").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            body["Message"],
            "asynchronous invocation is not enabled on this server"
        );
    }
}
