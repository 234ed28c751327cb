//! [`Sandbox`]: one running execution environment, and how it ended ([`ExitStatus`]).

use std::fs::File;
use std::io::Read;
use std::net::TcpListener;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use crate::cgroup::{CgroupGuard, CgroupHandle, Limits};
use crate::error::{Result, SandboxError};
use crate::memory_files::HeldFiles;
use crate::plain;
use crate::protocol::{WAIT_STATUS_LEN, decode_wait_status};
use crate::sys::seam::HostSys;

/// How the function ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// `exit(code)`.
    Exited(i32),
    /// Killed by a signal (e.g. `SIGKILL` = 9 after an OOM kill or [`Sandbox::kill`]).
    Signaled(i32),
}

impl ExitStatus {
    fn from_wait_status(st: i32) -> Self {
        if libc::WIFEXITED(st) {
            ExitStatus::Exited(libc::WEXITSTATUS(st))
        } else {
            ExitStatus::Signaled(libc::WTERMSIG(st))
        }
    }

    /// `exit(0)`.
    pub fn success(&self) -> bool {
        *self == ExitStatus::Exited(0)
    }
}

/// One running execution environment.
///
/// The environment is a pid namespace whose init (pid 1, [`Sandbox::pid`] on the host) runs
/// the function as its only child; it ends when the function exits. Call
/// [`Sandbox::destroy`] when done: it kills everything and removes the cgroups. `Drop` does
/// the same as a best effort.
///
/// Waiting from async code: the [`Sandbox::pidfd`] becomes readable when the environment
/// has exited; wrap it in `tokio::io::unix::AsyncFd` and call [`Sandbox::try_wait`] once it
/// is readable.
#[derive(Debug)]
pub struct Sandbox {
    sys: &'static dyn HostSys,
    id: String,
    pid: i32,
    pidfd: OwnedFd,
    /// Read end of the status pipe (init writes the function's wait status).
    status_r: File,
    cgroup: Option<CgroupGuard>,
    listener: Option<TcpListener>,
    /// Set in unisolated development mode: the process group and `/tmp` stand-in to clean.
    plain: Option<plain::PlainParts>,
    exit: Option<ExitStatus>,
    /// The largest memory sample so far (see [`Sandbox::memory_peak_bytes`]).
    memory_peak: AtomicU64,
    /// The files each sample reads, kept open between invocations, and the cgroup's
    /// charge marks at the last full sample.
    memory_probe: Mutex<MemoryProbe>,
    torn_down: bool,
}

/// What [`Sandbox::memory_peak_bytes`] keeps between its samples.
#[derive(Debug, Default)]
struct MemoryProbe {
    files: HeldFiles,
    /// The cgroup's charge marks (now, peak) when the last full sample was taken.
    marks: Option<[u64; 2]>,
}

impl Sandbox {
    /// A sandbox whose init is `pid`/`pidfd`, owning `cgroup`. From here on, dropping it
    /// tears the environment down.
    pub(crate) fn started(
        sys: &'static dyn HostSys,
        id: String,
        (pid, pidfd): (i32, OwnedFd),
        status_r: OwnedFd,
        cgroup: Option<CgroupGuard>,
    ) -> Self {
        Self {
            sys,
            id,
            pid,
            pidfd,
            status_r: File::from(status_r),
            cgroup,
            listener: None,
            plain: None,
            exit: None,
            memory_peak: AtomicU64::new(0),
            memory_probe: Mutex::default(),
            torn_down: false,
        }
    }

    /// A plain process of the unisolated development mode. No init reports the function's
    /// status: `status_r` is the read end of a pipe whose write end is already closed, so it
    /// reads EOF and waiting falls back to `waitid`'s own status.
    pub(crate) fn plain(
        sys: &'static dyn HostSys,
        id: String,
        spawned: plain::Spawned,
        status_r: OwnedFd,
    ) -> Self {
        let mut sb = Self::started(sys, id, (spawned.pid, spawned.pidfd), status_r, None);
        sb.listener = spawned.listener;
        sb.plain = Some(spawned.parts);
        sb
    }

    pub(crate) fn set_listener(&mut self, listener: TcpListener) {
        self.listener = Some(listener);
    }

    /// Moves init into the environment's cgroups (before it may start anything).
    pub(crate) fn attach_to_cgroups(&self) -> Result<()> {
        match &self.cgroup {
            Some(cg) => cg.attach(self.sys, self.pid),
            None => Ok(()),
        }
    }

    /// Changes the cgroup limits (a pre-spawned environment gets its function's at the claim).
    pub(crate) fn apply_limits(&self, limits: &Limits) -> Result<()> {
        match &self.cgroup {
            Some(cg) => cg.apply(self.sys, limits),
            None => Ok(()),
        }
    }

    /// Changes the CPU quota to `cpu_millis` milli-vCPUs (1000 = one core), e.g. from init's
    /// share to the handler's at the runtime's first `/next`. Nothing to do without cgroups.
    pub fn set_cpu_millis(&self, cpu_millis: u64) -> Result<()> {
        match &self.cgroup {
            Some(cg) => cg.set_cpu_quota(self.sys, &Limits::new(0, cpu_millis, 0)),
            None => Ok(()),
        }
    }

    /// The environment id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Host pid of the environment's init (pid 1 inside).
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// pidfd of the environment's init: readable once it exited.
    pub fn pidfd(&self) -> BorrowedFd<'_> {
        self.pidfd.as_fd()
    }

    /// The Runtime API listener bound to `127.0.0.1:<runtime_api_port>` inside the sandbox's
    /// network namespace (once; `None` if not requested or already taken). It is blocking;
    /// call `set_nonblocking(true)` before handing it to tokio.
    pub fn take_runtime_api_listener(&mut self) -> Option<TcpListener> {
        self.listener.take()
    }

    /// Non-blocking: the function's exit status once the environment has exited.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        self.wait_inner(false)
    }

    /// Blocks until the environment has exited.
    pub fn wait(&mut self) -> Result<ExitStatus> {
        Ok(self
            .wait_inner(true)?
            .expect("waitid without WNOHANG returns a status"))
    }

    /// Waits at most `timeout`.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<Option<ExitStatus>> {
        if self.exit.is_some() {
            return self.try_wait();
        }
        self.sys
            .poll_readable(self.pidfd.as_fd(), timeout)
            .map_err(|e| SandboxError::Sys {
                op: "poll",
                source: e,
            })?;
        self.try_wait()
    }

    fn wait_inner(&mut self, block: bool) -> Result<Option<ExitStatus>> {
        if let Some(e) = self.exit {
            return Ok(Some(e));
        }
        let Some(exited) = self
            .sys
            .wait_pidfd(self.pidfd.as_fd(), block)
            .map_err(|e| SandboxError::Sys {
                op: "waitid",
                source: e,
            })?
        else {
            return Ok(None);
        };
        // Prefer the function's own status, written by init just before it exits.
        let mut frame = [0u8; WAIT_STATUS_LEN];
        let exit = match self.status_r.read(&mut frame) {
            Ok(WAIT_STATUS_LEN) => ExitStatus::from_wait_status(decode_wait_status(frame)),
            _ if exited.code == libc::CLD_EXITED => ExitStatus::Exited(exited.status),
            _ => ExitStatus::Signaled(exited.status),
        };
        self.exit = Some(exit);
        Ok(Some(exit))
    }

    /// Sends `sig` to the function (through init, which forwards it). Use `SIGTERM` for the
    /// Lambda shutdown phase, then [`Sandbox::kill`].
    pub fn signal(&self, sig: i32) -> Result<()> {
        self.sys
            .pidfd_send_signal(self.pidfd.as_fd(), sig)
            .map_err(|e| SandboxError::Sys {
                op: "pidfd_send_signal",
                source: e,
            })
    }

    /// Kills every process of the environment at once: `SIGKILL` to the namespace's init makes
    /// the kernel kill the whole pid namespace. Frozen environments are thawed first (a v1
    /// frozen task does not die until thawed).
    pub fn kill(&self) -> Result<()> {
        if let Some(parts) = &self.plain {
            // No pid namespace: the function's process group is what belongs to it. Killed
            // even after the leader exited, since what it started may still run.
            return parts.kill_group(self.sys);
        }
        if self.exit.is_some() {
            return Ok(());
        }
        if let Some(cg) = &self.cgroup {
            // Best effort: a failure here only makes the kill slower.
            let _ = cg.unthrottle(self.sys);
        }
        let r = self.signal(libc::SIGKILL);
        if let Some(cg) = &self.cgroup
            && cg.is_frozen(self.sys)
        {
            cg.thaw(self.sys)?;
        }
        match r {
            Err(SandboxError::Sys { source, .. }) if source.raw_os_error() == Some(libc::ESRCH) => {
                Ok(())
            }
            r => r,
        }
    }

    fn cg(&self) -> Result<&CgroupHandle> {
        self.cgroup.as_deref().ok_or_else(|| {
            SandboxError::Unsupported("cgroups are not enforced (development mode)".into())
        })
    }

    /// Freezes every process of the environment (between invocations).
    pub fn freeze(&self) -> Result<()> {
        self.cg()?.freeze(self.sys)
    }

    /// Thaws a frozen environment.
    pub fn thaw(&self) -> Result<()> {
        self.cg()?.thaw(self.sys)
    }

    /// Peak memory use of the environment in bytes (Lambda's "Max Memory Used"), leaving out
    /// page cache no process maps (above all `/tmp`'s files: a disk on Lambda). The kernel
    /// keeps no such peak, so while the environment lives it is the largest of the samples
    /// taken at each call (what the cgroup is charged less that page cache) and of the live
    /// processes' own peak resident sizes (a peak between two samples). A process that
    /// peaked and exited between two calls is missed. Once the environment has exited (an
    /// OOM kill, a crash), the cgroup's charged peak.
    ///
    /// The full sample costs ~20 µs of kernel time (`memory.stat`, `/proc/<pid>/status`)
    /// on every warm invocation, so it is skipped when the cgroup's charge now and its
    /// charged peak are both, to the byte, what they were at the last one: nothing rose
    /// above the old peak, and what is charged now is what was. What that cannot see is a
    /// new process peak that stayed under the old charged peak *and* came back down to the
    /// same byte count after page cache was freed (deleted `/tmp` files, reclaim): a
    /// transient spike no larger than the cache that left, reported one full sample late.
    pub fn memory_peak_bytes(&self) -> Result<u64> {
        if self.plain.is_some() {
            return plain::peak_rss_bytes(self.pid);
        }
        let cg = self.cg()?;
        if self.exit.is_some() {
            return cg.memory_peak(self.sys);
        }
        let mut probe = self.memory_probe.lock();
        let probe = &mut *probe;
        // Read first, so that a change during the sample below makes the next one full.
        let marks = cg.charge_marks(self.sys, &mut probe.files)?;
        if probe.marks == Some(marks) {
            // Charged as at the last full sample, peak unchanged: that sample holds.
            return Ok(self.memory_peak.load(Ordering::Relaxed));
        }
        let sample = cg.memory_in_use(self.sys, &mut probe.files)?;
        let now = sample
            .in_use
            .max(cg.processes_peak_rss(self.sys, &mut probe.files, self.pid));
        probe.marks = Some(marks);
        Ok(self.memory_peak.fetch_max(now, Ordering::Relaxed).max(now))
    }

    /// Whether the kernel OOM-killed a process of this environment.
    pub fn oom_killed(&self) -> Result<bool> {
        Ok(self.cg()?.oom_kills(self.sys)? > 0)
    }

    /// Kills every process, reaps init, and removes the cgroups. Nothing is left behind: no
    /// process, cgroup directory, mount (they only ever existed in the sandbox's own mount
    /// namespace) or temporary directory (the root skeleton is a shared, cached one).
    pub fn destroy(mut self) -> Result<()> {
        self.teardown()
    }

    fn teardown(&mut self) -> Result<()> {
        if self.torn_down {
            return Ok(());
        }
        self.torn_down = true;
        self.listener = None;
        let kill = self.kill();
        let wait = self.wait().map(|_| ());
        // Closed before the cgroups go, so nothing holds their files.
        *self.memory_probe.get_mut() = MemoryProbe::default();
        let rm = self.cgroup.take().map_or(Ok(()), CgroupGuard::remove);
        let tmp = self
            .plain
            .as_ref()
            .map_or(Ok(()), plain::PlainParts::remove_tmp);
        kill.and(wait).and(rm).and(tmp)
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.teardown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_status_decoding() {
        assert_eq!(ExitStatus::from_wait_status(7 << 8), ExitStatus::Exited(7));
        assert_eq!(
            ExitStatus::from_wait_status(libc::SIGKILL),
            ExitStatus::Signaled(9)
        );
        assert!(ExitStatus::Exited(0).success());
    }

    /// The full sample (`memory.stat`, the processes' `VmHWM`) runs only when the cgroup's
    /// charge or charged peak moved since the last one; otherwise the last sample stands.
    #[test]
    fn memory_is_sampled_in_full_only_when_the_charge_moved() {
        use crate::host::CgroupFlavor;
        use crate::sys::fake::{Call, Recorder};
        const MB: u64 = 1024 * 1024;
        let fake = Recorder::leaked();
        let flavor = CgroupFlavor::V2 {
            root: "/cg".into(),
            controllers: vec!["cpu".into(), "memory".into(), "pids".into()],
        };
        let limits = Limits::new(1024, 1000, 1024);
        let cg = CgroupHandle::create(fake, &flavor, "flint", "e", &limits).unwrap();
        // The write end closed: teardown's wait reads EOF, as after the init's exit.
        let (status_r, status_w) = fake.pipe().unwrap();
        drop(status_w);
        let pidfd: OwnedFd = File::open("/dev/null").unwrap().into();
        let sb = Sandbox::started(fake, "e".into(), (7, pidfd), status_r, Some(cg));
        let charge = |now: u64, peak: u64, anon: u64, hwm_kb: u64| {
            fake.set_file("/cg/flint/e/memory.current", &format!("{now}\n"));
            fake.set_file("/cg/flint/e/memory.peak", &format!("{peak}\n"));
            fake.set_file("/cg/flint/e/memory.stat", &format!("anon {anon}\n"));
            fake.set_file("/cg/flint/e/cgroup.procs", "7\n9\n");
            fake.set_file("/proc/9/status", &format!("VmHWM:\t{hwm_kb} kB\n"));
        };
        let stat_reads = || {
            fake.calls_where(|c| matches!(c, Call::ReadFile(p) if p.ends_with("memory.stat")))
                .len()
        };
        charge(60 * MB, 90 * MB, 20 * MB, 30 * 1024);
        assert_eq!(sb.memory_peak_bytes().unwrap(), 30 * MB);
        assert_eq!(stat_reads(), 1);
        // Nothing moved (a warm no-op invocation): no full sample, the same answer.
        assert_eq!(sb.memory_peak_bytes().unwrap(), 30 * MB);
        assert_eq!(stat_reads(), 1);
        // The charge moved: a full sample, which finds the new process peak.
        charge(61 * MB, 90 * MB, 21 * MB, 50 * 1024);
        assert_eq!(sb.memory_peak_bytes().unwrap(), 50 * MB);
        assert_eq!(stat_reads(), 2);
        // Only the charged peak moved (a spike that came back down): a full sample too.
        charge(61 * MB, 95 * MB, 21 * MB, 55 * 1024);
        assert_eq!(sb.memory_peak_bytes().unwrap(), 55 * MB);
        assert_eq!(stat_reads(), 3);
    }
}
