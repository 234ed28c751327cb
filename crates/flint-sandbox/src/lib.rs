//! Kernel-isolated Lambda execution environments (placeholder docs, see below).

mod cgroup;
mod child;
mod error;
mod host;
mod rootfs;
mod sandbox;
pub mod seccomp;
mod spec;

pub use error::{Result, SandboxError};
pub use host::{CgroupFlavor, HostSupport, probe_host};
pub use sandbox::{ExitStatus, Sandbox, Sandboxer, SandboxerConfig, UserNamespaceMode, spawn};
pub use spec::{
    DEFAULT_GID, DEFAULT_PATH, DEFAULT_UID, NetworkMode, RUNTIME_API_PORT, SANDBOX_USER,
    SandboxSpec, cpu_millis_for_memory, lambda_base_env,
};
