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
//! plus the child's fds via `SCM_RIGHTS` ([`ChildFds::in_request_order`]). Reply = one
//! message: `pid: i32` (or `-errno`) plus the child's pidfd.
//!
//! The helper executable is either the crate's `flint-sandbox-helper` binary or flint itself
//! in a hidden mode that calls [`helper_main`].

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use parking_lot::Mutex;

use crate::error::{Result, SandboxError};
use crate::launch::{self, Launch};
use crate::plan::{ChildFds, PlanData};
use crate::spec::MAX_EXTRA_FDS;
use crate::sys::linux_host;
use crate::sys::seam::{HostSys, LINUX};

/// Environment variable carrying the helper's socket fd number.
pub const HELPER_FD_ENV: &str = "FLINT_SANDBOX_HELPER_FD";
/// Environment variable carrying flint's pid, to detect that flint died before the helper
/// armed its parent-death signal.
const HELPER_PARENT_ENV: &str = "FLINT_SANDBOX_HELPER_PARENT";
/// Environment variable naming the cgroup parent whose environments the helper kills when
/// flint dies (see [`helper_main`]).
const HELPER_CGROUP_PARENT_ENV: &str = "FLINT_SANDBOX_HELPER_CGROUP_PARENT";

/// Largest request we accept (argv + env + mount plan; Lambda caps env at 4 KiB).
const MAX_MSG: usize = 256 * 1024;
/// Most descriptors a request carries: five, the pooled network namespace, the extra fds.
const MAX_REQUEST_FDS: usize = 6 + MAX_EXTRA_FDS;

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
            if flint != Some(linux_host::parent_pid()) {
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
    if let Err(e) = crate::cgroup::remove_stale(&LINUX, &host.cgroup, &parent) {
        eprintln!("flint-sandbox-helper: removing environments left by flint: {e}");
    }
}

fn run_helper() -> Result<()> {
    let fd: RawFd = std::env::var(HELPER_FD_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| SandboxError::InvalidSpec(format!("{HELPER_FD_ENV} is not set")))?;
    // SAFETY: the fd was passed to us by flint for exactly this purpose; nothing else in
    // this process owns it.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    linux_host::set_cloexec(sock.as_raw_fd(), true).map_err(|e| SandboxError::Sys {
        op: "helper socket",
        source: e,
    })?;
    let filters = crate::seccomp::compile_filters()?;
    loop {
        let Some(request) = LINUX
            .recv(sock.as_fd(), MAX_MSG, MAX_REQUEST_FDS)
            .map_err(|e| SandboxError::Sys {
                op: "helper recvmsg",
                source: e,
            })?
        else {
            return Ok(());
        };
        let raw: Vec<RawFd> = request.fds.iter().map(AsRawFd::as_raw_fd).collect();
        let reply = PlanData::decode(&request.data)
            .and_then(|plan| Some((ChildFds::from_request(&raw, plan.pooled_netns)?, plan)))
            .ok_or_else(|| SandboxError::InvalidSpec("malformed helper request".into()))
            .and_then(|(fds, plan)| {
                let child_plan = plan.to_child_plan(fds, filters.clone())?;
                launch::clone_child(plan.clone_flags | libc::CLONE_PARENT as u64, &child_plan)
            });
        drop(request);
        let sent = match reply {
            Ok((pid, pidfd)) => LINUX.send(sock.as_fd(), &pid.to_le_bytes(), &[pidfd.as_raw_fd()]),
            Err(e) => {
                let errno = match &e {
                    SandboxError::Sys { source, .. } => {
                        source.raw_os_error().unwrap_or(libc::EINVAL)
                    }
                    _ => libc::EINVAL,
                };
                LINUX.send(sock.as_fd(), &(-errno).to_le_bytes(), &[])
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
struct HelperConn {
    sock: OwnedFd,
    child: std::process::Child,
    program: PathBuf,
    args: Vec<OsString>,
    cgroup_parent: Option<String>,
}

impl HelperConn {
    /// Starts the helper (`program args...`) with one end of a fresh socketpair.
    /// `cgroup_parent`: where flint's environments live, cleaned by the helper once flint
    /// is gone (`None`: environments have no cgroups).
    fn start(program: &Path, args: &[OsString], cgroup_parent: Option<String>) -> Result<Self> {
        let (ours, theirs) = linux_host::helper_socketpair().map_err(|e| SandboxError::Sys {
            op: "socketpair",
            source: e,
        })?;
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

    /// Starts a helper from the spawner thread (whose children the sandboxes are).
    fn start_on_spawner_thread(
        program: PathBuf,
        args: Vec<OsString>,
        cgroup_parent: Option<String>,
    ) -> Result<Self> {
        launch::on_spawner_thread(move || Self::start(&program, &args, cgroup_parent))?
    }

    /// Whether the helper process is still running.
    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Asks the helper to clone the child; returns its pid and pidfd.
    fn clone_child(&mut self, plan: &PlanData, fds: &[RawFd]) -> Result<(i32, OwnedFd)> {
        let sys = |op, e| SandboxError::Sys { op, source: e };
        LINUX
            .send(self.sock.as_fd(), &plan.encode(), fds)
            .map_err(|e| sys("send to helper", e))?;
        let reply = LINUX
            .recv(self.sock.as_fd(), MAX_MSG, 1)
            .map_err(|e| sys("receive from helper", e))?
            .ok_or_else(|| sys("receive from helper", io::Error::other("helper exited")))?;
        let pid = i32::from_le_bytes(
            reply
                .data
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| sys("helper reply", io::Error::other("short reply")))?,
        );
        if pid < 0 {
            return Err(sys(
                "clone3 (in helper)",
                io::Error::from_raw_os_error(-pid),
            ));
        }
        let pidfd = reply
            .fds
            .into_iter()
            .next()
            .ok_or_else(|| sys("helper reply", io::Error::other("no pidfd")))?;
        Ok((pid, pidfd))
    }
}

impl Drop for HelperConn {
    fn drop(&mut self) {
        // Closing our end makes the helper exit; reap it.
        linux_host::shutdown(self.sock.as_fd());
        let _ = self.child.wait();
    }
}

/// [`Launch`] through the spawn helper.
#[derive(Debug)]
pub(crate) struct HelperLauncher {
    conn: Mutex<HelperConn>,
}

impl HelperLauncher {
    /// Starts the helper; see [`crate::SandboxerConfig::spawn_helper`].
    pub(crate) fn start(
        program: PathBuf,
        args: Vec<OsString>,
        cgroup_parent: Option<String>,
    ) -> Result<Self> {
        Ok(Self {
            conn: Mutex::new(HelperConn::start_on_spawner_thread(
                program,
                args,
                cgroup_parent,
            )?),
        })
    }
}

impl Launch for HelperLauncher {
    fn launch(&self, plan: &PlanData, fds: &ChildFds) -> Result<(i32, OwnedFd)> {
        let mut conn = self.conn.lock();
        // A helper that died (killed by an operator, OOM, ...) is replaced.
        if !conn.alive() {
            *conn = HelperConn::start_on_spawner_thread(
                conn.program.clone(),
                conn.args.clone(),
                conn.cgroup_parent.clone(),
            )?;
        }
        conn.clone_child(plan, &fds.in_request_order())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_travel_over_seqpacket() {
        let (ours, theirs) = linux_host::helper_socketpair().unwrap();
        let devnull = std::fs::File::open("/dev/null").unwrap();
        let plan = PlanData {
            argv: vec![b"x".to_vec()],
            ..PlanData::default()
        };
        let fd = devnull.as_raw_fd();
        LINUX.send(ours.as_fd(), &plan.encode(), &[fd; 5]).unwrap();
        let got = LINUX
            .recv(theirs.as_fd(), MAX_MSG, MAX_REQUEST_FDS)
            .unwrap()
            .unwrap();
        assert_eq!(PlanData::decode(&got.data), Some(plan));
        assert_eq!(got.fds.len(), 5);
        drop(ours);
        assert!(
            LINUX.recv(theirs.as_fd(), MAX_MSG, 1).unwrap().is_none(),
            "EOF"
        );
    }
}
