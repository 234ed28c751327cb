//! Pre-spawned, unspecialised environments: the expensive part of a spawn, done ahead of
//! demand.
//!
//! Why: most of a sandbox's start — `clone3` into fresh namespaces, the network namespace,
//! cgroup directories, the root's ~20 mounts, `pivot_root`, the Runtime API listener, and
//! the several parent/child hand-offs, each a scheduler wake-up — does not depend on which
//! function will run. [`Sandboxer::prespawn`] does all of it for a [`SandboxShape`] (the
//! spec fields that shape the root: runtime dir, extra binds, `/tmp` size, ids, network,
//! hostname) and stops the child where it would start the function. Claiming it with
//! [`Sandboxer::specialize`] then costs one message:
//!
//! 1. flint clones the function's code directory as a *detached* mount (`open_tree` with
//!    `OPEN_TREE_CLONE`, made read-only, nosuid, nodev with `mount_setattr`; the same flags
//!    the bind + read-only remount of a normal spawn gets), writes the function's memory, CPU
//!    and pids limits into the environment's cgroups, and sends argv, environment, cwd and
//!    the mount fds (`SCM_RIGHTS`) over the sync socket;
//! 2. the child, still root in its namespaces, `move_mount`s the code to `/var/task` (and
//!    layers to `/opt`), then continues exactly like a normal spawn: drops every privilege,
//!    `no_new_privs`, seccomp, and starts the function;
//! 3. flint waits for EOF on the error pipe (the function was `execve`d).
//!
//! Nothing about isolation changes: the function starts from the same state, through the
//! same code, as after a normal spawn; before the claim no function code runs and the child
//! holds nothing function-specific. The detached mount never appears in flint's own mount
//! namespace, so there is nothing to unmount on the host.
//!
//! **Pre-started runtimes.** A spec with [`SandboxSpec::prestart`] (flint's managed runtime
//! clients) also moves the runtime's own start ahead of demand: interpreter start and the
//! client's imports are tens of milliseconds, more than the rest of a cold start together.
//! Right after the root is ready, init starts the runtime command as a second process that
//! drops every privilege itself (uid, capabilities, `no_new_privs`, seccomp: the same
//! `lock_down` of `child/privileges.rs` as always), with only the function environment's
//! [start-up variables](crate::is_startup_variable) and fd 3 ([`crate::PRESTART_FD`]), and
//! init keeps its root privileges to attach the code later. The runtime imports what it
//! needs, reports ready (one byte on fd 3, which init passes on: only ready environments
//! are offered to cold starts) and blocks reading fd 3. At the claim init attaches the
//! code, drops its own privileges and writes the function's cwd and environment to fd 3;
//! the runtime applies them and goes on as if it had been started with them. What differs
//! from a runtime started at the claim, and why it is sound:
//! - each environment has its own runtime process (no fork of a shared template), so no
//!   two functions ever share memory, hash seeds or address-space layout;
//! - the start-up variables (the loader's, the locale, `PYTHON*`, ...) are part of the
//!   shape: a function that sets any of them differently gets a runtime started with its
//!   own values;
//! - the process's initial environment block (what `/proc/<pid>/environ` reads, fixed at
//!   `execve`) holds the start-up variables plus [`crate::PRESTART_ROOM_ENV`]; flint's
//!   clients write the function's environment into it (start-up variables first, at their
//!   original addresses, in case a library kept a pointer to one) and pad the rest with
//!   NULs, so tools that read that file see the function's variables. The padding is the
//!   one visible trace.
//!
//! Only as root without a user namespace ([`Sandboxer::can_prespawn`]): attaching a mount
//! created in flint's mount namespace into a child's mount namespace owned by another user
//! namespace is refused or locked by older kernels, and the rootless path is not exercised
//! by this project's machines.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::cgroup::Limits;
use crate::error::{Result, SandboxError};
use crate::plan::Start;
use crate::protocol::{PRESTART_FD, ToParent};
use crate::sandbox::Sandbox;
use crate::sandboxer::{Mode, Sandboxer};
use crate::spawn::{self, ClaimChannel, Spawner};
use crate::spec::{self, NetworkMode, SandboxSpec};
use crate::specialization::{self, Claim};
use crate::sys::seam::HostSys;

/// The part of a [`SandboxSpec`] a pre-spawned environment is built for. Two specs with the
/// same shape differ only in what [`Sandboxer::specialize`] applies at claim time: code
/// (`task_dir`, `opt_dir`), argv, environment, cwd and the memory/CPU/pids limits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SandboxShape {
    /// See [`SandboxSpec::runtime_dir`].
    pub runtime_dir: Option<PathBuf>,
    /// See [`SandboxSpec::extra_ro_binds`].
    pub extra_ro_binds: Vec<(PathBuf, PathBuf)>,
    /// See [`SandboxSpec::tmp_size_mb`].
    pub tmp_size_mb: u64,
    /// See [`SandboxSpec::uid`].
    pub uid: u32,
    /// See [`SandboxSpec::gid`].
    pub gid: u32,
    /// See [`SandboxSpec::network`].
    pub network: NetworkMode,
    /// See [`SandboxSpec::runtime_api_port`].
    pub runtime_api_port: Option<u16>,
    /// See [`SandboxSpec::hostname`].
    pub hostname: String,
    /// The runtime started before the claim, if `spec` allows it.
    pub prestart: Option<PrestartedRuntime>,
}

/// What a pre-started runtime is started with (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PrestartedRuntime {
    /// The command ([`SandboxSpec::argv`]).
    pub argv: Vec<String>,
    /// The [start-up variables](crate::is_startup_variable) of the function's environment.
    pub env: Vec<(String, String)>,
}

impl PrestartedRuntime {
    /// What `spec` would pre-start: `None` without [`SandboxSpec::prestart`], or when the
    /// command lives in the function's code or layers (not there before the claim).
    pub fn of(spec: &SandboxSpec) -> Option<Self> {
        let arg0 = Path::new(spec.argv.first()?);
        if !spec.prestart
            || !arg0.is_absolute()
            || arg0.starts_with("/var/task")
            || arg0.starts_with("/opt")
        {
            return None;
        }
        let mut env: Vec<(String, String)> = spec
            .env
            .iter()
            .filter(|(k, _)| spec::is_startup_variable(k))
            .cloned()
            .collect();
        env.sort();
        Some(Self {
            argv: spec.argv.clone(),
            env,
        })
    }
}

impl SandboxShape {
    /// The shape of `spec`.
    pub fn of(spec: &SandboxSpec) -> Self {
        Self {
            prestart: PrestartedRuntime::of(spec),
            runtime_dir: spec.runtime_dir.clone(),
            extra_ro_binds: spec.extra_ro_binds.clone(),
            tmp_size_mb: spec.tmp_size_mb,
            uid: spec.uid,
            gid: spec.gid,
            network: spec.network,
            runtime_api_port: spec.runtime_api_port,
            hostname: spec.hostname.clone(),
        }
    }
}

/// A running, unspecialised environment (see the module docs). Dropping it tears it down
/// (kill, reap, remove cgroups), like a [`Sandbox`].
#[derive(Debug)]
pub struct Prespawned {
    sandbox: Sandbox,
    claim: ClaimChannel,
    shape: SandboxShape,
}

impl Prespawned {
    /// The shape it was built for.
    pub fn shape(&self) -> &SandboxShape {
        &self.shape
    }

    /// The environment id (its cgroup names).
    pub fn id(&self) -> &str {
        self.sandbox.id()
    }

    /// Whether the child died while waiting (killed by an operator, OOM of the host, ...):
    /// such an environment cannot be specialised.
    pub fn has_exited(&mut self) -> bool {
        !matches!(self.sandbox.try_wait(), Ok(None))
    }

    /// Tears it down now (the same as dropping it, with the error).
    pub fn destroy(self) -> Result<()> {
        self.sandbox.destroy()
    }
}

/// How long a pre-started runtime may take to become ready.
const PRESTART_TIMEOUT: Duration = Duration::from_secs(10);

/// Waits for init's [`ToParent::RuntimeReady`] on `sync`.
fn wait_ready(sys: &dyn HostSys, sync: &OwnedFd, timeout: Duration) -> io::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the pre-started runtime did not become ready",
            ));
        }
        match sys.poll_readable(sync.as_fd(), left.min(Duration::from_secs(60))) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
            Ok(false) => continue,
            Ok(true) => {}
        }
        return match sys.recv(sync.as_fd(), 1, 0)? {
            None => Err(io::Error::other("the pre-started runtime exited")),
            Some(m)
                if m.data.first().map(|&b| ToParent::decode(b))
                    == Some(Ok(ToParent::RuntimeReady)) =>
            {
                Ok(())
            }
            Some(_) => Err(io::Error::other(
                "unexpected message from a pre-spawned init",
            )),
        };
    }
}

impl Sandboxer {
    /// Whether [`Sandboxer::prespawn`] is available here (root, no user namespace, and not
    /// the unisolated development mode, whose environments are plain processes).
    pub fn can_prespawn(&self) -> bool {
        self.prespawner().is_ok()
    }

    fn prespawner(&self) -> Result<&Spawner> {
        match &self.mode {
            Mode::Isolated(spawner) if !spawner.settings.user_namespace => Ok(spawner),
            _ => Err(SandboxError::Unsupported(
                "pre-spawned environments need root without a user namespace".into(),
            )),
        }
    }

    /// Starts an environment of `shape` without a function (see the module docs). Its
    /// function's stdout and stderr will be `stdout`/`stderr`. Blocking, like
    /// [`Sandboxer::spawn`].
    pub fn prespawn(
        &self,
        shape: &SandboxShape,
        id: impl Into<String>,
        stdout: OwnedFd,
        stderr: OwnedFd,
    ) -> Result<Prespawned> {
        let spawner = self.prespawner()?;
        // The pre-started runtime (or a placeholder command, never executed) and the largest
        // limits any function may get; the claim sets the function's own (lowering a v1
        // memory limit keeps the kernel's memsw >= limit rule on the order the writes
        // already use).
        let argv = match &shape.prestart {
            Some(rt) => rt.argv.clone(),
            None => vec!["/nonexistent/prespawned".into()],
        };
        let mut spec = SandboxSpec::new(id, self.config.state_dir.clone(), argv, stdout, stderr);
        if let Some(rt) = &shape.prestart {
            spec.env = rt.env.clone();
            spec.env
                .push((spec::PRESTART_FD_ENV.into(), PRESTART_FD.to_string()));
            spec.env.push((
                spec::PRESTART_ROOM_ENV.into(),
                ".".repeat(spec::PRESTART_ROOM_BYTES),
            ));
            spec.cwd = "/".into();
            spec.prestart = true;
        }
        spec.runtime_dir = shape.runtime_dir.clone();
        spec.extra_ro_binds = shape.extra_ro_binds.clone();
        spec.tmp_size_mb = shape.tmp_size_mb;
        spec.uid = shape.uid;
        spec.gid = shape.gid;
        spec.network = shape.network;
        spec.runtime_api_port = shape.runtime_api_port;
        spec.hostname = shape.hostname.clone();
        spec.memory_mb = 10_240;
        spec.cpu_millis = 1000 * self.host.host_cpus.max(1);
        let start = Start::Prespawned {
            prestart: spec.prestart,
        };
        let (sandbox, claim) = spawner.spawn(spec, start)?;
        let claim = claim.ok_or_else(|| SandboxError::ChildSetup {
            step: "start",
            detail: String::new(),
            source: io::Error::other("pre-spawn returned no sync socket"),
        })?;
        // Only a runtime that is ready is worth offering: a cold start that claimed one still
        // importing would wait for it, or one that failed would fail the invocation.
        if shape.prestart.is_some()
            && let Err(why) = wait_ready(spawner.sys, &claim.sync, PRESTART_TIMEOUT)
        {
            let _ = sandbox.destroy();
            return Err(
                spawn::read_child_error(claim.err_r).unwrap_or(SandboxError::ChildSetup {
                    step: "starting the runtime of a pre-spawned environment",
                    detail: String::new(),
                    source: why,
                }),
            );
        }
        Ok(Prespawned {
            sandbox,
            claim,
            shape: shape.clone(),
        })
    }

    /// Turns a pre-spawned environment into `spec`'s: attaches its code, applies its limits,
    /// and starts its command. `spec` must have the pre-spawned environment's shape; its
    /// `id`, `stdout` and `stderr` are not used (the environment keeps the ones it was
    /// pre-spawned with) and it must not carry `extra_fds`. Returns once the function has
    /// been `execve`d; on failure the environment is torn down.
    pub fn specialize(&self, pre: Prespawned, spec: SandboxSpec) -> Result<Sandbox> {
        spec.validate()?;
        let spawner = self.prespawner()?;
        let Prespawned {
            sandbox,
            claim,
            shape,
        } = pre;
        if SandboxShape::of(&spec) != shape {
            return Err(SandboxError::InvalidSpec(
                "the spec does not have the pre-spawned environment's shape".into(),
            ));
        }
        if !spec.extra_fds.is_empty() {
            return Err(SandboxError::InvalidSpec(
                "extra fds cannot be given to a pre-spawned environment".into(),
            ));
        }
        let mut mounts = Vec::new();
        let mut targets: Vec<&[u8]> = Vec::new();
        for (src, dst) in [
            (Some(&spec.task_dir), b"/var/task".as_slice()),
            (spec.opt_dir.as_ref(), b"/opt".as_slice()),
        ] {
            if let Some(src) = src {
                if !src.is_dir() {
                    return Err(SandboxError::InvalidSpec(format!(
                        "{} is not a directory",
                        src.display()
                    )));
                }
                mounts.push(
                    spawner
                        .sys
                        .detached_read_only_tree(src)
                        .map_err(|e| SandboxError::io("detach a read-only copy of", src, e))?,
                );
                targets.push(dst);
            }
        }
        let bytes = |v: Vec<String>| v.into_iter().map(String::into_bytes).collect::<Vec<_>>();
        let env = spec
            .effective_env()
            .into_iter()
            .map(|(k, v)| format!("{k}={v}").into_bytes())
            .collect::<Vec<_>>();
        let msg = specialization::encode(&Claim {
            cwd: spec.cwd.as_bytes(),
            argv: &bytes(spec.argv.clone()),
            env: &env,
            candidates: &bytes(spec.exec_candidates()),
            targets: &targets,
        })
        .ok_or_else(|| {
            SandboxError::InvalidSpec(
                "argv and environment are too large for a pre-spawned environment".into(),
            )
        })?;
        sandbox.apply_limits(&Limits::new(spec.memory_mb, spec.cpu_millis, spec.pids_max))?;
        let fds: Vec<i32> = mounts.iter().map(AsRawFd::as_raw_fd).collect();
        spawner
            .sys
            .send(claim.sync.as_fd(), &msg, &fds)
            .map_err(|e| SandboxError::Sys {
                op: "send specialisation",
                source: e,
            })?;
        drop(mounts);
        drop(claim.sync);
        // EOF without a record: the function was exec'd (as in a normal spawn).
        if let Some(e) = spawn::read_child_error(claim.err_r) {
            let _ = sandbox.kill();
            return Err(e);
        }
        // The listener received at pre-spawn time is still in the sandbox.
        Ok(sandbox)
    }
}
