//! Step 1: the child's file descriptors. What it needs moves above the stdio range, stdio
//! and the extra fds are installed, and everything else inherited from the (multi-threaded)
//! parent is closed.

use std::os::fd::RawFd;

use super::report::at;
use crate::plan::ChildFds;
use crate::protocol::{Failure, Step};
use crate::spec::MAX_EXTRA_FDS;
use crate::sys::seam::ChildSys;

/// The lowest number of the child's private copies (above stdio and the extra fds 3..).
const HIGH: RawFd = 16;

/// The child's own descriptors after [`install`] (all close-on-exec).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fds {
    pub err_w: RawFd,
    pub sync: RawFd,
    pub status_w: RawFd,
    /// The extra fds are 3..3 + n_extra.
    pub n_extra: usize,
}

/// Installs stdio (`/dev/null`, the spec's stdout and stderr) and the extra fds, keeps
/// high copies of the error pipe, the sync socket and the status pipe, closes the rest.
pub(crate) fn install<S: ChildSys>(sys: &S, fds: &ChildFds) -> Result<Fds, Failure> {
    let high = |fd: RawFd| sys.dup_above(fd, HIGH).map_err(at(Step::Fds, 0));
    let err_w = high(fds.err_w)?;
    let sync = high(fds.sync)?;
    let status_w = high(fds.status_w)?;
    let out = high(fds.stdout)?;
    let errfd = high(fds.stderr)?;
    let n_extra = fds.n_extra.min(fds.extra.len());
    let mut extra = [-1; MAX_EXTRA_FDS];
    for (slot, fd) in extra.iter_mut().zip(&fds.extra).take(n_extra) {
        *slot = high(*fd)?;
    }
    let null = sys
        .open_read_write(c"/dev/null")
        .map_err(at(Step::Fds, 1))?;
    // Via a high copy, so that dup2 never targets its own source (which would keep
    // O_CLOEXEC on fd 0 if flint had no stdin).
    let null = high(null)?;
    sys.dup2(null, 0)
        .and_then(|()| sys.dup2(out, 1))
        .and_then(|()| sys.dup2(errfd, 2))
        .map_err(at(Step::Fds, 1))?;
    // Extra fds land on 3.. (below the high copies, so nothing we need is clobbered).
    for (i, fd) in extra.iter().take(n_extra).enumerate() {
        sys.dup2(*fd, 3 + i as RawFd).map_err(at(Step::Fds, 2))?;
    }
    let mut keep = [err_w, sync, status_w];
    keep.sort_unstable();
    let mut next: u32 = 3 + n_extra as u32;
    for k in keep {
        if (k as u32) > next {
            sys.close_range(next, k as u32 - 1);
        }
        next = k as u32 + 1;
    }
    sys.close_range(next, u32::MAX);
    Ok(Fds {
        err_w,
        sync,
        status_w,
        n_extra,
    })
}

/// Once the function runs: init keeps only the status pipe. The function has its own
/// copies of the extra fds; e.g. a telemetry pipe must see EOF when the function exits, not
/// when init does.
pub(crate) fn close_after_start<S: ChildSys>(sys: &S, fds: &Fds) {
    sys.close(fds.err_w);
    sys.close(fds.sync);
    for i in 0..fds.n_extra {
        sys.close(3 + i as RawFd);
    }
}
