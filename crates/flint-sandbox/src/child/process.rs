//! Step 5: what is per process rather than per cgroup: resource limits, and init's name.

use super::report::at;
use crate::plan::ChildPlan;
use crate::protocol::{Failure, Step};
use crate::sys::seam::ChildSys;

/// What the function sees as init's command line and name.
const INIT_CMDLINE: &[u8] = b"init\0";

/// "Unlimited" for `setrlimit`.
const INFINITY: u64 = libc::RLIM_INFINITY;

/// `RLIMIT_NPROC` on Lambda: the processes (and threads) of the sandbox's user.
const LAMBDA_NPROC: u64 = 742;

/// The resource limits Lambda's environments have (resource, soft, hard), as AWS reported
/// them (`ulimit`: open files as planned (Lambda: 1024), core 10 GiB, memlock 64 KiB, stack
/// 8 MiB soft, the rest unlimited). `RLIMIT_NPROC` counts every process of the user, not of
/// the sandbox: it is Lambda's 742 only when the sandbox has a user namespace of its own
/// (where the count is the sandbox's); otherwise all environments share uid 993, 742 would
/// be a limit for all of them together, and it is left as flint's (the pids cgroup is the
/// per-environment limit).
pub(crate) fn lambda_limits(p: &ChildPlan) -> impl Iterator<Item = (libc::c_int, u64, u64)> {
    let nproc = p.wait_userns.then_some((
        libc::RLIMIT_NPROC as libc::c_int,
        LAMBDA_NPROC,
        LAMBDA_NPROC,
    ));
    [
        (libc::RLIMIT_NOFILE as libc::c_int, p.nofile, p.nofile),
        (libc::RLIMIT_CORE as libc::c_int, 10 << 30, 10 << 30),
        (libc::RLIMIT_MEMLOCK as libc::c_int, 64 << 10, 64 << 10),
        (libc::RLIMIT_STACK as libc::c_int, 8 << 20, INFINITY),
        (libc::RLIMIT_AS as libc::c_int, INFINITY, INFINITY),
        (libc::RLIMIT_CPU as libc::c_int, INFINITY, INFINITY),
        (libc::RLIMIT_DATA as libc::c_int, INFINITY, INFINITY),
        (libc::RLIMIT_FSIZE as libc::c_int, INFINITY, INFINITY),
        (libc::RLIMIT_RSS as libc::c_int, INFINITY, INFINITY),
    ]
    .into_iter()
    .chain(nproc)
}

/// Lambda's limits ([`lambda_limits`]), each capped at the hard limit flint has (raising one
/// would need privileges a rootless flint lacks).
pub(crate) fn set_limits<S: ChildSys>(sys: &S, p: &ChildPlan) -> Result<(), Failure> {
    for (resource, soft, hard) in lambda_limits(p) {
        let max = sys.rlimit_max(resource);
        let hard = hard.min(max);
        sys.set_rlimit(resource, soft.min(hard), hard)
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
