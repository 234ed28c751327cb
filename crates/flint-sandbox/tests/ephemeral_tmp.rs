//! The disk-backed `/tmp` (`ephemeral.rs`) on the real kernel: exact size, not memory, and
//! nothing left behind. They need root (loop devices, mounts, cgroups), so they are
//! `#[ignore]`d with that reason: `cargo test -- --include-ignored` as root runs them.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use flint_sandbox::{ExitStatus, Sandbox, SandboxSpec, Sandboxer, SandboxerConfig};

const STATE: &str = "/run/flint-sandbox-test-tmp";
const MIB: u64 = 1 << 20;

fn sandboxer() -> &'static Sandboxer {
    static S: OnceLock<Sandboxer> = OnceLock::new();
    S.get_or_init(|| {
        let cfg = SandboxerConfig {
            state_dir: STATE.into(),
            cgroup_parent: "flint-test-tmp".into(),
            ..Default::default()
        };
        let s = Sandboxer::new(cfg).expect("sandboxer");
        assert!(s.tmp_backing().starts_with("disk"), "{}", s.tmp_backing());
        s
    })
}

fn task_dir() -> PathBuf {
    let d = std::env::temp_dir().join("flint-sbx-test-tmp-task");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn spec(memory_mb: u64, tmp_mb: u64, script: &str) -> (SandboxSpec, OwnedFd, OwnedFd) {
    static N: AtomicU32 = AtomicU32::new(0);
    let (o_r, o) = std::io::pipe().unwrap();
    let (e_r, e) = std::io::pipe().unwrap();
    let id = format!(
        "tmp-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let mut spec = SandboxSpec::new(
        id,
        task_dir(),
        vec!["/bin/sh".into(), "-c".into(), script.into()],
        o.into(),
        e.into(),
    );
    spec.env = flint_sandbox::lambda_base_env();
    spec.memory_mb = memory_mb;
    spec.tmp_size_mb = tmp_mb;
    (spec, o_r.into(), e_r.into())
}

/// Runs `script` in a sandbox of `memory_mb` with a `/tmp` of `tmp_mb`; the sandbox (still
/// to be destroyed), its status, stdout and stderr.
fn sh(memory_mb: u64, tmp_mb: u64, script: &str) -> (Sandbox, ExitStatus, String, String) {
    let (spec, o, e) = spec(memory_mb, tmp_mb, script);
    let out = read_all(o);
    let err = read_all(e);
    let mut sb = sandboxer().spawn(spec).expect("spawn");
    let st = sb
        .wait_timeout(Duration::from_secs(120))
        .unwrap()
        .expect("sandbox did not exit in 120 s");
    (sb, st, out.join().unwrap(), err.join().unwrap())
}

fn read_all(fd: OwnedFd) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::fs::File::from(fd).read_to_string(&mut s);
        s
    })
}

/// Runs `script`, which prints its result on one line and then stays alive (as a runtime
/// does between invocations: Max Memory Used is read while the environment lives); the
/// sandbox and that line.
fn sh_alive(memory_mb: u64, tmp_mb: u64, script: &str) -> (Sandbox, String) {
    let (spec, o, e) = spec(memory_mb, tmp_mb, &format!("{script}; exec sleep 120"));
    drop(read_all(e));
    let sb = sandboxer().spawn(spec).expect("spawn");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(std::fs::File::from(o)),
        &mut line,
    )
    .unwrap();
    (sb, line)
}

/// The loop devices whose backing image is sandbox `id`'s (the other tests of this file run
/// in parallel and have loop devices of their own).
fn loop_devices_of(id: &str) -> Vec<String> {
    let image = format!("{STATE}/ephemeral/{id}.img");
    std::fs::read_dir("/sys/block")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("loop/backing_file")).ok())
        .filter(|f| f.starts_with(&image))
        .collect()
}

#[test]
#[ignore = "needs root: loop devices, mounts and cgroups"]
fn a_128_mb_function_fills_a_512_mb_tmp_to_enospc_without_being_oom_killed() {
    let (sb, out) = sh_alive(
        128,
        512,
        "dd if=/dev/zero of=/tmp/big bs=4k count=150000 2>/dev/null; \
         echo $? $(stat -c %s /tmp/big)",
    );
    let (dd_status, written) = out.trim().split_once(' ').unwrap();
    assert_eq!(dd_status, "1", "dd did not fail (ENOSPC): {out}");
    let written: u64 = written.parse().unwrap();
    // Exactly the size, less the block or two of the file's own extent tree.
    assert!(
        (512 * MIB - 256 * 1024..=512 * MIB).contains(&written),
        "wrote {written} bytes"
    );
    assert!(!sb.oom_killed().unwrap());
    let peak = sb.memory_peak_bytes().unwrap();
    assert!(peak < 48 * MIB, "Max Memory Used counts /tmp: {peak}");
    sb.destroy().unwrap();
}

#[test]
#[ignore = "needs root: loop devices, mounts and cgroups"]
fn a_1_gb_function_filling_tmp_reports_its_memory_not_the_files() {
    let (sb, out) = sh_alive(1024, 600, "head -c 500M /dev/zero > /tmp/f; echo $?");
    assert_eq!(out.trim(), "0");
    assert!(sb.memory_peak_bytes().unwrap() > 0);
    let peak = sb.memory_peak_bytes().unwrap();
    assert!(peak < 48 * MIB, "Max Memory Used counts /tmp: {peak}");
    sb.destroy().unwrap();
}

#[test]
#[ignore = "needs root: loop devices, mounts and cgroups"]
fn tmp_is_an_empty_sticky_world_writable_disk_of_its_size_and_leaves_nothing_behind() {
    let (sb, st, out, err) = sh(
        128,
        64,
        "stat -c '%a %U' /tmp; ls -A /tmp | wc -l; df -B1 --output=avail,fstype /tmp | tail -1; \
         mount | grep ' /tmp '",
    );
    assert_eq!(st, ExitStatus::Exited(0), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1777 root", "{out}");
    assert_eq!(lines[1].trim(), "0", "/tmp is not empty: {out}");
    assert!(
        lines[2].split_whitespace().collect::<Vec<_>>() == [&(64 * MIB).to_string(), "ext4"],
        "{out}"
    );
    assert!(
        lines[3].contains("nosuid") && lines[3].contains("nodev"),
        "{out}"
    );
    let id = sb.id().to_owned();
    sb.destroy().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !loop_devices_of(&id).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(loop_devices_of(&id), Vec::<String>::new());
    let left: Vec<String> = std::fs::read_dir(format!("{STATE}/ephemeral"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&id))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&id), "a /tmp mount stayed on the host");
}
