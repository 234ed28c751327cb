//! Always fails: the caller gets `{"errorType":"FlintTestError","errorMessage":...}`.

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;

async fn handler(event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
    let what = event
        .payload
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("the fail function always fails")
        .to_string();
    eprintln!("fail function: {what}");
    Err(flint_test_functions::test_error(what))
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(handler)).await
}
