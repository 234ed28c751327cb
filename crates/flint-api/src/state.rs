//! The state every API handler shares, and its ways into the control plane and the invoker.

use crate::blocking::on_blocking_pool;
use crate::dispatch::{DispatchError, Dispatcher, HostCannotRun, host_invoker};
use crate::error::ApiResponseError;
use axum::response::Response;
use flint_control::ControlPlane;
use flint_events::EventQueue;
use flint_invoke::Invoker;
use flint_types::ApiError;
use std::sync::Arc;

/// Shared state of the API handlers.
#[derive(Clone)]
pub struct AppState {
    pub control: Arc<ControlPlane>,
    /// `Err` says why functions cannot run on this host (flint still serves
    /// the control plane, and every invoke gets that reason).
    pub invoker: Result<Arc<Invoker>, HostCannotRun>,
    /// The asynchronous-invocation queue (`None`: Event invocations are refused).
    pub events: Option<Arc<EventQueue>>,
    /// Set when the server runs on a manual clock that `/_flint/clock` moves.
    pub test_clock: Option<Arc<flint_events::ManualClock>>,
}

/// What a handler answers.
pub(crate) type ApiResult = Result<Response, ApiResponseError>;

impl AppState {
    /// The invocation dispatch over this server's control plane and invoker.
    pub(crate) fn dispatcher(&self) -> Dispatcher {
        Dispatcher::new(self.control.clone(), self.invoker.clone())
    }

    /// The invoker, or the refusal on a host that cannot run functions.
    pub(crate) fn host_invoker(&self) -> Result<&Arc<Invoker>, DispatchError> {
        host_invoker(&self.invoker)
    }

    /// The asynchronous-invocation queue, or the refusal when it is off.
    pub(crate) fn queue(&self) -> Result<&Arc<EventQueue>, ApiResponseError> {
        self.events.as_ref().ok_or_else(|| {
            ApiError::Service("asynchronous invocation is not enabled on this server".into()).into()
        })
    }
}

/// Runs a control-plane operation on the blocking pool: it does SQLite and
/// file I/O and must not stall the async workers.
pub(crate) async fn blocking<T, F>(state: &AppState, f: F) -> Result<T, ApiResponseError>
where
    T: Send + 'static,
    F: FnOnce(&ControlPlane) -> flint_control::Result<T> + Send + 'static,
{
    on_blocking_pool(&state.control, f)
        .await
        .map_err(|e| ApiResponseError(ApiError::Service(format!("operation failed: {e}"))))?
        .map_err(ApiResponseError::from)
}
