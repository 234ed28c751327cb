//! Why an invocation could not run at all.

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
