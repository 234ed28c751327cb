//! [`Sandboxer`]: the per-host factory of sandboxes, and its [`SandboxerConfig`].

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::cgroup;
use crate::ephemeral::EphemeralStore;
use crate::error::{Result, SandboxError};
use crate::helper::HelperLauncher;
use crate::host::{HostSupport, probe_host};
use crate::launch::{self, InProcess, Launch};
use crate::netns::NetnsPool;
use crate::plain;
use crate::plan::{Settings, Start};
use crate::sandbox::Sandbox;
use crate::seccomp;
use crate::spawn::{CgroupTarget, Spawner};
use crate::spec::SandboxSpec;
use crate::sys::seam::{HostSys, LINUX};
use crate::sys::{linux_host, loopdev};

/// Whether to create a user namespace for each sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UserNamespaceMode {
    /// Only when flint is not root (then it is required for mounts and namespaces).
    #[default]
    Auto,
    /// Always (as root, the function's uid maps to the same host uid).
    Always,
    /// Never (requires root).
    Never,
}

/// Configuration of a [`Sandboxer`].
#[derive(Debug, Clone)]
pub struct SandboxerConfig {
    /// Where cached root skeletons live. Default: `/run/flint-sandbox` as root, else
    /// `$XDG_RUNTIME_DIR/flint-sandbox` or `/tmp/flint-sandbox-<uid>`.
    pub state_dir: PathBuf,
    /// cgroup directory (relative to each hierarchy's root) that holds the environments.
    /// Default `flint`. Rootless on cgroup v2 this must name a subtree delegated to flint's
    /// user (e.g. the cgroup of a `systemd-run --user -p Delegate=yes` unit plus a child),
    /// since only there may flint create cgroups and enable controllers.
    pub cgroup_parent: String,
    /// User-namespace policy.
    pub user_namespace: UserNamespaceMode,
    /// Refuse to spawn when cgroup limits cannot be enforced (default `true`). Development
    /// mode may turn this off; then memory/CPU/pids are not limited.
    pub require_cgroups: bool,
    /// `RLIMIT_NOFILE` inside the sandbox (Lambda: 1024).
    pub nofile: u64,
    /// Network namespaces kept ready in the background (root only; 0 disables the pool).
    pub netns_pool: usize,
    /// Spawn through a helper process (`program`, `args`) instead of cloning from flint
    /// itself; see [`crate::helper_main`] for why. `None` (default): clone in-process.
    pub spawn_helper: Option<(PathBuf, Vec<OsString>)>,
    /// Unisolated development mode: environments are plain child processes (see
    /// `plain.rs`) with no namespaces, cgroups or seccomp. Only for hosts that cannot
    /// sandbox, when the operator explicitly asks for it; never for untrusted code.
    pub unisolated: bool,
    /// Give each environment a disk-backed `/tmp` of exactly its ephemeral-storage size
    /// (`ephemeral.rs`; root, loop devices and `mkfs.ext4` needed). Default `true`; without
    /// it, or where it is not possible, `/tmp` is a tmpfs charged to the memory limit.
    pub disk_tmp: bool,
    /// Where the disk-backed `/tmp`s' images live: a directory on a disk (not a tmpfs such as
    /// `/run` on most hosts) that holds nothing else: flint empties it at start. Default
    /// `<state_dir>/ephemeral`.
    pub disk_tmp_dir: Option<PathBuf>,
}

impl Default for SandboxerConfig {
    fn default() -> Self {
        let uid = linux_host::euid();
        let state_dir = if uid == 0 {
            PathBuf::from("/run/flint-sandbox")
        } else if let Some(x) = std::env::var_os("XDG_RUNTIME_DIR") {
            Path::new(&x).join("flint-sandbox")
        } else {
            PathBuf::from(format!("/tmp/flint-sandbox-{uid}"))
        };
        Self {
            state_dir,
            cgroup_parent: "flint".into(),
            user_namespace: UserNamespaceMode::Auto,
            require_cgroups: true,
            nofile: 1024,
            netns_pool: 4,
            spawn_helper: None,
            unisolated: false,
            disk_tmp: true,
            disk_tmp_dir: None,
        }
    }
}

/// How a [`Sandboxer`] makes environments.
#[derive(Debug)]
pub(crate) enum Mode {
    /// Sandboxes (the normal case).
    Isolated(Box<Spawner>),
    /// The unisolated development mode: plain processes, their `/tmp` stand-ins under
    /// `tmp_root`.
    Unisolated { tmp_root: PathBuf },
}

/// Per-host sandbox factory: probes the host once, compiles the seccomp policy once, prepares
/// the cgroup parent, and caches root skeletons. `Send + Sync`; share it (e.g. in an `Arc`)
/// and call [`Sandboxer::spawn`] from any thread. `spawn` blocks for a few milliseconds; from
/// async code call it inside `spawn_blocking`.
#[derive(Debug)]
pub struct Sandboxer {
    pub(crate) host: HostSupport,
    pub(crate) config: SandboxerConfig,
    cgroup_problems: Vec<String>,
    /// What backs the environments' `/tmp`, for operators.
    tmp_backing: String,
    pub(crate) mode: Mode,
}

impl Sandboxer {
    /// Probes the host and prepares shared state.
    pub fn new(config: SandboxerConfig) -> Result<Self> {
        Self::with_host(probe_host(), config)
    }

    /// Like [`Sandboxer::new`] with an already probed (or, in tests, adjusted) [`HostSupport`].
    pub fn with_host(host: HostSupport, config: SandboxerConfig) -> Result<Self> {
        if config.unisolated {
            return Self::unisolated(host, config);
        }
        let mut sandboxer = Self::isolated(host, config, &LINUX, None)?;
        sandboxer.use_disk_tmp();
        Ok(sandboxer)
    }

    /// Switches to disk-backed `/tmp`s where the host allows it (see
    /// [`SandboxerConfig::disk_tmp`]); otherwise says why `/tmp` stays in memory.
    fn use_disk_tmp(&mut self) {
        let why_not = if !self.config.disk_tmp {
            Some("disk_tmp is off".to_string())
        } else if !self.host.is_root {
            Some("loop devices need root".to_string())
        } else if !loopdev::supported() {
            Some("no /dev/loop-control or mkfs.ext4".to_string())
        } else {
            None
        };
        let Mode::Isolated(spawner) = &mut self.mode else {
            return;
        };
        let dir = self
            .config
            .disk_tmp_dir
            .clone()
            .unwrap_or_else(|| self.config.state_dir.join("ephemeral"));
        let why_not = why_not.or_else(|| match EphemeralStore::open(spawner.sys, &dir) {
            Ok(store) => {
                self.tmp_backing = format!(
                    "disk: ext4 of exactly EphemeralStorage on a loop device, images in {}",
                    dir.display()
                );
                spawner.ephemeral = Some(store);
                None
            }
            Err(e) => Some(e.to_string()),
        });
        if let Some(why) = why_not {
            self.tmp_backing = format!("memory: tmpfs charged to the memory limit ({why})");
        }
    }

    /// What backs the environments' `/tmp` (disk, or memory and why), for operators.
    pub fn tmp_backing(&self) -> &str {
        &self.tmp_backing
    }

    /// The sandboxing factory, on `sys`; `launcher: None` launches as the config says (the
    /// spawn helper or in-process).
    pub(crate) fn isolated(
        host: HostSupport,
        config: SandboxerConfig,
        sys: &'static dyn HostSys,
        launcher: Option<Box<dyn Launch>>,
    ) -> Result<Self> {
        if !host.namespaces {
            return Err(SandboxError::Unsupported("namespaces".into()));
        }
        if !host.pidfd {
            return Err(SandboxError::Unsupported("pidfd (Linux >= 5.5)".into()));
        }
        let user_namespace = match config.user_namespace {
            UserNamespaceMode::Always => true,
            UserNamespaceMode::Never => false,
            UserNamespaceMode::Auto => !host.is_root,
        };
        if user_namespace && !host.user_namespaces {
            return Err(SandboxError::Unsupported("user namespaces".into()));
        }
        if !user_namespace && !host.is_root {
            return Err(SandboxError::Unsupported(
                "sandboxing without root needs user namespaces".into(),
            ));
        }
        if !host.seccomp {
            return Err(SandboxError::Unsupported("seccomp".into()));
        }
        let filters = seccomp::compile_filters()?;
        let readiness = cgroup::ready_parent(sys, &host.cgroup, &config.cgroup_parent);
        if config.require_cgroups && !readiness.usable {
            return Err(SandboxError::Unsupported(format!(
                "cgroup limits ({})",
                readiness.problems.join("; ")
            )));
        }
        let cgroups = readiness.usable.then(|| CgroupTarget {
            flavor: host.cgroup.clone(),
            parent: config.cgroup_parent.clone(),
        });
        let launcher = match (launcher, config.spawn_helper.clone()) {
            (Some(launcher), _) => launcher,
            (None, Some((program, args))) => Box::new(HelperLauncher::start(
                program,
                args,
                cgroups.as_ref().map(|c| c.parent.clone()),
            )?),
            (None, None) => Box::new(InProcess::new(filters)),
        };
        std::fs::create_dir_all(&config.state_dir)
            .map_err(|e| SandboxError::io("mkdir", &config.state_dir, e))?;
        check_private_dir(&config.state_dir)?;
        let netns_pool = if !user_namespace && config.netns_pool > 0 {
            NetnsPool::start(config.netns_pool)
        } else {
            None
        };
        let settings = Settings {
            user_namespace,
            cap_last_cap: host.cap_last_cap,
            nofile: config.nofile,
        };
        let spawner = Spawner::new(
            sys,
            launcher,
            settings,
            cgroups,
            config.state_dir.clone(),
            netns_pool,
        );
        Ok(Self {
            host,
            config,
            cgroup_problems: readiness.problems,
            tmp_backing: "memory: tmpfs charged to the memory limit".into(),
            mode: Mode::Isolated(Box::new(spawner)),
        })
    }

    /// The unisolated development mode's factory: nothing to probe or prepare but the
    /// directory that holds the environments' `/tmp` stand-ins.
    fn unisolated(host: HostSupport, config: SandboxerConfig) -> Result<Self> {
        if !host.pidfd {
            return Err(SandboxError::Unsupported("pidfd (Linux >= 5.3)".into()));
        }
        let tmp_root = config.state_dir.join("tmp");
        std::fs::create_dir_all(&tmp_root).map_err(|e| SandboxError::io("mkdir", &tmp_root, e))?;
        check_private_dir(&config.state_dir)?;
        Ok(Self {
            host,
            config,
            cgroup_problems: vec!["unisolated development mode".into()],
            tmp_backing: "a host directory, unlimited (unisolated development mode)".into(),
            mode: Mode::Unisolated { tmp_root },
        })
    }

    /// Whether environments are plain, unisolated processes (development mode).
    pub fn is_unisolated(&self) -> bool {
        matches!(self.mode, Mode::Unisolated { .. })
    }

    /// What the host supports.
    pub fn host(&self) -> &HostSupport {
        &self.host
    }

    /// Whether spawned sandboxes get cgroup limits (false only in development mode).
    pub fn cgroups_enforced(&self) -> bool {
        matches!(&self.mode, Mode::Isolated(s) if s.cgroups.is_some())
    }

    /// Kills and removes environments left in the cgroup parent by a previous flint process
    /// (normally none: sandboxes die with flint through `PR_SET_PDEATHSIG`, but their cgroup
    /// directories stay). Call once at start-up, before spawning. Returns how many were
    /// removed. Do not share a `cgroup_parent` between two live flint instances.
    pub fn remove_stale_environments(&self) -> Result<usize> {
        match &self.mode {
            Mode::Isolated(spawner) => match &spawner.cgroups {
                Some(target) => cgroup::remove_stale(spawner.sys, &target.flavor, &target.parent),
                None => Ok(0),
            },
            Mode::Unisolated { .. } => Ok(0),
        }
    }

    /// Problems met while preparing the cgroup parent (for operators).
    pub fn cgroup_problems(&self) -> &[String] {
        &self.cgroup_problems
    }

    /// Starts one execution environment and returns once the function has been `execve`d
    /// (or the set-up failed, in which case nothing is left behind).
    pub fn spawn(&self, spec: SandboxSpec) -> Result<Sandbox> {
        match &self.mode {
            Mode::Isolated(spawner) => spawner.spawn(spec, Start::Now).map(|(sb, _)| sb),
            Mode::Unisolated { tmp_root } => spawn_plain(spec, tmp_root.clone()),
        }
    }
}

/// Unisolated development mode: the spec's command as a plain child process.
fn spawn_plain(spec: SandboxSpec, tmp_root: PathBuf) -> Result<Sandbox> {
    let id = spec.id.clone();
    // On the spawner thread: the parent-death signal follows the thread that forked.
    let spawned = launch::on_spawner_thread(move || plain::spawn(spec, &tmp_root))??;
    let (status_r, status_w) = LINUX.pipe().map_err(|e| SandboxError::Sys {
        op: "pipe2",
        source: e,
    })?;
    drop(status_w);
    Ok(Sandbox::plain(&LINUX, id, spawned, status_r))
}

/// Starts one sandbox with a default [`Sandboxer`] (probes the host on every call; keep a
/// `Sandboxer` around instead when spawning repeatedly).
pub fn spawn(spec: SandboxSpec) -> Result<Sandbox> {
    Sandboxer::new(SandboxerConfig::default())?.spawn(spec)
}

/// The skeletons under `state_dir` become every sandbox's root (passwd, ld.so.cache, ...):
/// refuse a directory someone else could have prepared or could modify (think of a
/// pre-created `/tmp/flint-sandbox-<uid>`).
fn check_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::symlink_metadata(dir).map_err(|e| SandboxError::io("stat", dir, e))?;
    let euid = linux_host::euid();
    if !md.is_dir() || md.uid() != euid || md.mode() & 0o022 != 0 {
        return Err(SandboxError::InvalidSpec(format!(
            "state_dir {} must be a directory owned by uid {euid} and writable only by it",
            dir.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn state_dir_must_be_private() {
        let d = std::env::temp_dir().join(format!("flint-state-test-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
        check_private_dir(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(check_private_dir(&d).is_err());
        std::fs::remove_dir(&d).unwrap();
        assert!(check_private_dir(&d).is_err(), "missing dir");
    }
}
