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
//! [`lock_down`](crate::child) as always), with only the function environment's
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

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::cgroup::Limits;
use crate::child::{self, SPEC_BUF, SPEC_HEADER, SPEC_MOUNTS, SPEC_PTRS};
use crate::error::{Result, SandboxError};
use crate::sandbox::{Sandbox, Sandboxer, read_child_error};
use crate::spec::{NetworkMode, SandboxSpec};

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
            .filter(|(k, _)| crate::is_startup_variable(k))
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
    sync: OwnedFd,
    err_r: OwnedFd,
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
const PRESTART_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Waits for init's [`child::MSG_READY`] on `sync`.
fn wait_ready(sync: &OwnedFd, timeout: std::time::Duration) -> std::io::Result<()> {
    let mut pfd = libc::pollfd {
        fd: sync.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the pre-started runtime did not become ready",
            ));
        }
        // SAFETY: poll on one pollfd on the stack.
        let r = unsafe { libc::poll(&raw mut pfd, 1, left.as_millis().min(60_000) as i32) };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if r == 0 {
            continue;
        }
        let mut b = 0u8;
        // SAFETY: one-byte read into a stack variable from a descriptor we own.
        let n = unsafe { libc::read(sync.as_raw_fd(), (&raw mut b).cast(), 1) };
        return match n {
            1 if b == child::MSG_READY => Ok(()),
            1 => Err(std::io::Error::other(
                "unexpected message from a pre-spawned init",
            )),
            0 => Err(std::io::Error::other("the pre-started runtime exited")),
            _ => Err(std::io::Error::last_os_error()),
        };
    }
}

/// `struct mount_attr` of `mount_setattr(2)`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;

/// A detached, read-only (nosuid, nodev) copy of the mount at `dir`, not recursive (like the
/// non-recursive bind of a normal spawn: sub-mounts of the source are not carried along).
fn detached_read_only(dir: &Path) -> Result<OwnedFd> {
    let c = CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| SandboxError::InvalidSpec("NUL byte in a path".into()))?;
    // SAFETY: open_tree with a valid C string; the returned fd is new and ours.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            c.as_ptr(),
            OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(SandboxError::io(
            "open_tree",
            dir,
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: see above.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: mount_setattr on our detached mount with a struct of the kernel's layout.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH as libc::c_uint,
            &raw const attr,
            size_of::<MountAttr>(),
        )
    };
    if r != 0 {
        return Err(SandboxError::io(
            "mount_setattr",
            dir,
            std::io::Error::last_os_error(),
        ));
    }
    Ok(fd)
}

/// Encodes a specialisation message (layout: [`child::parse_specialization`]); `None` if it
/// would not fit the child's fixed buffers.
pub(crate) fn encode_specialization(
    cwd: &[u8],
    argv: &[Vec<u8>],
    env: &[Vec<u8>],
    candidates: &[Vec<u8>],
    targets: &[&[u8]],
) -> Option<Vec<u8>> {
    if argv.is_empty()
        || targets.len() > SPEC_MOUNTS
        || argv.len() + env.len() + candidates.len() + 2 > SPEC_PTRS
    {
        return None;
    }
    let mut m = Vec::with_capacity(1024);
    m.push(child::MSG_SPECIALIZE);
    for n in [argv.len(), env.len(), candidates.len(), targets.len()] {
        m.extend_from_slice(&u32::try_from(n).ok()?.to_le_bytes());
    }
    debug_assert_eq!(m.len(), SPEC_HEADER);
    let strings = std::iter::once(cwd)
        .chain(argv.iter().map(Vec::as_slice))
        .chain(env.iter().map(Vec::as_slice))
        .chain(candidates.iter().map(Vec::as_slice))
        .chain(targets.iter().copied());
    for s in strings {
        if s.contains(&0) {
            return None;
        }
        m.extend_from_slice(s);
        m.push(0);
    }
    (m.len() <= SPEC_BUF).then_some(m)
}

impl Sandboxer {
    /// Whether [`Sandboxer::prespawn`] is available here (root, no user namespace, and not
    /// the unisolated development mode, whose environments are plain processes).
    pub fn can_prespawn(&self) -> bool {
        !self.use_userns && !self.is_unisolated()
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
        if !self.can_prespawn() {
            return Err(SandboxError::Unsupported(
                "pre-spawned environments need root without a user namespace".into(),
            ));
        }
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
            spec.env.push((
                crate::PRESTART_FD_ENV.into(),
                crate::PRESTART_FD.to_string(),
            ));
            spec.env.push((
                crate::PRESTART_ROOM_ENV.into(),
                ".".repeat(crate::PRESTART_ROOM_BYTES),
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
        let (sandbox, fds) = self.spawn_inner(spec, true)?;
        let (sync, err_r) = fds.ok_or_else(|| SandboxError::ChildSetup {
            step: "start",
            detail: String::new(),
            source: std::io::Error::other("pre-spawn returned no sync socket"),
        })?;
        // Only a runtime that is ready is worth offering: a cold start that claimed one still
        // importing would wait for it, or one that failed would fail the invocation.
        if shape.prestart.is_some()
            && let Err(why) = wait_ready(&sync, PRESTART_TIMEOUT)
        {
            let _ = sandbox.destroy();
            return Err(read_child_error(&mut File::from(err_r)).unwrap_or(
                SandboxError::ChildSetup {
                    step: "starting the runtime of a pre-spawned environment",
                    detail: String::new(),
                    source: why,
                },
            ));
        }
        Ok(Prespawned {
            sandbox,
            sync,
            err_r,
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
        let Prespawned {
            sandbox,
            sync,
            err_r,
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
                mounts.push(detached_read_only(src)?);
                targets.push(dst);
            }
        }
        let bytes = |v: Vec<String>| v.into_iter().map(String::into_bytes).collect::<Vec<_>>();
        let env = spec
            .effective_env()
            .into_iter()
            .map(|(k, v)| format!("{k}={v}").into_bytes())
            .collect::<Vec<_>>();
        let msg = encode_specialization(
            spec.cwd.as_bytes(),
            &bytes(spec.argv.clone()),
            &env,
            &bytes(spec.exec_candidates()),
            &targets,
        )
        .ok_or_else(|| {
            SandboxError::InvalidSpec(
                "argv and environment are too large for a pre-spawned environment".into(),
            )
        })?;
        if let Some(cg) = &sandbox.cgroup {
            cg.apply(&Limits::new(spec.memory_mb, spec.cpu_millis, spec.pids_max))?;
        }
        let fds: Vec<i32> = mounts.iter().map(AsRawFd::as_raw_fd).collect();
        crate::helper::send_msg(sync.as_raw_fd(), &msg, &fds).map_err(|e| SandboxError::Sys {
            op: "send specialisation",
            source: e,
        })?;
        drop(mounts);
        drop(sync);
        // EOF without a record: the function was exec'd (as in a normal spawn).
        if let Some(e) = read_child_error(&mut File::from(err_r)) {
            let _ = sandbox.kill();
            return Err(e);
        }
        // The listener received at pre-spawn time is still in the sandbox.
        Ok(sandbox)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn strs(p: *const *const libc::c_char) -> Vec<String> {
        let mut out = Vec::new();
        let mut i = 0;
        // SAFETY: test helper over NULL-terminated arrays the parser built.
        unsafe {
            while !(*p.add(i)).is_null() {
                out.push(CStr::from_ptr(*p.add(i)).to_string_lossy().into_owned());
                i += 1;
            }
        }
        out
    }

    #[test]
    fn specialization_round_trips_through_the_childs_parser() {
        let v = |s: &[&str]| s.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>();
        let msg = encode_specialization(
            b"/var/task",
            &v(&["/var/task/bootstrap", "x"]),
            &v(&["A=1", "AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001"]),
            &v(&["/var/task/bootstrap"]),
            &[b"/var/task".as_slice(), b"/opt".as_slice()],
        )
        .unwrap();
        let mut ptrs = [std::ptr::null(); SPEC_PTRS];
        let sp = child::parse_specialization(&msg, &mut ptrs).unwrap();
        // SAFETY: pointers into `msg`, which is alive.
        unsafe {
            assert_eq!(CStr::from_ptr(sp.exec.cwd).to_str().unwrap(), "/var/task");
            assert_eq!(strs(sp.exec.argv), ["/var/task/bootstrap", "x"]);
            assert_eq!(
                strs(sp.exec.envp),
                ["A=1", "AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001"]
            );
            assert_eq!(sp.exec.n_candidates, 1);
            assert_eq!(
                CStr::from_ptr(*sp.exec.candidates).to_str().unwrap(),
                "/var/task/bootstrap"
            );
            assert_eq!(sp.n_mounts, 2);
            assert_eq!(CStr::from_ptr(sp.targets[1]).to_str().unwrap(), "/opt");
        }
    }

    #[test]
    fn malformed_or_oversized_specializations_are_rejected() {
        let v = |s: &[&str]| s.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>();
        // Encoder: empty argv, NUL bytes, too many mounts, too many strings, too many bytes.
        assert!(encode_specialization(b"/", &[], &[], &[], &[]).is_none());
        assert!(encode_specialization(b"/", &v(&["a\0b"]), &[], &[], &[]).is_none());
        assert!(
            encode_specialization(b"/", &v(&["a"]), &[], &[], &[b"/t".as_slice(); 5]).is_none()
        );
        let many = vec![b"A=1".to_vec(); SPEC_PTRS];
        assert!(encode_specialization(b"/", &v(&["a"]), &many, &[], &[]).is_none());
        let big = vec![vec![b'x'; SPEC_BUF]];
        assert!(encode_specialization(b"/", &v(&["a"]), &big, &[], &[]).is_none());
        // Parser: every truncation and any trailing byte of a good message.
        let good = encode_specialization(
            b"/",
            &v(&["a"]),
            &v(&["B=2"]),
            &v(&["/a"]),
            &[b"/t".as_slice()],
        )
        .unwrap();
        let mut ptrs = [std::ptr::null(); SPEC_PTRS];
        assert!(child::parse_specialization(&good, &mut ptrs).is_some());
        for cut in 0..good.len() {
            assert!(
                child::parse_specialization(&good[..cut], &mut ptrs).is_none(),
                "cut at {cut}"
            );
        }
        let mut long = good.clone();
        long.extend_from_slice(b"x\0");
        assert!(child::parse_specialization(&long, &mut ptrs).is_none());
        let mut wrong_tag = good.clone();
        wrong_tag[0] = b'G';
        assert!(child::parse_specialization(&wrong_tag, &mut ptrs).is_none());
        let mut absurd = good;
        absurd[5..9].copy_from_slice(&u32::MAX.to_le_bytes()); // n_env
        assert!(child::parse_specialization(&absurd, &mut ptrs).is_none());
    }
}
