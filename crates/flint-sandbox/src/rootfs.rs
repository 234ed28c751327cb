//! The sandbox's file system: a cached read-only skeleton plus per-spawn mounts.
//!
//! The root of every sandbox is a *skeleton* directory on the host: empty mount points
//! (`usr/`, `var/task/`, `dev/null`, ...), the merged-/usr symlinks (`bin -> usr/bin`) and a
//! synthesized `/etc` (passwd/group with the sandbox user, hosts, resolv.conf, nsswitch.conf,
//! ld.so.cache, localtime; never shadow or any other host secret). Skeletons are
//! content-addressed and shared by every sandbox of the same shape, so a spawn writes nothing
//! to disk. Each sandbox's child then, inside its private mount namespace, bind-mounts the
//! skeleton onto itself, binds the host directories read-only into it, mounts tmpfs `/tmp`
//! and `/dev/shm`, binds the few device nodes, mounts a fresh `/proc` (*before* leaving the
//! old root: the kernel refuses a new proc mount in a user-namespaced mount namespace that
//! has no fully visible proc, see sandbox-notes §1c), `pivot_root`s into it, detaches the old
//! root and remounts `/` read-only. These mounts exist only in the child's mount namespace
//! and vanish with it, so nothing needs unmounting on the host.
//!
//! Everything except [`materialize`], [`HostFacts::gather`] and [`locked_flags`] (which asks
//! the kernel through [`HostSys`]) is pure.

use std::collections::BTreeSet;
use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use libc::c_ulong;

use crate::error::{Result, SandboxError};
use crate::spec::{SANDBOX_USER, SandboxSpec};
use crate::sys::seam::HostSys;

/// Top-level host directories that are bound read-only (or recreated as symlinks on
/// merged-/usr systems).
pub(crate) const HOST_TOP_LEVEL: &[&str] =
    &["usr", "lib", "lib32", "lib64", "libx32", "bin", "sbin"];

/// Device nodes bound from the host's `/dev`.
pub(crate) const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom"];

/// Size of the `/dev/shm` tmpfs (it is charged to the memory cgroup anyway).
const DEV_SHM_MB: u64 = 64;

/// What a top-level host entry is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum TopEntry {
    Dir,
    Symlink(PathBuf),
}

/// The facts about the host that shape the skeleton, read once per [`crate::Sandboxer`].
#[derive(Debug, Clone, Default)]
pub(crate) struct HostFacts {
    pub top_level: Vec<(String, TopEntry)>,
    pub ld_so_cache: Option<Vec<u8>>,
    pub resolv_conf: Option<Vec<u8>>,
    pub openssl_cnf: Option<Vec<u8>>,
    /// `/etc/ssl/certs` exists (CA bundle; bound read-only, `/etc/ssl/private` is not).
    pub ssl_certs: bool,
    /// `/etc/alternatives` exists (Debian's symlink farm that `/usr/bin/*` may point into).
    pub alternatives: bool,
}

impl HostFacts {
    pub(crate) fn gather() -> Self {
        let top_level = HOST_TOP_LEVEL
            .iter()
            .filter_map(|name| {
                let p = Path::new("/").join(name);
                let md = fs::symlink_metadata(&p).ok()?;
                if md.file_type().is_symlink() {
                    Some((name.to_string(), TopEntry::Symlink(fs::read_link(&p).ok()?)))
                } else if md.is_dir() {
                    Some((name.to_string(), TopEntry::Dir))
                } else {
                    None
                }
            })
            .collect();
        Self {
            top_level,
            ld_so_cache: fs::read("/etc/ld.so.cache").ok(),
            resolv_conf: fs::read("/etc/resolv.conf").ok(),
            openssl_cnf: fs::read("/etc/ssl/openssl.cnf").ok(),
            ssl_certs: Path::new("/etc/ssl/certs").is_dir(),
            alternatives: Path::new("/etc/alternatives").is_dir(),
        }
    }
}

/// One entry of a skeleton, path relative to the skeleton root.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum SkelEntry {
    Dir(PathBuf),
    File(PathBuf, Vec<u8>),
    Symlink(PathBuf, PathBuf),
}

/// A read-only bind: host `src` at sandbox path `dst`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bind {
    pub src: PathBuf,
    pub dst: PathBuf,
}

/// The file-system shape of one sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RootPlan {
    pub skeleton: Vec<SkelEntry>,
    pub ro_binds: Vec<Bind>,
}

impl RootPlan {
    /// Leaves out the function's code (`/var/task`, `/opt`): a pre-spawned environment gets
    /// it at the claim, as detached mounts (`prespawn.rs`).
    pub(crate) fn without_code(mut self) -> Self {
        self.ro_binds
            .retain(|b| b.dst != Path::new("/var/task") && b.dst != Path::new("/opt"));
        self
    }
}

fn rel(p: &Path) -> PathBuf {
    p.strip_prefix("/").unwrap_or(p).to_path_buf()
}

/// Builds the skeleton and bind list. `extra_is_file[i]` says whether the source of
/// `spec.extra_ro_binds[i]` is a regular file (its mount point must then be a file).
pub(crate) fn plan_root(facts: &HostFacts, spec: &SandboxSpec, extra_is_file: &[bool]) -> RootPlan {
    let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
    let mut files: Vec<SkelEntry> = Vec::new();
    let mut links: Vec<SkelEntry> = Vec::new();
    let mut binds = Vec::new();
    let add_dir = |dirs: &mut BTreeSet<PathBuf>, p: &Path| {
        for a in p.ancestors() {
            if !a.as_os_str().is_empty() {
                dirs.insert(a.to_path_buf());
            }
        }
    };
    for d in [
        "dev/shm",
        "proc",
        "tmp",
        "etc/ssl",
        "var/task",
        "var/runtime",
        "opt",
    ] {
        add_dir(&mut dirs, Path::new(d));
    }
    for (name, entry) in &facts.top_level {
        match entry {
            TopEntry::Dir => {
                add_dir(&mut dirs, Path::new(name));
                binds.push(Bind {
                    src: Path::new("/").join(name),
                    dst: Path::new("/").join(name),
                });
            }
            TopEntry::Symlink(t) => links.push(SkelEntry::Symlink(name.into(), t.clone())),
        }
    }
    // The runtime's AWS SDK for JavaScript (/var/runtime/node_modules) for ES modules: an
    // `import` from /var/task ignores NODE_PATH and looks in /var/task/node_modules (the
    // function's own, first), then /var/node_modules. (Dangles when the runtime has none.)
    links.push(SkelEntry::Symlink(
        "var/node_modules".into(),
        "runtime/node_modules".into(),
    ));
    for dev in DEVICES {
        files.push(SkelEntry::File(Path::new("dev").join(dev), vec![]));
    }
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        links.push(SkelEntry::Symlink(
            Path::new("dev").join(name),
            target.into(),
        ));
    }
    // /etc: only what programs need to start; nothing secret.
    let (uid, gid) = (spec.uid, spec.gid);
    let mut passwd = format!(
        "root:x:0:0:root:/root:/usr/sbin/nologin\n{SANDBOX_USER}:x:{uid}:{gid}::/tmp:/usr/sbin/nologin\n"
    );
    let mut group = format!("root:x:0:\n{SANDBOX_USER}:x:{gid}:\n");
    if uid != 65534 {
        passwd.push_str("nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
    }
    if gid != 65534 {
        group.push_str("nogroup:x:65534:\n");
    }
    let etc = |n: &str| Path::new("etc").join(n);
    files.push(SkelEntry::File(etc("passwd"), passwd.into_bytes()));
    files.push(SkelEntry::File(etc("group"), group.into_bytes()));
    files.push(SkelEntry::File(
        etc("hosts"),
        b"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n".to_vec(),
    ));
    files.push(SkelEntry::File(etc("nsswitch.conf"), b"passwd: files\ngroup: files\nhosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n".to_vec()));
    files.push(SkelEntry::File(
        etc("resolv.conf"),
        facts.resolv_conf.clone().unwrap_or_default(),
    ));
    if let Some(c) = &facts.ld_so_cache {
        files.push(SkelEntry::File(etc("ld.so.cache"), c.clone()));
    }
    if let Some(c) = &facts.openssl_cnf {
        files.push(SkelEntry::File(etc("ssl/openssl.cnf"), c.clone()));
    }
    links.push(SkelEntry::Symlink(
        etc("localtime"),
        "/usr/share/zoneinfo/UTC".into(),
    ));
    links.push(SkelEntry::Symlink(
        etc("os-release"),
        "../usr/lib/os-release".into(),
    ));
    links.push(SkelEntry::Symlink(
        etc("mtab"),
        "../proc/self/mounts".into(),
    ));
    if facts.ssl_certs {
        add_dir(&mut dirs, &etc("ssl/certs"));
        binds.push(Bind {
            src: "/etc/ssl/certs".into(),
            dst: "/etc/ssl/certs".into(),
        });
    }
    if facts.alternatives {
        add_dir(&mut dirs, &etc("alternatives"));
        binds.push(Bind {
            src: "/etc/alternatives".into(),
            dst: "/etc/alternatives".into(),
        });
    }
    binds.push(Bind {
        src: spec.task_dir.clone(),
        dst: "/var/task".into(),
    });
    if let Some(o) = &spec.opt_dir {
        binds.push(Bind {
            src: o.clone(),
            dst: "/opt".into(),
        });
    }
    if let Some(r) = &spec.runtime_dir {
        binds.push(Bind {
            src: r.clone(),
            dst: "/var/runtime".into(),
        });
    }
    for (i, (src, dst)) in spec.extra_ro_binds.iter().enumerate() {
        let r = rel(dst);
        if extra_is_file.get(i).copied().unwrap_or(false) {
            if let Some(parent) = r.parent() {
                add_dir(&mut dirs, parent);
            }
            files.push(SkelEntry::File(r, vec![]));
        } else {
            add_dir(&mut dirs, &r);
        }
        binds.push(Bind {
            src: src.clone(),
            dst: dst.clone(),
        });
    }
    let mut skeleton: Vec<SkelEntry> = dirs.into_iter().map(SkelEntry::Dir).collect();
    files.sort();
    links.sort();
    skeleton.extend(files);
    skeleton.extend(links);
    RootPlan {
        skeleton,
        ro_binds: binds,
    }
}

/// One `mount(2)` call the child makes, with host paths (before `pivot_root`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MountStep {
    pub src: Option<PathBuf>,
    pub target: PathBuf,
    pub fstype: Option<&'static str>,
    pub flags: c_ulong,
    pub data: Option<String>,
    /// The sandbox path, for error messages.
    pub label: String,
}

/// What the sandbox's `/tmp` is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TmpMount {
    /// A tmpfs of this size (charged to the memory cgroup): hosts without a disk-backed one.
    Memory { size_mb: u64 },
    /// The environment's own file system, mounted by flint at this host directory
    /// (`ephemeral.rs`) and bound here.
    Disk { host_dir: PathBuf },
}

/// The ordered mount calls that assemble the sandbox root under `skel`. `locked` returns the
/// mount flags of a source that must be kept on a read-only remount (inside a user namespace
/// the kernel refuses to clear `noexec`, `nosuid`, ... inherited from the host mount).
pub(crate) fn mount_steps(
    plan: &RootPlan,
    skel: &Path,
    tmp: &TmpMount,
    locked: impl Fn(&Path) -> c_ulong,
) -> Vec<MountStep> {
    let at = |p: &Path| skel.join(rel(p));
    let mut steps = vec![
        MountStep {
            src: None,
            target: "/".into(),
            fstype: None,
            flags: libc::MS_REC | libc::MS_PRIVATE,
            data: None,
            label: "/ (make private)".into(),
        },
        MountStep {
            src: Some(skel.into()),
            target: skel.into(),
            fstype: None,
            flags: libc::MS_BIND,
            data: None,
            label: "/".into(),
        },
    ];
    for b in &plan.ro_binds {
        let label = b.dst.display().to_string();
        // Not MS_REC: sub-mounts of a source would stay writable after the read-only remount
        // of the top; leaving them out is the safe choice.
        steps.push(MountStep {
            src: Some(b.src.clone()),
            target: at(&b.dst),
            fstype: None,
            flags: libc::MS_BIND,
            data: None,
            label: label.clone(),
        });
        steps.push(MountStep {
            src: None,
            target: at(&b.dst),
            fstype: None,
            flags: libc::MS_REMOUNT
                | libc::MS_BIND
                | libc::MS_RDONLY
                | libc::MS_NOSUID
                | libc::MS_NODEV
                | locked(&b.src),
            data: None,
            label: format!("{label} (read-only)"),
        });
    }
    steps.push(match tmp {
        TmpMount::Memory { size_mb } => MountStep {
            src: Some("tmpfs".into()),
            target: at(Path::new("/tmp")),
            fstype: Some("tmpfs"),
            flags: libc::MS_NOSUID | libc::MS_NODEV,
            data: Some(format!("size={size_mb}m,mode=1777")),
            label: "/tmp".into(),
        },
        // A bind keeps the source mount's nosuid and nodev.
        TmpMount::Disk { host_dir } => MountStep {
            src: Some(host_dir.clone()),
            target: at(Path::new("/tmp")),
            fstype: None,
            flags: libc::MS_BIND,
            data: None,
            label: "/tmp".into(),
        },
    });
    steps.push(MountStep {
        src: Some("tmpfs".into()),
        target: at(Path::new("/dev/shm")),
        fstype: Some("tmpfs"),
        flags: libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        data: Some(format!("size={DEV_SHM_MB}m,mode=1777")),
        label: "/dev/shm".into(),
    });
    for dev in DEVICES {
        let p = Path::new("/dev").join(dev);
        steps.push(MountStep {
            src: Some(p.clone()),
            target: at(&p),
            fstype: None,
            flags: libc::MS_BIND,
            data: None,
            label: p.display().to_string(),
        });
    }
    steps.push(MountStep {
        src: Some("proc".into()),
        target: at(Path::new("/proc")),
        fstype: Some("proc"),
        flags: libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        data: None,
        label: "/proc".into(),
    });
    steps
}

/// Flags for the final read-only remount of `/` (after `pivot_root`).
pub(crate) fn root_remount_flags(locked_root: c_ulong) -> c_ulong {
    libc::MS_REMOUNT
        | libc::MS_BIND
        | libc::MS_RDONLY
        | libc::MS_NOSUID
        | libc::MS_NODEV
        | locked_root
}

/// Mount flags of the file system holding `path` that a read-only bind remount has to keep.
pub(crate) fn locked_flags(sys: &dyn HostSys, path: &Path) -> c_ulong {
    sys.statvfs_flags(path).map_or(0, flags_from_statvfs)
}

pub(crate) fn flags_from_statvfs(f: c_ulong) -> c_ulong {
    let mut out = 0;
    for (st, ms) in [
        (libc::ST_NOSUID, libc::MS_NOSUID),
        (libc::ST_NODEV, libc::MS_NODEV),
        (libc::ST_NOEXEC, libc::MS_NOEXEC),
        (libc::ST_NOATIME, libc::MS_NOATIME),
        (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
        (libc::ST_RELATIME, libc::MS_RELATIME),
    ] {
        if f & st != 0 {
            out |= ms;
        }
    }
    if f & (libc::ST_NOATIME | libc::ST_RELATIME) == 0 {
        out |= libc::MS_STRICTATIME;
    }
    out
}

/// Content-addressed name of a skeleton.
pub(crate) fn skeleton_key(entries: &[SkelEntry]) -> String {
    let mut h = DefaultHasher::new();
    entries.hash(&mut h);
    format!("{:016x}", h.finish())
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Makes sure the skeleton for `entries` exists under `<state_dir>/roots/` and returns its
/// path. Built in a temporary directory and renamed into place, so concurrent spawns never
/// see a half-built skeleton.
pub(crate) fn materialize(state_dir: &Path, entries: &[SkelEntry]) -> Result<PathBuf> {
    let roots = state_dir.join("roots");
    let fin = roots.join(skeleton_key(entries));
    if fin.is_dir() {
        return Ok(fin);
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o711)
        .create(&roots)
        .map_err(|e| SandboxError::io("mkdir", &roots, e))?;
    let tmp = roots.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let build = || -> Result<()> {
        let mk = |p: &Path| -> Result<()> {
            fs::DirBuilder::new()
                .mode(0o755)
                .create(p)
                .map_err(|e| SandboxError::io("mkdir", p, e))?;
            fs::set_permissions(p, fs::Permissions::from_mode(0o755))
                .map_err(|e| SandboxError::io("chmod", p, e))
        };
        mk(&tmp)?;
        for e in entries {
            match e {
                SkelEntry::Dir(p) => mk(&tmp.join(p))?,
                SkelEntry::File(p, content) => {
                    let p = tmp.join(p);
                    fs::write(&p, content).map_err(|e| SandboxError::io("write", &p, e))?;
                    fs::set_permissions(&p, fs::Permissions::from_mode(0o644))
                        .map_err(|e| SandboxError::io("chmod", &p, e))?;
                }
                SkelEntry::Symlink(p, target) => {
                    let p = tmp.join(p);
                    std::os::unix::fs::symlink(target, &p)
                        .map_err(|e| SandboxError::io("symlink", &p, e))?;
                }
            }
        }
        Ok(())
    };
    if let Err(e) = build() {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if let Err(e) = fs::rename(&tmp, &fin) {
        let _ = fs::remove_dir_all(&tmp);
        if !fin.is_dir() {
            return Err(SandboxError::io("rename", &fin, e));
        }
    }
    Ok(fin)
}

#[cfg(test)]
mod tests;
