//! cgroup limits for real, read back from the kernel's own files: memory.max (an OOM kill
//! is reported as one), memory.swap.max, cpu.max in proportion to memory, pids.max (a fork
//! bomb stops at the limit), freeze/thaw, kill, and cleanup (no cgroup directory is left
//! after a destroy, nor after a failed spawn).
//!
//! Written for cgroup v2 and run on a pure v2 Linux by `scripts/cgroup-v2-vm`, which sets
//! `FLINT_TEST_CGROUP_V2=1`: with it, every test first checks that the host really is pure
//! v2 (only cgroup2 mounted, at `/sys/fs/cgroup`) and fails loudly otherwise. Without it the
//! tests run on whatever layout the host has and check that layout's files (v1 on hybrid
//! hosts), so they never pass without having looked. They need root.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use flint_sandbox::{CgroupFlavor, ExitStatus, Sandbox, SandboxSpec, Sandboxer, SandboxerConfig};

const PARENT: &str = "flint-test-v2";
const PY: &str = "/usr/bin/python3";
/// The memory tests give their function a whole CPU: what they measure is memory, and a
/// 64 MB function's 3.6 % of a CPU makes swapping take minutes under emulation.
const FULL_CPU: u64 = 1000;

/// Set by `scripts/cgroup-v2-vm`: the host must be pure cgroup v2.
fn v2_required() -> bool {
    std::env::var_os("FLINT_TEST_CGROUP_V2").is_some_and(|v| v == "1")
}

const NOT_PURE_V2: &str = "FLINT_TEST_CGROUP_V2=1 but this is not a pure cgroup v2 host";

/// Panics unless the mount table has cgroup2 at `/sys/fs/cgroup` and no v1 hierarchy.
fn assert_pure_v2() {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mut v2_at_root = false;
    for line in mounts.lines() {
        let (left, right) = line.split_once(" - ").unwrap();
        let mount_point = left.split(' ').nth(4).unwrap();
        let fstype = right.split(' ').next().unwrap();
        assert_ne!(
            fstype, "cgroup",
            "{NOT_PURE_V2}: a cgroup v1 hierarchy is mounted: {line}"
        );
        v2_at_root |= fstype == "cgroup2" && mount_point == "/sys/fs/cgroup";
    }
    assert!(
        v2_at_root,
        "{NOT_PURE_V2}: /sys/fs/cgroup is not cgroup2:\n{mounts}"
    );
}

fn sandboxer() -> &'static Sandboxer {
    static S: OnceLock<Sandboxer> = OnceLock::new();
    S.get_or_init(|| {
        if v2_required() {
            assert_pure_v2();
        }
        let s = Sandboxer::new(SandboxerConfig {
            state_dir: "/run/flint-sandbox-test-v2".into(),
            cgroup_parent: PARENT.into(),
            ..Default::default()
        })
        .expect("sandboxer");
        if v2_required() {
            assert!(
                matches!(s.host().cgroup, CgroupFlavor::V2 { .. }),
                "FLINT_TEST_CGROUP_V2=1 but flint picked {:?}",
                s.host().cgroup
            );
        }
        assert!(s.cgroups_enforced(), "{:?}", s.cgroup_problems());
        s
    })
}

/// Where one environment's limits live, for the layout the host has.
enum Dirs {
    V1 {
        memory: PathBuf,
        cpu: PathBuf,
        pids: PathBuf,
        freezer: PathBuf,
    },
    V2(PathBuf),
}

impl Dirs {
    fn of(id: &str) -> Self {
        Self::under(PARENT, id)
    }

    fn under(parent: &str, id: &str) -> Self {
        Self::in_layout(&sandboxer().host().cgroup, parent, id)
    }

    fn in_layout(flavor: &CgroupFlavor, parent: &str, id: &str) -> Self {
        match flavor.clone() {
            CgroupFlavor::V1 {
                memory,
                cpu,
                pids,
                freezer,
            } => Dirs::V1 {
                memory: memory.join(parent).join(id),
                cpu: cpu.join(parent).join(id),
                pids: pids.join(parent).join(id),
                freezer: freezer.join(parent).join(id),
            },
            CgroupFlavor::V2 { root, .. } => Dirs::V2(root.join(parent).join(id)),
            CgroupFlavor::None { reason } => panic!("no cgroups: {reason}"),
        }
    }

    fn all(&self) -> Vec<&Path> {
        match self {
            Dirs::V1 {
                memory,
                cpu,
                pids,
                freezer,
            } => vec![memory, cpu, pids, freezer],
            Dirs::V2(d) => vec![d],
        }
    }

    fn pids(&self) -> &Path {
        match self {
            Dirs::V1 { pids, .. } => pids,
            Dirs::V2(d) => d,
        }
    }

    /// Host pids in the environment's cgroup.
    fn procs(&self) -> Vec<i32> {
        read(&self.pids().join("cgroup.procs"))
            .lines()
            .map(|l| l.parse().unwrap())
            .collect()
    }

    fn assert_gone(&self) {
        for d in self.all() {
            assert!(!d.exists(), "{} survived", d.display());
        }
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

/// The value of `key` in a `key value` file (`memory.events`, `pids.events`, `cpu.stat`).
fn keyed(p: &Path, key: &str) -> u64 {
    read(p)
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {}", p.display()))
}

/// utime + stime of `pids`, in clock ticks (100 per second on Linux).
fn cpu_ticks(pids: &[i32]) -> u64 {
    pids.iter()
        .map(|p| {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            let after_comm = stat.rsplit_once(") ").map_or("", |(_, r)| r);
            let f: Vec<&str> = after_comm.split(' ').collect();
            let field = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            field(11) + field(12)
        })
        .sum()
}

fn unique_id(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "v2-{}-{tag}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn task_dir() -> PathBuf {
    static D: OnceLock<PathBuf> = OnceLock::new();
    D.get_or_init(|| {
        let d = std::env::temp_dir().join("flint-sbx-test-v2-task");
        std::fs::create_dir_all(&d).unwrap();
        d
    })
    .clone()
}

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

/// Everything the function writes to a pipe, collected by a thread.
fn capture() -> (OwnedFd, JoinHandle<String>) {
    let (mut r, w) = std::io::pipe().unwrap();
    let h = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = r.read_to_string(&mut s);
        s
    });
    (OwnedFd::from(w), h)
}

fn spec(tag: &str, argv: &[&str]) -> (SandboxSpec, JoinHandle<String>) {
    let (out, h) = capture();
    let err = out.try_clone().unwrap();
    let mut s = SandboxSpec::new(
        unique_id(tag),
        task_dir(),
        argv.iter().map(|a| a.to_string()).collect(),
        out,
        err,
    );
    s.env = flint_sandbox::lambda_base_env();
    (s, h)
}

/// A started 64 MB function (with a whole CPU) that waits on fd 3 until the test writes a
/// byte to `go` (so limits can be read or changed first), then touches `alloc_mb` MiB.
struct Gated {
    sb: Sandbox,
    dirs: Dirs,
    go: std::io::PipeWriter,
    out: JoinHandle<String>,
}

fn start_64mb_python(tag: &str, alloc_mb: u64) -> Gated {
    let (r, go) = std::io::pipe().unwrap();
    let code = format!("import os\nos.read(3, 1)\n{}", allocate(alloc_mb));
    let (mut s, out) = spec(tag, &[PY, "-c", &code]);
    s.extra_fds.push(OwnedFd::from(r));
    s.memory_mb = 64;
    s.cpu_millis = FULL_CPU;
    let dirs = Dirs::of(&s.id);
    let sb = sandboxer().spawn(s).unwrap();
    Gated { sb, dirs, go, out }
}

fn wait(sb: &mut Sandbox) -> ExitStatus {
    sb.wait_timeout(Duration::from_secs(120))
        .unwrap()
        .expect("the function did not exit in 120 s")
}

/// Touches `mb` MiB, one byte per page, then prints `survived`.
fn allocate(mb: u64) -> String {
    format!(
        "a = bytearray({mb} << 20)\nfor i in range(0, len(a), 4096): a[i] = 1\nprint('survived', flush=True)\n"
    )
}

#[test]
#[ignore = "needs root: scripts/test runs it with --include-ignored"]
fn memory_max_oom_kills_and_reports_it() {
    let Gated {
        mut sb,
        dirs,
        go,
        out,
    } = start_64mb_python("oom", 200);
    match &dirs {
        Dirs::V2(d) => assert_eq!(read(&d.join("memory.max")).trim(), "67108864"),
        Dirs::V1 { memory, .. } => {
            assert_eq!(
                read(&memory.join("memory.limit_in_bytes")).trim(),
                "67108864"
            )
        }
    }
    (&go).write_all(b"g").unwrap();
    let st = wait(&mut sb);
    assert_eq!(st, ExitStatus::Signaled(libc::SIGKILL), "{st:?}");
    assert!(sb.oom_killed().unwrap(), "OOM kill not reported");
    if let Dirs::V2(d) = &dirs {
        assert!(keyed(&d.join("memory.events"), "oom_kill") >= 1);
        assert!(keyed(&d.join("memory.events"), "max") >= 1);
    }
    let peak = sb.memory_peak_bytes().unwrap();
    assert!(peak <= 64 << 20, "peak {peak} over memory.max");
    assert!(peak >= 32 << 20, "peak {peak}: the function barely ran");
    sb.destroy().unwrap();
    dirs.assert_gone();
    assert!(!out.join().unwrap().contains("survived"));
}

fn swap_total_kb() -> u64 {
    read(Path::new("/proc/meminfo"))
        .lines()
        .find_map(|l| l.strip_prefix("SwapTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// flint writes memory.swap.max=0 so that a function's memory size is a hard limit, as on
/// Lambda. The proof needs swap on the host: the same function survives once swap is
/// allowed for its cgroup, and is OOM-killed with flint's setting.
#[test]
#[ignore = "needs root: scripts/test runs it with --include-ignored"]
fn memory_swap_max_keeps_the_limit_hard() {
    let swap = swap_total_kb();
    if v2_required() {
        assert!(
            swap >= 256 * 1024,
            "the VM must have swap (SwapTotal {swap} kB)"
        );
    }
    // With flint's settings: no swap, so OOM.
    let Gated {
        mut sb,
        dirs,
        go,
        out,
    } = start_64mb_python("noswap", 96);
    let swap_file = match &dirs {
        Dirs::V2(d) => Some(d.join("memory.swap.max")),
        Dirs::V1 { memory, .. } => {
            Some(memory.join("memory.memsw.limit_in_bytes")).filter(|p| p.exists())
        }
    };
    if let Some(f) = &swap_file {
        let want = if matches!(dirs, Dirs::V2(_)) {
            "0"
        } else {
            "67108864"
        };
        assert_eq!(read(f).trim(), want, "{}", f.display());
    } else {
        assert!(!v2_required(), "no memory.swap.max on cgroup v2");
    }
    (&go).write_all(b"g").unwrap();
    assert_eq!(wait(&mut sb), ExitStatus::Signaled(libc::SIGKILL));
    assert!(sb.oom_killed().unwrap());
    sb.destroy().unwrap();
    assert!(!out.join().unwrap().contains("survived"));
    dirs.assert_gone();

    // The control: the same function with swap allowed survives (v2 only, and only with
    // swap: otherwise there is nothing to allow).
    let Dirs::V2(_) = dirs else { return };
    if swap < 256 * 1024 {
        return;
    }
    let Gated {
        mut sb,
        dirs,
        go,
        out,
    } = start_64mb_python("swap", 96);
    let Dirs::V2(d) = &dirs else { unreachable!() };
    std::fs::write(d.join("memory.swap.max"), "max").unwrap();
    (&go).write_all(b"g").unwrap();
    let st = wait(&mut sb);
    let out = out.join().unwrap();
    assert_eq!(st, ExitStatus::Exited(0), "with swap allowed: {out}");
    assert!(out.contains("survived"), "{out}");
    assert!(!sb.oom_killed().unwrap());
    sb.destroy().unwrap();
}

/// The quota flint writes, and what the kernel makes of it: a busy loop is throttled to it.
#[test]
#[ignore = "needs root: scripts/test runs it with --include-ignored"]
fn cpu_max_is_in_proportion_to_memory() {
    let cpus = sandboxer().host().host_cpus;
    // 1769 MB buys one vCPU (Lambda's rule), capped at the host's cores.
    let mut seen = Vec::new();
    for memory_mb in [128u64, 512, 1769] {
        let (mut s, _out) = spec("cpumax", &["/bin/sleep", "60"]);
        s.memory_mb = memory_mb;
        s.cpu_millis = flint_sandbox::cpu_millis_for_memory(memory_mb, cpus);
        let id = s.id.clone();
        let sb = sandboxer().spawn(s).unwrap();
        let (quota, period) = match Dirs::of(&id) {
            Dirs::V2(d) => {
                let v = read(&d.join("cpu.max"));
                let (q, p) = v.trim().split_once(' ').unwrap();
                (q.parse::<u64>().unwrap(), p.parse::<u64>().unwrap())
            }
            Dirs::V1 { cpu, .. } => (
                read(&cpu.join("cpu.cfs_quota_us")).trim().parse().unwrap(),
                read(&cpu.join("cpu.cfs_period_us")).trim().parse().unwrap(),
            ),
        };
        sb.destroy().unwrap();
        assert_eq!(period, 100_000);
        let expected = (memory_mb * 100_000 / 1769).min(cpus * 100_000);
        // cpu_millis is rounded to whole milli-vCPUs: within 100 µs of the exact share.
        assert!(
            quota.abs_diff(expected) <= 100,
            "{memory_mb} MB: quota {quota}, expected ~{expected}"
        );
        seen.push(quota);
    }
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");

    // 128 MB: 7.2 % of a CPU. A busy loop for a while gets about that, not a whole core.
    let (mut s, _out) = spec("throttle", &["/bin/sh", "-c", "while :; do :; done"]);
    s.memory_mb = 128;
    s.cpu_millis = flint_sandbox::cpu_millis_for_memory(128, cpus);
    let id = s.id.clone();
    let sb = sandboxer().spawn(s).unwrap();
    let wall = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    let (used_us, throttled) = match Dirs::of(&id) {
        Dirs::V2(d) => (
            keyed(&d.join("cpu.stat"), "usage_usec"),
            keyed(&d.join("cpu.stat"), "nr_throttled"),
        ),
        // v1 keeps usage in cpuacct, which flint does not create: count the processes' own.
        Dirs::V1 { cpu, .. } => (
            cpu_ticks(&Dirs::of(&id).procs()) * 10_000,
            keyed(&cpu.join("cpu.stat"), "nr_throttled"),
        ),
    };
    let wall_us = wall.elapsed().as_micros() as u64;
    sb.destroy().unwrap();
    assert!(throttled > 0, "never throttled");
    // 7.2 % of the wall time plus one period of slack for start-up.
    let allowed = wall_us * 72 / 1000 + 100_000;
    assert!(
        used_us <= allowed,
        "used {used_us} µs of CPU in {wall_us} µs (allowed {allowed})"
    );
}

#[test]
#[ignore = "needs root: scripts/test runs it with --include-ignored"]
fn fork_bomb_stops_at_pids_max() {
    let (mut s, _out) = spec("bomb", &["/bin/sh", "-c", "b() { b | b & }; b; sleep 60"]);
    s.pids_max = 32;
    let id = s.id.clone();
    let sb = sandboxer().spawn(s).unwrap();
    let dirs = Dirs::of(&id);
    let pids = dirs.pids().to_owned();
    assert_eq!(read(&pids.join("pids.max")).trim(), "32");
    assert!(
        wait_until(60, || keyed(&pids.join("pids.events"), "max") > 0),
        "pids.max never hit: {}",
        read(&pids.join("pids.events"))
    );
    let current: u64 = read(&pids.join("pids.current")).trim().parse().unwrap();
    assert!(current <= 32, "pids.current {current} over pids.max");
    // The host still forks.
    assert!(
        std::process::Command::new("/bin/true")
            .status()
            .unwrap()
            .success()
    );
    let t = Instant::now();
    sb.destroy().unwrap();
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    dirs.assert_gone();
}

#[test]
#[ignore = "needs root: scripts/test runs it with --include-ignored"]
fn freeze_stops_every_process_and_thaw_resumes_them() {
    let lines = Arc::new(AtomicUsize::new(0));
    let (mut r, w) = std::io::pipe().unwrap();
    let counter = lines.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 {
                break;
            }
            let nl = buf[..n].iter().filter(|b| **b == b'\n').count();
            counter.fetch_add(nl, Ordering::Relaxed);
        }
    });
    let err = w.try_clone().unwrap();
    let mut s = SandboxSpec::new(
        unique_id("freeze"),
        task_dir(),
        vec![
            "/bin/sh".into(),
            "-c".into(),
            // A second busy process, so that freezing one tree is not enough.
            "while :; do :; done & while :; do echo x; sleep 0.01; done".into(),
        ],
        OwnedFd::from(w),
        OwnedFd::from(err),
    );
    s.env = flint_sandbox::lambda_base_env();
    let id = s.id.clone();
    let sb = sandboxer().spawn(s).unwrap();
    let dirs = Dirs::of(&id);
    assert!(
        wait_until(30, || lines.load(Ordering::Relaxed) > 0),
        "no output"
    );
    assert!(
        wait_until(30, || dirs.procs().len() >= 3),
        "{:?}",
        dirs.procs()
    );
    sb.freeze().unwrap();
    match &dirs {
        Dirs::V2(d) => {
            assert_eq!(read(&d.join("cgroup.freeze")).trim(), "1");
            assert_eq!(keyed(&d.join("cgroup.events"), "frozen"), 1);
        }
        Dirs::V1 { freezer, .. } => {
            assert_eq!(read(&freezer.join("freezer.state")).trim(), "FROZEN")
        }
    }
    // No process of the environment runs: utime+stime stand still.
    std::thread::sleep(Duration::from_millis(100));
    let (ticks, before) = (cpu_ticks(&dirs.procs()), lines.load(Ordering::Relaxed));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(cpu_ticks(&dirs.procs()), ticks, "a frozen process used CPU");
    assert_eq!(lines.load(Ordering::Relaxed), before, "output while frozen");
    sb.thaw().unwrap();
    if let Dirs::V2(d) = &dirs {
        assert_eq!(keyed(&d.join("cgroup.events"), "frozen"), 0);
    }
    assert!(
        wait_until(30, || lines.load(Ordering::Relaxed) > before),
        "no output after thaw"
    );
    // Frozen again, then destroyed: the kill must get through.
    sb.freeze().unwrap();
    sb.destroy().unwrap();
    dirs.assert_gone();
}

#[test]
#[ignore = "needs root: scripts/test runs it with --include-ignored"]
fn kill_ends_every_process_of_the_environment() {
    for frozen in [false, true] {
        let (s, _out) = spec(
            "kill",
            &[
                "/bin/sh",
                "-c",
                "sleep 100 & (sleep 100 & sleep 100) & sleep 100",
            ],
        );
        let id = s.id.clone();
        let mut sb = sandboxer().spawn(s).unwrap();
        let dirs = Dirs::of(&id);
        assert!(
            wait_until(30, || dirs.procs().len() >= 5),
            "{:?}",
            dirs.procs()
        );
        let procs = dirs.procs();
        assert!(
            procs.contains(&sb.pid()),
            "init not in its cgroup: {procs:?}"
        );
        if frozen {
            sb.freeze().unwrap();
        }
        sb.kill().unwrap();
        assert_eq!(wait(&mut sb), ExitStatus::Signaled(libc::SIGKILL));
        assert!(
            wait_until(10, || dirs.procs().is_empty()),
            "left in the cgroup (frozen={frozen}): {:?}",
            dirs.procs()
        );
        for p in &procs {
            assert!(
                !Path::new(&format!("/proc/{p}")).exists(),
                "process {p} survived the kill (frozen={frozen})"
            );
        }
        sb.destroy().unwrap();
        dirs.assert_gone();
    }
}

#[test]
#[ignore = "needs root: scripts/test runs it with --include-ignored"]
fn no_cgroup_is_left_after_destroy_or_a_failed_spawn() {
    // A normal life: the directory exists while the environment runs, not after.
    let (s, _out) = spec("life", &["/bin/sleep", "60"]);
    let id = s.id.clone();
    let sb = sandboxer().spawn(s).unwrap();
    let dirs = Dirs::of(&id);
    assert!(dirs.all().iter().all(|d| d.is_dir()));
    sb.destroy().unwrap();
    dirs.assert_gone();

    // The function cannot be started: the spawn fails after the cgroup was created.
    let (s, _out) = spec("noexec", &["/no/such/binary"]);
    let id = s.id.clone();
    let err = sandboxer().spawn(s).unwrap_err().to_string();
    assert!(err.contains("execve"), "{err}");
    Dirs::of(&id).assert_gone();

    // Dropped without destroy.
    let (s, _out) = spec("drop", &["/bin/sleep", "60"]);
    let id = s.id.clone();
    drop(sandboxer().spawn(s).unwrap());
    Dirs::of(&id).assert_gone();

    // A second environment under a live one's id: refused, and the live one keeps its cgroup.
    let (s, _out) = spec("dup", &["/bin/sleep", "60"]);
    let id = s.id.clone();
    let sb = sandboxer().spawn(s).unwrap();
    let (mut again, _out2) = spec("dup", &["/bin/true"]);
    again.id = id.clone();
    assert!(sandboxer().spawn(again).is_err());
    let dirs = Dirs::of(&id);
    assert!(
        dirs.all().iter().all(|d| d.is_dir()),
        "a failed spawn removed a live cgroup"
    );
    assert!(dirs.procs().contains(&sb.pid()));
    sb.destroy().unwrap();
    dirs.assert_gone();
}

const ROOTLESS_PARENT_ENV: &str = "FLINT_TEST_ROOTLESS_CGROUP_PARENT";
const ROOTLESS_UID: u32 = 1000;

/// As an unprivileged user, in a subtree delegated to it the way systemd does
/// (`Delegate=yes`: the directory and its `cgroup.procs`, `cgroup.subtree_control`,
/// `cgroup.threads`, on v1 `tasks`, are the user's), flint gets the same limits as root.
/// On v2 the user's process must sit inside the subtree too (moves need write access to the
/// common ancestor's `cgroup.procs`).
#[test]
#[ignore = "needs root: scripts/test runs it with --include-ignored"]
fn rootless_sandboxes_get_limits_in_a_delegated_subtree() {
    let name = format!("flint-test-deleg-{}", std::process::id());
    let flavor = sandboxer().host().cgroup.clone();
    let mut roots: Vec<PathBuf> = match &flavor {
        CgroupFlavor::V1 {
            memory,
            cpu,
            pids,
            freezer,
        } => vec![memory.clone(), cpu.clone(), pids.clone(), freezer.clone()],
        CgroupFlavor::V2 { root, .. } => vec![root.clone()],
        CgroupFlavor::None { reason } => panic!("no cgroups: {reason}"),
    };
    roots.sort();
    roots.dedup(); // co-mounted v1 controllers share one hierarchy
    let chown = |p: &Path| std::os::unix::fs::chown(p, Some(ROOTLESS_UID), Some(ROOTLESS_UID));
    for root in &roots {
        let deleg = root.join(&name);
        std::fs::create_dir(&deleg).unwrap();
        for f in [
            "",
            "cgroup.procs",
            "cgroup.subtree_control",
            "cgroup.threads",
            "tasks",
        ] {
            if deleg.join(f).exists() {
                chown(&deleg.join(f)).unwrap();
            }
        }
    }
    let v2_self = match &flavor {
        CgroupFlavor::V2 { root, .. } => {
            let d = root.join(&name).join("self");
            std::fs::create_dir(&d).unwrap();
            Some(d)
        }
        _ => None,
    };
    // The test binary, where the user can run it (the build directory may be private).
    let work = std::env::temp_dir().join(format!("flint-rootless-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let exe = work.join("cgroup_v2");
    std::fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
    chown(&work).unwrap();
    let enter = v2_self.as_ref().map_or(String::new(), |d| {
        format!("echo $$ > {}/cgroup.procs && ", d.display())
    });
    let script = format!(
        "{enter}exec setpriv --reuid={ROOTLESS_UID} --regid={ROOTLESS_UID} --clear-groups \
         \"$0\" --include-ignored --exact rootless_helper --nocapture --test-threads=1"
    );
    let out = std::process::Command::new("/bin/sh")
        .args(["-c", &script])
        .arg(&exe)
        .env(ROOTLESS_PARENT_ENV, format!("{name}/envs"))
        .env("TMPDIR", &work)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&work);
    for root in &roots {
        for d in ["envs", "self", ""] {
            let _ = std::fs::remove_dir(root.join(&name).join(d));
        }
    }
    assert!(out.status.success(), "{text}");
    assert!(text.contains("ROOTLESS-LIMITS-OK"), "{text}");
    for root in &roots {
        assert!(
            !root.join(&name).exists(),
            "a cgroup was left in {}",
            root.display()
        );
    }
}

/// The unprivileged half of the test above, started by it.
#[test]
#[ignore = "helper, started by rootless_sandboxes_get_limits_in_a_delegated_subtree"]
fn rootless_helper() {
    let Ok(parent) = std::env::var(ROOTLESS_PARENT_ENV) else {
        return;
    };
    // SAFETY: geteuid cannot fail.
    assert_eq!(unsafe { libc::geteuid() }, ROOTLESS_UID);
    let sbx = Sandboxer::new(SandboxerConfig {
        state_dir: std::env::temp_dir().join("state"),
        cgroup_parent: parent.clone(),
        ..Default::default()
    })
    .expect("rootless sandboxer in a delegated subtree");
    assert!(sbx.cgroups_enforced(), "{:?}", sbx.cgroup_problems());
    let task = std::env::temp_dir().join("task");
    std::fs::create_dir_all(&task).unwrap();
    let (out, _h) = capture();
    let err = out.try_clone().unwrap();
    let mut s = SandboxSpec::new(
        "rootless-env",
        task,
        vec!["/bin/sleep".into(), "60".into()],
        out,
        err,
    );
    s.memory_mb = 64;
    s.pids_max = 16;
    let sb = sbx.spawn(s).expect("rootless spawn");
    let dirs = Dirs::in_layout(&sbx.host().cgroup, &parent, "rootless-env");
    let memory_max = match &dirs {
        Dirs::V2(d) => d.join("memory.max"),
        Dirs::V1 { memory, .. } => memory.join("memory.limit_in_bytes"),
    };
    assert_eq!(read(&memory_max).trim(), "67108864");
    assert_eq!(read(&dirs.pids().join("pids.max")).trim(), "16");
    assert!(dirs.procs().contains(&sb.pid()));
    sb.freeze().unwrap();
    sb.destroy().unwrap();
    dirs.assert_gone();
    println!("ROOTLESS-LIMITS-OK");
}

/// Spawns through the single-threaded spawn helper (what the flint server uses) get the
/// same cgroup, with the same limits, and leave nothing behind either.
#[test]
#[ignore = "needs root: scripts/test runs it with --include-ignored"]
fn spawn_helper_environments_get_the_same_cgroups() {
    let _ = sandboxer(); // the pure-v2 check, and the same host probe
    // A parent of its own: a helper that exits (when its Sandboxer is dropped) kills
    // whatever is left under its parent.
    let parent = "flint-test-v2-helper";
    let sbx = Sandboxer::new(SandboxerConfig {
        state_dir: "/run/flint-sandbox-test-v2-helper".into(),
        cgroup_parent: parent.into(),
        spawn_helper: Some((env!("CARGO_BIN_EXE_flint-sandbox-helper").into(), vec![])),
        ..Default::default()
    })
    .unwrap();
    let (mut s, out) = spec("helper", &["/bin/sh", "-c", "sleep 60 & wait"]);
    s.memory_mb = 96;
    s.pids_max = 20;
    let id = s.id.clone();
    let mut sb = sbx.spawn(s).unwrap();
    let dirs = Dirs::under(parent, &id);
    assert!(
        wait_until(30, || dirs.procs().len() >= 3),
        "{:?}",
        dirs.procs()
    );
    assert!(dirs.procs().contains(&sb.pid()), "init not in its cgroup");
    assert_eq!(read(&dirs.pids().join("pids.max")).trim(), "20");
    if let Dirs::V2(d) = &dirs {
        assert_eq!(
            read(&d.join("memory.max")).trim(),
            (96u64 << 20).to_string()
        );
    }
    sb.kill().unwrap();
    assert_eq!(wait(&mut sb), ExitStatus::Signaled(libc::SIGKILL));
    sb.destroy().unwrap();
    dirs.assert_gone();
    drop(out);
}
