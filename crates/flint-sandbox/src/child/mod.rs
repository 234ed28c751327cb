//! The code that runs in the cloned child, between `clone3` and `execve`.
//!
//! flint is a multi-threaded tokio process. After a fork-like `clone` only the calling thread
//! exists in the child, while every lock another thread held (malloc arenas, stdio, glibc's
//! thread list) stays locked forever. So this module follows the rule `posix_spawn` follows:
//! **only raw system calls, no allocation, no locks, no panics** between clone and exec.
//! Every string, pointer array and BPF program is prepared by the parent in a
//! [`ChildPlan`] before cloning; the child only reads it. Every call goes through
//! [`ChildSys`], with static dispatch (the real [`crate::sys::seam::Linux`] is zero-sized
//! and its calls are the raw syscalls), which is what lets the unit tests run these steps
//! against the recording fake. Results are plain `Copy` values ([`Failure`], [`Stop`]): no
//! `String`, no `Box`, no formatting.
//!
//! The child becomes pid 1 of the new pid namespace and acts as a minimal init: it sets up
//! the root, drops privileges, installs seccomp, then starts the function and stays behind to
//! forward signals and reap zombies ([`init`]). When the function exits, init writes its wait
//! status to a pipe and exits, and the kernel kills whatever else is left in the namespace.
//!
//! Failures are reported to the parent as an error record on a close-on-exec pipe
//! ([`report`], `protocol.rs`); EOF on that pipe without a record means `execve` succeeded.
//!
//! The steps, in order ([`setup`], one module each): 0. die with flint and join a pooled
//! network namespace ([`network`]); 1. file descriptors ([`fds`]); 2. wait for the
//! user-namespace maps; 3. the root ([`root`]); 4. `lo` and the listener ([`network`]);
//! 5. limits and init's name ([`process`]); 6. wait for "go" (flint attaches the cgroups
//! meanwhile), and a pre-spawned environment for its claim ([`claim`]); 7. drop privileges
//! and install seccomp ([`privileges`]); 8. start the function ([`function`]) or hand it to
//! the pre-started runtime ([`claim`]).

mod claim;
mod fds;
mod function;
mod init;
mod network;
mod privileges;
mod process;
mod report;
mod root;
#[cfg(test)]
mod tests;

use std::os::fd::RawFd;

use libc::pid_t;

use crate::plan::ChildPlan;
use crate::protocol::{Failure, Step, ToChild};
use crate::sys::seam::{ChildSys, Errno};
use claim::{Abort, ClaimBuffers, Work};
use fds::Fds;

/// Why set-up ended before the function started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// A step failed: reported on `fd` (the error pipe) before the child exits.
    Failed { fd: RawFd, failure: Failure },
    /// The pre-started runtime died before the claim: exit without a record (flint discards
    /// the environment; the runtime's own record, if its exec failed, is on the pipe).
    RuntimeGone,
}

/// The child once the function runs: init, with what its loop needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Running {
    pub function: pid_t,
    pub status_w: RawFd,
}

/// Entry point of the cloned child (pid 1 of the new pid namespace). Never returns.
///
/// # Safety
/// Must only be called in the child right after `clone3` returned 0, with a plan whose
/// pointers are valid (the child's memory is a copy of the parent's).
pub(crate) unsafe fn child_main<S: ChildSys>(sys: &S, plan: &ChildPlan) -> ! {
    match setup(sys, plan) {
        Ok(running) => init::run(sys, running.function, running.status_w),
        Err(Stop::Failed { fd, failure }) => report::fail(sys, fd, failure),
        Err(Stop::RuntimeGone) => sys.exit(127),
    }
}

/// Everything from the clone to the function's start, as a sequence of named steps.
pub(crate) fn setup<S: ChildSys>(sys: &S, p: &ChildPlan) -> Result<Running, Stop> {
    let early = |failure| Stop::Failed {
        fd: p.fds.err_w,
        failure,
    };
    // 0. Die with flint (see `launch.rs` for why the parent is a dedicated thread), in the
    //    pooled network namespace if flint handed one over (`netns.rs`).
    let _ = sys.set_parent_death_signal(libc::SIGKILL);
    network::join_pooled_namespace(sys, &p.fds).map_err(early)?;
    // 1. Descriptors; from here on failures go to the child's own copy of the error pipe.
    let fds = fds::install(sys, &p.fds).map_err(early)?;
    let failed = |failure| Stop::Failed {
        fd: fds.err_w,
        failure,
    };
    // 2. With a user namespace, nothing works before flint wrote its maps.
    if p.wait_userns {
        let mapped = ToChild::UserNamespaceMapped;
        wait_for(sys, fds.sync, mapped, Step::WaitUserns).map_err(failed)?;
    }
    // 3.-5. The root, the network, per-process limits and init's name.
    root::assemble(sys, p).map_err(failed)?;
    network::set_up(sys, p, fds.sync).map_err(failed)?;
    process::set_limits(sys, p).map_err(failed)?;
    process::disguise_as_init(sys, p);
    // 6. "go": flint attached the cgroups, so nothing of the function's runs outside them. A
    //    pre-spawned environment then waits for its claim.
    wait_for(sys, fds.sync, ToChild::Go, Step::WaitGo).map_err(failed)?;
    sys.default_sigchld();
    let mut claim_buffers = ClaimBuffers::new();
    let work = what_to_run(sys, p, &fds, &mut claim_buffers).map_err(|abort| match abort {
        Abort::Failed(f) => failed(f),
        Abort::RuntimeGone => Stop::RuntimeGone,
    })?;
    // 7. Drop init's privileges and install seccomp (the function inherits this state; a
    //    pre-started runtime went through the same lock_down itself when it was started).
    privileges::lock_down(sys, p).map_err(failed)?;
    // 8. Start the function, or hand it to the pre-started runtime; stay behind as init.
    let function = start_function(sys, &fds, work).map_err(failed)?;
    fds::close_after_start(sys, &fds);
    // init holds a copy-on-write image of its parent's memory (flint's, or the small spawn
    // helper's): keep it non-dumpable so the function (same uid) cannot read it through
    // /proc/1/mem (ptrace is also denied by seccomp). The uid change already cleared the
    // flag; this makes it explicit.
    sys.set_dumpable(false);
    Ok(Running {
        function,
        status_w: fds.status_w,
    })
}

/// The plan's own command, or (pre-spawned) what the claim brings.
fn what_to_run<S: ChildSys>(
    sys: &S,
    p: &ChildPlan,
    fds: &Fds,
    buffers: &mut ClaimBuffers,
) -> Result<Work, Abort> {
    if p.prespawned {
        claim::await_claim(sys, p, fds.sync, fds.err_w, buffers)
    } else {
        Ok(Work::Start(p.exec_args()))
    }
}

/// Starts the function's process, or hands the function to the pre-started runtime (which
/// is the function's process then); its pid.
fn start_function<S: ChildSys>(sys: &S, fds: &Fds, work: Work) -> Result<pid_t, Failure> {
    match work {
        Work::Start(exec) => function::start(sys, exec, fds.err_w, None, -1),
        Work::HandOver {
            runtime,
            sock,
            exec,
        } => {
            claim::hand_over(sys, sock, &exec)?;
            sys.close(sock);
            Ok(runtime)
        }
    }
}

/// Blocks until flint sends `want` on `sync`. End of file (flint gave up on this child) or
/// any other message ends the set-up.
fn wait_for<S: ChildSys>(sys: &S, sync: RawFd, want: ToChild, step: Step) -> Result<(), Failure> {
    let mut b = [0u8];
    loop {
        match sys.read(sync, &mut b) {
            Ok(1) if ToChild::decode(b[0]) == Ok(want) => return Ok(()),
            Ok(1) => return Err(Failure::new(step, 0, libc::EPROTO)),
            Err(Errno(libc::EINTR)) => {}
            _ => return Err(Failure::new(step, 0, libc::EPIPE)),
        }
    }
}
