//! A server state for unit tests: a real control plane over an in-memory store, and a host
//! that cannot run functions.

use crate::state::AppState;
use flint_control::{CodeUrlSigner, ControlPlane, ControlSettings};
use flint_store::{FsBlobStore, SqliteStore};
use std::sync::Arc;

/// Why the test host cannot run functions.
pub(crate) const NO_INVOKER: &str = "not in these tests";

/// The state and the directory its blobs live in (removed when dropped).
pub(crate) struct TestState {
    pub state: AppState,
    _dir: tempfile::TempDir,
}

pub(crate) fn test_state() -> TestState {
    let dir = tempfile::tempdir().unwrap();
    let control = ControlPlane::new(
        Arc::new(SqliteStore::in_memory().unwrap()),
        Arc::new(FsBlobStore::open(&dir.path().join("blobs")).unwrap()),
        ControlSettings::default(),
        CodeUrlSigner::new("http://127.0.0.1:9000", b"k".to_vec()),
    );
    TestState {
        state: AppState {
            control: Arc::new(control),
            invoker: Err(crate::dispatch::HostCannotRun(NO_INVOKER.into())),
            events: None,
            test_clock: None,
        },
        _dir: dir,
    }
}

/// A zip holding `index.py` with a handler that returns its event.
const ECHO_ZIP: &str = "UEsDBBQAAAAAAAAAIVi0CHBpLgAAAC4AAAAIAAAAaW5kZXgucHlkZWYgaGFuZGxlcihldmVudCwgY29udGV4dCk6CiAgICByZXR1cm4gZXZlbnQKUEsBAhQDFAAAAAAAAAAhWLQIcGkuAAAALgAAAAgAAAAAAAAAAAAAAKQBAAAAAGluZGV4LnB5UEsFBgAAAAABAAEANgAAAFQAAAAAAA==";

/// Creates a Python function `name` whose code is on local disk.
pub(crate) fn create_function(control: &ControlPlane, name: &str) {
    let req = serde_json::from_value(serde_json::json!({
        "FunctionName": name,
        "Runtime": "python3.12",
        "Role": "arn:aws:iam::000000000000:role/flint",
        "Handler": "index.handler",
        "Code": { "ZipFile": ECHO_ZIP },
    }))
    .unwrap();
    control.create_function(req).unwrap();
}
