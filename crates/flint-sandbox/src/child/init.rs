//! What init does once the function runs: forward signals to it, reap every zombie, and exit
//! with it.

use std::os::fd::RawFd;

use libc::{c_int, pid_t};

use crate::protocol::encode_wait_status;
use crate::sys::seam::ChildSys;

/// pid 1's loop; exits with the function (after reporting its wait status on `status_w`).
pub(crate) fn run<S: ChildSys>(sys: &S, function: pid_t, status_w: RawFd) -> ! {
    loop {
        if let Some(code) = on_signal(sys, function, status_w, sys.wait_signal()) {
            sys.exit(code)
        }
    }
}

/// Handles one signal: any but `SIGCHLD` is forwarded to the function (so `SIGTERM` at
/// shutdown reaches a runtime that has no handler: a pid-1 runtime would ignore it);
/// `SIGCHLD` reaps every exited process (zombies would otherwise pile up to `pids.max`).
/// Returns init's exit code once the function itself ended, after writing its status.
pub(crate) fn on_signal<S: ChildSys>(
    sys: &S,
    function: pid_t,
    status_w: RawFd,
    sig: Option<c_int>,
) -> Option<c_int> {
    let sig = sig?;
    if sig != libc::SIGCHLD {
        sys.kill(function, sig);
        return None;
    }
    while let Some((pid, status)) = sys.reap() {
        if pid == function {
            let _ = sys.write(status_w, &encode_wait_status(status));
            return Some(if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                128 + libc::WTERMSIG(status)
            });
        }
    }
    None
}
