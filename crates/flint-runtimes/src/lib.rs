//! flint's own managed runtimes, shipped inside the `flint` binary.
//!
//! Lambda's managed runtimes (`python3.x`, `nodejsNN.x`) are a language
//! interpreter plus a *runtime interface client* that speaks the Runtime API
//! and calls the user's handler. flint does not ship interpreters: it runs
//! `python3.*` on the host's Python 3 and `nodejs*.x` on the host's Node.js,
//! and says so honestly at start-up ("python3.12 requested, running on host
//! Python 3.11.7"). What flint does ship are the runtime clients: two
//! dependency-free scripts (`runtimes/python/bootstrap.py`,
//! `runtimes/nodejs/bootstrap.mjs`) embedded with `include_str!` so the single
//! binary carries everything, and written out by [`materialize`] into the
//! directory the sandbox mounts as `/var/runtime`.
//!
//! The crate answers three questions for the sandbox:
//! - which runtime ids flint accepts ([`ManagedRuntime::parse`]);
//! - which interpreters the host has, and which host directories must be
//!   bind-mounted read-only for them to run inside a sandbox ([`detect_host`]);
//! - what to execute for a given runtime id ([`ManagedRuntime::launch_command`]).
//!
//! # What the clients expect from the environment
//!
//! The platform variables of facts §3.6 (`_HANDLER`, `LAMBDA_TASK_ROOT`,
//! `AWS_LAMBDA_RUNTIME_API`, `AWS_LAMBDA_FUNCTION_NAME`/`_VERSION`/
//! `_MEMORY_SIZE`, `AWS_LAMBDA_LOG_GROUP_NAME`/`_STREAM_NAME`), the
//! [`LaunchSpec::env`] additions, cwd `/var/task`, and stdout/stderr captured
//! line by line. Optional: `_LAMBDA_TELEMETRY_LOG_FD` (framed logs, §3.7),
//! `AWS_LAMBDA_LOG_FORMAT`/`AWS_LAMBDA_LOG_LEVEL`. The Runtime API must send a
//! Content-Type on `/next`, block there, and use Content-Length or chunked
//! bodies; one keep-alive connection carries a whole environment's traffic
//! (a dropped idle connection is re-opened once).
//!
//! # Honest differences from Lambda's managed runtimes
//!
//! - The interpreter is the host's: `python3.12` may run on Python 3.11 (the
//!   start-up line says so) and sees the host's site-packages (boto3 only if
//!   the host has it); Node.js layers are looked up under the *requested*
//!   major version.
//! - Python: SnapStart hooks (`restore/next`) and the threaded `/next` of
//!   newer awslambdaric releases are not implemented.
//! - Node.js: response streaming is implemented minimally (chunked POST,
//!   HTTP-integration prelude, error trailers); the `Runtime.NodeJsExit`
//!   message for never-settling async handlers is not verified against AWS.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

/// The script the Python runtime starts (`python -u /var/runtime/bootstrap.py`):
/// two lines that import [`PYTHON_CLIENT`].
pub const PYTHON_BOOTSTRAP: &str = include_str!("../runtimes/python/bootstrap.py");
/// flint's Python runtime client (stdlib only, Python 3.9+), imported by
/// [`PYTHON_BOOTSTRAP`] so that its bytecode can be cached (see
/// [`precompile_python`]).
pub const PYTHON_CLIENT: &str = include_str!("../runtimes/python/_flint_bootstrap.py");
/// flint's Node.js runtime client (built-ins only, Node 18+).
pub const NODE_BOOTSTRAP: &str = include_str!("../runtimes/nodejs/bootstrap.mjs");

/// File name of the Python entry script inside the runtime dir. It must stay
/// `bootstrap.py`: the client trims its own frames from stack traces by
/// looking for that name (and [`PYTHON_CLIENT_FILE`]), as the official
/// client does.
pub const PYTHON_BOOTSTRAP_FILE: &str = "bootstrap.py";
/// File name of the Python client module inside the runtime dir.
pub const PYTHON_CLIENT_FILE: &str = "_flint_bootstrap.py";
/// File name of the Node.js client inside the runtime dir (`.mjs` so Node
/// loads it as an ES module whatever package.json says).
pub const NODE_BOOTSTRAP_FILE: &str = "bootstrap.mjs";

/// Every file [`materialize`] writes: (name inside the runtime dir, content).
pub const RUNTIME_FILES: &[(&str, &str)] = &[
    (PYTHON_BOOTSTRAP_FILE, PYTHON_BOOTSTRAP),
    (PYTHON_CLIENT_FILE, PYTHON_CLIENT),
    (NODE_BOOTSTRAP_FILE, NODE_BOOTSTRAP),
];

/// Where the runtime dir appears inside the sandbox (`LAMBDA_RUNTIME_DIR`).
pub const RUNTIME_DIR: &str = "/var/runtime";
/// Where function code appears inside the sandbox (`LAMBDA_TASK_ROOT`).
pub const TASK_ROOT: &str = "/var/task";

/// Lookup order of the executable for `provided*` runtimes (facts §3.5):
/// the function package, then layers, then the runtime dir.
pub const CUSTOM_BOOTSTRAP_CANDIDATES: [&str; 3] = [
    "/var/task/bootstrap",
    "/opt/bootstrap",
    "/var/runtime/bootstrap",
];

/// Host directories every sandbox already exposes read-only (see
/// flint-sandbox's rootfs): interpreters and libraries under them need no
/// extra bind mount.
pub const SYSTEM_DIRS: &[&str] = &[
    "/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin", "/etc",
];

/// Paths of Lambda's filesystem layout (facts §3.8) that the sandbox fills
/// itself: a host interpreter living under one of them cannot be mounted at
/// the same path inside.
pub const SANDBOX_OWNED_DIRS: &[&str] =
    &["/opt", "/tmp", "/var/task", "/var/runtime", "/dev", "/proc"];

/// Oldest host Python the Python client is written for.
pub const MIN_HOST_PYTHON: (u32, u32) = (3, 9);
/// Oldest host Node.js the Node client is written for.
pub const MIN_HOST_NODE: u32 = 18;

/// Everything that can go wrong when choosing or preparing a runtime.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The runtime id is not one flint can run.
    #[error(
        "unsupported runtime '{id}': flint supports python3.9 to python3.14, nodejs18.x, \
         nodejs20.x, nodejs22.x, nodejs24.x, provided, provided.al2 and provided.al2023"
    )]
    Unsupported {
        /// The id as requested.
        id: String,
    },
    /// The host has no interpreter for the requested language.
    #[error("{requested} requested, but no host {language} was found on PATH")]
    InterpreterMissing {
        /// The runtime id as requested.
        requested: String,
        /// "Python" or "Node.js".
        language: &'static str,
    },
    /// The host interpreter lives where the sandbox mounts something else.
    #[error(
        "{requested} requested, but host {language} lives in {path}, inside {owned}, which \
         the sandbox fills itself; install it elsewhere (e.g. /usr/local or /srv)"
    )]
    InterpreterNotMountable {
        /// The runtime id as requested.
        requested: String,
        /// "Python" or "Node.js".
        language: &'static str,
        /// The directory that would have to be mounted.
        path: PathBuf,
        /// The sandbox-owned directory it is in.
        owned: &'static str,
    },
    /// The host interpreter is older than the runtime client supports.
    #[error("{requested} requested, but host {language} {version} is too old (need {minimum}+)")]
    InterpreterTooOld {
        /// The runtime id as requested.
        requested: String,
        /// "Python" or "Node.js".
        language: &'static str,
        /// Host version string.
        version: String,
        /// Oldest supported version.
        minimum: String,
    },
}

/// Write the embedded runtime clients into `dir` (which the sandbox mounts as
/// `/var/runtime`).
///
/// Idempotent: files whose content is already right are left alone, so many
/// environments can share one runtime dir and a restart does not rewrite it.
/// Atomic: a changed file is written to a temporary name in the same directory
/// and renamed over the old one, so a sandbox starting concurrently sees
/// either the old or the new script, never a torn one.
pub fn materialize(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    for (name, content) in RUNTIME_FILES {
        write_atomic(&dir.join(name), content.as_bytes())?;
    }
    Ok(())
}

/// Compiles the Python client's bytecode into `dir/__pycache__` with every
/// host Python, so that a cold start loads it instead of compiling ~1,000
/// lines (about 12 ms) inside the sandbox, where the read-only runtime dir
/// keeps Python from caching it itself.
///
/// The bytecode is a *checked-hash* pyc: Python hashes the source before
/// using it, so a pyc that does not match the materialised client (a newer
/// flint, a failed compile) is ignored rather than run, and the client is
/// compiled from source as before. Blocking (one short interpreter run per
/// host Python); failures are returned but harmless.
pub fn precompile_python(dir: &Path, host: &HostRuntimes) -> io::Result<()> {
    let source = dir.join(PYTHON_CLIENT_FILE);
    let mut first_error = None;
    for py in host.python.iter().chain(&host.other_pythons) {
        // -I: no site, no user site, no PYTHON* variables (fast, and nothing
        // from the operator's environment influences the compile).
        let out = Command::new(&py.executable)
            .arg("-I")
            .arg("-c")
            .arg(
                "import py_compile, sys\n\
                 py_compile.compile(sys.argv[1], doraise=True,\n\
                 invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)",
            )
            .arg(&source)
            .output();
        let err = match out {
            Ok(o) if o.status.success() => continue,
            Ok(o) => io::Error::other(format!(
                "{} could not compile {}: {}",
                py.executable.display(),
                source.display(),
                String::from_utf8_lossy(&o.stderr).trim()
            )),
            Err(e) => e,
        };
        first_error.get_or_insert(err);
    }
    first_error.map_or(Ok(()), Err)
}

fn write_atomic(path: &Path, content: &[u8]) -> io::Result<()> {
    if fs::read(path).is_ok_and(|existing| existing == content) {
        return Ok(());
    }
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.tmp.{}.{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(content)?;
        f.sync_all()?;
        set_mode(&tmp, 0o644)?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> io::Result<()> {
    Ok(())
}

/// The language family of a runtime id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    /// `python3.*`
    Python,
    /// `nodejs*.x`
    Node,
    /// `provided*`: the function brings its own `bootstrap`.
    Provided,
}

/// A Lambda runtime id flint can run.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ManagedRuntime {
    /// `python3.9` .. `python3.14`, run on the host's Python 3.
    Python {
        /// The id as requested, e.g. `python3.12`.
        requested: String,
        /// The requested minor version (12 for `python3.12`).
        minor: u32,
    },
    /// `nodejs18.x` .. `nodejs24.x`, run on the host's Node.js.
    Node {
        /// The id as requested, e.g. `nodejs20.x`.
        requested: String,
        /// The requested major version (20 for `nodejs20.x`).
        major: u32,
    },
    /// `provided`, `provided.al2`, `provided.al2023`: custom runtime.
    Provided {
        /// The id as requested.
        requested: String,
    },
}

impl ManagedRuntime {
    /// Parse a Lambda runtime id. Ids Lambda has deprecated or flint cannot
    /// run (java, dotnet, ruby, python3.8, nodejs16.x, ...) are rejected
    /// rather than silently run on something else.
    pub fn parse(id: &str) -> Result<Self, RuntimeError> {
        let unsupported = || RuntimeError::Unsupported { id: id.to_owned() };
        if let Some(minor) = id.strip_prefix("python3.") {
            let minor: u32 = parse_digits(minor).ok_or_else(unsupported)?;
            if (9..=14).contains(&minor) {
                return Ok(Self::Python {
                    requested: id.to_owned(),
                    minor,
                });
            }
        } else if let Some(rest) = id.strip_prefix("nodejs") {
            let major = rest
                .strip_suffix(".x")
                .and_then(parse_digits)
                .ok_or_else(unsupported)?;
            if matches!(major, 18 | 20 | 22 | 24) {
                return Ok(Self::Node {
                    requested: id.to_owned(),
                    major,
                });
            }
        } else if matches!(id, "provided" | "provided.al2" | "provided.al2023") {
            return Ok(Self::Provided {
                requested: id.to_owned(),
            });
        }
        Err(unsupported())
    }

    /// The runtime id as requested.
    pub fn id(&self) -> &str {
        match self {
            Self::Python { requested, .. }
            | Self::Node { requested, .. }
            | Self::Provided { requested } => requested,
        }
    }

    /// The language family.
    pub fn language(&self) -> Language {
        match self {
            Self::Python { .. } => Language::Python,
            Self::Node { .. } => Language::Node,
            Self::Provided { .. } => Language::Provided,
        }
    }

    /// `AWS_EXECUTION_ENV` as Lambda sets it (`AWS_Lambda_python3.12`); not
    /// set for custom runtimes (facts §3.6).
    pub fn execution_env(&self) -> Option<String> {
        match self {
            Self::Provided { .. } => None,
            other => Some(format!("AWS_Lambda_{}", other.id())),
        }
    }

    /// What to execute inside the sandbox, with the runtime dir at
    /// [`RUNTIME_DIR`]. See [`ManagedRuntime::launch_command_at`].
    pub fn launch_command(&self, host: &HostRuntimes) -> Result<LaunchSpec, RuntimeError> {
        self.launch_command_at(host, Path::new(RUNTIME_DIR))
    }

    /// What to execute, with the runtime clients materialised in
    /// `runtime_dir` (tests run the clients directly on the host this way).
    ///
    /// Fails when the host lacks a suitable interpreter: starting the sandbox
    /// anyway would only turn that into an opaque `Runtime.ExitError`.
    pub fn launch_command_at(
        &self,
        host: &HostRuntimes,
        runtime_dir: &Path,
    ) -> Result<LaunchSpec, RuntimeError> {
        let runtime_dir_s = runtime_dir.to_string_lossy().into_owned();
        let mut env = Vec::new();
        if let Some(exec_env) = self.execution_env() {
            env.push(("AWS_EXECUTION_ENV".to_owned(), exec_env));
        }
        match self {
            Self::Python { requested, minor } => {
                let py =
                    host.python_for(*minor)
                        .ok_or_else(|| RuntimeError::InterpreterMissing {
                            requested: requested.clone(),
                            language: "Python",
                        })?;
                if py.version_tuple() < (MIN_HOST_PYTHON.0, MIN_HOST_PYTHON.1, 0) {
                    return Err(RuntimeError::InterpreterTooOld {
                        requested: requested.clone(),
                        language: "Python",
                        version: py.version.clone(),
                        minimum: format!("{}.{}", MIN_HOST_PYTHON.0, MIN_HOST_PYTHON.1),
                    });
                }
                let read_only_mounts = checked_mounts(py, requested, "Python")?;
                // Older Lambda Python runtimes set PYTHONPATH to the runtime
                // dir (facts §3.6); the client itself puts LAMBDA_TASK_ROOT
                // and /opt/python first on sys.path.
                env.push(("PYTHONPATH".to_owned(), runtime_dir_s.clone()));
                Ok(LaunchSpec {
                    argv: vec![
                        py.executable.to_string_lossy().into_owned(),
                        // Unbuffered stdio: output must not sit in a buffer
                        // while the environment is frozen or killed.
                        "-u".to_owned(),
                        // No `site`: the host interpreter's site-packages (and
                        // whatever its .pth files import at every start) are the
                        // operator's, not the function's. A Lambda function sees
                        // the standard library, its package and its layers; the
                        // client puts LAMBDA_TASK_ROOT and /opt/python on sys.path.
                        "-S".to_owned(),
                        format!("{runtime_dir_s}/{PYTHON_BOOTSTRAP_FILE}"),
                    ],
                    env,
                    interpreter: Some(py.executable.clone()),
                    read_only_mounts,
                    bootstrap_candidates: Vec::new(),
                    description: self.describe(host),
                    prestart: true,
                })
            }
            Self::Node { requested, major } => {
                let node = host
                    .node
                    .as_ref()
                    .ok_or_else(|| RuntimeError::InterpreterMissing {
                        requested: requested.clone(),
                        language: "Node.js",
                    })?;
                if node.version_tuple().0 < MIN_HOST_NODE {
                    return Err(RuntimeError::InterpreterTooOld {
                        requested: requested.clone(),
                        language: "Node.js",
                        version: node.version.clone(),
                        minimum: MIN_HOST_NODE.to_string(),
                    });
                }
                let read_only_mounts = checked_mounts(node, requested, "Node.js")?;
                // Layer paths use the *requested* major: layers are built for
                // the runtime id the function declares (facts §3.6, §3.8).
                env.push((
                    "NODE_PATH".to_owned(),
                    format!(
                        "/opt/nodejs/node{major}/node_modules:/opt/nodejs/node_modules:{runtime_dir_s}/node_modules"
                    ),
                ));
                Ok(LaunchSpec {
                    argv: vec![
                        node.executable.to_string_lossy().into_owned(),
                        // As Lambda's own Node launcher: global.gc() is
                        // available and the same header size limit applies.
                        "--expose-gc".to_owned(),
                        "--max-http-header-size=81920".to_owned(),
                        format!("{runtime_dir_s}/{NODE_BOOTSTRAP_FILE}"),
                    ],
                    env,
                    interpreter: Some(node.executable.clone()),
                    read_only_mounts,
                    bootstrap_candidates: Vec::new(),
                    description: self.describe(host),
                    prestart: true,
                })
            }
            Self::Provided { .. } => Ok(LaunchSpec {
                argv: vec![CUSTOM_BOOTSTRAP_CANDIDATES[0].to_owned()],
                env,
                interpreter: None,
                read_only_mounts: Vec::new(),
                bootstrap_candidates: CUSTOM_BOOTSTRAP_CANDIDATES
                    .iter()
                    .map(PathBuf::from)
                    .collect(),
                description: self.describe(host),
                prestart: false,
            }),
        }
    }

    /// One honest line for logs and `INIT_START`-style output, e.g.
    /// `python3.12 requested, running on host Python 3.11.7 (/usr/bin/python3.11)`.
    pub fn describe(&self, host: &HostRuntimes) -> String {
        let (language, interp) = match self {
            Self::Python { minor, .. } => ("Python", host.python_for(*minor)),
            Self::Node { .. } => ("Node.js", host.node.as_ref()),
            Self::Provided { requested } => {
                return format!(
                    "{requested} requested: custom runtime, the function's own bootstrap"
                );
            }
        };
        match interp {
            Some(i) => format!(
                "{} requested, running on host {language} {} ({})",
                self.id(),
                i.version,
                i.executable.display()
            ),
            None => format!("{} requested, but no host {language} found", self.id()),
        }
    }
}

impl fmt::Display for ManagedRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl std::str::FromStr for ManagedRuntime {
    type Err = RuntimeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The interpreter's bind mounts, refusing any that would land inside a
/// directory the sandbox fills itself.
fn checked_mounts(
    interp: &HostInterpreter,
    requested: &str,
    language: &'static str,
) -> Result<Vec<PathBuf>, RuntimeError> {
    let mounts = interp.bind_mounts();
    for m in &mounts {
        if let Some(owned) = SANDBOX_OWNED_DIRS.iter().find(|o| m.starts_with(o)) {
            return Err(RuntimeError::InterpreterNotMountable {
                requested: requested.to_owned(),
                language,
                path: m.clone(),
                owned,
            });
        }
    }
    Ok(mounts)
}

fn parse_digits(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// Resolve the `provided*` bootstrap in Lambda's lookup order, given a way to
/// ask whether a sandbox path exists (the caller maps `/var/task`, `/opt`
/// and `/var/runtime` to host directories).
pub fn find_custom_bootstrap(exists: impl Fn(&Path) -> bool) -> Option<PathBuf> {
    CUSTOM_BOOTSTRAP_CANDIDATES
        .iter()
        .map(Path::new)
        .find(|p| exists(p))
        .map(Path::to_path_buf)
}

/// What the sandbox must execute for one environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchSpec {
    /// Program and arguments. For `provided*` this is the first lookup
    /// candidate; the sandbox should resolve it with
    /// [`LaunchSpec::bootstrap_candidates`] / [`find_custom_bootstrap`].
    pub argv: Vec<String>,
    /// Runtime-specific environment, added on top of the platform variables
    /// (`AWS_EXECUTION_ENV`, `PYTHONPATH`, `NODE_PATH`).
    pub env: Vec<(String, String)>,
    /// The host interpreter (resolved, no symlinks), if any.
    pub interpreter: Option<PathBuf>,
    /// Host directories the interpreter needs, to be bind-mounted read-only
    /// at the same path inside the sandbox.
    pub read_only_mounts: Vec<PathBuf>,
    /// `provided*` only: bootstrap lookup order (facts §3.5).
    pub bootstrap_candidates: Vec<PathBuf>,
    /// Honest start-up line (see [`ManagedRuntime::describe`]).
    pub description: String,
    /// The command can start before its function is known (flint's client waits for the
    /// function on `_FLINT_PRESTART_FD`; see `flint_sandbox::SandboxSpec::prestart`).
    pub prestart: bool,
}

impl LaunchSpec {
    /// Apply `AWS_LAMBDA_EXEC_WRAPPER`: Lambda runs the wrapper script with the
    /// runtime command as its arguments (facts §3.5).
    pub fn wrapped(mut self, wrapper: &str) -> Self {
        self.argv.insert(0, wrapper.to_owned());
        self
    }
}

/// A language interpreter found on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostInterpreter {
    /// Resolved executable (symlinks and pyenv shims followed).
    pub executable: PathBuf,
    /// Version string, e.g. `3.11.7` or `20.20.2`.
    pub version: String,
    /// Install prefixes (Python: `sys.prefix` and `sys.base_prefix`; Node:
    /// the directory above `bin/`).
    pub prefixes: Vec<PathBuf>,
    /// Shared libraries the executable loads (from `ldd`), for sandboxes
    /// that do not expose the host's system library directories.
    pub shared_libraries: Vec<PathBuf>,
}

impl HostInterpreter {
    /// `(major, minor, patch)` of [`HostInterpreter::version`], missing parts 0.
    pub fn version_tuple(&self) -> (u32, u32, u32) {
        let mut it = self
            .version
            .trim_start_matches('v')
            .split(|c: char| !c.is_ascii_digit())
            .map(|p| p.parse::<u32>().unwrap_or(0));
        (
            it.next().unwrap_or(0),
            it.next().unwrap_or(0),
            it.next().unwrap_or(0),
        )
    }

    /// Host directories to bind read-only (at the same path): the prefixes,
    /// plus the directories of shared libraries outside them.
    ///
    /// Paths under [`SYSTEM_DIRS`] are left out: the sandbox exposes the
    /// host's system directories itself (and flint-sandbox rejects extra
    /// binds inside them), so an interpreter in `/usr/bin` needs no mount.
    /// Nested paths are collapsed into their ancestor.
    pub fn bind_mounts(&self) -> Vec<PathBuf> {
        let system = |p: &Path| SYSTEM_DIRS.iter().any(|s| p.starts_with(s));
        let mut dirs: BTreeSet<PathBuf> = self
            .prefixes
            .iter()
            .filter(|p| !system(p))
            .cloned()
            .collect();
        for lib in &self.shared_libraries {
            if let Some(dir) = lib.parent().filter(|d| !system(d)) {
                dirs.insert(dir.to_path_buf());
            }
        }
        let mut out: Vec<PathBuf> = Vec::new();
        for d in dirs {
            if !out.iter().any(|o| d.starts_with(o)) {
                out.push(d);
            }
        }
        out
    }
}

/// The interpreters available on this host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostRuntimes {
    /// The default host Python 3 (`python3` on `PATH`), if any.
    pub python: Option<HostInterpreter>,
    /// Further Python 3.9+ installations (`python3.N` on `PATH`, pyenv
    /// versions). A `python3.N` runtime runs on one of these when its minor
    /// version matches exactly, which is closer to Lambda than the default.
    pub other_pythons: Vec<HostInterpreter>,
    /// Host Node.js, if any.
    pub node: Option<HostInterpreter>,
}

impl HostRuntimes {
    /// The interpreter a `python3.<minor>` runtime runs on: an exact minor
    /// match if the host has one, else the default `python3`.
    pub fn python_for(&self, minor: u32) -> Option<&HostInterpreter> {
        self.python
            .iter()
            .chain(&self.other_pythons)
            .find(|p| {
                let (maj, min, _) = p.version_tuple();
                maj == 3 && min == minor
            })
            .or(self.python.as_ref())
    }

    /// One line for the server's start-up log.
    pub fn describe(&self) -> String {
        let one = |lang: &str, i: &Option<HostInterpreter>| match i {
            Some(i) => format!("{lang} {} ({})", i.version, i.executable.display()),
            None => format!("{lang} not found"),
        };
        let mut line = format!(
            "host runtimes: {}; {}",
            one("Python", &self.python),
            one("Node.js", &self.node)
        );
        if !self.other_pythons.is_empty() {
            let versions: Vec<&str> = self
                .other_pythons
                .iter()
                .map(|p| p.version.as_str())
                .collect();
            line.push_str(&format!("; also Python {}", versions.join(", ")));
        }
        line
    }
}

/// Find the host's interpreters and describe them: `python3` and `node` on
/// `PATH`, plus version-specific Pythons (`python3.9` .. `python3.14` on
/// `PATH`, and pyenv installs under `$PYENV_ROOT/versions`).
///
/// Each interpreter is asked for its own executable path and prefixes rather
/// than trusting the `PATH` entry: a pyenv shim is a shell script, and only
/// the interpreter knows where it really lives (`/root/.pyenv/versions/...`).
pub fn detect_host() -> HostRuntimes {
    let path = std::env::var_os("PATH").unwrap_or_default();

    // pyenv shims are skipped: running one costs a shell start-up and fails
    // for inactive versions; the pyenv versions dir is scanned directly.
    let mut candidates: Vec<PathBuf> = (9..=14)
        .filter_map(|minor| which(&format!("python3.{minor}"), &path))
        .filter(|p| !p.components().any(|c| c.as_os_str() == "shims"))
        .collect();
    let pyenv_root = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".pyenv")));
    if let Some(Ok(entries)) = pyenv_root.map(|r| fs::read_dir(r.join("versions"))) {
        let mut dirs: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        dirs.sort();
        candidates.extend(dirs.into_iter().map(|d| d.join("bin/python3")));
    }
    // Probe in parallel: each probe is an interpreter start-up (tens of ms).
    let (python, node, probed) = std::thread::scope(|scope| {
        let python = scope.spawn(|| which("python3", &path).and_then(|p| probe_python(&p)));
        let node = scope.spawn(|| which("node", &path).and_then(|p| probe_node(&p)));
        let others: Vec<_> = candidates
            .iter()
            .filter(|c| is_executable(c))
            .map(|c| scope.spawn(move || probe_python(c)))
            .collect();
        let probed: Vec<HostInterpreter> = others
            .into_iter()
            .filter_map(|h| h.join().ok().flatten())
            .collect();
        (
            python.join().ok().flatten(),
            node.join().ok().flatten(),
            probed,
        )
    });
    let mut other_pythons: Vec<HostInterpreter> = Vec::new();
    for py in probed {
        let (maj, min, _) = py.version_tuple();
        let known = python
            .iter()
            .chain(&other_pythons)
            .any(|p| p.executable == py.executable || p.version_tuple().1 == min);
        if maj == MIN_HOST_PYTHON.0 && min >= MIN_HOST_PYTHON.1 && !known {
            other_pythons.push(py);
        }
    }
    other_pythons.sort_by_key(|p| p.version_tuple());

    HostRuntimes {
        python,
        other_pythons,
        node,
    }
}

fn which(name: &str, path: &OsStr) -> Option<PathBuf> {
    std::env::split_paths(path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

#[cfg(unix)]
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(not(unix))]
fn is_executable(p: &Path) -> bool {
    p.is_file()
}

/// Describe the Python interpreter at `exe` (which may be a symlink or a
/// pyenv shim). `None` if it does not run or is not Python 3.
pub fn probe_python(exe: &Path) -> Option<HostInterpreter> {
    const SCRIPT: &str = "import sys\n\
        print(sys.executable)\n\
        print(sys.prefix)\n\
        print(sys.base_prefix)\n\
        print('%d.%d.%d' % sys.version_info[:3])\n";
    let out = Command::new(exe).args(["-c", SCRIPT]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let executable = fs::canonicalize(lines.next()?).ok()?;
    // sys.prefix: differs from base_prefix inside a virtual environment.
    let _prefix = lines.next()?;
    let base_prefix = PathBuf::from(lines.next()?);
    let version = lines.next()?.trim().to_owned();
    if !version.starts_with("3.") {
        return None;
    }
    // A virtual environment (prefix != base_prefix) is the operator's, not
    // the function's: the resolved executable runs outside it (no
    // pyvenv.cfg beside it), so only the base installation is bound.
    let prefixes = vec![canonical_or(base_prefix)];
    Some(HostInterpreter {
        shared_libraries: shared_libraries(&executable),
        executable,
        version,
        prefixes,
    })
}

/// Describe the Node.js interpreter at `exe`. `None` if it does not run.
pub fn probe_node(exe: &Path) -> Option<HostInterpreter> {
    let out = Command::new(exe)
        .args([
            "-e",
            "process.stdout.write(process.execPath + '\\n' + process.versions.node + '\\n')",
        ])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let executable = fs::canonicalize(lines.next()?).ok()?;
    let version = lines.next()?.trim().to_owned();
    let bin = executable.parent()?;
    let prefix = if bin.file_name() == Some(OsStr::new("bin")) {
        bin.parent().unwrap_or(bin)
    } else {
        bin
    };
    Some(HostInterpreter {
        shared_libraries: shared_libraries(&executable),
        prefixes: vec![prefix.to_path_buf()],
        executable,
        version,
    })
}

fn canonical_or(p: PathBuf) -> PathBuf {
    fs::canonicalize(&p).unwrap_or(p)
}

/// Shared libraries of `exe` according to `ldd` (empty if `ldd` is missing
/// or the binary is static).
fn shared_libraries(exe: &Path) -> Vec<PathBuf> {
    let Ok(out) = Command::new("ldd").arg(exe).output() else {
        return Vec::new();
    };
    parse_ldd(&String::from_utf8_lossy(&out.stdout))
}

fn parse_ldd(text: &str) -> Vec<PathBuf> {
    let mut libs = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        // "libfoo.so.1 => /path/libfoo.so.1 (0x...)" or "/lib64/ld-linux.so.2 (0x...)"
        let target = match line.split_once("=>") {
            Some((_, rest)) => rest.trim(),
            None => line,
        };
        let Some(path) = target.split_whitespace().next() else {
            continue;
        };
        if path.starts_with('/') {
            let p = canonical_or(PathBuf::from(path));
            if !libs.contains(&p) {
                libs.push(p);
            }
        }
    }
    libs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_supported_ids() {
        assert_eq!(
            ManagedRuntime::parse("python3.12").unwrap(),
            ManagedRuntime::Python {
                requested: "python3.12".into(),
                minor: 12
            }
        );
        for id in ["python3.9", "python3.13", "python3.14"] {
            assert_eq!(
                ManagedRuntime::parse(id).unwrap().language(),
                Language::Python
            );
        }
        for id in ["nodejs18.x", "nodejs20.x", "nodejs22.x", "nodejs24.x"] {
            assert_eq!(
                ManagedRuntime::parse(id).unwrap().language(),
                Language::Node
            );
        }
        for id in ["provided", "provided.al2", "provided.al2023"] {
            assert_eq!(
                ManagedRuntime::parse(id).unwrap().language(),
                Language::Provided
            );
        }
    }

    #[test]
    fn rejects_unsupported_ids() {
        for id in [
            "",
            "python3.8",
            "python3.15",
            "python3",
            "python3.012",
            "python2.7",
            "nodejs16.x",
            "nodejs19.x",
            "nodejs20",
            "nodejs20.x.y",
            "java21",
            "provided.al2024",
            "ruby3.3",
        ] {
            let err = ManagedRuntime::parse(id).unwrap_err();
            assert!(matches!(err, RuntimeError::Unsupported { .. }), "{id}");
            assert!(err.to_string().contains("unsupported runtime"), "{err}");
        }
    }

    fn fake_host() -> HostRuntimes {
        HostRuntimes {
            python: Some(HostInterpreter {
                executable: "/root/.pyenv/versions/3.11.7/bin/python3.11".into(),
                version: "3.11.7".into(),
                prefixes: vec!["/root/.pyenv/versions/3.11.7".into()],
                shared_libraries: vec![
                    "/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0".into(),
                    "/lib/x86_64-linux-gnu/libc.so.6".into(),
                    "/srv/weird/libz.so".into(),
                ],
            }),
            node: Some(HostInterpreter {
                executable: "/usr/bin/node".into(),
                version: "20.20.2".into(),
                prefixes: vec!["/usr".into()],
                shared_libraries: vec![],
            }),
            other_pythons: vec![],
        }
    }

    #[test]
    fn python_launch_spec() {
        let host = fake_host();
        let spec = ManagedRuntime::parse("python3.12")
            .unwrap()
            .launch_command(&host)
            .unwrap();
        assert_eq!(
            spec.argv,
            [
                "/root/.pyenv/versions/3.11.7/bin/python3.11",
                "-u",
                "-S",
                "/var/runtime/bootstrap.py"
            ]
        );
        assert!(
            spec.env
                .contains(&("AWS_EXECUTION_ENV".into(), "AWS_Lambda_python3.12".into()))
        );
        assert!(
            spec.env
                .contains(&("PYTHONPATH".into(), "/var/runtime".into()))
        );
        assert_eq!(
            spec.read_only_mounts,
            [
                PathBuf::from("/root/.pyenv/versions/3.11.7"),
                PathBuf::from("/srv/weird")
            ]
        );
        assert_eq!(
            spec.description,
            "python3.12 requested, running on host Python 3.11.7 \
             (/root/.pyenv/versions/3.11.7/bin/python3.11)"
        );
    }

    #[test]
    fn node_launch_spec() {
        let spec = ManagedRuntime::parse("nodejs22.x")
            .unwrap()
            .launch_command(&fake_host())
            .unwrap();
        assert_eq!(spec.argv[0], "/usr/bin/node");
        assert_eq!(spec.argv.last().unwrap(), "/var/runtime/bootstrap.mjs");
        assert!(spec.env.contains(&(
            "NODE_PATH".into(),
            "/opt/nodejs/node22/node_modules:/opt/nodejs/node_modules:/var/runtime/node_modules"
                .into()
        )));
        assert!(
            spec.env
                .contains(&("AWS_EXECUTION_ENV".into(), "AWS_Lambda_nodejs22.x".into()))
        );
        assert!(
            spec.read_only_mounts.is_empty(),
            "/usr is provided by the sandbox: {:?}",
            spec.read_only_mounts
        );
    }

    #[test]
    fn provided_launch_spec() {
        let spec = ManagedRuntime::parse("provided.al2023")
            .unwrap()
            .launch_command(&HostRuntimes::default())
            .unwrap();
        assert_eq!(spec.argv, ["/var/task/bootstrap"]);
        assert!(
            spec.env.is_empty(),
            "no AWS_EXECUTION_ENV for custom runtimes"
        );
        assert_eq!(spec.bootstrap_candidates.len(), 3);
        assert_eq!(
            find_custom_bootstrap(|p| p == Path::new("/opt/bootstrap")),
            Some(PathBuf::from("/opt/bootstrap"))
        );
        assert_eq!(find_custom_bootstrap(|_| false), None);
        let wrapped = spec.wrapped("/opt/wrapper");
        assert_eq!(wrapped.argv, ["/opt/wrapper", "/var/task/bootstrap"]);
    }

    #[test]
    fn missing_or_old_interpreter_is_an_error() {
        let err = ManagedRuntime::parse("nodejs20.x")
            .unwrap()
            .launch_command(&HostRuntimes::default())
            .unwrap_err();
        assert!(matches!(err, RuntimeError::InterpreterMissing { .. }));
        let mut host = fake_host();
        host.python.as_mut().unwrap().version = "3.8.18".into();
        let err = ManagedRuntime::parse("python3.9")
            .unwrap()
            .launch_command(&host)
            .unwrap_err();
        assert!(
            matches!(err, RuntimeError::InterpreterTooOld { .. }),
            "{err}"
        );
    }

    #[test]
    fn precompiled_client_bytecode_is_what_python_loads() {
        let host = detect_host();
        let py = host
            .python
            .clone()
            .expect("the tests need a host python3 on PATH");
        let dir = std::env::temp_dir().join(format!("flint-rt-pyc-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        materialize(&dir).unwrap();
        precompile_python(&dir, &host).unwrap();
        // `-v` names the file each module's code object came from.
        let probe = |dir: &Path| {
            let out = Command::new(&py.executable)
                .arg("-v")
                .arg("-c")
                .arg("import sys; sys.path.insert(0, sys.argv[1]); import _flint_bootstrap")
                .arg(dir)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .find(|l| l.contains("_flint_bootstrap") && l.contains("code object from"))
                .map(str::to_owned)
                .unwrap_or_default()
        };
        let line = probe(&dir);
        assert!(
            line.contains("__pycache__") && line.ends_with(".pyc'"),
            "{line}"
        );
        // A client that no longer matches its bytecode is compiled from
        // source, never run from the stale pyc (checked-hash pycs).
        let client = dir.join(PYTHON_CLIENT_FILE);
        fs::write(&client, format!("{PYTHON_CLIENT}\n# changed\n")).unwrap();
        let line = probe(&dir);
        assert!(
            line.ends_with("_flint_bootstrap.py") && !line.contains(".pyc"),
            "{line}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn materialize_is_idempotent() {
        let dir = std::env::temp_dir().join(format!("flint-rt-mat-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        materialize(&dir).unwrap();
        let py = dir.join(PYTHON_BOOTSTRAP_FILE);
        assert_eq!(fs::read_to_string(&py).unwrap(), PYTHON_BOOTSTRAP);
        let before = fs::metadata(&py).unwrap().modified().unwrap();
        materialize(&dir).unwrap();
        assert_eq!(fs::metadata(&py).unwrap().modified().unwrap(), before);
        fs::write(&py, "stale").unwrap();
        materialize(&dir).unwrap();
        assert_eq!(fs::read_to_string(&py).unwrap(), PYTHON_BOOTSTRAP);
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names.len(),
            RUNTIME_FILES.len(),
            "no temp files left: {names:?}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn picks_exact_python_minor_when_available() {
        let mut host = fake_host();
        let mut py312 = host.python.clone().unwrap();
        py312.version = "3.12.1".into();
        py312.executable = "/root/.pyenv/versions/3.12.1/bin/python3.12".into();
        host.other_pythons.push(py312);
        let rt = ManagedRuntime::parse("python3.12").unwrap();
        assert_eq!(
            rt.describe(&host),
            "python3.12 requested, running on host Python 3.12.1 \
             (/root/.pyenv/versions/3.12.1/bin/python3.12)"
        );
        let rt = ManagedRuntime::parse("python3.13").unwrap();
        assert!(rt.describe(&host).contains("host Python 3.11.7"));
        assert!(host.describe().ends_with("; also Python 3.12.1"));
    }

    #[test]
    fn interpreter_inside_a_sandbox_owned_dir_is_refused() {
        let mut host = fake_host();
        let py = host.python.as_mut().unwrap();
        py.executable = "/opt/python3.12/bin/python3.12".into();
        py.prefixes = vec!["/opt/python3.12".into()];
        py.shared_libraries.clear();
        let err = ManagedRuntime::parse("python3.12")
            .unwrap()
            .launch_command(&host)
            .unwrap_err();
        assert!(
            matches!(
                err,
                RuntimeError::InterpreterNotMountable { owned: "/opt", .. }
            ),
            "{err}"
        );
    }

    #[test]
    fn parses_ldd_output() {
        let text = "\tlinux-vdso.so.1 (0x00007f73ed597000)\n\
            \tlibpython3.11.so.1.0 => /nonexistent/lib/libpython3.11.so.1.0 (0x1)\n\
            \t/nonexistent64/ld-linux-x86-64.so.2 (0x2)\n";
        assert_eq!(
            parse_ldd(text),
            [
                PathBuf::from("/nonexistent/lib/libpython3.11.so.1.0"),
                PathBuf::from("/nonexistent64/ld-linux-x86-64.so.2")
            ]
        );
    }

    #[test]
    fn version_tuple() {
        let mut i = fake_host().node.unwrap();
        assert_eq!(i.version_tuple(), (20, 20, 2));
        i.version = "3.13.0rc1".into();
        assert_eq!(i.version_tuple(), (3, 13, 0));
    }
}
