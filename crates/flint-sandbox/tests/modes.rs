//! Spawning from a multi-threaded tokio runtime with async exit notification, and the
//! user-namespace mode (what rootless hosts use), exercised as root. They need root, so they
//! are `#[ignore]`d with that reason (`cargo test -- --include-ignored` as root runs them).

use std::io::Read;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

use flint_sandbox::{ExitStatus, SandboxSpec, Sandboxer, SandboxerConfig, UserNamespaceMode};
use tokio::io::unix::AsyncFd;

fn task_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join("flint-sbx-test-task-modes");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn spec(id: String, script: &str) -> (SandboxSpec, std::io::PipeReader) {
    let (r, w) = std::io::pipe().unwrap();
    let w2 = w.try_clone().unwrap();
    let mut s = SandboxSpec::new(
        id,
        task_dir(),
        vec!["/bin/sh".into(), "-c".into(), script.into()],
        OwnedFd::from(w),
        OwnedFd::from(w2),
    );
    s.env = flint_sandbox::lambda_base_env();
    (s, r)
}

#[test]
#[ignore = "needs root: scripts/test runs it with --include-ignored"]
fn spawn_from_tokio_and_await_exit_on_the_pidfd() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let sbx = Arc::new(
        Sandboxer::new(SandboxerConfig {
            state_dir: "/run/flint-sandbox-test-modes".into(),
            cgroup_parent: "flint-test-modes".into(),
            ..Default::default()
        })
        .unwrap(),
    );
    rt.block_on(async move {
        let mut tasks = Vec::new();
        for i in 0..6 {
            let sbx = sbx.clone();
            tasks.push(tokio::spawn(async move {
                let (spec, mut out) = spec(
                    format!("tokio-{}-{i}", std::process::id()),
                    &format!("sleep 0.2; echo {i}; exit {i}"),
                );
                let mut sb = tokio::task::spawn_blocking(move || sbx.spawn(spec))
                    .await
                    .unwrap()
                    .unwrap();
                let pidfd = sb.pidfd().try_clone_to_owned().unwrap();
                // SAFETY: `pidfd` is an OwnedFd moved into the AsyncFd; it stays open and the
                // same until the AsyncFd is dropped.
                let fd = unsafe { AsyncFd::register(pidfd) }
                    .map_err(|e| e.to_string())
                    .unwrap();
                let guard = tokio::time::timeout(Duration::from_secs(20), fd.readable())
                    .await
                    .expect("exit in time")
                    .unwrap();
                drop(guard);
                let st = sb.try_wait().unwrap().expect("readable pidfd means exited");
                tokio::task::spawn_blocking(move || sb.destroy())
                    .await
                    .unwrap()
                    .unwrap();
                let mut s = String::new();
                out.read_to_string(&mut s).unwrap();
                (i, st, s)
            }));
        }
        for t in tasks {
            let (i, st, out) = t.await.unwrap();
            assert_eq!(st, ExitStatus::Exited(i));
            assert_eq!(out.trim(), i.to_string());
        }
    });
}

#[test]
#[ignore = "needs root: scripts/test runs it with --include-ignored"]
fn user_namespace_mode() {
    let sbx = Sandboxer::new(SandboxerConfig {
        state_dir: "/run/flint-sandbox-test-userns".into(),
        cgroup_parent: "flint-test-userns".into(),
        user_namespace: UserNamespaceMode::Always,
        ..Default::default()
    })
    .unwrap();
    let (spec, mut out) = spec(
        format!("userns-{}", std::process::id()),
        "id -u; cat /proc/self/uid_map; grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status; touch /usr/x 2>&1; echo pid=$$; ls /proc | grep -cE '^[0-9]+$'",
    );
    let mut sb = sbx.spawn(spec).unwrap();
    let st = sb.wait().unwrap();
    sb.destroy().unwrap();
    let mut s = String::new();
    out.read_to_string(&mut s).unwrap();
    assert_eq!(st, ExitStatus::Exited(0), "{s}");
    assert!(s.starts_with("993\n"), "{s}");
    assert!(s.contains("993        993          1"), "uid_map: {s}");
    assert!(
        s.contains("CapEff:\t0000000000000000")
            && s.contains("NoNewPrivs:\t1")
            && s.contains("Seccomp:\t2"),
        "{s}"
    );
    assert!(s.contains("Read-only file system"), "{s}");
    assert!(s.contains("pid=2"), "{s}");
}

/// Set in the child process of `sandboxes_die_with_flint`, which plays the flint that dies.
const ORPHAN_ENV: &str = "FLINT_SANDBOX_ORPHAN_HELPER";

/// The flint of `sandboxes_die_with_flint`: spawns one sandbox, prints its pid and hangs
/// until the test kills this process.
fn spawn_and_hang() -> ! {
    let sbx = Sandboxer::new(SandboxerConfig {
        state_dir: "/run/flint-sandbox-test-orphan".into(),
        cgroup_parent: "flint-test-orphan".into(),
        ..Default::default()
    })
    .unwrap();
    // Spawn from a short-lived thread: the sandbox must survive that thread's exit.
    let sb = std::thread::spawn(move || {
        let (spec, _out) = spec(format!("orphan-{}", std::process::id()), "sleep 100");
        sbx.spawn(spec).unwrap()
    })
    .join()
    .unwrap();
    println!("SANDBOX_PID={}", sb.pid());
    std::mem::forget(sb);
    std::thread::sleep(Duration::from_secs(100));
    panic!("not killed by sandboxes_die_with_flint within 100 s");
}

#[test]
#[ignore = "needs root: scripts/test runs it with --include-ignored"]
fn sandboxes_die_with_flint() {
    // The flint that dies is this test itself, run again in a child process (with
    // ORPHAN_ENV set, so that it plays that part instead of this one).
    if std::env::var_os(ORPHAN_ENV).is_some() {
        spawn_and_hang();
    }
    let mut helper = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "sandboxes_die_with_flint",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ORPHAN_ENV, "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(helper.stdout.take().unwrap());
    let mut pid = None;
    let mut line = String::new();
    while std::io::BufRead::read_line(&mut out, &mut line).unwrap() > 0 {
        if let Some(p) = line.split("SANDBOX_PID=").nth(1).map(str::trim) {
            pid = Some(p.parse::<i32>().unwrap());
            break;
        }
        line.clear();
    }
    let pid = pid.expect("helper printed the sandbox pid");
    // The sandbox outlived the thread that spawned it.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "sandbox died with its spawning thread"
    );
    helper.kill().unwrap();
    helper.wait().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::path::Path::new(&format!("/proc/{pid}/stat")).exists() {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if stat.contains(") Z ") {
            break; // zombie: dead, waiting for the reaper (init of the host)
        }
        assert!(
            std::time::Instant::now() < deadline,
            "sandbox survived flint: {stat}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Its cgroups are left behind; a restarted flint removes them.
    let sbx = Sandboxer::new(SandboxerConfig {
        state_dir: "/run/flint-sandbox-test-orphan".into(),
        cgroup_parent: "flint-test-orphan".into(),
        ..Default::default()
    })
    .unwrap();
    assert!(sbx.remove_stale_environments().unwrap() >= 1);
    assert_eq!(sbx.remove_stale_environments().unwrap(), 0);
}

#[test]
#[ignore = "needs root: scripts/test runs it with --include-ignored"]
fn spawn_through_the_helper_process() {
    let sbx = Sandboxer::new(SandboxerConfig {
        state_dir: "/run/flint-sandbox-test-helper".into(),
        cgroup_parent: "flint-test-helper".into(),
        spawn_helper: Some((env!("CARGO_BIN_EXE_flint-sandbox-helper").into(), vec![])),
        ..Default::default()
    })
    .unwrap();
    for i in 0..3 {
        let (mut s, mut out) = spec(
            format!("helper-{}-{i}", std::process::id()),
            "echo pid=$$ ppid=$PPID uid=$(id -u); grep -E '^(CapEff|Seccomp):' /proc/self/status; \
             python3 -c 'import os,socket; s=socket.create_connection((\"127.0.0.1\", 9001)); print(s.recv(10).decode())'; exit 3",
        );
        s.runtime_api_port = Some(9001);
        let mut sb = sbx.spawn(s).unwrap();
        let l = sb.take_runtime_api_listener().unwrap();
        let server = std::thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            std::io::Write::write_all(&mut c, b"from-flint").unwrap();
        });
        let st = sb.wait_timeout(Duration::from_secs(30)).unwrap();
        server.join().unwrap();
        let (pid, id) = (sb.pid(), sb.id().to_owned());
        sb.destroy().unwrap();
        let mut s = String::new();
        out.read_to_string(&mut s).unwrap();
        assert_eq!(st, Some(ExitStatus::Exited(3)), "{s}");
        assert!(s.contains("pid=2 ppid=1 uid=993"), "{s}");
        assert!(
            s.contains("CapEff:\t0000000000000000") && s.contains("Seccomp:\t2"),
            "{s}"
        );
        assert!(s.contains("from-flint"), "{s}");
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
        assert!(
            !std::path::Path::new("/sys/fs/cgroup/pids/flint-test-helper")
                .join(id)
                .exists()
        );
    }
    // A helper that died is replaced transparently.
    let helper_pid = std::process::Command::new("pgrep")
        .args([
            "-P",
            &std::process::id().to_string(),
            "-f",
            "flint-sandbox-helper",
        ])
        .output()
        .unwrap();
    let helper_pids = String::from_utf8_lossy(&helper_pid.stdout).into_owned();
    assert!(!helper_pids.trim().is_empty(), "helper process not found");
    for pid in helper_pids.split_whitespace() {
        // SAFETY: kill(2) on the helper process this test started.
        unsafe { libc::kill(pid.parse().unwrap(), libc::SIGKILL) };
    }
    std::thread::sleep(Duration::from_millis(100));
    let (s, mut out) = spec(format!("helper-again-{}", std::process::id()), "echo again");
    let mut sb = sbx.spawn(s).expect("spawn after the helper died");
    assert_eq!(sb.wait().unwrap(), ExitStatus::Exited(0));
    sb.destroy().unwrap();
    let mut s = String::new();
    out.read_to_string(&mut s).unwrap();
    assert_eq!(s.trim(), "again");
    // Setup errors come back through the helper path as well.
    let (s, _out) = spec(format!("helper-bad-{}", std::process::id()), "true");
    let mut s = s;
    s.argv = vec!["/nonexistent".into()];
    let err = sbx.spawn(s).unwrap_err().to_string();
    assert!(err.contains("execve"), "{err}");
}
