//! The runtime ids flint runs and what to execute for each ([`ManagedRuntime::launch_command`]).

use crate::clients::{NODE_BOOTSTRAP_FILE, PYTHON_BOOTSTRAP_FILE};
use crate::error::RuntimeError;
use crate::host::{HostInterpreter, HostRuntimes, NODE_MAJORS, PYTHON_MINORS};
use crate::lang;
use crate::layout::{CUSTOM_BOOTSTRAP_CANDIDATES, RUNTIME_DIR, SANDBOX_OWNED_DIRS};
use std::fmt;
use std::path::{Path, PathBuf};

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
            if PYTHON_MINORS.contains(&minor) {
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
            if NODE_MAJORS.contains(&major) {
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
    ///
    /// Inside the sandbox the interpreter appears at `/var/lang` as on Lambda (`lang.rs`),
    /// with the variables Lambda's bootstrap sets (`PATH`, `LD_LIBRARY_PATH` with
    /// `/var/lang`, `PWD`, `SHLVL`; `provided.al2023` gets the paths only).
    pub fn launch_command(&self, host: &HostRuntimes) -> Result<LaunchSpec, RuntimeError> {
        let mut spec = self.launch_command_at(host, Path::new(RUNTIME_DIR))?;
        let placement = match self {
            Self::Python { minor, .. } => host.python_for(*minor).and_then(lang::python),
            Self::Node { major, .. } => host.node_for(*major).map(lang::node),
            Self::Provided { requested } => {
                if requested == "provided.al2023" {
                    spec.env.extend(lang::managed_env().into_iter().take(2));
                }
                None
            }
        };
        if let Some(placement) = placement {
            spec.argv[0] = placement.program;
            spec.read_only_mounts.extend(placement.binds);
            spec.env.extend(lang::managed_env());
        }
        Ok(spec)
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
                            version: format!("3.{minor}"),
                            available: host.versions_of("Python"),
                        })?;
                let read_only_mounts = checked_mounts(py, requested, "Python")?;
                // Older Lambda Python runtimes set PYTHONPATH to the runtime
                // dir (facts §3.6); the client itself puts LAMBDA_TASK_ROOT
                // and /opt/python first on sys.path.
                env.push(("PYTHONPATH".to_owned(), runtime_dir_s.clone()));
                // Lambda's Python 3.12+ (Amazon Linux 2023) starts in the C.UTF-8 locale.
                if *minor >= 12 {
                    env.push(("LC_CTYPE".to_owned(), "C.UTF-8".to_owned()));
                }
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
                let node =
                    host.node_for(*major)
                        .ok_or_else(|| RuntimeError::InterpreterMissing {
                            requested: requested.clone(),
                            language: "Node.js",
                            version: major.to_string(),
                            available: host.versions_of("Node.js"),
                        })?;
                let read_only_mounts = checked_mounts(node, requested, "Node.js")?;
                // Layer paths use the *requested* major: layers are built for
                // the runtime id the function declares (facts §3.6, §3.8).
                env.push((
                    "NODE_PATH".to_owned(),
                    format!(
                        "/opt/nodejs/node{major}/node_modules:/opt/nodejs/node_modules:{runtime_dir_s}/node_modules:{runtime_dir_s}:/var/task"
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
            Self::Node { major, .. } => ("Node.js", host.node_for(*major)),
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
            None => format!(
                "{} requested, but this host has no {language} of that version",
                self.id()
            ),
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
) -> Result<Vec<(PathBuf, PathBuf)>, RuntimeError> {
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
    // At the same path too: the interpreter's own references (a pyenv build's RUNPATH to its
    // libpython) keep working whatever the function sets LD_LIBRARY_PATH to.
    Ok(mounts.into_iter().map(|m| (m.clone(), m)).collect())
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
    /// Host paths the interpreter needs, bind-mounted read-only inside the sandbox: (host
    /// path, sandbox path); at the same path, and its installation at `/var/lang`.
    pub read_only_mounts: Vec<(PathBuf, PathBuf)>,
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
        let spec = ManagedRuntime::parse("python3.11")
            .unwrap()
            .launch_command(&host)
            .unwrap();
        assert_eq!(
            spec.argv,
            [
                "/var/lang/bin/python3.11",
                "-u",
                "-S",
                "/var/runtime/bootstrap.py"
            ]
        );
        // The variables Lambda's Python 3.11 starts with (its PATH and LD_LIBRARY_PATH put
        // /var/lang first); no LC_CTYPE before 3.12.
        for (k, v) in [
            (
                "PATH",
                "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
            ),
            ("PWD", "/var/task"),
            ("SHLVL", "0"),
        ] {
            assert!(
                spec.env.contains(&(k.into(), v.into())),
                "{k}: {:?}",
                spec.env
            );
        }
        assert!(spec.env.iter().all(|(k, _)| k != "LC_CTYPE"));
        assert!(
            spec.env
                .contains(&("AWS_EXECUTION_ENV".into(), "AWS_Lambda_python3.11".into()))
        );
        assert!(
            spec.env
                .contains(&("PYTHONPATH".into(), "/var/runtime".into()))
        );
        let same = |p: &str| (PathBuf::from(p), PathBuf::from(p));
        assert_eq!(
            spec.read_only_mounts,
            [
                same("/root/.pyenv/versions/3.11.7"),
                same("/srv/weird"),
                (
                    PathBuf::from("/root/.pyenv/versions/3.11.7"),
                    PathBuf::from("/var/lang")
                )
            ]
        );
        assert_eq!(
            spec.description,
            "python3.11 requested, running on host Python 3.11.7 \
             (/root/.pyenv/versions/3.11.7/bin/python3.11)"
        );
    }

    #[test]
    fn node_launch_spec() {
        let mut host = fake_host();
        host.node.as_mut().unwrap().version = "22.1.0".into();
        let spec = ManagedRuntime::parse("nodejs22.x")
            .unwrap()
            .launch_command(&host)
            .unwrap();
        assert_eq!(spec.argv[0], "/var/lang/bin/node");
        assert_eq!(spec.argv.last().unwrap(), "/var/runtime/bootstrap.mjs");
        assert!(spec.env.contains(&(
            "NODE_PATH".into(),
            "/opt/nodejs/node22/node_modules:/opt/nodejs/node_modules:/var/runtime/node_modules:\
             /var/runtime:/var/task"
                .into()
        )));
        assert!(
            spec.env
                .contains(&("AWS_EXECUTION_ENV".into(), "AWS_Lambda_nodejs22.x".into()))
        );
        assert_eq!(
            spec.read_only_mounts,
            [(
                PathBuf::from("/usr/bin/node"),
                PathBuf::from("/var/lang/bin/node")
            )],
            "only the executable: /usr is provided by the sandbox"
        );
    }

    #[test]
    fn provided_launch_spec() {
        let spec = ManagedRuntime::parse("provided.al2023")
            .unwrap()
            .launch_command(&HostRuntimes::default())
            .unwrap();
        assert_eq!(spec.argv, ["/var/task/bootstrap"]);
        let keys: Vec<&str> = spec.env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            ["PATH", "LD_LIBRARY_PATH"],
            "no AWS_EXECUTION_ENV, PWD or SHLVL for custom runtimes"
        );
        let al2 = ManagedRuntime::parse("provided.al2")
            .unwrap()
            .launch_command(&HostRuntimes::default())
            .unwrap();
        assert!(al2.env.is_empty(), "provided.al2 has no /var/lang");
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
    fn a_runtime_id_runs_only_on_its_own_version() {
        let host = fake_host();
        // python3.12 on a host with only Python 3.11: refused, naming what is missing and
        // what there is, never run on 3.11.
        let err = ManagedRuntime::parse("python3.12")
            .unwrap()
            .launch_command(&host)
            .unwrap_err();
        assert!(
            matches!(err, RuntimeError::InterpreterMissing { .. }),
            "{err}"
        );
        let message = err.to_string();
        assert!(
            message.starts_with("python3.12 requested, but this host has no Python 3.12"),
            "{message}"
        );
        assert!(
            message.ends_with("found on this host: 3.11.7)"),
            "{message}"
        );
        // nodejs22.x on Node.js 20: refused too.
        let err = ManagedRuntime::parse("nodejs22.x")
            .unwrap()
            .launch_command(&host)
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("nodejs22.x requested, but this host has no Node.js 22"),
            "{err}"
        );
        let err = ManagedRuntime::parse("nodejs20.x")
            .unwrap()
            .launch_command(&HostRuntimes::default())
            .unwrap_err();
        assert!(
            err.to_string().ends_with("found on this host: none)"),
            "{err}"
        );
    }

    #[test]
    fn version_matching_is_exact_on_major_and_minor() {
        let mut host = fake_host();
        let mut py312 = host.python.clone().unwrap();
        py312.version = "3.12.1".into();
        py312.executable = "/root/.pyenv/versions/3.12.1/bin/python3.12".into();
        host.other_pythons.push(py312);
        let mut py2 = host.python.clone().unwrap();
        py2.version = "2.12.0".into();
        host.other_pythons.push(py2);
        assert_eq!(host.python_for(12).unwrap().version, "3.12.1");
        assert_eq!(host.python_for(11).unwrap().version, "3.11.7");
        assert!(
            host.python_for(13).is_none(),
            "no 3.13, and 2.12 is not 3.12"
        );
        assert!(host.python_for(1).is_none());
        assert_eq!(host.node_for(20).unwrap().version, "20.20.2");
        for major in [18, 22, 2] {
            assert!(host.node_for(major).is_none(), "{major}");
        }
        let rt = ManagedRuntime::parse("python3.12").unwrap();
        assert_eq!(
            rt.describe(&host),
            "python3.12 requested, running on host Python 3.12.1 \
             (/root/.pyenv/versions/3.12.1/bin/python3.12)"
        );
        let line = host.describe();
        assert!(
            line.starts_with(
                "this host runs python3.11 on Python 3.11.7 \
                 (/root/.pyenv/versions/3.11.7/bin/python3.11), python3.12 on Python 3.12.1"
            ),
            "{line}"
        );
        assert!(
            line.contains("nodejs20.x on Node.js 20.20.2 (/usr/bin/node)"),
            "{line}"
        );
        assert!(
            line.contains("; it cannot run python3.9 (no Python 3.9), python3.10"),
            "{line}"
        );
        assert!(line.ends_with("nodejs24.x (no Node.js 24)"), "{line}");
    }

    #[test]
    fn interpreter_inside_a_sandbox_owned_dir_is_refused() {
        let mut host = fake_host();
        let py = host.python.as_mut().unwrap();
        py.executable = "/opt/python3.12/bin/python3.12".into();
        py.prefixes = vec!["/opt/python3.12".into()];
        py.shared_libraries.clear();
        py.version = "3.12.1".into();
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
}
