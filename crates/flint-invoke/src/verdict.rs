//! The verdict: how an invocation (or the init it needed) ended, turned into Lambda's
//! answer — the caller's body and `X-Amz-Function-Error`, the REPORT line's `Status` and
//! `Error Type`, and whether the environment may serve another invocation.
//!
//! Every platform error body is built here, each in one place: `Sandbox.Timedout` ("Task
//! timed out after …"), `Runtime.ExitError` / `Runtime.OutOfMemory`,
//! `Runtime.InvalidEntrypoint`, and the Runtime API's own (`Function.ResponseSizeTooLarge`,
//! `Runtime.TruncatedResponse`, ...).

use crate::environment::RunState;
use crate::launch::{InitFailure, InvalidEntrypoint};
use crate::logs::{self, Report, ReportedFailure, Status};
use crate::request::InvokeOutput;
use bytes::Bytes;
use flint_runtime_api::{InvokeOutcome, StreamError, StreamingResponse};
use serde_json::json;
use std::time::Duration;

/// How an invocation ended, once a streamed response was read to its end
/// (`streaming.rs`): the facts a verdict is made of.
#[derive(Debug)]
pub(crate) enum Ending {
    /// The runtime's response, whole (a streamed one is collected, or was forwarded and
    /// `body` is empty).
    Response {
        body: Bytes,
        content_type: Option<String>,
    },
    /// The runtime posted `/error`; `body` goes to the caller verbatim.
    FunctionError { error_type: String, body: Bytes },
    /// A streamed response ended with the error trailers (`body` may be empty).
    MidStreamError { error_type: String, body: Bytes },
    /// The response broke the Runtime API's rules (too large, truncated, a bad response
    /// mode): runtimes may exit after them (awslambdaric does after a 413), so the
    /// environment is reset rather than trusted again.
    InvalidResponse {
        error_type: &'static str,
        message: String,
    },
    /// The function's timeout passed.
    TimedOut,
    /// The runtime process died: how (`exit status 1`, `signal: killed`, or empty), and
    /// whether the kernel killed it for its memory.
    Exited { how: String, oom: bool },
}

/// How a run ended, or the streamed response it is still sending.
#[derive(Debug)]
pub(crate) enum RunEnd {
    Ended(Ending),
    /// The runtime is streaming its response: the run ends when the stream does.
    Streaming(StreamingResponse),
}

impl Ending {
    /// How a run ended, unless its response is still streaming.
    pub fn of_run(state: RunState) -> RunEnd {
        RunEnd::Ended(match state {
            RunState::Finished(InvokeOutcome::Response { body, content_type }) => {
                Ending::Response { body, content_type }
            }
            RunState::Finished(InvokeOutcome::FunctionError {
                error_type, body, ..
            }) => Ending::FunctionError { error_type, body },
            RunState::Finished(InvokeOutcome::Streaming(stream)) => {
                return RunEnd::Streaming(stream);
            }
            RunState::Finished(other) => {
                let (error_type, message) = other
                    .platform_error()
                    .unwrap_or(("Runtime.Unknown", "Unknown error".into()));
                Ending::InvalidResponse {
                    error_type,
                    message,
                }
            }
            RunState::TimedOut => Ending::TimedOut,
            RunState::Exited { how, oom } => Ending::Exited { how, oom },
        })
    }

    /// The ending of a streamed response that broke off.
    pub fn of_stream_error(e: StreamError) -> Self {
        match e {
            StreamError::Function { error_type, body } => {
                Ending::MidStreamError { error_type, body }
            }
            StreamError::TooLarge { limit } => Ending::InvalidResponse {
                error_type: "Function.ResponseSizeTooLarge",
                message: format!(
                    "Response payload size exceeded maximum allowed payload size ({limit} bytes)."
                ),
            },
            StreamError::Truncated => Ending::InvalidResponse {
                error_type: "Runtime.TruncatedResponse",
                message: "The runtime's streamed response was cut off".into(),
            },
        }
    }
}

/// The kinds of failure Lambda tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailureKind {
    /// The function reported an error (`/error`, or a mid-stream error trailer).
    Function,
    /// The function's timeout passed (`Sandbox.Timedout`).
    Timeout,
    /// The runtime exited (`Runtime.ExitError`), while running or during init.
    ExitError,
    /// The runtime was killed for using more than its memory size (`Runtime.OutOfMemory`).
    OutOfMemory,
    /// The runtime's response broke the Runtime API's rules.
    InvalidResponse,
    /// The runtime reported an init error (`/init/error`).
    InitError,
    /// Init did not finish within its limit (`Sandbox.Timedout`).
    InitTimeout,
    /// The bootstrap or the exec wrapper cannot be executed (`Runtime.InvalidEntrypoint`).
    InvalidEntrypoint,
}

impl FailureKind {
    /// Only a function's own error leaves the environment as it was; timeouts, crashes and
    /// broken responses reset it.
    pub fn keeps_environment(self) -> bool {
        self == FailureKind::Function
    }

    fn status(self) -> Status {
        match self {
            FailureKind::Timeout | FailureKind::InitTimeout => Status::Timeout,
            _ => Status::Error,
        }
    }

    /// REPORT names the error type of every failure but an invocation's timeout (a timed
    /// out init names `Sandbox.Timedout`).
    fn reports_error_type(self) -> bool {
        self != FailureKind::Timeout
    }
}

/// A failed invocation: what the caller gets with `X-Amz-Function-Error: Unhandled`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Failure {
    pub kind: FailureKind,
    pub error_type: String,
    pub body: Bytes,
}

impl Failure {
    /// A failure the platform reports, with Lambda's `{"errorType","errorMessage"}` body.
    fn platform(kind: FailureKind, error_type: &str, message: &str) -> Self {
        Self {
            kind,
            error_type: error_type.to_string(),
            body: platform_error_body(error_type, message),
        }
    }

    /// `Sandbox.Timedout` after `limit`.
    fn timed_out(kind: FailureKind, request_id: &str, limit: Duration) -> Self {
        let message = format!(
            "RequestId: {request_id} Error: Task timed out after {:.2} seconds",
            limit.as_secs_f64()
        );
        Self::platform(kind, "Sandbox.Timedout", &message)
    }

    /// The runtime died (`how` is empty when the kernel gave no reason).
    fn exited(request_id: &str, how: &str, oom: bool) -> Self {
        if oom {
            let message =
                format!("RequestId: {request_id} Error: Runtime exited with error: signal: killed");
            return Self::platform(FailureKind::OutOfMemory, "Runtime.OutOfMemory", &message);
        }
        let message = if how.is_empty() {
            format!("RequestId: {request_id} Error: Runtime exited without providing a reason")
        } else {
            format!("RequestId: {request_id} Error: Runtime exited with error: {how}")
        };
        Self::platform(FailureKind::ExitError, "Runtime.ExitError", &message)
    }

    /// What Lambda reports when exec of the entrypoint fails.
    fn invalid_entrypoint(request_id: &str, why: &InvalidEntrypoint) -> Self {
        let message = match why {
            InvalidEntrypoint::NoBootstrap => {
                "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]".into()
            }
            InvalidEntrypoint::CannotExec { path, why } => {
                format!("RequestId: {request_id} Error: fork/exec {path}: {why}")
            }
        };
        Self::platform(
            FailureKind::InvalidEntrypoint,
            "Runtime.InvalidEntrypoint",
            &message,
        )
    }
}

/// The body of an error the platform itself reports (timeout, crash, ...).
fn platform_error_body(error_type: &str, message: &str) -> Bytes {
    Bytes::from(
        serde_json::to_vec(&json!({"errorType": error_type, "errorMessage": message}))
            .expect("error bodies serialize"),
    )
}

/// What was measured of one invocation, for its REPORT line.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Measured {
    pub duration: Duration,
    pub memory_size_mb: i64,
    pub max_memory_used_mb: u64,
    /// The environment's init, on its first invocation.
    pub init_duration: Option<Duration>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// What an invocation's end means for the caller, the REPORT line and the environment.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict {
    Success {
        body: Bytes,
        content_type: Option<String>,
    },
    Failure(Failure),
}

impl Verdict {
    /// The verdict on an invocation that ran for at most `timeout`.
    pub fn of(ending: Ending, request_id: &str, timeout: Duration) -> Self {
        let failure = match ending {
            Ending::Response { body, content_type } => {
                return Verdict::Success { body, content_type };
            }
            Ending::FunctionError { error_type, body } => Failure {
                kind: FailureKind::Function,
                error_type,
                body,
            },
            Ending::MidStreamError { error_type, body } => {
                let body = if body.is_empty() {
                    platform_error_body(&error_type, "The function reported an error mid-stream")
                } else {
                    body
                };
                Failure {
                    kind: FailureKind::Function,
                    error_type,
                    body,
                }
            }
            Ending::InvalidResponse {
                error_type,
                message,
            } => Failure::platform(FailureKind::InvalidResponse, error_type, &message),
            Ending::TimedOut => Failure::timed_out(FailureKind::Timeout, request_id, timeout),
            Ending::Exited { how, oom } => Failure::exited(request_id, &how, oom),
        };
        Verdict::Failure(failure)
    }

    /// The verdict on an invocation whose environment's init failed.
    pub fn of_init(failure: InitFailure, request_id: &str) -> Self {
        Verdict::Failure(match failure {
            InitFailure::InvalidEntrypoint(why) => Failure::invalid_entrypoint(request_id, &why),
            InitFailure::Reported { error_type, body } => Failure {
                kind: FailureKind::InitError,
                error_type,
                body,
            },
            InitFailure::Exited { how } => Failure::exited(request_id, &how, false),
            InitFailure::TimedOut { limit } => {
                Failure::timed_out(FailureKind::InitTimeout, request_id, limit)
            }
        })
    }

    /// Whether the environment may serve another invocation.
    pub fn keeps_environment(&self) -> bool {
        match self {
            Verdict::Success { .. } => true,
            Verdict::Failure(f) => f.kind.keeps_environment(),
        }
    }

    /// The invocation's REPORT line.
    pub fn report_line(&self, request_id: &str, measured: &Measured) -> String {
        let failure = match self {
            Verdict::Success { .. } => None,
            Verdict::Failure(f) => Some(ReportedFailure {
                status: f.kind.status(),
                error_type: f.kind.reports_error_type().then_some(f.error_type.as_str()),
            }),
        };
        logs::report_line(&Report {
            request_id,
            duration_ms: ms(measured.duration),
            memory_size_mb: measured.memory_size_mb,
            max_memory_used_mb: measured.max_memory_used_mb,
            init_duration_ms: measured.init_duration.map(ms),
            failure,
        })
    }

    /// The caller's answer.
    pub fn into_output(self, executed_version: String, log_result: Option<String>) -> InvokeOutput {
        let (body, function_error, content_type) = match self {
            Verdict::Success { body, content_type } => (body, false, content_type),
            Verdict::Failure(f) => (f.body, true, None),
        };
        InvokeOutput {
            body,
            function_error,
            executed_version,
            log_result,
            content_type,
        }
    }
}

#[cfg(test)]
mod tests;
