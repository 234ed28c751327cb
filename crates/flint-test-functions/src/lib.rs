//! Test functions for flint's custom runtime (`provided.al2023`) support.
//!
//! Each binary in `src/bin/` is a complete Lambda function built on the
//! official `lambda_runtime` crate. The black-box suite in `tests/invoke/`
//! zips one of them as `bootstrap` and invokes it through flint:
//!
//! - `echo`: returns `{"event": <the event>, "context": {...}, "env": {...}}`;
//! - `fail`: returns an error (`errorType` `FlintTestError`);
//! - `sleep`: sleeps `event.seconds` (default 5) before answering.

use lambda_runtime::{Context, Diagnostic};
use serde_json::{Value, json};
use std::time::{SystemTime, UNIX_EPOCH};

/// The context fields a test can check, as JSON.
pub fn context_json(ctx: &Context) -> Value {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    json!({
        "request_id": ctx.request_id,
        "invoked_function_arn": ctx.invoked_function_arn,
        "deadline_ms": ctx.deadline,
        "remaining_ms": ctx.deadline as i64 - now_ms,
        "function_name": ctx.env_config.function_name,
        "memory_mb": ctx.env_config.memory,
        "version": ctx.env_config.version,
        "log_group": ctx.env_config.log_group,
        "log_stream": ctx.env_config.log_stream,
        "client_context": ctx.client_context.as_ref().map(|c| json!({
            "custom": c.custom,
            "environment": c.environment,
        })),
        "xray_trace_id": ctx.xray_trace_id,
    })
}

/// The environment variables a test can check.
pub fn env_json() -> Value {
    let keys = [
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_RUNTIME_API",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "LAMBDA_TASK_ROOT",
        "_HANDLER",
        "FLINT_TEST_VAR",
    ];
    let mut out = serde_json::Map::new();
    for k in keys {
        if let Ok(v) = std::env::var(k) {
            out.insert(k.to_string(), Value::String(v));
        }
    }
    Value::Object(out)
}

/// The error every failing test function returns.
pub fn test_error(message: impl Into<String>) -> Diagnostic {
    Diagnostic {
        error_type: "FlintTestError".into(),
        error_message: message.into(),
    }
}
