//! What this host can do: [`probe_host`] and [`HostSupport`].
//!
//! cgroups are detected from `/proc/self/mountinfo` rather than from fixed paths, because the
//! layouts in the wild differ: pure v2 (`/sys/fs/cgroup` is cgroup2, the common case today),
//! pure v1, and "hybrid" (v1 controllers plus a near-empty cgroup2 at
//! `/sys/fs/cgroup/unified`, as on flint's CI machines). Whenever a v1 hierarchy carries the
//! `memory` controller, limits must go through v1 (the controller cannot be in both).

use std::fmt;
use std::path::{Path, PathBuf};

use crate::sys::linux_host;

/// The cgroup layout flint will use for resource limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupFlavor {
    /// cgroup v1 (or hybrid): one hierarchy per controller.
    V1 {
        /// Mount point of the hierarchy carrying `memory`.
        memory: PathBuf,
        /// Mount point of the hierarchy carrying `cpu` (CFS bandwidth).
        cpu: PathBuf,
        /// Mount point of the hierarchy carrying `pids`.
        pids: PathBuf,
        /// Mount point of the hierarchy carrying `freezer`.
        freezer: PathBuf,
    },
    /// cgroup v2 (unified).
    V2 {
        /// Mount point of cgroup2.
        root: PathBuf,
        /// Controllers available at the root (`cgroup.controllers`).
        controllers: Vec<String>,
    },
    /// No usable cgroup file system; resource limits cannot be enforced.
    None {
        /// Why.
        reason: String,
    },
}

/// Isolation features of this host, as probed at start-up. flint prints it (`Display`) and
/// refuses to run untrusted code when [`HostSupport::missing_isolation`] is not empty unless
/// an explicit development mode is on.
#[derive(Debug, Clone)]
pub struct HostSupport {
    /// cgroup layout.
    pub cgroup: CgroupFlavor,
    /// mount, pid, ipc, uts and net namespaces are available.
    pub namespaces: bool,
    /// User namespaces can be created (needed when flint does not run as root).
    pub user_namespaces: bool,
    /// seccomp-bpf filters are available.
    pub seccomp: bool,
    /// Landlock ABI version, if the LSM is enabled (not used yet; reported for operators).
    pub landlock_abi: Option<u32>,
    /// pidfds (`pidfd_open`, Linux ≥ 5.3; `clone3` with `CLONE_PIDFD` needs 5.5).
    pub pidfd: bool,
    /// flint runs with euid 0.
    pub is_root: bool,
    /// Highest capability number (`/proc/sys/kernel/cap_last_cap`), to drop the bounding set.
    pub cap_last_cap: u32,
    /// Number of CPUs usable by flint (caps the CPU quota).
    pub host_cpus: u64,
}

impl HostSupport {
    /// The isolation features that are missing for running untrusted code. Empty when the host
    /// is fully capable.
    pub fn missing_isolation(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if !self.namespaces {
            missing.push("namespaces");
        }
        if !self.is_root && !self.user_namespaces {
            missing.push("user namespaces (needed when not root)");
        }
        if !self.seccomp {
            missing.push("seccomp");
        }
        if !self.pidfd {
            missing.push("pidfd (Linux >= 5.5)");
        }
        match &self.cgroup {
            CgroupFlavor::None { .. } => missing.push("cgroups (memory/cpu/pids limits)"),
            CgroupFlavor::V2 { controllers, .. } => {
                if !["memory", "cpu", "pids"]
                    .iter()
                    .all(|c| controllers.iter().any(|x| x == c))
                {
                    missing.push("cgroup v2 memory/cpu/pids controllers");
                }
            }
            CgroupFlavor::V1 { .. } => {}
        }
        missing
    }
}

impl fmt::Display for HostSupport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cg = match &self.cgroup {
            CgroupFlavor::V1 { memory, .. } => format!("v1 (memory at {})", memory.display()),
            CgroupFlavor::V2 { root, controllers } => {
                format!("v2 at {} [{}]", root.display(), controllers.join(" "))
            }
            CgroupFlavor::None { reason } => format!("none ({reason})"),
        };
        write!(
            f,
            "cgroups: {cg}; namespaces: {}; user namespaces: {}; seccomp: {}; landlock: {}; pidfd: {}; root: {}; cpus: {}",
            self.namespaces,
            self.user_namespaces,
            self.seccomp,
            self.landlock_abi
                .map_or("no".to_owned(), |v| format!("abi {v}")),
            self.pidfd,
            self.is_root,
            self.host_cpus
        )?;
        let missing = self.missing_isolation();
        if !missing.is_empty() {
            write!(f, "; MISSING: {}", missing.join(", "))?;
        }
        Ok(())
    }
}

/// Probes the running kernel. Cheap (a few file reads and syscalls); call once at start-up.
pub fn probe_host() -> HostSupport {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let cgroup = detect_cgroups(&mountinfo, |p| std::fs::read_to_string(p).ok());
    let namespaces = ["mnt", "pid", "net", "ipc", "uts"]
        .iter()
        .all(|ns| Path::new("/proc/self/ns").join(ns).exists());
    let user_namespaces = Path::new("/proc/self/ns/user").exists()
        && read_u64("/proc/sys/user/max_user_namespaces").is_none_or(|n| n > 0)
        && read_u64("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") != Some(1);
    let seccomp = Path::new("/proc/sys/kernel/seccomp/actions_avail").exists();
    let landlock_abi = linux_host::landlock_abi();
    let pidfd = linux_host::pidfd_open(std::process::id() as i32).is_ok();
    let is_root = linux_host::euid() == 0;
    let cap_last_cap = read_u64("/proc/sys/kernel/cap_last_cap").map_or(40, |v| v as u32);
    let host_cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    HostSupport {
        cgroup,
        namespaces,
        user_namespaces,
        seccomp,
        landlock_abi,
        pidfd,
        is_root,
        cap_last_cap,
        host_cpus,
    }
}

fn read_u64(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// One cgroup mount from `/proc/self/mountinfo`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct CgroupMount {
    pub mount_point: PathBuf,
    pub v2: bool,
    /// v1 controllers bound to this hierarchy (from the super options).
    pub controllers: Vec<String>,
}

/// Parses the cgroup mounts out of a `/proc/self/mountinfo` text.
pub(crate) fn parse_cgroup_mounts(mountinfo: &str) -> Vec<CgroupMount> {
    let mut out = Vec::new();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mount_point = match left.split(' ').nth(4) {
            Some(m) => unescape_mountinfo(m),
            None => continue,
        };
        let mut r = right.split(' ');
        let (fstype, _src, opts) = (r.next().unwrap_or(""), r.next(), r.next().unwrap_or(""));
        match fstype {
            "cgroup2" => out.push(CgroupMount {
                mount_point: mount_point.into(),
                v2: true,
                controllers: vec![],
            }),
            "cgroup" => {
                let known = [
                    "memory",
                    "cpu",
                    "cpuacct",
                    "pids",
                    "freezer",
                    "cpuset",
                    "devices",
                    "blkio",
                    "net_cls",
                    "perf_event",
                    "hugetlb",
                ];
                let controllers = opts
                    .split(',')
                    .filter(|o| known.contains(o))
                    .map(str::to_owned)
                    .collect();
                out.push(CgroupMount {
                    mount_point: mount_point.into(),
                    v2: false,
                    controllers,
                });
            }
            _ => {}
        }
    }
    out
}

fn unescape_mountinfo(s: &str) -> String {
    // mountinfo escapes space, tab, newline and backslash as \ooo.
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Picks the cgroup flavor from the mount table. `read` reads a file (for
/// `cgroup.controllers`); injected so this is testable without a real cgroup fs.
pub(crate) fn detect_cgroups(
    mountinfo: &str,
    read: impl Fn(&Path) -> Option<String>,
) -> CgroupFlavor {
    let mounts = parse_cgroup_mounts(mountinfo);
    let v1 = |c: &str| {
        mounts
            .iter()
            .find(|m| !m.v2 && m.controllers.iter().any(|x| x == c))
            .map(|m| m.mount_point.clone())
    };
    if let Some(memory) = v1("memory") {
        return match (v1("cpu"), v1("pids"), v1("freezer")) {
            (Some(cpu), Some(pids), Some(freezer)) => CgroupFlavor::V1 {
                memory,
                cpu,
                pids,
                freezer,
            },
            _ => CgroupFlavor::None {
                reason: "cgroup v1 memory controller present but cpu/pids/freezer missing".into(),
            },
        };
    }
    if let Some(m) = mounts.iter().find(|m| m.v2) {
        let controllers = read(&m.mount_point.join("cgroup.controllers"))
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        return CgroupFlavor::V2 {
            root: m.mount_point.clone(),
            controllers,
        };
    }
    CgroupFlavor::None {
        reason: "no cgroup file system mounted".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
30 25 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
34 30 0:30 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,memory
35 30 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:15 - cgroup cgroup rw,cpu,cpuacct
36 30 0:32 / /sys/fs/cgroup/pids rw,nosuid shared:16 - cgroup cgroup rw,pids
37 30 0:33 / /sys/fs/cgroup/freezer rw,nosuid shared:17 - cgroup cgroup rw,freezer
38 30 0:34 / /sys/fs/cgroup/systemd rw,nosuid shared:18 - cgroup cgroup rw,xattr,name=systemd
";
    const PURE_V2: &str = "\
30 25 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";

    #[test]
    fn hybrid_uses_v1() {
        let f = detect_cgroups(HYBRID, |_| Some("hugetlb\n".into()));
        assert_eq!(
            f,
            CgroupFlavor::V1 {
                memory: "/sys/fs/cgroup/memory".into(),
                cpu: "/sys/fs/cgroup/cpu,cpuacct".into(),
                pids: "/sys/fs/cgroup/pids".into(),
                freezer: "/sys/fs/cgroup/freezer".into(),
            }
        );
    }

    #[test]
    fn pure_v2_reads_controllers() {
        let f = detect_cgroups(PURE_V2, |p| {
            assert_eq!(p, Path::new("/sys/fs/cgroup/cgroup.controllers"));
            Some("cpuset cpu io memory pids\n".into())
        });
        let CgroupFlavor::V2 { root, controllers } = f else {
            panic!("{f:?}")
        };
        assert_eq!(root, Path::new("/sys/fs/cgroup"));
        assert!(controllers.contains(&"memory".to_owned()));
    }

    #[test]
    fn nothing_mounted() {
        assert!(matches!(
            detect_cgroups("", |_| None),
            CgroupFlavor::None { .. }
        ));
    }

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape_mountinfo("/a\\040b"), "/a b");
        assert_eq!(unescape_mountinfo("/plain"), "/plain");
    }

    #[test]
    fn missing_isolation_reports_v2_without_controllers() {
        let h = HostSupport {
            cgroup: CgroupFlavor::V2 {
                root: "/sys/fs/cgroup".into(),
                controllers: vec!["hugetlb".into()],
            },
            namespaces: true,
            user_namespaces: true,
            seccomp: true,
            landlock_abi: None,
            pidfd: true,
            is_root: true,
            cap_last_cap: 40,
            host_cpus: 2,
        };
        assert_eq!(
            h.missing_isolation(),
            vec!["cgroup v2 memory/cpu/pids controllers"]
        );
        assert!(h.to_string().contains("MISSING"));
    }
}
