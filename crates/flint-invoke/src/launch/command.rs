//! What an environment executes: the package's `bootstrap` for `provided*`, or flint's
//! client of a managed runtime on the host's interpreter, behind `AWS_LAMBDA_EXEC_WRAPPER`
//! when the function sets one.

use flint_runtimes::{HostRuntimes, LaunchSpec, ManagedRuntime, RuntimeError};
use flint_types::model::FunctionConfiguration;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// What to execute in the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Command {
    pub argv: Vec<String>,
    /// The runtime's own variables (`AWS_EXECUTION_ENV`, `PYTHONPATH`, `NODE_PATH`).
    pub runtime_env: Vec<(String, String)>,
    /// Host paths the interpreter needs, bound read-only: (host path, sandbox path).
    pub read_only_mounts: Vec<(std::path::PathBuf, std::path::PathBuf)>,
    /// The runtime may start before its function is known (see `SandboxSpec::prestart`).
    pub prestart: bool,
}

/// Why the entrypoint cannot be executed (Lambda's `Runtime.InvalidEntrypoint`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InvalidEntrypoint {
    /// A custom runtime's package has no `bootstrap`.
    NoBootstrap,
    /// Exec of `path` would fail; `why` is in the words of Go's exec, which Lambda's init
    /// uses (`no such file or directory`, `permission denied`).
    CannotExec { path: String, why: &'static str },
}

/// The host directories of the sandbox's `/var/task` and `/opt` (`None`: no layers, an empty
/// `/opt`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dirs<'a> {
    pub task: &'a Path,
    pub opt: Option<&'a Path>,
}

impl Dirs<'_> {
    /// Where a sandbox path of the function's code or layers is on the host (`None`: not in
    /// them).
    fn host_path(&self, sandbox_path: &Path) -> Option<std::path::PathBuf> {
        if let Ok(rel) = sandbox_path.strip_prefix("/var/task") {
            return Some(self.task.join(rel));
        }
        let rel = sandbox_path.strip_prefix("/opt").ok()?;
        Some(match self.opt {
            Some(opt) => opt.join(rel),
            // Nothing is there: a path that cannot exist.
            None => Path::new("/nonexistent/flint-empty-opt").join(rel),
        })
    }

    /// Whether a sandbox path of the bootstrap lookup is a file of the code or layers.
    fn exists(&self, sandbox_path: &Path) -> bool {
        self.host_path(sandbox_path).is_some_and(|p| p.is_file())
    }

    /// Whether the file at a sandbox path has an execute bit.
    fn executable(&self, sandbox_path: &Path) -> bool {
        self.host_path(sandbox_path)
            .and_then(|p| std::fs::metadata(p).ok())
            .is_some_and(|m| m.permissions().mode() & 0o111 != 0)
    }
}

/// Why no command could be found.
#[derive(Debug)]
pub(crate) enum CommandError {
    /// The host lacks the runtime's interpreter (or has one too old).
    Runtime(RuntimeError),
    InvalidEntrypoint(InvalidEntrypoint),
}

/// The command of `runtime` (the function's, parsed) for the package extracted at
/// `task_dir`.
pub(crate) fn resolve(
    runtime: &ManagedRuntime,
    config: &FunctionConfiguration,
    host: &HostRuntimes,
    dirs: Dirs<'_>,
) -> Result<Command, CommandError> {
    if matches!(runtime, ManagedRuntime::Provided { .. }) {
        let mut command = custom_bootstrap(dirs).map_err(CommandError::InvalidEntrypoint)?;
        // provided.al2023's PATH and LD_LIBRARY_PATH (flint-runtimes).
        command.runtime_env = runtime
            .launch_command(host)
            .map_err(CommandError::Runtime)?
            .env;
        return Ok(command);
    }
    let launch = runtime
        .launch_command(host)
        .map_err(CommandError::Runtime)?;
    let wrapper = config
        .environment
        .as_ref()
        .and_then(|e| e.variables.get("AWS_LAMBDA_EXEC_WRAPPER"))
        .map(String::as_str);
    managed(launch, wrapper, dirs).map_err(CommandError::InvalidEntrypoint)
}

/// A custom runtime runs the package's `bootstrap`, else a layer's `/opt/bootstrap` (the
/// first of Lambda's lookup paths that exists), which must be executable.
fn custom_bootstrap(dirs: Dirs<'_>) -> Result<Command, InvalidEntrypoint> {
    let path = flint_runtimes::find_custom_bootstrap(|p| dirs.exists(p))
        .ok_or(InvalidEntrypoint::NoBootstrap)?;
    if !dirs.executable(&path) {
        return Err(InvalidEntrypoint::CannotExec {
            path: path.display().to_string(),
            why: "permission denied",
        });
    }
    Ok(Command {
        argv: vec![path.to_string_lossy().into_owned()],
        runtime_env: Vec::new(),
        read_only_mounts: Vec::new(),
        prestart: false,
    })
}

/// A managed runtime's command, behind the function's `AWS_LAMBDA_EXEC_WRAPPER` if it sets
/// one: the wrapper is executed with the runtime's command as its arguments (facts §3.5). It
/// must see the function's environment from its first instruction, so nothing is pre-started.
fn managed(
    launch: LaunchSpec,
    wrapper: Option<&str>,
    dirs: Dirs<'_>,
) -> Result<Command, InvalidEntrypoint> {
    let mut launch = launch;
    if let Some(wrapper) = wrapper.filter(|w| !w.is_empty()) {
        if let Some(why) = wrapper_problem(Path::new(wrapper), dirs) {
            return Err(InvalidEntrypoint::CannotExec {
                path: wrapper.to_string(),
                why,
            });
        }
        launch = launch.wrapped(wrapper);
        launch.prestart = false;
    }
    Ok(Command {
        argv: launch.argv,
        runtime_env: launch.env,
        read_only_mounts: launch.read_only_mounts,
        prestart: launch.prestart,
    })
}

/// Why `AWS_LAMBDA_EXEC_WRAPPER` cannot be executed, when it names a file of the function's
/// code or layers (`/var/task`, `/opt`) that is missing or not executable. Other paths are
/// the sandbox's system files or a `PATH` lookup: exec decides.
fn wrapper_problem(wrapper: &Path, dirs: Dirs<'_>) -> Option<&'static str> {
    dirs.host_path(wrapper)?;
    if !dirs.exists(wrapper) {
        return Some("no such file or directory");
    }
    if !dirs.executable(wrapper) {
        return Some("permission denied");
    }
    None
}

/// The entrypoint error of a sandbox that could not execute `program` (its first argument:
/// the exec wrapper, the interpreter or the bootstrap): Lambda's init reports a failed exec as
/// `Runtime.InvalidEntrypoint`, a function error, not as the API's `ServiceException`. `None`
/// for every other failure (those are flint's own).
pub(crate) fn exec_failure(
    error: &flint_sandbox::SandboxError,
    program: &str,
) -> Option<InvalidEntrypoint> {
    let flint_sandbox::SandboxError::ChildSetup { step, source, .. } = error else {
        return None;
    };
    if !(step.starts_with("execve") || *step == "exec") {
        return None;
    }
    // The errors of exec that are the file's fault, in the words of Go's syscall package
    // (Lambda's init is written in Go); anything else (out of memory, ...) is not the
    // function's.
    let why = match source.raw_os_error()? {
        libc::ENOENT => "no such file or directory",
        libc::EACCES => "permission denied",
        libc::ENOEXEC => "exec format error",
        libc::ENOTDIR => "not a directory",
        libc::ELOOP => "too many levels of symbolic links",
        libc::ENAMETOOLONG => "file name too long",
        libc::ETXTBSY => "text file busy",
        libc::EPERM => "operation not permitted",
        libc::ELIBBAD => "accessing a corrupted shared library",
        _ => return None,
    };
    Some(InvalidEntrypoint::CannotExec {
        path: program.to_string(),
        why,
    })
}

#[cfg(test)]
mod tests;
