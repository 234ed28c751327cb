//! Spawn cost of a sandbox next to a bare fork+exec, in the same run.
//!
//! ```text
//! cargo run --release -p flint-sandbox --example spawn_bench -- [N]
//! ```
//! Needs root. Prints min / median / p90 in microseconds for:
//! - `fork+exec+wait /bin/true` (libc fork, execv, waitpid) and `std Command` (posix_spawn);
//! - `sandbox spawn->exec`: `Sandboxer::spawn` returns once the function was exec'd;
//! - `sandbox full cycle`: spawn + wait for exit + destroy (cgroup removal), `/bin/true`;
//!   in the default private network namespace, with a Runtime API listener, and with
//!   `NetworkMode::Host` (no network namespace).
//!
//! With the `flint-sandbox-helper` binary built next to the example
//! (`cargo build --release -p flint-sandbox --bins --examples`), the same two sandbox rows are
//! measured again through the spawn helper (design (c)).
//!
//! `FLINT_BENCH_BALLAST_MB=1024` first allocates and touches that much memory, to show how
//! the copy-on-write `clone3` cost grows with the parent's resident memory (as flint's would).

use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use flint_sandbox::{NetworkMode, SandboxSpec, Sandboxer, SandboxerConfig};

fn stats(name: &str, mut v: Vec<Duration>) {
    v.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "{name:<44} min {:>7.0} µs  median {:>7.0} µs  p90 {:>7.0} µs",
        us(v[0]),
        us(v[v.len() / 2]),
        us(v[v.len() * 9 / 10])
    );
}

fn devnull() -> OwnedFd {
    OwnedFd::from(
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .unwrap(),
    )
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let sbx = Sandboxer::new(SandboxerConfig {
        cgroup_parent: "flint-bench".into(),
        ..Default::default()
    })
    .expect("sandboxer (run as root)");
    println!("host: {}", sbx.host());
    let ballast_mb: usize = std::env::var("FLINT_BENCH_BALLAST_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let ballast = vec![1u8; ballast_mb << 20];
    println!("N = {n}, parent ballast = {ballast_mb} MiB resident");
    let helper_path = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("flint-sandbox-helper");
    let via_helper = helper_path.exists().then(|| {
        Sandboxer::new(SandboxerConfig {
            cgroup_parent: "flint-bench".into(),
            spawn_helper: Some((helper_path.clone(), vec![])),
            ..Default::default()
        })
        .expect("sandboxer with helper")
    });
    let task = std::env::temp_dir().join("flint-bench-task");
    std::fs::create_dir_all(&task).unwrap();

    let path = CString::new("/bin/true").unwrap();
    let argv = [path.as_ptr(), std::ptr::null()];
    let mut fork_exec = Vec::new();
    let mut command = Vec::new();
    let mut to_exec = Vec::new();
    let mut full = Vec::new();
    let mut full_listener = Vec::new();
    let mut full_hostnet = Vec::new();
    let mut helper_exec = Vec::new();
    let mut helper_full = Vec::new();
    let spec = |i: usize, tag: &str| {
        let mut s = SandboxSpec::new(
            format!("bench-{tag}-{i}"),
            &task,
            vec!["/bin/true".into()],
            devnull(),
            devnull(),
        );
        // Only PATH: the Lambda LD_LIBRARY_PATH makes ld.so probe ~60 missing paths per exec,
        // which would be charged to the sandbox here but not to the bare fork+exec rows.
        s.env = vec![("PATH".into(), flint_sandbox::DEFAULT_PATH.into())];
        s
    };
    // Interleave the variants so that background load hits them alike.
    for i in 0..n {
        let t = Instant::now();
        // SAFETY: classic fork/exec; the child only calls execv and _exit.
        unsafe {
            let pid = libc::fork();
            if pid == 0 {
                libc::execv(path.as_ptr(), argv.as_ptr());
                libc::_exit(127);
            }
            let mut st = 0;
            libc::waitpid(pid, &mut st, 0);
        }
        fork_exec.push(t.elapsed());

        let t = Instant::now();
        std::process::Command::new("/bin/true").status().unwrap();
        command.push(t.elapsed());

        let t = Instant::now();
        let mut sb = sbx.spawn(spec(i, "a")).unwrap();
        to_exec.push(t.elapsed());
        sb.wait().unwrap();
        sb.destroy().unwrap();
        full.push(t.elapsed());

        let t = Instant::now();
        let mut s = spec(i, "b");
        s.runtime_api_port = Some(9001);
        let mut sb = sbx.spawn(s).unwrap();
        let _l = sb.take_runtime_api_listener().unwrap();
        sb.wait().unwrap();
        sb.destroy().unwrap();
        full_listener.push(t.elapsed());

        let t = Instant::now();
        let mut s = spec(i, "c");
        s.network = NetworkMode::Host;
        let mut sb = sbx.spawn(s).unwrap();
        sb.wait().unwrap();
        sb.destroy().unwrap();
        full_hostnet.push(t.elapsed());

        if let Some(h) = &via_helper {
            let t = Instant::now();
            let mut sb = h.spawn(spec(i, "d")).unwrap();
            helper_exec.push(t.elapsed());
            sb.wait().unwrap();
            sb.destroy().unwrap();
            helper_full.push(t.elapsed());
        }
    }
    drop(ballast);
    stats("fork+exec+wait /bin/true (libc)", fork_exec);
    stats("std::process::Command /bin/true (status)", command);
    stats("sandbox spawn -> exec", to_exec);
    stats("sandbox spawn + exit + destroy", full);
    stats("  same, with Runtime API listener", full_listener);
    stats("  same, NetworkMode::Host (no netns)", full_hostnet);
    if via_helper.is_some() {
        stats("via helper: sandbox spawn -> exec", helper_exec);
        stats("via helper: sandbox spawn + exit + destroy", helper_full);
    }
}
