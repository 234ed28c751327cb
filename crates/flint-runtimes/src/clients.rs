//! flint's runtime clients: the embedded scripts, written into the runtime dir
//! ([`materialize`]) and the Python client's bytecode compiled there ([`precompile_python`]).

use crate::host::HostRuntimes;
use std::fs;
use std::io::{self, Write};
use std::path::Path;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::detect_host;

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
}
