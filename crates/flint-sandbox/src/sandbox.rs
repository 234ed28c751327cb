//! [`Sandboxer`] (per-host state) and [`Sandbox`] (one running execution environment).

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read};
use std::net::TcpListener;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::Duration;

use crate::cgroup::{self, CgroupHandle, Limits};
use crate::child::{self, ChildFds, ChildPlan, Step};
use crate::error::{Result, SandboxError};
use crate::helper::{HelperConn, MountData, PlanData};
use crate::host::{CgroupFlavor, HostSupport, probe_host};
use crate::netns::NetnsPool;
use crate::plain;
use crate::rootfs::{self, HostFacts};
use crate::seccomp;
use crate::spec::{NetworkMode, SandboxSpec};

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
}

impl Default for SandboxerConfig {
    fn default() -> Self {
        // SAFETY: geteuid has no failure mode.
        let uid = unsafe { libc::geteuid() };
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
        }
    }
}

/// Per-host sandbox factory: probes the host once, compiles the seccomp policy once, prepares
/// the cgroup parent, and caches root skeletons. `Send + Sync`; share it (e.g. in an `Arc`)
/// and call [`Sandboxer::spawn`] from any thread. `spawn` blocks for a few milliseconds; from
/// async code call it inside `spawn_blocking`.
#[derive(Debug)]
pub struct Sandboxer {
    pub(crate) host: HostSupport,
    pub(crate) config: SandboxerConfig,
    facts: HostFacts,
    filters: Vec<seccompiler::BpfProgram>,
    pub(crate) use_userns: bool,
    cgroups_usable: bool,
    cgroup_problems: Vec<String>,
    skeletons: Mutex<HashMap<SkeletonKey, PathBuf>>,
    helper: Option<Mutex<HelperConn>>,
    netns_pool: Option<NetnsPool>,
}

type SkeletonKey = (u32, u32, Vec<(PathBuf, bool)>);

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
        if !host.namespaces {
            return Err(SandboxError::Unsupported("namespaces".into()));
        }
        if !host.pidfd {
            return Err(SandboxError::Unsupported("pidfd (Linux >= 5.5)".into()));
        }
        let use_userns = match config.user_namespace {
            UserNamespaceMode::Always => true,
            UserNamespaceMode::Never => false,
            UserNamespaceMode::Auto => !host.is_root,
        };
        if use_userns && !host.user_namespaces {
            return Err(SandboxError::Unsupported("user namespaces".into()));
        }
        if !use_userns && !host.is_root {
            return Err(SandboxError::Unsupported(
                "sandboxing without root needs user namespaces".into(),
            ));
        }
        let filters = if host.seccomp {
            seccomp::compile_filters()?
        } else {
            Vec::new()
        };
        if !host.seccomp {
            return Err(SandboxError::Unsupported("seccomp".into()));
        }
        let mut cgroup_problems = match &host.cgroup {
            CgroupFlavor::None { reason } => vec![reason.clone()],
            flavor => cgroup::prepare_parent(flavor, &config.cgroup_parent)
                .unwrap_or_else(|e| vec![e.to_string()]),
        };
        // The parent may exist (created by an earlier root run) without being ours to write.
        for dir in cgroup::parent_dirs(&host.cgroup, &config.cgroup_parent) {
            if !writable(&dir) {
                cgroup_problems.push(format!("{} is not writable", dir.display()));
            }
        }
        let cgroups_usable = match &host.cgroup {
            CgroupFlavor::V1 { .. } => cgroup_problems.is_empty(),
            CgroupFlavor::V2 { root, .. } => {
                let ctl = std::fs::read_to_string(
                    root.join(&config.cgroup_parent).join("cgroup.controllers"),
                )
                .unwrap_or_default();
                cgroup_problems.is_empty()
                    && ["memory", "cpu", "pids"]
                        .iter()
                        .all(|c| ctl.split_whitespace().any(|x| x == *c))
            }
            CgroupFlavor::None { .. } => false,
        };
        if config.require_cgroups && !cgroups_usable {
            return Err(SandboxError::Unsupported(format!(
                "cgroup limits ({})",
                cgroup_problems.join("; ")
            )));
        }
        let helper = match config.spawn_helper.clone() {
            Some((program, args)) => {
                let parent = cgroups_usable.then(|| config.cgroup_parent.clone());
                Some(Mutex::new(on_spawner_thread(move || {
                    HelperConn::start(&program, &args, parent)
                })??))
            }
            None => None,
        };
        std::fs::create_dir_all(&config.state_dir)
            .map_err(|e| SandboxError::io("mkdir", &config.state_dir, e))?;
        check_private_dir(&config.state_dir)?;
        let netns_pool = if !use_userns && config.netns_pool > 0 {
            NetnsPool::start(config.netns_pool)
        } else {
            None
        };
        Ok(Self {
            facts: HostFacts::gather(),
            host,
            config,
            filters,
            use_userns,
            cgroups_usable,
            cgroup_problems,
            skeletons: Mutex::default(),
            helper,
            netns_pool,
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
            facts: HostFacts::gather(),
            host,
            config,
            filters: Vec::new(),
            use_userns: false,
            cgroups_usable: false,
            cgroup_problems: vec!["unisolated development mode".into()],
            skeletons: Mutex::default(),
            helper: None,
            netns_pool: None,
        })
    }

    /// Whether environments are plain, unisolated processes (development mode).
    pub fn is_unisolated(&self) -> bool {
        self.config.unisolated
    }

    /// What the host supports.
    pub fn host(&self) -> &HostSupport {
        &self.host
    }

    /// Whether spawned sandboxes get cgroup limits (false only in development mode).
    pub fn cgroups_enforced(&self) -> bool {
        self.cgroups_usable
    }

    /// Kills and removes environments left in the cgroup parent by a previous flint process
    /// (normally none: sandboxes die with flint through `PR_SET_PDEATHSIG`, but their cgroup
    /// directories stay). Call once at start-up, before spawning. Returns how many were
    /// removed. Do not share a `cgroup_parent` between two live flint instances.
    pub fn remove_stale_environments(&self) -> Result<usize> {
        if !self.cgroups_usable {
            return Ok(0);
        }
        cgroup::remove_stale(&self.host.cgroup, &self.config.cgroup_parent)
    }

    /// Problems met while preparing the cgroup parent (for operators).
    pub fn cgroup_problems(&self) -> &[String] {
        &self.cgroup_problems
    }

    /// Starts one execution environment and returns once the function has been `execve`d
    /// (or the set-up failed, in which case nothing is left behind).
    pub fn spawn(&self, spec: SandboxSpec) -> Result<Sandbox> {
        if self.config.unisolated {
            return self.spawn_plain(spec);
        }
        self.spawn_inner(spec, false).map(|(sb, _)| sb)
    }

    /// The spawn sequence. `prespawn`: leave out the code mounts (`/var/task`, `/opt`) and
    /// return as soon as the child's root and listener are ready, with the child waiting for
    /// its specialisation on the returned (sync socket, error pipe); see `prespawn.rs`.
    pub(crate) fn spawn_inner(
        &self,
        spec: SandboxSpec,
        prespawn: bool,
    ) -> Result<(Sandbox, Option<(OwnedFd, OwnedFd)>)> {
        spec.validate()?;
        for (what, p) in [
            ("task_dir", Some(&spec.task_dir)),
            ("opt_dir", spec.opt_dir.as_ref()),
            ("runtime_dir", spec.runtime_dir.as_ref()),
        ] {
            if let Some(p) = p
                && !p.is_dir()
            {
                return Err(SandboxError::InvalidSpec(format!(
                    "{what} {} is not a directory",
                    p.display()
                )));
            }
        }
        let mut extra_is_file = Vec::new();
        for (src, _) in &spec.extra_ro_binds {
            let md = std::fs::metadata(src).map_err(|e| SandboxError::io("stat", src, e))?;
            extra_is_file.push(!md.is_dir());
        }
        let mut plan = rootfs::plan_root(&self.facts, &spec, &extra_is_file);
        if prespawn {
            // Attached at claim time as detached mounts (prespawn.rs).
            plan.ro_binds
                .retain(|b| b.dst != Path::new("/var/task") && b.dst != Path::new("/opt"));
        }
        let skel = self.skeleton(&spec, &extra_is_file, &plan)?;
        let steps = rootfs::mount_steps(&plan, &skel, spec.tmp_size_mb, rootfs::locked_flags);

        // Pipes/sockets between parent and child, all close-on-exec.
        let (sync_parent, sync_child) = socketpair()?;
        let (err_r, err_w) = pipe()?;
        let (status_r, status_w) = pipe()?;

        let cg = if self.cgroups_usable {
            let limits = Limits::new(spec.memory_mb, spec.cpu_millis, spec.pids_max);
            Some(CgroupHandle::create(
                &self.host.cgroup,
                &self.config.cgroup_parent,
                &spec.id,
                &limits,
            )?)
        } else {
            None
        };

        let mut flags =
            libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS;
        let pooled_netns = match (&self.netns_pool, spec.network) {
            (Some(pool), NetworkMode::Private) => pool.take(),
            _ => None,
        };
        if spec.network == NetworkMode::Private && pooled_netns.is_none() {
            flags |= libc::CLONE_NEWNET;
        }
        if self.use_userns {
            flags |= libc::CLONE_NEWUSER;
        }
        let mut data = self.plan_data(&spec, &steps, &skel, flags as u64);
        data.pooled_netns = pooled_netns.is_some();
        data.prespawned = prespawn;
        data.prestart = prespawn && spec.prestart;
        let fds = ChildFds {
            sync: sync_child.as_raw_fd(),
            err_w: err_w.as_raw_fd(),
            status_w: status_w.as_raw_fd(),
            stdout: spec.stdout.as_raw_fd(),
            stderr: spec.stderr.as_raw_fd(),
            extra: {
                let mut extra = [-1; crate::spec::MAX_EXTRA_FDS];
                for (slot, fd) in extra.iter_mut().zip(&spec.extra_fds) {
                    *slot = fd.as_raw_fd();
                }
                extra
            },
            n_extra: spec.extra_fds.len(),
            netns: pooled_netns.as_ref().map_or(-1, AsRawFd::as_raw_fd),
        };
        let cloned = match &self.helper {
            Some(h) => {
                let mut all = vec![fds.sync, fds.err_w, fds.status_w, fds.stdout, fds.stderr];
                if fds.netns >= 0 {
                    all.push(fds.netns);
                }
                all.extend_from_slice(&fds.extra[..fds.n_extra]);
                let mut conn = h.lock().unwrap_or_else(|e| e.into_inner());
                // A helper that died (killed by an operator, OOM, ...) is replaced, again
                // from the spawner thread.
                if !conn.alive() {
                    let (program, args, parent) = conn.command();
                    match on_spawner_thread(move || HelperConn::start(&program, &args, parent)) {
                        Ok(Ok(fresh)) => *conn = fresh,
                        Ok(Err(e)) | Err(e) => {
                            if let Some(cg) = &cg {
                                let _ = cg.remove();
                            }
                            return Err(e);
                        }
                    }
                }
                conn.clone_child(&data, &all)
            }
            None => data
                .to_child_plan(fds, self.filters.clone())
                .and_then(|cplan| clone_via_spawner(data.clone_flags, &cplan)),
        };
        let (pid, pidfd) = match cloned {
            Ok(v) => v,
            Err(e) => {
                if let Some(cg) = &cg {
                    let _ = cg.remove();
                }
                return Err(e);
            }
        };
        // The child owns its copies now; close ours so EOF means what it should.
        drop((sync_child, err_w, status_w));
        drop(spec.stdout);
        drop(spec.stderr);
        drop(spec.extra_fds);
        drop(pooled_netns);

        let mut sb = Sandbox {
            id: spec.id,
            pid,
            pidfd,
            status_r: File::from(status_r),
            cgroup: cg,
            listener: None,
            plain: None,
            exit: None,
            torn_down: false,
        };
        if prespawn {
            return match self.finish_prespawn(&mut sb, &sync_parent, err_r, spec.uid, spec.gid) {
                Ok(err_r) => Ok((sb, Some((sync_parent, err_r)))),
                Err(e) => {
                    let _ = sb.teardown();
                    Err(e)
                }
            };
        }
        match self.finish_start(
            &mut sb,
            &sync_parent,
            err_r,
            spec.runtime_api_port.is_some(),
            spec.uid,
            spec.gid,
        ) {
            Ok(()) => Ok((sb, None)),
            Err(e) => {
                let _ = sb.teardown();
                Err(e)
            }
        }
    }

    /// The parent's half of a pre-spawn: maps, cgroups, then the listener, which the child
    /// sends once its root is ready, then "go" (the child starts a pre-started runtime, which
    /// must be in the cgroups, and waits for its specialisation).
    fn finish_prespawn(
        &self,
        sb: &mut Sandbox,
        sync: &OwnedFd,
        err_r: OwnedFd,
        uid: u32,
        gid: u32,
    ) -> Result<OwnedFd> {
        if self.use_userns {
            write_id_maps(sb.pid, uid, gid)?;
            send_byte(sync, child::MSG_USERNS);
        }
        if let Some(cg) = &sb.cgroup {
            cg.attach(sb.pid)?;
        }
        match recv_fd(sync.as_fd()) {
            Ok(Some(fd)) => {
                sb.listener = Some(TcpListener::from(fd));
                send_byte(sync, child::MSG_GO);
                Ok(err_r)
            }
            // The child failed before sending it: its error record says why.
            Ok(None) => {
                let mut err_f = File::from(err_r);
                Err(
                    read_child_error(&mut err_f).unwrap_or(SandboxError::ChildSetup {
                        step: "start",
                        detail: String::new(),
                        source: io::Error::other("pre-spawned child exited without its listener"),
                    }),
                )
            }
            Err(e) => Err(SandboxError::Sys {
                op: "recvmsg",
                source: e,
            }),
        }
    }

    /// The cached skeleton for this spec's shape. The skeleton depends only on the host facts
    /// (fixed per `Sandboxer`), uid/gid and the extra bind targets, so that is the key; this
    /// saves hashing the skeleton's content (ld.so.cache, ...) on every spawn.
    /// Unisolated development mode: the spec's command as a plain child process.
    fn spawn_plain(&self, spec: SandboxSpec) -> Result<Sandbox> {
        let id = spec.id.clone();
        let tmp_root = self.config.state_dir.join("tmp");
        // On the spawner thread: the parent-death signal follows the thread that forked.
        let spawned = on_spawner_thread(move || plain::spawn(spec, &tmp_root))??;
        // No init reports the function's status: the read end of a pipe whose write end is
        // already closed reads EOF, and `wait_inner` falls back to waitid's own status.
        let (status_r, status_w) = pipe()?;
        drop(status_w);
        Ok(Sandbox {
            id,
            pid: spawned.pid,
            pidfd: spawned.pidfd,
            status_r: File::from(status_r),
            cgroup: None,
            listener: spawned.listener,
            plain: Some(spawned.parts),
            exit: None,
            torn_down: false,
        })
    }

    fn skeleton(
        &self,
        spec: &SandboxSpec,
        extra_is_file: &[bool],
        plan: &rootfs::RootPlan,
    ) -> Result<PathBuf> {
        let key: SkeletonKey = (
            spec.uid,
            spec.gid,
            spec.extra_ro_binds
                .iter()
                .map(|(_, d)| d.clone())
                .zip(extra_is_file.iter().copied())
                .collect(),
        );
        if let Some(p) = self
            .skeletons
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(p.clone());
        }
        let p = rootfs::materialize(&self.config.state_dir, &plan.skeleton)?;
        self.skeletons
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, p.clone());
        Ok(p)
    }

    fn finish_start(
        &self,
        sb: &mut Sandbox,
        sync: &OwnedFd,
        err_r: OwnedFd,
        want_listener: bool,
        uid: u32,
        gid: u32,
    ) -> Result<()> {
        if self.use_userns {
            write_id_maps(sb.pid, uid, gid)?;
            send_byte(sync, child::MSG_USERNS);
        }
        if let Some(cg) = &sb.cgroup {
            cg.attach(sb.pid)?;
        }
        // "go" right away: the child only waits for it once its root is ready, by which
        // time it is usually already there. The listener is collected after the exec: the
        // child binds it before it waits for "go", so it exists before the function runs,
        // and reading it afterwards saves a round trip (each is a scheduler wake-up, which
        // costs milliseconds on a loaded host).
        send_byte(sync, child::MSG_GO);
        let mut err_f = File::from(err_r);
        if let Some(e) = read_child_error(&mut err_f) {
            return Err(e);
        }
        if want_listener {
            match recv_fd(sync.as_fd()) {
                Ok(Some(fd)) => sb.listener = Some(TcpListener::from(fd)),
                Ok(None) => {
                    return Err(SandboxError::ChildSetup {
                        step: "start",
                        detail: String::new(),
                        source: io::Error::other("child exec'd without passing the listener"),
                    });
                }
                Err(e) => {
                    return Err(SandboxError::Sys {
                        op: "recvmsg",
                        source: e,
                    });
                }
            }
        }
        Ok(())
    }

    fn plan_data(
        &self,
        spec: &SandboxSpec,
        steps: &[rootfs::MountStep],
        skel: &Path,
        clone_flags: u64,
    ) -> PlanData {
        let b = |p: &Path| p.as_os_str().as_bytes().to_vec();
        PlanData {
            clone_flags,
            mounts: steps
                .iter()
                .map(|m| MountData {
                    src: m.src.as_deref().map(b),
                    target: b(&m.target),
                    fstype: m.fstype.map(|f| f.as_bytes().to_vec()),
                    flags: ulong_to_u64(m.flags),
                    data: m.data.as_ref().map(|d| d.as_bytes().to_vec()),
                })
                .collect(),
            root: b(skel),
            root_remount_flags: ulong_to_u64(rootfs::root_remount_flags(rootfs::locked_flags(
                skel,
            ))),
            hostname: spec.hostname.as_bytes().to_vec(),
            cwd: spec.cwd.as_bytes().to_vec(),
            exec_candidates: spec
                .exec_candidates()
                .into_iter()
                .map(String::into_bytes)
                .collect(),
            argv: spec.argv.iter().map(|a| a.as_bytes().to_vec()).collect(),
            env: spec
                .effective_env()
                .iter()
                .map(|(k, v)| format!("{k}={v}").into_bytes())
                .collect(),
            uid: spec.uid,
            gid: spec.gid,
            wait_userns: self.use_userns,
            // After "deny" in /proc/<pid>/setgroups the call is refused; the host user's
            // supplementary groups are unmapped (nogroup) in that case anyway.
            set_groups: !self.use_userns,
            cap_last_cap: self.host.cap_last_cap,
            lo_up: spec.network == NetworkMode::Private,
            listen_port: spec.runtime_api_port,
            nofile: self.config.nofile,
            pooled_netns: false,
            prespawned: false,
            prestart: false,
        }
    }
}

/// `c_ulong` is `u64` here but `u32` on 32-bit targets, hence the cast clippy calls useless.
#[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
fn ulong_to_u64(v: libc::c_ulong) -> u64 {
    v as u64
}

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
    id: String,
    pid: i32,
    pidfd: OwnedFd,
    status_r: File,
    pub(crate) cgroup: Option<CgroupHandle>,
    listener: Option<TcpListener>,
    /// Set in unisolated development mode: the process group and `/tmp` stand-in to clean.
    plain: Option<plain::PlainParts>,
    exit: Option<ExitStatus>,
    torn_down: bool,
}

impl Sandbox {
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
        self.wait_inner(libc::WNOHANG)
    }

    /// Blocks until the environment has exited.
    pub fn wait(&mut self) -> Result<ExitStatus> {
        Ok(self
            .wait_inner(0)?
            .expect("waitid without WNOHANG returns a status"))
    }

    /// Waits at most `timeout`.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<Option<ExitStatus>> {
        if self.exit.is_some() {
            return self.try_wait();
        }
        let mut pfd = libc::pollfd {
            fd: self.pidfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: poll on one pollfd we own.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        if r < 0 {
            return Err(SandboxError::sys("poll"));
        }
        self.try_wait()
    }

    fn wait_inner(&mut self, flags: i32) -> Result<Option<ExitStatus>> {
        if let Some(e) = self.exit {
            return Ok(Some(e));
        }
        // SAFETY: siginfo_t is plain data; waitid fills it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        loop {
            // SAFETY: waitid(P_PIDFD) on our pidfd with a valid siginfo pointer.
            let r = unsafe {
                libc::waitid(
                    libc::P_PIDFD,
                    self.pidfd.as_raw_fd() as libc::id_t,
                    &mut info,
                    libc::WEXITED | flags,
                )
            };
            if r == 0 {
                break;
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINTR) {
                return Err(SandboxError::Sys {
                    op: "waitid",
                    source: e,
                });
            }
        }
        // SAFETY: reading si_pid/si_status of the siginfo waitid filled.
        let (pid, code, status) = unsafe { (info.si_pid(), info.si_code, info.si_status()) };
        if pid == 0 {
            return Ok(None);
        }
        // Prefer the function's own status, written by init just before it exits.
        let mut buf = [0u8; 4];
        let exit = match self.status_r.read(&mut buf) {
            Ok(4) => ExitStatus::from_wait_status(i32::from_ne_bytes(buf)),
            _ if code == libc::CLD_EXITED => ExitStatus::Exited(status),
            _ => ExitStatus::Signaled(status),
        };
        self.exit = Some(exit);
        Ok(Some(exit))
    }

    /// Sends `sig` to the function (through init, which forwards it). Use `SIGTERM` for the
    /// Lambda shutdown phase, then [`Sandbox::kill`].
    pub fn signal(&self, sig: i32) -> Result<()> {
        pidfd_send_signal(&self.pidfd, sig)
    }

    /// Kills every process of the environment at once: `SIGKILL` to the namespace's init makes
    /// the kernel kill the whole pid namespace. Frozen environments are thawed first (a v1
    /// frozen task does not die until thawed).
    pub fn kill(&self) -> Result<()> {
        if let Some(parts) = &self.plain {
            // No pid namespace: the function's process group is what belongs to it. Killed
            // even after the leader exited, since what it started may still run.
            return parts.kill_group();
        }
        if self.exit.is_some() {
            return Ok(());
        }
        if let Some(cg) = &self.cgroup {
            // Best effort: a failure here only makes the kill slower.
            let _ = cg.unthrottle();
        }
        let r = pidfd_send_signal(&self.pidfd, libc::SIGKILL);
        if let Some(cg) = &self.cgroup
            && cg.is_frozen()
        {
            cg.thaw()?;
        }
        match r {
            Err(SandboxError::Sys { source, .. }) if source.raw_os_error() == Some(libc::ESRCH) => {
                Ok(())
            }
            r => r,
        }
    }

    fn cg(&self) -> Result<&CgroupHandle> {
        self.cgroup.as_ref().ok_or_else(|| {
            SandboxError::Unsupported("cgroups are not enforced (development mode)".into())
        })
    }

    /// Freezes every process of the environment (between invocations).
    pub fn freeze(&self) -> Result<()> {
        self.cg()?.freeze()
    }

    /// Thaws a frozen environment.
    pub fn thaw(&self) -> Result<()> {
        self.cg()?.thaw()
    }

    /// Peak memory use of the environment in bytes (Lambda's "Max Memory Used").
    pub fn memory_peak_bytes(&self) -> Result<u64> {
        if self.plain.is_some() {
            return plain::peak_rss_bytes(self.pid);
        }
        self.cg()?.memory_peak()
    }

    /// Whether the kernel OOM-killed a process of this environment.
    pub fn oom_killed(&self) -> Result<bool> {
        Ok(self.cg()?.oom_kills()? > 0)
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
        let rm = self.cgroup.as_ref().map_or(Ok(()), CgroupHandle::remove);
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

/// Starts one sandbox with a default [`Sandboxer`] (probes the host on every call; keep a
/// `Sandboxer` around instead when spawning repeatedly).
pub fn spawn(spec: SandboxSpec) -> Result<Sandbox> {
    Sandboxer::new(SandboxerConfig::default())?.spawn(spec)
}

// ---------------------------------------------------------------------------------------
// Parent-side syscall wrappers.

/// The skeletons under `state_dir` become every sandbox's root (passwd, ld.so.cache, ...):
/// refuse a directory someone else could have prepared or could modify (think of a
/// pre-created `/tmp/flint-sandbox-<uid>`).
fn check_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::symlink_metadata(dir).map_err(|e| SandboxError::io("stat", dir, e))?;
    // SAFETY: geteuid has no failure mode.
    let euid = unsafe { libc::geteuid() };
    if !md.is_dir() || md.uid() != euid || md.mode() & 0o022 != 0 {
        return Err(SandboxError::InvalidSpec(format!(
            "state_dir {} must be a directory owned by uid {euid} and writable only by it",
            dir.display()
        )));
    }
    Ok(())
}

fn writable(dir: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: access(2) on a valid C string.
    unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the two-element array we own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(SandboxError::sys("pipe2"));
    }
    // SAFETY: both fds were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn socketpair() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: socketpair fills the two-element array we own.
    if unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    } != 0
    {
        return Err(SandboxError::sys("socketpair"));
    }
    // SAFETY: both fds were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn pidfd_send_signal(pidfd: &OwnedFd, sig: i32) -> Result<()> {
    // SAFETY: pidfd_send_signal with our pidfd and no siginfo.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            ptr::null::<libc::siginfo_t>(),
            0u32,
        )
    };
    if r != 0 {
        return Err(SandboxError::sys("pidfd_send_signal"));
    }
    Ok(())
}

/// Raw plan pointer that may cross to the spawner thread.
struct PlanPtr(*const ChildPlan);

// SAFETY: the ChildPlan behind the pointer is owned by the thread that sends the job; that
// thread blocks until the spawner has run the job, so the pointer is valid whenever it is
// dereferenced, and the plan is only read.
unsafe impl Send for PlanPtr {}

type SpawnerJob = Box<dyn FnOnce() + Send>;

/// Runs `f` on the one dedicated, never-exiting spawner thread and waits for its result.
///
/// Why a dedicated thread: the child's init sets `PR_SET_PDEATHSIG(SIGKILL)` so that every
/// sandbox dies with flint (no orphaned environments after a crash), and the kernel sends
/// that signal when the *thread* that created the child exits, not the process. Cloning from
/// a tokio `spawn_blocking` worker would kill the sandbox when that worker retires after
/// 10 s idle. The same holds for the spawn helper, whose children have the spawner thread as
/// their parent (`CLONE_PARENT`). The hop costs one channel round trip; only `clone3` itself
/// is serialized.
fn on_spawner_thread<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> Result<R> {
    static SPAWNER: OnceLock<std::result::Result<Mutex<mpsc::Sender<SpawnerJob>>, String>> =
        OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnerJob>();
        std::thread::Builder::new()
            .name("flint-sandbox-spawner".into())
            .spawn(move || {
                for job in rx {
                    job();
                }
            })
            .map(|_| Mutex::new(tx))
            .map_err(|e| e.to_string())
    });
    let gone = || SandboxError::Sys {
        op: "spawner thread",
        source: io::Error::other("spawner thread is gone"),
    };
    let spawner = spawner.as_ref().map_err(|_| gone())?;
    let (reply, rx) = mpsc::sync_channel(1);
    let job: SpawnerJob = Box::new(move || {
        let _ = reply.send(f());
    });
    spawner
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send(job)
        .map_err(|_| gone())?;
    rx.recv().map_err(|_| gone())
}

fn clone_via_spawner(flags: u64, plan: &ChildPlan) -> Result<(i32, OwnedFd)> {
    let ptr = PlanPtr(plan);
    on_spawner_thread(move || {
        let ptr = ptr;
        // SAFETY: see `impl Send for PlanPtr`.
        clone_child(flags, unsafe { &*ptr.0 })
    })?
}

/// `clone3` with a fork-like (shared-nothing, copied stack) child that runs
/// [`child::child_main`]. All signals are blocked around the call so that no handler of the
/// parent (e.g. tokio's) can run in the child; the child's init keeps them blocked and
/// collects them with `sigwaitinfo`.
pub(crate) fn clone_child(flags: u64, plan: &ChildPlan) -> Result<(i32, OwnedFd)> {
    let mut pidfd: RawFd = -1;
    // SAFETY: clone_args is plain data.
    let mut args: libc::clone_args = unsafe { std::mem::zeroed() };
    args.flags = flags | libc::CLONE_PIDFD as u64;
    args.pidfd = (&raw mut pidfd) as u64;
    // With CLONE_PARENT the kernel requires 0 here and gives the child the caller's own exit
    // signal (SIGCHLD for the helper), delivered to the caller's parent (flint).
    args.exit_signal = if flags & libc::CLONE_PARENT as u64 != 0 {
        0
    } else {
        libc::SIGCHLD as u64
    };
    // SAFETY: sigset manipulation on stack memory we own.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: see above.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: see above; pthread_sigmask only affects the calling thread.
    unsafe {
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
    }
    // SAFETY: clone3 with stack = 0 behaves like fork: the child continues here on a copy of
    // our stack. The child only runs `child_main`, which uses raw syscalls on the prepared
    // plan and never returns (see child.rs for why that is sound in a threaded process).
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &raw mut args,
            size_of::<libc::clone_args>(),
        )
    };
    if r == 0 {
        // SAFETY: we are the child, see above.
        unsafe { child::child_main(plan) }
    }
    let err = io::Error::last_os_error();
    // SAFETY: restoring the mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, ptr::null_mut()) };
    if r < 0 {
        return Err(SandboxError::Sys {
            op: "clone3",
            source: err,
        });
    }
    // SAFETY: CLONE_PIDFD stored a new pidfd that nobody else owns.
    Ok((r as i32, unsafe { OwnedFd::from_raw_fd(pidfd) }))
}

fn write_id_maps(pid: i32, uid: u32, gid: u32) -> Result<()> {
    // SAFETY: geteuid/getegid have no failure mode.
    let (host_uid, host_gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    // As root (UserNamespaceMode::Always) map the function's ids onto the same host ids, so
    // files keep meaningful owners; otherwise onto flint's own ids (the only ones allowed).
    let (hu, hg) = if host_uid == 0 {
        (uid, gid)
    } else {
        (host_uid, host_gid)
    };
    let proc = PathBuf::from(format!("/proc/{pid}"));
    let w = |f: &str, v: String| {
        std::fs::write(proc.join(f), v).map_err(|e| SandboxError::io("write", proc.join(f), e))
    };
    w("setgroups", "deny".into())?;
    w("uid_map", format!("{uid} {hu} 1\n"))?;
    w("gid_map", format!("{gid} {hg} 1\n"))
}

/// Receives the listener fd (or `None` on EOF).
/// Sends one protocol byte to the child over the sync socket. A failed send means the child
/// already died; its error record (or the missing listener, or the claim) tells why, so the
/// result is not needed here.
fn send_byte(sync: &OwnedFd, byte: u8) {
    // SAFETY: a one-byte send from a stack variable on a socket we own; MSG_NOSIGNAL turns a
    // closed peer into EPIPE instead of SIGPIPE.
    unsafe {
        libc::send(
            sync.as_raw_fd(),
            (&raw const byte).cast(),
            1,
            libc::MSG_NOSIGNAL,
        );
    }
}

fn recv_fd(sock: BorrowedFd<'_>) -> io::Result<Option<OwnedFd>> {
    let mut byte = 0u8;
    let mut iov = libc::iovec {
        iov_base: (&raw mut byte).cast(),
        iov_len: 1,
    };
    let mut buf = child::FdCmsg([0; 24]);
    // SAFETY: msghdr is plain data.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = buf.0.as_mut_ptr().cast();
    msg.msg_controllen = buf.0.len();
    let n = loop {
        // SAFETY: recvmsg into buffers we own, sized above.
        let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n >= 0 {
            break n;
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    };
    if n == 0 {
        return Ok(None);
    }
    // SAFETY: walking the control message the kernel filled in.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        if byte != child::MSG_LISTENER || c.is_null() || (*c).cmsg_type != libc::SCM_RIGHTS {
            return Err(io::Error::other("unexpected message from sandbox child"));
        }
        let fd = ptr::read_unaligned(libc::CMSG_DATA(c).cast::<i32>());
        Ok(Some(OwnedFd::from_raw_fd(fd)))
    }
}

/// Reads the error pipe to EOF: `None` means the function was exec'd.
pub(crate) fn read_child_error(f: &mut File) -> Option<SandboxError> {
    let mut rec = [0u8; child::ERR_RECORD];
    let mut got = 0;
    while got < rec.len() {
        match f.read(&mut rec[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Some(SandboxError::Sys {
                    op: "read error pipe",
                    source: e,
                });
            }
        }
    }
    if got == 0 {
        return None;
    }
    if got < rec.len() {
        return Some(SandboxError::ChildSetup {
            step: "start",
            detail: String::new(),
            source: io::Error::other("truncated error record"),
        });
    }
    let step = u32::from_ne_bytes(rec[0..4].try_into().unwrap_or_default());
    let index = u32::from_ne_bytes(rec[4..8].try_into().unwrap_or_default());
    let errno = i32::from_ne_bytes(rec[8..12].try_into().unwrap_or_default());
    let step = Step::from_u32(step);
    let detail = match step {
        Some(Step::Mount) => format!(" #{index}"),
        Some(Step::Exec) if index != u32::MAX => format!(" candidate #{index}"),
        _ => String::new(),
    };
    Some(SandboxError::ChildSetup {
        step: step.map_or("unknown", Step::name),
        detail,
        source: io::Error::from_raw_os_error(errno),
    })
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

    #[test]
    fn exit_status_decoding() {
        assert_eq!(ExitStatus::from_wait_status(7 << 8), ExitStatus::Exited(7));
        assert_eq!(
            ExitStatus::from_wait_status(libc::SIGKILL),
            ExitStatus::Signaled(9)
        );
        assert!(ExitStatus::Exited(0).success());
    }
}
