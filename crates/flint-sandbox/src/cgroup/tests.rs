use super::*;
use crate::memory_files::HeldFiles;
use crate::spec::cpu_millis_for_memory;
use crate::sys::fake::{Call, Recorder};
use crate::sys::seam::LINUX;
use std::fs;

#[test]
fn limits_from_lambda_values() {
    let l = Limits::new(128, 72, 1024);
    assert_eq!(l.memory_bytes, 134_217_728);
    assert_eq!(l.cpu_quota_us, 7_200);
    assert_eq!(l.cpu_period_us, 100_000);
    assert_eq!(Limits::new(128, 1, 10).cpu_quota_us, 1000, "kernel minimum");
    assert_eq!(
        Limits::new(3538, 2000, 10).cpu_quota_us,
        200_000,
        "two cores"
    );
}

#[test]
fn v1_and_v2_files() {
    let l = Limits::new(256, 500, 64);
    let v1 = v1_writes(&l);
    let memsw = v1
        .iter()
        .position(|w| w.1 == "memory.memsw.limit_in_bytes")
        .unwrap();
    let lim = v1
        .iter()
        .position(|w| w.1 == "memory.limit_in_bytes")
        .unwrap();
    assert!(lim < memsw, "memsw must follow limit_in_bytes");
    assert!(v1.contains(&(V1Ctl::Cpu, "cpu.cfs_quota_us", "50000".into())));
    assert!(v1.contains(&(V1Ctl::Pids, "pids.max", "64".into())));
    let v2 = v2_writes(&l);
    assert!(v2.contains(&("cpu.max", "50000 100000".into())));
    assert!(v2.contains(&("memory.swap.max", "0".into())));
    assert!(v2.contains(&("memory.max", "268435456".into())));
    // CPU weight in proportion to memory too: 1769 MB weighs what a nice-0 task does.
    assert_eq!(Limits::new(1769, 1000, 1).cpu_shares, 1024);
    assert_eq!(Limits::new(128, 72, 1).cpu_shares, 74);
    assert_eq!(Limits::new(1, 10, 1).cpu_shares, 2, "the kernel's minimum");
    assert_eq!(v2_weight(1024), 100);
    assert_eq!(v2_weight(74), 7);
    assert_eq!(v2_weight(2), 1);
    assert_eq!(v2_weight(262_144), 10_000);
    assert!(v1.contains(&(V1Ctl::Cpu, "cpu.shares", "148".into())));
    assert!(v2.contains(&("cpu.weight", "14".into())));
}

#[test]
fn keyed_values() {
    let v1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n";
    assert_eq!(keyed_value(v1, "oom_kill"), Some(1));
    let v2 = "low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\noom_group_kill 0\n";
    assert_eq!(keyed_value(v2, "oom_kill"), Some(2));
    assert_eq!(keyed_value("populated 1\nfrozen 1\n", "frozen"), Some(1));
    assert_eq!(keyed_value("", "frozen"), None);
}

/// The v2 code paths (freeze via `cgroup.freeze`/`cgroup.events`, `cgroup.kill`, removal)
/// against the real cgroup2 mount. On hybrid hosts that mount has no controllers, which is
/// enough for these files; limits are covered by the v1 integration tests. Needs root.
#[test]
#[ignore = "needs root: scripts/test runs it with --include-ignored"]
fn v2_freeze_kill_remove_on_real_cgroup2() {
    let mounts =
        crate::host::parse_cgroup_mounts(&fs::read_to_string("/proc/self/mountinfo").unwrap());
    let root = mounts
        .into_iter()
        .find(|m| m.v2)
        .map(|m| m.mount_point)
        .expect("this test needs a cgroup2 mount (pure v2 or hybrid host)");
    let dir = root.join(format!("flint-v2-test-{}", std::process::id()));
    fs::create_dir(&dir).unwrap();
    let h = CgroupHandle::V2 { dir: dir.clone() };
    let mut child = std::process::Command::new("/bin/sleep")
        .arg("30")
        .spawn()
        .unwrap();
    h.attach(&LINUX, child.id() as i32).unwrap();
    assert_eq!(h.pids(&LINUX), vec![child.id() as i32]);
    h.freeze(&LINUX).unwrap();
    assert!(h.is_frozen(&LINUX));
    let st = fs::read_to_string(format!("/proc/{}/stat", child.id())).unwrap();
    assert!(!st.contains(") R "), "{st}");
    h.thaw(&LINUX).unwrap();
    assert!(!h.is_frozen(&LINUX));
    h.freeze(&LINUX).unwrap();
    // remove() must kill (cgroup.kill works on frozen cgroups) and rmdir.
    h.remove(&LINUX).unwrap();
    assert!(!dir.exists());
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGKILL)
    );
}

// ---- The cgroup plans, against the recording fake (no root).

fn v2() -> CgroupFlavor {
    CgroupFlavor::V2 {
        root: "/cg".into(),
        controllers: vec!["cpu".into(), "memory".into(), "pids".into()],
    }
}

fn v1() -> CgroupFlavor {
    CgroupFlavor::V1 {
        memory: "/cg/memory".into(),
        cpu: "/cg/cpu".into(),
        pids: "/cg/pids".into(),
        freezer: "/cg/freezer".into(),
    }
}

fn write(path: &str, value: &str) -> Call {
    Call::WriteFile(path.into(), value.into())
}

/// A function of `memory_mb` on a 2-CPU host, as the invoke layer asks for it.
fn limits(memory_mb: u64) -> Limits {
    Limits::new(memory_mb, cpu_millis_for_memory(memory_mb, 2), 1024)
}

#[test]
fn a_512_mb_function_on_v2_gets_memory_no_swap_a_cpu_share_and_a_pids_limit() {
    let fake = Recorder::leaked();
    let guard = CgroupHandle::create(fake, &v2(), "flint", "env-1", &limits(512)).unwrap();
    assert_eq!(
        fake.calls(),
        [
            Call::Mkdir("/cg/flint/env-1".into()),
            write("/cg/flint/env-1/memory.max", "536870912"),
            write("/cg/flint/env-1/memory.swap.max", "0"),
            // 512 / 1769 of a vCPU: 28.9 ms of every 100 ms.
            write("/cg/flint/env-1/cpu.max", "28900 100000"),
            // And its weight when the host is busy: 512 / 1769 of a nice-0 task's 100.
            write("/cg/flint/env-1/cpu.weight", "28"),
            write("/cg/flint/env-1/pids.max", "1024"),
        ]
    );
    drop(guard);
}

#[test]
fn the_cpu_share_is_in_proportion_to_memory_up_to_the_hosts_cpus() {
    for (memory_mb, cpu_max) in [
        (128, "7200 100000"),
        (1769, "100000 100000"),
        (3538, "200000 100000"),
        (10240, "200000 100000"),
    ] {
        let fake = Recorder::leaked();
        let guard = CgroupHandle::create(fake, &v2(), "flint", "e", &limits(memory_mb)).unwrap();
        assert!(
            fake.calls()
                .contains(&write("/cg/flint/e/cpu.max", cpu_max)),
            "{memory_mb} MB: {:?}",
            fake.calls()
        );
        drop(guard);
    }
}

#[test]
fn a_512_mb_function_on_v1_writes_each_controller_in_order() {
    let fake = Recorder::leaked();
    let guard = CgroupHandle::create(fake, &v1(), "flint", "env-1", &limits(512)).unwrap();
    assert_eq!(
        fake.calls(),
        [
            Call::Mkdir("/cg/memory/flint/env-1".into()),
            Call::Mkdir("/cg/cpu/flint/env-1".into()),
            Call::Mkdir("/cg/pids/flint/env-1".into()),
            Call::Mkdir("/cg/freezer/flint/env-1".into()),
            write("/cg/memory/flint/env-1/memory.limit_in_bytes", "536870912"),
            write(
                "/cg/memory/flint/env-1/memory.memsw.limit_in_bytes",
                "536870912"
            ),
            write("/cg/memory/flint/env-1/memory.swappiness", "0"),
            write("/cg/cpu/flint/env-1/cpu.cfs_period_us", "100000"),
            write("/cg/cpu/flint/env-1/cpu.cfs_quota_us", "28900"),
            write("/cg/cpu/flint/env-1/cpu.shares", "296"),
            write("/cg/pids/flint/env-1/pids.max", "1024"),
        ]
    );
    drop(guard);
}

#[test]
fn missing_optional_files_are_skipped_and_missing_required_ones_fail() {
    // No swap accounting: memsw and memory.swap.max do not exist.
    let fake = Recorder::leaked();
    fake.fail_when(libc::ENOENT, |c| {
        matches!(c, Call::WriteFile(p, _) if p.ends_with("memory.memsw.limit_in_bytes")
            || p.ends_with("memory.swap.max"))
    });
    assert!(CgroupHandle::create(fake, &v1(), "flint", "a", &limits(128)).is_ok());
    assert!(CgroupHandle::create(fake, &v2(), "flint", "b", &limits(128)).is_ok());
    // No CFS quota (cpu controller missing): an error, not a silent unlimited CPU.
    let fake = Recorder::leaked();
    fake.fail_when(
        libc::ENOENT,
        |c| matches!(c, Call::WriteFile(p, _) if p.ends_with("cpu.cfs_quota_us")),
    );
    let err = CgroupHandle::create(fake, &v1(), "flint", "c", &limits(128)).unwrap_err();
    assert!(err.to_string().contains("cpu.cfs_quota_us"), "{err}");
}

#[test]
fn a_failed_limit_removes_the_cgroup_and_nothing_else_is_attempted() {
    let fake = Recorder::leaked();
    fake.fail_when(
        libc::EINVAL,
        |c| matches!(c, Call::WriteFile(p, _) if p.ends_with("cpu.max")),
    );
    assert!(CgroupHandle::create(fake, &v2(), "flint", "e", &limits(512)).is_err());
    let calls = fake.calls();
    let failed = calls
        .iter()
        .position(|c| matches!(c, Call::WriteFile(p, _) if p.ends_with("cpu.max")))
        .unwrap();
    // pids.max is never written; the guard kills what is left and removes the directory.
    assert_eq!(
        calls[failed + 1..],
        [
            write("/cg/flint/e/cgroup.kill", "1"),
            Call::ReadFile("/cg/flint/e/cgroup.procs".into()),
            Call::Rmdir("/cg/flint/e".into()),
        ]
    );
}

#[test]
fn a_cgroup_created_part_way_loses_only_what_was_created() {
    let fake = Recorder::leaked();
    fake.fail_when(
        libc::EEXIST,
        |c| matches!(c, Call::Mkdir(p) if p.starts_with("/cg/pids")),
    );
    let err = CgroupHandle::create(fake, &v1(), "flint", "e", &limits(512)).unwrap_err();
    assert!(err.to_string().contains("mkdir /cg/pids/flint/e"), "{err}");
    assert_eq!(
        fake.calls(),
        [
            Call::Mkdir("/cg/memory/flint/e".into()),
            Call::Mkdir("/cg/cpu/flint/e".into()),
            Call::Mkdir("/cg/pids/flint/e".into()),
            // The existing pids cgroup is not this guard's to remove; no limits were written.
            Call::Rmdir("/cg/cpu/flint/e".into()),
            Call::Rmdir("/cg/memory/flint/e".into()),
        ]
    );
}

#[test]
fn dropping_the_guard_removes_the_cgroup_and_an_explicit_remove_happens_once() {
    let fake = Recorder::leaked();
    let guard = CgroupHandle::create(fake, &v2(), "flint", "e", &limits(512)).unwrap();
    let created = fake.calls().len();
    drop(guard);
    assert_eq!(
        fake.calls()[created..],
        [
            write("/cg/flint/e/cgroup.kill", "1"),
            Call::ReadFile("/cg/flint/e/cgroup.procs".into()),
            Call::Rmdir("/cg/flint/e".into()),
        ]
    );
    let fake = Recorder::leaked();
    let guard = CgroupHandle::create(fake, &v1(), "flint", "e", &limits(512)).unwrap();
    let created = fake.calls().len();
    guard.remove().unwrap();
    let rmdirs = fake.calls_where(|c| matches!(c, Call::Rmdir(_)));
    assert_eq!(rmdirs.len(), 4, "{:?}", &fake.calls()[created..]);
}

#[test]
fn attach_freeze_thaw_and_unthrottle_write_the_flavors_files() {
    let fake = Recorder::leaked();
    let v1 = CgroupHandle::create(fake, &v1(), "flint", "e", &limits(128)).unwrap();
    let v2 = CgroupHandle::create(fake, &v2(), "flint", "e", &limits(128)).unwrap();
    let from = fake.calls().len();
    v1.attach(fake, 42).unwrap();
    v2.attach(fake, 42).unwrap();
    let writes = |from: usize| -> Vec<Call> {
        fake.calls()[from..]
            .iter()
            .filter(|c| matches!(c, Call::WriteFile(..)))
            .cloned()
            .collect()
    };
    assert_eq!(
        writes(from),
        [
            write("/cg/memory/flint/e/cgroup.procs", "42"),
            write("/cg/cpu/flint/e/cgroup.procs", "42"),
            write("/cg/pids/flint/e/cgroup.procs", "42"),
            write("/cg/freezer/flint/e/cgroup.procs", "42"),
            write("/cg/flint/e/cgroup.procs", "42"),
        ]
    );
    // v1 reads freezer.state back; v2 waits for "frozen 1" in cgroup.events.
    let from = fake.calls().len();
    v1.freeze(fake).unwrap();
    assert!(v1.is_frozen(fake));
    v1.thaw(fake).unwrap();
    assert!(!v1.is_frozen(fake));
    fake.set_file("/cg/flint/e/cgroup.events", "populated 1\nfrozen 1\n");
    v2.freeze(fake).unwrap();
    assert!(v2.is_frozen(fake));
    v1.unthrottle(fake).unwrap();
    v2.unthrottle(fake).unwrap();
    assert_eq!(
        writes(from),
        [
            write("/cg/freezer/flint/e/freezer.state", "FROZEN"),
            write("/cg/freezer/flint/e/freezer.state", "THAWED"),
            write("/cg/flint/e/cgroup.freeze", "1"),
            write("/cg/cpu/flint/e/cpu.cfs_quota_us", "-1"),
            write("/cg/flint/e/cpu.max", "max"),
        ]
    );
    drop((v1, v2));
}

/// Init runs on every host CPU; at the first `/next` only the quota changes to the
/// handler's share (128 MB: 7.2 ms per 100 ms), in each flavor's file.
#[test]
fn the_cpu_quota_switches_from_inits_to_the_handlers_on_v1_and_v2() {
    let fake = Recorder::leaked();
    let init = Limits::new(128, crate::spec::init_cpu_millis(2), 1024);
    let v1 = CgroupHandle::create(fake, &v1(), "flint", "e", &init).unwrap();
    let v2 = CgroupHandle::create(fake, &v2(), "flint", "e", &init).unwrap();
    assert!(
        fake.calls()
            .contains(&write("/cg/cpu/flint/e/cpu.cfs_quota_us", "200000"))
    );
    assert!(
        fake.calls()
            .contains(&write("/cg/flint/e/cpu.max", "200000 100000"))
    );
    let from = fake.calls().len();
    let handler = Limits::new(0, cpu_millis_for_memory(128, 2), 0);
    v1.set_cpu_quota(fake, &handler).unwrap();
    v2.set_cpu_quota(fake, &handler).unwrap();
    assert_eq!(
        fake.calls()[from..],
        [
            write("/cg/cpu/flint/e/cpu.cfs_quota_us", "7200"),
            write("/cg/flint/e/cpu.max", "7200 100000"),
        ]
    );
    drop((v1, v2));
}

#[test]
fn memory_statistics_come_from_the_flavors_files() {
    let fake = Recorder::leaked();
    let v1 = CgroupHandle::create(fake, &v1(), "flint", "e", &limits(128)).unwrap();
    let v2 = CgroupHandle::create(fake, &v2(), "flint", "e", &limits(128)).unwrap();
    fake.set_file("/cg/memory/flint/e/memory.max_usage_in_bytes", "1234\n");
    fake.set_file(
        "/cg/memory/flint/e/memory.oom_control",
        "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
    );
    fake.set_file("/cg/flint/e/memory.peak", "5678\n");
    fake.set_file(
        "/cg/flint/e/memory.events",
        "low 0\nmax 3\noom 2\noom_kill 2\n",
    );
    assert_eq!(v1.memory_peak(fake).unwrap(), 1234);
    assert_eq!(v1.oom_kills(fake).unwrap(), 1);
    assert_eq!(v2.memory_peak(fake).unwrap(), 5678);
    assert_eq!(v2.oom_kills(fake).unwrap(), 2);
    drop((v1, v2));
}

/// Max Memory Used leaves out the page cache no process maps (a 1 GB function that filled
/// `/tmp` with 500 MB is charged for it, but uses 30 MB), and keeps mapped files.
#[test]
fn memory_in_use_leaves_out_unmapped_page_cache_on_v1_and_v2() {
    const MB: u64 = 1024 * 1024;
    let fake = Recorder::leaked();
    let v1 = CgroupHandle::create(fake, &v1(), "flint", "e", &limits(1024)).unwrap();
    let v2 = CgroupHandle::create(fake, &v2(), "flint", "e", &limits(1024)).unwrap();
    // 30 MB anonymous + 4 MB mapped libraries + 2 MB of /dev/shm + 500 MB of /tmp's files.
    fake.set_file(
        "/cg/memory/flint/e/memory.stat",
        &format!(
            "cache {}\nrss {}\nmapped_file {}\nshmem {}\nactive_file {}\ninactive_file {}\n",
            506 * MB,
            30 * MB,
            4 * MB,
            2 * MB,
            100 * MB,
            404 * MB
        ),
    );
    fake.set_file(
        "/cg/flint/e/memory.stat",
        &format!(
            "anon {}\nfile {}\nkernel {}\nfile_mapped {}\nshmem {}\nactive_file {}\ninactive_file {}\n",
            28 * MB,
            506 * MB,
            2 * MB,
            4 * MB,
            0,
            4 * MB,
            500 * MB
        ),
    );
    let now = |in_use| MemoryNow {
        in_use,
        unmapped_file: 500 * MB,
    };
    let (mut files1, mut files2) = (HeldFiles::default(), HeldFiles::default());
    assert_eq!(v1.memory_in_use(fake, &mut files1).unwrap(), now(36 * MB));
    assert_eq!(v2.memory_in_use(fake, &mut files2).unwrap(), now(34 * MB));
    let reads = fake.calls_where(|c| matches!(c, Call::ReadFile(_)));
    assert_eq!(
        reads,
        [
            Call::ReadFile("/cg/memory/flint/e/memory.stat".into()),
            Call::ReadFile("/cg/flint/e/memory.stat".into()),
        ],
        "one read per sample: it runs on every invocation"
    );
    // The processes' own peaks: VmHWM of every process in the cgroup.
    // The sandbox's init (7) is not the function's memory.
    fake.set_file("/cg/flint/e/cgroup.procs", "7\n9\n11\n");
    fake.set_file("/proc/7/status", "Name:\tinit\nVmHWM:\t    1024 kB\n");
    fake.set_file("/proc/9/status", "Name:\tpython3\nVmHWM:\t   40960 kB\n");
    fake.set_file("/proc/11/status", "Name:\tffmpeg\nVmHWM:\t    2048 kB\n");
    assert_eq!(v2.processes_peak_rss(fake, &mut files2, 7), 42 * MB);
    drop((v1, v2));
}

/// The files of a sample are opened once and read again on every later sample, which sees
/// what they hold then; a process that left has its file closed.
#[test]
fn memory_samples_keep_their_files_open_between_invocations() {
    const MB: u64 = 1024 * 1024;
    let fake = Recorder::leaked();
    let v2 = CgroupHandle::create(fake, &v2(), "flint", "e", &limits(1024)).unwrap();
    let mut files = HeldFiles::default();
    fake.set_file("/cg/flint/e/memory.stat", &format!("anon {}\n", 10 * MB));
    fake.set_file("/cg/flint/e/cgroup.procs", "7\n9\n11\n");
    fake.set_file("/proc/9/status", "VmHWM:\t   10240 kB\n");
    fake.set_file("/proc/11/status", "VmHWM:\t    1024 kB\n");
    assert_eq!(v2.memory_in_use(fake, &mut files).unwrap().in_use, 10 * MB);
    assert_eq!(v2.processes_peak_rss(fake, &mut files, 7), 11 * MB);
    assert_eq!(
        files.len(),
        4,
        "memory.stat, cgroup.procs and two status files"
    );

    // The next invocation: more memory, and process 11 has exited.
    fake.set_file("/cg/flint/e/memory.stat", &format!("anon {}\n", 20 * MB));
    fake.set_file("/cg/flint/e/cgroup.procs", "7\n9\n");
    fake.set_file("/proc/9/status", "VmHWM:\t   30720 kB\n");
    assert_eq!(v2.memory_in_use(fake, &mut files).unwrap().in_use, 20 * MB);
    assert_eq!(v2.processes_peak_rss(fake, &mut files, 7), 30 * MB);
    assert_eq!(
        files.len(),
        3,
        "the status file of the process that left is closed"
    );
    let opens = fake.calls_where(|c| matches!(c, Call::OpenForReading(_)));
    assert_eq!(opens.len(), 4, "each file opened once: {opens:?}");
    drop(v2);
}

#[test]
fn preparing_the_parent_enables_the_controllers_and_checks_them() {
    let fake = Recorder::leaked();
    fake.set_file("/cg/a/b/cgroup.controllers", "cpuset cpu io memory pids\n");
    let ready = ready_parent(fake, &v2(), "a/b");
    assert_eq!(
        ready,
        Readiness {
            usable: true,
            problems: vec![]
        }
    );
    let enabled = fake.calls_where(|c| matches!(c, Call::WriteFile(..)));
    let mut want = Vec::new();
    for level in ["/cg", "/cg/a", "/cg/a/b"] {
        for c in ["cpu", "memory", "pids"] {
            want.push(write(
                &format!("{level}/cgroup.subtree_control"),
                &format!("+{c}"),
            ));
        }
    }
    assert_eq!(enabled, want);
    assert!(fake.calls().contains(&Call::MkdirAll("/cg/a/b".into())));

    // Without the pids controller there is no process limit: not usable.
    let fake = Recorder::leaked();
    fake.set_file("/cg/flint/cgroup.controllers", "cpu memory\n");
    assert!(!ready_parent(fake, &v2(), "flint").usable);
    // A controller that cannot be enabled is reported.
    let fake = Recorder::leaked();
    fake.fail_when(libc::EBUSY, |c| {
        matches!(c, Call::WriteFile(p, v) if p == Path::new("/cg/cgroup.subtree_control") && v == "+pids")
    });
    let ready = ready_parent(fake, &v2(), "flint");
    assert!(!ready.usable);
    assert!(
        ready.problems[0].contains("enable pids in /cg/cgroup.subtree_control"),
        "{ready:?}"
    );
    // v1: the parent in each hierarchy.
    let fake = Recorder::leaked();
    assert!(ready_parent(fake, &v1(), "flint").usable);
    assert_eq!(
        fake.calls_where(|c| matches!(c, Call::MkdirAll(_))),
        ["memory", "cpu", "pids", "freezer"]
            .map(|h| Call::MkdirAll(format!("/cg/{h}/flint").into()))
    );
    let none = CgroupFlavor::None {
        reason: "no cgroup mounts".into(),
    };
    assert_eq!(
        ready_parent(Recorder::leaked(), &none, "flint"),
        Readiness {
            usable: false,
            problems: vec!["no cgroup mounts".into()]
        }
    );
}

#[test]
fn stale_environments_are_removed_from_every_hierarchy() {
    let fake = Recorder::leaked();
    fake.set_subdirs("/cg/memory/flint", &["a", "b"]);
    fake.set_subdirs("/cg/pids/flint", &["b", "c"]);
    assert_eq!(remove_stale(fake, &v1(), "flint").unwrap(), 3);
    let rmdirs = fake.calls_where(|c| matches!(c, Call::Rmdir(_)));
    assert_eq!(rmdirs.len(), 3 * 4);
    assert!(rmdirs.contains(&Call::Rmdir("/cg/freezer/flint/c".into())));
    let fake = Recorder::leaked();
    fake.set_subdirs("/cg/flint", &["x"]);
    assert_eq!(remove_stale(fake, &v2(), "flint").unwrap(), 1);
    assert_eq!(
        fake.calls_where(|c| matches!(c, Call::Rmdir(_))),
        [Call::Rmdir("/cg/flint/x".into())]
    );
}

#[test]
fn only_missing_controllers_are_enabled() {
    assert_eq!(controllers_to_enable(""), vec!["cpu", "memory", "pids"]);
    assert_eq!(
        controllers_to_enable("cpuset cpu io memory pids\n"),
        Vec::<&str>::new()
    );
    assert_eq!(controllers_to_enable("memory hugetlb"), vec!["cpu", "pids"]);
    assert_eq!(
        controllers_to_enable("cpuset"),
        vec!["cpu", "memory", "pids"]
    );
}

#[test]
fn a_delegated_subtree_leaves_the_levels_above_it_alone() {
    // systemd's Delegate=yes: the root's file is root's and already enables everything;
    // writing it would fail with EACCES, so nothing is written there.
    let fake = Recorder::leaked();
    fake.set_file("/cg/cgroup.subtree_control", "cpu memory pids\n");
    fake.fail_when(
        libc::EACCES,
        |c| matches!(c, Call::WriteFile(p, _) if p == Path::new("/cg/cgroup.subtree_control")),
    );
    fake.set_file("/cg/flint/cgroup.controllers", "cpu memory pids\n");
    let ready = ready_parent(fake, &v2(), "flint");
    assert_eq!(
        ready,
        Readiness {
            usable: true,
            problems: vec![]
        }
    );
    let written = fake.calls_where(|c| matches!(c, Call::WriteFile(..)));
    assert_eq!(
        written,
        ["cpu", "memory", "pids"]
            .map(|c| write("/cg/flint/cgroup.subtree_control", &format!("+{c}")))
    );
}
