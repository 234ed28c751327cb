//! The invocation router.
//!
//! [`Invoker::invoke`] runs one synchronous invocation of a resolved
//! function version: it takes an idle, warm execution environment of that
//! exact configuration or starts a new one (extracting the code once per
//! package, spawning a sandbox, serving its Runtime API, waiting for init),
//! hands the event to the runtime, and turns what happens — a response, a
//! function error, a timeout, a crash, an out-of-memory kill — into Lambda's
//! answer and Lambda's log lines. Environments are frozen between
//! invocations, reused while warm, reset after a failure, and reaped when
//! idle or when their function changes.

pub mod admission;
mod code;
mod environment;
mod logs;
mod outcome;
mod pool;
mod prewarm;
mod provisioned;

pub use logs::{LogRecord, LogStore};
pub use outcome::InvokeOutput;
pub use pool::{EnvironmentsView, InvokeRequest, Invoker, InvokerSettings, StreamPart};
pub use provisioned::{ProvisionSpec, ProvisionedStatus};

use flint_types::ApiError;

/// Why an invocation could not run at all (as opposed to a function error,
/// which is a successful invocation with an error body).
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("the runtime {runtime} cannot run on this host: {reason}")]
    Runtime { runtime: String, reason: String },
    #[error("preparing the function's code: {0}")]
    Code(String),
    #[error("starting an execution environment: {0}")]
    Sandbox(#[from] flint_sandbox::SandboxError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("execution environments are unavailable: {0}")]
    Unavailable(String),
    #[error("Rate Exceeded.")]
    Throttled { reason: &'static str },
}

impl InvokeError {
    /// The AWS error the caller receives.
    pub fn to_api(&self) -> ApiError {
        match self {
            InvokeError::Runtime { .. } => ApiError::InvalidRuntime(self.to_string()),
            InvokeError::Throttled { reason } => ApiError::TooManyRequests {
                reason,
                message: "Rate Exceeded.".into(),
            },
            other => ApiError::Service(other.to_string()),
        }
    }
}
