//! End-to-end isolation tests. Those that spawn need root (namespaces, cgroups), so they are
//! `#[ignore]`d with that reason: `cargo test -- --include-ignored` as root runs them (as
//! `scripts/test` does). They run in parallel threads of one process, which also exercises
//! spawning from a multi-threaded parent.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use flint_sandbox::{
    CgroupFlavor, ExitStatus, NetworkMode, Sandbox, SandboxSpec, Sandboxer, SandboxerConfig,
};

fn sandboxer() -> &'static Sandboxer {
    static S: OnceLock<Sandboxer> = OnceLock::new();
    S.get_or_init(|| {
        let cfg = SandboxerConfig {
            state_dir: "/run/flint-sandbox-test".into(),
            cgroup_parent: "flint-test".into(),
            ..Default::default()
        };
        Sandboxer::new(cfg).expect("sandboxer")
    })
}

fn unique_id(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "t-{}-{tag}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn task_dir() -> PathBuf {
    static D: OnceLock<PathBuf> = OnceLock::new();
    D.get_or_init(|| {
        let d = std::env::temp_dir().join("flint-sbx-test-task");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("handler.txt"), "code").unwrap();
        d
    })
    .clone()
}

/// Polls `cond` every 10 ms until it holds or `secs` pass (tests must not depend on how
/// fast a loaded machine schedules the sandbox).
fn wait_until(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

/// Host pids of the children of `pid`.
fn children(pid: i32) -> Vec<i32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Output collected from a pipe by a background thread.
struct Output(JoinHandle<String>);

impl Output {
    fn get(self) -> String {
        self.0.join().unwrap()
    }
}

fn capture() -> (OwnedFd, Output) {
    let (mut r, w) = std::io::pipe().unwrap();
    let h = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = r.read_to_string(&mut s);
        s
    });
    (OwnedFd::from(w), Output(h))
}

fn spec_for(tag: &str, argv: &[&str]) -> (SandboxSpec, Output, Output) {
    let (o, out) = capture();
    let (e, err) = capture();
    let mut spec = SandboxSpec::new(
        unique_id(tag),
        task_dir(),
        argv.iter().map(|s| s.to_string()).collect(),
        o,
        e,
    );
    spec.env = flint_sandbox::lambda_base_env();
    (spec, out, err)
}

fn start(
    tag: &str,
    argv: &[&str],
    tweak: impl FnOnce(&mut SandboxSpec),
) -> (Sandbox, Output, Output) {
    let (mut spec, out, err) = spec_for(tag, argv);
    tweak(&mut spec);
    let sb = sandboxer().spawn(spec).expect("spawn");
    (sb, out, err)
}

fn run(
    tag: &str,
    argv: &[&str],
    tweak: impl FnOnce(&mut SandboxSpec),
) -> (ExitStatus, String, String) {
    let (mut sb, out, err) = start(tag, argv, tweak);
    let st = sb
        .wait_timeout(Duration::from_secs(60))
        .unwrap()
        .expect("sandbox did not exit in 60 s");
    sb.destroy().unwrap();
    (st, out.get(), err.get())
}

fn sh(tag: &str, script: &str) -> (ExitStatus, String, String) {
    run(tag, &["/bin/sh", "-c", script], |_| {})
}

#[test]
#[ignore = "needs root: scripts/test runs it with --include-ignored"]
fn host_secrets_and_other_dirs_are_absent() {
    let (st, out, err) = sh(
        "secrets",
        "cat /etc/shadow; for p in /etc/shadow /etc/gshadow /etc/ssl/private /work /root /home /run /var/lib /sys; do test -e $p && echo PRESENT $p; done; ls /var/task; echo done",
    );
    assert_eq!(st, ExitStatus::Exited(0), "{err}");
    assert!(err.contains("/etc/shadow: No such file"), "{err}");
    assert!(!out.contains("PRESENT"), "{out}");
    assert!(out.contains("handler.txt") && out.contains("done"), "{out}");
}

#[test]
#[ignore = "needs root: scripts/test runs it with --include-ignored"]
fn pid_namespace_hides_host_processes() {
    let (st, out, err) = sh(
        "pidns",
        "echo pid=$$ ppid=$PPID; ls /proc | grep -E '^[0-9]+$' | tr '\\n' ' '",
    );
    assert_eq!(st, ExitStatus::Exited(0), "{err}");
    assert!(out.contains("pid=2 ppid=1"), "{out}");
    let pids: Vec<u32> = out
        .lines()
        .nth(1)
        .unwrap_or("")
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    // init (1), sh (2), ls and grep (and maybe tr): nothing from the host.
    assert!(pids.contains(&1) && pids.contains(&2), "{pids:?}");
    assert!(pids.iter().all(|p| *p < 10), "{pids:?}");
}

#[test]
#[ignore = "needs root: scripts/test runs it with --include-ignored"]
fn only_tmp_is_writable() {
    let (st, out, err) = sh(
        "ro",
        "for p in /var/task/x /x /usr/x /etc/x /opt/x /var/runtime/x; do touch $p 2>/dev/null && echo WROTE $p; done; echo hi > /tmp/f && cat /tmp/f",
    );
    assert_eq!(st, ExitStatus::Exited(0), "{err}");
    assert!(!out.contains("WROTE"), "{out}");
    assert!(out.contains("hi"), "{out}");
    assert!(!task_dir().join("x").exists());
}

#[test]
#[ignore = "needs root: scripts/test runs it with --include-ignored"]
fn tmp_is_limited_to_tmp_size() {
    let (st, out, err) = run(
        "tmpfull",
        &[
            "/bin/sh",
            "-c",
            "dd if=/dev/zero of=/tmp/big bs=1M count=20; du -m /tmp/big",
        ],
        |s| s.tmp_size_mb = 8,
    );
    assert_eq!(st, ExitStatus::Exited(0), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(out.trim_start().starts_with('8'), "{out}");
}

#[test]
#[ignore = "needs root: scripts/test runs it with --include-ignored"]
fn runs_unprivileged_with_no_capabilities() {
    let (st, out, err) = sh(
        "creds",
        "id -u; id -g; grep -E '^(Cap|NoNewPrivs|Seccomp)' /proc/self/status",
    );
    assert_eq!(st, ExitStatus::Exited(0), "{err}");
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("993"));
    assert_eq!(lines.next(), Some("990"));
    for cap in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert!(
            out.contains(&format!("{cap}:\t0000000000000000")),
            "{cap} not empty: {out}"
        );
    }
    assert!(out.contains("NoNewPrivs:\t1"), "{out}");
    assert!(out.contains("Seccomp:\t2"), "{out}");
}

const PY: &str = "/usr/bin/python3";

#[test]
#[ignore = "needs root: scripts/test runs it with --include-ignored"]
fn seccomp_refuses_mount_ptrace_unshare() {
    let script = r#"
import ctypes, os, subprocess
libc = ctypes.CDLL(None, use_errno=True)
def call(name, *args):
    r = getattr(libc, name)(*args)
    return r, ctypes.get_errno()
print("mount", *call("mount", b"none", b"/tmp", b"tmpfs", 0, None))
print("ptrace", *call("ptrace", 0, 0, None, None))         # PTRACE_TRACEME: allowed without seccomp
print("unshare", *call("unshare", 0x10000000))             # CLONE_NEWUSER: allowed without seccomp
print("setns", *call("setns", 0, 0))
pid = os.fork()
if pid == 0:
    os._exit(3)
print("fork", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
print("spawn", subprocess.run(["/bin/true"]).returncode)
"#;
    let (st, out, err) = run("seccomp", &[PY, "-c", script], |_| {});
    assert_eq!(st, ExitStatus::Exited(0), "{err}");
    for name in ["mount", "ptrace", "unshare", "setns"] {
        assert!(
            out.contains(&format!("{name} -1 1\n")),
            "{name} not EPERM: {out}"
        );
    }
    assert!(out.contains("fork 3"), "fork must keep working: {out}");
    assert!(
        out.contains("spawn 0"),
        "posix_spawn (clone3 -> ENOSYS -> clone) must work: {out}"
    );
}

#[test]
#[ignore = "needs root: scripts/test runs it with --include-ignored"]
fn cannot_reach_host_loopback() {
    let host = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = host.local_addr().unwrap().port();
    let script = format!(
        "import socket\ns = socket.socket(); s.settimeout(2)\ntry:\n    s.connect(('127.0.0.1', {port})); print('CONNECTED')\nexcept OSError as e:\n    print('refused', e.errno)\n"
    );
    let (st, out, err) = run("noloop", &[PY, "-c", &script], |_| {});
    assert_eq!(st, ExitStatus::Exited(0), "{err}");
    assert!(out.contains("refused 111"), "{out}");
    // And the sandbox sees only lo.
    let (_, out, _) = sh("links", "cat /proc/net/dev | tail -n +3 | cut -d: -f1");
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        vec!["lo"],
        "{out}"
    );
}

#[test]
#[ignore = "needs root: scripts/test runs it with --include-ignored"]
fn host_network_mode_reaches_host_loopback() {
    let host = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = host.local_addr().unwrap().port();
    let script = format!(
        "import socket\ns = socket.create_connection(('127.0.0.1', {port}), 2); print('CONNECTED')\n"
    );
    let (st, out, err) = run("hostnet", &[PY, "-c", &script], |s| {
        s.network = NetworkMode::Host
    });
    assert_eq!(st, ExitStatus::Exited(0), "{err}");
    assert!(out.contains("CONNECTED"), "{out}");
}

#[test]
#[ignore = "needs root: scripts/test runs it with --include-ignored"]
fn runtime_api_listener_inside_the_sandbox() {
    let script = r#"
import os, urllib.request
url = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/next"
print(urllib.request.urlopen(url, timeout=5).read().decode())
"#;
    let (mut spec, out, err) = spec_for("rapi", &[PY, "-c", script]);
    spec.runtime_api_port = Some(9001);
    let mut sb = sandboxer().spawn(spec).unwrap();
    let listener = sb.take_runtime_api_listener().expect("listener");
    assert!(sb.take_runtime_api_listener().is_none());
    assert_eq!(listener.local_addr().unwrap().to_string(), "127.0.0.1:9001");
    let server = std::thread::spawn(move || {
        let (mut c, _) = listener.accept().unwrap();
        let mut req = [0u8; 1024];
        let n = c.read(&mut req).unwrap();
        let req = String::from_utf8_lossy(&req[..n]).into_owned();
        c.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 16\r\n\r\nhello-from-flint")
            .unwrap();
        req
    });
    let st = sb
        .wait_timeout(Duration::from_secs(30))
        .unwrap()
        .expect("exit");
    let req = server.join().unwrap();
    sb.destroy().unwrap();
    assert_eq!(st, ExitStatus::Exited(0), "{}", err.get());
    assert!(
        req.starts_with("GET /2018-06-01/runtime/invocation/next"),
        "{req}"
    );
    assert!(out.get().contains("hello-from-flint"));
}

#[test]
#[ignore = "needs root: scripts/test runs it with --include-ignored"]
fn oom_is_killed_and_reported() {
    let script = "a = []\nwhile True: a.append(bytearray(1 << 20))";
    let (mut sb, _out, err) = start("oom", &[PY, "-c", script], |s| s.memory_mb = 48);
    let st = sb
        .wait_timeout(Duration::from_secs(60))
        .unwrap()
        .expect("exit");
    assert_eq!(st, ExitStatus::Signaled(libc::SIGKILL), "{}", err.get());
    assert!(sb.oom_killed().unwrap());
    let peak = sb.memory_peak_bytes().unwrap();
    assert!((40 << 20..=48 << 20).contains(&peak), "peak {peak}");
    sb.destroy().unwrap();
}

#[test]
#[ignore = "needs root: scripts/test runs it with --include-ignored"]
fn memory_peak_tracks_usage() {
    let (mut sb, _o, err) = start(
        "peak",
        &[
            PY,
            "-c",
            "a = bytearray(60 << 20)\nfor i in range(0, len(a), 4096): a[i] = 1",
        ],
        |s| s.memory_mb = 256,
    );
    assert_eq!(sb.wait().unwrap(), ExitStatus::Exited(0), "{}", err.get());
    let peak = sb.memory_peak_bytes().unwrap();
    assert!((60 << 20..200 << 20).contains(&peak), "peak {peak}");
    assert!(!sb.oom_killed().unwrap());
    sb.destroy().unwrap();
}

#[test]
#[ignore = "needs root: scripts/test runs it with --include-ignored"]
fn fork_bomb_is_contained_by_pids_max() {
    let (sb, _o, err) = start(
        "bomb",
        &["/bin/sh", "-c", "b() { b | b & }; b; sleep 30"],
        |s| s.pids_max = 32,
    );
    let read_events = || {
        std::fs::read_to_string(format!(
            "/sys/fs/cgroup/pids/flint-test/{}/pids.events",
            sb.id()
        ))
        .or_else(|_| {
            std::fs::read_to_string(format!("/sys/fs/cgroup/flint-test/{}/pids.events", sb.id()))
        })
        .unwrap()
    };
    let max_hits = |e: &str| -> u64 { e.split_whitespace().nth(1).unwrap().parse().unwrap() };
    wait_until(10, || max_hits(&read_events()) > 0);
    let events = read_events();
    let current = std::fs::read_to_string(format!(
        "/sys/fs/cgroup/pids/flint-test/{}/pids.current",
        sb.id()
    ))
    .unwrap_or_default();
    let t = Instant::now();
    sb.destroy().unwrap();
    assert!(t.elapsed() < Duration::from_secs(5));
    let hit = max_hits(&events);
    assert!(hit > 0, "pids.max never hit: {events} current={current}");
    assert!(current.trim().parse::<u64>().unwrap_or(0) <= 32);
    let _ = err.get();
    // The host keeps working.
    assert!(
        std::process::Command::new("/bin/true")
            .status()
            .unwrap()
            .success()
    );
}

#[test]
#[ignore = "needs root: scripts/test runs it with --include-ignored"]
fn destroy_leaves_nothing_behind() {
    let (sb, _o, _e) = start(
        "cleanup",
        &["/bin/sh", "-c", "sleep 100 & sleep 100"],
        |_| {},
    );
    let id = sb.id().to_owned();
    let pid = sb.pid();
    let cg_dirs: Vec<PathBuf> = match sandboxer().host().cgroup.clone() {
        CgroupFlavor::V1 {
            memory,
            cpu,
            pids,
            freezer,
        } => [memory, cpu, pids, freezer]
            .iter()
            .map(|c| c.join("flint-test").join(&id))
            .collect(),
        CgroupFlavor::V2 { root, .. } => vec![root.join("flint-test").join(&id)],
        CgroupFlavor::None { .. } => unreachable!(),
    };
    let read_procs = || -> Vec<i32> {
        std::fs::read_to_string(cg_dirs[0].join("cgroup.procs"))
            .unwrap()
            .lines()
            .map(|l| l.parse().unwrap())
            .collect()
    };
    wait_until(10, || read_procs().len() >= 3);
    let procs = read_procs();
    assert!(procs.len() >= 3, "init, sh and the sleeps: {procs:?}");
    assert!(cg_dirs.iter().all(|d| d.is_dir()));
    sb.destroy().unwrap();
    for p in procs.iter().chain([&pid]) {
        assert!(
            !Path::new(&format!("/proc/{p}")).exists(),
            "process {p} survived"
        );
    }
    for d in &cg_dirs {
        assert!(!d.exists(), "{} survived", d.display());
    }
    // Other tests' spawns mount their /tmp on the host until their root is built
    // (`ephemeral.rs`); this one's must be gone, and nothing else may be there.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let leaked: Vec<&str> = mounts
        .lines()
        .filter(|l| l.contains("flint-sandbox-test"))
        .filter(|l| l.contains(&id) || !l.contains("flint-sandbox-test/ephemeral/"))
        .collect();
    assert!(
        leaked.is_empty(),
        "a sandbox mount leaked to the host: {leaked:?}"
    );
    let state: Vec<_> = std::fs::read_dir("/run/flint-sandbox-test/roots")
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        state.iter().all(|n| !n.to_string_lossy().contains(&id)),
        "{state:?}"
    );
}

#[test]
#[ignore = "needs root: scripts/test runs it with --include-ignored"]
fn drop_cleans_up_too() {
    let (sb, _o, _e) = start("drop", &["/bin/sleep", "100"], |_| {});
    let (pid, id) = (sb.pid(), sb.id().to_owned());
    drop(sb);
    assert!(!Path::new(&format!("/proc/{pid}")).exists());
    assert!(
        !Path::new("/sys/fs/cgroup/pids/flint-test")
            .join(id)
            .exists()
    );
}

#[test]
#[ignore = "needs root: scripts/test runs it with --include-ignored"]
fn freeze_and_thaw() {
    let (o, out) = {
        let (mut r, w) = std::io::pipe().unwrap();
        let count = Arc::new(Mutex::new(0usize));
        let c2 = count.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 256];
            while let Ok(n) = r.read(&mut buf) {
                if n == 0 {
                    break;
                }
                *c2.lock().unwrap() += buf[..n].iter().filter(|b| **b == b'\n').count();
            }
        });
        (OwnedFd::from(w), count)
    };
    let (e, _err) = capture();
    let spec = SandboxSpec::new(
        unique_id("freeze"),
        task_dir(),
        vec![
            "/bin/sh".into(),
            "-c".into(),
            "while :; do echo x; sleep 0.01; done".into(),
        ],
        o,
        e,
    );
    let sb = sandboxer().spawn(spec).unwrap();
    assert!(
        wait_until(10, || *out.lock().unwrap() > 0),
        "no output at all"
    );
    let t = Instant::now();
    sb.freeze()
        .unwrap_or_else(|e| panic!("freeze after {:?}: {e}", t.elapsed()));
    std::thread::sleep(Duration::from_millis(50));
    let before = *out.lock().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let frozen = *out.lock().unwrap();
    sb.thaw().unwrap();
    wait_until(10, || *out.lock().unwrap() > frozen);
    let after = *out.lock().unwrap();
    // Destroying a frozen environment must work as well.
    sb.freeze().unwrap();
    sb.destroy().unwrap();
    assert!(before > 0);
    assert_eq!(before, frozen, "output while frozen");
    assert!(after > frozen, "no output after thaw");
}

#[test]
#[ignore = "needs root: scripts/test runs it with --include-ignored"]
fn exit_codes_and_signal_forwarding() {
    assert_eq!(sh("exit", "exit 7").0, ExitStatus::Exited(7));
    assert_eq!(
        sh("sig", "kill -USR1 $$").0,
        ExitStatus::Signaled(libc::SIGUSR1)
    );
    let (mut sb, out, _e) = start(
        "term",
        &[
            "/bin/sh",
            "-c",
            "trap 'echo got-term; exit 42' TERM; echo ready; while :; do sleep 0.02; done",
        ],
        |_| {},
    );
    // Wait until the shell has installed its TERM trap (SigCgt bit 15 of the shell, pid 2).
    let trap_installed = || {
        children(sb.pid()).iter().any(|c| {
            std::fs::read_to_string(format!("/proc/{c}/status"))
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find(|l| l.starts_with("SigCgt:"))
                        .map(str::to_owned)
                })
                .and_then(|l| u64::from_str_radix(l.split_whitespace().nth(1)?, 16).ok())
                .is_some_and(|mask| mask & (1 << (libc::SIGTERM - 1)) != 0)
        })
    };
    assert!(wait_until(10, trap_installed), "trap never installed");
    sb.signal(libc::SIGTERM).unwrap();
    let st = sb.wait_timeout(Duration::from_secs(10)).unwrap();
    sb.destroy().unwrap();
    assert_eq!(st, Some(ExitStatus::Exited(42)));
    assert!(out.get().contains("got-term"));
}

#[test]
#[ignore = "needs root: scripts/test runs it with --include-ignored"]
fn setup_failures_are_reported_and_cleaned_up() {
    let (spec, _o, _e) = spec_for("noexec", &["/no/such/binary"]);
    let id = spec.id.clone();
    let err = sandboxer().spawn(spec).unwrap_err().to_string();
    assert!(
        err.contains("execve") && err.contains("No such file"),
        "{err}"
    );
    assert!(
        !Path::new("/sys/fs/cgroup/pids/flint-test")
            .join(id)
            .exists()
    );
    let (mut spec, _o, _e) = spec_for("badid", &["/bin/true"]);
    spec.id = "../escape".into();
    assert!(sandboxer().spawn(spec).is_err());
}

#[test]
#[ignore = "needs root: scripts/test runs it with --include-ignored"]
fn python_and_node_start() {
    let (st, out, err) = run(
        "py",
        &[
            "python3",
            "-c",
            "import ssl, json, urllib.request; print(1)",
        ],
        |_| {},
    );
    assert_eq!((st, out.trim()), (ExitStatus::Exited(0), "1"), "{err}");
    if Path::new("/usr/bin/node").exists() {
        let (st, out, err) = run(
            "node",
            &["node", "-e", "require('crypto'); console.log(1)"],
            |_| {},
        );
        assert_eq!((st, out.trim()), (ExitStatus::Exited(0), "1"), "{err}");
    }
}

#[test]
#[ignore = "needs root: scripts/test runs it with --include-ignored"]
fn pyenv_python_with_its_prefix_bound() {
    // An interpreter outside the host directories the sandbox mounts (`/usr`, ...) runs when
    // its prefix is bound at its own path, as flint-runtimes binds a pyenv install. pyenv is
    // not installed by scripts/test, so without it the prefix is a `--copies` venv of the
    // host's python3 (which scripts/test needs for its own .venv); the test says which.
    let (exe, prefix, venv) = match pyenv_python() {
        Some(real) => {
            let prefix = real.parent().unwrap().parent().unwrap().to_path_buf();
            eprintln!("interpreter: pyenv's {}", real.display());
            (real, prefix, false)
        }
        None => {
            let prefix = copied_venv();
            eprintln!("interpreter: no pyenv, a venv copy in {}", prefix.display());
            (prefix.join("bin/python3"), prefix, true)
        }
    };
    let exe = exe.to_string_lossy().into_owned();
    let (st, out, err) = run(
        "pyenv",
        &[&exe, "-c", "import sys, json; print(1, sys.prefix)"],
        |s| {
            s.extra_ro_binds.push((prefix.clone(), prefix.clone()));
        },
    );
    if venv {
        let _ = std::fs::remove_dir_all(&prefix);
    }
    assert_eq!(st, ExitStatus::Exited(0), "{err}");
    assert!(out.starts_with("1 "), "{out}");
}

/// pyenv's real python3 (the shim is a shell script), if pyenv is installed.
fn pyenv_python() -> Option<PathBuf> {
    let o = std::process::Command::new("pyenv")
        .args(["which", "python3"])
        .output()
        .ok()?;
    std::fs::canonicalize(String::from_utf8_lossy(&o.stdout).trim()).ok()
}

/// A venv of the host's python3 whose interpreter is a copy, outside every directory the
/// sandbox provides (`/tmp` is the sandbox's own tmpfs, so not under it).
fn copied_venv() -> PathBuf {
    let d = PathBuf::from(format!(
        "/var/tmp/flint-sbx-test-venv-{}",
        std::process::id()
    ));
    let st = std::process::Command::new("/usr/bin/python3")
        .args(["-m", "venv", "--copies", "--without-pip"])
        .arg(&d)
        .status()
        .expect("this test needs the host's /usr/bin/python3 (with venv) when pyenv is absent");
    assert!(
        st.success(),
        "python3 -m venv --copies {} failed",
        d.display()
    );
    d
}

#[test]
#[ignore = "needs root: scripts/test runs it with --include-ignored"]
fn concurrent_spawns_from_many_threads() {
    let handles: Vec<_> = (0..8)
        .map(|i| std::thread::spawn(move || sh(&format!("conc{i}"), "echo ok")))
        .collect();
    for h in handles {
        let (st, out, err) = h.join().unwrap();
        assert_eq!((st, out.trim()), (ExitStatus::Exited(0), "ok"), "{err}");
    }
}

#[test]
#[ignore = "needs root: scripts/test runs it with --include-ignored"]
fn init_reaps_orphans() {
    // The inner shell exits at once, orphaning its background sleep onto pid 1 (our init);
    // when the sleep ends it must be reaped, not left as a zombie.
    let (st, out, err) = sh(
        "reap",
        "sh -c 'sleep 0.1 &'; sleep 0.5; for s in /proc/[0-9]*/status; do grep -q '^State:.*Z' $s && echo ZOMBIE $s; done; echo checked",
    );
    assert_eq!(st, ExitStatus::Exited(0), "{err}");
    assert!(out.contains("checked") && !out.contains("ZOMBIE"), "{out}");
}

#[test]
fn sandboxer_is_shareable() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Sandboxer>();
    fn assert_send<T: Send>() {}
    assert_send::<Sandbox>();
}

#[test]
#[ignore = "needs root: scripts/test runs it with --include-ignored"]
fn init_exposes_nothing_of_flint() {
    let (st, out, err) = sh(
        "initpeek",
        "echo \"cmdline=$(tr '\\0' ' ' < /proc/1/cmdline | tr -s ' ')\"; cat /proc/1/comm; \
         for f in environ maps mem fd; do ls /proc/1/$f >/dev/null 2>&1 && cat /proc/1/$f >/dev/null 2>&1 && echo READABLE $f; done; echo done",
    );
    assert_eq!(st, ExitStatus::Exited(0), "{err}");
    assert!(
        out.contains("cmdline=init \n") || out.contains("cmdline=init\n"),
        "{out}"
    );
    assert!(out.contains("\ninit\n"), "{out}");
    assert!(!out.contains("READABLE"), "{out}");
}

#[test]
#[ignore = "needs root: scripts/test runs it with --include-ignored"]
fn extra_fds_become_3_and_up() {
    let (mut r, w) = std::io::pipe().unwrap();
    let (mut sb, out, err) = start(
        "extrafd",
        &[
            "/bin/sh",
            "-c",
            "echo telemetry >&3; ls /proc/self/fd | tr '\\n' ' '",
        ],
        |s| s.extra_fds.push(OwnedFd::from(w)),
    );
    assert_eq!(sb.wait().unwrap(), ExitStatus::Exited(0), "{}", err.get());
    // EOF arrives once the function is gone: init does not keep a copy.
    let mut tele = String::new();
    r.read_to_string(&mut tele).unwrap();
    sb.destroy().unwrap();
    assert_eq!(tele, "telemetry\n");
    let fds = out.get();
    // 0 1 2 3, plus the fd ls itself opens on /proc/self/fd.
    let fds: Vec<u32> = fds.split_whitespace().map(|f| f.parse().unwrap()).collect();
    assert_eq!(&fds[..4], &[0, 1, 2, 3], "{fds:?}");
    assert!(
        fds.len() <= 5,
        "stray fds leaked into the function: {fds:?}"
    );
}

#[test]
#[ignore = "needs root: scripts/test runs it with --include-ignored"]
fn every_sandbox_gets_its_own_network_namespace() {
    // Several in a row, so both paths run: the pooled namespaces and, once the pool is
    // drained, CLONE_NEWNET.
    let sandboxes: Vec<_> = (0..6)
        .map(|i| start(&format!("netns{i}"), &["/bin/sleep", "30"], |_| {}).0)
        .collect();
    let ns = |pid: i32| std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    let own = std::fs::read_link("/proc/self/ns/net").unwrap();
    let mut seen: Vec<PathBuf> = sandboxes.iter().map(|s| ns(s.pid())).collect();
    assert!(
        !seen.contains(&own),
        "a sandbox shares flint's network namespace"
    );
    seen.sort();
    seen.dedup();
    assert_eq!(
        seen.len(),
        sandboxes.len(),
        "two sandboxes share a network namespace"
    );
    for s in sandboxes {
        s.destroy().unwrap();
    }
}
