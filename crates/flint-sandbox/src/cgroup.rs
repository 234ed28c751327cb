//! Per-environment cgroups: limit computation (pure) and the file operations.
//!
//! v1 uses one directory per controller (`memory`, `cpu`, `pids`, `freezer`) under a
//! `<parent>/` directory at the root of each hierarchy; v2 uses one directory
//! `<root>/<parent>/<id>`. Plain file writes are used on purpose: they are the kernel's API,
//! easy to read in `strace`, and need no crate.

use std::fs;
use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Result, SandboxError};
use crate::host::CgroupFlavor;

/// CFS period used for the CPU quota (the kernel default).
pub(crate) const CPU_PERIOD_US: u64 = 100_000;

/// Resource limits of one environment, in kernel units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    pub memory_bytes: u64,
    pub cpu_quota_us: u64,
    pub cpu_period_us: u64,
    pub pids_max: u64,
}

impl Limits {
    pub(crate) fn new(memory_mb: u64, cpu_millis: u64, pids_max: u64) -> Self {
        Self {
            memory_bytes: memory_mb * 1024 * 1024,
            // 1000 milli-vCPU = one full period; the kernel refuses quotas below 1 ms.
            cpu_quota_us: (cpu_millis * CPU_PERIOD_US / 1000).max(1000),
            cpu_period_us: CPU_PERIOD_US,
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
        (V1Ctl::Pids, "pids.max", l.pids_max.to_string()),
    ]
}

/// Files to write in v2, in order. `memory.swap.max` is absent without swap support.
pub(crate) fn v2_writes(l: &Limits) -> Vec<(&'static str, String)> {
    vec![
        ("memory.max", l.memory_bytes.to_string()),
        ("memory.swap.max", "0".into()),
        ("cpu.max", format!("{} {}", l.cpu_quota_us, l.cpu_period_us)),
        ("pids.max", l.pids_max.to_string()),
    ]
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

/// Writes a cgroup control file. Never creates it: a missing file means a missing kernel
/// feature, which must surface as `NotFound` rather than as a stray regular file.
fn write_file(path: &Path, value: &str) -> io::Result<()> {
    use std::io::Write;
    fs::OpenOptions::new()
        .write(true)
        .open(path)?
        .write_all(value.as_bytes())
}

fn read_file(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|e| SandboxError::io("read", path, e))
}

impl CgroupHandle {
    /// Creates the cgroup(s) `<parent>/<id>` and applies `limits`. On failure everything
    /// created so far is removed again.
    pub(crate) fn create(
        flavor: &CgroupFlavor,
        parent: &str,
        id: &str,
        limits: &Limits,
    ) -> Result<Self> {
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
        let mut created = Vec::new();
        let res = (|| {
            for d in handle.dirs() {
                fs::create_dir(d).map_err(|e| SandboxError::io("mkdir", d, e))?;
                created.push(d.to_path_buf());
            }
            handle.apply(limits)
        })();
        if let Err(e) = res {
            for d in created.iter().rev() {
                let _ = fs::remove_dir(d);
            }
            return Err(e);
        }
        Ok(handle)
    }

    /// Writes `limits` (also to change them on a live cgroup, e.g. when a pre-spawned
    /// environment is claimed).
    pub(crate) fn apply(&self, limits: &Limits) -> Result<()> {
        let write = |dir: &Path, file: &'static str, v: &str| -> Result<()> {
            let p = dir.join(file);
            match write_file(&p, v) {
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
    pub(crate) fn attach(&self, pid: i32) -> Result<()> {
        let pid = pid.to_string();
        for d in self.dirs() {
            let p = d.join("cgroup.procs");
            write_file(&p, &pid).map_err(|e| SandboxError::io("write", p, e))?;
        }
        Ok(())
    }

    /// Lifts the CPU quota. A killed process still needs CPU time to die: a
    /// fork bomb throttled by its quota can keep hundreds of processes with
    /// a pending SIGKILL alive indefinitely, so teardown unthrottles first.
    pub(crate) fn unthrottle(&self) -> Result<()> {
        let (file, value) = match self {
            CgroupHandle::V1 { cpu, .. } => (cpu.join("cpu.cfs_quota_us"), "-1"),
            CgroupHandle::V2 { dir } => (dir.join("cpu.max"), "max"),
        };
        write_file(&file, value).map_err(|e| SandboxError::io("write", &file, e))
    }

    /// Freezes every process and waits until the kernel reports the cgroup frozen.
    pub(crate) fn freeze(&self) -> Result<()> {
        self.set_frozen(true)
    }

    /// Thaws the cgroup.
    pub(crate) fn thaw(&self) -> Result<()> {
        self.set_frozen(false)
    }

    fn set_frozen(&self, frozen: bool) -> Result<()> {
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
        write_file(&file, value).map_err(|e| SandboxError::io("write", &file, e))?;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if done(&read_file(&state_file)?) {
                return Ok(());
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
    pub(crate) fn is_frozen(&self) -> bool {
        match self {
            CgroupHandle::V1 { freezer, .. } => fs::read_to_string(freezer.join("freezer.state"))
                .is_ok_and(|s| s.trim() != "THAWED"),
            CgroupHandle::V2 { dir } => {
                fs::read_to_string(dir.join("cgroup.freeze")).is_ok_and(|s| s.trim() == "1")
            }
        }
    }

    /// Peak memory usage in bytes (v1 `memory.max_usage_in_bytes`, v2 `memory.peak`).
    pub(crate) fn memory_peak(&self) -> Result<u64> {
        let p = match self {
            CgroupHandle::V1 { memory, .. } => memory.join("memory.max_usage_in_bytes"),
            CgroupHandle::V2 { dir } => dir.join("memory.peak"),
        };
        let s = read_file(&p)?;
        s.trim()
            .parse()
            .map_err(|_| SandboxError::io("parse", p, io::Error::from(ErrorKind::InvalidData)))
    }

    /// Number of OOM kills in this cgroup (v1 `memory.oom_control`, v2 `memory.events`).
    pub(crate) fn oom_kills(&self) -> Result<u64> {
        let p = match self {
            CgroupHandle::V1 { memory, .. } => memory.join("memory.oom_control"),
            CgroupHandle::V2 { dir } => dir.join("memory.events"),
        };
        Ok(keyed_value(&read_file(&p)?, "oom_kill").unwrap_or(0))
    }

    /// Host pids still in the cgroup(s).
    pub(crate) fn pids(&self) -> Vec<i32> {
        let mut out = Vec::new();
        for d in self.dirs() {
            if let Ok(s) = fs::read_to_string(d.join("cgroup.procs")) {
                out.extend(s.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Kills whatever is left (normally nothing: the pid namespace dies with its init) and
    /// removes the directories, retrying while the kernel still reports them busy.
    pub(crate) fn remove(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(5);
        if let CgroupHandle::V2 { dir } = self {
            // cgroup.kill (Linux >= 5.14) kills the whole subtree atomically; harmless if empty.
            let _ = write_file(&dir.join("cgroup.kill"), "1");
        }
        loop {
            let left = self.pids();
            if left.is_empty() {
                break;
            }
            if self.is_frozen() {
                let _ = self.thaw();
            }
            for pid in left {
                // SAFETY: kill(2) with a pid read from our own cgroup; no memory involved.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            if Instant::now() > deadline {
                return Err(SandboxError::Timeout("cgroup processes to exit"));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        for d in self.dirs() {
            loop {
                match fs::remove_dir(d) {
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
pub(crate) fn remove_stale(flavor: &CgroupFlavor, parent: &str) -> Result<usize> {
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
        if let Ok(rd) = fs::read_dir(r.join(parent)) {
            ids.extend(
                rd.flatten()
                    .filter(|e| e.path().is_dir())
                    .map(|e| e.file_name()),
            );
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
        handle.remove()?;
    }
    Ok(ids.len())
}

/// Prepares the parent directory `<parent>` in each hierarchy. For v2 it also enables the
/// `cpu memory pids` controllers in `cgroup.subtree_control` of the root and of the parent so
/// that the per-environment directories get the limit files. Returns a description of what
/// could not be enabled (reported, not fatal: the caller decides).
pub(crate) fn prepare_parent(flavor: &CgroupFlavor, parent: &str) -> Result<Vec<String>> {
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
                match fs::create_dir_all(&d) {
                    Ok(()) => {}
                    Err(e) => return Err(SandboxError::io("mkdir", d, e)),
                }
            }
        }
        CgroupFlavor::V2 { root, .. } => {
            let d = root.join(parent);
            fs::create_dir_all(&d).map_err(|e| SandboxError::io("mkdir", &d, e))?;
            // Enable at every level from the root down to the parent.
            let mut levels = vec![root.clone()];
            let mut cur = root.clone();
            for c in Path::new(parent).components() {
                cur = cur.join(c);
                levels.push(cur.clone());
            }
            for level in levels {
                for c in ["cpu", "memory", "pids"] {
                    let p = level.join("cgroup.subtree_control");
                    if let Err(e) = write_file(&p, &format!("+{c}")) {
                        problems.push(format!("enable {c} in {}: {e}", p.display()));
                    }
                }
            }
        }
        CgroupFlavor::None { reason } => problems.push(reason.clone()),
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_from_lambda_values() {
        let l = Limits::new(128, 72, 1024);
        assert_eq!(l.memory_bytes, 134_217_728);
        assert_eq!(l.cpu_quota_us, 7_200);
        assert_eq!(l.cpu_period_us, 100_000);
        assert_eq!(Limits::new(128, 1, 10).cpu_quota_us, 1000, "kernel minimum");
        assert_eq!(
            Limits::new(3538, 2000, 10).cpu_quota_us,
            200_000,
            "two cores"
        );
    }

    #[test]
    fn v1_and_v2_files() {
        let l = Limits::new(256, 500, 64);
        let v1 = v1_writes(&l);
        let memsw = v1
            .iter()
            .position(|w| w.1 == "memory.memsw.limit_in_bytes")
            .unwrap();
        let lim = v1
            .iter()
            .position(|w| w.1 == "memory.limit_in_bytes")
            .unwrap();
        assert!(lim < memsw, "memsw must follow limit_in_bytes");
        assert!(v1.contains(&(V1Ctl::Cpu, "cpu.cfs_quota_us", "50000".into())));
        assert!(v1.contains(&(V1Ctl::Pids, "pids.max", "64".into())));
        let v2 = v2_writes(&l);
        assert!(v2.contains(&("cpu.max", "50000 100000".into())));
        assert!(v2.contains(&("memory.swap.max", "0".into())));
        assert!(v2.contains(&("memory.max", "268435456".into())));
    }

    #[test]
    fn keyed_values() {
        let v1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n";
        assert_eq!(keyed_value(v1, "oom_kill"), Some(1));
        let v2 = "low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\noom_group_kill 0\n";
        assert_eq!(keyed_value(v2, "oom_kill"), Some(2));
        assert_eq!(keyed_value("populated 1\nfrozen 1\n", "frozen"), Some(1));
        assert_eq!(keyed_value("", "frozen"), None);
    }

    /// The v2 code paths (freeze via `cgroup.freeze`/`cgroup.events`, `cgroup.kill`, removal)
    /// against the real cgroup2 mount. On hybrid hosts that mount has no controllers, which is
    /// enough for these files; limits are covered by the v1 integration tests. Needs root.
    #[test]
    #[ignore = "needs root: scripts/test runs it with --include-ignored"]
    fn v2_freeze_kill_remove_on_real_cgroup2() {
        let mounts =
            crate::host::parse_cgroup_mounts(&fs::read_to_string("/proc/self/mountinfo").unwrap());
        let root = mounts
            .into_iter()
            .find(|m| m.v2)
            .map(|m| m.mount_point)
            .expect("this test needs a cgroup2 mount (pure v2 or hybrid host)");
        let dir = root.join(format!("flint-v2-test-{}", std::process::id()));
        fs::create_dir(&dir).unwrap();
        let h = CgroupHandle::V2 { dir: dir.clone() };
        let mut child = std::process::Command::new("/bin/sleep")
            .arg("30")
            .spawn()
            .unwrap();
        h.attach(child.id() as i32).unwrap();
        assert_eq!(h.pids(), vec![child.id() as i32]);
        h.freeze().unwrap();
        assert!(h.is_frozen());
        let st = fs::read_to_string(format!("/proc/{}/stat", child.id())).unwrap();
        assert!(!st.contains(") R "), "{st}");
        h.thaw().unwrap();
        assert!(!h.is_frozen());
        h.freeze().unwrap();
        // remove() must kill (cgroup.kill works on frozen cgroups) and rmdir.
        h.remove().unwrap();
        assert!(!dir.exists());
        let status = child.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(libc::SIGKILL)
        );
    }
}
