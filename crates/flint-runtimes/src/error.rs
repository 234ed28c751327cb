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
    /// The host has no interpreter for the requested language.
    #[error("{requested} requested, but no host {language} was found on PATH")]
    InterpreterMissing {
        /// The runtime id as requested.
        requested: String,
        /// "Python" or "Node.js".
        language: &'static str,
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
    /// The host interpreter is older than the runtime client supports.
    #[error("{requested} requested, but host {language} {version} is too old (need {minimum}+)")]
    InterpreterTooOld {
        /// The runtime id as requested.
        requested: String,
        /// "Python" or "Node.js".
        language: &'static str,
        /// Host version string.
        version: String,
        /// Oldest supported version.
        minimum: String,
    },
}
