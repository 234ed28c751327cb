//! The crate's single error type.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while probing the host, creating, running or destroying a
/// sandbox. Messages are lower-case and carry the offending path or step, so that a log line is
/// enough to diagnose a failure without a debugger.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The [`crate::SandboxSpec`] is inconsistent (bad id, relative path, NUL byte, ...).
    #[error("invalid sandbox spec: {0}")]
    InvalidSpec(String),
    /// The host cannot provide an isolation feature the caller asked for (and degraded mode was
    /// not allowed), e.g. no usable cgroup controllers.
    #[error("host does not support {0}")]
    Unsupported(String),
    /// A file-system operation on the host failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done (`"mkdir"`, `"write"`, ...).
        op: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A system call made by the parent (flint) failed.
    #[error("{op}: {source}")]
    Sys {
        /// The syscall or operation name.
        op: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The sandboxed child failed while setting itself up, before `execve` of the function
    /// succeeded. `step` names the setup step; `detail` names the mount point etc.
    #[error("sandbox setup failed at {step}{detail}: {source}")]
    ChildSetup {
        /// Setup step (`"mount"`, `"pivot_root"`, `"execve"`, ...).
        step: &'static str,
        /// Extra context (e.g. `" /var/task"`), may be empty.
        detail: String,
        /// errno reported by the child.
        #[source]
        source: io::Error,
    },
    /// Compiling the seccomp policy failed (a bug in the policy table).
    #[error("seccomp policy: {0}")]
    Seccomp(String),
    /// A cgroup operation (freeze, removal, ...) did not complete in time.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
}

impl SandboxError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// Crate-local result alias.
pub type Result<T, E = SandboxError> = std::result::Result<T, E>;
