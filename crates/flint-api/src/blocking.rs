//! Control-plane calls off the async workers.

use flint_control::ControlPlane;
use std::sync::Arc;
use tokio::task::JoinError;

/// Runs `f` on the blocking pool: the control plane does SQLite and file I/O and must not
/// stall the async workers. `Err` only when the task itself failed (it panicked).
pub(crate) async fn on_blocking_pool<T, F>(
    control: &Arc<ControlPlane>,
    f: F,
) -> Result<T, JoinError>
where
    T: Send + 'static,
    F: FnOnce(&ControlPlane) -> T + Send + 'static,
{
    let control = control.clone();
    tokio::task::spawn_blocking(move || f(&control)).await
}
