//! One asynchronous invocation as the queue stores it, and what is kept of one that could
//! not be delivered.

use serde::{Deserialize, Serialize};

/// How the last attempt of an event ended (for the invocation record).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastAttempt {
    pub status_code: u16,
    pub executed_version: Option<String>,
    pub function_error: bool,
    pub response: Option<String>,
}

/// One asynchronous invocation waiting in the queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuedEvent {
    /// The request id the caller received (and the function sees).
    pub id: String,
    pub function: String,
    /// The qualifier as invoked (`None` = unqualified).
    pub qualifier: Option<String>,
    /// The event, JSON text.
    pub payload: String,
    pub enqueued_ms: u64,
    pub due_ms: u64,
    /// Attempts that reached the function (`approximateInvokeCount`).
    pub invokes: u32,
    pub function_errors: u32,
    pub throttles: u32,
    pub last: Option<LastAttempt>,
    /// The caller's `X-Amzn-Trace-Id` (its recursion lineage travels with the event; events
    /// queued before it was kept have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_header: Option<String>,
}

impl QueuedEvent {
    pub fn new(
        id: String,
        function: String,
        qualifier: Option<String>,
        payload: String,
        now_ms: u64,
    ) -> Self {
        Self {
            id,
            function,
            qualifier,
            payload,
            enqueued_ms: now_ms,
            due_ms: now_ms,
            invokes: 0,
            function_errors: 0,
            throttles: 0,
            last: None,
            trace_header: None,
        }
    }
}

/// A record kept because its target is not something flint can deliver to
/// (an SQS queue, SNS topic, EventBridge bus or S3 bucket; a function that
/// no longer exists).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Undelivered {
    pub time_ms: u64,
    pub request_id: String,
    /// The function whose event this was.
    pub function: String,
    /// `OnSuccess`, `OnFailure`, `DeadLetter` or `FunctionNotFound`.
    pub kind: String,
    /// The ARN it was meant for, if any.
    pub target: Option<String>,
    /// The invocation record (destinations) or the original event (DLQ).
    pub payload: serde_json::Value,
}
