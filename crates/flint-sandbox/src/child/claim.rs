//! Step 6 of a pre-spawned environment: wait, unspecialised, until flint claims it for a
//! function (see `prespawn.rs`). The claim brings the function's code as detached mounts,
//! attached here while init still has the privileges to mount, and what to execute. With a
//! pre-started runtime, that runtime is started (unprivileged) right after "go", and the
//! claim only hands it the function's cwd and environment.

use std::ffi::CStr;
use std::os::fd::RawFd;
use std::ptr;

use libc::{c_char, pid_t};

use super::function;
use super::report::at;
use crate::plan::{ChildPlan, ExecArgs};
use crate::protocol::{Failure, PRESTART_READY, Step, ToParent};
use crate::specialization::{self, SPEC_BUF, SPEC_MOUNTS, SPEC_PTRS};
use crate::sys::seam::{ChildSys, Errno};

/// What init does once it may start the function.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Work {
    /// Start a function process with these arguments.
    Start(ExecArgs),
    /// Hand the function's cwd and environment to the pre-started `runtime` over `sock`.
    HandOver {
        runtime: pid_t,
        sock: RawFd,
        exec: ExecArgs,
    },
}

/// Why a pre-spawned environment will not run a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Abort {
    /// A step failed (reported to flint).
    Failed(Failure),
    /// The pre-started runtime died (or broke its protocol) before the claim: init leaves
    /// quietly and flint discards the environment.
    RuntimeGone,
}

/// Where the claim's message is received. In the caller's frame: the exec arguments point
/// into it until the exec.
pub(crate) struct ClaimBuffers {
    msg: [u8; SPEC_BUF],
    ptrs: [*const c_char; SPEC_PTRS],
}

impl ClaimBuffers {
    pub(crate) fn new() -> Self {
        Self {
            msg: [0; SPEC_BUF],
            ptrs: [ptr::null(); SPEC_PTRS],
        }
    }
}

/// Waits for the claim on `sync` (starting the pre-started runtime first, if the plan has
/// one) and attaches the code it brings. The returned [`Work`] points into `buf`.
pub(crate) fn await_claim<S: ChildSys>(
    sys: &S,
    p: &ChildPlan,
    sync: RawFd,
    err_w: RawFd,
    buf: &mut ClaimBuffers,
) -> Result<Work, Abort> {
    let mut prestarted = None;
    if p.prestart {
        let (ours, theirs) = sys
            .socketpair()
            .map_err(|e| Abort::Failed(Failure::new(Step::Prestart, 0, e.0)))?;
        let runtime =
            function::start(sys, p.exec_args(), err_w, Some(p), theirs).map_err(Abort::Failed)?;
        sys.close(theirs);
        // vfork semantics: the runtime has exec'd or failed by now. Wait for the claim, but
        // leave if the runtime dies first (flint then discards this environment).
        if !wait_for_claim(sys, sync, ours) {
            return Err(Abort::RuntimeGone);
        }
        prestarted = Some((runtime, ours));
    }
    let failed = |index, errno| Abort::Failed(Failure::new(Step::Specialize, index, errno));
    let mut mount_fds = [-1; SPEC_MOUNTS];
    let got = match sys.recv_with_fds(sync, &mut buf.msg, &mut mount_fds) {
        Ok(got) if got.len > 0 && !got.truncated => got,
        _ => return Err(failed(0, libc::EPIPE)),
    };
    let Some(sp) = specialization::parse(&buf.msg[..got.len], &mut buf.ptrs) else {
        return Err(failed(1, libc::EINVAL));
    };
    if got.fds != sp.n_mounts {
        return Err(failed(2, libc::EINVAL));
    }
    for (i, (&fd, &target)) in mount_fds
        .iter()
        .zip(sp.targets.iter())
        .take(sp.n_mounts)
        .enumerate()
    {
        // SAFETY: the parser points `targets` at C strings inside the message buffer.
        let target = unsafe { CStr::from_ptr(target) };
        sys.move_mount(fd, target)
            .map_err(|e| Abort::Failed(at(Step::AttachCode, i as u32)(e)))?;
        sys.close(fd);
    }
    Ok(match prestarted {
        Some((runtime, sock)) => Work::HandOver {
            runtime,
            sock,
            exec: sp.exec,
        },
        None => Work::Start(sp.exec),
    })
}

/// A pre-started runtime is starting: block until flint sends the claim (`true`) or the
/// runtime dies or breaks the protocol (`false`). Its ready byte is passed on to flint as
/// [`ToParent::RuntimeReady`] (flint only offers ready environments to cold starts).
fn wait_for_claim<S: ChildSys>(sys: &S, sync: RawFd, handover: RawFd) -> bool {
    let mut fds = [
        libc::pollfd {
            fd: sync,
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: handover,
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    let mut ready = false;
    loop {
        match sys.poll(&mut fds, -1) {
            Err(Errno(libc::EINTR)) => continue,
            Err(_) => return false,
            Ok(_) => {}
        }
        if fds[1].revents != 0 {
            let mut b = [0u8];
            // EOF: the runtime died; anything else is not the protocol.
            if sys.read(handover, &mut b) != Ok(1) || b[0] != PRESTART_READY || ready {
                return false;
            }
            ready = true;
            if sys.send(sync, &[ToParent::RuntimeReady.byte()]) != Ok(1) {
                return false;
            }
            continue;
        }
        if fds[0].revents != 0 {
            return true;
        }
    }
}

/// Sends the function's cwd and environment to the pre-started runtime (layout: see
/// [`crate::PRESTART_FD`]).
pub(crate) fn hand_over<S: ChildSys>(sys: &S, sock: RawFd, exec: &ExecArgs) -> Result<(), Failure> {
    let send_all = |s: *const c_char| -> Result<(), Errno> {
        // SAFETY: `s` is a NUL-terminated string of the plan or the claim's message.
        let bytes = unsafe { CStr::from_ptr(s) }.to_bytes_with_nul();
        let mut at = 0;
        while at < bytes.len() {
            match sys.send(sock, &bytes[at..]) {
                Err(Errno(libc::EINTR)) => {}
                Err(e) => return Err(e),
                Ok(0) => return Err(Errno(libc::EPIPE)),
                Ok(n) => at += n,
            }
        }
        Ok(())
    };
    let failed = at(Step::Handover, 0);
    send_all(exec.cwd).map_err(&failed)?;
    let mut i = 0;
    // SAFETY: `envp` is a NULL-terminated array of C strings (ExecArgs' invariant).
    while let Some(e) = unsafe { (*exec.envp.add(i)).as_ref() } {
        send_all(e).map_err(&failed)?;
        i += 1;
    }
    Ok(())
}
