//! The code that runs in the cloned child, between `clone3` and `execve`.
//!
//! flint is a multi-threaded tokio process. After a fork-like `clone` only the calling thread
//! exists in the child, while every lock another thread held (malloc arenas, stdio, glibc's
//! thread list) stays locked forever. So this module follows the rule `posix_spawn` follows:
//! **only raw system calls, no allocation, no locks, no panics** between clone and exec.
//! Every string, pointer array and BPF program is prepared by the parent in a [`ChildPlan`]
//! before cloning; the child only reads it. Two traps that rule avoids:
//! - glibc's `setuid`/`setgroups` wrappers broadcast the change to all threads they believe
//!   exist (`__nptl_setxid`), which deadlocks in the child; we use `syscall(SYS_setresuid)`.
//! - glibc's `fork` runs atfork handlers and takes the malloc lock; the function is started
//!   with glibc's `clone()` wrapper instead (plain assembly: no locks, no handlers), with
//!   `CLONE_VM | CLONE_VFORK` and a stack buffer, like `posix_spawn`.
//!
//! The child becomes pid 1 of the new pid namespace and acts as a minimal init: it sets up
//! the root, drops privileges, installs seccomp, then starts the function and stays behind to
//! forward signals and reap zombies. When the function exits, init writes its wait status to
//! a pipe and exits, and the kernel kills whatever else is left in the namespace.
//!
//! Failures are reported to the parent as a `(step, index, errno)` record on a close-on-exec
//! pipe; EOF on that pipe without a record means `execve` succeeded.

use std::ffi::CString;
use std::os::fd::RawFd;
use std::ptr;

use libc::{c_char, c_int, c_ulong, c_void};

/// Setup steps, reported with the errno when one fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Step {
    Fds = 1,
    WaitUserns,
    Mount,
    Pivot,
    RemountRoot,
    Hostname,
    LoopbackUp,
    Listen,
    SendListener,
    Rlimit,
    WaitGo,
    DropBounding,
    SetGroups,
    SetGid,
    SetUid,
    ClearCaps,
    NoNewPrivs,
    Seccomp,
    Fork,
    Chdir,
    Exec,
    JoinNetns,
    Specialize,
    AttachCode,
    Prestart,
    Handover,
}

impl Step {
    pub(crate) fn from_u32(v: u32) -> Option<Self> {
        use Step::*;
        [
            Fds,
            WaitUserns,
            Mount,
            Pivot,
            RemountRoot,
            Hostname,
            LoopbackUp,
            Listen,
            SendListener,
            Rlimit,
            WaitGo,
            DropBounding,
            SetGroups,
            SetGid,
            SetUid,
            ClearCaps,
            NoNewPrivs,
            Seccomp,
            Fork,
            Chdir,
            Exec,
            JoinNetns,
            Specialize,
            AttachCode,
            Prestart,
            Handover,
        ]
        .into_iter()
        .find(|s| *s as u32 == v)
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Step::Fds => "fd set-up",
            Step::WaitUserns => "waiting for user namespace maps",
            Step::Mount => "mount",
            Step::Pivot => "pivot_root",
            Step::RemountRoot => "read-only remount of /",
            Step::Hostname => "sethostname",
            Step::LoopbackUp => "bringing lo up",
            Step::Listen => "binding the Runtime API listener",
            Step::SendListener => "passing the listener to flint",
            Step::Rlimit => "setrlimit",
            Step::WaitGo => "waiting for flint",
            Step::DropBounding => "dropping the capability bounding set",
            Step::SetGroups => "setgroups",
            Step::SetGid => "setresgid",
            Step::SetUid => "setresuid",
            Step::ClearCaps => "capset",
            Step::NoNewPrivs => "PR_SET_NO_NEW_PRIVS",
            Step::Seccomp => "installing seccomp filter",
            Step::Fork => "forking the function",
            Step::Chdir => "chdir",
            Step::Exec => "execve",
            Step::JoinNetns => "joining the pooled network namespace",
            Step::Specialize => "receiving the function of a pre-spawned environment",
            Step::AttachCode => "attaching the function's code (move_mount)",
            Step::Prestart => "starting the runtime of a pre-spawned environment",
            Step::Handover => "handing the function to its pre-started runtime",
        }
    }
}

/// Size of the error record: step, index, errno (native endian u32/u32/i32).
pub(crate) const ERR_RECORD: usize = 12;
/// Byte the parent sends once the user namespace maps are written.
pub(crate) const MSG_USERNS: u8 = b'U';
/// Byte the parent sends to let the child exec (cgroups attached, listener received).
pub(crate) const MSG_GO: u8 = b'G';
/// Byte accompanying the listener fd.
pub(crate) const MSG_LISTENER: u8 = b'L';
/// First byte of the message that specialises a pre-spawned environment (see
/// [`parse_specialization`] for the layout).
pub(crate) const MSG_SPECIALIZE: u8 = b'S';
/// Bytes of a specialisation message a pre-spawned child can receive (argv, environment,
/// cwd, exec candidates and mount targets; Lambda caps the environment at 4 KB).
pub(crate) const SPEC_BUF: usize = 32 * 1024;
/// Pointer slots for argv + environment + exec candidates (with their NUL terminators).
pub(crate) const SPEC_PTRS: usize = 512;
/// Detached mounts (code, layers) a specialisation may attach.
pub(crate) const SPEC_MOUNTS: usize = 4;
/// Size of the message header: the tag and four little-endian u32 counts.
pub(crate) const SPEC_HEADER: usize = 17;
/// The descriptor (a stream socket to init) through which a pre-started runtime gets its
/// function: it writes one byte [`PRESTART_READY`] once it is ready to run one, then reads
/// the cwd and each `KEY=value` of the environment, all NUL-terminated, up to EOF.
pub const PRESTART_FD: RawFd = 3;
/// What a pre-started runtime writes to [`PRESTART_FD`] when it is ready.
pub const PRESTART_READY: u8 = b'R';
/// Byte init sends flint when its pre-started runtime is ready.
pub(crate) const MSG_READY: u8 = b'R';

/// One prepared `mount(2)` call.
pub(crate) struct RawMount {
    pub src: Option<CString>,
    pub target: CString,
    pub fstype: Option<CString>,
    pub flags: c_ulong,
    pub data: Option<CString>,
}

/// File descriptors (parent's numbers, inherited by the child) the child needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChildFds {
    /// Child end of the sync socketpair (parent→child go bytes, child→parent listener fd).
    pub sync: RawFd,
    /// Write end of the error pipe.
    pub err_w: RawFd,
    /// Write end of the exit-status pipe.
    pub status_w: RawFd,
    pub stdout: RawFd,
    pub stderr: RawFd,
    /// Become fds 3.. in the function; only the first `n_extra` are used.
    pub extra: [RawFd; crate::spec::MAX_EXTRA_FDS],
    pub n_extra: usize,
    /// A ready network namespace to join (from the pool), or -1.
    pub netns: RawFd,
}

/// Everything the child needs, prepared by the parent before `clone3`.
pub(crate) struct ChildPlan {
    pub mounts: Vec<RawMount>,
    pub root: CString,
    pub root_remount_flags: c_ulong,
    pub dot: CString,
    pub slash: CString,
    pub dev_null: CString,
    pub hostname: CString,
    pub cwd: CString,
    /// Owner of the memory `exec_candidate_ptrs` point into.
    pub _exec_candidates: Vec<CString>,
    /// Pointers to `exec_candidates` (not NULL-terminated).
    pub exec_candidate_ptrs: Vec<*const c_char>,
    pub argv_ptrs: Vec<*const c_char>,
    pub envp_ptrs: Vec<*const c_char>,
    pub uid: u32,
    pub gid: u32,
    pub wait_userns: bool,
    pub set_groups: bool,
    pub cap_last_cap: u32,
    pub filters: Vec<libc::sock_fprog>,
    pub lo_up: bool,
    pub listen_port: Option<u16>,
    pub nofile: u64,
    /// Pre-spawned: after the root and the listener are ready and "go" arrived, wait for a
    /// specialisation message (code mounts, argv, environment; see `prespawn.rs`).
    pub prespawned: bool,
    /// Pre-spawned with its runtime pre-started: after "go", start `argv`/`envp`/`cwd` at
    /// once (unprivileged, with [`PRESTART_FD`] open) and hand it the function's cwd and
    /// environment at the claim instead of executing anything then.
    pub prestart: bool,
    pub fds: ChildFds,
    /// `[arg_start, arg_end)` of the cloning process (see [`argv_area`]).
    pub argv_area: Option<(usize, usize)>,
    // Owners of the memory the raw pointers above point into.
    pub _argv: Vec<CString>,
    pub _env: Vec<CString>,
    pub _bpf: Vec<seccompiler::BpfProgram>,
}

impl ChildPlan {
    /// Builds the pointer arrays. `argv`/`env` must not contain NUL (validated by the spec).
    pub(crate) fn pointers(args: &[CString]) -> Vec<*const c_char> {
        args.iter()
            .map(|a| a.as_ptr())
            .chain(std::iter::once(ptr::null()))
            .collect()
    }

    pub(crate) fn fprogs(bpf: &[seccompiler::BpfProgram]) -> Vec<libc::sock_fprog> {
        bpf.iter()
            .map(|p| libc::sock_fprog {
                len: p.len() as u16,
                // seccompiler's sock_filter is #[repr(C)] with the kernel's layout, like libc's.
                filter: p.as_ptr() as *mut libc::sock_filter,
            })
            .collect()
    }
}

/// `[arg_start, arg_end)` of this process's command line (fields 48 and 49 of
/// `/proc/self/stat`), read once.
pub(crate) fn argv_area() -> Option<(usize, usize)> {
    static AREA: std::sync::OnceLock<Option<(usize, usize)>> = std::sync::OnceLock::new();
    *AREA.get_or_init(|| {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        parse_argv_area(&stat)
    })
}

pub(crate) fn parse_argv_area(stat: &str) -> Option<(usize, usize)> {
    // Fields after the parenthesized comm start at field 3.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut it = rest.split_whitespace().skip(48 - 3);
    let start = it.next()?.parse().ok()?;
    let end = it.next()?.parse().ok()?;
    (start < end).then_some((start, end))
}

fn errno() -> c_int {
    // SAFETY: __errno_location returns the calling thread's errno slot, always valid.
    unsafe { *libc::__errno_location() }
}

/// Reports a failed step to the parent and exits. Async-signal-safe.
fn fail(err_fd: RawFd, step: Step, index: u32) -> ! {
    let e = errno();
    let mut rec = [0u8; ERR_RECORD];
    rec[0..4].copy_from_slice(&(step as u32).to_ne_bytes());
    rec[4..8].copy_from_slice(&index.to_ne_bytes());
    rec[8..12].copy_from_slice(&e.to_ne_bytes());
    // SAFETY: writing a stack buffer to a pipe fd; _exit never returns and runs no handlers.
    unsafe {
        libc::write(err_fd, rec.as_ptr().cast(), ERR_RECORD);
        libc::_exit(127)
    }
}

fn opt_ptr(c: &Option<CString>) -> *const c_char {
    c.as_ref().map_or(ptr::null(), |c| c.as_ptr())
}

/// What the function's process executes: from the plan, or from a specialisation message.
#[derive(Clone, Copy)]
pub(crate) struct ExecArgs {
    pub cwd: *const c_char,
    pub candidates: *const *const c_char,
    pub n_candidates: usize,
    pub argv: *const *const c_char,
    pub envp: *const *const c_char,
}

/// A parsed specialisation message: exec arguments plus the mount targets (pointers into the
/// message buffer).
pub(crate) struct Specialization {
    pub exec: ExecArgs,
    pub targets: [*const c_char; SPEC_MOUNTS],
    pub n_mounts: usize,
}

/// Parses a specialisation message in place, without allocating (it runs in the child).
///
/// Layout: `MSG_SPECIALIZE`, then `n_argv`, `n_env`, `n_candidates`, `n_mounts` as
/// little-endian u32, then NUL-terminated strings: cwd, argv…, env…, candidates…, mount
/// targets…; nothing after the last one. The mounts' fds travel as `SCM_RIGHTS` in the same
/// message, in the order of their targets. `ptrs` receives argv + NULL, env + NULL,
/// candidates. `None` for anything malformed.
pub(crate) fn parse_specialization(
    msg: &[u8],
    ptrs: &mut [*const c_char; SPEC_PTRS],
) -> Option<Specialization> {
    if msg.len() < SPEC_HEADER || msg[0] != MSG_SPECIALIZE {
        return None;
    }
    let count = |i: usize| -> usize {
        let b = [
            msg[1 + 4 * i],
            msg[2 + 4 * i],
            msg[3 + 4 * i],
            msg[4 + 4 * i],
        ];
        u32::from_le_bytes(b) as usize
    };
    let (n_argv, n_env, n_cand, n_mounts) = (count(0), count(1), count(2), count(3));
    if n_argv == 0
        || n_mounts > SPEC_MOUNTS
        || n_argv
            .checked_add(n_env)?
            .checked_add(n_cand)?
            .checked_add(2)?
            > SPEC_PTRS
    {
        return None;
    }
    // Walks the NUL-terminated strings one by one.
    let mut pos = SPEC_HEADER;
    let mut next = || -> Option<*const c_char> {
        let rest = msg.get(pos..)?;
        let len = rest.iter().position(|&b| b == 0)?;
        let p = rest.as_ptr().cast::<c_char>();
        pos += len + 1;
        Some(p)
    };
    let cwd = next()?;
    let mut slot = 0;
    for _ in 0..n_argv {
        ptrs[slot] = next()?;
        slot += 1;
    }
    ptrs[slot] = ptr::null();
    slot += 1;
    let env_start = slot;
    for _ in 0..n_env {
        ptrs[slot] = next()?;
        slot += 1;
    }
    ptrs[slot] = ptr::null();
    slot += 1;
    let cand_start = slot;
    for _ in 0..n_cand {
        ptrs[slot] = next()?;
        slot += 1;
    }
    let mut targets = [ptr::null(); SPEC_MOUNTS];
    for t in targets.iter_mut().take(n_mounts) {
        *t = next()?;
    }
    if pos != msg.len() {
        return None;
    }
    let base = ptrs.as_ptr();
    Some(Specialization {
        exec: ExecArgs {
            cwd,
            // SAFETY: both offsets are within `ptrs` (checked against SPEC_PTRS above).
            candidates: unsafe { base.add(cand_start) },
            n_candidates: n_cand,
            argv: base,
            // SAFETY: see above.
            envp: unsafe { base.add(env_start) },
        },
        targets,
        n_mounts,
    })
}

/// Receives one specialisation message and its fds into `buf`/`fds`. Raw syscalls only.
/// Returns the message length and the number of fds, or `None` on EOF or error.
fn recv_specialization(
    sock: RawFd,
    buf: &mut [u8; SPEC_BUF],
    fds: &mut [RawFd; SPEC_MOUNTS],
) -> Option<(usize, usize)> {
    // SAFETY: recvmsg into stack buffers sized here; the fds it returns are ours.
    unsafe {
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: SPEC_BUF,
        };
        // Room for SPEC_MOUNTS fds (CMSG_SPACE(16) = 32 bytes), 8-byte aligned.
        let mut control = [0u64; 8];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &raw mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = size_of_val(&control);
        let n = loop {
            let n = libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC);
            if n >= 0 || errno() != libc::EINTR {
                break n;
            }
        };
        if n <= 0 || msg.msg_flags & (libc::MSG_TRUNC | libc::MSG_CTRUNC) != 0 {
            return None;
        }
        let mut got = 0;
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let count = ((*c).cmsg_len - libc::CMSG_LEN(0) as usize) / 4;
                for i in 0..count {
                    let fd = ptr::read_unaligned(libc::CMSG_DATA(c).cast::<RawFd>().add(i));
                    if got < SPEC_MOUNTS {
                        fds[got] = fd;
                        got += 1;
                    } else {
                        libc::close(fd);
                    }
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
        Some((n as usize, got))
    }
}

/// Entry point of the cloned child (pid 1 of the new pid namespace).
///
/// # Safety
/// Must only be called in the child right after `clone3` returned 0, with a plan whose
/// pointers are valid (the child's memory is a copy of the parent's). Never returns.
pub(crate) unsafe fn child_main(p: &ChildPlan) -> ! {
    // SAFETY: (whole function) only raw syscalls on memory owned by `p` or the stack.
    unsafe {
        // 0. Die with flint (see `clone_via_spawner` for why the parent is a dedicated thread).
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as c_ulong, 0, 0, 0);
        // 0b. Join the pre-made network namespace, if flint handed us one (netns.rs).
        if p.fds.netns >= 0 && libc::setns(p.fds.netns, libc::CLONE_NEWNET) != 0 {
            fail(p.fds.err_w, Step::JoinNetns, 0);
        }
        // 1. File descriptors: move what we need above the stdio range, install stdio, close
        //    everything else we inherited from the (multi-threaded) parent.
        let hi = |fd: RawFd| -> RawFd {
            let n = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 16);
            if n < 0 {
                fail(p.fds.err_w, Step::Fds, 0);
            }
            n
        };
        let err_w = hi(p.fds.err_w);
        let sync = hi(p.fds.sync);
        let status_w = hi(p.fds.status_w);
        let out = hi(p.fds.stdout);
        let errfd = hi(p.fds.stderr);
        let n_extra = p.fds.n_extra.min(p.fds.extra.len());
        let mut extra = [-1; crate::spec::MAX_EXTRA_FDS];
        for (slot, fd) in extra.iter_mut().zip(&p.fds.extra).take(n_extra) {
            *slot = hi(*fd);
        }
        let null = libc::open(p.dev_null.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
        if null < 0 {
            fail(err_w, Step::Fds, 1);
        }
        // Via a high copy, so that dup2 never targets its own source (which would keep
        // O_CLOEXEC on fd 0 if flint had no stdin).
        let null = hi(null);
        if libc::dup2(null, 0) < 0 || libc::dup2(out, 1) < 0 || libc::dup2(errfd, 2) < 0 {
            fail(err_w, Step::Fds, 1);
        }
        // Extra fds land on 3.. (below the high copies, so nothing we need is clobbered).
        for (i, fd) in extra.iter().take(n_extra).enumerate() {
            if libc::dup2(*fd, 3 + i as RawFd) < 0 {
                fail(err_w, Step::Fds, 2);
            }
        }
        let mut keep = [err_w, sync, status_w];
        keep.sort_unstable();
        let mut next: u32 = 3 + n_extra as u32;
        for k in keep {
            if (k as u32) > next {
                libc::syscall(libc::SYS_close_range, next, k as u32 - 1, 0u32);
            }
            next = k as u32 + 1;
        }
        libc::syscall(libc::SYS_close_range, next, u32::MAX, 0u32);

        let read_byte = |step: Step, want: u8| {
            let mut b = 0u8;
            loop {
                let r = libc::read(sync, (&raw mut b).cast(), 1);
                if r == 1 && b == want {
                    return;
                }
                if r < 0 && errno() == libc::EINTR {
                    continue;
                }
                // EOF: the parent gave up on us (or a protocol error); exit quietly.
                *libc::__errno_location() = libc::EPIPE;
                fail(err_w, step, 0);
            }
        };

        // 2. User namespace: wait until the parent wrote uid_map/gid_map.
        if p.wait_userns {
            read_byte(Step::WaitUserns, MSG_USERNS);
        }

        // 3. Assemble the root (see rootfs.rs for the order and why).
        for (i, m) in p.mounts.iter().enumerate() {
            if libc::mount(
                opt_ptr(&m.src),
                m.target.as_ptr(),
                opt_ptr(&m.fstype),
                m.flags,
                opt_ptr(&m.data).cast(),
            ) != 0
            {
                fail(err_w, Step::Mount, i as u32);
            }
        }
        // pivot_root(".", ".") stacks the old root on top of the new one; detaching "." then
        // removes the old root without needing a put_old directory (runc's trick).
        if libc::chdir(p.root.as_ptr()) != 0
            || libc::syscall(libc::SYS_pivot_root, p.dot.as_ptr(), p.dot.as_ptr()) != 0
            || libc::umount2(p.dot.as_ptr(), libc::MNT_DETACH) != 0
            || libc::chdir(p.slash.as_ptr()) != 0
        {
            fail(err_w, Step::Pivot, 0);
        }
        if libc::mount(
            ptr::null(),
            p.slash.as_ptr(),
            ptr::null(),
            p.root_remount_flags,
            ptr::null(),
        ) != 0
        {
            fail(err_w, Step::RemountRoot, 0);
        }
        if libc::sethostname(p.hostname.as_ptr(), p.hostname.as_bytes().len()) != 0 {
            fail(err_w, Step::Hostname, 0);
        }

        // 4. Network: lo up, and the Runtime API listener inside this namespace.
        if p.lo_up && !loopback_up() {
            fail(err_w, Step::LoopbackUp, 0);
        }
        if let Some(port) = p.listen_port {
            let l = listen_loopback(port);
            if l < 0 {
                fail(err_w, Step::Listen, 0);
            }
            if !send_fd(sync, l) {
                fail(err_w, Step::SendListener, 0);
            }
            libc::close(l);
        }

        // 5. Resource limits that are per process rather than per cgroup.
        for (res, v) in [(libc::RLIMIT_NOFILE, p.nofile), (libc::RLIMIT_CORE, 0)] {
            let mut cur = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::getrlimit(res, &mut cur);
            let v = v.min(cur.rlim_max);
            let lim = libc::rlimit {
                rlim_cur: v,
                rlim_max: v,
            };
            if libc::setrlimit(res, &lim) != 0 {
                fail(err_w, Step::Rlimit, res);
            }
        }

        // 5b. /proc/1/cmdline is world-readable and would show the argv of the process we
        //     were cloned from (flint's, which may carry paths or options): overwrite that
        //     memory in our own copy-on-write copy with "init" and NULs. (`PR_SET_MM` could
        //     move the pointers instead but needs CAP_SYS_RESOURCE, which hosts may lack.)
        if let Some((start, end)) = p.argv_area
            && end > start + INIT_CMDLINE.len()
        {
            ptr::write_bytes(start as *mut u8, 0, end - start);
            ptr::copy_nonoverlapping(INIT_CMDLINE.as_ptr(), start as *mut u8, INIT_CMDLINE.len());
        }
        libc::prctl(libc::PR_SET_NAME, INIT_CMDLINE.as_ptr() as c_ulong, 0, 0, 0);

        // 6. Wait until flint attached the cgroups and holds the listener. A pre-spawned
        //    environment then waits, unspecialised, until flint claims it for a function:
        //    the message brings the function's code as detached mounts (attached now, while
        //    init still has the privileges to mount) and what to execute. If its runtime is
        //    pre-started, that runtime was started (unprivileged) right after "go" and the
        //    claim only hands it the function's cwd and environment.
        read_byte(Step::WaitGo, MSG_GO);
        let plan_exec = ExecArgs {
            cwd: p.cwd.as_ptr(),
            candidates: p.exec_candidate_ptrs.as_ptr(),
            n_candidates: p.exec_candidate_ptrs.len(),
            argv: p.argv_ptrs.as_ptr(),
            envp: p.envp_ptrs.as_ptr(),
        };
        let mut dfl: libc::sigaction = std::mem::zeroed();
        dfl.sa_sigaction = libc::SIG_DFL;
        libc::sigaction(libc::SIGCHLD, &dfl, ptr::null_mut());
        let mut prestarted: Option<(libc::pid_t, RawFd)> = None;
        let mut spec_buf = [0u8; SPEC_BUF];
        let mut spec_ptrs = [ptr::null::<c_char>(); SPEC_PTRS];
        let exec = if p.prespawned {
            if p.prestart {
                let mut pair = [-1; 2];
                if libc::socketpair(
                    libc::AF_UNIX,
                    libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
                    0,
                    pair.as_mut_ptr(),
                ) != 0
                {
                    fail(err_w, Step::Prestart, 0);
                }
                let pid = start_function(plan_exec, err_w, Some(p), pair[1]);
                libc::close(pair[1]);
                // vfork semantics: the runtime has exec'd or failed by now. Wait for the claim,
                // but leave if the runtime dies first (flint then discards this environment).
                if !wait_for_claim(sync, pair[0]) {
                    libc::_exit(127);
                }
                prestarted = Some((pid, pair[0]));
            }
            let mut mount_fds = [-1; SPEC_MOUNTS];
            let Some((len, n_fds)) = recv_specialization(sync, &mut spec_buf, &mut mount_fds)
            else {
                *libc::__errno_location() = libc::EPIPE;
                fail(err_w, Step::Specialize, 0)
            };
            let Some(sp) = parse_specialization(&spec_buf[..len], &mut spec_ptrs) else {
                *libc::__errno_location() = libc::EINVAL;
                fail(err_w, Step::Specialize, 1)
            };
            if n_fds != sp.n_mounts {
                *libc::__errno_location() = libc::EINVAL;
                fail(err_w, Step::Specialize, 2);
            }
            for (i, (&fd, &target)) in mount_fds
                .iter()
                .zip(sp.targets.iter())
                .take(sp.n_mounts)
                .enumerate()
            {
                if libc::syscall(
                    libc::SYS_move_mount,
                    fd,
                    c"".as_ptr(),
                    libc::AT_FDCWD,
                    target,
                    MOVE_MOUNT_F_EMPTY_PATH,
                ) != 0
                {
                    fail(err_w, Step::AttachCode, i as u32);
                }
                libc::close(fd);
            }
            sp.exec
        } else {
            plan_exec
        };

        // 7. Drop init's privileges (the function inherits this state; a pre-started runtime
        //    went through the same lock_down itself when it was started).
        lock_down(p, err_w);

        // 8. Start the function (or hand it to the pre-started runtime); stay behind as init.
        let pid = match prestarted {
            Some((pid, handover)) => {
                if !hand_over(handover, &exec) {
                    fail(err_w, Step::Handover, 0);
                }
                libc::close(handover);
                pid
            }
            None => start_function(exec, err_w, None, -1),
        };
        libc::close(err_w);
        libc::close(sync);
        // The function has its own copies now; e.g. a telemetry pipe must see EOF when the
        // function exits, not when init does.
        for i in 0..n_extra {
            libc::close(3 + i as RawFd);
        }
        // init holds a copy-on-write image of its parent's memory (flint's, or the small spawn
        // helper's): keep it non-dumpable so the
        // function (same uid) cannot read it through /proc/1/mem (ptrace is also denied by
        // seccomp). The uid change already cleared the flag; this makes it explicit.
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
        init_loop(pid, status_w)
    }
}

/// Drops every privilege of the calling task: capability bounding set (needs CAP_SETPCAP, so
/// first), ambient set, groups, gid, uid (which clears permitted/effective), inheritable via
/// capset; then `no_new_privs` and the seccomp filters. Raw syscalls only; every step is
/// per task, so it is also sound in a `CLONE_VM` child.
unsafe fn lock_down(p: &ChildPlan, err_w: RawFd) {
    // SAFETY: raw syscalls on the plan's memory and the stack.
    unsafe {
        for cap in 0..=p.cap_last_cap {
            if libc::prctl(libc::PR_CAPBSET_DROP, cap as c_ulong, 0, 0, 0) != 0
                && errno() != libc::EINVAL
            {
                fail(err_w, Step::DropBounding, cap);
            }
        }
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as c_ulong,
            0,
            0,
            0,
        );
        if p.set_groups
            && libc::syscall(libc::SYS_setgroups, 0usize, ptr::null::<libc::gid_t>()) != 0
        {
            fail(err_w, Step::SetGroups, 0);
        }
        if libc::syscall(libc::SYS_setresgid, p.gid, p.gid, p.gid) != 0 {
            fail(err_w, Step::SetGid, 0);
        }
        if libc::syscall(libc::SYS_setresuid, p.uid, p.uid, p.uid) != 0 {
            fail(err_w, Step::SetUid, 0);
        }
        let mut hdr = CapHeader {
            version: LINUX_CAPABILITY_VERSION_3,
            pid: 0,
        };
        let data = [CapData::default(); 2];
        if libc::syscall(libc::SYS_capset, &raw mut hdr, data.as_ptr()) != 0 {
            fail(err_w, Step::ClearCaps, 0);
        }
        // The uid change cleared the parent-death signal (commit_creds does that); set it again.
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as c_ulong, 0, 0, 0);
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            fail(err_w, Step::NoNewPrivs, 0);
        }
        for (i, f) in p.filters.iter().enumerate() {
            if libc::syscall(
                libc::SYS_seccomp,
                SECCOMP_SET_MODE_FILTER,
                0u32,
                f as *const libc::sock_fprog,
            ) != 0
            {
                fail(err_w, Step::Seccomp, i as u32);
            }
        }
    }
}

/// Starts the function's process and returns its pid once it has `execve`d (or failed, with
/// its error record written). `CLONE_VM | CLONE_VFORK`: the function borrows our address
/// space until its execve (we are suspended meanwhile), so no page tables are copied; this
/// matters because our address space is a copy of flint's. Its stack is a buffer in this
/// frame, which stays alive while we are suspended (the posix_spawn technique).
/// `lock_down`: the process drops its privileges itself (a pre-started runtime, while init
/// keeps its own until the claim). `handover` >= 0: becomes [`PRESTART_FD`].
unsafe fn start_function(
    exec: ExecArgs,
    err_w: RawFd,
    lock_down: Option<&ChildPlan>,
    handover: RawFd,
) -> libc::pid_t {
    // SAFETY: clone with a stack buffer of this (suspended) frame and arguments that outlive
    // the child's use of them (CLONE_VFORK).
    unsafe {
        let mut stack = std::mem::MaybeUninit::<FnStack>::uninit();
        let top = stack.as_mut_ptr().cast::<u8>().add(size_of::<FnStack>());
        let args = FnArgs {
            exec,
            err_w,
            lock_down: lock_down.map_or(ptr::null(), |p| p as *const ChildPlan),
            handover,
        };
        let pid = libc::clone(
            function_entry,
            top.cast(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            (&raw const args).cast_mut().cast(),
        );
        if pid < 0 {
            fail(err_w, Step::Fork, 0);
        }
        pid
    }
}

/// A pre-started runtime is starting: block until flint sends the specialisation (`true`)
/// or the runtime dies or breaks the protocol (`false`). Its ready byte is passed on to
/// flint as [`MSG_READY`] (flint only offers ready environments to cold starts).
fn wait_for_claim(sync: RawFd, handover: RawFd) -> bool {
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
        // SAFETY: poll on a stack array of two pollfds.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if r < 0 && errno() == libc::EINTR {
            continue;
        }
        if r < 0 {
            return false;
        }
        if fds[1].revents != 0 {
            let mut b = 0u8;
            // SAFETY: one-byte read into a stack variable.
            let n = unsafe { libc::read(handover, (&raw mut b).cast(), 1) };
            if n != 1 || b != PRESTART_READY || ready {
                // EOF: the runtime died; anything else is not the protocol.
                return false;
            }
            ready = true;
            let msg = MSG_READY;
            // SAFETY: one-byte send from a stack variable.
            if unsafe { libc::send(sync, (&raw const msg).cast(), 1, libc::MSG_NOSIGNAL) } != 1 {
                return false;
            }
            fds[1].revents = 0;
            continue;
        }
        if fds[0].revents != 0 {
            return true;
        }
    }
}

/// Sends the function's cwd and environment to the pre-started runtime (layout: see
/// [`PRESTART_FD`]). `false` if the runtime is gone.
unsafe fn hand_over(sock: RawFd, exec: &ExecArgs) -> bool {
    let send_all = |s: *const c_char| -> bool {
        // SAFETY: `s` is a NUL-terminated string of the plan or the specialisation message.
        let (mut at, len) = unsafe { (s.cast::<u8>(), libc::strlen(s) + 1) };
        let end = at.wrapping_add(len);
        while at < end {
            // SAFETY: sending [at, end) of that string; MSG_NOSIGNAL: EPIPE, not SIGPIPE.
            let n = unsafe {
                libc::send(
                    sock,
                    at.cast(),
                    end as usize - at as usize,
                    libc::MSG_NOSIGNAL,
                )
            };
            if n < 0 && errno() == libc::EINTR {
                continue;
            }
            if n <= 0 {
                return false;
            }
            at = at.wrapping_add(n as usize);
        }
        true
    };
    if !send_all(exec.cwd) {
        return false;
    }
    let mut i = 0;
    // SAFETY: `envp` is a NULL-terminated array of C strings.
    while let Some(e) = unsafe { (*exec.envp.add(i)).as_ref() } {
        if !send_all(e) {
            return false;
        }
        i += 1;
    }
    true
}

/// What the function sees as init's command line and name.
static INIT_CMDLINE: &[u8] = b"init\0";

/// Stack of the function's process between clone and execve (16-byte aligned).
#[repr(C, align(16))]
struct FnStack([u8; 64 * 1024]);

struct FnArgs {
    exec: ExecArgs,
    err_w: RawFd,
    /// Non-null: drop privileges first (see [`start_function`]).
    lock_down: *const ChildPlan,
    /// >= 0: install as [`PRESTART_FD`].
    handover: RawFd,
}

extern "C" fn function_entry(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` points to the FnArgs in the suspended parent's frame (CLONE_VFORK keeps
    // it, and the plan it points to, alive until we exec or exit); exec_function never
    // returns. Raw syscalls only, as in child_main.
    unsafe {
        let a = &*arg.cast::<FnArgs>();
        if let Some(p) = a.lock_down.as_ref() {
            lock_down(p, a.err_w);
        }
        if a.handover >= 0 {
            // dup2 onto itself would keep O_CLOEXEC: clear the flag in that case.
            let ok = if a.handover == PRESTART_FD {
                libc::fcntl(PRESTART_FD, libc::F_SETFD, 0) == 0
            } else {
                libc::dup2(a.handover, PRESTART_FD) == PRESTART_FD
            };
            if !ok {
                fail(a.err_w, Step::Prestart, 1);
            }
        }
        exec_function(&a.exec, a.err_w)
    }
}

/// The function's process: new session, default signal handling, then `execve`.
unsafe fn exec_function(p: &ExecArgs, err_w: RawFd) -> ! {
    // SAFETY: raw syscalls on the plan's (or the specialisation message's) memory, see
    // child_main; `candidates` points to `n_candidates` valid C strings.
    unsafe {
        libc::setsid();
        let mut dfl: libc::sigaction = std::mem::zeroed();
        dfl.sa_sigaction = libc::SIG_DFL;
        for sig in 1..=libc::SIGRTMAX() {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                // Handlers installed by flint (tokio) and ignored signals (Rust ignores SIGPIPE)
                // must not leak into the function.
                libc::sigaction(sig, &dfl, ptr::null_mut());
            }
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, ptr::null_mut());
        if libc::chdir(p.cwd) != 0 {
            fail(err_w, Step::Chdir, 0);
        }
        let mut last = libc::ENOENT;
        for i in 0..p.n_candidates {
            libc::execve(*p.candidates.add(i), p.argv, p.envp);
            let e = errno();
            // Like execvp: keep looking on ENOENT/ENOTDIR, remember EACCES.
            if e != libc::ENOENT && e != libc::ENOTDIR && e != libc::EACCES {
                fail(err_w, Step::Exec, i as u32);
            }
            if last != libc::EACCES {
                last = e;
            }
        }
        *libc::__errno_location() = last;
        fail(err_w, Step::Exec, u32::MAX)
    }
}

/// pid 1: forward signals to the function, reap every zombie, and exit with the function.
unsafe fn init_loop(child: libc::pid_t, status_w: RawFd) -> ! {
    // SAFETY: raw syscalls on stack memory.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        loop {
            let sig = libc::sigwaitinfo(&all, ptr::null_mut());
            if sig < 0 {
                continue;
            }
            if sig != libc::SIGCHLD {
                libc::kill(child, sig);
                continue;
            }
            loop {
                let mut st: c_int = 0;
                let r = libc::wait4(-1, &mut st, libc::WNOHANG, ptr::null_mut());
                if r <= 0 {
                    break;
                }
                if r == child {
                    libc::write(status_w, (&raw const st).cast::<c_void>(), 4);
                    let code = if libc::WIFEXITED(st) {
                        libc::WEXITSTATUS(st)
                    } else {
                        128 + libc::WTERMSIG(st)
                    };
                    libc::_exit(code);
                }
            }
        }
    }
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: c_int,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
const SECCOMP_SET_MODE_FILTER: u32 = 1;

/// `struct ifreq` reduced to the name and the flags member of the union (40 bytes total).
#[repr(C)]
struct IfReqFlags {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// Brings `lo` up in the current network namespace. Raw syscalls only.
pub(crate) fn loopback_up() -> bool {
    // SAFETY: socket/ioctl/close on a stack-allocated ifreq of the kernel's size.
    unsafe {
        let s = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if s < 0 {
            return false;
        }
        let mut req = IfReqFlags {
            name: [0; libc::IFNAMSIZ],
            flags: 0,
            _pad: [0; 22],
        };
        req.name[..2].copy_from_slice(b"lo");
        let ok = libc::ioctl(s, libc::SIOCGIFFLAGS, &raw mut req) == 0 && {
            req.flags |= libc::IFF_UP as libc::c_short;
            libc::ioctl(s, libc::SIOCSIFFLAGS, &raw mut req) == 0
        };
        libc::close(s);
        ok
    }
}

/// A listening TCP socket on 127.0.0.1:`port` in the current network namespace, or -1.
fn listen_loopback(port: u16) -> RawFd {
    // SAFETY: socket/setsockopt/bind/listen with stack-allocated arguments.
    unsafe {
        let s = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if s < 0 {
            return -1;
        }
        let one: c_int = 1;
        libc::setsockopt(
            s,
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            (&raw const one).cast(),
            4,
        );
        let addr = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from_ne_bytes([127, 0, 0, 1]),
            },
            sin_zero: [0; 8],
        };
        if libc::bind(
            s,
            (&raw const addr).cast(),
            size_of::<libc::sockaddr_in>() as u32,
        ) != 0
            || libc::listen(s, 1024) != 0
        {
            let e = errno();
            libc::close(s);
            *libc::__errno_location() = e;
            return -1;
        }
        s
    }
}

/// Control-message buffer for exactly one fd, aligned for `cmsghdr`.
#[repr(C, align(8))]
pub(crate) struct FdCmsg(pub(crate) [u8; 24]);

/// Sends `fd` with one byte [`MSG_LISTENER`] over the unix socket `sock`.
fn send_fd(sock: RawFd, fd: RawFd) -> bool {
    // SAFETY: sendmsg with iovec/cmsg buffers on the stack, sized with CMSG_SPACE.
    unsafe {
        let mut byte = MSG_LISTENER;
        let mut iov = libc::iovec {
            iov_base: (&raw mut byte).cast(),
            iov_len: 1,
        };
        let mut buf = FdCmsg([0; 24]);
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &raw mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = buf.0.as_mut_ptr().cast();
        msg.msg_controllen = libc::CMSG_SPACE(4) as usize;
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(4) as usize;
        ptr::write_unaligned(libc::CMSG_DATA(c).cast::<c_int>(), fd);
        libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) == 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_area_parses_proc_stat() {
        let own = argv_area().expect("own /proc/self/stat");
        assert!(own.0 < own.1);
        let line = "12 (a b) c) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 1000 2000 3000 4000 0";
        assert_eq!(parse_argv_area(line), Some((1000, 2000)));
        assert_eq!(parse_argv_area("1 (x) S 1"), None);
    }

    #[test]
    fn steps_round_trip() {
        for v in 1..=26 {
            let s = Step::from_u32(v).unwrap();
            assert_eq!(s as u32, v);
            assert!(!s.name().is_empty());
        }
        assert_eq!(Step::from_u32(0), None);
        assert_eq!(Step::from_u32(27), None);
    }

    #[test]
    fn cmsg_buffer_fits_one_fd() {
        // SAFETY: CMSG_SPACE is pure arithmetic.
        assert!(unsafe { libc::CMSG_SPACE(4) } as usize <= size_of::<FdCmsg>());
        assert_eq!(size_of::<IfReqFlags>(), 40);
    }

    #[test]
    fn pointer_arrays_are_null_terminated() {
        let args = vec![CString::new("a").unwrap(), CString::new("b").unwrap()];
        let p = ChildPlan::pointers(&args);
        assert_eq!(p.len(), 3);
        assert!(p[2].is_null());
    }
}
