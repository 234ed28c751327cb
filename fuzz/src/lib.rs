//! What each fuzz target checks. One module per target, each exposing `pub fn run(data: &[u8])`
//! that panics when an invariant breaks; `fuzz_targets/<name>.rs` is a three-line libFuzzer shim
//! around it, and `tests/replay.rs` runs the same function over the committed seeds and
//! regressions on the stable toolchain without any fuzzing engine.
//!
//! The logic under test lives in `crates/*`; only oracles live here.

pub mod api_request;
pub mod function_url;
mod rawzip;
pub mod runtime_api;
pub mod sigv4;
pub mod zip_entries;
pub mod zip_intake;

/// A target's check: panics when an invariant breaks.
pub type Target = fn(&[u8]);

/// Every target, by name, for the replay test (and anything else that wants to iterate them).
/// Adding a target: a module above, a line here, a shim in `fuzz_targets/`, a `[[bin]]` in
/// `Cargo.toml`, seeds in `seeds/<name>/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("zip_intake", zip_intake::run),
    ("zip_entries", zip_entries::run),
    ("api_request", api_request::run),
    ("runtime_api", runtime_api::run),
    ("sigv4", sigv4::run),
    ("function_url", function_url::run),
];
