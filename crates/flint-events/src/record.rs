//! Lambda's invocation record: what a destination receives when an
//! asynchronous invocation ends.

use crate::decide::Condition;
use crate::event::QueuedEvent;
use serde_json::{Value, json};

/// `2019-11-14T18:16:05.568Z`
pub fn timestamp(ms: u64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    at.format(&fmt).unwrap_or_default()
}

/// A payload as the record shows it: parsed JSON, or the raw text when it
/// is not JSON.
fn as_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// The record of `event`, ending with `condition` at `now_ms`.
/// `function_arn` is the invoked function's ARN, always qualified.
pub fn invocation_record(
    event: &QueuedEvent,
    function_arn: &str,
    condition: Condition,
    now_ms: u64,
) -> Value {
    let mut record = json!({
        "version": "1.0",
        "timestamp": timestamp(now_ms),
        "requestContext": {
            "requestId": event.id,
            "functionArn": function_arn,
            "condition": condition.as_str(),
            "approximateInvokeCount": event.invokes,
        },
        "requestPayload": as_json(&event.payload),
    });
    if let Some(last) = &event.last {
        let mut ctx = json!({ "statusCode": last.status_code });
        if let Some(v) = &last.executed_version {
            ctx["executedVersion"] = Value::from(v.as_str());
        }
        if last.function_error {
            ctx["functionError"] = Value::from("Unhandled");
        }
        record["responseContext"] = ctx;
        if let Some(body) = &last.response {
            record["responsePayload"] = as_json(body);
        }
    }
    record
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::LastAttempt;

    #[test]
    fn record_has_lambdas_shape() {
        let mut ev = QueuedEvent::new("req-1".into(), "f".into(), None, r#"{"a":1}"#.into(), 0);
        ev.invokes = 3;
        ev.last = Some(LastAttempt {
            status_code: 200,
            executed_version: Some("$LATEST".into()),
            function_error: true,
            response: Some(r#"{"errorType":"ValueError","errorMessage":"boom"}"#.into()),
        });
        let r = invocation_record(
            &ev,
            "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST",
            Condition::RetriesExhausted,
            1_573_755_365_568,
        );
        assert_eq!(
            r,
            json!({
                "version": "1.0",
                "timestamp": "2019-11-14T18:16:05.568Z",
                "requestContext": {
                    "requestId": "req-1",
                    "functionArn": "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST",
                    "condition": "RetriesExhausted",
                    "approximateInvokeCount": 3
                },
                "requestPayload": {"a": 1},
                "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
                "responsePayload": {"errorType": "ValueError", "errorMessage": "boom"}
            })
        );
    }

    #[test]
    fn success_records_omit_function_error() {
        let mut ev = QueuedEvent::new("r".into(), "f".into(), None, "{}".into(), 0);
        ev.invokes = 1;
        ev.last = Some(LastAttempt {
            status_code: 200,
            executed_version: Some("1".into()),
            function_error: false,
            response: Some("\"ok\"".into()),
        });
        let r = invocation_record(&ev, "arn:f:1", Condition::Success, 0);
        assert!(r["responseContext"].get("functionError").is_none());
        assert_eq!(r["responsePayload"], "ok");
    }
}
