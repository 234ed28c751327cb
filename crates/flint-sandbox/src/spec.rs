//! What the caller asks for: [`SandboxSpec`], its validation, and environment helpers.
//!
//! Everything here is pure (no syscalls) and unit-tested without root.

use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

use crate::error::{Result, SandboxError};

/// Default uid of the function inside the sandbox. AWS runs functions as `sbx_user1051`
/// (uid 993); any non-zero uid works.
pub const DEFAULT_UID: u32 = 993;
/// Default gid of the function inside the sandbox.
pub const DEFAULT_GID: u32 = 990;
/// Port of the Runtime API inside a private network namespace (what AWS uses).
pub const RUNTIME_API_PORT: u16 = 9001;
/// Name of the sandbox user in the synthesized `/etc/passwd`.
pub const SANDBOX_USER: &str = "sbx_user1051";

/// Network set-up of an execution environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum NetworkMode {
    /// A private network namespace that only has `lo` (up). The function cannot reach the
    /// host's loopback (where the flint API listens) nor any other network. Default.
    #[default]
    Private,
    /// Share the host's network namespace. For explicit development use only: the function
    /// can then reach every service on the host's loopback, the flint API included.
    Host,
}

/// Everything needed to start one execution environment.
///
/// Paths on the host (`task_dir`, ...) must be absolute. The function's view of the file
/// system is described in the crate documentation.
#[derive(Debug)]
pub struct SandboxSpec {
    /// Unique environment id; used for the cgroup directory names. `[A-Za-z0-9_.-]{1,64}`.
    pub id: String,
    /// Host directory with the function code, mounted read-only at `/var/task`.
    pub task_dir: PathBuf,
    /// Host directory with the merged layers, mounted read-only at `/opt` (empty dir if `None`).
    pub opt_dir: Option<PathBuf>,
    /// Host directory with a managed runtime, mounted read-only at `/var/runtime`.
    pub runtime_dir: Option<PathBuf>,
    /// Extra read-only binds `(host path, sandbox path)`, e.g. a Python install prefix that
    /// must appear at the same path inside. The sandbox path must not be inside one of the
    /// directories the sandbox already provides (`/usr`, `/proc`, `/tmp`, `/var/task`, ...).
    pub extra_ro_binds: Vec<(PathBuf, PathBuf)>,
    /// Size of the tmpfs mounted at `/tmp` (Lambda `EphemeralStorage`), MiB.
    pub tmp_size_mb: u64,
    /// Hard memory limit (Lambda `MemorySize`), MiB. No swap.
    pub memory_mb: u64,
    /// CPU quota in milli-vCPUs (1000 = one full core). See [`cpu_millis_for_memory`].
    pub cpu_millis: u64,
    /// Maximum number of processes/threads in the environment (init included).
    pub pids_max: u64,
    /// Command to execute. `argv[0]` is either an absolute path inside the sandbox or a name
    /// looked up in the `PATH` of `env` (or [`DEFAULT_PATH`]).
    pub argv: Vec<String>,
    /// The complete environment of the function (nothing is inherited from flint). If
    /// `runtime_api_port` is set and `AWS_LAMBDA_RUNTIME_API` is absent, it is added.
    pub env: Vec<(String, String)>,
    /// Working directory inside the sandbox (`/var/task` for Lambda).
    pub cwd: String,
    /// Unprivileged uid the function runs as (must not be 0).
    pub uid: u32,
    /// Unprivileged gid the function runs as (must not be 0).
    pub gid: u32,
    /// Network set-up.
    pub network: NetworkMode,
    /// When set (only with [`NetworkMode::Private`]), a TCP listener bound to
    /// `127.0.0.1:<port>` *inside* the sandbox's network namespace is created before the
    /// function starts; take it with [`crate::Sandbox::take_runtime_api_listener`] and serve
    /// the Runtime API on it.
    pub runtime_api_port: Option<u16>,
    /// Host name inside the sandbox's UTS namespace.
    pub hostname: String,
    /// Where the function's stdout goes (typically the write end of a pipe flint reads).
    pub stdout: OwnedFd,
    /// Where the function's stderr goes.
    pub stderr: OwnedFd,
    /// Further descriptors handed to the function as fds 3, 4, … in order (at most
    /// [`MAX_EXTRA_FDS`]), e.g. the write end of the telemetry log pipe with
    /// `_LAMBDA_TELEMETRY_LOG_FD=3`. Everything else flint has open is closed.
    pub extra_fds: Vec<OwnedFd>,
    /// The command can be started before its function is known: started with only the
    /// [start-up variables](is_startup_variable) of `env`, then `_FLINT_PRESTART_FD=3` and
    /// [`PRESTART_ROOM_ENV`], it must wait for the function's cwd and environment on
    /// [`crate::PRESTART_FD`] before it reads anything else of either. A pre-spawned
    /// environment then starts it ahead of demand (see `prespawn.rs`). flint's managed
    /// runtime clients do this; a `provided` bootstrap cannot.
    pub prestart: bool,
}

/// The variable a pre-started runtime finds its [`crate::PRESTART_FD`] in.
pub const PRESTART_FD_ENV: &str = "_FLINT_PRESTART_FD";

/// A variable of [`PRESTART_ROOM_BYTES`] filler that a pre-started runtime is started with,
/// after the start-up variables: room in its initial environment block (what
/// `/proc/<pid>/environ` shows, fixed at `execve`) for the runtime to write the function's
/// environment into once it has it, so that tools reading that file (`ps e`, process
/// finders) see the function's variables as for any other start.
pub const PRESTART_ROOM_ENV: &str = "_FLINT_PRESTART_ROOM";

/// Size of the [`PRESTART_ROOM_ENV`] filler: Lambda caps a function's own variables at
/// 4 KB, and the platform's come to about 1.5 KB.
pub const PRESTART_ROOM_BYTES: usize = 16 * 1024;

/// Whether a process reads variable `key` while it starts, before any code of its own runs,
/// so that setting it afterwards would not have the same effect: the dynamic loader's
/// (`LD_*`, `GLIBC_TUNABLES`), glibc's malloc (`MALLOC_*`), the locale (`LANG`, `LANGUAGE`,
/// `LC_*`), the time zone (`TZ`), and the interpreters flint runs (`PYTHON*`, `NODE_*`,
/// `UV_*`). A pre-started runtime gets exactly these from the function's environment, so two
/// functions differing in any of them never share one.
pub fn is_startup_variable(key: &str) -> bool {
    ["LD_", "MALLOC_", "LC_", "PYTHON", "NODE_", "UV_"]
        .iter()
        .any(|p| key.starts_with(p))
        || matches!(key, "GLIBC_TUNABLES" | "LANG" | "LANGUAGE" | "TZ")
}

/// Maximum number of [`SandboxSpec::extra_fds`].
pub const MAX_EXTRA_FDS: usize = 8;

/// `PATH` used to resolve `argv[0]` when `env` has none; the Lambda default.
pub const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin/:/bin:/opt/bin";

impl SandboxSpec {
    /// A copy with duplicated descriptors (`dup`), e.g. to spawn afresh if a claim fails.
    pub fn try_clone(&self) -> std::io::Result<Self> {
        Ok(Self {
            id: self.id.clone(),
            task_dir: self.task_dir.clone(),
            opt_dir: self.opt_dir.clone(),
            runtime_dir: self.runtime_dir.clone(),
            extra_ro_binds: self.extra_ro_binds.clone(),
            tmp_size_mb: self.tmp_size_mb,
            memory_mb: self.memory_mb,
            cpu_millis: self.cpu_millis,
            pids_max: self.pids_max,
            argv: self.argv.clone(),
            env: self.env.clone(),
            cwd: self.cwd.clone(),
            uid: self.uid,
            gid: self.gid,
            network: self.network,
            runtime_api_port: self.runtime_api_port,
            hostname: self.hostname.clone(),
            stdout: self.stdout.try_clone()?,
            stderr: self.stderr.try_clone()?,
            extra_fds: self
                .extra_fds
                .iter()
                .map(OwnedFd::try_clone)
                .collect::<std::io::Result<_>>()?,
            prestart: self.prestart,
        })
    }

    /// A spec with Lambda-like defaults: 128 MiB memory, 512 MiB `/tmp`, the matching CPU
    /// share of one core, 1024 pids, uid/gid 993/990, private network, cwd `/var/task`.
    pub fn new(
        id: impl Into<String>,
        task_dir: impl Into<PathBuf>,
        argv: Vec<String>,
        stdout: OwnedFd,
        stderr: OwnedFd,
    ) -> Self {
        Self {
            id: id.into(),
            task_dir: task_dir.into(),
            opt_dir: None,
            runtime_dir: None,
            extra_ro_binds: Vec::new(),
            tmp_size_mb: 512,
            memory_mb: 128,
            cpu_millis: cpu_millis_for_memory(128, 1),
            pids_max: 1024,
            argv,
            env: Vec::new(),
            cwd: "/var/task".to_owned(),
            uid: DEFAULT_UID,
            gid: DEFAULT_GID,
            network: NetworkMode::Private,
            runtime_api_port: None,
            hostname: "localhost".to_owned(),
            stdout,
            stderr,
            extra_fds: Vec::new(),
            prestart: false,
        }
    }

    /// Checks everything that can be checked without touching the host.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(SandboxError::InvalidSpec(m));
        if !valid_id(&self.id) {
            return bad(format!(
                "id {:?} must match [A-Za-z0-9_.-]{{1,64}}",
                self.id
            ));
        }
        for (what, p) in self.host_dirs() {
            if let Some(p) = p
                && !p.is_absolute()
            {
                return bad(format!("{what} {} is not absolute", p.display()));
            }
        }
        for (src, dst) in &self.extra_ro_binds {
            if !src.is_absolute() {
                return bad(format!("bind source {} is not absolute", src.display()));
            }
            check_bind_target(dst)?;
        }
        if self.argv.is_empty() || self.argv[0].is_empty() {
            return bad("argv must not be empty".into());
        }
        if self.argv.iter().any(|a| a.contains('\0')) {
            return bad("argv contains a NUL byte".into());
        }
        for (k, v) in &self.env {
            if k.is_empty() || k.contains('=') || k.contains('\0') || v.contains('\0') {
                return bad(format!("invalid environment variable {k:?}"));
            }
        }
        if !self.cwd.starts_with('/') || self.cwd.contains('\0') {
            return bad(format!("cwd {:?} must be an absolute path", self.cwd));
        }
        if self.uid == 0 || self.gid == 0 {
            return bad("the function must not run as uid/gid 0".into());
        }
        if self.memory_mb < 8 {
            return bad(format!("memory_mb {} is below 8", self.memory_mb));
        }
        if self.tmp_size_mb == 0 {
            return bad("tmp_size_mb must be at least 1".into());
        }
        if self.pids_max < 2 {
            return bad("pids_max must be at least 2 (init + function)".into());
        }
        if self.cpu_millis < 10 {
            return bad("cpu_millis must be at least 10 (the kernel's 1 ms quota minimum)".into());
        }
        if self.extra_fds.len() > MAX_EXTRA_FDS {
            return bad(format!("at most {MAX_EXTRA_FDS} extra fds"));
        }
        if self.hostname.is_empty() || self.hostname.len() > 64 || self.hostname.contains('\0') {
            return bad(format!("invalid hostname {:?}", self.hostname));
        }
        if self.network == NetworkMode::Host && self.runtime_api_port.is_some() {
            return bad("runtime_api_port needs NetworkMode::Private (in host mode the port would be the host's)".into());
        }
        Ok(())
    }

    /// The host directories the sandbox mounts, by field name (`None`: not given).
    pub(crate) fn host_dirs(&self) -> [(&'static str, Option<&PathBuf>); 3] {
        [
            ("task_dir", Some(&self.task_dir)),
            ("opt_dir", self.opt_dir.as_ref()),
            ("runtime_dir", self.runtime_dir.as_ref()),
        ]
    }

    /// The environment actually passed to `execve`: `env`, plus `AWS_LAMBDA_RUNTIME_API`
    /// when a Runtime API listener is requested and the caller did not set it.
    pub fn effective_env(&self) -> Vec<(String, String)> {
        let mut env = self.env.clone();
        if let Some(port) = self.runtime_api_port
            && !env.iter().any(|(k, _)| k == "AWS_LAMBDA_RUNTIME_API")
        {
            env.push(("AWS_LAMBDA_RUNTIME_API".into(), format!("127.0.0.1:{port}")));
        }
        env
    }

    /// Candidate absolute paths for `argv[0]`, in the order `execvp` would try them.
    pub fn exec_candidates(&self) -> Vec<String> {
        let arg0 = &self.argv[0];
        if arg0.contains('/') {
            return vec![arg0.clone()];
        }
        let path = self
            .env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map_or(DEFAULT_PATH, |(_, v)| v.as_str());
        path.split(':')
            .filter(|d| d.starts_with('/'))
            .map(|d| format!("{}/{arg0}", d.trim_end_matches('/')))
            .collect()
    }
}

/// The Lambda CPU share: 1769 MB of memory buys one full vCPU; capped at the host's cores and
/// floored at 10 milli-vCPUs (the kernel's 1 ms-per-100 ms minimum quota).
pub fn cpu_millis_for_memory(memory_mb: u64, host_cpus: u64) -> u64 {
    (memory_mb * 1000 / 1769).clamp(10, host_cpus.max(1) * 1000)
}

/// The CPU share of init: on Lambda on-demand init runs effectively unthrottled (up to about
/// 3 GB of memory it gets more CPU than the handler's share), so init gets every host CPU;
/// the handler's share ([`cpu_millis_for_memory`]) is set at the runtime's first `/next`.
pub fn init_cpu_millis(host_cpus: u64) -> u64 {
    host_cpus.max(1) * 1000
}

/// The platform part of a Lambda execution environment's variables (lambda-facts §3.6) that
/// does not depend on the function: `PATH`, `LANG`, `TZ`, `LD_LIBRARY_PATH`,
/// `LAMBDA_TASK_ROOT`, `LAMBDA_RUNTIME_DIR`. The invoke layer adds the function-specific ones.
pub fn lambda_base_env() -> Vec<(String, String)> {
    [
        ("PATH", DEFAULT_PATH),
        ("LANG", "en_US.UTF-8"),
        ("TZ", ":UTC"),
        (
            "LD_LIBRARY_PATH",
            "/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib",
        ),
        ("LAMBDA_TASK_ROOT", "/var/task"),
        ("LAMBDA_RUNTIME_DIR", "/var/runtime"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

pub(crate) fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Sandbox paths that the sandbox itself provides; an extra bind may not land inside them
/// (there is no way to create a mount point inside a read-only host bind or a tmpfs that is
/// mounted later).
pub(crate) const RESERVED_PREFIXES: &[&str] = &[
    "/usr",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/bin",
    "/sbin",
    "/etc",
    "/dev",
    "/proc",
    "/tmp",
    "/var/task",
    "/var/runtime",
    "/opt",
];

fn check_bind_target(dst: &Path) -> Result<()> {
    let bad = |m: String| Err(SandboxError::InvalidSpec(m));
    if !dst.is_absolute() {
        return bad(format!("bind target {} is not absolute", dst.display()));
    }
    if dst
        .components()
        .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
    {
        return bad(format!("bind target {} is not normalized", dst.display()));
    }
    if dst == Path::new("/") {
        return bad("bind target must not be /".into());
    }
    if let Some(r) = RESERVED_PREFIXES.iter().find(|r| dst.starts_with(r)) {
        return bad(format!(
            "bind target {} is inside {r}, which the sandbox provides",
            dst.display()
        ));
    }
    if dst.to_string_lossy().contains('\0') {
        return bad("bind target contains NUL".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn try_clone_copies_every_field_with_new_descriptors() {
        use std::os::fd::AsRawFd;
        let mut s = spec();
        s.env = vec![("A".into(), "1".into())];
        s.prestart = true;
        s.extra_fds = vec![OwnedFd::from(std::fs::File::open("/dev/null").unwrap())];
        let c = s.try_clone().unwrap();
        assert_eq!(
            format!("{:?}", (&c.id, &c.argv, &c.env, c.prestart, c.memory_mb)),
            format!("{:?}", (&s.id, &s.argv, &s.env, s.prestart, s.memory_mb))
        );
        assert_ne!(c.stdout.as_raw_fd(), s.stdout.as_raw_fd());
        assert_eq!(c.extra_fds.len(), 1);
        assert_ne!(c.extra_fds[0].as_raw_fd(), s.extra_fds[0].as_raw_fd());
    }

    #[test]
    fn startup_variables_are_those_read_before_any_code_runs() {
        for k in [
            "LD_LIBRARY_PATH",
            "LD_PRELOAD",
            "GLIBC_TUNABLES",
            "MALLOC_ARENA_MAX",
            "LANG",
            "LC_ALL",
            "TZ",
            "PYTHONPATH",
            "PYTHONHASHSEED",
            "NODE_OPTIONS",
            "UV_THREADPOOL_SIZE",
        ] {
            assert!(is_startup_variable(k), "{k}");
        }
        for k in [
            "PATH",
            "HOME",
            "AWS_LAMBDA_FUNCTION_NAME",
            "_HANDLER",
            "GREETING",
            "XLANG",
            "MY_LD_FLAGS",
        ] {
            assert!(!is_startup_variable(k), "{k}");
        }
    }

    fn spec() -> SandboxSpec {
        let fd = || OwnedFd::from(std::fs::File::open("/dev/null").unwrap());
        SandboxSpec::new("env-1", "/srv/task", vec!["bootstrap".into()], fd(), fd())
    }

    #[test]
    fn default_spec_is_valid() {
        spec().validate().unwrap();
    }

    #[test]
    fn rejects_bad_ids() {
        for id in ["", ".", "..", "a/b", "x y", &"a".repeat(65)] {
            let mut s = spec();
            s.id = id.into();
            assert!(s.validate().is_err(), "{id:?} accepted");
        }
    }

    #[test]
    fn rejects_root_and_bad_env_and_binds() {
        let mut s = spec();
        s.uid = 0;
        assert!(s.validate().is_err());
        let mut s = spec();
        s.env.push(("A=B".into(), "x".into()));
        assert!(s.validate().is_err());
        let mut s = spec();
        s.extra_ro_binds.push(("/x".into(), "/usr/local/py".into()));
        assert!(s.validate().is_err());
        let mut s = spec();
        s.extra_ro_binds.push(("/x".into(), "/a/../b".into()));
        assert!(s.validate().is_err());
        let mut s = spec();
        s.extra_ro_binds.push((
            "/root/.pyenv/versions/3.12.1".into(),
            "/root/.pyenv/versions/3.12.1".into(),
        ));
        s.validate().unwrap();
        let mut s = spec();
        s.network = NetworkMode::Host;
        s.runtime_api_port = Some(9001);
        assert!(s.validate().is_err());
    }

    #[test]
    fn cpu_share_follows_lambda() {
        assert_eq!(cpu_millis_for_memory(1769, 2), 1000);
        assert_eq!(cpu_millis_for_memory(128, 2), 72);
        assert_eq!(cpu_millis_for_memory(10240, 2), 2000);
        assert_eq!(cpu_millis_for_memory(1, 2), 10);
        for memory_mb in [128, 1769, 3008, 10240] {
            assert!(init_cpu_millis(2) >= cpu_millis_for_memory(memory_mb, 2));
        }
        assert_eq!(init_cpu_millis(2), 2000);
        assert_eq!(init_cpu_millis(0), 1000);
    }

    #[test]
    fn exec_candidates_follow_path() {
        let mut s = spec();
        assert_eq!(
            s.exec_candidates(),
            vec![
                "/usr/local/bin/bootstrap",
                "/usr/bin/bootstrap",
                "/bin/bootstrap",
                "/opt/bin/bootstrap"
            ]
        );
        s.env.push(("PATH".into(), "/var/task:relative".into()));
        assert_eq!(s.exec_candidates(), vec!["/var/task/bootstrap"]);
        s.argv[0] = "/var/task/bootstrap".into();
        assert_eq!(s.exec_candidates(), vec!["/var/task/bootstrap"]);
    }

    #[test]
    fn runtime_api_env_is_added_once() {
        let mut s = spec();
        s.runtime_api_port = Some(9001);
        let env = s.effective_env();
        assert!(env.contains(&("AWS_LAMBDA_RUNTIME_API".into(), "127.0.0.1:9001".into())));
        s.env.push(("AWS_LAMBDA_RUNTIME_API".into(), "x:1".into()));
        assert_eq!(
            s.effective_env()
                .iter()
                .filter(|(k, _)| k == "AWS_LAMBDA_RUNTIME_API")
                .count(),
            1
        );
    }

    #[test]
    fn base_env_has_lambda_paths() {
        let env = lambda_base_env();
        assert!(
            env.iter()
                .any(|(k, v)| k == "LAMBDA_TASK_ROOT" && v == "/var/task")
        );
    }
}
