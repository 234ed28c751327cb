//! Unisolated development mode: an "environment" that is a plain child process.
//!
//! For hosts that cannot sandbox (no root and no user namespaces, no seccomp, ...), where the
//! operator explicitly chose to run functions without isolation. What is kept from a real
//! environment: the function's own process group (a timeout or teardown kills the whole
//! group, not only the runtime), exactly the environment variables it was given (nothing is
//! inherited from flint), a private `/tmp` stand-in under the operator's data directory that
//! is removed on destroy, and a Runtime API listener of its own (on an ephemeral loopback
//! port, since there is no network namespace to bind `127.0.0.1:9001` in). What is not: any
//! file-system, pid, network or privilege separation, seccomp, and resource limits. The
//! function runs as flint's own user and can read and write whatever flint can.
//!
//! The function's view of paths is translated to host paths: `/var/task`, `/var/runtime`,
//! `/opt`, `/tmp` and the targets of binds elsewhere than their host path (`/var/lang`) in
//! `argv` and in the environment become the host directories behind
//! them (see [`rewrite_paths`]).

use std::net::TcpListener;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{Result, SandboxError};
use crate::memory_files::vm_hwm_bytes;
use crate::spec::SandboxSpec;
use crate::sys::linux_host;
use crate::sys::seam::{HostSys, LINUX};

/// What a plain-process environment owns beyond its pid: its process group and its `/tmp`.
#[derive(Debug)]
pub(crate) struct PlainParts {
    /// Process group id (= the function's pid: it leads its own group).
    pub pgid: i32,
    /// The environment's `/tmp` stand-in, removed on teardown.
    pub tmp_dir: PathBuf,
}

impl PlainParts {
    /// Kills every process of the group (the function and whatever it started that stayed in
    /// its group). `ESRCH` (all gone already) is not an error.
    pub(crate) fn kill_group(&self, sys: &dyn HostSys) -> Result<()> {
        match sys.kill(-self.pgid, libc::SIGKILL) {
            Err(e) if e.raw_os_error() != Some(libc::ESRCH) => Err(SandboxError::Sys {
                op: "kill",
                source: e,
            }),
            _ => Ok(()),
        }
    }

    /// Removes the `/tmp` stand-in.
    pub(crate) fn remove_tmp(&self) -> Result<()> {
        match std::fs::remove_dir_all(&self.tmp_dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(SandboxError::io("rmdir", &self.tmp_dir, e)),
        }
    }
}

/// Replaces the sandbox paths in `value` by host paths. A sandbox path is replaced only as a
/// whole path component sequence at the start of a path: at the start of `value` or after `:`
/// or `=` (path lists such as `LD_LIBRARY_PATH`, `--opt=/var/task/x`), and only when followed
/// by the end, `/` or `:`. So `/var/task/lib` → `<task>/lib`, but `/var/taskforce` and
/// `/usr/var/task` stay as they are.
pub(crate) fn rewrite_paths(value: &str, map: &[(&str, &Path)]) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    let mut at_path_start = true;
    'outer: while !rest.is_empty() {
        if at_path_start {
            for (from, to) in map {
                if let Some(after) = rest.strip_prefix(from)
                    && (after.is_empty() || after.starts_with('/') || after.starts_with(':'))
                {
                    out.push_str(&to.to_string_lossy());
                    rest = after;
                    at_path_start = false;
                    continue 'outer;
                }
            }
        }
        let c = rest.chars().next().expect("rest is not empty");
        out.push(c);
        rest = &rest[c.len_utf8()..];
        at_path_start = c == ':' || c == '=';
    }
    out
}

/// Peak resident set of process `pid` (`VmHWM`), the closest a plain process has to a
/// cgroup's peak memory: it counts the runtime process only, not what it started.
pub(crate) fn peak_rss_bytes(pid: i32) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).map_err(|e| SandboxError::io("read", &path, e))?;
    vm_hwm_bytes(&status).ok_or_else(|| SandboxError::Unsupported(format!("no VmHWM in {path}")))
}

/// A spawned plain process and what the [`crate::Sandbox`] wrapping it needs.
pub(crate) struct Spawned {
    pub pid: i32,
    pub pidfd: OwnedFd,
    pub listener: Option<TcpListener>,
    pub parts: PlainParts,
}

/// Starts the spec's command as a plain child process (see the module docs). `tmp_root` is
/// where the environments' `/tmp` stand-ins are created.
pub(crate) fn spawn(spec: SandboxSpec, tmp_root: &Path) -> Result<Spawned> {
    spec.validate()?;
    let tmp_dir = tmp_root.join(&spec.id);
    std::fs::create_dir_all(&tmp_dir).map_err(|e| SandboxError::io("mkdir", &tmp_dir, e))?;
    let cleanup = |e: SandboxError| {
        let _ = std::fs::remove_dir_all(&tmp_dir);
        e
    };
    let empty = tmp_dir.join(".empty");
    let opt = spec.opt_dir.clone().unwrap_or_else(|| empty.clone());
    let runtime = spec.runtime_dir.clone().unwrap_or_else(|| empty.clone());
    let mut map: Vec<(&str, &Path)> = vec![
        ("/var/task", &spec.task_dir),
        ("/var/runtime", &runtime),
        ("/opt", &opt),
        ("/tmp", &tmp_dir),
    ];
    // Binds elsewhere than their host path (a managed runtime's interpreter at /var/lang):
    // the host path is what exists here.
    for (host, sandbox) in &spec.extra_ro_binds {
        if host != sandbox
            && let Some(sandbox) = sandbox.to_str()
        {
            map.push((sandbox, host));
        }
    }

    let listener = match spec.runtime_api_port {
        Some(_) => Some(TcpListener::bind(("127.0.0.1", 0)).map_err(|e| {
            cleanup(SandboxError::Sys {
                op: "bind",
                source: e,
            })
        })?),
        None => None,
    };
    let mut env: Vec<(String, String)> = spec
        .env
        .iter()
        .filter(|(k, _)| k != "AWS_LAMBDA_RUNTIME_API")
        .map(|(k, v)| (k.clone(), rewrite_paths(v, &map)))
        .collect();
    if let Some(l) = &listener {
        let addr = l.local_addr().map_err(|e| {
            cleanup(SandboxError::Sys {
                op: "getsockname",
                source: e,
            })
        })?;
        env.push(("AWS_LAMBDA_RUNTIME_API".into(), addr.to_string()));
    }
    env.push(("TMPDIR".into(), tmp_dir.to_string_lossy().into_owned()));
    // flint's Python client puts the layers' `/opt/python` on `sys.path` itself: it learns the
    // host directory from this variable (and removes it from the function's environment), so
    // the host's own `/opt` is never on a function's path.
    env.push(("_FLINT_OPT_DIR".into(), opt.to_string_lossy().into_owned()));
    let argv: Vec<String> = spec.argv.iter().map(|a| rewrite_paths(a, &map)).collect();
    let cwd = rewrite_paths(&spec.cwd, &map);

    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .env_clear()
        .envs(env)
        .current_dir(&cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::from(spec.stdout))
        .stderr(Stdio::from(spec.stderr))
        // Its own process group, so that a kill reaches everything it started.
        .process_group(0);
    // Die with flint (the spawner thread, which lives as long as flint), as a sandbox's init
    // does; if flint is already gone, do not start at all.
    linux_host::die_with_spawning_thread(&mut cmd);
    let child = cmd.spawn().map_err(|e| {
        cleanup(SandboxError::ChildSetup {
            step: "exec",
            detail: argv[0].clone(),
            source: e,
        })
    })?;
    let pid = child.id() as i32;
    // The std handle is dropped without waiting: the process is reaped through its pidfd
    // (waitid(P_PIDFD)) like a sandbox's init.
    drop(child);
    let pidfd = match linux_host::pidfd_open(pid) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = LINUX.kill(-pid, libc::SIGKILL);
            return Err(cleanup(SandboxError::Sys {
                op: "pidfd_open",
                source: e,
            }));
        }
    };
    Ok(Spawned {
        pid,
        pidfd,
        listener,
        parts: PlainParts { pgid: pid, tmp_dir },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_rss_is_read_from_vm_hwm() {
        let status = "Name:\tpython3\nVmPeak:\t  30000 kB\nVmHWM:\t   12345 kB\nVmRSS:\t 1 kB\n";
        assert_eq!(vm_hwm_bytes(status), Some(12345 * 1024));
        assert_eq!(vm_hwm_bytes("Name:\tx\n"), None);
        assert_eq!(vm_hwm_bytes("VmHWM:\t12 MB\n"), None);
        // Our own process has one.
        assert!(peak_rss_bytes(std::process::id() as i32).unwrap() > 0);
    }

    #[test]
    fn sandbox_paths_become_host_paths_only_as_whole_components() {
        let task = Path::new("/data/code/abc");
        let rt = Path::new("/data/runtime");
        let tmp = Path::new("/data/tmp/env-1");
        let map: [(&str, &Path); 3] = [("/var/task", task), ("/var/runtime", rt), ("/tmp", tmp)];
        assert_eq!(
            rewrite_paths("/var/task/bootstrap", &map),
            "/data/code/abc/bootstrap"
        );
        assert_eq!(rewrite_paths("/var/task", &map), "/data/code/abc");
        assert_eq!(
            rewrite_paths("/lib64:/var/runtime:/var/runtime/lib:/var/task/lib", &map),
            "/lib64:/data/runtime:/data/runtime/lib:/data/code/abc/lib"
        );
        assert_eq!(rewrite_paths("--x=/tmp/a", &map), "--x=/data/tmp/env-1/a");
        // Not a whole component, or not at the start of a path: unchanged.
        assert_eq!(rewrite_paths("/var/taskforce", &map), "/var/taskforce");
        assert_eq!(rewrite_paths("/usr/var/task", &map), "/usr/var/task");
        assert_eq!(rewrite_paths("app.handler", &map), "app.handler");
        assert_eq!(rewrite_paths("", &map), "");
        assert_eq!(
            rewrite_paths("ünïcode:/tmp", &map),
            "ünïcode:/data/tmp/env-1"
        );
    }
}
