//! Optional spawn helper ("fork server"), design (c).
//!
//! Why: cloning the sandbox child directly from flint (design (a), the default) makes the
//! kernel copy flint's page tables for the child. That cost grows with flint's resident
//! memory and is especially high under nested virtualization; see the crate docs for
//! numbers. The helper is a small single-threaded process, started once per
//! [`crate::Sandboxer`] with `posix_spawn` from the spawner thread, that performs the
//! `clone3` instead: its page tables are tiny, so each spawn stays cheap whatever flint's
//! size. The child is created with `CLONE_PARENT`, so flint (not the helper) is its parent:
//! flint reaps it with `waitid(P_PIDFD)`, gets `SIGCHLD`, and the init's
//! `PR_SET_PDEATHSIG` still follows flint's spawner thread.
//!
//! Protocol: one `SOCK_SEQPACKET` socket. Request = one message: the encoded [`PlanData`]
//! plus five fds via `SCM_RIGHTS` (sync, err, status, stdout, stderr). Reply = one message:
//! `pid: i32` (or `-errno`) plus the child's pidfd.
//!
//! The helper executable is either the crate's `flint-sandbox-helper` binary or flint itself
//! in a hidden mode that calls [`helper_main`].

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::child::{ChildFds, ChildPlan, RawMount};
use crate::error::{Result, SandboxError};

/// Environment variable carrying the helper's socket fd number.
pub const HELPER_FD_ENV: &str = "FLINT_SANDBOX_HELPER_FD";
/// Environment variable carrying flint's pid, to detect that flint died before the helper
/// armed its parent-death signal.
const HELPER_PARENT_ENV: &str = "FLINT_SANDBOX_HELPER_PARENT";
/// Environment variable naming the cgroup parent whose environments the helper kills when
/// flint dies (see [`helper_main`]).
const HELPER_CGROUP_PARENT_ENV: &str = "FLINT_SANDBOX_HELPER_CGROUP_PARENT";

/// Everything the child needs, in owned, serializable form (no pointers, no fds).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct PlanData {
    pub clone_flags: u64,
    pub mounts: Vec<MountData>,
    pub root: Vec<u8>,
    pub root_remount_flags: u64,
    pub hostname: Vec<u8>,
    pub cwd: Vec<u8>,
    pub exec_candidates: Vec<Vec<u8>>,
    pub argv: Vec<Vec<u8>>,
    pub env: Vec<Vec<u8>>,
    pub uid: u32,
    pub gid: u32,
    pub wait_userns: bool,
    pub set_groups: bool,
    pub cap_last_cap: u32,
    pub lo_up: bool,
    pub listen_port: Option<u16>,
    pub nofile: u64,
    /// fds[5] of the request is a pooled network namespace to join.
    pub pooled_netns: bool,
    /// Wait for a specialisation message after "go" (pre-spawned environment).
    pub prespawned: bool,
    /// Pre-spawned with its runtime (argv, env, cwd) started before the claim.
    pub prestart: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct MountData {
    pub src: Option<Vec<u8>>,
    pub target: Vec<u8>,
    pub fstype: Option<Vec<u8>>,
    pub flags: u64,
    pub data: Option<Vec<u8>>,
}

fn cs(s: &[u8]) -> Result<CString> {
    CString::new(s).map_err(|_| SandboxError::InvalidSpec("NUL byte in a path or string".into()))
}

impl PlanData {
    /// Builds the pointer-based plan the child runs on.
    pub(crate) fn to_child_plan(
        &self,
        fds: ChildFds,
        bpf: Vec<seccompiler::BpfProgram>,
    ) -> Result<ChildPlan> {
        let opt = |o: &Option<Vec<u8>>| o.as_deref().map(cs).transpose();
        let mounts = self
            .mounts
            .iter()
            .map(|m| {
                Ok(RawMount {
                    src: opt(&m.src)?,
                    target: cs(&m.target)?,
                    fstype: opt(&m.fstype)?,
                    flags: m.flags as libc::c_ulong, // u64 -> c_ulong (u32 on 32-bit targets)
                    data: opt(&m.data)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let list = |v: &[Vec<u8>]| v.iter().map(|s| cs(s)).collect::<Result<Vec<_>>>();
        let argv = list(&self.argv)?;
        let env = list(&self.env)?;
        let exec_candidates = list(&self.exec_candidates)?;
        Ok(ChildPlan {
            mounts,
            root: cs(&self.root)?,
            root_remount_flags: self.root_remount_flags as libc::c_ulong,
            dot: cs(b".")?,
            slash: cs(b"/")?,
            dev_null: cs(b"/dev/null")?,
            hostname: cs(&self.hostname)?,
            cwd: cs(&self.cwd)?,
            exec_candidate_ptrs: exec_candidates.iter().map(|c| c.as_ptr()).collect(),
            _exec_candidates: exec_candidates,
            argv_ptrs: ChildPlan::pointers(&argv),
            envp_ptrs: ChildPlan::pointers(&env),
            uid: self.uid,
            gid: self.gid,
            wait_userns: self.wait_userns,
            set_groups: self.set_groups,
            cap_last_cap: self.cap_last_cap,
            filters: ChildPlan::fprogs(&bpf),
            lo_up: self.lo_up,
            listen_port: self.listen_port,
            nofile: self.nofile,
            prespawned: self.prespawned,
            prestart: self.prestart,
            fds,
            argv_area: crate::child::argv_area(),
            _argv: argv,
            _env: env,
            _bpf: bpf,
        })
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut e = Enc(Vec::with_capacity(4096));
        e.u64(self.clone_flags);
        e.u64(self.mounts.len() as u64);
        for m in &self.mounts {
            e.opt(&m.src);
            e.bytes(&m.target);
            e.opt(&m.fstype);
            e.u64(m.flags);
            e.opt(&m.data);
        }
        e.bytes(&self.root);
        e.u64(self.root_remount_flags);
        e.bytes(&self.hostname);
        e.bytes(&self.cwd);
        for l in [&self.exec_candidates, &self.argv, &self.env] {
            e.u64(l.len() as u64);
            for s in l {
                e.bytes(s);
            }
        }
        e.u64(self.uid.into());
        e.u64(self.gid.into());
        e.u64(u64::from(self.wait_userns));
        e.u64(u64::from(self.set_groups));
        e.u64(self.cap_last_cap.into());
        e.u64(u64::from(self.lo_up));
        e.u64(self.listen_port.map_or(u64::MAX, u64::from));
        e.u64(self.nofile);
        e.u64(u64::from(self.pooled_netns));
        e.u64(u64::from(self.prespawned));
        e.u64(u64::from(self.prestart));
        e.0
    }

    pub(crate) fn decode(buf: &[u8]) -> Option<Self> {
        let mut d = Dec(buf);
        let clone_flags = d.u64()?;
        let n = d.u64()?;
        let mut mounts = Vec::new();
        for _ in 0..n {
            mounts.push(MountData {
                src: d.opt()?,
                target: d.bytes()?,
                fstype: d.opt()?,
                flags: d.u64()?,
                data: d.opt()?,
            });
        }
        let root = d.bytes()?;
        let root_remount_flags = d.u64()?;
        let hostname = d.bytes()?;
        let cwd = d.bytes()?;
        let mut lists = Vec::new();
        for _ in 0..3 {
            let n = d.u64()?;
            let mut l = Vec::new();
            for _ in 0..n {
                l.push(d.bytes()?);
            }
            lists.push(l);
        }
        let env = lists.pop()?;
        let argv = lists.pop()?;
        let exec_candidates = lists.pop()?;
        let p = PlanData {
            clone_flags,
            mounts,
            root,
            root_remount_flags,
            hostname,
            cwd,
            exec_candidates,
            argv,
            env,
            uid: u32::try_from(d.u64()?).ok()?,
            gid: u32::try_from(d.u64()?).ok()?,
            wait_userns: d.u64()? != 0,
            set_groups: d.u64()? != 0,
            cap_last_cap: u32::try_from(d.u64()?).ok()?,
            lo_up: d.u64()? != 0,
            listen_port: u16::try_from(d.u64()?).ok(),
            nofile: d.u64()?,
            pooled_netns: d.u64()? != 0,
            prespawned: d.u64()? != 0,
            prestart: d.u64()? != 0,
        };
        d.0.is_empty().then_some(p)
    }
}

struct Enc(Vec<u8>);

impl Enc {
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u64(b.len() as u64);
        self.0.extend_from_slice(b);
    }
    fn opt(&mut self, b: &Option<Vec<u8>>) {
        match b {
            None => self.u64(u64::MAX),
            Some(b) => self.bytes(b),
        }
    }
}

struct Dec<'a>(&'a [u8]);

impl Dec<'_> {
    fn u64(&mut self) -> Option<u64> {
        let (h, t) = self.0.split_first_chunk::<8>()?;
        self.0 = t;
        Some(u64::from_le_bytes(*h))
    }
    fn bytes(&mut self) -> Option<Vec<u8>> {
        let n = usize::try_from(self.u64()?).ok()?;
        if n > self.0.len() {
            return None;
        }
        let (h, t) = self.0.split_at(n);
        self.0 = t;
        Some(h.to_vec())
    }
    fn opt(&mut self) -> Option<Option<Vec<u8>>> {
        let n = self.u64()?;
        if n == u64::MAX {
            return Some(None);
        }
        let n = usize::try_from(n).ok()?;
        if n > self.0.len() {
            return None;
        }
        let (h, t) = self.0.split_at(n);
        self.0 = t;
        Some(Some(h.to_vec()))
    }
}

/// Largest request we accept (argv + env + mount plan; Lambda caps env at 4 KiB).
const MAX_MSG: usize = 256 * 1024;

/// Sends `data` and `fds` as one message.
pub(crate) fn send_msg(sock: RawFd, data: &[u8], fds: &[RawFd]) -> io::Result<()> {
    let space = cmsg_space(fds.len());
    let mut control = vec![0u64; space.div_ceil(8)];
    let mut iov = libc::iovec {
        iov_base: data.as_ptr().cast_mut().cast(),
        iov_len: data.len(),
    };
    // SAFETY: msghdr is plain data; all pointers refer to live buffers sized above.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &raw mut iov;
        msg.msg_iovlen = 1;
        if !fds.is_empty() {
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = space;
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN((fds.len() * 4) as u32) as usize;
            std::ptr::copy_nonoverlapping(
                fds.as_ptr(),
                libc::CMSG_DATA(c).cast::<RawFd>(),
                fds.len(),
            );
        }
        if libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

fn cmsg_space(n: usize) -> usize {
    // SAFETY: CMSG_SPACE is arithmetic.
    unsafe { libc::CMSG_SPACE((n * 4) as u32) as usize }
}

/// Receives one message and up to `max_fds` fds. `Ok(None)` on EOF.
pub(crate) fn recv_msg(sock: RawFd, max_fds: usize) -> io::Result<Option<(Vec<u8>, Vec<OwnedFd>)>> {
    let mut data = vec![0u8; MAX_MSG];
    let space = cmsg_space(max_fds);
    let mut control = vec![0u64; space.div_ceil(8)];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // SAFETY: msghdr is plain data; all pointers refer to live buffers sized above, and the
    // fds taken from the control message are new and owned by nobody else.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &raw mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = space;
        let n = loop {
            let n = libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC);
            if n >= 0 {
                break n as usize;
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        };
        let mut fds = Vec::new();
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let count = ((*c).cmsg_len - libc::CMSG_LEN(0) as usize) / 4;
                for i in 0..count {
                    let fd = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<RawFd>().add(i));
                    fds.push(OwnedFd::from_raw_fd(fd));
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
        if n == 0 && fds.is_empty() {
            return Ok(None);
        }
        if msg.msg_flags & (libc::MSG_TRUNC | libc::MSG_CTRUNC) != 0 {
            return Err(io::Error::other("helper message truncated"));
        }
        data.truncate(n);
        Ok(Some((data, fds)))
    }
}

/// Entry point of the helper process; call it from `main` when flint is started in its
/// hidden helper mode (or use the crate's `flint-sandbox-helper` binary). Never returns:
/// exits when flint closes the socket (or dies).
///
/// The helper outlives flint on purpose, for a moment: it has no parent-death signal, and
/// when its socket reads end-of-file (flint exited, however it died, `kill -9` included) it
/// kills every environment left in flint's cgroup parent before it exits. A sandbox's own
/// parent-death signal is not enough for that: a process in a frozen cgroup does not die of
/// a `SIGKILL` until it is thawed, so an environment frozen while idle would otherwise
/// outlive a crashed flint for ever.
pub fn helper_main() -> ! {
    let flint: Option<i32> = std::env::var(HELPER_PARENT_ENV)
        .ok()
        .and_then(|v| v.parse().ok());
    let code = match run_helper() {
        // End of file: flint closed its end, because it exited or dropped its Sandboxer.
        Ok(()) => {
            remove_orphaned_environments();
            0
        }
        Err(e) => {
            eprintln!("flint-sandbox-helper: {e}");
            // Only when flint is gone (we were reparented): a live flint replaces a failed
            // helper and keeps its environments.
            // SAFETY: getppid has no failure mode.
            if flint != Some(unsafe { libc::getppid() }) {
                remove_orphaned_environments();
            }
            1
        }
    };
    std::process::exit(code)
}

/// Kills and removes what is left under flint's cgroup parent (nothing after a clean
/// shutdown, where flint destroyed every environment itself).
fn remove_orphaned_environments() {
    let Ok(parent) = std::env::var(HELPER_CGROUP_PARENT_ENV) else {
        return;
    };
    let host = crate::host::probe_host();
    if let Err(e) = crate::cgroup::remove_stale(&host.cgroup, &parent) {
        eprintln!("flint-sandbox-helper: removing environments left by flint: {e}");
    }
}

fn run_helper() -> Result<()> {
    let fd: RawFd = std::env::var(HELPER_FD_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| SandboxError::InvalidSpec(format!("{HELPER_FD_ENV} is not set")))?;
    // SAFETY: the fd was passed to us by flint for exactly this purpose.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: setting FD_CLOEXEC on our own socket.
    unsafe { libc::fcntl(sock.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
    let filters = crate::seccomp::compile_filters()?;
    loop {
        let Some((data, fds)) = recv_msg(sock.as_raw_fd(), 6 + crate::spec::MAX_EXTRA_FDS)
            .map_err(|e| SandboxError::Sys {
                op: "helper recvmsg",
                source: e,
            })?
        else {
            return Ok(());
        };
        let reply = match (PlanData::decode(&data), fds.len()) {
            (Some(plan), n)
                if (5 + usize::from(plan.pooled_netns)..=6 + crate::spec::MAX_EXTRA_FDS)
                    .contains(&n) =>
            {
                let first_extra = 5 + usize::from(plan.pooled_netns);
                let mut extra = [-1; crate::spec::MAX_EXTRA_FDS];
                for (slot, fd) in extra.iter_mut().zip(&fds[first_extra..]) {
                    *slot = fd.as_raw_fd();
                }
                let cfds = ChildFds {
                    sync: fds[0].as_raw_fd(),
                    err_w: fds[1].as_raw_fd(),
                    status_w: fds[2].as_raw_fd(),
                    stdout: fds[3].as_raw_fd(),
                    stderr: fds[4].as_raw_fd(),
                    extra,
                    n_extra: n - first_extra,
                    netns: if plan.pooled_netns {
                        fds[5].as_raw_fd()
                    } else {
                        -1
                    },
                };
                match plan.to_child_plan(cfds, filters.clone()) {
                    Ok(cplan) => crate::sandbox::clone_child(
                        plan.clone_flags | libc::CLONE_PARENT as u64,
                        &cplan,
                    ),
                    Err(e) => Err(e),
                }
            }
            _ => Err(SandboxError::InvalidSpec("malformed helper request".into())),
        };
        drop(fds);
        let sent = match reply {
            Ok((pid, pidfd)) => {
                send_msg(sock.as_raw_fd(), &pid.to_le_bytes(), &[pidfd.as_raw_fd()])
            }
            Err(e) => {
                let errno = match &e {
                    SandboxError::Sys { source, .. } => {
                        source.raw_os_error().unwrap_or(libc::EINVAL)
                    }
                    _ => libc::EINVAL,
                };
                send_msg(sock.as_raw_fd(), &(-errno).to_le_bytes(), &[])
            }
        };
        sent.map_err(|e| SandboxError::Sys {
            op: "helper sendmsg",
            source: e,
        })?;
    }
}

/// flint's side of the helper connection.
#[derive(Debug)]
pub(crate) struct HelperConn {
    sock: OwnedFd,
    child: std::process::Child,
    program: std::path::PathBuf,
    args: Vec<std::ffi::OsString>,
    cgroup_parent: Option<String>,
}

impl HelperConn {
    /// Starts the helper (`program args...`) with one end of a fresh socketpair.
    /// `cgroup_parent`: where flint's environments live, cleaned by the helper once flint
    /// is gone (`None`: environments have no cgroups).
    pub(crate) fn start(
        program: &std::path::Path,
        args: &[std::ffi::OsString],
        cgroup_parent: Option<String>,
    ) -> Result<Self> {
        let mut fds = [0; 2];
        // SAFETY: socketpair fills the array; our end is close-on-exec, the helper's is not
        // (it must survive the exec) and is closed in flint right after the spawn.
        let r = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        };
        if r != 0 {
            return Err(SandboxError::sys("socketpair"));
        }
        // SAFETY: both fds are new and ours.
        let (ours, theirs) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: clearing FD_CLOEXEC on the helper's end.
        unsafe { libc::fcntl(theirs.as_raw_fd(), libc::F_SETFD, 0) };
        let mut command = std::process::Command::new(program);
        command
            .args(args)
            .env(HELPER_FD_ENV, theirs.as_raw_fd().to_string())
            .env(HELPER_PARENT_ENV, std::process::id().to_string())
            .stdin(std::process::Stdio::null());
        if let Some(parent) = &cgroup_parent {
            command.env(HELPER_CGROUP_PARENT_ENV, parent);
        }
        let child = command
            .spawn()
            .map_err(|e| SandboxError::io("spawn helper", program, e))?;
        drop(theirs);
        Ok(Self {
            sock: ours,
            child,
            program: program.to_path_buf(),
            args: args.to_vec(),
            cgroup_parent,
        })
    }

    /// Whether the helper process is still running.
    pub(crate) fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Program and arguments, to start a replacement.
    pub(crate) fn command(&self) -> (std::path::PathBuf, Vec<std::ffi::OsString>, Option<String>) {
        (
            self.program.clone(),
            self.args.clone(),
            self.cgroup_parent.clone(),
        )
    }

    /// Asks the helper to clone the child; returns its pid and pidfd.
    pub(crate) fn clone_child(&mut self, plan: &PlanData, fds: &[RawFd]) -> Result<(i32, OwnedFd)> {
        let sys = |op, e| SandboxError::Sys { op, source: e };
        send_msg(self.sock.as_raw_fd(), &plan.encode(), fds)
            .map_err(|e| sys("send to helper", e))?;
        let (data, mut got) = recv_msg(self.sock.as_raw_fd(), 1)
            .map_err(|e| sys("receive from helper", e))?
            .ok_or_else(|| sys("receive from helper", io::Error::other("helper exited")))?;
        let pid = i32::from_le_bytes(
            data.get(..4)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| sys("helper reply", io::Error::other("short reply")))?,
        );
        if pid < 0 {
            return Err(sys(
                "clone3 (in helper)",
                io::Error::from_raw_os_error(-pid),
            ));
        }
        let pidfd = got
            .pop()
            .ok_or_else(|| sys("helper reply", io::Error::other("no pidfd")))?;
        Ok((pid, pidfd))
    }
}

impl Drop for HelperConn {
    fn drop(&mut self) {
        // Closing our end makes the helper exit; reap it.
        // SAFETY: shutdown on our own socket.
        unsafe { libc::shutdown(self.sock.as_raw_fd(), libc::SHUT_RDWR) };
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> PlanData {
        PlanData {
            clone_flags: 0x7e02_0000,
            mounts: vec![
                MountData {
                    src: None,
                    target: b"/".to_vec(),
                    fstype: None,
                    flags: 0x44000,
                    data: None,
                },
                MountData {
                    src: Some(b"tmpfs".to_vec()),
                    target: b"/r/tmp".to_vec(),
                    fstype: Some(b"tmpfs".to_vec()),
                    flags: 6,
                    data: Some(b"size=512m".to_vec()),
                },
            ],
            root: b"/run/x/roots/abc".to_vec(),
            root_remount_flags: 0x1021,
            hostname: b"localhost".to_vec(),
            cwd: b"/var/task".to_vec(),
            exec_candidates: vec![b"/var/task/bootstrap".to_vec()],
            argv: vec![b"bootstrap".to_vec(), vec![]],
            env: vec![b"A=b".to_vec()],
            uid: 993,
            gid: 990,
            wait_userns: false,
            set_groups: true,
            cap_last_cap: 40,
            lo_up: true,
            listen_port: Some(9001),
            nofile: 1024,
            pooled_netns: true,
            prespawned: true,
            prestart: true,
        }
    }

    #[test]
    fn plan_round_trips() {
        let p = sample();
        assert_eq!(PlanData::decode(&p.encode()), Some(p.clone()));
        let mut q = p;
        q.listen_port = None;
        q.mounts.clear();
        assert_eq!(PlanData::decode(&q.encode()), Some(q));
    }

    #[test]
    fn truncated_or_trailing_input_is_rejected() {
        let e = sample().encode();
        for cut in [0, 1, 8, e.len() / 2, e.len() - 1] {
            assert_eq!(PlanData::decode(&e[..cut]), None, "cut at {cut}");
        }
        let mut long = e.clone();
        long.push(0);
        assert_eq!(PlanData::decode(&long), None);
        let mut huge = e;
        huge[8..16].copy_from_slice(&u64::MAX.to_le_bytes()); // absurd mount count
        assert_eq!(PlanData::decode(&huge), None);
    }

    #[test]
    fn fds_travel_over_seqpacket() {
        let mut fds = [0; 2];
        // SAFETY: test socketpair into a local array.
        let r =
            unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET, 0, fds.as_mut_ptr()) };
        assert_eq!(r, 0);
        let devnull = std::fs::File::open("/dev/null").unwrap();
        send_msg(
            fds[0],
            b"hello",
            &[devnull.as_raw_fd(), devnull.as_raw_fd()],
        )
        .unwrap();
        let (data, got) = recv_msg(fds[1], 5).unwrap().unwrap();
        assert_eq!(data, b"hello");
        assert_eq!(got.len(), 2);
        // SAFETY: closing the test sockets.
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
    }
}
