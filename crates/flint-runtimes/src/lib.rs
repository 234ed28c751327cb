//! flint's own managed runtimes, shipped inside the `flint` binary.
//!
//! Lambda's managed runtimes (`python3.x`, `nodejsNN.x`) are a language
//! interpreter plus a *runtime interface client* that speaks the Runtime API
//! and calls the user's handler. flint does not ship interpreters: it runs
//! `python3.N` on a host Python 3.N and `nodejsN.x` on a host Node.js N — only
//! on that version, never a substitute — and says at start-up which runtime ids
//! the host can run and on what. What flint does ship are the runtime clients: two
//! dependency-free scripts (`runtimes/python/bootstrap.py`,
//! `runtimes/nodejs/bootstrap.mjs`) embedded with `include_str!` so the single
//! binary carries everything, and written out by [`materialize`] into the
//! directory the sandbox mounts as `/var/runtime`.
//!
//! The crate answers three questions for the sandbox:
//! - which runtime ids flint accepts ([`ManagedRuntime::parse`]);
//! - which interpreters the host has, and which host directories must be
//!   bind-mounted read-only for them to run inside a sandbox ([`detect_host`]);
//! - what to execute for a given runtime id ([`ManagedRuntime::launch_command`]).
//!
//! # What the clients expect from the environment
//!
//! The platform variables of facts §3.6 (`_HANDLER`, `LAMBDA_TASK_ROOT`,
//! `AWS_LAMBDA_RUNTIME_API`, `AWS_LAMBDA_FUNCTION_NAME`/`_VERSION`/
//! `_MEMORY_SIZE`, `AWS_LAMBDA_LOG_GROUP_NAME`/`_STREAM_NAME`), the
//! [`LaunchSpec::env`] additions, cwd `/var/task`, and stdout/stderr captured
//! line by line. Optional: `_LAMBDA_TELEMETRY_LOG_FD` (framed logs, §3.7),
//! `AWS_LAMBDA_LOG_FORMAT`/`AWS_LAMBDA_LOG_LEVEL`. The Runtime API must send a
//! Content-Type on `/next`, block there, and use Content-Length or chunked
//! bodies; one keep-alive connection carries a whole environment's traffic
//! (a dropped idle connection is re-opened once).
//!
//! # Honest differences from Lambda's managed runtimes
//!
//! - The interpreter is the host's, of the runtime id's version (patch
//!   releases differ from Lambda's); a runtime id the host has no interpreter
//!   for is refused at invoke (`InvalidRuntimeException`).
//! - Python: SnapStart hooks (`restore/next`) and the threaded `/next` of
//!   newer awslambdaric releases are not implemented.
//! - Node.js: response streaming is implemented minimally (chunked POST,
//!   HTTP-integration prelude, error trailers); the `Runtime.NodeJsExit`
//!   message for never-settling async handlers is not verified against AWS.

mod clients;
mod error;
mod host;
mod lang;
mod layout;
mod runtime;
pub mod sdk;

pub use clients::{
    NODE_BOOTSTRAP, NODE_BOOTSTRAP_FILE, PYTHON_BOOTSTRAP, PYTHON_BOOTSTRAP_FILE, PYTHON_CLIENT,
    PYTHON_CLIENT_FILE, RUNTIME_FILES, materialize, precompile_python,
};
pub use error::{RuntimeError, SdkError};
pub use host::{
    HostInterpreter, HostRuntimes, MIN_HOST_PYTHON, NODE_MAJORS, PYTHON_MINORS, detect_host,
    probe_node, probe_python,
};
pub use layout::{
    CUSTOM_BOOTSTRAP_CANDIDATES, LANG_DIR, RUNTIME_DIR, SANDBOX_OWNED_DIRS, SYSTEM_DIRS, TASK_ROOT,
};
pub use runtime::{Language, LaunchSpec, ManagedRuntime, find_custom_bootstrap};
