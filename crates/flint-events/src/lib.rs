//! Asynchronous invocation (`X-Amz-Invocation-Type: Event`).
//!
//! [`EventQueue`] is the durable queue of accepted events and the worker
//! that runs them through an [`Executor`] (the server's implementation
//! calls `flint_invoke::Invoker::invoke`), applying Lambda's retry,
//! backoff and expiry rules ([`decide`], pure functions over a [`Clock`]
//! tests can drive) and sending the invocation record ([`record`]) to the
//! configured destinations.

pub mod clock;
pub mod decide;
mod event;
mod executor;
mod queue;
pub mod record;

pub use clock::{Clock, ManualClock, SystemClock};
pub use event::{LastAttempt, QueuedEvent, Undelivered};
pub use executor::{Attempt, BoxFuture, Executor, ExecutorError, LocalFunction, Settings};
pub use queue::{EVENTS_NS, EventQueue, QueueStats, UNDELIVERED_NS};

use flint_store::StoreError;
use std::sync::Arc;

/// Failures of the queue's storage.
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    /// The store failed. Shared: one failed group commit fails every event it carried.
    #[error("event store: {0}")]
    Store(#[source] Arc<StoreError>),
    #[error("corrupt queued event {key}: {source}")]
    Corrupt {
        key: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("event store: starting the queue writer: {0}")]
    Writer(#[source] std::io::Error),
    #[error("the event queue is shut down")]
    Closed,
}

impl From<StoreError> for EventsError {
    fn from(e: StoreError) -> Self {
        EventsError::Store(Arc::new(e))
    }
}

#[cfg(test)]
mod tests;
