//! The network namespace: joining a pooled one (step 0, `netns.rs`), then `lo` and the
//! Runtime API listener inside it (step 4).

use std::os::fd::RawFd;

use super::report::at;
use crate::plan::{ChildFds, ChildPlan};
use crate::protocol::{Failure, Step, ToParent};
use crate::sys::seam::ChildSys;

/// Joins the ready network namespace flint handed over, if any.
pub(crate) fn join_pooled_namespace<S: ChildSys>(sys: &S, fds: &ChildFds) -> Result<(), Failure> {
    if fds.netns >= 0 {
        sys.setns(fds.netns, libc::CLONE_NEWNET)
            .map_err(at(Step::JoinNetns, 0))?;
    }
    Ok(())
}

/// Brings `lo` up and, if asked, binds `127.0.0.1:<port>` in this namespace and sends the
/// listening socket to flint on `sync` (works rootless too, where flint could not `setns`
/// into the child's namespace).
pub(crate) fn set_up<S: ChildSys>(sys: &S, p: &ChildPlan, sync: RawFd) -> Result<(), Failure> {
    if p.lo_up {
        sys.loopback_up().map_err(at(Step::LoopbackUp, 0))?;
    }
    if let Some(port) = p.listen_port {
        let listener = sys.listen_loopback(port).map_err(at(Step::Listen, 0))?;
        sys.send_fd(sync, ToParent::Listener.byte(), listener)
            .map_err(at(Step::SendListener, 0))?;
        sys.close(listener);
    }
    Ok(())
}
