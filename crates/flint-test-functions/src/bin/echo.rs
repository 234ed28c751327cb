//! Returns the event, the invocation context and a few environment variables.

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};

static INVOCATIONS: AtomicU64 = AtomicU64::new(0);

async fn handler(event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
    let count = INVOCATIONS.fetch_add(1, Ordering::Relaxed) + 1;
    Ok(json!({
        "event": event.payload,
        "context": flint_test_functions::context_json(&event.context),
        "env": flint_test_functions::env_json(),
        "count": count,
        "pid": std::process::id(),
    }))
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    println!("echo function starting");
    lambda_runtime::run(service_fn(handler)).await
}
