//! The interpreters on the host: finding them, asking each where it really lives, and the
//! host directories a sandbox must mount for it.

use crate::layout::SYSTEM_DIRS;
use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Oldest host Python the Python client is written for.
pub const MIN_HOST_PYTHON: (u32, u32) = (3, 9);
/// The minor versions of the `python3.N` runtime ids flint accepts.
pub const PYTHON_MINORS: std::ops::RangeInclusive<u32> = 9..=14;
/// The major versions of the `nodejsN.x` runtime ids flint accepts.
pub const NODE_MAJORS: [u32; 4] = [18, 20, 22, 24];

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
    /// Every Python found, the default first.
    pub fn pythons(&self) -> impl Iterator<Item = &HostInterpreter> {
        self.python.iter().chain(&self.other_pythons)
    }

    /// The interpreter a `python3.<minor>` runtime runs on: a Python 3.<minor>, or none.
    /// A runtime id never runs on another version (Lambda's `python3.14` is Python 3.14: a
    /// function written for it may use syntax or modules an older Python lacks).
    pub fn python_for(&self, minor: u32) -> Option<&HostInterpreter> {
        self.pythons().find(|p| {
            let (maj, min, _) = p.version_tuple();
            maj == 3 && min == minor
        })
    }

    /// The interpreter a `nodejs<major>.x` runtime runs on: a Node.js <major>, or none.
    pub fn node_for(&self, major: u32) -> Option<&HostInterpreter> {
        self.node.iter().find(|n| n.version_tuple().0 == major)
    }

    /// The versions of `language` ("Python" / "Node.js") this host has, for error messages
    /// (`3.11.7, 3.12.1`, or `none`).
    pub fn versions_of(&self, language: &str) -> String {
        let versions: Vec<&str> = match language {
            "Python" => self.pythons().map(|p| p.version.as_str()).collect(),
            _ => self.node.iter().map(|n| n.version.as_str()).collect(),
        };
        if versions.is_empty() {
            "none".to_owned()
        } else {
            versions.join(", ")
        }
    }

    /// One line for the server's start-up log: which runtime ids this host can run, on
    /// which interpreter, and which it cannot.
    pub fn describe(&self) -> String {
        let mut can = Vec::new();
        let mut cannot = Vec::new();
        for minor in PYTHON_MINORS {
            match self.python_for(minor) {
                Some(p) => can.push(format!(
                    "python3.{minor} on Python {} ({})",
                    p.version,
                    p.executable.display()
                )),
                None => cannot.push(format!("python3.{minor} (no Python 3.{minor})")),
            }
        }
        for major in NODE_MAJORS {
            match self.node_for(major) {
                Some(n) => can.push(format!(
                    "nodejs{major}.x on Node.js {} ({})",
                    n.version,
                    n.executable.display()
                )),
                None => cannot.push(format!("nodejs{major}.x (no Node.js {major})")),
            }
        }
        can.push("provided, provided.al2, provided.al2023 (the function's bootstrap)".into());
        let mut line = format!("this host runs {}", can.join(", "));
        if !cannot.is_empty() {
            line.push_str(&format!("; it cannot run {}", cannot.join(", ")));
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
    let mut candidates: Vec<PathBuf> = PYTHON_MINORS
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
        let mut i = HostInterpreter {
            executable: "/usr/bin/node".into(),
            version: "20.20.2".into(),
            prefixes: vec!["/usr".into()],
            shared_libraries: vec![],
        };
        assert_eq!(i.version_tuple(), (20, 20, 2));
        i.version = "3.13.0rc1".into();
        assert_eq!(i.version_tuple(), (3, 13, 0));
    }
}
