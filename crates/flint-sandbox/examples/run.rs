//! Runs one command in a sandbox and prints its output: `run [--helper] <task_dir> <argv...>`.
//! Handy for poking at the isolation by hand (root; or rootless with `FLINT_SANDBOX_DEV=1`).

use std::io::Read;
use std::os::fd::OwnedFd;

use flint_sandbox::{SandboxSpec, Sandboxer, SandboxerConfig};

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let helper = args.first().is_some_and(|a| a == "--helper");
    if helper {
        args.remove(0);
    }
    let task = args.remove(0);
    let mut cfg = SandboxerConfig {
        // FLINT_SANDBOX_DEV=1: run without cgroup limits (e.g. rootless without delegation).
        require_cgroups: std::env::var_os("FLINT_SANDBOX_DEV").is_none(),
        ..Default::default()
    };
    if helper {
        let exe = std::env::current_exe().unwrap();
        cfg.spawn_helper = Some((
            exe.parent()
                .unwrap()
                .parent()
                .unwrap()
                .join("flint-sandbox-helper"),
            vec![],
        ));
    }
    let sbx = Sandboxer::new(cfg).expect("sandboxer");
    let (mut r, w) = std::io::pipe().unwrap();
    let w2 = w.try_clone().unwrap();
    let mut spec = SandboxSpec::new(
        format!("run-{}", std::process::id()),
        task,
        args,
        OwnedFd::from(w),
        OwnedFd::from(w2),
    );
    spec.env = flint_sandbox::lambda_base_env();
    let mut sb = sbx.spawn(spec).expect("spawn");
    let mut out = String::new();
    r.read_to_string(&mut out).unwrap();
    let st = sb.wait().unwrap();
    print!("{out}");
    eprintln!(
        "exit: {st:?}, peak memory: {:?} bytes",
        sb.memory_peak_bytes()
    );
    sb.destroy().unwrap();
}
