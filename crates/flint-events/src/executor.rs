//! What runs an event: the [`Executor`] the server implements over its control plane and
//! invoker (and tests with fakes), and what it answers.

use crate::decide::{Outcome, Policy};
use crate::event::{LastAttempt, QueuedEvent};
use std::future::Future;
use std::pin::Pin;

/// A destination the executor recognises as a function of this server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFunction {
    pub name: String,
    pub qualifier: Option<String>,
}

/// What the queue needs to know about the target of one event.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub policy: Policy,
    pub on_success: Option<String>,
    pub on_failure: Option<String>,
    pub dead_letter: Option<String>,
    /// Reserved concurrency 0: every invocation is throttled, and the event
    /// goes to its failure destination without retries.
    pub reserved_zero: bool,
    /// The invoked ARN, qualified (`:$LATEST` when unqualified).
    pub function_arn: String,
}

/// The result of one attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub outcome: Outcome,
    /// Set when the function ran (successfully or not).
    pub last: Option<LastAttempt>,
}

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Why an executor could not read an event's settings. The queue only logs it and tries the
/// event again after a throttle delay, so an error of the executor's own domain will do
/// (`?` and `.into()` convert any `std::error::Error + Send + Sync`).
pub type ExecutorError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Runs events: implemented over the control plane and the invoker by the
/// server, and by fakes in tests.
pub trait Executor: Send + Sync + 'static {
    /// The current settings of the event's target; `Ok(None)` when the
    /// function (or the version or alias invoked) no longer exists.
    fn settings(&self, event: &QueuedEvent) -> BoxFuture<Result<Option<Settings>, ExecutorError>>;
    /// Runs the function once with the event.
    fn invoke(&self, event: &QueuedEvent) -> BoxFuture<Attempt>;
    /// `Some` when a destination ARN names a function of this server.
    fn local_function(&self, arn: &str) -> Option<LocalFunction>;
}
