//! Where things are inside a sandbox, and which host directories it already has.

/// Where the runtime dir appears inside the sandbox (`LAMBDA_RUNTIME_DIR`).
pub const RUNTIME_DIR: &str = "/var/runtime";
/// Where a managed runtime's interpreter appears inside the sandbox (as on Lambda).
pub const LANG_DIR: &str = "/var/lang";
/// Where function code appears inside the sandbox (`LAMBDA_TASK_ROOT`).
pub const TASK_ROOT: &str = "/var/task";

/// Lookup order of the executable for `provided*` runtimes (facts §3.5):
/// the function package, then layers, then the runtime dir.
pub const CUSTOM_BOOTSTRAP_CANDIDATES: [&str; 3] = [
    "/var/task/bootstrap",
    "/opt/bootstrap",
    "/var/runtime/bootstrap",
];

/// Host directories every sandbox already exposes read-only (see
/// flint-sandbox's rootfs): interpreters and libraries under them need no
/// extra bind mount.
pub const SYSTEM_DIRS: &[&str] = &[
    "/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin", "/etc",
];

/// Paths of Lambda's filesystem layout (facts §3.8) that the sandbox fills
/// itself: a host interpreter living under one of them cannot be mounted at
/// the same path inside.
pub const SANDBOX_OWNED_DIRS: &[&str] = &[
    "/opt",
    "/tmp",
    "/var/task",
    "/var/runtime",
    "/var/lang",
    "/dev",
    "/proc",
];
