//! Sleeps `event.seconds` (default 5) before answering `{"slept": seconds}`.

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::{Value, json};
use std::time::Duration;

async fn handler(event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
    let seconds = event
        .payload
        .get("seconds")
        .and_then(Value::as_f64)
        .unwrap_or(5.0);
    tokio::time::sleep(Duration::from_secs_f64(seconds.max(0.0))).await;
    Ok(json!({ "slept": seconds }))
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(handler)).await
}
