//! Smoke test: `flint-bench --quick` runs end to end against the flint
//! binary the workspace build produced, and reports every row with its
//! floor.

use std::path::PathBuf;
use std::process::Command;

/// `$FLINT_BIN`, else `target/<profile>/flint` next to this test's `deps/` directory (where
/// `cargo test --workspace` builds it). The binary belongs to another package, so
/// `cargo test -p flint-bench` alone does not build it: the test then fails and says so.
fn flint_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("FLINT_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("the test's own path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test runs from target/<profile>/deps");
    let bin = profile_dir.join("flint");
    assert!(
        bin.exists(),
        "no flint binary at {}: build it first (`cargo build -p flint`, or run the whole \
         workspace's tests) or point FLINT_BIN at one",
        bin.display()
    );
    bin
}

#[test]
fn quick_run_reports_every_row_against_its_floor() {
    let flint = flint_bin();
    let out = Command::new(env!("CARGO_BIN_EXE_flint-bench"))
        .args([
            "--quick",
            "--duration",
            "0.1",
            "--functions",
            "60",
            "--create-iterations",
            "2",
            "--section",
            "floors",
            "--section",
            "control-plane",
            "--json",
        ])
        .arg("--flint-bin")
        .arg(&flint)
        .output()
        .expect("running flint-bench");
    assert!(
        out.status.success(),
        "flint-bench failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let rows = report["rows"].as_array().expect("rows");
    let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    for want in [
        "floor.http_rtt",
        "floor.http_upload_1mb",
        "floor.fork_exec",
        "control.get_function",
        "control.get_function_configuration",
        "control.list_functions",
        "control.create_function_1mb",
    ] {
        assert!(ids.contains(&want), "missing row {want} in {ids:?}");
    }
    for r in rows {
        assert!(r["n"].as_u64().unwrap() >= 1, "{r}");
        assert!(r["p50_us"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["p99_us"].as_f64().unwrap() >= r["p50_us"].as_f64().unwrap());
        if let Some(floor) = r["floor"].as_str() {
            assert!(
                ids.contains(&floor),
                "{} points at missing floor {floor}",
                r["id"]
            );
            assert!(r["p50_vs_floor"].as_f64().unwrap() > 0.0, "{r}");
        }
    }
    let control: Vec<_> = rows
        .iter()
        .filter(|r| r["id"].as_str().unwrap().starts_with("control."))
        .collect();
    assert!(control.iter().all(|r| r["floor"].is_string()));
}
