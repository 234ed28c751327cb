use super::*;
use crate::fake::config;
use flint_types::model::EnvironmentResponse;
use std::os::unix::fs::PermissionsExt;

/// A package directory holding `files` (name, mode).
fn package(files: &[(&str, u32)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, mode) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*mode)).unwrap();
    }
    dir
}

/// A package and no layers.
fn task(dir: &Path) -> Dirs<'_> {
    Dirs {
        task: dir,
        opt: None,
    }
}

/// What flint-runtimes gives for a managed runtime (pre-startable, with its variables).
fn python_launch() -> LaunchSpec {
    LaunchSpec {
        argv: vec![
            "/usr/bin/python3".into(),
            "-u".into(),
            "/var/runtime/bootstrap.py".into(),
        ],
        env: vec![("PYTHONPATH".into(), "/var/runtime".into())],
        interpreter: Some("/usr/bin/python3".into()),
        read_only_mounts: vec![("/opt/python-prefix".into(), "/var/lang".into())],
        bootstrap_candidates: Vec::new(),
        description: "python".into(),
        prestart: true,
    }
}

fn provided() -> ManagedRuntime {
    ManagedRuntime::parse("provided.al2023").unwrap()
}

fn with_wrapper(wrapper: &str) -> FunctionConfiguration {
    let mut c = config("f", "$LATEST", "r");
    c.environment = Some(EnvironmentResponse {
        variables: [("AWS_LAMBDA_EXEC_WRAPPER".to_string(), wrapper.to_string())].into(),
    });
    c
}

#[test]
fn a_custom_runtime_runs_the_packages_executable_bootstrap() {
    let pkg = package(&[("bootstrap", 0o755)]);
    let c = config("f", "$LATEST", "r");
    let command = resolve(&provided(), &c, &HostRuntimes::default(), task(pkg.path())).unwrap();
    assert_eq!(
        command,
        Command {
            argv: vec!["/var/task/bootstrap".into()],
            // provided.al2023 has /var/lang first on its paths, as AWS reports.
            runtime_env: vec![
                (
                    "PATH".into(),
                    "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin".into()
                ),
                (
                    "LD_LIBRARY_PATH".into(),
                    "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:\
                     /var/task:/var/task/lib:/opt/lib"
                        .into()
                ),
            ],
            read_only_mounts: Vec::new(),
            prestart: false,
        }
    );
}

#[test]
fn a_bootstrap_without_an_execute_bit_is_an_invalid_entrypoint() {
    let pkg = package(&[("bootstrap", 0o644)]);
    assert_eq!(
        custom_bootstrap(task(pkg.path())),
        Err(InvalidEntrypoint::CannotExec {
            path: "/var/task/bootstrap".into(),
            why: "permission denied",
        })
    );
}

#[test]
fn a_package_without_a_bootstrap_file_is_an_invalid_entrypoint() {
    let pkg = package(&[("bootstrap/inner", 0o755), ("handler.sh", 0o755)]);
    assert_eq!(
        custom_bootstrap(task(pkg.path())),
        Err(InvalidEntrypoint::NoBootstrap)
    );
}

#[test]
fn a_managed_runtime_without_a_wrapper_runs_its_client_prestarted() {
    let pkg = package(&[]);
    let command = managed(python_launch(), None, task(pkg.path())).unwrap();
    let launch = python_launch();
    assert_eq!(command.argv, launch.argv);
    assert_eq!(command.runtime_env, launch.env);
    assert_eq!(command.read_only_mounts, launch.read_only_mounts);
    assert!(command.prestart);
    // An empty AWS_LAMBDA_EXEC_WRAPPER is no wrapper.
    assert_eq!(
        managed(python_launch(), Some(""), task(pkg.path())),
        Ok(command)
    );
}

#[test]
fn the_exec_wrapper_runs_first_with_the_runtimes_command_and_nothing_prestarts() {
    let pkg = package(&[("wrap.sh", 0o755)]);
    let command = managed(python_launch(), Some("/var/task/wrap.sh"), task(pkg.path())).unwrap();
    let mut argv = vec!["/var/task/wrap.sh".to_string()];
    argv.extend(python_launch().argv);
    assert_eq!(command.argv, argv);
    assert!(!command.prestart);
    // Paths outside the package and /opt are the sandbox's files or a PATH lookup: exec
    // decides.
    for elsewhere in ["/usr/bin/env", "wrapper-on-path"] {
        let command = managed(python_launch(), Some(elsewhere), task(pkg.path())).unwrap();
        assert_eq!(command.argv[0], elsewhere);
    }
}

#[test]
fn a_wrapper_that_cannot_be_executed_is_an_invalid_entrypoint_in_gos_words() {
    let pkg = package(&[("wrap.sh", 0o644)]);
    let cases = [
        ("/var/task/wrap.sh", "permission denied"),
        ("/var/task/missing.sh", "no such file or directory"),
        // Without layers /opt is empty.
        ("/opt/wrapper", "no such file or directory"),
    ];
    for (wrapper, why) in cases {
        assert_eq!(
            managed(python_launch(), Some(wrapper), task(pkg.path())),
            Err(InvalidEntrypoint::CannotExec {
                path: wrapper.into(),
                why,
            }),
            "{wrapper}"
        );
    }
}

#[test]
fn the_wrapper_comes_from_the_functions_variables() {
    let pkg = package(&[]);
    // The host has no Python: the managed runtime cannot run, wrapper or not.
    let python = ManagedRuntime::parse("python3.12").unwrap();
    let c = with_wrapper("/opt/wrapper");
    let err = resolve(&python, &c, &HostRuntimes::default(), task(pkg.path())).unwrap_err();
    assert!(matches!(err, CommandError::Runtime(_)), "{err:?}");
    // A custom runtime's bootstrap runs as it is: the wrapper is for managed runtimes.
    let pkg = package(&[("bootstrap", 0o755)]);
    let command = resolve(&provided(), &c, &HostRuntimes::default(), task(pkg.path())).unwrap();
    assert_eq!(command.argv, ["/var/task/bootstrap"]);
}

#[test]
fn a_failed_exec_in_the_sandbox_is_an_invalid_entrypoint_and_nothing_else_is() {
    let child = |step: &'static str, errno: i32| flint_sandbox::SandboxError::ChildSetup {
        step,
        detail: String::new(),
        source: std::io::Error::from_raw_os_error(errno),
    };
    for (step, errno, why) in [
        ("execve", libc::ENOENT, "no such file or directory"),
        ("execve", libc::EACCES, "permission denied"),
        ("execve", libc::ENOEXEC, "exec format error"),
        ("exec", libc::ENOTDIR, "not a directory"),
    ] {
        assert_eq!(
            exec_failure(&child(step, errno), "/etc/wrapper"),
            Some(InvalidEntrypoint::CannotExec {
                path: "/etc/wrapper".into(),
                why
            }),
            "{step} {errno}"
        );
    }
    // Out of memory at exec, or a failed mount: flint's failure, not the function's.
    assert_eq!(exec_failure(&child("execve", libc::ENOMEM), "/w"), None);
    assert_eq!(exec_failure(&child("mount", libc::ENOENT), "/w"), None);
    let other = flint_sandbox::SandboxError::InvalidSpec("x".into());
    assert_eq!(exec_failure(&other, "/w"), None);
}

#[test]
fn a_custom_runtime_without_its_own_bootstrap_runs_the_layers() {
    let pkg = package(&[("handler.sh", 0o755)]);
    let opt = package(&[("bootstrap", 0o755)]);
    let dirs = Dirs {
        task: pkg.path(),
        opt: Some(opt.path()),
    };
    assert_eq!(custom_bootstrap(dirs).unwrap().argv, ["/opt/bootstrap"]);
    // The package's own bootstrap comes first.
    let own = package(&[("bootstrap", 0o755)]);
    let dirs = Dirs {
        task: own.path(),
        opt: Some(opt.path()),
    };
    assert_eq!(
        custom_bootstrap(dirs).unwrap().argv,
        ["/var/task/bootstrap"]
    );
}

#[test]
fn an_exec_wrapper_may_live_in_a_layer() {
    let pkg = package(&[]);
    let opt = package(&[("wrapper", 0o755), ("plain", 0o644)]);
    let dirs = Dirs {
        task: pkg.path(),
        opt: Some(opt.path()),
    };
    let command = managed(python_launch(), Some("/opt/wrapper"), dirs).unwrap();
    assert_eq!(command.argv[0], "/opt/wrapper");
    assert!(!command.prestart, "nothing is pre-started behind a wrapper");
    assert_eq!(
        managed(python_launch(), Some("/opt/plain"), dirs),
        Err(InvalidEntrypoint::CannotExec {
            path: "/opt/plain".into(),
            why: "permission denied",
        })
    );
    assert_eq!(
        managed(python_launch(), Some("/opt/missing"), dirs),
        Err(InvalidEntrypoint::CannotExec {
            path: "/opt/missing".into(),
            why: "no such file or directory",
        })
    );
}
