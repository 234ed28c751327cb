//! The spawn sequence against the recording fake, end to end: a [`FakeLaunch`] runs the
//! child's real set-up steps on the same fake instead of cloning, then writes the error
//! record (or sends the listener) on the real descriptors the parent gave it. So one log
//! shows what flint and the child did, and the parent's protocol runs over real pipes.

use std::net::TcpListener;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use crate::child::{self, Stop};
use crate::error::{Result, SandboxError};
use crate::host::{CgroupFlavor, HostSupport};
use crate::launch::Launch;
use crate::plan::{ChildFds, PlanData};
use crate::protocol::{ToChild, ToParent};
use crate::sandboxer::{Sandboxer, SandboxerConfig, UserNamespaceMode};
use crate::spec::SandboxSpec;
use crate::sys::fake::{Call, Recorder};
use crate::sys::seam::{ChildSys, LINUX};

/// Pid the fake gives every child.
const PID: i32 = 4242;

#[derive(Debug)]
struct FakeLaunch {
    kernel: &'static Recorder,
    /// Fail the clone itself with this errno.
    clone_fails: Option<i32>,
}

impl Launch for FakeLaunch {
    fn launch(&self, plan: &PlanData, fds: &ChildFds) -> Result<(i32, OwnedFd)> {
        self.kernel.note(Call::Clone(plan.clone_flags));
        if let Some(errno) = self.clone_fails {
            return Err(SandboxError::Sys {
                op: "clone3",
                source: std::io::Error::from_raw_os_error(errno),
            });
        }
        let child_plan = plan.to_child_plan(*fds, crate::seccomp::compile_filters()?)?;
        match child::setup(self.kernel, &child_plan) {
            Err(Stop::Failed { failure, .. }) => {
                ChildSys::write(&LINUX, fds.err_w, &failure.encode()).unwrap();
            }
            Err(Stop::RuntimeGone) => {}
            Ok(_) if plan.listen_port.is_some() => {
                let l = TcpListener::bind("127.0.0.1:0").unwrap();
                LINUX
                    .send_fd(fds.sync, ToParent::Listener.byte(), l.as_raw_fd())
                    .unwrap();
            }
            Ok(_) => {}
        }
        Ok((PID, std::fs::File::open("/dev/null").unwrap().into()))
    }
}

fn host() -> HostSupport {
    HostSupport {
        cgroup: CgroupFlavor::V2 {
            root: "/cg".into(),
            controllers: vec!["cpu".into(), "memory".into(), "pids".into()],
        },
        namespaces: true,
        user_namespaces: true,
        seccomp: true,
        landlock_abi: None,
        pidfd: true,
        is_root: true,
        cap_last_cap: 40,
        host_cpus: 2,
    }
}

/// A state directory (private, as the sandboxer requires), removed with the test.
fn state_dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// A sandboxer on the fake, whose v2 parent `/cg/flint` has every controller.
fn sandboxer(
    userns: UserNamespaceMode,
    clone_fails: Option<i32>,
) -> (Sandboxer, &'static Recorder, tempfile::TempDir) {
    let kernel = Recorder::leaked();
    kernel.set_file("/cg/flint/cgroup.controllers", "cpu memory pids");
    let state = state_dir();
    let config = SandboxerConfig {
        state_dir: state.path().into(),
        user_namespace: userns,
        netns_pool: 0,
        ..SandboxerConfig::default()
    };
    let launcher = Box::new(FakeLaunch {
        kernel,
        clone_fails,
    });
    let sbx = Sandboxer::isolated(host(), config, kernel, Some(launcher)).unwrap();
    (sbx, kernel, state)
}

fn spec(id: &str) -> SandboxSpec {
    let fd = || OwnedFd::from(std::fs::File::open("/dev/null").unwrap());
    let mut s = SandboxSpec::new(
        id,
        std::env::temp_dir(),
        vec!["/var/task/bootstrap".into()],
        fd(),
        fd(),
    );
    s.memory_mb = 512;
    s.cpu_millis = crate::spec::cpu_millis_for_memory(512, 2);
    s
}

/// What flint itself did (the child's calls left out).
fn host_calls(kernel: &Recorder, from: usize) -> Vec<Call> {
    kernel.calls()[from..]
        .iter()
        .filter(|c| {
            matches!(
                c,
                Call::Clone(_)
                    | Call::Mkdir(_)
                    | Call::Rmdir(_)
                    | Call::WriteFile(..)
                    | Call::HostSend(..)
                    | Call::PidfdSignal(_)
                    | Call::WaitPidfd
            )
        })
        .cloned()
        .collect()
}

fn write(path: &str, value: &str) -> Call {
    Call::WriteFile(path.into(), value.into())
}

fn go() -> Call {
    Call::HostSend(vec![ToChild::Go.byte()], 0)
}

fn clone_flags() -> u64 {
    crate::plan::clone_flags(crate::spec::NetworkMode::Private, false, false)
}

/// What tearing the environment down does: unthrottle, kill init, reap it, remove the
/// cgroup.
fn teardown(id: &str) -> Vec<Call> {
    vec![
        write(&format!("/cg/flint/{id}/cpu.max"), "max"),
        Call::PidfdSignal(libc::SIGKILL),
        Call::WaitPidfd,
        write(&format!("/cg/flint/{id}/cgroup.kill"), "1"),
        Call::Rmdir(format!("/cg/flint/{id}").into()),
    ]
}

#[test]
fn a_spawn_creates_the_cgroup_clones_attaches_then_says_go() {
    let (sbx, kernel, _state) = sandboxer(UserNamespaceMode::Never, None);
    kernel.push_incoming(&[ToChild::Go.byte()], &[]);
    let from = kernel.calls().len();
    let mut s = spec("ok");
    s.runtime_api_port = Some(9001);
    let mut sb = sbx.spawn(s).unwrap();
    assert!(sb.take_runtime_api_listener().is_some());
    assert_eq!(
        host_calls(kernel, from),
        [
            Call::Mkdir("/cg/flint/ok".into()),
            write("/cg/flint/ok/memory.max", "536870912"),
            write("/cg/flint/ok/memory.swap.max", "0"),
            write("/cg/flint/ok/cpu.max", "28900 100000"),
            write("/cg/flint/ok/cpu.weight", "28"),
            write("/cg/flint/ok/pids.max", "1024"),
            Call::Clone(clone_flags()),
            // Attached before "go": nothing of the function runs outside its cgroup.
            write("/cg/flint/ok/cgroup.procs", "4242"),
            go(),
        ]
    );
    // The child ran its plan up to the function's start.
    assert!(kernel.calls().contains(&Call::SpawnFunction));
    let from = kernel.calls().len();
    sb.destroy().unwrap();
    assert_eq!(host_calls(kernel, from), teardown("ok"));
}

#[test]
fn when_the_mount_of_tmp_fails_the_cgroup_is_removed_and_nothing_else_is_attempted() {
    let (sbx, kernel, _state) = sandboxer(UserNamespaceMode::Never, None);
    kernel.push_incoming(&[ToChild::Go.byte()], &[]);
    kernel.fail_when(
        libc::ENOSPC,
        |c| matches!(c, Call::Mount { target, .. } if target.ends_with("/tmp")),
    );
    let err = sbx.spawn(spec("tmp")).unwrap_err().to_string();
    assert!(
        err.starts_with("sandbox setup failed at mount #") && err.contains("No space left"),
        "{err}"
    );
    let calls = kernel.calls();
    let failed = calls
        .iter()
        .position(|c| matches!(c, Call::Mount { target, .. } if target.ends_with("/tmp")))
        .unwrap();
    // After the failed mount the child does nothing more; flint attaches and says "go" (it
    // does not wait for the child for that), reads the record, and tears down.
    let mut want = vec![write("/cg/flint/tmp/cgroup.procs", "4242"), go()];
    want.extend(teardown("tmp"));
    assert_eq!(host_calls(kernel, failed + 1), want);
    assert!(
        calls[failed + 1..].iter().all(|c| !matches!(
            c,
            Call::Mount { .. } | Call::PivotRoot(..) | Call::SpawnFunction
        )),
        "{calls:?}"
    );
}

#[test]
fn a_failed_clone_removes_the_cgroup_and_nothing_else_is_attempted() {
    let (sbx, kernel, _state) = sandboxer(UserNamespaceMode::Never, Some(libc::EAGAIN));
    let from = kernel.calls().len();
    let err = sbx.spawn(spec("noclone")).unwrap_err().to_string();
    assert!(err.starts_with("clone3: "), "{err}");
    let calls = host_calls(kernel, from);
    let clone = calls
        .iter()
        .position(|c| matches!(c, Call::Clone(_)))
        .unwrap();
    assert_eq!(
        calls[clone + 1..],
        [
            write("/cg/flint/noclone/cgroup.kill", "1"),
            Call::Rmdir("/cg/flint/noclone".into())
        ]
    );
}

#[test]
fn a_failed_cgroup_attach_kills_the_child_and_removes_the_cgroup() {
    let (sbx, kernel, _state) = sandboxer(UserNamespaceMode::Never, None);
    kernel.push_incoming(&[ToChild::Go.byte()], &[]);
    kernel.fail_when(
        libc::ENOSPC,
        |c| matches!(c, Call::WriteFile(p, _) if p.ends_with("cgroup.procs")),
    );
    let from = kernel.calls().len();
    assert!(sbx.spawn(spec("noattach")).is_err());
    let calls = host_calls(kernel, from);
    let attach = calls
        .iter()
        .position(|c| matches!(c, Call::WriteFile(p, _) if p.ends_with("cgroup.procs")))
        .unwrap();
    // Never "go": the child is killed while it waits.
    assert_eq!(calls[attach + 1..], teardown("noattach")[..]);
}

#[test]
fn a_user_namespace_is_mapped_before_the_attach_and_go() {
    let (sbx, kernel, _state) = sandboxer(UserNamespaceMode::Always, None);
    kernel.set_ids(1000, 1001);
    kernel.push_incoming(&[ToChild::UserNamespaceMapped.byte()], &[]);
    kernel.push_incoming(&[ToChild::Go.byte()], &[]);
    let from = kernel.calls().len();
    let sb = sbx.spawn(spec("userns")).unwrap();
    let calls = host_calls(kernel, from);
    let clone = calls
        .iter()
        .position(|c| matches!(c, Call::Clone(_)))
        .unwrap();
    assert_eq!(
        calls[clone..],
        [
            Call::Clone(crate::plan::clone_flags(
                crate::spec::NetworkMode::Private,
                false,
                true
            )),
            // Not root: the function's ids map onto flint's own.
            write("/proc/4242/setgroups", "deny"),
            write("/proc/4242/uid_map", "993 1000 1\n"),
            write("/proc/4242/gid_map", "990 1001 1\n"),
            Call::HostSend(vec![ToChild::UserNamespaceMapped.byte()], 0),
            write("/cg/flint/userns/cgroup.procs", "4242"),
            go(),
        ]
    );
    drop(sb);
    // As root the ids map onto themselves; a refused map ends the spawn with a teardown.
    let (sbx, kernel, _state) = sandboxer(UserNamespaceMode::Always, None);
    kernel.fail_when(
        libc::EPERM,
        |c| matches!(c, Call::WriteFile(p, _) if p == Path::new("/proc/4242/gid_map")),
    );
    let from = kernel.calls().len();
    assert!(sbx.spawn(spec("nomap")).is_err());
    let calls = host_calls(kernel, from);
    let map = calls
        .iter()
        .position(|c| *c == write("/proc/4242/uid_map", "993 993 1\n"))
        .unwrap();
    assert_eq!(calls[map + 1], write("/proc/4242/gid_map", "990 990 1\n"));
    assert_eq!(calls[map + 2..], teardown("nomap")[..]);
}

#[test]
fn without_enforced_cgroups_nothing_is_created() {
    let kernel = Recorder::leaked();
    // No pids controller in the parent: not usable, and not required here.
    kernel.set_file("/cg/flint/cgroup.controllers", "cpu memory");
    let state = state_dir();
    let config = SandboxerConfig {
        state_dir: state.path().into(),
        netns_pool: 0,
        require_cgroups: false,
        ..SandboxerConfig::default()
    };
    let launcher = Box::new(FakeLaunch {
        kernel,
        clone_fails: None,
    });
    let sbx = Sandboxer::isolated(host(), config.clone(), kernel, Some(launcher)).unwrap();
    assert!(!sbx.cgroups_enforced());
    assert_eq!(sbx.remove_stale_environments().unwrap(), 0);
    kernel.push_incoming(&[ToChild::Go.byte()], &[]);
    let from = kernel.calls().len();
    let sb = sbx.spawn(spec("nocg")).unwrap();
    assert_eq!(host_calls(kernel, from), [Call::Clone(clone_flags()), go()]);
    assert!(sb.freeze().is_err(), "no freezer without cgroups");
    drop(sb);
    // Required (the default): refused at start.
    let config = SandboxerConfig {
        require_cgroups: true,
        ..config
    };
    let err = Sandboxer::isolated(host(), config, kernel, None).unwrap_err();
    assert!(err.to_string().contains("cgroup limits"), "{err}");
}
