//! The hand-over of concurrency settings from the control plane to the invoker: at start-up
//! (every stored setting) and after each change the API makes.

use crate::state::{AppState, blocking};
use flint_control::{ControlPlane, ProvisionedEntry};
use flint_invoke::{Invoker, ProvisionSpec};
use flint_types::{ApiError, FunctionRef, Qualifier};

/// Resolves a stored configuration to the version it keeps ready.
pub(crate) fn spec_for(
    control: &ControlPlane,
    entry: &ProvisionedEntry,
) -> flint_control::Result<ProvisionSpec> {
    let fref = FunctionRef {
        name: entry.function.clone(),
        qualifier: Some(Qualifier::parse(&entry.qualifier)?),
    };
    let resolved = control.resolve(&fref)?;
    let code_path = control
        .code_path(&resolved.code_blob)
        .ok_or_else(|| ApiError::Service("the function's code is not on local disk".into()))?;
    let layers = crate::dispatch::layer_code(control, &resolved.layer_blobs)
        .ok_or_else(|| ApiError::Service("a layer's code is not on local disk".into()))?;
    Ok(ProvisionSpec {
        config: resolved.config,
        code_blob: resolved.code_blob,
        code_path,
        layers,
        arn: entry.arn.clone(),
        requested: entry.requested,
    })
}

/// Hands every stored reserved and provisioned concurrency setting to the
/// invoker (at start-up: provisioned environments are re-created from the
/// stored configuration). Returns how many configurations were provisioned.
pub fn restore_concurrency(
    control: &ControlPlane,
    invoker: &Invoker,
) -> flint_control::Result<usize> {
    for (name, reserved) in control.all_reserved_concurrency()? {
        invoker.set_reserved_concurrency(&name, u32::try_from(reserved).ok());
    }
    let entries = control.all_provisioned_concurrency()?;
    let n = entries.len();
    for entry in entries {
        match spec_for(control, &entry) {
            Ok(spec) => invoker.provision(&entry.qualifier, spec),
            Err(e) => {
                tracing::warn!(function = entry.function, qualifier = entry.qualifier, error = %e, "cannot restore provisioned concurrency")
            }
        }
    }
    Ok(n)
}

/// Re-provisions one alias or version from the store if it has a
/// configuration (its alias moved to another version, say).
pub(crate) async fn reprovision(s: &AppState, function: &str, qualifier: &str) {
    let Ok(invoker) = &s.invoker else { return };
    let fref = FunctionRef {
        name: function.to_string(),
        qualifier: Qualifier::parse(qualifier).ok(),
    };
    let found = blocking(s, move |c| {
        let entry = c.get_provisioned_concurrency(&fref)?;
        spec_for(c, &entry).map(|spec| (entry.qualifier, spec))
    })
    .await;
    if let Ok((qualifier, spec)) = found {
        invoker.provision(&qualifier, spec);
    }
}

/// Tells the invoker a function's reserved concurrency changed.
pub(crate) fn reserved_changed(s: &AppState, function: &str, reserved: Option<i64>) {
    if let Ok(invoker) = &s.invoker {
        invoker.set_reserved_concurrency(function, reserved.and_then(|n| u32::try_from(n).ok()));
    }
}

/// Drops the provisioned environments of one version or alias.
pub(crate) async fn unprovisioned(s: &AppState, function: &str, qualifier: &str) {
    if let Ok(invoker) = &s.invoker {
        invoker.unprovision(function, qualifier).await;
    }
}
