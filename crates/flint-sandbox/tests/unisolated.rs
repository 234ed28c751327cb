//! Unisolated development mode: environments are plain child processes. What it still
//! guarantees is checked here: the function sees only the environment it was given with the
//! sandbox paths translated to host paths, a private `/tmp` stand-in, a Runtime API listener
//! of its own, and teardown kills everything it started and removes its `/tmp`.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::{Duration, Instant};

use flint_sandbox::{ExitStatus, SandboxSpec, Sandboxer, SandboxerConfig};

fn sandboxer(state: &Path) -> Sandboxer {
    Sandboxer::new(SandboxerConfig {
        state_dir: state.to_path_buf(),
        unisolated: true,
        ..Default::default()
    })
    .expect("the unisolated mode needs nothing from the host but pidfds")
}

fn spec(id: &str, task: &Path, script: &str) -> (SandboxSpec, std::io::PipeReader) {
    let (r, w) = std::io::pipe().unwrap();
    let w2 = w.try_clone().unwrap();
    let mut s = SandboxSpec::new(
        id,
        task,
        vec!["/bin/sh".into(), "-c".into(), script.into()],
        OwnedFd::from(w),
        OwnedFd::from(w2),
    );
    s.env = vec![
        ("PATH".into(), "/usr/bin:/bin".into()),
        ("LAMBDA_TASK_ROOT".into(), "/var/task".into()),
        ("AWS_LAMBDA_RUNTIME_API".into(), "127.0.0.1:9001".into()),
    ];
    s.cwd = "/var/task".into();
    s.runtime_api_port = Some(9001);
    (s, r)
}

fn alive(pid: i32) -> bool {
    // SAFETY: kill(2) with signal 0 only checks for existence.
    unsafe { libc::kill(pid, 0) == 0 }
}

#[test]
fn a_plain_environment_sees_host_paths_and_its_own_tmp() {
    let state = tempfile::tempdir().unwrap();
    let task = tempfile::tempdir().unwrap();
    std::fs::write(task.path().join("marker"), "code").unwrap();
    let sbx = sandboxer(state.path());
    assert!(sbx.is_unisolated());
    assert!(!sbx.cgroups_enforced());
    let (spec, mut out) = spec(
        "plain-paths",
        task.path(),
        "cat $LAMBDA_TASK_ROOT/marker; echo; pwd; echo $TMPDIR; echo $AWS_LAMBDA_RUNTIME_API; \
         echo hello > $TMPDIR/file; cat $TMPDIR/file; env | wc -l",
    );
    let mut sb = sbx.spawn(spec).unwrap();
    let listener = sb
        .take_runtime_api_listener()
        .expect("a listener of its own");
    let st = sb.wait().unwrap();
    assert_eq!(st, ExitStatus::Exited(0));
    let mut text = String::new();
    out.read_to_string(&mut text).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "code", "{text}");
    assert_eq!(
        Path::new(lines[1]),
        task.path().canonicalize().unwrap(),
        "{text}"
    );
    let tmp = Path::new(lines[2]);
    assert!(tmp.starts_with(state.path()), "{text}");
    assert_eq!(
        lines[3],
        listener.local_addr().unwrap().to_string(),
        "the runtime is told where its listener really is: {text}"
    );
    assert_eq!(lines[4], "hello");
    // Nothing inherited from this test process: only what the spec gave (4 variables, with
    // TMPDIR and _FLINT_OPT_DIR; `sh` adds PWD, and may add SHLVL and `_`).
    let count: usize = lines[5].trim().parse().unwrap();
    assert!(count <= 8, "unexpected environment size {count}: {text}");
    assert!(tmp.is_dir());
    sb.destroy().unwrap();
    assert!(!tmp.exists(), "the /tmp stand-in is removed on destroy");
}

#[test]
fn destroy_kills_everything_the_function_started() {
    let state = tempfile::tempdir().unwrap();
    let task = tempfile::tempdir().unwrap();
    let sbx = sandboxer(state.path());
    // The function starts a background sleeper, reports its pid, then hangs.
    let (spec, mut out) = spec(
        "plain-group",
        task.path(),
        "sleep 600 & echo $!; exec sleep 600",
    );
    let sb = sbx.spawn(spec).unwrap();
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while out.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    let child: i32 = String::from_utf8(line).unwrap().trim().parse().unwrap();
    let leader = sb.pid();
    assert!(alive(child) && alive(leader));
    sb.destroy().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    // The background sleeper is not our child: it is reparented and reaped by init, so it
    // disappears once killed.
    while alive(child) {
        assert!(
            Instant::now() < deadline,
            "process {child} outlived its environment"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!alive(leader));
}
