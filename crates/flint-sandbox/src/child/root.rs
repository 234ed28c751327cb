//! Step 3: the sandbox's root (see `rootfs.rs` for the mounts and their order).

use super::report::at;
use crate::plan::ChildPlan;
use crate::protocol::{Failure, Step};
use crate::sys::seam::ChildSys;

/// Mounts the plan's file systems, switches into the skeleton, makes `/` read-only and sets
/// the hostname.
pub(crate) fn assemble<S: ChildSys>(sys: &S, p: &ChildPlan) -> Result<(), Failure> {
    for (i, m) in p.mounts.iter().enumerate() {
        sys.mount(
            m.src.as_deref(),
            &m.target,
            m.fstype.as_deref(),
            m.flags,
            m.data.as_deref(),
        )
        .map_err(at(Step::Mount, i as u32))?;
    }
    // pivot_root(".", ".") stacks the old root on top of the new one; detaching "." then
    // removes the old root without needing a put_old directory (runc's trick).
    sys.chdir(&p.root)
        .and_then(|()| sys.pivot_root(c".", c"."))
        .and_then(|()| sys.umount_detach(c"."))
        .and_then(|()| sys.chdir(c"/"))
        .map_err(at(Step::Pivot, 0))?;
    sys.mount(None, c"/", None, p.root_remount_flags, None)
        .map_err(at(Step::RemountRoot, 0))?;
    sys.sethostname(&p.hostname).map_err(at(Step::Hostname, 0))
}
