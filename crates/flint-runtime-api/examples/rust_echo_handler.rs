//! A tiny function built on the official Rust runtime client (`lambda_runtime`), run as a child
//! process by `tests/rust_client.rs` against a real Runtime API server.
//!
//! Behaviour by event:
//! * `{"fail": "<msg>"}` → error `{"errorType":"EchoError","errorMessage":"<msg>"}`
//! * `{"stream": ["a", "b"]}` → streamed response with those chunks
//! * `{"stream": ["a"], "streamError": "<msg>"}` → the chunks, then a mid-stream error
//! * `{"big": n}` → a JSON string of `n` `x`s
//! * anything else → `{"echo": <event>, "requestId", "deadlineMs", "arn", "clientContext"}`

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use lambda_runtime::streaming::Response as StreamResponse;
use lambda_runtime::{Diagnostic, FunctionResponse, LambdaEvent, service_fn};
use serde_json::{Value, json};

/// The mid-stream failure an event asks for (`streamError`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct StreamError(String);

/// A response stream replaying prepared items (chunks, then maybe an error).
struct Chunks(VecDeque<Result<Bytes, StreamError>>);

impl futures_core::Stream for Chunks {
    type Item = Result<Bytes, StreamError>;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Poll::Ready(self.0.pop_front())
    }
}

async fn handler(event: LambdaEvent<Value>) -> Result<FunctionResponse<Value, Chunks>, Diagnostic> {
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
        let mut items: VecDeque<Result<Bytes, StreamError>> = chunks
            .iter()
            .filter_map(|c| c.as_str().map(|s| Ok(Bytes::from(s.to_owned()))))
            .collect();
        if let Some(e) = payload.get("streamError").and_then(Value::as_str) {
            items.push_back(Err(StreamError(e.to_owned())));
        }
        return Ok(FunctionResponse::StreamingResponse(StreamResponse::from(
            Chunks(items),
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
