//! The child's steps against the recording fake: what is called, in which order, and where a
//! failure stops it.

use std::ffi::CStr;

use super::*;
use crate::plan::{ChildFds, PlanData, Settings, Start};
use crate::protocol::{PRESTART_READY, ToParent};
use crate::rootfs::{self, HostFacts, TopEntry};
use crate::spec::SandboxSpec;
use crate::specialization::{self, Claim};
use crate::sys::fake::{Call, Recorder};

/// "Unlimited" in the recorded `setrlimit` calls.
const INF: u64 = libc::RLIM_INFINITY;

const FDS: ChildFds = ChildFds {
    sync: 10,
    err_w: 11,
    status_w: 12,
    stdout: 13,
    stderr: 14,
    extra: [-1; crate::spec::MAX_EXTRA_FDS],
    n_extra: 0,
    netns: -1,
};

/// The stop of a step that failed, reported on `fd`.
fn failed_at(fd: i32, step: Step, index: u32, errno: i32) -> Stop {
    Stop::Failed {
        fd,
        failure: Failure::new(step, index, errno),
    }
}

const SETTINGS: Settings = Settings {
    user_namespace: false,
    cap_last_cap: 2,
    nofile: 1024,
};

fn spec() -> SandboxSpec {
    let fd = || std::os::fd::OwnedFd::from(std::fs::File::open("/dev/null").unwrap());
    let mut s = SandboxSpec::new(
        "e",
        "/srv/code",
        vec!["/var/task/bootstrap".into()],
        fd(),
        fd(),
    );
    s.env = vec![("A".into(), "1".into())];
    s.runtime_api_port = Some(9001);
    s
}

/// The real mount plan of `spec` (rootfs.rs) on a small host.
fn plan_data(spec: &SandboxSpec, settings: Settings, start: Start) -> PlanData {
    let facts = HostFacts {
        top_level: vec![
            ("usr".into(), TopEntry::Dir),
            ("bin".into(), TopEntry::Symlink("usr/bin".into())),
        ],
        ..HostFacts::default()
    };
    let mut root = rootfs::plan_root(&facts, spec, &[]);
    if start != Start::Now {
        root = root.without_code();
    }
    let skel = std::path::Path::new("/run/s/roots/k");
    let mounts = rootfs::mount_steps(
        &root,
        skel,
        &rootfs::TmpMount::Memory {
            size_mb: spec.tmp_size_mb,
        },
        |_| 0,
    );
    PlanData::new(spec, settings, &mounts, skel, 0x1021, false, start)
}

fn child_plan(data: &PlanData, fds: ChildFds) -> ChildPlan {
    data.to_child_plan(fds, crate::seccomp::compile_filters().unwrap())
        .unwrap()
}

fn mounts_of(p: &ChildPlan) -> Vec<Call> {
    let s = |c: &CStr| c.to_string_lossy().into_owned();
    p.mounts
        .iter()
        .map(|m| Call::Mount {
            src: m.src.as_deref().map(s),
            target: s(&m.target),
            fstype: m.fstype.as_deref().map(s),
            flags: m.flags,
            data: m.data.as_deref().map(s),
        })
        .collect()
}

/// The calls from the first `first` on.
fn calls_from(fake: &Recorder, first: &Call) -> Vec<Call> {
    let calls = fake.calls();
    let from = calls.iter().position(|c| c == first).unwrap();
    calls[from..].to_vec()
}

/// What lock_down does for `p` (cap_last_cap = 2), in order.
fn lock_down_calls(p: &ChildPlan) -> Vec<Call> {
    let mut want: Vec<Call> = (0..=2).map(Call::DropBoundingCapability).collect();
    want.push(Call::ClearAmbientCapabilities);
    if p.set_groups {
        want.push(Call::ClearGroups);
    }
    want.extend([
        Call::SetGid(990),
        Call::SetUid(993),
        Call::ClearCapabilities,
        Call::ParentDeathSignal(libc::SIGKILL),
        Call::NoNewPrivs,
    ]);
    want.extend(p.filters.iter().map(|f| Call::Seccomp(f.len)));
    want
}

#[test]
fn a_spawn_runs_its_steps_in_order() {
    let fake = Recorder::new();
    fake.push_incoming(&[ToChild::Go.byte()], &[]);
    let p = child_plan(&plan_data(&spec(), SETTINGS, Start::Now), FDS);
    let running = setup(&fake, &p).unwrap();
    // The fake numbers new fds from 101: err, sync, status, stdout, stderr, /dev/null and
    // its high copy, the listener.
    let mut want = vec![
        Call::ParentDeathSignal(libc::SIGKILL),
        Call::DupAbove(11),
        Call::DupAbove(10),
        Call::DupAbove(12),
        Call::DupAbove(13),
        Call::DupAbove(14),
        Call::Open("/dev/null".into()),
        Call::DupAbove(106),
        Call::Dup2(107, 0),
        Call::Dup2(104, 1),
        Call::Dup2(105, 2),
        Call::CloseRange(3, 100),
        Call::CloseRange(104, u32::MAX),
    ];
    want.extend(mounts_of(&p));
    want.extend([
        Call::Chdir("/run/s/roots/k".into()),
        Call::PivotRoot(".".into(), ".".into()),
        Call::UmountDetach(".".into()),
        Call::Chdir("/".into()),
        Call::Mount {
            src: None,
            target: "/".into(),
            fstype: None,
            flags: 0x1021,
            data: None,
        },
        Call::Hostname("localhost".into()),
        Call::LoopbackUp,
        Call::Listen(9001),
        Call::SendFd(102, ToParent::Listener.byte(), 108),
        Call::Close(108),
        Call::SetRlimit(libc::RLIMIT_NOFILE as libc::c_int, 1024, 1024),
        Call::SetRlimit(libc::RLIMIT_CORE as libc::c_int, 10 << 30, 10 << 30),
        Call::SetRlimit(libc::RLIMIT_MEMLOCK as libc::c_int, 65536, 65536),
        Call::SetRlimit(libc::RLIMIT_STACK as libc::c_int, 8 << 20, INF),
        Call::SetRlimit(libc::RLIMIT_AS as libc::c_int, INF, INF),
        Call::SetRlimit(libc::RLIMIT_CPU as libc::c_int, INF, INF),
        Call::SetRlimit(libc::RLIMIT_DATA as libc::c_int, INF, INF),
        Call::SetRlimit(libc::RLIMIT_FSIZE as libc::c_int, INF, INF),
        Call::SetRlimit(libc::RLIMIT_RSS as libc::c_int, INF, INF),
        Call::OverwriteMemory,
        Call::SetName("init".into()),
        Call::Read(102),
        Call::DefaultSigchld,
    ]);
    want.extend(lock_down_calls(&p));
    want.extend([
        Call::SpawnFunction,
        Call::Close(101),
        Call::Close(102),
        Call::Dumpable(false),
    ]);
    assert_eq!(fake.calls(), want);
    assert_eq!(
        running,
        Running {
            function: 2,
            status_w: 103
        }
    );
    // Both filters of the policy, deny-list first.
    assert_eq!(p.filters.len(), 2);
}

#[test]
fn when_the_mount_of_tmp_fails_nothing_else_is_attempted() {
    let fake = Recorder::new();
    fake.push_incoming(&[ToChild::Go.byte()], &[]);
    fake.fail_when(
        libc::ENOSPC,
        |c| matches!(c, Call::Mount { target, .. } if target.ends_with("/tmp")),
    );
    let p = child_plan(&plan_data(&spec(), SETTINGS, Start::Now), FDS);
    let tmp = p
        .mounts
        .iter()
        .position(|m| m.target.to_bytes().ends_with(b"/tmp"))
        .unwrap();
    let stop = setup(&fake, &p).unwrap_err();
    assert_eq!(stop, failed_at(101, Step::Mount, tmp as u32, libc::ENOSPC));
    let calls = fake.calls();
    assert!(
        matches!(calls.last(), Some(Call::Mount { target, .. }) if target.ends_with("/tmp")),
        "{calls:?}"
    );
    assert_eq!(
        calls
            .iter()
            .filter(|c| matches!(c, Call::Mount { .. }))
            .count(),
        tmp + 1
    );
}

#[test]
fn a_user_namespace_is_mapped_before_anything_is_mounted() {
    let userns = Settings {
        user_namespace: true,
        ..SETTINGS
    };
    let data = plan_data(&spec(), userns, Start::Now);
    let fake = Recorder::new();
    fake.push_incoming(&[ToChild::UserNamespaceMapped.byte()], &[]);
    fake.push_incoming(&[ToChild::Go.byte()], &[]);
    let p = child_plan(&data, FDS);
    setup(&fake, &p).unwrap();
    let calls = fake.calls();
    let read = calls.iter().position(|c| *c == Call::Read(102)).unwrap();
    let mount = calls
        .iter()
        .position(|c| matches!(c, Call::Mount { .. }))
        .unwrap();
    assert!(read < mount);
    // setgroups is refused after "deny": not attempted.
    assert!(!calls.contains(&Call::ClearGroups));

    // Anything but the maps message, or flint going away, ends the set-up there.
    for (incoming, errno) in [
        (&[ToChild::Go.byte()][..], libc::EPROTO),
        (&[][..], libc::EPIPE),
    ] {
        let fake = Recorder::new();
        if !incoming.is_empty() {
            fake.push_incoming(incoming, &[]);
        }
        let stop = setup(&fake, &p).unwrap_err();
        assert_eq!(stop, failed_at(101, Step::WaitUserns, 0, errno));
        assert!(!fake.calls().iter().any(|c| matches!(c, Call::Mount { .. })));
    }
}

#[test]
fn a_pooled_network_namespace_is_joined_first_and_its_failure_reported_early() {
    let fds = ChildFds { netns: 20, ..FDS };
    let p = child_plan(&plan_data(&spec(), SETTINGS, Start::Now), fds);
    let fake = Recorder::new();
    fake.fail_when(libc::EPERM, |c| matches!(c, Call::Setns(..)));
    let stop = setup(&fake, &p).unwrap_err();
    // Before the fd set-up: reported on the inherited error pipe.
    assert_eq!(stop, failed_at(11, Step::JoinNetns, 0, libc::EPERM));
    assert_eq!(
        fake.calls(),
        [
            Call::ParentDeathSignal(libc::SIGKILL),
            Call::Setns(20, libc::CLONE_NEWNET)
        ]
    );
}

#[test]
fn privileges_are_dropped_before_seccomp_and_each_failure_stops_the_start() {
    let p = child_plan(&plan_data(&spec(), SETTINGS, Start::Now), FDS);
    // Unknown capabilities (EINVAL) are fine; anything else is not.
    let fake = Recorder::new();
    fake.fail_when(libc::EINVAL, |c| *c == Call::DropBoundingCapability(2));
    assert_eq!(privileges::lock_down(&fake, &p), Ok(()));
    assert_eq!(fake.calls(), lock_down_calls(&p));
    let fake = Recorder::new();
    fake.fail_when(libc::EPERM, |c| *c == Call::DropBoundingCapability(1));
    assert_eq!(
        privileges::lock_down(&fake, &p),
        Err(Failure::new(Step::DropBounding, 1, libc::EPERM))
    );
    // A refused filter: reported with its index, and the function never starts.
    let second = p.filters[1].len;
    let fake = Recorder::new();
    fake.push_incoming(&[ToChild::Go.byte()], &[]);
    fake.fail_when(libc::EACCES, move |c| *c == Call::Seccomp(second));
    let stop = setup(&fake, &p).unwrap_err();
    assert_eq!(stop, failed_at(101, Step::Seccomp, 1, libc::EACCES));
    assert_eq!(fake.calls().last(), Some(&Call::Seccomp(second)));
    assert!(!fake.calls().contains(&Call::SpawnFunction));
}

#[test]
fn the_function_is_searched_for_like_execvp() {
    let mut s = spec();
    s.argv = vec!["bootstrap".into()];
    s.env = vec![("PATH".into(), "/a:/b:/c".into())];
    let p = child_plan(&plan_data(&s, SETTINGS, Start::Now), FDS);
    let exec = p.exec_args();
    // Not found, not permitted, not found: the EACCES is what is reported.
    let fake = Recorder::new();
    fake.fail_when(libc::ENOENT, |c| *c == Call::Execve("/a/bootstrap".into()));
    fake.fail_when(libc::EACCES, |c| *c == Call::Execve("/b/bootstrap".into()));
    fake.fail_when(libc::ENOENT, |c| *c == Call::Execve("/c/bootstrap".into()));
    assert_eq!(
        function::become_function(&fake, None, -1, &exec),
        Failure::new(Step::Exec, Failure::NO_INDEX, libc::EACCES)
    );
    assert_eq!(
        fake.calls(),
        [
            Call::NewSession,
            Call::ResetSignalHandling,
            Call::Chdir("/var/task".into()),
            Call::Execve("/a/bootstrap".into()),
            Call::Execve("/b/bootstrap".into()),
            Call::Execve("/c/bootstrap".into()),
        ]
    );
    // Any other error ends the search at that candidate.
    let fake = Recorder::new();
    fake.fail_when(libc::ENOEXEC, |c| *c == Call::Execve("/a/bootstrap".into()));
    assert_eq!(
        function::become_function(&fake, None, -1, &exec),
        Failure::new(Step::Exec, 0, libc::ENOEXEC)
    );
    // A pre-started runtime locks itself down and gets fd 3 before its exec.
    let fake = Recorder::new();
    fake.fail_when(libc::ENOENT, |c| matches!(c, Call::Execve(_)));
    function::become_function(&fake, Some(&p), 40, &exec);
    let calls = fake.calls();
    let mut want = lock_down_calls(&p);
    want.extend([Call::Dup2(40, crate::PRESTART_FD), Call::NewSession]);
    assert_eq!(calls[..want.len()], want[..]);
}

#[test]
fn init_forwards_signals_and_exits_with_the_function() {
    let fake = Recorder::new();
    assert_eq!(init::on_signal(&fake, 2, 103, Some(libc::SIGTERM)), None);
    assert_eq!(init::on_signal(&fake, 2, 103, None), None);
    // A re-parented zombie first, then the function (exit 3).
    fake.push_reaped(77, 0);
    fake.push_reaped(2, 3 << 8);
    assert_eq!(init::on_signal(&fake, 2, 103, Some(libc::SIGCHLD)), Some(3));
    assert_eq!(
        fake.calls(),
        [
            Call::Kill(2, libc::SIGTERM),
            Call::Reap,
            Call::Reap,
            Call::Write(103, (3i32 << 8).to_ne_bytes().to_vec()),
        ]
    );
    // Killed by a signal: 128 + the signal, like a shell.
    let fake = Recorder::new();
    fake.push_reaped(2, libc::SIGKILL);
    assert_eq!(
        init::on_signal(&fake, 2, 103, Some(libc::SIGCHLD)),
        Some(137)
    );
    // Only zombies: init stays.
    let fake = Recorder::new();
    fake.push_reaped(77, 0);
    assert_eq!(init::on_signal(&fake, 2, 103, Some(libc::SIGCHLD)), None);
}

fn claim_message(targets: &[&[u8]]) -> Vec<u8> {
    let v = |s: &[&str]| s.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>();
    specialization::encode(&Claim {
        cwd: b"/var/task",
        argv: &v(&["/var/task/bootstrap"]),
        env: &v(&["A=1", "B=2"]),
        candidates: &v(&["/var/task/bootstrap"]),
        targets,
    })
    .unwrap()
}

#[test]
fn a_prespawned_environment_attaches_its_code_at_the_claim_then_locks_down() {
    let data = plan_data(&spec(), SETTINGS, Start::Prespawned { prestart: false });
    assert!(!data.mounts.iter().any(|m| m.target.ends_with(b"/var/task")));
    let p = child_plan(&data, FDS);
    let fake = Recorder::new();
    fake.push_incoming(&[ToChild::Go.byte()], &[]);
    fake.push_incoming(&claim_message(&[b"/var/task", b"/opt"]), &[50, 51]);
    setup(&fake, &p).unwrap();
    let calls = calls_from(&fake, &Call::DefaultSigchld);
    let mut want = vec![
        Call::DefaultSigchld,
        Call::Recv(102),
        Call::MoveMount(50, "/var/task".into()),
        Call::Close(50),
        Call::MoveMount(51, "/opt".into()),
        Call::Close(51),
    ];
    want.extend(lock_down_calls(&p));
    want.push(Call::SpawnFunction);
    assert_eq!(calls[..want.len()], want[..]);
}

#[test]
fn a_malformed_claim_is_refused() {
    let p = child_plan(
        &plan_data(&spec(), SETTINGS, Start::Prespawned { prestart: false }),
        FDS,
    );
    let claim = claim_message(&[b"/var/task"]);
    for (msg, fds, index, errno) in [
        (&b""[..], &[][..], 0, libc::EPIPE),
        (&b"G\0"[..], &[][..], 1, libc::EINVAL),
        (&claim[..], &[][..], 2, libc::EINVAL),
        (&claim[..], &[50, 51][..], 2, libc::EINVAL),
    ] {
        let fake = Recorder::new();
        fake.push_incoming(&[ToChild::Go.byte()], &[]);
        if !msg.is_empty() {
            fake.push_incoming(msg, fds);
        }
        let stop = setup(&fake, &p).unwrap_err();
        assert_eq!(
            stop,
            failed_at(101, Step::Specialize, index, errno),
            "{msg:?}"
        );
        assert!(
            !fake
                .calls()
                .iter()
                .any(|c| matches!(c, Call::MoveMount(..)))
        );
        assert!(!fake.calls().contains(&Call::SpawnFunction));
    }
}

#[test]
fn a_prestarted_runtime_starts_before_the_claim_and_gets_the_function_at_it() {
    let mut s = spec();
    s.argv = vec!["/var/runtime/bootstrap".into()];
    s.cwd = "/".into();
    let p = child_plan(
        &plan_data(&s, SETTINGS, Start::Prespawned { prestart: true }),
        FDS,
    );
    let fake = Recorder::new();
    fake.push_incoming(&[ToChild::Go.byte()], &[]);
    // The runtime reports ready (handover readable), then the claim arrives (sync readable).
    fake.push_poll(&[0, libc::POLLIN]);
    fake.push_incoming(&[PRESTART_READY], &[]);
    fake.push_poll(&[libc::POLLIN, 0]);
    fake.push_incoming(&claim_message(&[b"/var/task"]), &[50]);
    let running = setup(&fake, &p).unwrap();
    let calls = calls_from(&fake, &Call::DefaultSigchld);
    // Handover pair: 109 (init's) and 110 (the runtime's).
    let mut want = vec![
        Call::DefaultSigchld,
        Call::ChildSocketpair,
        Call::SpawnFunction,
        Call::Close(110),
        Call::Poll,
        Call::Read(109),
        Call::Send(102, vec![ToParent::RuntimeReady.byte()]),
        Call::Poll,
        Call::Recv(102),
        Call::MoveMount(50, "/var/task".into()),
        Call::Close(50),
    ];
    want.extend(lock_down_calls(&p));
    want.extend([
        Call::Send(109, b"/var/task\0".to_vec()),
        Call::Send(109, b"A=1\0".to_vec()),
        Call::Send(109, b"B=2\0".to_vec()),
        Call::Close(109),
        Call::Close(101),
    ]);
    assert_eq!(calls[..want.len()], want[..]);
    assert_eq!(running.function, 2, "the runtime is the function");
    assert_eq!(
        calls.iter().filter(|c| **c == Call::SpawnFunction).count(),
        1
    );

    // The runtime dies before the claim: init leaves without a record.
    let fake = Recorder::new();
    fake.push_incoming(&[ToChild::Go.byte()], &[]);
    fake.push_poll(&[0, libc::POLLHUP]);
    assert_eq!(setup(&fake, &p), Err(Stop::RuntimeGone));
    assert!(!fake.calls().iter().any(|c| matches!(c, Call::Recv(_))));
}

#[test]
fn the_limits_are_lambdas_and_nproc_only_with_a_user_namespace_of_its_own() {
    let data = plan_data(&spec(), SETTINGS, Start::Now);
    let mut p = child_plan(&data, FDS);
    let nproc = |p: &ChildPlan| {
        process::lambda_limits(p)
            .into_iter()
            .find(|(r, _, _)| *r == libc::RLIMIT_NPROC as libc::c_int)
            .map(|(_, soft, hard)| (soft, hard))
    };
    assert_eq!(
        nproc(&p),
        None,
        "shared uid: left as flint's, the pids cgroup limits"
    );
    p.wait_userns = true;
    assert_eq!(nproc(&p), Some((742, 742)));
    // Never above the hard limit flint has (the fake's is unlimited, so as asked).
    let rec = Recorder::new();
    process::set_limits(&rec, &p).unwrap();
    assert!(rec.calls().contains(&Call::SetRlimit(
        libc::RLIMIT_NPROC as libc::c_int,
        742,
        742
    )));
}
