//! The CloudWatch Logs API (JSON 1.1, `POST /` with `X-Amz-Target: Logs_20140328.<Op>`) over
//! flint's function logs: a log group `/aws/lambda/<function>` per function with a log, a log
//! stream per execution environment (the stream names the store keeps with each record), each
//! stored line an event whose timestamp and ingestion time are the time the writer stored it.
//!
//! `ops.rs` answers the operations from the records of `flint_invoke::LogStore`;
//! `pattern.rs` is the filter-pattern syntax; `token.rs` the paging tokens.

mod live_tail;
pub use live_tail::stop_live_tails;
mod ops;
pub(crate) mod pattern;
mod token;

use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The target prefix of every CloudWatch Logs operation.
pub(crate) const TARGET_PREFIX: &str = "Logs_20140328.";

/// A CloudWatch Logs error: its `__type` and message, always HTTP 400 but for internal ones.
#[derive(Debug)]
pub(crate) struct LogsError {
    code: &'static str,
    message: String,
}

impl LogsError {
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new("InvalidParameterException", message)
    }
    pub(crate) fn no_group() -> Self {
        Self::new(
            "ResourceNotFoundException",
            "The specified log group does not exist.",
        )
    }
    pub(crate) fn no_stream() -> Self {
        Self::new(
            "ResourceNotFoundException",
            "The specified log stream does not exist.",
        )
    }
    pub(crate) fn internal(e: impl std::fmt::Display) -> Self {
        Self::new("ServiceUnavailableException", e.to_string())
    }
}

fn amz_json(status: StatusCode, body: &Value) -> Response {
    let mut resp = (status, serde_json::to_vec(body).expect("json")).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    resp
}

impl IntoResponse for LogsError {
    fn into_response(self) -> Response {
        let status = if self.code == "ServiceUnavailableException" {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::BAD_REQUEST
        };
        amz_json(
            status,
            &json!({"__type": self.code, "message": self.message}),
        )
    }
}

/// `POST /`: one CloudWatch Logs operation, named by `X-Amz-Target`.
pub(crate) async fn handle(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(op) = target.strip_prefix(TARGET_PREFIX) else {
        // Not a CloudWatch Logs call: `POST /` is no Lambda operation either.
        return crate::error::ApiResponseError(flint_types::ApiError::UnknownOperation(
            "No Lambda operation matches POST /".into(),
        ))
        .into_response();
    };
    if op == "StartLiveTail" {
        return match serde_json::from_slice::<Value>(&body) {
            Ok(input @ Value::Object(_)) => live_tail::start(&s, input)
                .await
                .unwrap_or_else(IntoResponse::into_response),
            _ => LogsError::new("SerializationException", "Malformed JSON body").into_response(),
        };
    }
    if !ops::OPERATIONS.contains(&op) {
        return LogsError::new(
            "UnknownOperationException",
            format!("flint does not implement the CloudWatch Logs operation {op}"),
        )
        .into_response();
    }
    let input: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                return LogsError::new("SerializationException", "Malformed JSON body")
                    .into_response();
            }
        }
    };
    match ops::run(&s, op.to_string(), input).await {
        Ok(v) => amz_json(StatusCode::OK, &v),
        Err(e) => e.into_response(),
    }
}

/// Milliseconds since the epoch of a stored record's time (`2019-10-01T16:47:28.490+0000`).
pub(crate) fn parse_time_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 23 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec, ms) = (num(11..13)?, num(14..16)?, num(17..19)?, num(20..23)?);
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + h) * 60 + mi) * 60_000 + sec * 1000 + ms)
}

#[cfg(test)]
mod tests {
    use crate::routes::router;
    use crate::test_support::test_state;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn call(target: Option<&str>, body: &str) -> (StatusCode, String, serde_json::Value) {
        let test = test_state();
        let mut req = Request::builder().method("POST").uri("/");
        if let Some(t) = target {
            req = req.header("x-amz-target", t);
        }
        let resp = router(test.state.clone())
            .oneshot(req.body(Body::from(body.to_string())).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, ct, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn unknown_operations_and_bad_bodies_are_cloudwatchs_errors() {
        let (status, ct, body) = call(Some("Logs_20140328.PutMetricFilter"), "{}").await;
        assert_eq!(
            (status, ct.as_str()),
            (StatusCode::BAD_REQUEST, "application/x-amz-json-1.1")
        );
        assert_eq!(body["__type"], "UnknownOperationException");
        let (status, _, body) = call(Some("Logs_20140328.DescribeLogGroups"), "{nope").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["__type"], "SerializationException");
        // Without a CloudWatch Logs target, `POST /` is still no Lambda operation.
        let (status, _, body) = call(None, "{}").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["Message"], "No Lambda operation matches POST /");
    }

    #[test]
    fn parses_stored_times() {
        assert_eq!(
            super::parse_time_ms("2019-10-01T16:47:28.490+0000"),
            Some(1_569_948_448_490)
        );
        assert_eq!(
            super::parse_time_ms("1970-01-01T00:00:00.000+0000"),
            Some(0)
        );
        assert_eq!(super::parse_time_ms("garbage"), None);
    }
}
