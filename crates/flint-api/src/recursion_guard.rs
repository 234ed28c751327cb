//! Recursive loop detection on the invoke API (synchronous `Invoke`, queued `Event`s,
//! `InvokeWithResponseStream`): the caller's `X-Amzn-Trace-Id` says how many times this
//! function already ran in the chain (`flint_invoke::recursion`); past the loop limit the
//! invocation is stopped unless the function's recursion config is `Allow`; otherwise it runs
//! with a trace header whose lineage counts it. A function URL request carries no lineage
//! (Lambda's detection does not cover HTTP callers), so it starts a chain of its own.

use crate::blocking::on_blocking_pool;
use crate::dispatch::DispatchError;
use flint_control::{ControlPlane, ResolvedFunction};
use flint_invoke::recursion::{self, Lineage};
use std::sync::Arc;

/// The trace header `resolved` runs with after a call that carried `caller`, or
/// [`DispatchError::RecursiveLoop`] when the chain must stop here. Reads the store only for a
/// chain at the limit: the warm path does no I/O.
pub(crate) async fn continue_lineage(
    control: &Arc<ControlPlane>,
    resolved: &ResolvedFunction,
    caller: Option<&str>,
) -> Result<String, DispatchError> {
    let name = &resolved.config.function_name;
    let key = recursion::function_key(&control.resources().function_arn(name));
    let lineage = Lineage::of_header(caller);
    if lineage.exceeded_by(&key) {
        let owned = name.clone();
        let allowed = on_blocking_pool(control, move |c| c.recursive_loops_allowed(&owned))
            .await
            .map_err(DispatchError::ResolveAborted)?
            .map_err(DispatchError::Resolve)?;
        if !allowed {
            tracing::warn!(
                function = %name,
                invocations = lineage.count(&key),
                "stopped a recursive loop (RecursiveLoop is Terminate)"
            );
            return Err(DispatchError::RecursiveLoop(name.clone()));
        }
    }
    Ok(recursion::with_lineage(
        caller.unwrap_or_default(),
        &lineage.after(&key),
    ))
}
