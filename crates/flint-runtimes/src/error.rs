//! Why a runtime cannot be chosen or prepared.

use std::path::PathBuf;

/// Everything that can go wrong when choosing or preparing a runtime.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The runtime id is not one flint can run.
    #[error(
        "unsupported runtime '{id}': flint supports python3.9 to python3.14, nodejs18.x, \
         nodejs20.x, nodejs22.x, nodejs24.x, provided, provided.al2 and provided.al2023"
    )]
    Unsupported {
        /// The id as requested.
        id: String,
    },
    /// The host has no interpreter of the runtime id's version (a runtime id never runs on
    /// another version).
    #[error(
        "{requested} requested, but this host has no {language} {version} (flint runs a \
         runtime id only on an interpreter of its version; {language} versions found on \
         this host: {available})"
    )]
    InterpreterMissing {
        /// The runtime id as requested.
        requested: String,
        /// "Python" or "Node.js".
        language: &'static str,
        /// The version the id needs: `3.14`, `22`.
        version: String,
        /// The versions the host has (`HostRuntimes::versions_of`).
        available: String,
    },
    /// The host interpreter lives where the sandbox mounts something else.
    #[error(
        "{requested} requested, but host {language} lives in {path}, inside {owned}, which \
         the sandbox fills itself; install it elsewhere (e.g. /usr/local or /srv)"
    )]
    InterpreterNotMountable {
        /// The runtime id as requested.
        requested: String,
        /// "Python" or "Node.js".
        language: &'static str,
        /// The directory that would have to be mounted.
        path: PathBuf,
        /// The sandbox-owned directory it is in.
        owned: &'static str,
    },
}

/// Why the managed runtimes' AWS SDKs could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum SdkError {
    /// A tool the install needs is not on this host.
    #[error("{0} is not available on this host")]
    MissingTool(&'static str),
    /// The tool ran and failed.
    #[error("{what} failed ({status}): {output}")]
    Failed {
        /// `pip install`, `npm install`, ...
        what: &'static str,
        /// Its exit status.
        status: String,
        /// The last lines of its error output.
        output: String,
    },
    /// A file-system operation failed.
    #[error("{path}: {source}", path = .0.display(), source = .1)]
    Io(PathBuf, #[source] std::io::Error),
}
