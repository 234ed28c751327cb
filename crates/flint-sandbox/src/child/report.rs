//! How the child tells flint that a step failed: one error record on the error pipe, then
//! `_exit(127)` (see `protocol.rs`).

use std::os::fd::RawFd;

use crate::protocol::{Failure, Step};
use crate::sys::seam::{ChildSys, Errno};

/// Maps the errno of a failed call to the record of `step`/`index`.
pub(crate) fn at(step: Step, index: u32) -> impl Fn(Errno) -> Failure {
    move |e| Failure::new(step, index, e.0)
}

/// Reports `failure` on `err_fd` and exits. Async-signal-safe.
pub(crate) fn fail<S: ChildSys>(sys: &S, err_fd: RawFd, failure: Failure) -> ! {
    let _ = sys.write(err_fd, &failure.encode());
    sys.exit(127)
}
