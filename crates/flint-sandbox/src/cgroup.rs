//! Per-environment cgroups: limit computation (pure) and the file operations.
//!
//! v1 uses one directory per controller (`memory`, `cpu`, `pids`, `freezer`) under a
//! `<parent>/` directory at the root of each hierarchy; v2 uses one directory
//! `<root>/<parent>/<id>`. Plain file writes are used on purpose: they are the kernel's API,
//! easy to read in `strace`, and need no crate. Every file operation goes through
//! [`HostSys`], so the unit tests (`cgroup/tests.rs`) check what is written where without
//! root. An environment's cgroups are owned by a [`CgroupGuard`], which removes them when
//! dropped: no failure path can leave one behind.

use std::io::ErrorKind;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Result, SandboxError};
use crate::host::CgroupFlavor;
use crate::sys::seam::HostSys;

/// CFS period used for the CPU quota (the kernel default).
pub(crate) const CPU_PERIOD_US: u64 = 100_000;

/// Resource limits of one environment, in kernel units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    pub memory_bytes: u64,
    pub cpu_quota_us: u64,
    pub cpu_period_us: u64,
    /// The CPU weight, in proportion to memory like the quota (v1 `cpu.shares`: 1024 at
    /// 1769 MB; v2 `cpu.weight`: 100 there). Without it every environment weighs the same
    /// when the host is busy: a 128 MB neighbour, released at the start of each quota
    /// period together with its peers, delays a bigger function's request by milliseconds.
    pub cpu_shares: u64,
    pub pids_max: u64,
}

impl Limits {
    pub(crate) fn new(memory_mb: u64, cpu_millis: u64, pids_max: u64) -> Self {
        Self {
            memory_bytes: memory_mb * 1024 * 1024,
            // 1000 milli-vCPU = one full period; the kernel refuses quotas below 1 ms.
            cpu_quota_us: (cpu_millis * CPU_PERIOD_US / 1000).max(1000),
            cpu_period_us: CPU_PERIOD_US,
            cpu_shares: (memory_mb * 1024 / 1769).clamp(2, 262_144),
            pids_max,
        }
    }
}

/// A v1 controller hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum V1Ctl {
    Memory,
    Cpu,
    Pids,
}

/// Files to write in v1, in order. `memsw` (memory+swap) only exists with swap accounting and
/// must be written after `limit_in_bytes` (the kernel requires memsw >= limit).
pub(crate) fn v1_writes(l: &Limits) -> Vec<(V1Ctl, &'static str, String)> {
    vec![
        (
            V1Ctl::Memory,
            "memory.limit_in_bytes",
            l.memory_bytes.to_string(),
        ),
        (
            V1Ctl::Memory,
            "memory.memsw.limit_in_bytes",
            l.memory_bytes.to_string(),
        ),
        (V1Ctl::Memory, "memory.swappiness", "0".into()),
        (V1Ctl::Cpu, "cpu.cfs_period_us", l.cpu_period_us.to_string()),
        (V1Ctl::Cpu, "cpu.cfs_quota_us", l.cpu_quota_us.to_string()),
        (V1Ctl::Cpu, "cpu.shares", l.cpu_shares.to_string()),
        (V1Ctl::Pids, "pids.max", l.pids_max.to_string()),
    ]
}

/// Files to write in v2, in order. `memory.swap.max` is absent without swap support.
pub(crate) fn v2_writes(l: &Limits) -> Vec<(&'static str, String)> {
    vec![
        ("memory.max", l.memory_bytes.to_string()),
        ("memory.swap.max", "0".into()),
        ("cpu.max", format!("{} {}", l.cpu_quota_us, l.cpu_period_us)),
        ("cpu.weight", v2_weight(l.cpu_shares).to_string()),
        ("pids.max", l.pids_max.to_string()),
    ]
}

/// v2's `cpu.weight` (1..10000, default 100) for v1 `cpu.shares` (2..262144, default 1024):
/// the same scale (100 is what 1024 is, a nice-0 task's weight).
pub(crate) fn v2_weight(shares: u64) -> u64 {
    (shares * 100 / 1024).clamp(1, 10_000)
}

/// Files that may legitimately be missing (optional kernel features).
fn optional_file(name: &str) -> bool {
    matches!(
        name,
        "memory.memsw.limit_in_bytes" | "memory.swap.max" | "memory.swappiness"
    )
}

/// Reads `key value` lines (`memory.events`, `memory.oom_control`) and returns `key`'s value.
pub(crate) fn keyed_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// The cgroup(s) of one environment.
#[derive(Debug)]
pub(crate) enum CgroupHandle {
    V1 {
        memory: PathBuf,
        cpu: PathBuf,
        pids: PathBuf,
        freezer: PathBuf,
    },
    V2 {
        dir: PathBuf,
    },
}

fn read_file(sys: &dyn HostSys, path: &Path) -> Result<String> {
    sys.read_file(path)
        .map_err(|e| SandboxError::io("read", path, e))
}

impl CgroupHandle {
    /// Creates the cgroup(s) `<parent>/<id>` and applies `limits`. On failure everything
    /// created so far is removed again (by the guard).
    pub(crate) fn create(
        sys: &'static dyn HostSys,
        flavor: &CgroupFlavor,
        parent: &str,
        id: &str,
        limits: &Limits,
    ) -> Result<CgroupGuard> {
        let handle = match flavor {
            CgroupFlavor::V1 {
                memory,
                cpu,
                pids,
                freezer,
            } => CgroupHandle::V1 {
                memory: memory.join(parent).join(id),
                cpu: cpu.join(parent).join(id),
                pids: pids.join(parent).join(id),
                freezer: freezer.join(parent).join(id),
            },
            CgroupFlavor::V2 { root, .. } => CgroupHandle::V2 {
                dir: root.join(parent).join(id),
            },
            CgroupFlavor::None { reason } => {
                return Err(SandboxError::Unsupported(format!("cgroups: {reason}")));
            }
        };
        let mut guard = CgroupGuard {
            sys,
            handle,
            created: 0,
            removed: false,
        };
        for d in guard.handle.dirs() {
            sys.mkdir(d).map_err(|e| SandboxError::io("mkdir", d, e))?;
            guard.created += 1;
        }
        guard.handle.apply(sys, limits)?;
        Ok(guard)
    }

    /// Writes `limits` (also to change them on a live cgroup, e.g. when a pre-spawned
    /// environment is claimed).
    pub(crate) fn apply(&self, sys: &dyn HostSys, limits: &Limits) -> Result<()> {
        let write = |dir: &Path, file: &'static str, v: &str| -> Result<()> {
            let p = dir.join(file);
            match sys.write_file(&p, v) {
                Err(e) if e.kind() == ErrorKind::NotFound && optional_file(file) => Ok(()),
                r => r.map_err(|e| SandboxError::io("write", p, e)),
            }
        };
        match self {
            CgroupHandle::V1 {
                memory, cpu, pids, ..
            } => {
                for (ctl, file, v) in v1_writes(limits) {
                    let dir = match ctl {
                        V1Ctl::Memory => memory,
                        V1Ctl::Cpu => cpu,
                        V1Ctl::Pids => pids,
                    };
                    write(dir, file, &v)?;
                }
            }
            CgroupHandle::V2 { dir } => {
                for (file, v) in v2_writes(limits) {
                    write(dir, file, &v)?;
                }
            }
        }
        Ok(())
    }

    pub(crate) fn dirs(&self) -> Vec<&Path> {
        match self {
            CgroupHandle::V1 {
                memory,
                cpu,
                pids,
                freezer,
            } => vec![memory, cpu, pids, freezer],
            CgroupHandle::V2 { dir } => vec![dir],
        }
        .into_iter()
        .map(PathBuf::as_path)
        .collect()
    }

    /// Moves `pid` (a host pid) into the cgroup(s).
    pub(crate) fn attach(&self, sys: &dyn HostSys, pid: i32) -> Result<()> {
        let pid = pid.to_string();
        for d in self.dirs() {
            let p = d.join("cgroup.procs");
            sys.write_file(&p, &pid)
                .map_err(|e| SandboxError::io("write", p, e))?;
        }
        Ok(())
    }

    /// Sets the CPU quota alone (v1 `cpu.cfs_quota_us`, v2 `cpu.max`): init runs with more
    /// CPU than the handler, as on Lambda, and the handler's share is set at the first
    /// `/next`.
    pub(crate) fn set_cpu_quota(&self, sys: &dyn HostSys, limits: &Limits) -> Result<()> {
        let (file, value) = match self {
            CgroupHandle::V1 { cpu, .. } => (
                cpu.join("cpu.cfs_quota_us"),
                limits.cpu_quota_us.to_string(),
            ),
            CgroupHandle::V2 { dir } => (
                dir.join("cpu.max"),
                format!("{} {}", limits.cpu_quota_us, limits.cpu_period_us),
            ),
        };
        sys.write_file(&file, &value)
            .map_err(|e| SandboxError::io("write", &file, e))
    }

    /// Lifts the CPU quota. A killed process still needs CPU time to die: a
    /// fork bomb throttled by its quota can keep hundreds of processes with
    /// a pending SIGKILL alive indefinitely, so teardown unthrottles first.
    pub(crate) fn unthrottle(&self, sys: &dyn HostSys) -> Result<()> {
        let (file, value) = match self {
            CgroupHandle::V1 { cpu, .. } => (cpu.join("cpu.cfs_quota_us"), "-1"),
            CgroupHandle::V2 { dir } => (dir.join("cpu.max"), "max"),
        };
        sys.write_file(&file, value)
            .map_err(|e| SandboxError::io("write", &file, e))
    }

    /// Freezes every process and waits until the kernel reports the cgroup frozen.
    pub(crate) fn freeze(&self, sys: &dyn HostSys) -> Result<()> {
        self.set_frozen(sys, true)
    }

    /// Thaws the cgroup.
    pub(crate) fn thaw(&self, sys: &dyn HostSys) -> Result<()> {
        self.set_frozen(sys, false)
    }

    fn set_frozen(&self, sys: &dyn HostSys, frozen: bool) -> Result<()> {
        type Done = Box<dyn Fn(&str) -> bool>;
        let (file, value, state_file, done): (PathBuf, &str, PathBuf, Done) = match self {
            CgroupHandle::V1 { freezer, .. } => {
                let want = if frozen { "FROZEN" } else { "THAWED" };
                (
                    freezer.join("freezer.state"),
                    want,
                    freezer.join("freezer.state"),
                    Box::new(move |s: &str| s.trim() == want),
                )
            }
            CgroupHandle::V2 { dir } => {
                let want = if frozen { 1 } else { 0 };
                (
                    dir.join("cgroup.freeze"),
                    if frozen { "1" } else { "0" },
                    dir.join("cgroup.events"),
                    Box::new(move |s: &str| keyed_value(s, "frozen") == Some(want)),
                )
            }
        };
        sys.write_file(&file, value)
            .map_err(|e| SandboxError::io("write", &file, e))?;
        let start = Instant::now();
        let deadline = start + Duration::from_secs(5);
        let mut rewritten = start;
        loop {
            if done(&read_file(sys, &state_file)?) {
                return Ok(());
            }
            // A v1 cgroup can stay FREEZING when a task missed the freeze (one forked in
            // the middle of it, seen under load); writing FROZEN again makes the kernel
            // retry every task, as the cgroup-v1 freezer documentation says.
            if frozen && file == state_file && rewritten.elapsed() > Duration::from_millis(100) {
                sys.write_file(&file, value)
                    .map_err(|e| SandboxError::io("write", &file, e))?;
                rewritten = Instant::now();
            }
            if Instant::now() > deadline {
                return Err(SandboxError::Timeout(if frozen {
                    "cgroup freeze"
                } else {
                    "cgroup thaw"
                }));
            }
            std::thread::sleep(Duration::from_micros(50));
        }
    }

    /// Whether the cgroup is (being) frozen.
    pub(crate) fn is_frozen(&self, sys: &dyn HostSys) -> bool {
        match self {
            CgroupHandle::V1 { freezer, .. } => sys
                .read_file(&freezer.join("freezer.state"))
                .is_ok_and(|s| s.trim() != "THAWED"),
            CgroupHandle::V2 { dir } => sys
                .read_file(&dir.join("cgroup.freeze"))
                .is_ok_and(|s| s.trim() == "1"),
        }
    }

    /// Host pids still in the cgroup(s).
    pub(crate) fn pids(&self, sys: &dyn HostSys) -> Vec<i32> {
        let mut out = Vec::new();
        for d in self.dirs() {
            if let Ok(s) = sys.read_file(&d.join("cgroup.procs")) {
                out.extend(s.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Kills whatever is left (normally nothing: the pid namespace dies with its init) and
    /// removes the directories, retrying while the kernel still reports them busy.
    pub(crate) fn remove(&self, sys: &dyn HostSys) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(5);
        if let CgroupHandle::V2 { dir } = self {
            // cgroup.kill (Linux >= 5.14) kills the whole subtree atomically; harmless if empty.
            let _ = sys.write_file(&dir.join("cgroup.kill"), "1");
        }
        loop {
            let left = self.pids(sys);
            if left.is_empty() {
                break;
            }
            if self.is_frozen(sys) {
                let _ = self.thaw(sys);
            }
            for pid in left {
                let _ = sys.kill(pid, libc::SIGKILL);
            }
            if Instant::now() > deadline {
                return Err(SandboxError::Timeout("cgroup processes to exit"));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        for d in self.dirs() {
            loop {
                match sys.rmdir(d) {
                    Ok(()) => break,
                    Err(e) if e.kind() == ErrorKind::NotFound => break,
                    Err(e)
                        if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline =>
                    {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err(e) => return Err(SandboxError::io("rmdir", d, e)),
                }
            }
        }
        Ok(())
    }
}

/// The directories that hold the environments' cgroups.
pub(crate) fn parent_dirs(flavor: &CgroupFlavor, parent: &str) -> Vec<PathBuf> {
    match flavor {
        CgroupFlavor::V1 {
            memory,
            cpu,
            pids,
            freezer,
        } => [memory, cpu, pids, freezer]
            .iter()
            .map(|r| r.join(parent))
            .collect(),
        CgroupFlavor::V2 { root, .. } => vec![root.join(parent)],
        CgroupFlavor::None { .. } => vec![],
    }
}

/// Removes every environment cgroup under `<parent>` (killing what is left in it).
pub(crate) fn remove_stale(
    sys: &dyn HostSys,
    flavor: &CgroupFlavor,
    parent: &str,
) -> Result<usize> {
    let roots: Vec<&PathBuf> = match flavor {
        CgroupFlavor::V1 {
            memory,
            cpu,
            pids,
            freezer,
        } => vec![memory, cpu, pids, freezer],
        CgroupFlavor::V2 { root, .. } => vec![root],
        CgroupFlavor::None { .. } => return Ok(0),
    };
    let mut ids = std::collections::BTreeSet::new();
    for r in &roots {
        if let Ok(names) = sys.subdirectories(&r.join(parent)) {
            ids.extend(names);
        }
    }
    for id in &ids {
        let handle = match flavor {
            CgroupFlavor::V1 {
                memory,
                cpu,
                pids,
                freezer,
            } => CgroupHandle::V1 {
                memory: memory.join(parent).join(id),
                cpu: cpu.join(parent).join(id),
                pids: pids.join(parent).join(id),
                freezer: freezer.join(parent).join(id),
            },
            _ => CgroupHandle::V2 {
                dir: roots[0].join(parent).join(id),
            },
        };
        handle.remove(sys)?;
    }
    Ok(ids.len())
}

/// Prepares the parent directory `<parent>` in each hierarchy. For v2 it also enables the
/// `cpu memory pids` controllers in `cgroup.subtree_control` of the root and of the parent so
/// that the per-environment directories get the limit files. Returns a description of what
/// could not be enabled (reported, not fatal: the caller decides).
pub(crate) fn prepare_parent(
    sys: &dyn HostSys,
    flavor: &CgroupFlavor,
    parent: &str,
) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    match flavor {
        CgroupFlavor::V1 {
            memory,
            cpu,
            pids,
            freezer,
        } => {
            for root in [memory, cpu, pids, freezer] {
                let d = root.join(parent);
                sys.mkdir_all(&d)
                    .map_err(|e| SandboxError::io("mkdir", &d, e))?;
            }
        }
        CgroupFlavor::V2 { root, .. } => {
            let d = root.join(parent);
            sys.mkdir_all(&d)
                .map_err(|e| SandboxError::io("mkdir", &d, e))?;
            // Enable at every level from the root down to the parent.
            let mut levels = vec![root.clone()];
            let mut cur = root.clone();
            for c in Path::new(parent).components() {
                cur = cur.join(c);
                levels.push(cur.clone());
            }
            for level in levels {
                let p = level.join("cgroup.subtree_control");
                let enabled = sys.read_file(&p).unwrap_or_default();
                for c in controllers_to_enable(&enabled) {
                    if let Err(e) = sys.write_file(&p, &format!("+{c}")) {
                        problems.push(format!("enable {c} in {}: {e}", p.display()));
                    }
                }
            }
        }
        CgroupFlavor::None { reason } => problems.push(reason.clone()),
    }
    Ok(problems)
}

/// The controllers flint needs that a level's `cgroup.subtree_control` does not enable yet.
/// Only those are written: the levels above a subtree delegated to an unprivileged flint
/// (systemd's `Delegate=yes`) belong to root, so writing there fails even when the
/// controller is already on.
fn controllers_to_enable(subtree_control: &str) -> Vec<&'static str> {
    ["cpu", "memory", "pids"]
        .into_iter()
        .filter(|c| !subtree_control.split_whitespace().any(|on| on == *c))
        .collect()
}

/// An environment's cgroups, owned: dropping the guard removes them (kill what is left,
/// `rmdir`) unless [`CgroupGuard::remove`] did it already. [`CgroupHandle::create`] returns
/// one, so every path that creates cgroups, and every way it can fail afterwards, cleans up
/// through this one `Drop`; a running [`crate::Sandbox`] keeps it until its teardown.
#[derive(Debug)]
pub(crate) struct CgroupGuard {
    sys: &'static dyn HostSys,
    handle: CgroupHandle,
    /// How many of `handle.dirs()` this guard created (all, once `create` returned).
    created: usize,
    removed: bool,
}

impl CgroupGuard {
    /// Removes the cgroups now, with the error.
    pub(crate) fn remove(mut self) -> Result<()> {
        self.release()
    }

    fn release(&mut self) -> Result<()> {
        if self.removed {
            return Ok(());
        }
        self.removed = true;
        let dirs = self.handle.dirs();
        if self.created == dirs.len() {
            return self.handle.remove(self.sys);
        }
        // Creation failed part-way: nothing can be in them yet, and what this guard did not
        // create is not its to remove.
        for d in dirs[..self.created].iter().rev() {
            let _ = self.sys.rmdir(d);
        }
        Ok(())
    }
}

impl Deref for CgroupGuard {
    type Target = CgroupHandle;

    fn deref(&self) -> &CgroupHandle {
        &self.handle
    }
}

impl Drop for CgroupGuard {
    fn drop(&mut self) {
        let _ = self.release();
    }
}

/// Whether environments can get cgroup limits under `parent`, and what stands in the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Readiness {
    pub usable: bool,
    pub problems: Vec<String>,
}

/// Prepares the cgroup parent ([`prepare_parent`]) and checks it: every parent directory
/// writable (it may exist, created by an earlier root run, without being ours to write), and
/// on v2 the `memory`, `cpu` and `pids` controllers available in it.
pub(crate) fn ready_parent(sys: &dyn HostSys, flavor: &CgroupFlavor, parent: &str) -> Readiness {
    let mut problems = match flavor {
        CgroupFlavor::None { reason } => vec![reason.clone()],
        flavor => prepare_parent(sys, flavor, parent).unwrap_or_else(|e| vec![e.to_string()]),
    };
    for dir in parent_dirs(flavor, parent) {
        if !sys.is_writable(&dir) {
            problems.push(format!("{} is not writable", dir.display()));
        }
    }
    let usable = match flavor {
        CgroupFlavor::V1 { .. } => problems.is_empty(),
        CgroupFlavor::V2 { root, .. } => {
            let ctl = sys
                .read_file(&root.join(parent).join("cgroup.controllers"))
                .unwrap_or_default();
            problems.is_empty()
                && ["memory", "cpu", "pids"]
                    .iter()
                    .all(|c| ctl.split_whitespace().any(|x| x == *c))
        }
        CgroupFlavor::None { .. } => false,
    };
    Readiness { usable, problems }
}

mod memory;

#[cfg(test)]
use memory::MemoryNow;

#[cfg(test)]
mod tests;
