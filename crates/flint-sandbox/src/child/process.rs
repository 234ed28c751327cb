//! Step 5: what is per process rather than per cgroup: resource limits, and init's name.

use super::report::at;
use crate::plan::ChildPlan;
use crate::protocol::{Failure, Step};
use crate::sys::seam::ChildSys;

/// What the function sees as init's command line and name.
const INIT_CMDLINE: &[u8] = b"init\0";

/// `RLIMIT_NOFILE` as planned and no core dumps, each capped at the hard limit.
pub(crate) fn set_limits<S: ChildSys>(sys: &S, p: &ChildPlan) -> Result<(), Failure> {
    for (resource, v) in [
        (libc::RLIMIT_NOFILE as libc::c_int, p.nofile),
        (libc::RLIMIT_CORE as libc::c_int, 0),
    ] {
        sys.set_rlimit(resource, v.min(sys.rlimit_max(resource)))
            .map_err(at(Step::Rlimit, resource as u32))?;
    }
    Ok(())
}

/// `/proc/1/cmdline` is world-readable and would show the argv of the process we were cloned
/// from (flint's, which may carry paths or options): overwrite that memory in our own
/// copy-on-write copy with "init" and NULs. (`PR_SET_MM` could move the pointers instead but
/// needs `CAP_SYS_RESOURCE`, which hosts may lack.)
pub(crate) fn disguise_as_init<S: ChildSys>(sys: &S, p: &ChildPlan) {
    if let Some((start, end)) = p.argv_area {
        // SAFETY: [start, end) is the command-line area of the process we were cloned from
        // (read from its /proc/self/stat), now our own copy-on-write copy; no Rust reference
        // points into it.
        unsafe { sys.overwrite_memory(start, end, INIT_CMDLINE) };
    }
    sys.set_name(c"init");
}
