//! Where a managed runtime's interpreter appears inside the sandbox, and the variables
//! Lambda's runtime bootstrap sets around it.
//!
//! On Lambda the language runtime lives in `/var/lang` (`/var/lang/bin/python3.12`,
//! `/var/lang/lib/python3.12/...`, `/var/lang/bin/node`): that is what `sys.executable`,
//! `process.execPath` and every traceback show. flint binds the host interpreter's
//! installation there, so a function never sees the host's path (a pyenv directory, say).

use crate::host::HostInterpreter;
use crate::layout::LANG_DIR;
use std::path::{Path, PathBuf};

/// `PATH` of the managed runtimes and `provided.al2023` (recorded from AWS).
pub(crate) const LANG_PATH: &str = "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin";
/// `LD_LIBRARY_PATH` of the managed runtimes and `provided.al2023` (recorded from AWS).
pub(crate) const LANG_LD_LIBRARY_PATH: &str = "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib";

/// How the interpreter is placed in the sandbox: the program to execute and the binds
/// (host path, sandbox path) that make it appear there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Placement {
    pub program: String,
    pub binds: Vec<(PathBuf, PathBuf)>,
}

/// A Python installation: its prefix becomes `/var/lang` (Python finds its standard library
/// from where its executable is, so `sys.prefix` is `/var/lang`). `None` when the executable
/// is not inside the prefix (then it stays where it is).
pub(crate) fn python(interp: &HostInterpreter) -> Option<Placement> {
    let prefix = interp.prefixes.first()?;
    let relative = interp.executable.strip_prefix(prefix).ok()?;
    Some(Placement {
        program: Path::new(LANG_DIR)
            .join(relative)
            .to_string_lossy()
            .into_owned(),
        binds: vec![(prefix.clone(), PathBuf::from(LANG_DIR))],
    })
}

/// Node.js is one executable (its libraries are the system's): it becomes
/// `/var/lang/bin/node`.
pub(crate) fn node(interp: &HostInterpreter) -> Placement {
    let program = format!("{LANG_DIR}/bin/node");
    Placement {
        binds: vec![(interp.executable.clone(), PathBuf::from(&program))],
        program,
    }
}

/// The variables Lambda's managed runtimes start with besides the platform's: `PATH` and
/// `LD_LIBRARY_PATH` with `/var/lang` first, and `PWD`/`SHLVL` (its bootstrap is a shell
/// script that `exec`s the runtime).
pub(crate) fn managed_env() -> Vec<(String, String)> {
    [
        ("PATH", LANG_PATH),
        ("LD_LIBRARY_PATH", LANG_LD_LIBRARY_PATH),
        ("PWD", "/var/task"),
        ("SHLVL", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interp(exe: &str, prefix: &str) -> HostInterpreter {
        HostInterpreter {
            executable: exe.into(),
            version: "3.12.1".into(),
            prefixes: vec![prefix.into()],
            shared_libraries: vec![],
        }
    }

    #[test]
    fn python_prefix_becomes_var_lang() {
        let p = python(&interp(
            "/root/.pyenv/versions/3.12.1/bin/python3.12",
            "/root/.pyenv/versions/3.12.1",
        ))
        .unwrap();
        assert_eq!(p.program, "/var/lang/bin/python3.12");
        assert_eq!(
            p.binds,
            [(
                PathBuf::from("/root/.pyenv/versions/3.12.1"),
                PathBuf::from("/var/lang")
            )]
        );
        assert_eq!(python(&interp("/usr/bin/python3", "/opt/py")), None);
    }

    #[test]
    fn node_becomes_var_lang_bin_node() {
        let p = node(&interp("/usr/bin/node", "/usr"));
        assert_eq!(p.program, "/var/lang/bin/node");
        assert_eq!(
            p.binds,
            [(
                PathBuf::from("/usr/bin/node"),
                PathBuf::from("/var/lang/bin/node")
            )]
        );
    }
}
