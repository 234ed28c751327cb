//! Step 8: the function's process, from `clone` to `execve`.
//!
//! `CLONE_VM | CLONE_VFORK`: the function borrows init's address space until its `execve`
//! (init is suspended meanwhile), so no page tables are copied; this matters because init's
//! address space is a copy of flint's. Its stack is a buffer in [`start`]'s frame, which
//! stays alive while init is suspended (the `posix_spawn` technique).

use std::ffi::CStr;
use std::mem::MaybeUninit;
use std::os::fd::RawFd;
use std::ptr;

use libc::{c_int, c_void, pid_t};

use super::privileges;
use super::report::{at, fail};
use crate::plan::{ChildPlan, ExecArgs};
use crate::protocol::{Failure, PRESTART_FD, Step};
use crate::sys::seam::ChildSys;

/// Stack of the function's process between clone and execve (16-byte aligned).
#[repr(C, align(16))]
struct FnStack([u8; 64 * 1024]);

/// What [`function_entry`] gets, in the suspended init's frame.
struct FnArgs<S> {
    sys: *const S,
    exec: ExecArgs,
    err_w: RawFd,
    /// Non-null: drop privileges first (see [`start`]).
    lock_down: *const ChildPlan,
    /// >= 0: install as [`PRESTART_FD`].
    handover: RawFd,
}

/// Starts the function's process and returns its pid once it has `execve`d (or failed, with
/// its error record written). `lock_down`: the process drops its privileges itself (a
/// pre-started runtime, while init keeps its own until the claim). `handover` >= 0: becomes
/// [`PRESTART_FD`].
pub(crate) fn start<S: ChildSys>(
    sys: &S,
    exec: ExecArgs,
    err_w: RawFd,
    lock_down: Option<&ChildPlan>,
    handover: RawFd,
) -> Result<pid_t, Failure> {
    let mut stack = MaybeUninit::<FnStack>::uninit();
    let top = stack
        .as_mut_ptr()
        .cast::<u8>()
        .wrapping_add(size_of::<FnStack>());
    let args = FnArgs {
        sys: ptr::from_ref(sys),
        exec,
        err_w,
        lock_down: lock_down.map_or(ptr::null(), ptr::from_ref),
        handover,
    };
    // SAFETY: the stack buffer and `args` (and what it points to: `sys`, the plan, the exec
    // arguments) live in or above this frame, which stays alive while this process is
    // suspended by CLONE_VFORK, until the new one execs or exits; function_entry follows
    // ChildSys's rules.
    unsafe {
        sys.spawn_vforked(
            function_entry::<S>,
            top.cast(),
            (&raw const args).cast_mut().cast(),
        )
    }
    .map_err(at(Step::Fork, 0))
}

extern "C" fn function_entry<S: ChildSys>(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the FnArgs in the suspended init's frame (see `start`), and its
    // pointers are valid for as long as it is; `lock_down` is null or the plan.
    let (a, sys, plan) = unsafe {
        let a = &*arg.cast::<FnArgs<S>>();
        (a, &*a.sys, a.lock_down.as_ref())
    };
    let failure = become_function(sys, plan, a.handover, &a.exec);
    fail(sys, a.err_w, failure)
}

/// The function's process: a pre-started runtime first drops its privileges and gets its
/// handover descriptor; then `execve`. Returns only when that failed, with why.
pub(crate) fn become_function<S: ChildSys>(
    sys: &S,
    lock_down: Option<&ChildPlan>,
    handover: RawFd,
    exec: &ExecArgs,
) -> Failure {
    if let Some(p) = lock_down
        && let Err(f) = privileges::lock_down(sys, p)
    {
        return f;
    }
    if handover >= 0 {
        // dup2 onto itself would keep O_CLOEXEC: clear the flag in that case.
        let r = if handover == PRESTART_FD {
            sys.clear_cloexec(PRESTART_FD)
        } else {
            sys.dup2(handover, PRESTART_FD)
        };
        if let Err(e) = r {
            return Failure::new(Step::Prestart, 1, e.0);
        }
    }
    exec_function(sys, exec)
}

/// New session, default signal handling, then `execve` of the first candidate that works,
/// as `execvp` searches: keep looking on `ENOENT`/`ENOTDIR`, remember `EACCES`.
fn exec_function<S: ChildSys>(sys: &S, p: &ExecArgs) -> Failure {
    sys.new_session();
    // Handlers installed by flint (tokio) and ignored signals (Rust ignores SIGPIPE) must not
    // leak into the function.
    sys.reset_signal_handling();
    // SAFETY: ExecArgs' cwd is a C string of the plan or of the claim's message.
    if let Err(e) = sys.chdir(unsafe { CStr::from_ptr(p.cwd) }) {
        return Failure::new(Step::Chdir, 0, e.0);
    }
    let mut last = libc::ENOENT;
    for i in 0..p.n_candidates {
        // SAFETY: ExecArgs' invariants: `candidates` points to `n_candidates` C strings,
        // `argv` and `envp` are NULL-terminated arrays of C strings.
        let e = unsafe { sys.execve(*p.candidates.add(i), p.argv, p.envp) }.0;
        if e != libc::ENOENT && e != libc::ENOTDIR && e != libc::EACCES {
            return Failure::new(Step::Exec, i as u32, e);
        }
        if last != libc::EACCES {
            last = e;
        }
    }
    Failure::new(Step::Exec, Failure::NO_INDEX, last)
}
