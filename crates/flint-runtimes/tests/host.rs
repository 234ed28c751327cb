//! Host interpreter detection on the machine running the tests.

use flint_runtimes::{ManagedRuntime, detect_host};

#[test]
fn detects_host_interpreters_with_their_prefixes() {
    let host = detect_host();
    eprintln!("{}", host.describe());
    for interp in [&host.python, &host.node].into_iter().flatten() {
        assert!(interp.executable.is_absolute());
        assert_eq!(
            std::fs::canonicalize(&interp.executable).unwrap(),
            interp.executable,
            "symlinks and shims resolved"
        );
        assert!(
            interp
                .prefixes
                .iter()
                .any(|p| interp.executable.starts_with(p)),
            "the executable lives under one of its prefixes: {interp:?}"
        );
        let mounts = interp.bind_mounts();
        for m in &mounts {
            assert!(
                !flint_runtimes::SYSTEM_DIRS.iter().any(|s| m.starts_with(s)),
                "{m:?} is inside a directory the sandbox provides"
            );
        }
        // The executable is reachable: either mounted or a system path.
        assert!(
            mounts.iter().any(|m| interp.executable.starts_with(m))
                || flint_runtimes::SYSTEM_DIRS
                    .iter()
                    .any(|s| interp.executable.starts_with(s)),
            "{interp:?}"
        );
        eprintln!("{} -> mounts {mounts:?}", interp.executable.display());
    }
    for other in &host.other_pythons {
        let minor = other.version_tuple().1;
        let rt = ManagedRuntime::parse(&format!("python3.{minor}")).unwrap();
        let spec = rt.launch_command(&host).unwrap();
        assert_eq!(
            spec.interpreter.as_ref(),
            Some(&other.executable),
            "exact minor match preferred"
        );
    }
    if host.python_for(12).is_some() {
        let spec = ManagedRuntime::parse("python3.12")
            .unwrap()
            .launch_command(&host)
            .unwrap();
        eprintln!("{}", spec.description);
        let py = host.python_for(12).unwrap();
        assert!(spec.description.contains(&py.version));
        // Whatever shared libraries the interpreter loads from outside the
        // system directories must be covered by a mount.
        for lib in &py.shared_libraries {
            let system = flint_runtimes::SYSTEM_DIRS
                .iter()
                .any(|s| lib.starts_with(s));
            assert!(
                system
                    || spec
                        .read_only_mounts
                        .iter()
                        .any(|(m, _)| lib.starts_with(m)),
                "{lib:?} not covered by {:?}",
                spec.read_only_mounts
            );
        }
    }
}
