//! Step 7: dropping every privilege, then the seccomp filters.

use super::report::at;
use crate::plan::ChildPlan;
use crate::protocol::{Failure, Step};
use crate::sys::seam::ChildSys;

/// Drops every privilege of the calling task, then installs the seccomp filters. Every call
/// is per task, so it is also sound in a `CLONE_VM` child (a pre-started runtime locks
/// itself down this way).
pub(crate) fn lock_down<S: ChildSys>(sys: &S, p: &ChildPlan) -> Result<(), Failure> {
    drop_privileges(sys, p)?;
    install_seccomp(sys, p)
}

/// Capability bounding set (needs `CAP_SETPCAP`, so first), ambient set, groups, gid, uid
/// (which clears permitted/effective), inheritable via `capset`; then `no_new_privs`.
fn drop_privileges<S: ChildSys>(sys: &S, p: &ChildPlan) -> Result<(), Failure> {
    for cap in 0..=p.cap_last_cap {
        match sys.drop_bounding_capability(cap) {
            // EINVAL: the kernel does not know this capability (cap_last_cap is a guess).
            Err(e) if e.0 != libc::EINVAL => {
                return Err(Failure::new(Step::DropBounding, cap, e.0));
            }
            _ => {}
        }
    }
    sys.clear_ambient_capabilities();
    if p.set_groups {
        sys.clear_groups().map_err(at(Step::SetGroups, 0))?;
    }
    sys.set_gid(p.gid).map_err(at(Step::SetGid, 0))?;
    sys.set_uid(p.uid).map_err(at(Step::SetUid, 0))?;
    sys.clear_capabilities().map_err(at(Step::ClearCaps, 0))?;
    // The uid change cleared the parent-death signal (commit_creds does that); set it again.
    let _ = sys.set_parent_death_signal(libc::SIGKILL);
    sys.set_no_new_privs().map_err(at(Step::NoNewPrivs, 0))
}

/// The compiled policy (`seccomp.rs`), in its order: the deny-list, then `clone3` → ENOSYS.
fn install_seccomp<S: ChildSys>(sys: &S, p: &ChildPlan) -> Result<(), Failure> {
    for (i, filter) in p.filters.iter().enumerate() {
        sys.install_seccomp(filter)
            .map_err(at(Step::Seccomp, i as u32))?;
    }
    Ok(())
}
