//! A tiny function built on the official Rust runtime client (`lambda_runtime`), run as a child
//! process by `tests/rust_client.rs` against a real Runtime API server.
//!
//! Behaviour by event:
//! * `{"fail": "<msg>"}` → error `{"errorType":"EchoError","errorMessage":"<msg>"}`
//! * `{"stream": ["a", "b"]}` → streamed response with those chunks
//! * `{"big": n}` → a JSON string of `n` `x`s
//! * anything else → `{"echo": <event>, "requestId", "deadlineMs", "arn", "clientContext"}`

use lambda_runtime::streaming::{Body, Response as StreamResponse, channel};
use lambda_runtime::{Diagnostic, FunctionResponse, LambdaEvent, service_fn};
use serde_json::{Value, json};

async fn handler(event: LambdaEvent<Value>) -> Result<FunctionResponse<Value, Body>, Diagnostic> {
    let (payload, ctx) = event.into_parts();
    if let Some(msg) = payload.get("fail").and_then(Value::as_str) {
        return Err(Diagnostic {
            error_type: "EchoError".into(),
            error_message: msg.into(),
        });
    }
    if let Some(n) = payload.get("big").and_then(Value::as_u64) {
        return Ok(FunctionResponse::BufferedResponse(Value::String(
            "x".repeat(n as usize),
        )));
    }
    if let Some(chunks) = payload.get("stream").and_then(Value::as_array) {
        let chunks: Vec<String> = chunks
            .iter()
            .filter_map(|c| c.as_str().map(str::to_owned))
            .collect();
        let (mut tx, rx) = channel();
        tokio::spawn(async move {
            for c in chunks {
                if tx.send_data(c.into()).await.is_err() {
                    return;
                }
            }
        });
        return Ok(FunctionResponse::StreamingResponse(StreamResponse::from(
            rx,
        )));
    }
    Ok(FunctionResponse::BufferedResponse(json!({
        "echo": payload,
        "requestId": ctx.request_id,
        "deadlineMs": ctx.deadline,
        "arn": ctx.invoked_function_arn,
        "clientContext": ctx.client_context.map(|c| c.custom),
    })))
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(handler)).await
}
