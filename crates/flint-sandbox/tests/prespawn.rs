//! Pre-spawned environments (`Sandboxer::prespawn` + `specialize`), end to end: the
//! function must start from exactly the state a normal spawn gives it. Those that spawn need
//! root (the pre-spawn path exists only there) and are `#[ignore]`d with that reason, like
//! `isolation.rs`.

use std::io::{BufRead, Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use flint_sandbox::{
    CgroupFlavor, ExitStatus, Prespawned, SandboxShape, SandboxSpec, Sandboxer, SandboxerConfig,
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
        "p-{}-{tag}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn code_dir(tag: &str, marker: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("flint-prespawn-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("marker.txt"), marker).unwrap();
    d
}

struct Output(JoinHandle<String>);

fn capture() -> (OwnedFd, Output) {
    let (mut r, w) = std::io::pipe().unwrap();
    let h = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = r.read_to_string(&mut s);
        s
    });
    (OwnedFd::from(w), Output(h))
}

/// The spec a caller would pass to `spawn`, with the function's own fds (unused by
/// `specialize`).
fn spec(tag: &str, task: &Path, argv: &[&str]) -> SandboxSpec {
    let (o, _) = std::io::pipe().unwrap();
    let (e, _) = std::io::pipe().unwrap();
    let mut s = SandboxSpec::new(
        unique_id(tag),
        task,
        argv.iter().map(|s| s.to_string()).collect(),
        OwnedFd::from(o),
        OwnedFd::from(e),
    );
    s.env = flint_sandbox::lambda_base_env();
    s.runtime_api_port = Some(flint_sandbox::RUNTIME_API_PORT);
    s
}

fn prespawn(shape: &SandboxShape, tag: &str) -> (Prespawned, Output, Output) {
    let (o, out) = capture();
    let (e, err) = capture();
    let pre = sandboxer()
        .prespawn(shape, unique_id(tag), o, e)
        .expect("prespawn");
    (pre, out, err)
}

fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    match sandboxer().host().cgroup.clone() {
        CgroupFlavor::V1 {
            memory,
            cpu,
            pids,
            freezer,
        } => [memory, cpu, pids, freezer]
            .iter()
            .map(|c| c.join("flint-test").join(id))
            .collect(),
        CgroupFlavor::V2 { root, .. } => vec![root.join("flint-test").join(id)],
        CgroupFlavor::None { .. } => unreachable!(),
    }
}

/// The environment's cgroups were removed in every hierarchy.
fn assert_cgroups_gone(id: &str) {
    for d in cgroup_dirs(id) {
        assert!(!d.exists(), "{} survived", d.display());
    }
}

const CHECKS: &str = r#"
echo pid=$$ ppid=$PPID uid=$(id -u) gid=$(id -g)
cat /var/task/marker.txt; echo
touch /var/task/x 2>/dev/null && echo WROTE-TASK
touch /x 2>/dev/null && echo WROTE-ROOT
echo FN=$FN_VAR
grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp)' /proc/self/status
grep ' /var/task ' /proc/self/mountinfo
pwd
"#;

#[test]
#[ignore = "needs root: scripts/test runs it with --include-ignored"]
fn specialized_environment_runs_the_function_like_a_normal_spawn() {
    let task = code_dir("fn", "code-of-fn");
    let mut s = spec("fn", &task, &["/bin/sh", "-c", CHECKS]);
    s.env.push(("FN_VAR".into(), "from-the-claim".into()));
    s.memory_mb = 256;
    let shape = SandboxShape::of(&s);
    let (pre, out, err) = prespawn(&shape, "fn");
    let id = pre.id().to_owned();
    // Unclaimed: no function code yet, waiting.
    let mut sb = sandboxer().specialize(pre, s).expect("specialize");
    assert_eq!(sb.id(), id);
    let listener = sb.take_runtime_api_listener().expect("listener");
    assert_eq!(listener.local_addr().unwrap().to_string(), "127.0.0.1:9001");
    // The function's limits, not the pre-spawn's.
    if let CgroupFlavor::V1 { .. } = sandboxer().host().cgroup {
        let mem =
            std::fs::read_to_string(cgroup_dirs(&id)[0].join("memory.limit_in_bytes")).unwrap();
        assert_eq!(mem.trim(), (256u64 << 20).to_string());
    }
    let st = sb
        .wait_timeout(Duration::from_secs(60))
        .unwrap()
        .expect("function did not exit");
    sb.destroy().unwrap();
    let (out, err) = (out.0.join().unwrap(), err.0.join().unwrap());
    assert_eq!(st, ExitStatus::Exited(0), "{err}");
    assert!(out.contains("pid=2 ppid=1 uid=993 gid=990"), "{out}");
    assert!(out.contains("code-of-fn"), "{out}");
    assert!(!out.contains("WROTE"), "{out}");
    assert!(out.contains("FN=from-the-claim"), "{out}");
    assert!(out.contains("CapEff:\t0000000000000000"), "{out}");
    assert!(out.contains("CapBnd:\t0000000000000000"), "{out}");
    assert!(
        out.contains("NoNewPrivs:\t1") && out.contains("Seccomp:\t2"),
        "{out}"
    );
    let task_mount = out
        .lines()
        .find(|l| l.contains(" /var/task "))
        .expect("/var/task is a mount");
    assert!(
        task_mount.contains(" ro,")
            && task_mount.contains("nosuid")
            && task_mount.contains("nodev"),
        "{task_mount}"
    );
    assert!(out.trim_end().ends_with("/var/task"), "{out}");
    assert_cgroups_gone(&id);
    assert!(!task.join("x").exists());
}

#[test]
#[ignore = "needs root: scripts/test runs it with --include-ignored"]
fn unclaimed_environment_is_torn_down_on_drop() {
    let task = code_dir("drop", "x");
    let shape = SandboxShape::of(&spec("drop", &task, &["/bin/true"]));
    let (pre, _out, _err) = prespawn(&shape, "drop");
    let id = pre.id().to_owned();
    let dirs = cgroup_dirs(&id);
    assert!(dirs.iter().all(|d| d.is_dir()));
    let procs = std::fs::read_to_string(dirs[0].join("cgroup.procs")).unwrap();
    let pids: Vec<i32> = procs.lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(pids.len(), 1, "only the waiting init: {pids:?}");
    drop(pre);
    assert!(!Path::new(&format!("/proc/{}", pids[0])).exists());
    for d in &dirs {
        assert!(!d.exists(), "{} survived", d.display());
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(task.to_str().unwrap()),
        "the code mount leaked"
    );
}

#[test]
#[ignore = "needs root: scripts/test runs it with --include-ignored"]
fn shape_mismatch_and_missing_bootstrap_fail_cleanly() {
    let task = code_dir("bad", "x");
    let s = spec("bad", &task, &["/bin/true"]);
    let shape = SandboxShape::of(&s);
    // A different /tmp size is a different shape.
    let (pre, _o, _e) = prespawn(&shape, "bad");
    let id = pre.id().to_owned();
    let mut other = spec("bad", &task, &["/bin/true"]);
    other.tmp_size_mb = 64;
    assert!(sandboxer().specialize(pre, other).is_err());
    assert_cgroups_gone(&id);
    // An exec failure inside is reported like a normal spawn's, and cleaned up.
    let (pre, _o, _e) = prespawn(&shape, "bad");
    let id = pre.id().to_owned();
    let missing = spec("bad", &task, &["/var/task/no-such-bootstrap"]);
    let e = sandboxer().specialize(pre, missing).unwrap_err();
    assert!(e.to_string().contains("execve"), "{e}");
    assert_cgroups_gone(&id);
}

#[test]
#[ignore = "needs root: scripts/test runs it with --include-ignored"]
fn each_claim_gets_its_own_code() {
    let a = code_dir("a", "code-a");
    let b = code_dir("b", "code-b");
    let shape = SandboxShape::of(&spec("ab", &a, &["/bin/true"]));
    let (pa, oa, _ea) = prespawn(&shape, "a");
    let (pb, ob, _eb) = prespawn(&shape, "b");
    let cat = |d: &Path| spec("ab", d, &["/bin/cat", "/var/task/marker.txt"]);
    let mut sa = sandboxer().specialize(pa, cat(&a)).unwrap();
    let mut sb = sandboxer().specialize(pb, cat(&b)).unwrap();
    for s in [&mut sa, &mut sb] {
        assert_eq!(
            s.wait_timeout(Duration::from_secs(30)).unwrap(),
            Some(ExitStatus::Exited(0))
        );
    }
    sa.destroy().unwrap();
    sb.destroy().unwrap();
    assert_eq!(oa.0.join().unwrap(), "code-a");
    assert_eq!(ob.0.join().unwrap(), "code-b");
    let _ = std::io::stdout().flush();
}

/// A pre-started runtime: reports what it sees before the claim, then reads its function
/// from fd 3 (cwd, then the environment, NUL-terminated) and reports what it sees after.
const PRESTARTED: &str = r#"
echo "early uid=$(id -u) fn=${FN_VAR-unset} lang=$LANG fd=$_FLINT_PRESTART_FD"
grep -E '^(CapEff|NoNewPrivs|Seccomp)' /proc/self/status | tr '\t' ' ' | sed 's/^/early /'
test -e /var/task/marker.txt && echo EARLY-CODE
echo "early done"
printf R >&3
tr '\0' '\n' <&3 >/tmp/handover
cd "$(head -n 1 /tmp/handover)"
echo "cwd=$(pwd)"
grep -E '^(FN_VAR|LANG|_FLINT)' /tmp/handover | sed 's/^/env /'
cat /var/task/marker.txt; echo
"#;

fn prestart_spec(tag: &str, task: &Path, script: &str) -> SandboxSpec {
    let mut s = spec(tag, task, &["/bin/sh", "-c", script]);
    s.prestart = true;
    s.env.push(("FN_VAR".into(), "from-the-claim".into()));
    s
}

fn env_procs(id: &str) -> Vec<i32> {
    let dir = &cgroup_dirs(id)[0];
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect()
}

#[test]
#[ignore = "needs root: scripts/test runs it with --include-ignored"]
fn prestarted_runtime_runs_unprivileged_before_the_claim_and_gets_its_function_at_it() {
    let task = code_dir("pre", "code-of-pre");
    let s = prestart_spec("pre", &task, PRESTARTED);
    let shape = SandboxShape::of(&s);
    let rt = shape.prestart.clone().expect("a pre-started shape");
    // Only the start-up variables of the function's environment, and not FN_VAR.
    assert!(rt.env.iter().any(|(k, _)| k == "LANG"));
    assert!(!rt.env.iter().any(|(k, _)| k == "FN_VAR" || k == "PATH"));
    // stdout line by line, to claim only once the runtime has reported (and then waits).
    let (r, w) = std::io::pipe().unwrap();
    let (e, err) = capture();
    let pre = sandboxer()
        .prespawn(&shape, unique_id("pre"), OwnedFd::from(w), e)
        .expect("prespawn");
    let id = pre.id().to_owned();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut out = String::new();
    while !out.contains("early done") {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the pre-started runtime did not report");
        out.push_str(&line);
        out.push('\n');
    }
    // Before any claim, init and the runtime (the shell, and the `tr` it waits in) are in
    // the environment's cgroup.
    let procs = env_procs(&id);
    assert!(procs.len() >= 2, "init and the runtime: {procs:?}");
    let mut sb = sandboxer().specialize(pre, s).expect("specialize");
    let st = sb
        .wait_timeout(Duration::from_secs(60))
        .unwrap()
        .expect("function did not exit");
    sb.destroy().unwrap();
    out.extend(rx.iter().map(|l| l + "\n"));
    let err = err.0.join().unwrap();
    assert_eq!(st, ExitStatus::Exited(0), "{out}\n{err}");
    // Before the claim: unprivileged, locked down, start-up variables only, no code.
    assert!(
        out.contains("early uid=993 fn=unset lang=en_US.UTF-8 fd=3"),
        "{out}"
    );
    assert!(out.contains("early CapEff: 0000000000000000"), "{out}");
    assert!(
        out.contains("early NoNewPrivs: 1") && out.contains("early Seccomp: 2"),
        "{out}"
    );
    assert!(!out.contains("EARLY-CODE"), "{out}");
    // At the claim: the function's cwd, environment and code.
    assert!(out.contains("cwd=/var/task"), "{out}");
    assert!(out.contains("env FN_VAR=from-the-claim"), "{out}");
    assert!(out.contains("env LANG=en_US.UTF-8"), "{out}");
    assert!(!out.contains("env _FLINT"), "{out}");
    assert!(out.contains("code-of-pre"), "{out}");
    assert_cgroups_gone(&id);
}

#[test]
#[ignore = "needs root: scripts/test runs it with --include-ignored"]
fn a_prestarted_runtime_that_dies_before_the_claim_takes_its_environment_with_it() {
    let task = code_dir("dies", "x");
    // Dies before it is ready: the pre-spawn fails, and leaves nothing behind.
    let s = prestart_spec("dies", &task, "exit 3");
    let (o, _out) = capture();
    let (e, _err) = capture();
    let id = unique_id("dies");
    let r = sandboxer().prespawn(&SandboxShape::of(&s), id.clone(), o, e);
    assert!(r.is_err(), "a runtime that never got ready was offered");
    assert_cgroups_gone(&id);
    // Dies after it was ready: init notices and leaves, so the pool's liveness check
    // discards the environment instead of handing a dead runtime to a function.
    let s = prestart_spec("dies", &task, "printf R >&3; exit 3");
    let (mut pre, _o, _e) = prespawn(&SandboxShape::of(&s), "dies");
    let id = pre.id().to_owned();
    let mut exited = pre.has_exited();
    for _ in 0..1000 {
        if exited {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
        exited = pre.has_exited();
    }
    assert!(
        exited,
        "init kept waiting for a claim with its runtime gone"
    );
    drop(pre);
    assert_cgroups_gone(&id);
}

#[test]
fn functions_differing_in_start_up_variables_do_not_share_a_prestarted_runtime() {
    let task = std::env::temp_dir();
    let a = prestart_spec("shape", &task, "true");
    let mut b = prestart_spec("shape", &task, "true");
    b.env.push(("FN_OTHER".into(), "x".into()));
    // Variables read later are the claim's business: same shape.
    assert_eq!(SandboxShape::of(&a), SandboxShape::of(&b));
    for var in [
        "PYTHONHASHSEED",
        "LC_ALL",
        "LD_PRELOAD",
        "NODE_OPTIONS",
        "TZ",
    ] {
        let mut c = prestart_spec("shape", &task, "true");
        c.env.push((var.into(), "x".into()));
        assert_ne!(SandboxShape::of(&a), SandboxShape::of(&c), "{var}");
    }
    // Without the flag, or with a command from the function's code: nothing pre-started.
    let mut plain = prestart_spec("shape", &task, "true");
    plain.prestart = false;
    assert_eq!(SandboxShape::of(&plain).prestart, None);
    let mut own = spec("shape", &task, &["/var/task/bootstrap"]);
    own.prestart = true;
    assert_eq!(SandboxShape::of(&own).prestart, None);
}
